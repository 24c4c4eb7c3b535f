/*
 * optim.h: optimizers written out by hand (SGD with momentum/Nesterov, Adam, AdamW),
 * global-norm gradient clipping and learning-rate schedules.
 *
 * An NnOptimizer updates the trainable entries of one NnParams registry (nn/params.h) from
 * their gradients. The update equations are exactly those of PyTorch 1.13's single-tensor
 * (for-loop) implementations, in the same order and in float32 with double scalars, so
 * tests/nn/test_optim.c can replay PyTorch's gradients and match its parameters step by step.
 * With g the gradient, p the parameter, t the step (from 1):
 *
 *   SGD      g += wd * p                               (coupled weight decay, if wd != 0)
 *            buf = g                    at the first step (a clone: no dampening yet)
 *            buf = mu * buf + (1 - dampening) * g     afterwards (if mu != 0)
 *            g = nesterov ? g + mu * buf : buf
 *            p -= lr * g
 *   Adam     g += wd * p                               (coupled: L2 in the loss)
 *            m = b1 * m + (1 - b1) * g;  v = b2 * v + (1 - b2) * g * g
 *            denom = sqrt(v) / sqrt(1 - b2^t) + eps;  step_size = lr / (1 - b1^t)
 *            p -= step_size * m / denom
 *   AdamW    p *= 1 - lr * wd                          (decoupled, Loshchilov & Hutter 2019)
 *            then Adam's m, v, denom, step_size and update, without adding wd * p to g
 *
 * Coupled decay in Adam is divided by sqrt(v) like the rest of the gradient, so large-gradient
 * weights are barely decayed; AdamW's decoupled form shrinks every weight by the same factor.
 *
 * State (momentum buffer, m, v, step count) is per parameter, allocated at the first step that
 * parameter takes, as PyTorch does: a frozen parameter has no state and keeps none of its
 * steps (its bias correction restarts from its own first step when unfrozen).
 *
 * Configuration: start from nn_optim_defaults(kind, lr) (PyTorch's defaults) and override
 * fields, or write the whole struct with designated initialisers.
 *
 * Ownership: the optimizer is owned by its creator (nn_optim_free); it borrows the registry it
 * is stepped with, which must outlive it and must always be the same one.
 * Errors: bad hyper-parameters, or stepping with another registry, are bugs (CHECK).
 *
 * Usage:
 *     NnOptimConfig cfg = nn_optim_defaults(NN_OPTIM_ADAMW, 3e-4f);
 *     cfg.weight_decay = 0.1f;
 *     NnOptimizer *opt = nn_optim_create(&cfg);
 *     for (int64_t step = 0; step < steps; step++) {
 *         ... forward, graph_backward(g, loss) ...
 *         float norm = nn_clip_grad_norm(params, 1.0f);
 *         nn_optim_set_lr(opt, nn_lr_schedule(NN_LR_WARMUP_COSINE, step, steps, 100,
 *                                             3e-4f, 3e-5f));
 *         nn_optim_step(opt, params);
 *         nn_params_zero_grad(params);
 *         graph_reset(g);
 *     }
 *     nn_optim_free(opt);
 */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include "nn/params.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum { NN_OPTIM_SGD = 0, NN_OPTIM_ADAM, NN_OPTIM_ADAMW, NN_OPTIM_COUNT } NnOptimKind;

typedef struct {
    NnOptimKind kind;
    float lr;           // learning rate (>= 0)
    float momentum;     // SGD: mu, 0 for plain SGD
    float dampening;    // SGD: 0 (PyTorch's default); must be 0 with nesterov
    bool nesterov;      // SGD: needs momentum > 0
    float weight_decay; // SGD, Adam: coupled (added to g); AdamW: decoupled
    float beta1, beta2; // Adam, AdamW: in [0, 1)
    float eps;          // Adam, AdamW: > 0
} NnOptimConfig;

typedef struct NnOptimizer NnOptimizer;

// PyTorch's defaults for `kind` at learning rate lr: SGD momentum 0; Adam betas (0.9, 0.999),
// eps 1e-8, weight decay 0; AdamW the same with weight decay 0.01.
NnOptimConfig nn_optim_defaults(NnOptimKind kind, float lr);

// A new optimizer (owned; nn_optim_free). The config is copied and checked (CHECK).
NnOptimizer *nn_optim_create(const NnOptimConfig *cfg);

// Frees the optimizer and its state. nn_optim_free(NULL) does nothing.
void nn_optim_free(NnOptimizer *opt);

// One update of every trainable entry of `params` from its gradient (gradients are read, not
// zeroed). Entries added to the registry since the last step get fresh state.
void nn_optim_step(NnOptimizer *opt, NnParams *params);

// The learning rate for the next steps (a schedule calls this every step) and the current one.
void nn_optim_set_lr(NnOptimizer *opt, float lr);
float nn_optim_lr(const NnOptimizer *opt);

// Number of nn_optim_step calls so far.
int64_t nn_optim_steps(const NnOptimizer *opt);

// "sgd", "adam", "adamw".
const char *nn_optim_name(NnOptimKind kind);

// Global-norm clipping, as torch.nn.utils.clip_grad_norm_: the L2 norm of all trainable
// gradients taken together, total = sqrt(sum_p |g_p|^2); when total > max_norm every gradient
// is scaled by max_norm / (total + 1e-6). Returns the norm before clipping (log it: spikes
// show instability). A non-finite norm is returned as is and the gradients are left alone.
float nn_clip_grad_norm(NnParams *params, float max_norm);

typedef enum {
    NN_LR_CONSTANT = 0,  // lr_max (after the warmup, if any)
    NN_LR_WARMUP_COSINE, // linear warmup, then cosine decay from lr_max to lr_min
    NN_LR_COUNT
} NnLrSchedule;

// The learning rate at step (0-based) of a run of `total` steps:
//   step < warmup:  lr_max * (step + 1) / warmup     (both kinds; step 0 is not wasted at 0)
//   constant:       lr_max
//   warmup-cosine:  r = (step - warmup) / (total - warmup) in [0, 1],
//                   lr_min + (lr_max - lr_min) * (1 + cos(pi r)) / 2;  lr_min from step >= total
float nn_lr_schedule(NnLrSchedule kind, int64_t step, int64_t total, int64_t warmup,
                     float lr_max, float lr_min);

#endif
