/*
 * graph.c: the define-by-run graph and the backward walk.
 *
 * Every op output is a node, appended to its Graph's list as it is made. Because a node can
 * only use nodes that already exist, creation order is a topological order, and walking it
 * backwards visits each node after every node that consumed it: by the time we reach a node,
 * its gradient is complete and we can push it to its sources. No explicit sort is needed.
 *
 * The backward of each node is one switch on its op (graph_backward_node), which calls the
 * op family's *_backward next to its forward in ops_*.c.
 */
#include "tensor_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const op_names[OP_COUNT] = {
    [OP_NONE] = "leaf",
    [OP_NEG] = "neg",
    [OP_EXP] = "exp",
    [OP_LOG] = "log",
    [OP_SQRT] = "sqrt",
    [OP_POW] = "pow",
    [OP_TANH] = "tanh",
    [OP_SIGMOID] = "sigmoid",
    [OP_RELU] = "relu",
    [OP_GELU] = "gelu",
    [OP_SILU] = "silu",
    [OP_ADD_SCALAR] = "add_scalar",
    [OP_MUL_SCALAR] = "mul_scalar",
    [OP_ADD] = "add",
    [OP_SUB] = "sub",
    [OP_MUL] = "mul",
    [OP_DIV] = "div",
    [OP_MASKED_FILL] = "masked_fill",
    [OP_WHERE] = "where",
    [OP_SUM] = "sum",
    [OP_MEAN] = "mean",
    [OP_MAX] = "max",
    [OP_RESHAPE] = "reshape",
    [OP_TRANSPOSE] = "transpose",
    [OP_PERMUTE] = "permute",
    [OP_SLICE] = "slice",
    [OP_CONTIGUOUS] = "contiguous",
    [OP_CONCAT] = "concat",
    [OP_MATMUL] = "matmul",
    [OP_SOFTMAX] = "softmax",
    [OP_LOG_SOFTMAX] = "log_softmax",
    [OP_CROSS_ENTROPY] = "cross_entropy",
    [OP_EMBEDDING] = "embedding",
    [OP_LAYERNORM] = "layernorm",
    [OP_RMSNORM] = "rmsnorm",
    [OP_DROPOUT] = "dropout",
    [OP_ATTENTION] = "attention",
    [OP_ROPE] = "rope",
};
_Static_assert(sizeof op_names / sizeof op_names[0] == OP_COUNT, "one name per op");

const char *op_name(OpKind op) { return op >= 0 && op < OP_COUNT ? op_names[op] : "?"; }

static void prof_close(Graph *g);

// ---------------------------------------------------------------------------
// Graph lifetime
// ---------------------------------------------------------------------------

Graph *graph_create(size_t scratch_bytes)
{
    Graph *g = xcalloc(1, sizeof *g);
    g->arena = arena_create(scratch_bytes);
    g->grad_enabled = true;
    return g;
}

void graph_free(Graph *g)
{
    if (!g) return;
    free(g->prof);
    arena_free(g->arena);
    free(g);
}

void graph_reset(Graph *g)
{
    prof_close(g);
    arena_reset(g->arena);
    g->last = NULL;
    g->n_nodes = 0;
}

Arena *graph_arena(Graph *g) { return g->arena; }

bool graph_set_grad_enabled(Graph *g, bool enabled)
{
    bool was = g->grad_enabled;
    g->grad_enabled = enabled;
    return was;
}

int graph_node_count(const Graph *g) { return g->n_nodes; }

// ---------------------------------------------------------------------------
// Making nodes
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Profiling
// ---------------------------------------------------------------------------

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Multiply-adds x 2 of the products in a node (forward); backward does twice that.
static double node_flop(const Tensor *t)
{
    if (t->op == OP_MATMUL) {
        const Tensor *a = t->src[0];
        double k = (double)a->shape[a->ndim - 1];
        return 2.0 * (double)tensor_numel(t) * k;
    }
    if (t->op == OP_ATTENTION) { // Q K^T and P V: 2 x (2 T T D) per (b, h)
        double T = (double)t->shape[2];
        return 4.0 * (double)tensor_numel(t) * T;
    }
    return 0.0;
}

// Closes the forward interval of the newest node: its kernel ran since it was made.
static void prof_close(Graph *g)
{
    if (!g->prof) return;
    double t = now_s();
    if (!g->last) { // nothing ran since the last reset or backward: just restart the clock
        g->prof_t0 = t;
        return;
    }
    OpProfile *p = &g->prof[g->last->op];
    p->fwd_s += t - g->prof_t0;
    p->fwd_flop += node_flop(g->last);
    g->prof_t0 = t;
}

void graph_profile_enable(Graph *g, bool on)
{
    free(g->prof);
    g->prof = on ? xcalloc(OP_COUNT, sizeof(OpProfile)) : NULL;
    g->prof_t0 = now_s();
}

void graph_profile_report(const Graph *g, FILE *f)
{
    if (!g->prof) {
        fprintf(f, "profile: off (graph_profile_enable)\n");
        return;
    }
    double total = 0.0;
    for (int k = 0; k < OP_COUNT; k++) total += g->prof[k].fwd_s + g->prof[k].bwd_s;
    fprintf(f, "%-14s %8s %10s %10s %7s %9s\n", "op", "calls", "fwd ms", "bwd ms", "share",
            "GFLOP/s");
    // Largest share first: a selection over the few op kinds is plenty.
    bool done[OP_COUNT] = {false};
    for (;;) {
        int best = -1;
        for (int k = 0; k < OP_COUNT; k++)
            if (!done[k] && g->prof[k].calls &&
                (best < 0 || g->prof[k].fwd_s + g->prof[k].bwd_s >
                                 g->prof[best].fwd_s + g->prof[best].bwd_s))
                best = k;
        if (best < 0) break;
        done[best] = true;
        const OpProfile *p = &g->prof[best];
        double s = p->fwd_s + p->bwd_s, flop = p->fwd_flop + p->bwd_flop;
        fprintf(f, "%-14s %8lld %10.2f %10.2f %6.1f%%", op_name((OpKind)best),
                (long long)p->calls, 1e3 * p->fwd_s, 1e3 * p->bwd_s,
                total > 0 ? 100.0 * s / total : 0.0);
        if (flop > 0 && s > 0)
            fprintf(f, " %9.1f\n", flop / s * 1e-9);
        else
            fprintf(f, " %9s\n", "-");
    }
    fprintf(f, "%-14s %8s %10.2f ms in all\n", "total", "", 1e3 * total);
}

// ---------------------------------------------------------------------------
// Node allocation
// ---------------------------------------------------------------------------

static Tensor *node_alloc(Graph *g, OpKind op, Tensor **src, int n_src)
{
    prof_close(g);
    Tensor *t = arena_calloc(g->arena, sizeof *t);
    t->op = op;
    t->n_src = n_src;
    t->src = arena_alloc(g->arena, sizeof(Tensor *) * (size_t)(n_src ? n_src : 1));
    bool any = false;
    for (int i = 0; i < n_src; i++) {
        t->src[i] = src[i]; // optional operands (a LayerNorm without bias) are NULL
        any |= src[i] && src[i]->requires_grad;
    }
    t->requires_grad = g->grad_enabled && any;
    t->id = g->n_nodes++;
    // "node_<id>", written by hand: snprintf here was a third of the cost of a small op.
    char digits[12];
    int nd = 0;
    for (unsigned v = (unsigned)t->id; nd == 0 || v; v /= 10) digits[nd++] = (char)('0' + v % 10);
    memcpy(t->name, "node_", 5);
    for (int i = 0; i < nd; i++) t->name[5 + i] = digits[nd - 1 - i];
    t->name[5 + nd] = '\0';
    t->prev = g->last;
    g->last = t;
    if (g->prof) g->prof[op].calls++;
    return t;
}

Tensor *node_new(Graph *g, OpKind op, DType dtype, int ndim, const int64_t *shape, Tensor **src,
                 int n_src)
{
    CHECK(ndim >= 0 && ndim <= TENSOR_MAX_DIMS, "%s: %d dims (at most %d)", op_name(op), ndim,
          TENSOR_MAX_DIMS);
    Tensor *t = node_alloc(g, op, src, n_src);
    t->dtype = dtype;
    t->ndim = ndim;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        CHECK(shape[i] >= 0, "%s: negative dim %lld", op_name(op), (long long)shape[i]);
        t->shape[i] = shape[i];
        n *= shape[i];
    }
    strides_contiguous(ndim, t->shape, t->stride);
    t->data = arena_alloc(g->arena, (size_t)n * sizeof(float));
    return t;
}

Tensor *node_view(Graph *g, OpKind op, Tensor *a, int ndim, const int64_t *shape,
                  const int64_t *stride, int64_t offset_from_a)
{
    Tensor *t = node_alloc(g, op, &a, 1);
    t->dtype = a->dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->stride[i] = stride[i];
    }
    // Views always point at the root storage owner, so a view of a view still writes its
    // gradient straight into the one buffer that owns it.
    t->base = a->base ? a->base : a;
    t->offset = a->offset + offset_from_a;
    t->data = t->base->data + t->offset;
    if (t->base->grad) t->grad = t->base->grad + t->offset;
    return t;
}

float *grad_get(Graph *g, Tensor *t)
{
    if (t->grad) return t->grad;
    if (t->base) {
        float *bg = grad_get(g, t->base);
        t->grad = bg + t->offset;
        return t->grad;
    }
    CHECK(!t->is_param, "parameter %s has no grad buffer", t->name);
    t->grad = arena_calloc(g->arena, (size_t)tensor_numel(t) * sizeof(float));
    return t->grad;
}

// ---------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------

// Pushes t's gradient to its sources. One case per op family; views need nothing, because
// their grad already is their base's grad (see tensor.h).
static void graph_backward_node(Graph *g, Tensor *t)
{
    switch (t->op) {
    case OP_NONE:
        break;
    case OP_NEG:
    case OP_EXP:
    case OP_LOG:
    case OP_SQRT:
    case OP_POW:
    case OP_TANH:
    case OP_SIGMOID:
    case OP_RELU:
    case OP_GELU:
    case OP_SILU:
    case OP_ADD_SCALAR:
    case OP_MUL_SCALAR:
    case OP_CONTIGUOUS:
        unary_backward(g, t);
        break;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_MASKED_FILL:
    case OP_WHERE:
        binary_backward(g, t);
        break;
    case OP_SUM:
    case OP_MEAN:
    case OP_MAX:
        reduce_backward(g, t);
        break;
    case OP_RESHAPE:
    case OP_TRANSPOSE:
    case OP_PERMUTE:
    case OP_SLICE:
        break;
    case OP_CONCAT:
        concat_backward(g, t);
        break;
    case OP_MATMUL:
        matmul_backward(g, t);
        break;
    case OP_SOFTMAX:
    case OP_LOG_SOFTMAX:
        softmax_backward(g, t);
        break;
    case OP_CROSS_ENTROPY:
        cross_entropy_backward(g, t);
        break;
    case OP_EMBEDDING:
        embedding_backward(g, t);
        break;
    case OP_LAYERNORM:
        layernorm_backward(g, t);
        break;
    case OP_RMSNORM:
        rmsnorm_backward(g, t);
        break;
    case OP_DROPOUT:
        dropout_backward(g, t);
        break;
    case OP_ATTENTION:
        attention_backward(g, t);
        break;
    case OP_ROPE:
        rope_backward(g, t);
        break;
    case OP_COUNT:
        CHECK(0, "invalid op OP_COUNT on %s", t->name);
    }
}

void graph_backward_with(Graph *g, Tensor *out, const float *dout)
{
    CHECK(out->dtype == DT_F32, "backward from an int tensor %s", out->name);
    CHECK(out->requires_grad, "backward from %s, which does not require grad; hint: is a "
          "parameter marked with tensor_param, and was grad recording on?", out->name);
    // A second backward on the same graph must not push the first one's activation gradients
    // again: clear every gradient the graph owns. Leaves (parameters, inputs) keep theirs, so
    // they accumulate across calls.
    for (Tensor *t = g->last; t; t = t->prev)
        if (t->grad && !t->base) memset(t->grad, 0, (size_t)tensor_numel(t) * sizeof(float));
    int64_t n = tensor_numel(out);
    if (!out->grad && !out->base && !out->is_param) {
        // The usual case, a fresh output: its gradient is dout itself (no zeroing, no add).
        out->grad = arena_alloc(g->arena, (size_t)n * sizeof(float));
        memcpy(out->grad, dout, (size_t)n * sizeof(float));
    } else if (tensor_is_contiguous(out)) {
        float *d = grad_get(g, out);
        for (int64_t i = 0; i < n; i++) d[i] += dout[i];
    } else {
        // A non-contiguous output (a view): seed in logical order through its strides.
        float *d = grad_get(g, out);
        int64_t idx[TENSOR_MAX_DIMS] = {0};
        for (int64_t i = 0; i < n; i++) {
            int64_t off = 0;
            for (int k = 0; k < out->ndim; k++) off += idx[k] * out->stride[k];
            d[off] += dout[i];
            for (int k = out->ndim - 1; k >= 0; k--) {
                if (++idx[k] < out->shape[k]) break;
                idx[k] = 0;
            }
        }
    }
    prof_close(g);
    for (Tensor *t = g->last; t; t = t->prev) {
        if (!t->requires_grad || !t->grad) continue;
        double t0 = g->prof ? now_s() : 0.0;
        graph_backward_node(g, t);
        if (g->prof) {
            g->prof[t->op].bwd_s += now_s() - t0;
            g->prof[t->op].bwd_flop += 2.0 * node_flop(t);
        }
    }
    if (g->prof) g->prof_t0 = now_s();
}

void graph_backward(Graph *g, Tensor *loss)
{
    CHECK(tensor_numel(loss) == 1, "backward from %s with %lld elements; hint: reduce it to a "
          "scalar loss first (tensor_mean_all) or use graph_backward_with", loss->name,
          (long long)tensor_numel(loss));
    const float one = 1.0f;
    graph_backward_with(g, loss, &one);
}

// ---------------------------------------------------------------------------
// Inspection
// ---------------------------------------------------------------------------

Tensor *graph_find_nonfinite(const Graph *g)
{
    Tensor *first = NULL;
    for (Tensor *t = g->last; t; t = t->prev)
        if (t->dtype == DT_F32 && tensor_has_nonfinite(t)) first = t;
    return first;
}

void graph_dump(const Graph *g, FILE *f)
{
    // Print in creation order: collect the list (it is linked newest first).
    int n = g->n_nodes;
    Tensor **nodes = xmalloc(sizeof(Tensor *) * (size_t)(n ? n : 1));
    int i = n;
    for (Tensor *t = g->last; t && i > 0; t = t->prev) nodes[--i] = t;
    fprintf(f, "graph: %d node(s), arena %zu B used\n", n, arena_used(g->arena));
    for (int k = i; k < n; k++) {
        Tensor *t = nodes[k];
        char buf[64];
        fprintf(f, "  #%-4d %-14s %-12s %-18s", t->id, t->name, op_name(t->op),
                shape_str(t, buf, sizeof buf));
        for (int s = 0; s < t->n_src; s++)
            fprintf(f, "%s%s", s ? ", " : " <- ", t->src[s] ? t->src[s]->name : "-");
        fprintf(f, "%s%s\n", t->requires_grad ? "  [grad]" : "", t->base ? "  [view]" : "");
    }
    free(nodes);
}
