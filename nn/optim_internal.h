/*
 * optim_internal.h: the optimizer's state, shared by nn/optim.c (the updates) and
 * nn/optim_state.c (reading and restoring it for checkpoints). Not for other modules.
 */
#ifndef NN_OPTIM_INTERNAL_H
#define NN_OPTIM_INTERNAL_H

#include "core/arena.h"
#include "nn/optim.h"

#include <stdbool.h>
#include <stdint.h>

// Per-parameter state, made at the parameter's first step.
typedef struct {
    bool ready;
    int64_t step; // steps this parameter has taken (Adam's t)
    float *buf;   // SGD momentum buffer, or Adam's m (exp_avg); NULL when unused
    float *v;     // Adam's v (exp_avg_sq); NULL for SGD
} ParamState;

struct NnOptimizer {
    NnOptimConfig cfg;
    const NnParams *params; // the registry of the first step (borrowed), checked afterwards
    Arena *arena;           // owned: the state buffers
    ParamState *state;      // (n_state) xmalloc'd, indexed like the registry
    int n_state;
    int64_t steps;
};

// The state slot of registry entry i, growing the table (zeroed slots) as needed.
ParamState *nn_optim_slot(NnOptimizer *opt, int i);

#endif
