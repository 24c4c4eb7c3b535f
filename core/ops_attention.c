/*
 * ops_attention.c: fused scaled dot-product attention and rotary position embedding (RoPE).
 *
 * Glossary: B = batch, H = query heads, KVH = key/value heads (H % KVH == 0: grouped-query
 * attention, query head h reads kv head h / (H / KVH)), T = time, D = head size.
 *
 * Attention, per (b, h), with s = 1/sqrt(D):
 *     S = s Q K^T              (T, T)   one sgemm, scale folded into alpha
 *     P = softmax(S + M)       (T, T)   M = -inf above the diagonal when causal
 *     O = P V                  (T, D)   one sgemm
 * P is kept for backward (B*H*T*T floats). Backward, with dO the output gradient:
 *     dV += P^T dO             dP = dO V^T
 *     dS  = P * (dP - rowsum(dP * P))        (the softmax backward, row by row)
 *     dQ += s dS K             dK += s dS^T Q
 * Every product is one sgemm reading the operands through their strides (a (B, T, H, D)
 * tensor transposed to (B, H, T, D) is used in place), and gradients accumulate with beta = 1.
 *
 * RoPE rotates each adjacent pair (x[2i], x[2i+1]) of a head vector at position p by the angle
 * p * base^(-2i/D):
 *     y[2i]   = x[2i] cos - x[2i+1] sin,     y[2i+1] = x[2i] sin + x[2i+1] cos
 * Its backward is the rotation by the opposite angle (a rotation's inverse is its transpose).
 * This is llama2.c's and llama.cpp's pairing, so weights export to GGUF unchanged.
 */
#include "tensor_internal.h"


#include <cblas.h>
#include <math.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Attention
// ---------------------------------------------------------------------------

// The per-head products are small (T x T x D, e.g. 128 x 128 x 32), and OpenBLAS's second
// thread costs more than it gives on them (measured: 82 -> 43 GFLOP/s on this machine), so
// attention runs its sgemms on one thread and restores the caller's setting afterwards.
static int blas_single_begin(void)
{
    int n = openblas_get_num_threads();
    if (n > 1) openblas_set_num_threads(1);
    return n;
}

static void blas_single_end(int n)
{
    if (n > 1) openblas_set_num_threads(n);
}

typedef struct {
    float *P;    // (B, H, T, T) softmax probabilities
    float scale; // 1/sqrt(D)
} AttnSaved;

// The (T, D) matrix of head h of batch b inside a (B, heads, T, D) tensor, rows at stride[2].
static float *head_ptr(float *base, const Tensor *t, int64_t b, int64_t h)
{
    return base + b * t->stride[0] + h * t->stride[1];
}

static Tensor *rows_unit_stride(Graph *g, Tensor *t)
{
    return t->stride[3] == 1 || t->shape[3] == 1 ? t : tensor_contiguous(g, t);
}

Tensor *tensor_attention(Graph *g, Tensor *q, Tensor *k, Tensor *v, bool causal)
{
    char sq[64], sk[64], sv[64];
    CHECK(q->ndim == 4 && k->ndim == 4 && v->ndim == 4 && q->dtype == DT_F32 &&
              k->dtype == DT_F32 && v->dtype == DT_F32,
          "attention: q, k, v must be float (B, H, T, D), got %s %s %s", shape_str(q, sq, 64),
          shape_str(k, sk, 64), shape_str(v, sv, 64));
    int64_t B = q->shape[0], H = q->shape[1], T = q->shape[2], D = q->shape[3];
    int64_t KVH = k->shape[1];
    CHECK(tensor_same_shape(k, v) && k->shape[0] == B && k->shape[2] == T && k->shape[3] == D &&
              KVH > 0 && H % KVH == 0,
          "attention: k and v must be (B, KVH, T, D) with H %% KVH == 0; got q %s k %s v %s",
          shape_str(q, sq, 64), shape_str(k, sk, 64), shape_str(v, sv, 64));
    q = rows_unit_stride(g, q);
    k = rows_unit_stride(g, k);
    v = rows_unit_stride(g, v);
    Tensor *src[3] = {q, k, v};
    Tensor *t = node_new(g, OP_ATTENTION, DT_F32, 4, q->shape, src, 3);
    t->iparam[0] = causal;
    AttnSaved *sv_ = arena_alloc(g->arena, sizeof *sv_);
    sv_->P = arena_alloc(g->arena, sizeof(float) * (size_t)(B * H * T * T));
    sv_->scale = 1.0f / sqrtf((float)D);
    t->saved = sv_;
    int64_t group = H / KVH;
    int nthreads = blas_single_begin();
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const float *Q = head_ptr(q->data, q, b, h);
            const float *K = head_ptr(k->data, k, b, h / group);
            const float *V = head_ptr(v->data, v, b, h / group);
            float *P = sv_->P + (b * H + h) * T * T;
            float *O = t->data + (b * H + h) * T * D;
            if (T == 0 || D == 0) continue;
            // S = s Q K^T: (T, D) (D, T); written into P, softmaxed in place.
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, (int)D,
                        sv_->scale, Q, (int)q->stride[2], K, (int)k->stride[2], 0.0f, P, (int)T);
            for (int64_t i = 0; i < T; i++) {
                float *row = P + i * T;
                int64_t n = causal ? i + 1 : T; // the keys row i may see
                softmax_row(row, row, n, NULL);
                for (int64_t j = n; j < T; j++) row[j] = 0.0f;
            }
            // O = P V: (T, T) (T, D)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)D, (int)T, 1.0f,
                        P, (int)T, V, (int)v->stride[2], 0.0f, O, (int)D);
        }
    blas_single_end(nthreads);
    return t;
}

void attention_backward(Graph *g, Tensor *t)
{
    Tensor *q = t->src[0], *k = t->src[1], *v = t->src[2];
    const AttnSaved *sv_ = t->saved;
    int64_t B = q->shape[0], H = q->shape[1], T = q->shape[2], D = q->shape[3];
    int64_t group = H / k->shape[1];
    if (T == 0 || D == 0) return;
    float *dq = q->requires_grad ? grad_get(g, q) : NULL;
    float *dk = k->requires_grad ? grad_get(g, k) : NULL;
    float *dv = v->requires_grad ? grad_get(g, v) : NULL;
    float *dP = arena_alloc(g->arena, sizeof(float) * (size_t)(T * T)); // one head at a time
    bool causal = t->iparam[0];
    int nthreads = blas_single_begin();
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const float *P = sv_->P + (b * H + h) * T * T;
            const float *dO = t->grad + (b * H + h) * T * D;
            const float *V = head_ptr(v->data, v, b, h / group);
            if (dv)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)T, (int)D, (int)T, 1.0f,
                            P, (int)T, dO, (int)D, 1.0f, head_ptr(dv, v, b, h / group),
                            (int)v->stride[2]);
            if (!dq && !dk) continue;
            // dP = dO V^T, then dS = P * (dP - rowsum(dP * P)) in place.
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, (int)D, 1.0f, dO,
                        (int)D, V, (int)v->stride[2], 0.0f, dP, (int)T);
            for (int64_t i = 0; i < T; i++) {
                int64_t n = causal ? i + 1 : T;
                const float *p = P + i * T;
                float *d = dP + i * T;
                double dot = 0.0;
                for (int64_t j = 0; j < n; j++) dot += (double)d[j] * p[j];
                for (int64_t j = 0; j < n; j++) d[j] = p[j] * (d[j] - (float)dot);
                for (int64_t j = n; j < T; j++) d[j] = 0.0f;
            }
            if (dq)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)D, (int)T,
                            sv_->scale, dP, (int)T, head_ptr(k->data, k, b, h / group),
                            (int)k->stride[2], 1.0f, head_ptr(dq, q, b, h), (int)q->stride[2]);
            if (dk)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)T, (int)D, (int)T,
                            sv_->scale, dP, (int)T, head_ptr(q->data, q, b, h), (int)q->stride[2],
                            1.0f, head_ptr(dk, k, b, h / group), (int)k->stride[2]);
        }
    blas_single_end(nthreads);
}

// ---------------------------------------------------------------------------
// RoPE
// ---------------------------------------------------------------------------

// cos/sin tables (T, D/2) for positions pos0 .. pos0 + T - 1, computed in double.
static void rope_tables(float *cs, float *sn, int64_t T, int64_t D, int64_t pos0, float base)
{
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < D / 2; i++) {
            double freq = pow((double)base, -2.0 * (double)i / (double)D);
            double ang = (double)(pos0 + t) * freq;
            cs[t * (D / 2) + i] = (float)cos(ang);
            sn[t * (D / 2) + i] = (float)sin(ang);
        }
}

// Rotates every pair of x (rows of D, row r at position r % T) by +angle (dir 1) or -angle
// (dir -1), writing y (or accumulating into y when acc).
static void rope_apply(float *y, const float *x, const float *cs, const float *sn, int64_t rows,
                       int64_t T, int64_t D, float dir, bool acc)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *c = cs + (r % T) * (D / 2), *s = sn + (r % T) * (D / 2);
        const float *xr = x + r * D;
        float *yr = y + r * D;
        for (int64_t i = 0; i < D / 2; i++) {
            float x0 = xr[2 * i], x1 = xr[2 * i + 1], si = dir * s[i];
            float y0 = x0 * c[i] - x1 * si, y1 = x0 * si + x1 * c[i];
            if (acc) {
                yr[2 * i] += y0;
                yr[2 * i + 1] += y1;
            } else {
                yr[2 * i] = y0;
                yr[2 * i + 1] = y1;
            }
        }
    }
}

typedef struct {
    float *cs, *sn; // (T, D/2)
} RopeSaved;

Tensor *tensor_rope(Graph *g, Tensor *x, int64_t pos0, float base)
{
    char sx[64];
    CHECK(x->dtype == DT_F32 && x->ndim >= 2 && x->shape[x->ndim - 1] % 2 == 0,
          "rope: x must be float (..., T, D) with D even, got %s", shape_str(x, sx, 64));
    CHECK(pos0 >= 0 && base > 0.0f, "rope: pos0 = %lld, base = %g", (long long)pos0, base);
    x = tensor_contiguous(g, x);
    Tensor *t = node_new(g, OP_ROPE, DT_F32, x->ndim, x->shape, &x, 1);
    int64_t T = x->shape[x->ndim - 2], D = x->shape[x->ndim - 1];
    int64_t rows = D ? tensor_numel(x) / D : 0;
    t->iparam[0] = pos0;
    t->fparam[0] = base;
    RopeSaved *sv_ = arena_alloc(g->arena, sizeof *sv_);
    sv_->cs = arena_alloc(g->arena, sizeof(float) * (size_t)(T * (D / 2) + 1));
    sv_->sn = arena_alloc(g->arena, sizeof(float) * (size_t)(T * (D / 2) + 1));
    rope_tables(sv_->cs, sv_->sn, T, D, pos0, base);
    t->saved = sv_;
    if (T > 0) rope_apply(t->data, x->data, sv_->cs, sv_->sn, rows, T, D, 1.0f, false);
    return t;
}

void rope_backward(Graph *g, Tensor *t)
{
    Tensor *x = t->src[0];
    if (!x->requires_grad) return;
    const RopeSaved *sv_ = t->saved;
    int64_t T = x->shape[x->ndim - 2], D = x->shape[x->ndim - 1];
    int64_t rows = D ? tensor_numel(x) / D : 0;
    if (T > 0) rope_apply(grad_get(g, x), t->grad, sv_->cs, sv_->sn, rows, T, D, -1.0f, true);
}
