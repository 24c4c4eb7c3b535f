/*
 * sample.h: choosing the next token from logits, and the generation loop with stop sequences.
 *
 * tf_sample turns logits (V,) into one token id:
 *   - temperature == 0: greedy, the argmax (ties: the lowest id);
 *   - otherwise p = softmax(logits / temperature), then
 *       top-k: keep the k most probable tokens (k = 0 keeps all),
 *       top-p: of those, keep the smallest prefix (sorted by probability, descending, ties by
 *              lower id) whose cumulative probability reaches top_p (top_p >= 1 keeps all),
 *     renormalise what is left and draw one token by inverse CDF with rng_uniform.
 * The draw depends only on the logits, the config and the Rng state, so a seed reproduces a
 * generation exactly.
 *
 * tf_generate runs a prompt through a TfInfer (prefill), then samples and feeds back one token
 * at a time (decode) until max_new tokens, a stop sequence or a full cache.
 *
 * Ownership: every pointer argument is borrowed for the call; outputs are caller-owned arrays.
 * Errors: a bad config (temperature < 0, top_k < 0, top_p <= 0) is a bug and CHECKs;
 * tf_generate returns ERR_INVALID (with err_msg) for a prompt that is empty or does not fit.
 *
 * Usage:
 *     TfSampler sc = {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .seed = 7};
 *     int32_t out[200];
 *     int n_out;
 *     const int32_t nl[] = {10, 10};                      // stop at a blank line
 *     const int32_t *stops[] = {nl};
 *     int stop_lens[] = {2};
 *     TfInfer *s = tf_infer_create(model, 256);
 *     if (tf_generate(s, prompt, n_prompt, 200, &sc, stops, stop_lens, 1, out, &n_out) != ERR_OK)
 *         fprintf(stderr, "%s\n", err_msg());
 *     tf_infer_free(s);
 */
#ifndef TRANSFORMER_SAMPLE_H
#define TRANSFORMER_SAMPLE_H

#include "core/rng.h"
#include "transformer/generate.h"

#include <stdint.h>

typedef struct {
    float temperature; // 0: greedy; else logits are divided by it before the softmax
    int top_k;         // keep the k most probable tokens; 0: all
    float top_p;       // nucleus: keep the smallest set with cumulative probability >= top_p
                       // (1: all); in (0, 1]
    uint64_t seed;     // tf_generate seeds its Rng with it
} TfSampler;

// The default: temperature 1, top_k 0, top_p 1 (plain sampling), seed 0.
TfSampler tf_sampler_default(void);

// One token id from logits (V,) (see the top of the file). rng is not used when greedy.
int32_t tf_sample(const float *logits, int V, const TfSampler *cfg, Rng *rng);

// Index of the largest logit (ties: the lowest index).
int32_t tf_sample_argmax(const float *logits, int V);

// The top-k, then top-p filter. On entry probs[i] is the probability of token ids[i]
// (i < V, summing to 1). On return the first n entries (n is returned, n >= 1) are the kept
// candidates sorted by probability, descending (ties: lower id first), with their
// probabilities renormalised to sum to 1; entries from n on are unspecified.
// top_k == 0 or >= V: no top-k cut; top_p >= 1: no nucleus cut.
int tf_sample_filter(float *probs, int32_t *ids, int V, int top_k, float top_p);

// Generates after a prompt. Resets s, runs prompt[0..n_prompt) (1 <= n_prompt <= max_T of s),
// then repeats: sample a token with cfg (Rng seeded with cfg->seed), append it to out, stop if
// out now ends with one of the n_stops stop sequences (stops[i], stop_lens[i] >= 1 tokens; the
// stop tokens are then removed from out), or if max_new tokens were produced, or if the cache
// is full; else feed the token back. out must hold max_new tokens; *n_out gets the count.
// Returns ERR_OK, or ERR_INVALID for an empty or too long prompt.
int tf_generate(TfInfer *s, const int32_t *prompt, int n_prompt, int max_new,
                const TfSampler *cfg, const int32_t *const *stops, const int *stop_lens,
                int n_stops, int32_t *out, int *n_out);

#endif
