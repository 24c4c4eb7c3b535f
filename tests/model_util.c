/*
 * model_util.c: see model_util.h.
 */
#include "tests/model_util.h"

#include "core/rng.h"
#include "nn/params.h"

#include <string.h>

void test_model_redraw(TfModel *m, uint64_t seed, float w_std)
{
    Rng r;
    rng_init(&r, seed);
    for (int i = 0; i < nn_params_count(m->params); i++) {
        const NnParam *p = nn_params_at(m->params, i);
        bool is_norm = strstr(p->name, "norm.weight") != NULL;
        bool is_bias = strstr(p->name, ".bias") != NULL;
        float std = is_norm ? 0.2f : is_bias ? 0.1f : w_std;
        tensor_fill_normal(p->t, &r, is_norm ? 1.0f : 0.0f, std);
    }
}

void test_random_tokens(int32_t *tok, int n, int V, uint64_t seed)
{
    Rng r;
    rng_init(&r, seed);
    for (int i = 0; i < n; i++) tok[i] = (int32_t)rng_below(&r, (uint32_t)V);
}
