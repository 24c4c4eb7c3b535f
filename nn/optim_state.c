/*
 * optim_state.c: accessors for the optimizer's private state (see optim_state.h).
 *
 * The state's layout is in nn/optim_internal.h, shared with nn/optim.c.
 */
#include "nn/optim_state.h"

#include "nn/optim_internal.h"

#include "core/arena.h"
#include "core/err.h"

#include <string.h>

bool nn_optim_state_get(const NnOptimizer *opt, int i, int64_t *step, const float **m,
                        const float **v)
{
    CHECK(i >= 0, "nn_optim_state_get: index %d", i);
    if (i >= opt->n_state || !opt->state[i].ready) return false;
    *step = opt->state[i].step;
    *m = opt->state[i].buf;
    *v = opt->state[i].v;
    return true;
}

void nn_optim_state_set(NnOptimizer *opt, NnParams *params, int i, int64_t step, const float *m,
                        const float *v)
{
    CHECK(i >= 0 && i < nn_params_count(params), "nn_optim_state_set: index %d of %d", i,
          nn_params_count(params));
    if (!opt->params) opt->params = params;
    CHECK(opt->params == params, "nn_optim_state_set: the optimizer belongs to another registry");
    CHECK(step >= 0, "nn_optim_state_set: step %lld", (long long)step);
    ParamState *s = nn_optim_slot(opt, i);
    int64_t n = tensor_numel(nn_params_at(params, i)->t);
    size_t bytes = (size_t)n * sizeof(float);
    bool sgd = opt->cfg.kind == NN_OPTIM_SGD;
    bool has_m = !sgd || opt->cfg.momentum != 0.0f, has_v = !sgd;
    CHECK(!has_m == !m && !has_v == !v, "nn_optim_state_set: %s needs m %s and v %s",
          nn_optim_name(opt->cfg.kind), has_m ? "set" : "NULL", has_v ? "set" : "NULL");
    if (!s->ready) {
        if (has_m) s->buf = arena_calloc(opt->arena, bytes);
        if (has_v) s->v = arena_calloc(opt->arena, bytes);
        s->ready = true;
    }
    s->step = step;
    if (has_m) memcpy(s->buf, m, bytes);
    if (has_v) memcpy(s->v, v, bytes);
}

void nn_optim_set_steps(NnOptimizer *opt, int64_t steps)
{
    CHECK(steps >= 0, "nn_optim_set_steps: %lld", (long long)steps);
    opt->steps = steps;
}
