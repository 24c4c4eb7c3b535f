/*
 * train.h: training a TfModel on a token stream: random windows, AdamW with warmup + cosine,
 * clipping, gradient accumulation, validation, logs, curves, and checkpoints that resume
 * bit for bit.
 *
 * Data. The corpus is one int32 array of token ids. Its last val_fraction (10% by default) is
 * the validation split, the rest the training split; no window crosses the boundary. A
 * training example is a window of seq_len + 1 tokens starting at a uniformly random offset of
 * the training split (the trainer's seeded Rng): x = w[0..T), y = w[1..T]. Validation uses
 * val_batches * batch windows at evenly spaced, fixed offsets of the validation split, so
 * every evaluation measures the same text and draws nothing from the Rng.
 *
 * One step = grad_accum micro-batches of `batch` windows. Each micro-batch's loss is scaled
 * by 1/grad_accum and backwarded, and its graph reset, so memory is that of one micro-batch
 * while the gradient is that of batch * grad_accum windows. The step's loss is the mean of the
 * micro-batch losses. Then: global-norm clipping (grad_clip > 0), lr from
 * nn_lr_schedule(NN_LR_WARMUP_COSINE, step, steps, warmup, lr, min_lr), AdamW (weight decay on
 * every trainable tensor), zero the grads.
 *
 * Data parallel: under `mpirun -np N` (after nn_dist_init), `batch` is the global micro-batch:
 * every rank draws the same offsets and trains on its batch / N windows, the gradients are
 * averaged across ranks (nn/dist.h) before clipping, and rank 0 alone writes the log,
 * checkpoints, samples and curves. N ranks reproduce one process's losses up to float
 * rounding (tests/transformer/test_dist.c); dropout masks are drawn per rank, so with dropout
 * on the runs differ.
 *
 * Checkpoint: ONE safetensors file written atomically (tf_model_save_ext): the weights and
 * the config as tf_model_save writes them, so tf_model_load reads it as a plain model, plus
 *     train.m.<weight>, train.v.<weight>    AdamW's moments, per weight
 *     train.param_steps                     (n_weights,) int32, each weight's AdamW step count
 * and metadata train.step (the next step), train.optim_steps, train.rng (the Rng state, in
 * hex, Box-Muller cache included). tf_train_load restores all of it; the resumed run then
 * draws the same windows and applies the same updates as the uninterrupted run.
 *
 * Files (when out_dir is set): out_dir/metrics.jsonl (one line per step: loss, lr, grad_norm;
 * and per evaluation: val_loss), out_dir/ckpt.safetensors, out_dir/loss.png (train and val
 * loss curves, drawn from the log at the end of tf_train_run, so a resumed run's plot shows
 * the whole history).
 *
 * Ownership: a TfTrain borrows the model and the token array (both must outlive it) and owns
 * its optimizer, graph, Rng and log. Errors: bad config values are bugs (CHECK, with a
 * hint); file failures return a negative Err with err_msg() set.
 *
 * Usage:
 *     TfTrainConfig tc = tf_train_defaults();
 *     tc.steps = 2000, tc.out_dir = "out/shakespeare";
 *     TfModel *m = tf_model_create(&cfg, 42);
 *     TfTrain *tr = tf_train_create(m, ids, n_ids, &tc);
 *     if (resume && tf_train_load(tr, "out/shakespeare/ckpt.safetensors") != ERR_OK) die();
 *     if (tf_train_run(tr) != ERR_OK) die(err_msg());   // progress, val, ckpt, curves
 *     printf("val loss %.3f\n", tf_train_eval(tr));
 *     tf_train_free(tr);
 *     tf_model_free(m);
 */
#ifndef TRANSFORMER_TRAIN_H
#define TRANSFORMER_TRAIN_H

#include "transformer/model.h"

#include <stdbool.h>
#include <stdint.h>

// Called every sample_every steps (and after the last) with the model, for printing a
// sample. It may run its own graphs on the model but must not change its weights.
typedef void (*TfSampleFn)(void *ctx, TfModel *m, int64_t step);

typedef struct {
    int64_t batch;       // windows per micro-batch (B)
    int64_t seq_len;     // T, <= the model's ctx
    int64_t steps;       // optimizer steps of the whole run
    float lr, min_lr;    // peak and final learning rate (cosine between them)
    int64_t warmup;      // linear warmup steps (<= steps)
    float weight_decay;  // AdamW's decoupled decay
    float beta1, beta2;  // AdamW betas
    float grad_clip;     // max global gradient norm; 0: no clipping
    int grad_accum;      // micro-batches per step (>= 1)
    float val_fraction;  // the last fraction of the tokens held out, in [0, 1)
    int64_t val_every;   // evaluate every val_every steps (and at the end); 0: never
    int64_t val_batches; // micro-batches per evaluation
    int64_t ckpt_every;  // checkpoint every ckpt_every steps (and at the end); 0: at the end
    uint64_t seed;       // window sampling and dropout
    const char *out_dir; // NULL: no files
    bool progress;       // print the progress bar on stderr
    TfSampleFn sample;   // NULL: no samples
    void *sample_ctx;    // passed to sample
    int64_t sample_every;
} TfTrainConfig;

// What one step did.
typedef struct {
    int64_t step;    // the step just taken (0-based)
    float loss;      // mean training loss over its micro-batches
    float lr;        // learning rate used
    float grad_norm; // global gradient norm before clipping
} TfTrainStats;

typedef struct TfTrain TfTrain;

// Defaults for a small model: batch 16, seq_len 128, 1000 steps, lr 1e-3 -> 1e-4, warmup 100,
// weight decay 0.1, betas (0.9, 0.95), clip 1.0, no accumulation, 10% validation evaluated
// every 100 steps over 8 batches, checkpoint every 500, seed 1337, progress on.
TfTrainConfig tf_train_defaults(void);

// A trainer over tokens[0..n) (borrowed, ids < vocab) for model m (borrowed). CHECKs the
// config (seq_len <= ctx, both splits long enough for a window of seq_len + 1 tokens, ...).
TfTrain *tf_train_create(TfModel *m, const int32_t *tokens, int64_t n,
                         const TfTrainConfig *cfg);

// Frees the trainer (not the model). tf_train_free(NULL) does nothing.
void tf_train_free(TfTrain *t);

// One optimizer step (see the top of the file). stats may be NULL. Returns the step's loss.
float tf_train_step(TfTrain *t, TfTrainStats *stats);

// Mean validation loss over the fixed validation windows (no grad, no dropout, no Rng use).
float tf_train_eval(TfTrain *t);

// The next step to take (0 for a new run, k after k steps or after resuming at k).
int64_t tf_train_next_step(const TfTrain *t);

// Steps until cfg.steps with progress bar, log, validation, samples and checkpoints, then the
// final evaluation, checkpoint and curves. Returns ERR_OK or the first file error (ERR_IO).
int tf_train_run(TfTrain *t);

// Writes the checkpoint (weights + config + optimizer + Rng + step) atomically.
int tf_train_save(const TfTrain *t, const char *path);

// Restores a checkpoint written by tf_train_save into t: weights (the model's config must
// match the file's: ERR_FORMAT naming the key otherwise), optimizer state, Rng, step. On error
// the step counter and Rng are unchanged (weights may be half loaded only if the file changes
// under us). Errors: those of st_open, ERR_FORMAT (config or train.* metadata), ERR_NOTFOUND,
// ERR_SHAPE.
int tf_train_load(TfTrain *t, const char *path);

#endif
