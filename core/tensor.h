/*
 * tensor.h: float32 N-D tensors and reverse-mode automatic differentiation.
 *
 * The central object is the Tensor: a shape, strides and a data pointer, plus, when it was made
 * by an op inside a Graph, the op and its sources. Code builds the graph simply by calling ops
 * (define-by-run); graph_backward(g, loss) then walks it in reverse and fills `grad`.
 *
 * Glossary used in the shape comments of the whole engine:
 *   B = batch, T = time (sequence position), C = channels (model width), V = vocab,
 *   N = rows (any flattened leading dims), M, K, N (matmul) = rows, inner, columns.
 *
 * Layout. Up to 4 dims, PyTorch order: shape[0] is outermost, stride[ndim-1] is the innermost
 * step, strides are in elements. A tensor either owns its storage (base == NULL) or is a view
 * of a base tensor (reshape, transpose, permute, slice, split, detach) at element `offset`.
 *
 * Gradients. `grad` has exactly the same layout as `data`: same strides, and for a view it
 * points into the base's grad at the same offset. So the gradient of a view is written straight
 * into its base's gradient and views need no backward work at all; broadcasting and transposes
 * are handled by the kernels through strides, never by copies. Gradients always accumulate
 * (`+=`), so a tensor used twice gets the sum, and several backward calls before an optimizer
 * step accumulate (gradient accumulation). Zero them with tensor_zero_grad.
 *
 * Memory model (see arena.h). Parameters are made with tensor_param in a params Arena that
 * lives as long as the model; their grads are allocated there too, once. Everything an op makes
 * (its output, saved buffers for backward, the graph node itself, activation gradients) comes
 * from the Graph's scratch arena and is released by graph_reset(g) in one call. No tensor is
 * ever freed on its own.
 *
 * Errors. Misuse (a shape mismatch, a bad dim, a wrong dtype) is a bug and hits CHECK, which
 * prints file:line and aborts. Ops never fail otherwise.
 *
 * Ownership. Every Tensor * returned here is borrowed from the arena it was made in (a params
 * arena or the Graph's scratch arena) and valid until that arena is reset or freed.
 *
 * Usage (one training step of a linear model y = x W^T + b):
 *     Arena *params = arena_create(0);
 *     Tensor *W = tensor_param(params, 2, (int64_t[]){10, 784});   // (out, in)
 *     Tensor *b = tensor_param(params, 1, (int64_t[]){10});
 *     Graph *g = graph_create(0);
 *     Tensor *x = tensor_from(graph_arena(g), 2, (int64_t[]){B, 784}, pixels);  // (B, 784)
 *     Tensor *y = tensor_from_i32(graph_arena(g), 1, (int64_t[]){B}, labels);   // (B,)
 *     Tensor *logits = tensor_add(g, tensor_matmul(g, x, tensor_transpose(g, W, 0, 1)), b);
 *     Tensor *loss = tensor_cross_entropy(g, logits, y, -1);      // scalar
 *     graph_backward(g, loss);                                    // fills W->grad, b->grad
 *     ... optimizer step on W, b; then tensor_zero_grad(W), tensor_zero_grad(b) ...
 *     graph_reset(g);                                             // the step's memory is gone
 */
#ifndef CORE_TENSOR_H
#define CORE_TENSOR_H

#include "arena.h"
#include "err.h"
#include "rng.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define TENSOR_MAX_DIMS 4

typedef enum {
    DT_F32 = 0, // float32: every differentiable tensor
    DT_I32 = 1, // int32: indices (class targets, token ids); never has a gradient
} DType;

// Every op the graph knows. Forward and backward are each one switch over this enum
// (graph.c), so gdb's `step` lands in the kernel and
// `break graph_backward_node if t->op == OP_MATMUL` works.
typedef enum {
    OP_NONE = 0, // a leaf: parameter, input, or detached view
    // unary, elementwise
    OP_NEG,
    OP_EXP,
    OP_LOG,
    OP_SQRT,
    OP_POW,        // x^p, p = fparam[0]
    OP_TANH,
    OP_SIGMOID,
    OP_RELU,
    OP_GELU,       // tanh approximation
    OP_SILU,
    OP_ADD_SCALAR, // x + s, s = fparam[0]
    OP_MUL_SCALAR, // x * s, s = fparam[0]
    // binary, elementwise with broadcasting
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MASKED_FILL, // mask != 0 ? value : x, value = fparam[0]
    OP_WHERE,       // cond != 0 ? a : b
    // reductions over one dim (iparam[0] = dim, iparam[1] = keepdim)
    OP_SUM,
    OP_MEAN,
    OP_MAX,
    // movement: views share storage and need no backward; copies do
    OP_RESHAPE,
    OP_TRANSPOSE,
    OP_PERMUTE,
    OP_SLICE,
    OP_CONTIGUOUS,
    OP_CONCAT,
    // matrix products
    OP_MATMUL,
    // neural-network ops (fused for speed and numerical stability)
    OP_SOFTMAX,       // over dim iparam[0]
    OP_LOG_SOFTMAX,   // over dim iparam[0]
    OP_CROSS_ENTROPY, // mean over targets != iparam[0] (the ignore index)
    OP_EMBEDDING,
    OP_LAYERNORM, // over the last dim, eps = fparam[0]
    OP_RMSNORM,   // over the last dim, eps = fparam[0]
    OP_DROPOUT,   // p = fparam[0]
    OP_ATTENTION, // fused scaled dot-product attention, causal = iparam[0]
    OP_ROPE,      // rotary position embedding, pos0 = iparam[0], base = fparam[0]
    OP_COUNT
} OpKind;

typedef struct Tensor Tensor;
struct Tensor {
    DType dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];  // PyTorch order: shape[0] outermost
    int64_t stride[TENSOR_MAX_DIMS]; // in elements
    union {
        float *data;    // DT_F32
        int32_t *idata; // DT_I32
    };
    float *grad;    // NULL until a gradient reaches it; same layout (strides) as data
    Tensor *base;   // for views: the tensor owning the storage; NULL if this tensor owns it
    int64_t offset; // for views: element offset of data[0] in base->data
    bool requires_grad;
    bool is_param;  // made by tensor_param: its grad lives in the params arena

    OpKind op;       // how this tensor was made (OP_NONE for leaves)
    int n_src;       // number of sources
    Tensor **src;    // sources (n_src of them), NULL for leaves
    float fparam[2]; // op parameters (scalar, exponent, eps, p, fill value)
    int64_t iparam[TENSOR_MAX_DIMS]; // op parameters (dim, keepdim, ignore index, perm)
    void *saved;     // op-specific buffers kept for backward (in the graph arena)

    Tensor *prev;  // the node made before this one in the same Graph (creation order)
    int id;        // creation index in its Graph (-1 for tensors made outside a Graph)
    char name[32]; // "node_<id>" by default; set your own with tensor_set_name
};

typedef struct Graph Graph;

// ---------------------------------------------------------------------------
// Graph: one step's scratch memory and its op list
// ---------------------------------------------------------------------------

// A new graph whose scratch arena starts with `scratch_bytes` (0: 1 MiB; grows as needed).
Graph *graph_create(size_t scratch_bytes);

// Frees the graph and its arena. graph_free(NULL) does nothing.
void graph_free(Graph *g);

// Releases every tensor, node and activation gradient made since the last reset (one call).
// Parameters (in their own arena) keep their values and gradients.
void graph_reset(Graph *g);

// The graph's scratch arena, for inputs and temporaries of this step (borrowed).
Arena *graph_arena(Graph *g);

// Turns recording for backward on or off (like torch.no_grad()); returns the previous state.
// With it off, op outputs have requires_grad = false and keep no sources.
bool graph_set_grad_enabled(Graph *g, bool enabled);

// Back-propagates from `loss` (a tensor with one element): adds d(loss)/d(t) into t->grad for
// every tensor t that requires grad and that loss depends on. The walk is in reverse creation
// order, which is a topological order of a define-by-run graph. Can be called several times
// before graph_reset (gradients accumulate).
void graph_backward(Graph *g, Tensor *loss);

// Like graph_backward but seeds with a given upstream gradient `dout` (same numel as `out`)
// instead of 1: used by the gradient checker and by tests against PyTorch's autograd.grad.
void graph_backward_with(Graph *g, Tensor *out, const float *dout);

// Number of nodes recorded since the last reset.
int graph_node_count(const Graph *g);

// The first node (in creation order) whose output holds a NaN or Inf, or NULL. Call it after a
// forward pass that produced a non-finite loss to find the op that went wrong; in gdb:
// `call tensor_print(graph_find_nonfinite(g))`.
Tensor *graph_find_nonfinite(const Graph *g);

// Prints every node: id, name, op, shape, sources, and whether it has a grad. Callable from gdb.
void graph_dump(const Graph *g, FILE *f);

// The op's printable name ("matmul", "softmax", ...).
const char *op_name(OpKind op);

// Per-op profiling. While on, each node's forward time (from its creation to the next node's,
// which is when its kernel runs) and backward time are added up per op kind, with the FLOPs of
// matmul and attention. graph_profile_report prints a table: op, calls, forward and backward
// ms, share of the total, achieved GFLOP/s. Counts survive graph_reset; enabling clears them.
void graph_profile_enable(Graph *g, bool on);
void graph_profile_report(const Graph *g, FILE *f);

// ---------------------------------------------------------------------------
// Creating tensors and parameters
// ---------------------------------------------------------------------------

// A new contiguous tensor in arena `a` with uninitialised data. shape has ndim entries (0..4);
// a dim of 0 gives an empty tensor.
Tensor *tensor_new(Arena *a, DType dtype, int ndim, const int64_t *shape);

// A new float32 tensor filled with zeros / with a copy of `values` (numel floats).
Tensor *tensor_zeros(Arena *a, int ndim, const int64_t *shape);
Tensor *tensor_from(Arena *a, int ndim, const int64_t *shape, const float *values);

// A new int32 tensor holding a copy of `values` (numel ints).
Tensor *tensor_from_i32(Arena *a, int ndim, const int64_t *shape, const int32_t *values);

// A trainable parameter: zeros, requires_grad, its grad allocated (zeroed) in `params`.
Tensor *tensor_param(Arena *params, int ndim, const int64_t *shape);

// Makes a leaf tensor trainable: allocates its gradient (zeroed) in arena `a`.
void tensor_set_requires_grad(Tensor *t, Arena *a);

// Zeroes t->grad (no-op when t has none).
void tensor_zero_grad(Tensor *t);

// Names the tensor (shown by tensor_print, graph_dump and the gdb printer). Returns t.
Tensor *tensor_set_name(Tensor *t, const char *name);

// ---------------------------------------------------------------------------
// Inspecting tensors
// ---------------------------------------------------------------------------

int64_t tensor_numel(const Tensor *t);
bool tensor_is_contiguous(const Tensor *t);
bool tensor_same_shape(const Tensor *a, const Tensor *b);

// The element at a multi-index (ndim entries), honouring strides.
float tensor_get(const Tensor *t, const int64_t *idx);

// The value of a one-element tensor.
float tensor_item(const Tensor *t);

// Copies the elements, in logical (row-major) order, to `out` (numel floats).
void tensor_copy_to(const Tensor *t, float *out);

// Copies numel floats from `values` into t (logical order; t may be a view).
void tensor_copy_from(Tensor *t, const float *values);

// Fills with a constant / N(mean, std^2) / U[lo, hi) from the seeded generator.
void tensor_fill(Tensor *t, float value);
void tensor_fill_normal(Tensor *t, Rng *rng, float mean, float std);
void tensor_fill_uniform(Tensor *t, Rng *rng, float lo, float hi);

// True when any element is NaN or +-Inf.
bool tensor_has_nonfinite(const Tensor *t);

// Prints name, dtype, shape, strides, op and the first values to stderr. Callable from gdb.
void tensor_print(const Tensor *t);

// ---------------------------------------------------------------------------
// Ops. Each returns a new tensor from g's arena and records itself for backward when any
// source requires grad. Dims may be negative (counted from the end), as in PyTorch.
// ---------------------------------------------------------------------------

// Unary elementwise: out has a's shape.
Tensor *tensor_neg(Graph *g, Tensor *a);
Tensor *tensor_exp(Graph *g, Tensor *a);
Tensor *tensor_log(Graph *g, Tensor *a);
Tensor *tensor_sqrt(Graph *g, Tensor *a);
Tensor *tensor_pow(Graph *g, Tensor *a, float p);
Tensor *tensor_tanh(Graph *g, Tensor *a);
Tensor *tensor_sigmoid(Graph *g, Tensor *a);
Tensor *tensor_relu(Graph *g, Tensor *a);
Tensor *tensor_gelu(Graph *g, Tensor *a); // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
Tensor *tensor_silu(Graph *g, Tensor *a); // x * sigmoid(x)
Tensor *tensor_add_scalar(Graph *g, Tensor *a, float s);
Tensor *tensor_mul_scalar(Graph *g, Tensor *a, float s);

// Binary elementwise with NumPy/PyTorch broadcasting (shapes aligned from the right; a dim of
// 1 stretches). out has the broadcast shape.
Tensor *tensor_add(Graph *g, Tensor *a, Tensor *b);
Tensor *tensor_sub(Graph *g, Tensor *a, Tensor *b);
Tensor *tensor_mul(Graph *g, Tensor *a, Tensor *b);
Tensor *tensor_div(Graph *g, Tensor *a, Tensor *b);

// out = mask != 0 ? value : a. mask is float32, broadcast to a's shape, not differentiated.
Tensor *tensor_masked_fill(Graph *g, Tensor *a, Tensor *mask, float value);

// out = cond != 0 ? a : b, all three broadcast together. cond is float32, not differentiated.
Tensor *tensor_where(Graph *g, Tensor *cond, Tensor *a, Tensor *b);

// Reductions over one dim. keepdim keeps it with size 1. max's gradient goes to the first
// maximal element (as PyTorch's max(dim) does).
Tensor *tensor_sum(Graph *g, Tensor *a, int dim, bool keepdim);
Tensor *tensor_mean(Graph *g, Tensor *a, int dim, bool keepdim);
Tensor *tensor_max(Graph *g, Tensor *a, int dim, bool keepdim);
// Sum / mean of all elements: a one-element tensor of shape ().
Tensor *tensor_sum_all(Graph *g, Tensor *a);
Tensor *tensor_mean_all(Graph *g, Tensor *a);

// Views (no copy; the result shares a's storage and its grad). reshape copies first only when
// a is not contiguous; one dim of shape may be -1 (inferred).
Tensor *tensor_reshape(Graph *g, Tensor *a, int ndim, const int64_t *shape);
Tensor *tensor_transpose(Graph *g, Tensor *a, int d0, int d1);
Tensor *tensor_permute(Graph *g, Tensor *a, const int *perm);
Tensor *tensor_slice(Graph *g, Tensor *a, int dim, int64_t start, int64_t end); // [start, end)
// Splits `dim` into n parts of sizes[i] (summing to the dim) as views, written to out[0..n).
void tensor_split(Graph *g, Tensor *a, int dim, int n, const int64_t *sizes, Tensor **out);
// A view that shares data but is cut from the graph: no grad flows through it.
Tensor *tensor_detach(Graph *g, Tensor *a);
// A contiguous copy (a itself when already contiguous).
Tensor *tensor_contiguous(Graph *g, Tensor *a);

// Concatenates n tensors along dim (all other dims equal). A copy.
Tensor *tensor_concat(Graph *g, Tensor **ts, int n, int dim);

// Matrix product through cblas_sgemm. a: (..., M, K), b: (..., K, N) -> (..., M, N).
// Batch dims (up to 2) broadcast; b may be 2-D (shared weights: (B, T, K) @ (K, N)).
// Transposed operands (e.g. tensor_transpose(g, W, 0, 1)) are passed to sgemm with its
// transpose flag: no copy is made, forward or backward.
Tensor *tensor_matmul(Graph *g, Tensor *a, Tensor *b);

// Softmax / log-softmax over `dim`, computed stably (max subtracted first).
Tensor *tensor_softmax(Graph *g, Tensor *a, int dim);
Tensor *tensor_log_softmax(Graph *g, Tensor *a, int dim);

// Mean cross-entropy of logits (N, C) against int32 targets (N,), skipping targets equal to
// ignore_index (pass -1 when none are ignored; -100 is PyTorch's default). Fused
// log-softmax + NLL: stable for any logits. Returns shape (). If every target is ignored the
// loss is 0 (PyTorch returns NaN there; a training loop wants 0).
Tensor *tensor_cross_entropy(Graph *g, Tensor *logits, Tensor *targets, int ignore_index);

// Rows of weight (V, C) picked by int32 ids of any shape S: out has shape S + (C,).
Tensor *tensor_embedding(Graph *g, Tensor *weight, Tensor *ids);

// LayerNorm over the last dim C: (x - mean) / sqrt(var + eps) * w + b. w, b: (C,) or NULL.
Tensor *tensor_layernorm(Graph *g, Tensor *x, Tensor *w, Tensor *b, float eps);

// RMSNorm over the last dim C: x / sqrt(mean(x^2) + eps) * w. w: (C,) or NULL.
Tensor *tensor_rmsnorm(Graph *g, Tensor *x, Tensor *w, float eps);

// Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p).
// The mask comes from rng, so a seed reproduces it. p == 0 returns a unchanged.
Tensor *tensor_dropout(Graph *g, Tensor *a, float p, Rng *rng);

// The row kernels behind tensor_layernorm and tensor_rmsnorm, on raw arrays, for code that
// runs without a graph (the KV-cache inference path) and must compute exactly the same numbers.
// y, x: (N, C) row-major; w, b: (C,) or NULL; mean, rstd: (N,) or NULL (the row statistics).
void tensor_layernorm_rows(float *y, float *mean, float *rstd, const float *x, const float *w,
                           const float *b, int64_t N, int64_t C, float eps);
void tensor_rmsnorm_rows(float *y, float *rstd, const float *x, const float *w, int64_t N,
                         int64_t C, float eps);

// Fused scaled dot-product attention. q: (B, H, T, D); k, v: (B, KVH, T, D) with H % KVH == 0
// (grouped-query attention: query head h reads kv head h / (H / KVH)). Returns
// out (B, H, T, D) = softmax(q k^T / sqrt(D) + mask) v, where the mask hides the future
// (key j > query i) when causal. Operands may be strided views (e.g. (B, T, H, D) transposed
// to (B, H, T, D)) as long as the last dim is contiguous. Keeps the (B, H, T, T) attention
// probabilities for backward.
Tensor *tensor_attention(Graph *g, Tensor *q, Tensor *k, Tensor *v, bool causal);

// Rotary position embedding over x (..., T, D), D even: each adjacent pair (x[2i], x[2i+1]) of
// the row at time t is rotated by the angle (pos0 + t) * base^(-2i/D) (llama.cpp's pairing).
Tensor *tensor_rope(Graph *g, Tensor *x, int64_t pos0, float base);

#endif
