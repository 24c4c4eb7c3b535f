/*
 * layers.c: Linear, Embedding, LayerNorm, RMSNorm, Dropout and MLP over the core ops
 * (see layers.h).
 *
 * Each forward is a few core ops; the fused kernels (embedding, layernorm, rmsnorm, dropout)
 * and their backward passes live in core/. What this file adds is the bookkeeping: parameter
 * names, PyTorch's initial values, shape checks with messages that name the layer.
 */
#include "nn/layers.h"

#include "core/err.h"
#include "nn/init.h"

#include <stdio.h>
#include <string.h>

static const char *const act_names[NN_ACT_COUNT] = {"none", "relu", "gelu", "tanh"};
_Static_assert(sizeof act_names / sizeof act_names[0] == NN_ACT_COUNT, "activation name table");

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// "<prefix>.<leaf>", or just "<leaf>" for an empty prefix, into buf (NN_NAME_MAX).
static const char *join(char *buf, const char *prefix, const char *leaf)
{
    int n = prefix && prefix[0] ? snprintf(buf, NN_NAME_MAX, "%s.%s", prefix, leaf)
                                : snprintf(buf, NN_NAME_MAX, "%s", leaf);
    CHECK(n > 0 && n < NN_NAME_MAX, "parameter name '%s.%s' is longer than %d chars",
          prefix ? prefix : "", leaf, NN_NAME_MAX - 1);
    return buf;
}

static Tensor *add_param(NnParams *p, const char *prefix, const char *leaf, int ndim,
                         const int64_t *shape)
{
    char name[NN_NAME_MAX];
    return nn_params_add(p, join(name, prefix, leaf), ndim, shape);
}

// ---------------------------------------------------------------------------
// Activations
// ---------------------------------------------------------------------------

Tensor *nn_activation(Graph *g, Tensor *x, NnActivation act)
{
    switch (act) {
    case NN_ACT_NONE: return x;
    case NN_ACT_RELU: return tensor_relu(g, x);
    case NN_ACT_GELU: return tensor_gelu(g, x);
    case NN_ACT_TANH: return tensor_tanh(g, x);
    case NN_ACT_COUNT: break;
    }
    CHECK(0, "nn_activation: unknown activation %d", (int)act);
    return NULL;
}

const char *nn_activation_name(NnActivation act)
{
    CHECK(act >= 0 && act < NN_ACT_COUNT, "nn_activation_name: unknown activation %d", (int)act);
    return act_names[act];
}

// ---------------------------------------------------------------------------
// Linear
// ---------------------------------------------------------------------------

void nn_linear_init(NnLinear *l, NnParams *p, const char *prefix, int64_t in, int64_t out,
                    bool bias, Rng *rng)
{
    CHECK(in > 0 && out > 0, "nn_linear_init(%s): in = %lld, out = %lld must be positive",
          prefix, (long long)in, (long long)out);
    l->in = in;
    l->out = out;
    l->weight = add_param(p, prefix, "weight", 2, (int64_t[]){out, in});
    l->bias = bias ? add_param(p, prefix, "bias", 1, (int64_t[]){out}) : NULL;
    nn_init_linear_default(l->weight, l->bias, rng);
}

Tensor *nn_linear_forward(Graph *g, const NnLinear *l, Tensor *x)
{
    CHECK(x->ndim >= 1 && x->ndim <= 3 && x->shape[x->ndim - 1] == l->in,
          "linear %s: input must be (..., %lld) with at most 2 leading dims, got %d dims with "
          "last %lld", l->weight->name, (long long)l->in, x->ndim,
          (long long)(x->ndim ? x->shape[x->ndim - 1] : 0));
    // A 1-D input is one row: (in,) -> (1, in) -> (1, out) -> (out,).
    bool vec = x->ndim == 1;
    if (vec) x = tensor_reshape(g, x, 2, (int64_t[]){1, l->in});
    // (..., in) @ (in, out): the transpose is a view of W (out, in), passed to sgemm as a flag.
    Tensor *y = tensor_matmul(g, x, tensor_transpose(g, l->weight, 0, 1));
    if (l->bias) y = tensor_add(g, y, l->bias); // (out,) broadcasts over the leading dims
    if (vec) y = tensor_reshape(g, y, 1, (int64_t[]){l->out});
    return y;
}

// ---------------------------------------------------------------------------
// Embedding
// ---------------------------------------------------------------------------

void nn_embedding_init(NnEmbedding *e, NnParams *p, const char *prefix, int64_t num,
                       int64_t dim, Rng *rng)
{
    CHECK(num > 0 && dim > 0, "nn_embedding_init(%s): num = %lld, dim = %lld", prefix,
          (long long)num, (long long)dim);
    e->num = num;
    e->dim = dim;
    e->weight = add_param(p, prefix, "weight", 2, (int64_t[]){num, dim});
    nn_init_normal(e->weight, rng, 0.0f, 1.0f);
}

Tensor *nn_embedding_forward(Graph *g, const NnEmbedding *e, Tensor *ids)
{
    CHECK(ids->dtype == DT_I32, "embedding %s: ids must be int32", e->weight->name);
    return tensor_embedding(g, e->weight, ids);
}

// ---------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------

void nn_layernorm_init(NnLayerNorm *ln, NnParams *p, const char *prefix, int64_t dim, float eps,
                       bool bias)
{
    CHECK(dim > 0 && eps >= 0.0f, "nn_layernorm_init(%s): dim = %lld, eps = %g", prefix,
          (long long)dim, eps);
    ln->dim = dim;
    ln->eps = eps;
    ln->weight = add_param(p, prefix, "weight", 1, (int64_t[]){dim});
    tensor_fill(ln->weight, 1.0f);
    ln->bias = bias ? add_param(p, prefix, "bias", 1, (int64_t[]){dim}) : NULL; // zeros
}

Tensor *nn_layernorm_forward(Graph *g, const NnLayerNorm *ln, Tensor *x)
{
    CHECK(x->ndim >= 1 && x->shape[x->ndim - 1] == ln->dim,
          "layernorm %s: last dim must be %lld", ln->weight->name, (long long)ln->dim);
    return tensor_layernorm(g, x, ln->weight, ln->bias, ln->eps);
}

void nn_rmsnorm_init(NnRMSNorm *rn, NnParams *p, const char *prefix, int64_t dim, float eps)
{
    CHECK(dim > 0 && eps >= 0.0f, "nn_rmsnorm_init(%s): dim = %lld, eps = %g", prefix,
          (long long)dim, eps);
    rn->dim = dim;
    rn->eps = eps;
    rn->weight = add_param(p, prefix, "weight", 1, (int64_t[]){dim});
    tensor_fill(rn->weight, 1.0f);
}

Tensor *nn_rmsnorm_forward(Graph *g, const NnRMSNorm *rn, Tensor *x)
{
    CHECK(x->ndim >= 1 && x->shape[x->ndim - 1] == rn->dim,
          "rmsnorm %s: last dim must be %lld", rn->weight->name, (long long)rn->dim);
    return tensor_rmsnorm(g, x, rn->weight, rn->eps);
}

// ---------------------------------------------------------------------------
// Dropout
// ---------------------------------------------------------------------------

Tensor *nn_dropout(Graph *g, Tensor *x, float p, bool train, Rng *rng)
{
    CHECK(p >= 0.0f && p < 1.0f, "nn_dropout: p = %g must be in [0, 1)", p);
    if (!train || p == 0.0f) return x;
    CHECK(rng, "nn_dropout: training with p = %g needs an Rng", p);
    return tensor_dropout(g, x, p, rng);
}

// ---------------------------------------------------------------------------
// MLP
// ---------------------------------------------------------------------------

void nn_mlp_init(NnMLP *m, NnParams *p, const char *prefix, const int64_t *sizes, int n_layers,
                 NnActivation act, float dropout, Rng *rng)
{
    CHECK(n_layers >= 1 && n_layers <= NN_MLP_MAX_LAYERS, "nn_mlp_init(%s): %d layers (1..%d)",
          prefix, n_layers, NN_MLP_MAX_LAYERS);
    CHECK(act >= 0 && act < NN_ACT_COUNT, "nn_mlp_init(%s): unknown activation %d", prefix,
          (int)act);
    CHECK(dropout >= 0.0f && dropout < 1.0f, "nn_mlp_init(%s): dropout %g", prefix, dropout);
    memset(m, 0, sizeof *m);
    m->n_layers = n_layers;
    m->act = act;
    m->dropout = dropout;
    for (int i = 0; i < n_layers; i++) {
        char leaf[16], sub[NN_NAME_MAX];
        snprintf(leaf, sizeof leaf, "fc%d", i + 1);
        nn_linear_init(&m->fc[i], p, join(sub, prefix, leaf), sizes[i], sizes[i + 1], true, rng);
    }
}

Tensor *nn_mlp_forward(Graph *g, const NnMLP *m, Tensor *x, bool train, Rng *rng)
{
    for (int i = 0; i < m->n_layers; i++) {
        x = nn_linear_forward(g, &m->fc[i], x);
        if (i + 1 < m->n_layers) {
            x = nn_activation(g, x, m->act);
            x = nn_dropout(g, x, m->dropout, train, rng);
        }
    }
    return x;
}
