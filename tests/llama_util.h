/*
 * llama_util.h: driving real llama.cpp from the Check tests (test_llama_agree.c,
 * test_gguf_lora.c).
 *
 * tests/llama_ref/llama_ref is a small C program linked against the prebuilt libllama that
 * npm's node-llama-cpp ships; tests/llama_ref/build.sh builds it on demand. These helpers
 * build it, run it and read its tagged output lines ("LOGITS n v...", "GREEDY n id...").
 * Failures are test failures (ck_assert); llama.cpp being unavailable is a skip, or a failure
 * under REQUIRE_NPM=1.
 */
#ifndef TESTS_LLAMA_UTIL_H
#define TESTS_LLAMA_UTIL_H

#include "transformer/model.h"

#include <stdbool.h>
#include <stdint.h>

// Builds (when needed) and returns the driver's path (static buffer), or NULL after printing
// "<test>: SKIPPED: <reason>" when llama.cpp is unavailable; with REQUIRE_NPM=1 that fails.
const char *llama_ref_driver_or_skip(const char *test);

// Runs `driver args` and returns its whole stdout (malloc'd), asserting exit status 0.
char *llama_ref_run(const char *driver, const char *args);

// Reads the line "TAG n v_0 ... v_{n-1}" of text into out (n <= cap); returns n, or -1.
int llama_ref_parse_tagged(const char *text, const char *tag, double *out, int cap);

// llama.cpp's last-position logits (V) for ids[0..n) and, when greedy is not NULL, its greedy
// continuation of n_gen tokens, on 1 thread; with the LoRA adapter file `lora` (NULL: none) at
// user scale `scale`.
void llama_ref_eval(const char *driver, const char *gguf, const char *lora, float scale,
                    const int32_t *ids, int n, int n_gen, int V, float *logits, int32_t *greedy);

// The engine's side of the same comparison: last-position logits (V) for ids[0..n) and the
// greedy continuation of n_gen tokens, through the KV cache (transformer/generate.h).
void llama_ref_engine_eval(const TfModel *m, const int32_t *ids, int n, int n_gen,
                           float *logits, int32_t *greedy);

// max_i |a[i] - b[i]| in double.
double llama_ref_max_abs_diff(const float *a, const float *b, int n);

// A llama model whose weights are redrawn N(0, 0.3) (norm gains N(1, 0.2)): logits with a
// spread of several units, so greedy decoding has clear winners (GPT-2's 0.02 init gives
// nearly flat logits, where greedy decoding is a coin toss). ctx = 128.
TfModel *llama_ref_spread_model(int C, int L, int H, int KVH, int F, int V, bool tied,
                                uint64_t seed);

#endif
