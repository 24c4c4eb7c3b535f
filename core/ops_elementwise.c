/*
 * ops_elementwise.c: unary, scalar and broadcasting binary ops, masked_fill, where, dropout.
 *
 * Broadcasting is done with strides, never with copies. The output shape is padded to 4 dims
 * with leading 1s, and each operand gets a stride per output dim: its own stride, or 0 where
 * it is broadcast (a missing dim or a dim of 1). Reading x[i * 0] re-reads one element; and in
 * backward, accumulating dx[i * 0] += ... sums the gradient over the broadcast dim, which is
 * exactly the reduction the chain rule asks for. One loop nest thus serves forward and backward
 * of every op here, for any operand layout (views, transposes, slices).
 *
 * The loop nest (run_rows) walks the three outer dims and hands each innermost row to
 * job_row, a switch on what to compute; the per-op math is a switch inside the row kernels.
 */
#include "tensor_internal.h"

#include "fastmath.h"

#include <math.h>
#include <string.h>

// ---------------------------------------------------------------------------
// The broadcasting loop nest
// ---------------------------------------------------------------------------

typedef struct {
    int64_t n[4];    // output shape padded with leading 1s
    int64_t s[3][4]; // strides of up to 3 operands per output dim (0 = broadcast)
} Bcast;

typedef enum {
    JOB_UNARY_FWD,  // out = f(x0)
    JOB_UNARY_BWD,  // dx0 += dout * f'(x0, out)
    JOB_BINARY_FWD, // out = x0 op x1 (op also masked_fill: x1 is the mask; where: x0 ? x1 : x2)
    JOB_BINARY_BWD, // d(x_which) += dout * d(out)/d(x_which)
} JobKind;

typedef struct {
    JobKind kind;
    OpKind op;
    float p;           // scalar parameter (exponent, scalar, fill value)
    float *out;        // contiguous output (forward)
    const float *dout; // contiguous output gradient (backward)
    const float *x[3]; // operand data
    float *dx;         // gradient of operand `which` (backward), same layout as its data
    int which;
} Job;

// Broadcast shape of a and b into out (ndim returned); CHECKs compatibility.
static int broadcast_shape(const Tensor *a, const Tensor *b, int64_t *out)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        char sa[64], sb[64];
        CHECK(da == db || da == 1 || db == 1, "cannot broadcast %s with %s (dim %d: %lld vs %lld)",
              shape_str(a, sa, 64), shape_str(b, sb, 64), i, (long long)da, (long long)db);
        out[i] = da == 1 ? db : da;
    }
    return nd;
}

static void bcast_init(Bcast *bc, const Tensor *out, Tensor *const *ops, int n_ops)
{
    memset(bc, 0, sizeof *bc);
    for (int i = 0; i < 4; i++) {
        int io = i - (4 - out->ndim);
        bc->n[i] = io >= 0 ? out->shape[io] : 1;
        for (int k = 0; k < n_ops; k++) {
            const Tensor *t = ops[k];
            int it = i - (4 - t->ndim);
            bool broadcast = it < 0 || (t->shape[it] == 1 && bc->n[i] != 1);
            bc->s[k][i] = broadcast ? 0 : t->stride[it];
        }
    }
}

// The activations come from fastmath.h (fm_gelu, fm_sigmoid, fm_silu), shared with the KV-cache
// inference path, so their loops vectorise: with libm, GELU over a transformer's MLP cost more
// than the matmuls around it.
static inline float gelu_grad(float x)
{
    const float k = 0.7978845608028654f;
    float t = fm_tanhf(k * (x + 0.044715f * x * x * x));
    // d/dx 0.5 x (1 + tanh u) = 0.5 (1 + t) + 0.5 x (1 - t^2) u', u' = k (1 + 3 * 0.044715 x^2)
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * k * (1.0f + 0.134145f * x * x);
}


// y[i] = f(x[i * sx]) for one row.
static void unary_fwd_row(OpKind op, float p, float *y, const float *x, int64_t sx, int64_t n)
{
    switch (op) {
    case OP_NEG: for (int64_t i = 0; i < n; i++) y[i] = -x[i * sx]; break;
    case OP_EXP: for (int64_t i = 0; i < n; i++) y[i] = expf(x[i * sx]); break;
    case OP_LOG: for (int64_t i = 0; i < n; i++) y[i] = logf(x[i * sx]); break;
    case OP_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i * sx]); break;
    case OP_POW: for (int64_t i = 0; i < n; i++) y[i] = powf(x[i * sx], p); break;
    case OP_TANH:
        if (sx == 1) // the common contiguous case, written apart so it vectorises
            for (int64_t i = 0; i < n; i++) y[i] = fm_tanhf(x[i]);
        else
            for (int64_t i = 0; i < n; i++) y[i] = fm_tanhf(x[i * sx]);
        break;
    case OP_SIGMOID:
        if (sx == 1)
            for (int64_t i = 0; i < n; i++) y[i] = fm_sigmoid(x[i]);
        else
            for (int64_t i = 0; i < n; i++) y[i] = fm_sigmoid(x[i * sx]);
        break;
    case OP_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i * sx] > 0.0f ? x[i * sx] : 0.0f; break;
    case OP_GELU:
        if (sx == 1)
            for (int64_t i = 0; i < n; i++) y[i] = fm_gelu(x[i]);
        else
            for (int64_t i = 0; i < n; i++) y[i] = fm_gelu(x[i * sx]);
        break;
    case OP_SILU:
        if (sx == 1)
            for (int64_t i = 0; i < n; i++) y[i] = fm_silu(x[i]);
        else
            for (int64_t i = 0; i < n; i++) y[i] = fm_silu(x[i * sx]);
        break;
    case OP_ADD_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = x[i * sx] + p; break;
    case OP_MUL_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = x[i * sx] * p; break;
    case OP_CONTIGUOUS: for (int64_t i = 0; i < n; i++) y[i] = x[i * sx]; break;
    default: CHECK(0, "unary_fwd_row: %s is not a unary op", op_name(op));
    }
}

// dx[i * sx] += dy[i] * f'(x, y) for one row; y is the forward output (contiguous).
static void unary_bwd_row(OpKind op, float p, float *dx, const float *dy, const float *x,
                          const float *y, int64_t sx, int64_t n)
{
    switch (op) {
    case OP_NEG: for (int64_t i = 0; i < n; i++) dx[i * sx] -= dy[i]; break;
    case OP_EXP: for (int64_t i = 0; i < n; i++) dx[i * sx] += dy[i] * y[i]; break;
    case OP_LOG: for (int64_t i = 0; i < n; i++) dx[i * sx] += dy[i] / x[i * sx]; break;
    case OP_SQRT: for (int64_t i = 0; i < n; i++) dx[i * sx] += dy[i] * 0.5f / y[i]; break;
    case OP_POW:
        for (int64_t i = 0; i < n; i++) dx[i * sx] += dy[i] * p * powf(x[i * sx], p - 1.0f);
        break;
    case OP_TANH: for (int64_t i = 0; i < n; i++) dx[i * sx] += dy[i] * (1.0f - y[i] * y[i]); break;
    case OP_SIGMOID:
        for (int64_t i = 0; i < n; i++) dx[i * sx] += dy[i] * y[i] * (1.0f - y[i]);
        break;
    case OP_RELU:
        for (int64_t i = 0; i < n; i++) dx[i * sx] += x[i * sx] > 0.0f ? dy[i] : 0.0f;
        break;
    case OP_GELU:
        if (sx == 1)
            for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * gelu_grad(x[i]);
        else
            for (int64_t i = 0; i < n; i++) dx[i * sx] += dy[i] * gelu_grad(x[i * sx]);
        break;
    case OP_SILU:
        // d/dx x s(x) = s + x s (1 - s)
        for (int64_t i = 0; i < n; i++) {
            float s = fm_sigmoid(x[i * sx]);
            dx[i * sx] += dy[i] * s * (1.0f + x[i * sx] * (1.0f - s));
        }
        break;
    case OP_ADD_SCALAR:
    case OP_CONTIGUOUS: for (int64_t i = 0; i < n; i++) dx[i * sx] += dy[i]; break;
    case OP_MUL_SCALAR: for (int64_t i = 0; i < n; i++) dx[i * sx] += dy[i] * p; break;
    default: CHECK(0, "unary_bwd_row: %s is not a unary op", op_name(op));
    }
}

// out[i] = x0 op x1 (or the three-operand where) for one row.
static void binary_fwd_row(OpKind op, float p, float *y, const float *const *x, const int64_t *s,
                           int64_t n)
{
    const float *a = x[0], *b = x[1], *c = x[2];
    int64_t sa = s[0], sb = s[1], sc = s[2];
    if (sa == 1 && sb == 1 && op <= OP_DIV && op >= OP_ADD) {
        // The common case (same-shape rows, or a row plus a broadcast row such as a bias):
        // unit strides written apart so the loops vectorise.
        switch (op) {
        case OP_ADD: for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i]; return;
        case OP_SUB: for (int64_t i = 0; i < n; i++) y[i] = a[i] - b[i]; return;
        case OP_MUL: for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i]; return;
        case OP_DIV: for (int64_t i = 0; i < n; i++) y[i] = a[i] / b[i]; return;
        default: break;
        }
    }
    switch (op) {
    case OP_ADD: for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] + b[i * sb]; break;
    case OP_SUB: for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] - b[i * sb]; break;
    case OP_MUL: for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] * b[i * sb]; break;
    case OP_DIV: for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] / b[i * sb]; break;
    case OP_MASKED_FILL:
        for (int64_t i = 0; i < n; i++) y[i] = b[i * sb] != 0.0f ? p : a[i * sa];
        break;
    case OP_WHERE:
        for (int64_t i = 0; i < n; i++) y[i] = a[i * sa] != 0.0f ? b[i * sb] : c[i * sc];
        break;
    default: CHECK(0, "binary_fwd_row: %s is not a binary op", op_name(op));
    }
}

// d(x_w) += dy * d(out)/d(x_w) for one row.
static void binary_bwd_row(OpKind op, int w, float *d, const float *dy, const float *const *x,
                           const int64_t *s, int64_t n)
{
    const float *a = x[0], *b = x[1];
    int64_t sa = s[0], sb = s[1], sd = s[w];
    if (op == OP_ADD || (op == OP_SUB && w == 0)) {
        // The gradient of a sum passes straight through: a vectorised add for a full operand,
        // a row sum for a broadcast one (a bias: stride 0).
        if (sd == 1) {
            for (int64_t i = 0; i < n; i++) d[i] += dy[i];
            return;
        }
        if (sd == 0) {
            float acc = 0.0f;
            for (int64_t i = 0; i < n; i++) acc += dy[i];
            d[0] += acc;
            return;
        }
    }
    if (op == OP_MUL && sd == 1 && s[1 - w] == 1) {
        const float *o = w == 0 ? b : a;
        for (int64_t i = 0; i < n; i++) d[i] += dy[i] * o[i];
        return;
    }
    switch (op) {
    case OP_ADD: for (int64_t i = 0; i < n; i++) d[i * sd] += dy[i]; break;
    case OP_SUB:
        if (w == 0)
            for (int64_t i = 0; i < n; i++) d[i * sd] += dy[i];
        else
            for (int64_t i = 0; i < n; i++) d[i * sd] -= dy[i];
        break;
    case OP_MUL:
        if (w == 0)
            for (int64_t i = 0; i < n; i++) d[i * sd] += dy[i] * b[i * sb];
        else
            for (int64_t i = 0; i < n; i++) d[i * sd] += dy[i] * a[i * sa];
        break;
    case OP_DIV:
        // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        if (w == 0)
            for (int64_t i = 0; i < n; i++) d[i * sd] += dy[i] / b[i * sb];
        else
            for (int64_t i = 0; i < n; i++) {
                float bi = b[i * sb];
                d[i * sd] -= dy[i] * a[i * sa] / (bi * bi);
            }
        break;
    case OP_MASKED_FILL: // only x0 is differentiable; x1 is the mask
        for (int64_t i = 0; i < n; i++) d[i * sd] += b[i * sb] != 0.0f ? 0.0f : dy[i];
        break;
    case OP_WHERE: // x0 is the condition; w is 1 (taken where true) or 2 (where false)
        for (int64_t i = 0; i < n; i++)
            d[i * sd] += ((a[i * sa] != 0.0f) == (w == 1)) ? dy[i] : 0.0f;
        break;
    default: CHECK(0, "binary_bwd_row: %s is not a binary op", op_name(op));
    }
}

static void job_row(const Job *j, int64_t oo, const int64_t *off, int64_t n, const int64_t *s)
{
    const float *x[3] = {j->x[0] ? j->x[0] + off[0] : NULL, j->x[1] ? j->x[1] + off[1] : NULL,
                         j->x[2] ? j->x[2] + off[2] : NULL};
    switch (j->kind) {
    case JOB_UNARY_FWD: unary_fwd_row(j->op, j->p, j->out + oo, x[0], s[0], n); break;
    case JOB_UNARY_BWD:
        unary_bwd_row(j->op, j->p, j->dx + off[0], j->dout + oo, x[0], j->out + oo, s[0], n);
        break;
    case JOB_BINARY_FWD: binary_fwd_row(j->op, j->p, j->out + oo, x, s, n); break;
    case JOB_BINARY_BWD:
        binary_bwd_row(j->op, j->which, j->dx + off[j->which], j->dout + oo, x, s, n);
        break;
    }
}

// Walks the output (contiguous, shape bc->n) row by row; operand offsets follow their strides.
static void run_rows(const Bcast *bc, const Job *j)
{
    int64_t inner[3] = {bc->s[0][3], bc->s[1][3], bc->s[2][3]};
    int64_t oo = 0;
    for (int64_t i0 = 0; i0 < bc->n[0]; i0++)
        for (int64_t i1 = 0; i1 < bc->n[1]; i1++)
            for (int64_t i2 = 0; i2 < bc->n[2]; i2++) {
                int64_t off[3];
                for (int k = 0; k < 3; k++)
                    off[k] = i0 * bc->s[k][0] + i1 * bc->s[k][1] + i2 * bc->s[k][2];
                job_row(j, oo, off, bc->n[3], inner);
                oo += bc->n[3];
            }
}

// ---------------------------------------------------------------------------
// Unary ops
// ---------------------------------------------------------------------------

static Tensor *unary(Graph *g, OpKind op, Tensor *a, float p)
{
    CHECK(a->dtype == DT_F32, "%s of int tensor %s", op_name(op), a->name);
    Tensor *t = node_new(g, op, DT_F32, a->ndim, a->shape, &a, 1);
    t->fparam[0] = p;
    Bcast bc;
    bcast_init(&bc, t, &a, 1);
    Job j = {.kind = JOB_UNARY_FWD, .op = op, .p = p, .out = t->data, .x = {a->data}};
    run_rows(&bc, &j);
    return t;
}

void unary_backward(Graph *g, Tensor *t)
{
    Tensor *a = t->src[0];
    if (!a->requires_grad) return;
    Bcast bc;
    bcast_init(&bc, t, &a, 1);
    Job j = {.kind = JOB_UNARY_BWD, .op = t->op, .p = t->fparam[0], .out = t->data,
             .dout = t->grad, .x = {a->data}, .dx = grad_get(g, a)};
    run_rows(&bc, &j);
}

Tensor *tensor_neg(Graph *g, Tensor *a) { return unary(g, OP_NEG, a, 0); }
Tensor *tensor_exp(Graph *g, Tensor *a) { return unary(g, OP_EXP, a, 0); }
Tensor *tensor_log(Graph *g, Tensor *a) { return unary(g, OP_LOG, a, 0); }
Tensor *tensor_sqrt(Graph *g, Tensor *a) { return unary(g, OP_SQRT, a, 0); }
Tensor *tensor_pow(Graph *g, Tensor *a, float p) { return unary(g, OP_POW, a, p); }
Tensor *tensor_tanh(Graph *g, Tensor *a) { return unary(g, OP_TANH, a, 0); }
Tensor *tensor_sigmoid(Graph *g, Tensor *a) { return unary(g, OP_SIGMOID, a, 0); }
Tensor *tensor_relu(Graph *g, Tensor *a) { return unary(g, OP_RELU, a, 0); }
Tensor *tensor_gelu(Graph *g, Tensor *a) { return unary(g, OP_GELU, a, 0); }
Tensor *tensor_silu(Graph *g, Tensor *a) { return unary(g, OP_SILU, a, 0); }
Tensor *tensor_add_scalar(Graph *g, Tensor *a, float s) { return unary(g, OP_ADD_SCALAR, a, s); }
Tensor *tensor_mul_scalar(Graph *g, Tensor *a, float s) { return unary(g, OP_MUL_SCALAR, a, s); }

Tensor *tensor_contiguous(Graph *g, Tensor *a)
{
    return tensor_is_contiguous(a) ? a : unary(g, OP_CONTIGUOUS, a, 0);
}

// ---------------------------------------------------------------------------
// Binary ops with broadcasting
// ---------------------------------------------------------------------------

static Tensor *binary(Graph *g, OpKind op, Tensor *a, Tensor *b, float p)
{
    CHECK(a->dtype == DT_F32 && b->dtype == DT_F32, "%s needs float tensors (%s, %s)",
          op_name(op), a->name, b->name);
    int64_t sh[TENSOR_MAX_DIMS];
    int nd = broadcast_shape(a, b, sh);
    Tensor *src[2] = {a, b};
    // The mask of masked_fill is data, not a differentiable input.
    Tensor *t = node_new(g, op, DT_F32, nd, sh, src, 2);
    if (op == OP_MASKED_FILL) t->requires_grad = g->grad_enabled && a->requires_grad;
    t->fparam[0] = p;
    Bcast bc;
    bcast_init(&bc, t, src, 2);
    Job j = {.kind = JOB_BINARY_FWD, .op = op, .p = p, .out = t->data, .x = {a->data, b->data}};
    run_rows(&bc, &j);
    return t;
}

void binary_backward(Graph *g, Tensor *t)
{
    Bcast bc;
    bcast_init(&bc, t, t->src, t->n_src);
    Job j = {.kind = JOB_BINARY_BWD, .op = t->op, .dout = t->grad};
    for (int k = 0; k < t->n_src; k++) j.x[k] = t->src[k]->data;
    // masked_fill: only operand 0; where: operands 1 and 2 (0 is the condition).
    int first = t->op == OP_WHERE ? 1 : 0;
    int last = t->op == OP_MASKED_FILL ? 0 : t->n_src - 1;
    for (int w = first; w <= last; w++) {
        if (!t->src[w]->requires_grad) continue;
        j.which = w;
        j.dx = grad_get(g, t->src[w]);
        run_rows(&bc, &j);
    }
}

Tensor *tensor_add(Graph *g, Tensor *a, Tensor *b) { return binary(g, OP_ADD, a, b, 0); }
Tensor *tensor_sub(Graph *g, Tensor *a, Tensor *b) { return binary(g, OP_SUB, a, b, 0); }
Tensor *tensor_mul(Graph *g, Tensor *a, Tensor *b) { return binary(g, OP_MUL, a, b, 0); }
Tensor *tensor_div(Graph *g, Tensor *a, Tensor *b) { return binary(g, OP_DIV, a, b, 0); }

Tensor *tensor_masked_fill(Graph *g, Tensor *a, Tensor *mask, float value)
{
    Tensor *t = binary(g, OP_MASKED_FILL, a, mask, value);
    char sa[64], st[64];
    CHECK(tensor_same_shape(t, a), "masked_fill: mask must broadcast to %s, got result %s",
          shape_str(a, sa, 64), shape_str(t, st, 64));
    return t;
}

Tensor *tensor_where(Graph *g, Tensor *cond, Tensor *a, Tensor *b)
{
    CHECK(cond->dtype == DT_F32 && a->dtype == DT_F32 && b->dtype == DT_F32,
          "where needs float tensors");
    int64_t sh1[TENSOR_MAX_DIMS], sh[TENSOR_MAX_DIMS];
    int nd1 = broadcast_shape(cond, a, sh1);
    Tensor tmp = {.ndim = nd1};
    memcpy(tmp.shape, sh1, sizeof sh1);
    int nd = broadcast_shape(&tmp, b, sh);
    Tensor *src[3] = {cond, a, b};
    Tensor *t = node_new(g, OP_WHERE, DT_F32, nd, sh, src, 3);
    t->requires_grad = g->grad_enabled && (a->requires_grad || b->requires_grad);
    Bcast bc;
    bcast_init(&bc, t, src, 3);
    Job j = {.kind = JOB_BINARY_FWD, .op = OP_WHERE, .out = t->data,
             .x = {cond->data, a->data, b->data}};
    run_rows(&bc, &j);
    return t;
}

// ---------------------------------------------------------------------------
// Dropout
// ---------------------------------------------------------------------------

Tensor *tensor_dropout(Graph *g, Tensor *a, float p, Rng *rng)
{
    CHECK(p >= 0.0f && p < 1.0f, "dropout: p = %g must be in [0, 1)", p);
    if (p == 0.0f) return a;
    a = tensor_contiguous(g, a);
    Tensor *t = node_new(g, OP_DROPOUT, DT_F32, a->ndim, a->shape, &a, 1);
    t->fparam[0] = p;
    int64_t n = tensor_numel(a);
    // The mask holds the scale each element was multiplied by: 0 or 1 / (1 - p).
    float *mask = arena_alloc(g->arena, (size_t)n * sizeof(float));
    float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i++) {
        mask[i] = rng_uniform(rng) < p ? 0.0f : scale;
        t->data[i] = a->data[i] * mask[i];
    }
    t->saved = mask;
    return t;
}

void dropout_backward(Graph *g, Tensor *t)
{
    Tensor *a = t->src[0];
    if (!a->requires_grad) return;
    float *da = grad_get(g, a);
    const float *mask = t->saved;
    int64_t n = tensor_numel(t);
    for (int64_t i = 0; i < n; i++) da[i] += t->grad[i] * mask[i];
}
