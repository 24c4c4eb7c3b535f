/*
 * generate.h: fast inference with a KV cache, outside the autograd graph.
 *
 * Training runs the model through the Graph (tf_model_forward): every op records itself, keeps
 * its activations for backward and recomputes attention over the whole sequence. Generation
 * needs none of that. A TfInfer holds, per layer and kv head, the keys and values of every
 * position seen so far (the KV cache), so producing token t costs one pass over the weights
 * for ONE row plus attention of that row against t cached keys:
 *
 *     prefill  (n > 1 tokens at positions pos..pos+n-1): every projection is one sgemm over
 *              the n rows; row i attends to keys 0..pos+i (causal);
 *     decode   (n == 1): every projection is one sgemv (a 1-row sgemm runs ~6x slower).
 *
 * The math is the graph forward's, op for op (LayerNorm/RMSNorm in double, the same tanh GELU
 * and SiLU, RoPE's cos/sin computed in double, scale 1/sqrt(hd), query head h reading kv head
 * h / (H / KVH)), so logits agree with tf_model_forward to ~1e-5.
 *
 * Glossary: L = layers, H = heads, KVH = kv heads, hd = head size, C = d_model, F = d_ff,
 * V = vocab, max_T = cache capacity in positions.
 *
 * Threads: with n > 1 threads (tf_infer_set_threads) a TfInfer owns n - 1 worker pthreads,
 * started by the first forward and stopped by tf_infer_free or a change of count. Every step
 * of the forward (the q/k/v heads, the attention heads, blocks of rows of each other matrix)
 * is split into chunks that the caller and the workers claim from a shared counter; a chunk
 * computes the same bits on any thread, so the logits are identical for every thread count.
 * A waiting thread spins ~50 us, then yields its core, then sleeps on a futex after 1 ms: hot
 * within a token, idle between calls, and no busy-waiting against other users when the
 * machine is oversubscribed (a worker that is not scheduled just gets no chunks). During a
 * forward OpenBLAS runs on 1 thread (prefill's sgemms are split like the rest); its count is
 * restored on return. The default: OpenBLAS's pool size (OPENBLAS_NUM_THREADS or the cores)
 * when the weights exceed 8 MiB (decode is then bandwidth-bound: 2 threads ~1.8x faster on 2
 * idle cores, bench/bench_llama.c), else 1.
 *
 * Ownership: a TfInfer borrows its TfModel (which must outlive it and not change shape) and
 * owns the cache and scratch buffers. The logits returned by tf_infer_forward are borrowed:
 * valid until the next forward/reset/free on the same TfInfer.
 *
 * Errors: misuse (positions past the cache, a token id out of range, pos beyond the cached
 * length) is a bug and CHECKs. Nothing here touches the environment.
 *
 * Usage:
 *     TfInfer *s = tf_infer_create(model, 256);
 *     const float *logits = tf_infer_forward(s, prompt, n_prompt, 0);     // prefill
 *     int pos = n_prompt;
 *     while (pos < 256) {
 *         int32_t next = tf_sample(logits, model->cfg.vocab, &sampler, &rng);   // sample.h
 *         logits = tf_infer_forward(s, &next, 1, pos++);                  // decode
 *     }
 *     tf_infer_free(s);
 */
#ifndef TRANSFORMER_GENERATE_H
#define TRANSFORMER_GENERATE_H

#include "transformer/model.h"

#include <stdint.h>

typedef struct TfInfer TfInfer;

// A new inference state for m with room for max_T positions (1 <= max_T; for gpt2 also
// max_T <= cfg.ctx, the size of the position table). Owned by the caller: tf_infer_free.
TfInfer *tf_infer_create(const TfModel *m, int max_T);

// Frees the state. tf_infer_free(NULL) does nothing.
void tf_infer_free(TfInfer *s);

// Forgets every cached position (the next forward starts at pos 0).
void tf_infer_reset(TfInfer *s);

// Runs tokens[0..n) at positions pos..pos+n-1, with 0 <= pos <= tf_infer_len(s) (a pos below
// the cached length drops the positions from pos on first: rewinding), n >= 1 and
// pos + n <= max_T. Appends their keys and values to the cache and returns the logits (V,)
// of the LAST position (borrowed, valid until the next call on s).
const float *tf_infer_forward(TfInfer *s, const int32_t *tokens, int n, int pos);

// Positions currently cached, and the capacity.
int tf_infer_len(const TfInfer *s);
int tf_infer_max_T(const TfInfer *s);

// The model (borrowed).
const TfModel *tf_infer_model(const TfInfer *s);

// The threads of tf_infer_forward: the caller plus n - 1 workers (n >= 1; default: see the
// top of the file). Returns the old count. One TfInfer serves one thread at a time; forwards
// of different states may run at once, but they share OpenBLAS's global thread count.
int tf_infer_set_threads(TfInfer *s, int n);

// ---------------------------------------------------------------------------
// The two kernels of the cache path that are also exercises (week 3)
// ---------------------------------------------------------------------------

// RoPE of one head vector x (hd floats, hd even) at position pos, in place: each adjacent pair
// (x[2i], x[2i+1]) is rotated by the angle pos * base^(-2i/hd), cos and sin computed in double
// and rounded to float:
//     x[2i] <- x[2i] cos - x[2i+1] sin,    x[2i+1] <- x[2i] sin + x[2i+1] cos
void tf_rope_rotate(float *x, int hd, int pos, float base);

// The causal softmax of one query row's scores (n_total floats): softmax over the first
// n_visible entries (the keys at positions <= the query's), computed stably (max subtracted,
// sum in double), and zeros in entries n_visible..n_total-1. 1 <= n_visible <= n_total.
void tf_attn_softmax_causal(float *scores, int n_visible, int n_total);

#endif
