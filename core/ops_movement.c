/*
 * ops_movement.c: views (reshape, transpose, permute, slice, split, detach) and the copies
 * (concat; contiguous lives with the unary ops, being an identity copy).
 *
 * A view shares its base's storage and, by the layout rule of tensor.h, its base's gradient:
 * the view's grad pointer is base->grad + offset with the view's strides. Anything written to
 * the view's gradient therefore lands in the base's gradient, and views have no backward.
 */
#include "tensor_internal.h"

#include <string.h>

// ---------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------

Tensor *tensor_reshape(Graph *g, Tensor *a, int ndim, const int64_t *shape)
{
    CHECK(ndim >= 0 && ndim <= TENSOR_MAX_DIMS, "reshape: %d dims (at most %d)", ndim,
          TENSOR_MAX_DIMS);
    int64_t sh[TENSOR_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        sh[i] = shape[i];
        if (sh[i] == -1) {
            CHECK(infer < 0, "reshape: more than one -1 in the new shape");
            infer = i;
        } else {
            CHECK(sh[i] >= 0, "reshape: negative dim %lld", (long long)sh[i]);
            known *= sh[i];
        }
    }
    int64_t n = tensor_numel(a);
    if (infer >= 0) {
        CHECK(known > 0 && n % known == 0, "reshape: cannot infer -1 for %lld elements",
              (long long)n);
        sh[infer] = n / known;
        known *= sh[infer];
    }
    char buf[64];
    CHECK(known == n, "reshape: %s has %lld elements, the new shape %lld", shape_str(a, buf, 64),
          (long long)n, (long long)known);
    // Only a contiguous tensor can be re-viewed with contiguous strides; otherwise copy first.
    if (!tensor_is_contiguous(a)) a = tensor_contiguous(g, a);
    int64_t st[TENSOR_MAX_DIMS];
    strides_contiguous(ndim, sh, st);
    return node_view(g, OP_RESHAPE, a, ndim, sh, st, 0);
}

Tensor *tensor_transpose(Graph *g, Tensor *a, int d0, int d1)
{
    d0 = dim_norm(a, d0);
    d1 = dim_norm(a, d1);
    int64_t sh[TENSOR_MAX_DIMS], st[TENSOR_MAX_DIMS];
    memcpy(sh, a->shape, sizeof sh);
    memcpy(st, a->stride, sizeof st);
    sh[d0] = a->shape[d1], sh[d1] = a->shape[d0];
    st[d0] = a->stride[d1], st[d1] = a->stride[d0];
    return node_view(g, OP_TRANSPOSE, a, a->ndim, sh, st, 0);
}

Tensor *tensor_permute(Graph *g, Tensor *a, const int *perm)
{
    int64_t sh[TENSOR_MAX_DIMS], st[TENSOR_MAX_DIMS];
    int used = 0;
    for (int i = 0; i < a->ndim; i++) {
        int p = dim_norm(a, perm[i]);
        CHECK(!(used & (1 << p)), "permute: dim %d appears twice", p);
        used |= 1 << p;
        sh[i] = a->shape[p];
        st[i] = a->stride[p];
    }
    Tensor *t = node_view(g, OP_PERMUTE, a, a->ndim, sh, st, 0);
    for (int i = 0; i < a->ndim; i++) t->iparam[i] = perm[i];
    return t;
}

Tensor *tensor_slice(Graph *g, Tensor *a, int dim, int64_t start, int64_t end)
{
    int d = dim_norm(a, dim);
    CHECK(0 <= start && start <= end && end <= a->shape[d],
          "slice: [%lld, %lld) out of range for dim %d of size %lld", (long long)start,
          (long long)end, d, (long long)a->shape[d]);
    int64_t sh[TENSOR_MAX_DIMS];
    memcpy(sh, a->shape, sizeof sh);
    sh[d] = end - start;
    Tensor *t = node_view(g, OP_SLICE, a, a->ndim, sh, a->stride, start * a->stride[d]);
    t->iparam[0] = d, t->iparam[1] = start, t->iparam[2] = end;
    return t;
}

void tensor_split(Graph *g, Tensor *a, int dim, int n, const int64_t *sizes, Tensor **out)
{
    int d = dim_norm(a, dim);
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        out[i] = tensor_slice(g, a, d, start, start + sizes[i]);
        start += sizes[i];
    }
    CHECK(start == a->shape[d], "split: sizes sum to %lld, dim %d has %lld", (long long)start, d,
          (long long)a->shape[d]);
}

Tensor *tensor_detach(Graph *g, Tensor *a)
{
    Tensor *t = arena_calloc(g->arena, sizeof *t);
    *t = *a;
    t->op = OP_NONE;
    t->n_src = 0;
    t->src = NULL;
    t->requires_grad = false;
    t->is_param = false;
    t->grad = NULL;
    t->saved = NULL;
    t->prev = NULL;
    t->id = -1;
    t->base = a->base ? a->base : a;
    t->offset = a->offset;
    snprintf(t->name, sizeof t->name, "detach");
    return t;
}

// ---------------------------------------------------------------------------
// Concat
// ---------------------------------------------------------------------------

// For contiguous tensors split at `dim`: outer = prod(shape[:dim]), chunk = prod(shape[dim:]).
static int64_t outer_size(const Tensor *t, int d)
{
    int64_t n = 1;
    for (int i = 0; i < d; i++) n *= t->shape[i];
    return n;
}

Tensor *tensor_concat(Graph *g, Tensor **ts, int n, int dim)
{
    CHECK(n >= 1, "concat: no tensors");
    int d = dim_norm(ts[0], dim);
    int64_t sh[TENSOR_MAX_DIMS];
    memcpy(sh, ts[0]->shape, sizeof sh);
    sh[d] = 0;
    Tensor **src = arena_alloc(g->arena, sizeof(Tensor *) * (size_t)n);
    for (int i = 0; i < n; i++) {
        CHECK(ts[i]->ndim == ts[0]->ndim && ts[i]->dtype == DT_F32,
              "concat: tensor %d has %d dims, tensor 0 has %d", i, ts[i]->ndim, ts[0]->ndim);
        for (int k = 0; k < ts[0]->ndim; k++)
            CHECK(k == d || ts[i]->shape[k] == ts[0]->shape[k],
                  "concat: tensor %d differs in dim %d (%lld vs %lld)", i, k,
                  (long long)ts[i]->shape[k], (long long)ts[0]->shape[k]);
        sh[d] += ts[i]->shape[d];
        src[i] = tensor_is_contiguous(ts[i]) ? ts[i] : tensor_contiguous(g, ts[i]);
    }
    Tensor *t = node_new(g, OP_CONCAT, DT_F32, ts[0]->ndim, sh, src, n);
    t->iparam[0] = d;
    // out viewed as (outer, sum of chunks): each source contributes one chunk per outer row.
    int64_t outer = outer_size(t, d), row = tensor_numel(t) / (outer ? outer : 1), col = 0;
    for (int i = 0; i < n; i++) {
        int64_t chunk = outer ? tensor_numel(src[i]) / outer : 0;
        for (int64_t o = 0; o < outer; o++)
            memcpy(t->data + o * row + col, src[i]->data + o * chunk, (size_t)chunk * sizeof(float));
        col += chunk;
    }
    return t;
}

void concat_backward(Graph *g, Tensor *t)
{
    int d = (int)t->iparam[0];
    int64_t outer = outer_size(t, d), row = tensor_numel(t) / (outer ? outer : 1), col = 0;
    for (int i = 0; i < t->n_src; i++) {
        Tensor *s = t->src[i];
        int64_t chunk = outer ? tensor_numel(s) / outer : 0;
        if (s->requires_grad) {
            float *ds = grad_get(g, s);
            for (int64_t o = 0; o < outer; o++)
                for (int64_t j = 0; j < chunk; j++) ds[o * chunk + j] += t->grad[o * row + col + j];
        }
        col += chunk;
    }
}
