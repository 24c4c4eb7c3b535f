/*
 * optim_state.h: read and write an optimizer's per-parameter state, for checkpoints.
 *
 * A training run that stops and resumes must continue with exactly the optimizer it had: for
 * Adam/AdamW the moments m and v of every parameter and the step counts that drive the bias
 * corrections; for SGD the momentum buffer. nn/optim.h keeps that state private; these three
 * functions expose it, indexed like the registry (entry i of NnParams), so a checkpoint writer
 * (transformer/train.c) can store it next to the weights and restore it bit for bit.
 *
 * Ownership: pointers returned by nn_optim_state_get are borrowed from the optimizer and valid
 * until nn_optim_free. nn_optim_state_set copies its inputs.
 * Errors: an index out of range, or buffers that the kind does not have, are bugs (CHECK).
 *
 * Usage (save, then restore into a fresh optimizer):
 *     int64_t step; const float *m, *v;
 *     if (nn_optim_state_get(opt, i, &step, &m, &v)) write(m, v, numel(i), step);
 *     ...
 *     NnOptimizer *opt2 = nn_optim_create(&cfg);
 *     nn_optim_state_set(opt2, params, i, step, m_read, v_read);
 *     nn_optim_set_steps(opt2, steps_read);
 */
#ifndef NN_OPTIM_STATE_H
#define NN_OPTIM_STATE_H

#include "nn/optim.h"
#include "nn/params.h"

#include <stdbool.h>
#include <stdint.h>

// The state of registry entry i: its step count and its buffers (numel of the parameter each;
// *m is SGD's momentum buffer or Adam's exp_avg, NULL for plain SGD; *v is Adam's exp_avg_sq,
// NULL for SGD). Returns false (outputs untouched) when the entry has not stepped yet.
bool nn_optim_state_get(const NnOptimizer *opt, int i, int64_t *step, const float **m,
                        const float **v);

// Gives registry entry i of `params` the state (step, m, v), allocating it if needed; m and v
// hold the parameter's numel floats (pass NULL where nn_optim_state_get gave NULL). Binds the
// optimizer to `params` as a first nn_optim_step would.
void nn_optim_state_set(NnOptimizer *opt, NnParams *params, int i, int64_t step, const float *m,
                        const float *v);

// Sets the count nn_optim_steps returns.
void nn_optim_set_steps(NnOptimizer *opt, int64_t steps);

#endif
