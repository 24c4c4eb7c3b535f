/*
 * ops_reduce.c: sum, mean and max over one dim, and softmax / log-softmax over one dim.
 *
 * All of them see a contiguous input as (outer, n, inner): outer = prod(shape[:dim]),
 * n = shape[dim], inner = prod(shape[dim+1:]). Element (o, k, i) sits at (o * n + k) * inner + i,
 * and the reduced output (o, i) at o * inner + i. A non-contiguous input is copied first
 * (a graph node, so its gradient flows back through the copy).
 */
#include "tensor_internal.h"

#include "exercise.h"
#include "fastmath.h"

#include <math.h>
#include <string.h>

static void split_dims(const Tensor *a, int d, int64_t *outer, int64_t *n, int64_t *inner)
{
    *outer = 1, *inner = 1;
    for (int i = 0; i < d; i++) *outer *= a->shape[i];
    for (int i = d + 1; i < a->ndim; i++) *inner *= a->shape[i];
    *n = a->shape[d];
}

// ---------------------------------------------------------------------------
// sum, mean, max
// ---------------------------------------------------------------------------

static Tensor *reduce(Graph *g, OpKind op, Tensor *a, int dim, bool keepdim)
{
    CHECK(a->dtype == DT_F32, "%s of int tensor %s", op_name(op), a->name);
    int d = dim_norm(a, dim);
    a = tensor_contiguous(g, a);
    int64_t outer, n, inner;
    split_dims(a, d, &outer, &n, &inner);
    CHECK(op != OP_MAX || n > 0, "max over an empty dim %d of %s", d, a->name);
    int64_t sh[TENSOR_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < a->ndim; i++) {
        if (i != d)
            sh[nd++] = a->shape[i];
        else if (keepdim)
            sh[nd++] = 1;
    }
    Tensor *t = node_new(g, op, DT_F32, nd, sh, &a, 1);
    t->iparam[0] = d, t->iparam[1] = keepdim;
    int32_t *arg = NULL;
    if (op == OP_MAX) arg = t->saved = arena_alloc(g->arena, sizeof(int32_t) * (size_t)(outer * inner));
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *x = a->data + o * n * inner + i;
            float *y = t->data + o * inner + i;
            if (op == OP_MAX) {
                // The first maximal element wins (PyTorch's rule); NaN propagates.
                int64_t best = 0;
                for (int64_t k = 1; k < n; k++)
                    if (x[k * inner] > x[best * inner] || isnan(x[k * inner])) {
                        best = k;
                        if (isnan(x[k * inner])) break;
                    }
                *y = x[best * inner];
                arg[o * inner + i] = (int32_t)best;
            } else {
                double s = 0.0; // double accumulation: a long sum of floats drifts
                for (int64_t k = 0; k < n; k++) s += x[k * inner];
                *y = (float)(op == OP_MEAN ? (n ? s / (double)n : NAN) : s);
            }
        }
    return t;
}

void reduce_backward(Graph *g, Tensor *t)
{
    Tensor *a = t->src[0];
    if (!a->requires_grad) return;
    float *da = grad_get(g, a);
    int64_t outer, n, inner;
    split_dims(a, (int)t->iparam[0], &outer, &n, &inner);
    const int32_t *arg = t->saved;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            float dy = t->grad[o * inner + i];
            float *dx = da + o * n * inner + i;
            switch (t->op) {
            case OP_SUM:
                for (int64_t k = 0; k < n; k++) dx[k * inner] += dy;
                break;
            case OP_MEAN:
                for (int64_t k = 0; k < n; k++) dx[k * inner] += dy / (float)n;
                break;
            case OP_MAX:
                dx[arg[o * inner + i] * inner] += dy;
                break;
            default:
                CHECK(0, "reduce_backward: %s", op_name(t->op));
            }
        }
}

Tensor *tensor_sum(Graph *g, Tensor *a, int dim, bool keepdim)
{
    return reduce(g, OP_SUM, a, dim, keepdim);
}

Tensor *tensor_mean(Graph *g, Tensor *a, int dim, bool keepdim)
{
    return reduce(g, OP_MEAN, a, dim, keepdim);
}

Tensor *tensor_max(Graph *g, Tensor *a, int dim, bool keepdim)
{
    return reduce(g, OP_MAX, a, dim, keepdim);
}

Tensor *tensor_sum_all(Graph *g, Tensor *a)
{
    const int64_t flat = -1;
    return reduce(g, OP_SUM, tensor_reshape(g, a, 1, &flat), 0, false);
}

Tensor *tensor_mean_all(Graph *g, Tensor *a)
{
    const int64_t flat = -1;
    return reduce(g, OP_MEAN, tensor_reshape(g, a, 1, &flat), 0, false);
}

// ---------------------------------------------------------------------------
// softmax and log-softmax
//
// softmax:     y_k = exp(x_k - m) / s,          m = max_k x_k, s = sum_k exp(x_k - m)
// log-softmax: y_k = x_k - m - log(s)
// Subtracting the max makes every exponent <= 0, so logits of +-1000 do not overflow.
// Backward, with g = dL/dy:
// softmax:     dx_k = y_k (g_k - sum_j g_j y_j)
// log-softmax: dx_k = g_k - exp(y_k) sum_j g_j
// ---------------------------------------------------------------------------

float softmax_row(float *y, const float *x, int64_t n, double *sum)
{
    float m = -INFINITY;
    for (int64_t k = 0; k < n; k++) m = x[k] > m ? x[k] : m;
    if (m == -INFINITY) m = 0.0f; // a fully masked row: exp(-inf) = 0 everywhere
    for (int64_t k = 0; k < n; k++) y[k] = fm_expf(x[k] - m); // its own loop: vectorised
    double s = 0.0;
    for (int64_t k = 0; k < n; k++) s += y[k];
    float r = (float)(1.0 / s);
    for (int64_t k = 0; k < n; k++) y[k] *= r;
    if (sum) *sum = s;
    return m;
}

static Tensor *softmax_op(Graph *g, OpKind op, Tensor *a, int dim)
{
    CHECK(a->dtype == DT_F32, "%s of int tensor %s", op_name(op), a->name);
    int d = dim_norm(a, dim);
    a = tensor_contiguous(g, a);
    Tensor *t = node_new(g, op, DT_F32, a->ndim, a->shape, &a, 1);
    t->iparam[0] = d;
    int64_t outer, n, inner;
    split_dims(a, d, &outer, &n, &inner);
    if (inner == 1 && op == OP_SOFTMAX) { // the usual case, contiguous rows
        for (int64_t o = 0; o < outer; o++) softmax_row(t->data + o * n, a->data + o * n, n, NULL);
        return t;
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *x = a->data + o * n * inner + i;
            float *y = t->data + o * n * inner + i;
            float m = -INFINITY;
            for (int64_t k = 0; k < n; k++) m = x[k * inner] > m ? x[k * inner] : m;
            if (m == -INFINITY) m = 0.0f; // a fully masked row: exp(-inf) = 0 everywhere
            double s = 0.0;
            for (int64_t k = 0; k < n; k++) {
                float e = expf(x[k * inner] - m);
                s += e;
                if (op == OP_SOFTMAX) y[k * inner] = e;
            }
            if (op == OP_SOFTMAX) {
                float r = (float)(1.0 / s);
                for (int64_t k = 0; k < n; k++) y[k * inner] *= r;
            } else {
                // (x - m) - log(s), not x - (m + log(s)): rounding m + log(s) to float near
                // |m| = 1000 would cost half an ulp of 1000, about 3e-5.
                float ls = (float)log(s);
                for (int64_t k = 0; k < n; k++) y[k * inner] = (x[k * inner] - m) - ls;
            }
        }
    return t;
}

void softmax_backward(Graph *g, Tensor *t)
{
    Tensor *a = t->src[0];
    if (!a->requires_grad) return;
    float *da = grad_get(g, a);
    int64_t outer, n, inner;
    split_dims(a, (int)t->iparam[0], &outer, &n, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            const float *y = t->data + base, *dy = t->grad + base;
            float *dx = da + base;
            double s = 0.0;
            if (t->op == OP_SOFTMAX) {
                // EXERCISE(w03.softmax_backward): the softmax backward of one row of n
                //   elements at stride `inner`: with y the softmax output and dy its gradient,
                //   dx_k += y_k (dy_k - sum_j dy_j y_j). Accumulate (+=) into dx; sum in s.
                // STUB: (void)s, (void)y, (void)dy, (void)dx;
                // STUB: exercise_stub("w03.softmax_backward"); continue;
                for (int64_t k = 0; k < n; k++) s += (double)dy[k * inner] * y[k * inner];
                for (int64_t k = 0; k < n; k++)
                    dx[k * inner] += y[k * inner] * (dy[k * inner] - (float)s);
                // END EXERCISE
            } else {
                for (int64_t k = 0; k < n; k++) s += dy[k * inner];
                for (int64_t k = 0; k < n; k++)
                    dx[k * inner] += dy[k * inner] - expf(y[k * inner]) * (float)s;
            }
        }
}

Tensor *tensor_softmax(Graph *g, Tensor *a, int dim) { return softmax_op(g, OP_SOFTMAX, a, dim); }

Tensor *tensor_log_softmax(Graph *g, Tensor *a, int dim)
{
    return softmax_op(g, OP_LOG_SOFTMAX, a, dim);
}
