/*
 * tensor_internal.h: what the files of core/ share to implement tensor.h. Not for other modules.
 *
 * graph.c owns the Graph and the backward walk; each ops_*.c file holds one family of ops with
 * the forward (the public tensor_* function) next to its backward (a *_backward function that
 * graph.c's switch calls).
 */
#ifndef CORE_TENSOR_INTERNAL_H
#define CORE_TENSOR_INTERNAL_H

#include "tensor.h"

// Per-op time and work, accumulated while profiling is on (graph_profile_*).
typedef struct {
    double fwd_s, bwd_s;     // seconds
    double fwd_flop, bwd_flop; // floating-point operations (matmul and attention only)
    int64_t calls;
} OpProfile;

struct Graph {
    Arena *arena;    // scratch: nodes, op outputs, saved buffers, activation grads
    Tensor *last;    // the newest node; node->prev walks back in creation order
    int n_nodes;     // nodes since the last reset
    bool grad_enabled;
    OpProfile *prof; // NULL unless profiling (then OP_COUNT entries, malloc'd)
    double prof_t0;  // when the newest node was made (its forward runs until the next one)
};

// A new op output in g's arena: contiguous, data allocated (uninitialised), sources recorded,
// requires_grad when recording is on and a source requires grad, linked into g's node list.
Tensor *node_new(Graph *g, OpKind op, DType dtype, int ndim, const int64_t *shape, Tensor **src,
                 int n_src);

// Like node_new, but a view of src[0]'s storage: shape and strides given, data at `offset`
// elements from the root base's data. No data is allocated.
Tensor *node_view(Graph *g, OpKind op, Tensor *a, int ndim, const int64_t *shape,
                  const int64_t *stride, int64_t offset_from_a);

// The gradient buffer of t (same layout as t->data), allocated zeroed in g's arena the first
// time; for a view, a pointer into its base's gradient.
float *grad_get(Graph *g, Tensor *t);

// A dim given PyTorch-style (negative counts from the end) as 0..ndim-1; CHECKs the range.
int dim_norm(const Tensor *t, int dim);

// Contiguous strides for a shape.
void strides_contiguous(int ndim, const int64_t *shape, int64_t *stride);

// Formats a shape as "(2, 3, 4)" into buf (for error messages).
const char *shape_str(const Tensor *t, char *buf, size_t n);

// y[0..n) = softmax(x[0..n)), stably (max subtracted, sum in double); y may equal x.
// Returns the row's max and writes sum(exp(x - max)) to *sum (for log-sum-exp).
// The one softmax kernel of cross-entropy, attention and last-dim softmax (ops_reduce.c).
float softmax_row(float *y, const float *x, int64_t n, double *sum);

// Backward of each op family (called by graph.c's switch on t->op).
void unary_backward(Graph *g, Tensor *t);      // OP_NEG..OP_MUL_SCALAR, OP_CONTIGUOUS
void binary_backward(Graph *g, Tensor *t);     // OP_ADD..OP_DIV, OP_MASKED_FILL, OP_WHERE
void dropout_backward(Graph *g, Tensor *t);
void reduce_backward(Graph *g, Tensor *t);     // OP_SUM, OP_MEAN, OP_MAX
void concat_backward(Graph *g, Tensor *t);
void matmul_backward(Graph *g, Tensor *t);
void softmax_backward(Graph *g, Tensor *t);    // OP_SOFTMAX, OP_LOG_SOFTMAX
void cross_entropy_backward(Graph *g, Tensor *t);
void embedding_backward(Graph *g, Tensor *t);
void layernorm_backward(Graph *g, Tensor *t);
void rmsnorm_backward(Graph *g, Tensor *t);
void attention_backward(Graph *g, Tensor *t);
void rope_backward(Graph *g, Tensor *t);

#endif
