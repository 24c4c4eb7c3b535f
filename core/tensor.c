/*
 * tensor.c: making tensors and parameters, reading and printing them.
 * The ops are in ops_*.c and the graph in graph.c.
 */
#include "tensor_internal.h"

#include <math.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Shapes and strides
// ---------------------------------------------------------------------------

void strides_contiguous(int ndim, const int64_t *shape, int64_t *stride)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
}

int dim_norm(const Tensor *t, int dim)
{
    int d = dim < 0 ? dim + t->ndim : dim;
    CHECK(d >= 0 && d < t->ndim, "dim %d out of range for %s with %d dims", dim, t->name,
          t->ndim);
    return d;
}

const char *shape_str(const Tensor *t, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, t->ndim == 1 ? ",)" : ")");
    return buf;
}

int64_t tensor_numel(const Tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

bool tensor_is_contiguous(const Tensor *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

bool tensor_same_shape(const Tensor *a, const Tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

// ---------------------------------------------------------------------------
// Creation
// ---------------------------------------------------------------------------

Tensor *tensor_new(Arena *a, DType dtype, int ndim, const int64_t *shape)
{
    CHECK(ndim >= 0 && ndim <= TENSOR_MAX_DIMS, "tensor_new: %d dims (at most %d)", ndim,
          TENSOR_MAX_DIMS);
    Tensor *t = arena_calloc(a, sizeof *t);
    t->dtype = dtype;
    t->ndim = ndim;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        CHECK(shape[i] >= 0, "tensor_new: negative dim %lld", (long long)shape[i]);
        t->shape[i] = shape[i];
        n *= shape[i];
    }
    strides_contiguous(ndim, t->shape, t->stride);
    t->data = arena_alloc(a, (size_t)n * sizeof(float)); // float and int32 are both 4 bytes
    t->op = OP_NONE;
    t->id = -1;
    snprintf(t->name, sizeof t->name, "leaf");
    return t;
}

Tensor *tensor_zeros(Arena *a, int ndim, const int64_t *shape)
{
    Tensor *t = tensor_new(a, DT_F32, ndim, shape);
    memset(t->data, 0, (size_t)tensor_numel(t) * sizeof(float));
    return t;
}

Tensor *tensor_from(Arena *a, int ndim, const int64_t *shape, const float *values)
{
    Tensor *t = tensor_new(a, DT_F32, ndim, shape);
    memcpy(t->data, values, (size_t)tensor_numel(t) * sizeof(float));
    return t;
}

Tensor *tensor_from_i32(Arena *a, int ndim, const int64_t *shape, const int32_t *values)
{
    Tensor *t = tensor_new(a, DT_I32, ndim, shape);
    memcpy(t->idata, values, (size_t)tensor_numel(t) * sizeof(int32_t));
    return t;
}

void tensor_set_requires_grad(Tensor *t, Arena *a)
{
    CHECK(t->dtype == DT_F32, "only float tensors can require grad (%s is int32)", t->name);
    CHECK(t->op == OP_NONE && !t->base, "tensor_set_requires_grad on %s, which is not a leaf",
          t->name);
    if (!t->grad) t->grad = arena_calloc(a, (size_t)tensor_numel(t) * sizeof(float));
    t->requires_grad = true;
}

Tensor *tensor_param(Arena *params, int ndim, const int64_t *shape)
{
    Tensor *t = tensor_zeros(params, ndim, shape);
    tensor_set_requires_grad(t, params);
    t->is_param = true;
    snprintf(t->name, sizeof t->name, "param");
    return t;
}

void tensor_zero_grad(Tensor *t)
{
    if (t->grad && !t->base) memset(t->grad, 0, (size_t)tensor_numel(t) * sizeof(float));
}

Tensor *tensor_set_name(Tensor *t, const char *name)
{
    snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

// ---------------------------------------------------------------------------
// Reading and writing elements (logical order, honouring strides)
// ---------------------------------------------------------------------------

// Calls the body for every element in logical order with `off` the element's storage offset.
// A 4-deep loop over the shape padded with leading 1s.
#define FOR_EACH_OFFSET(t, off, body)                                                         \
    do {                                                                                      \
        int64_t sh_[4] = {1, 1, 1, 1}, st_[4] = {0, 0, 0, 0};                                 \
        for (int k_ = 0; k_ < (t)->ndim; k_++) {                                              \
            sh_[4 - (t)->ndim + k_] = (t)->shape[k_];                                         \
            st_[4 - (t)->ndim + k_] = (t)->stride[k_];                                        \
        }                                                                                     \
        for (int64_t i0 = 0; i0 < sh_[0]; i0++)                                               \
            for (int64_t i1 = 0; i1 < sh_[1]; i1++)                                           \
                for (int64_t i2 = 0; i2 < sh_[2]; i2++)                                       \
                    for (int64_t i3 = 0; i3 < sh_[3]; i3++) {                                 \
                        int64_t off = i0 * st_[0] + i1 * st_[1] + i2 * st_[2] + i3 * st_[3];  \
                        body;                                                                 \
                    }                                                                         \
    } while (0)

float tensor_get(const Tensor *t, const int64_t *idx)
{
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) {
        CHECK(idx[i] >= 0 && idx[i] < t->shape[i], "tensor_get: index %lld out of range for "
              "dim %d of size %lld", (long long)idx[i], i, (long long)t->shape[i]);
        off += idx[i] * t->stride[i];
    }
    return t->dtype == DT_I32 ? (float)t->idata[off] : t->data[off];
}

float tensor_item(const Tensor *t)
{
    CHECK(tensor_numel(t) == 1, "tensor_item on %s with %lld elements", t->name,
          (long long)tensor_numel(t));
    return t->dtype == DT_I32 ? (float)t->idata[0] : t->data[0];
}

void tensor_copy_to(const Tensor *t, float *out)
{
    CHECK(t->dtype == DT_F32, "tensor_copy_to on int tensor %s", t->name);
    if (tensor_is_contiguous(t)) {
        memcpy(out, t->data, (size_t)tensor_numel(t) * sizeof(float));
        return;
    }
    int64_t i = 0;
    FOR_EACH_OFFSET(t, off, out[i++] = t->data[off]);
}

void tensor_copy_from(Tensor *t, const float *values)
{
    CHECK(t->dtype == DT_F32, "tensor_copy_from on int tensor %s", t->name);
    int64_t i = 0;
    FOR_EACH_OFFSET(t, off, t->data[off] = values[i++]);
}

void tensor_fill(Tensor *t, float value) { FOR_EACH_OFFSET(t, off, t->data[off] = value); }

void tensor_fill_normal(Tensor *t, Rng *rng, float mean, float std)
{
    FOR_EACH_OFFSET(t, off, t->data[off] = mean + std * rng_normal(rng));
}

void tensor_fill_uniform(Tensor *t, Rng *rng, float lo, float hi)
{
    FOR_EACH_OFFSET(t, off, t->data[off] = lo + (hi - lo) * rng_uniform(rng));
}

bool tensor_has_nonfinite(const Tensor *t)
{
    if (t->dtype != DT_F32) return false;
    bool bad = false;
    FOR_EACH_OFFSET(t, off, bad |= !isfinite(t->data[off]));
    return bad;
}

void tensor_print(const Tensor *t)
{
    if (!t) {
        fprintf(stderr, "tensor (null)\n");
        return;
    }
    char buf[64];
    fprintf(stderr, "tensor %s %s %s strides (", t->name, t->dtype == DT_F32 ? "f32" : "i32",
            shape_str(t, buf, sizeof buf));
    for (int i = 0; i < t->ndim; i++)
        fprintf(stderr, "%s%lld", i ? ", " : "", (long long)t->stride[i]);
    fprintf(stderr, ") op=%s%s%s%s\n", op_name(t->op), t->requires_grad ? " requires_grad" : "",
            t->grad ? " grad" : "", t->base ? " view" : "");
    int64_t n = tensor_numel(t), shown = 0;
    fprintf(stderr, "  [");
    FOR_EACH_OFFSET(t, off, {
        if (shown < 16) {
            if (t->dtype == DT_F32)
                fprintf(stderr, "%s%.6g", shown ? ", " : "", t->data[off]);
            else
                fprintf(stderr, "%s%d", shown ? ", " : "", t->idata[off]);
        }
        shown++;
    });
    fprintf(stderr, "%s]\n", n > 16 ? ", ..." : "");
}
