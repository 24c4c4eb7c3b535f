/*
 * layers.h: the standard modules over the autograd core: Linear, Embedding, LayerNorm, RMSNorm,
 * Dropout and an MLP.
 *
 * A layer is a small caller-owned struct of borrowed Tensor pointers. Its init registers its
 * parameters in an NnParams (nn/params.h) under PyTorch's names, "<prefix>.weight" and
 * "<prefix>.bias" (an empty prefix gives "weight"), and initialises them as PyTorch's module
 * of the same name does; its forward records ops on a Graph, so graph_backward fills the
 * parameters' gradients. Nothing needs freeing: the tensors belong to the registry, and a
 * layer struct is dead when its registry is freed. There is therefore no deinit.
 *
 * Shapes (glossary in core/tensor.h): x (..., in) means any leading dims (B, or B and T).
 *   Linear       x (..., in)  -> (..., out)      y = x W^T + b, W (out, in), b (out,)
 *   Embedding    ids (...) i32 -> (..., dim)     rows of W (num, dim)
 *   LayerNorm    x (..., C)   -> (..., C)        (x - mean) / sqrt(var + eps) * w + b
 *   RMSNorm      x (..., C)   -> (..., C)        x / sqrt(mean(x^2) + eps) * w
 *   MLP          x (..., sizes[0]) -> (..., sizes[n_layers])
 *
 * Errors: shape mismatches are bugs (CHECK), as in the core ops.
 *
 * Usage (a 784-256-10 classifier):
 *     NnParams *p = nn_params_create();
 *     Rng rng;
 *     rng_init(&rng, 1);
 *     NnMLP mlp;
 *     nn_mlp_init(&mlp, p, "mlp", (int64_t[]){784, 256, 10}, 2, NN_ACT_RELU, 0.1f, &rng);
 *     // names: mlp.fc1.weight (256, 784), mlp.fc1.bias, mlp.fc2.weight (10, 256), mlp.fc2.bias
 *     Tensor *logits = nn_mlp_forward(g, &mlp, x, true, &rng);    // x (B, 784), training
 *     Tensor *loss = nn_cross_entropy_loss(g, logits, y, -1);       // nn/loss.h
 */
#ifndef NN_LAYERS_H
#define NN_LAYERS_H

#include "core/rng.h"
#include "core/tensor.h"
#include "nn/params.h"

#include <stdbool.h>
#include <stdint.h>

// ---------------------------------------------------------------------------
// Activations
// ---------------------------------------------------------------------------

typedef enum {
    NN_ACT_NONE = 0, // identity
    NN_ACT_RELU,
    NN_ACT_GELU,     // tanh approximation (GPT-2's)
    NN_ACT_TANH,
    NN_ACT_COUNT
} NnActivation;

// act(x) elementwise; NN_ACT_NONE returns x itself.
Tensor *nn_activation(Graph *g, Tensor *x, NnActivation act);

// "none", "relu", "gelu", "tanh".
const char *nn_activation_name(NnActivation act);

// ---------------------------------------------------------------------------
// Linear
// ---------------------------------------------------------------------------

typedef struct {
    Tensor *weight; // (out, in)
    Tensor *bias;   // (out,) or NULL
    int64_t in, out;
} NnLinear;

// Registers "<prefix>.weight" (out, in) and, when `bias`, "<prefix>.bias" (out,), initialised
// as torch.nn.Linear: U(-1/sqrt(in), 1/sqrt(in)) for both (nn_init_linear_default).
void nn_linear_init(NnLinear *l, NnParams *p, const char *prefix, int64_t in, int64_t out,
                    bool bias, Rng *rng);

// y = x W^T + b for x (..., in) with up to 2 leading dims. W^T is a transposed view, so the
// product runs as one sgemm with its transpose flag: no copy of W, forward or backward.
Tensor *nn_linear_forward(Graph *g, const NnLinear *l, Tensor *x);

// ---------------------------------------------------------------------------
// Embedding
// ---------------------------------------------------------------------------

typedef struct {
    Tensor *weight; // (num, dim)
    int64_t num, dim;
} NnEmbedding;

// Registers "<prefix>.weight" (num, dim), initialised N(0, 1) as torch.nn.Embedding.
void nn_embedding_init(NnEmbedding *e, NnParams *p, const char *prefix, int64_t num,
                       int64_t dim, Rng *rng);

// Rows of the table picked by int32 ids of any shape S (each in [0, num)): (S..., dim).
Tensor *nn_embedding_forward(Graph *g, const NnEmbedding *e, Tensor *ids);

// ---------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------

typedef struct {
    Tensor *weight; // (dim,), ones
    Tensor *bias;   // (dim,), zeros; NULL without bias
    int64_t dim;
    float eps;
} NnLayerNorm;

// Registers "<prefix>.weight" (ones) and, when `bias`, "<prefix>.bias" (zeros). PyTorch's eps
// is 1e-5.
void nn_layernorm_init(NnLayerNorm *ln, NnParams *p, const char *prefix, int64_t dim, float eps,
                       bool bias);
Tensor *nn_layernorm_forward(Graph *g, const NnLayerNorm *ln, Tensor *x);

typedef struct {
    Tensor *weight; // (dim,), ones
    int64_t dim;
    float eps;
} NnRMSNorm;

// Registers "<prefix>.weight" (ones). Llama uses eps 1e-5 or 1e-6.
void nn_rmsnorm_init(NnRMSNorm *rn, NnParams *p, const char *prefix, int64_t dim, float eps);
Tensor *nn_rmsnorm_forward(Graph *g, const NnRMSNorm *rn, Tensor *x);

// ---------------------------------------------------------------------------
// Dropout
// ---------------------------------------------------------------------------

// Inverted dropout when `train` (zero with probability p, scale survivors by 1/(1-p), mask
// drawn from rng); x itself when !train or p == 0, so evaluation needs no rng (may be NULL).
Tensor *nn_dropout(Graph *g, Tensor *x, float p, bool train, Rng *rng);

// ---------------------------------------------------------------------------
// MLP
// ---------------------------------------------------------------------------

#define NN_MLP_MAX_LAYERS 8

typedef struct {
    int n_layers;                       // number of Linear layers
    NnLinear fc[NN_MLP_MAX_LAYERS];     // fc[i]: sizes[i] -> sizes[i+1]
    NnActivation act;                   // between layers, not after the last
    float dropout;                      // after each activation, in training; 0 for none
} NnMLP;

// n_layers Linear layers (1..NN_MLP_MAX_LAYERS) of sizes[0] -> sizes[1] -> ... ->
// sizes[n_layers] (n_layers + 1 entries), each with a bias, registered as
// "<prefix>.fc1.weight", "<prefix>.fc1.bias", "<prefix>.fc2.weight", ...
void nn_mlp_init(NnMLP *m, NnParams *p, const char *prefix, const int64_t *sizes, int n_layers,
                 NnActivation act, float dropout, Rng *rng);

// fc_n(... drop(act(fc_1(x))) ...). Dropout only when `train` (rng used then).
Tensor *nn_mlp_forward(Graph *g, const NnMLP *m, Tensor *x, bool train, Rng *rng);

#endif
