/*
 * ops_nn.c: fused neural-network ops: cross-entropy, embedding lookup, LayerNorm, RMSNorm.
 *
 * Each is one node with a hand-derived backward, rather than a chain of small ops: it is
 * faster, saves less memory, and (for cross-entropy) is numerically stable by construction.
 * N = rows (all leading dims flattened), C = the normalised / class dim.
 */
#include "tensor_internal.h"

#include <math.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Cross-entropy from logits
//
// loss = (1/M) sum_{i valid} (logsumexp(x_i) - x_i[t_i]),  M = number of valid rows
// dloss/dx_ij = (softmax(x_i)_j - [j == t_i]) / M  for valid rows, 0 for ignored rows.
// logsumexp is computed as m + log(sum exp(x - m)) with m the row max: stable for any logits.
// ---------------------------------------------------------------------------

typedef struct {
    float *prob;   // (N, C) softmax of the logits, for backward
    int64_t valid; // M
} CeSaved;

Tensor *tensor_cross_entropy(Graph *g, Tensor *logits, Tensor *targets, int ignore_index)
{
    char sl[64], st[64];
    CHECK(logits->dtype == DT_F32 && logits->ndim == 2, "cross_entropy: logits must be (N, C) "
          "float, got %s", shape_str(logits, sl, 64));
    CHECK(targets->dtype == DT_I32 && targets->ndim == 1 && targets->shape[0] == logits->shape[0],
          "cross_entropy: targets must be int32 (N,) with N = %lld, got %s; hint: flatten "
          "(B, T, V) logits to (B*T, V) with tensor_reshape", (long long)logits->shape[0],
          shape_str(targets, st, 64));
    logits = tensor_contiguous(g, logits);
    Tensor *src[2] = {logits, targets};
    Tensor *t = node_new(g, OP_CROSS_ENTROPY, DT_F32, 0, NULL, src, 2);
    t->iparam[0] = ignore_index;
    int64_t N = logits->shape[0], C = logits->shape[1];
    CeSaved *sv = arena_alloc(g->arena, sizeof *sv);
    sv->prob = arena_alloc(g->arena, (size_t)(N * C) * sizeof(float));
    sv->valid = 0;
    t->saved = sv;
    double total = 0.0;
    for (int64_t i = 0; i < N; i++) {
        const float *x = logits->data + i * C;
        float *p = sv->prob + i * C;
        int32_t y = targets->idata[i];
        double s;
        float m = softmax_row(p, x, C, &s);
        if (y == ignore_index) continue;
        CHECK(y >= 0 && y < C, "cross_entropy: target %d of row %lld is outside [0, %lld); hint: "
              "pass ignore_index for padding", y, (long long)i, (long long)C);
        total += (double)m + log(s) - (double)x[y];
        sv->valid++;
    }
    t->data[0] = sv->valid ? (float)(total / (double)sv->valid) : 0.0f;
    return t;
}

void cross_entropy_backward(Graph *g, Tensor *t)
{
    Tensor *logits = t->src[0], *targets = t->src[1];
    const CeSaved *sv = t->saved;
    if (!logits->requires_grad || sv->valid == 0) return;
    float *dx = grad_get(g, logits);
    int64_t N = logits->shape[0], C = logits->shape[1];
    float scale = t->grad[0] / (float)sv->valid;
    for (int64_t i = 0; i < N; i++) {
        int32_t y = targets->idata[i];
        if (y == (int32_t)t->iparam[0]) continue;
        const float *p = sv->prob + i * C;
        float *d = dx + i * C;
        for (int64_t j = 0; j < C; j++) d[j] += scale * p[j];
        d[y] -= scale;
    }
}

// ---------------------------------------------------------------------------
// Embedding: out[s, :] = W[ids[s], :]; backward scatters dout rows into dW (+=, so a repeated id
// gets the sum).
// ---------------------------------------------------------------------------

Tensor *tensor_embedding(Graph *g, Tensor *weight, Tensor *ids)
{
    char sw[64];
    CHECK(weight->dtype == DT_F32 && weight->ndim == 2 && weight->stride[1] == 1,
          "embedding: weight must be (V, C) float with unit column stride, got %s",
          shape_str(weight, sw, 64));
    CHECK(ids->dtype == DT_I32 && ids->ndim < TENSOR_MAX_DIMS,
          "embedding: ids must be int32 with at most %d dims", TENSOR_MAX_DIMS - 1);
    ids = tensor_contiguous(g, ids);
    int64_t sh[TENSOR_MAX_DIMS];
    memcpy(sh, ids->shape, sizeof(int64_t) * (size_t)ids->ndim);
    int64_t V = weight->shape[0], C = weight->shape[1];
    sh[ids->ndim] = C;
    Tensor *src[2] = {weight, ids};
    Tensor *t = node_new(g, OP_EMBEDDING, DT_F32, ids->ndim + 1, sh, src, 2);
    int64_t n = tensor_numel(ids);
    for (int64_t s = 0; s < n; s++) {
        int32_t id = ids->idata[s];
        CHECK(id >= 0 && id < V, "embedding: id %d at position %lld is outside [0, %lld)", id,
              (long long)s, (long long)V);
        memcpy(t->data + s * C, weight->data + id * weight->stride[0], (size_t)C * sizeof(float));
    }
    return t;
}

void embedding_backward(Graph *g, Tensor *t)
{
    Tensor *weight = t->src[0], *ids = t->src[1];
    if (!weight->requires_grad) return;
    float *dw = grad_get(g, weight);
    int64_t C = weight->shape[1], n = tensor_numel(ids);
    for (int64_t s = 0; s < n; s++) {
        float *d = dw + ids->idata[s] * weight->stride[0];
        const float *dy = t->grad + s * C;
        for (int64_t c = 0; c < C; c++) d[c] += dy[c];
    }
}

// ---------------------------------------------------------------------------
// LayerNorm over the last dim
//
// forward:  mu = mean(x), rstd = 1/sqrt(var(x) + eps), xhat = (x - mu) rstd, y = xhat w + b
// backward: with dxhat = dy w,
//           dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
//           dw += sum_rows dy xhat,  db += sum_rows dy
// ---------------------------------------------------------------------------

typedef struct {
    float *mean; // (N,)
    float *rstd; // (N,)
} NormSaved;

static void norm_check(const char *what, Tensor *x, Tensor *w)
{
    char sx[64], sw[64];
    CHECK(x->dtype == DT_F32 && x->ndim >= 1, "%s: x must be float with at least 1 dim", what);
    CHECK(!w || (w->ndim == 1 && w->shape[0] == x->shape[x->ndim - 1] && w->stride[0] == 1),
          "%s: weight/bias must be (C,) = (%lld,) for x %s, got %s", what,
          (long long)x->shape[x->ndim - 1], shape_str(x, sx, 64), w ? shape_str(w, sw, 64) : "");
}

void tensor_layernorm_rows(float *y, float *mean, float *rstd, const float *x, const float *w,
                           const float *b, int64_t N, int64_t C, float eps)
{
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + i * C;
        float *yi = y + i * C;
        double m = 0.0, v = 0.0;
        for (int64_t c = 0; c < C; c++) m += xi[c];
        m /= (double)C;
        for (int64_t c = 0; c < C; c++) v += ((double)xi[c] - m) * ((double)xi[c] - m);
        v /= (double)C; // biased variance, as PyTorch's LayerNorm
        float r = (float)(1.0 / sqrt(v + (double)eps)), mf = (float)m;
        if (mean) mean[i] = mf;
        if (rstd) rstd[i] = r;
        for (int64_t c = 0; c < C; c++)
            yi[c] = (xi[c] - mf) * r * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
    }
}

Tensor *tensor_layernorm(Graph *g, Tensor *x, Tensor *w, Tensor *b, float eps)
{
    norm_check("layernorm", x, w);
    norm_check("layernorm", x, b);
    x = tensor_contiguous(g, x);
    Tensor *src[3] = {x, w, b}; // w and b may be NULL
    Tensor *t = node_new(g, OP_LAYERNORM, DT_F32, x->ndim, x->shape, src, 3);
    t->fparam[0] = eps;
    int64_t C = x->shape[x->ndim - 1], N = C ? tensor_numel(x) / C : 0;
    NormSaved *sv = arena_alloc(g->arena, sizeof *sv);
    sv->mean = arena_alloc(g->arena, (size_t)N * sizeof(float));
    sv->rstd = arena_alloc(g->arena, (size_t)N * sizeof(float));
    t->saved = sv;
    tensor_layernorm_rows(t->data, sv->mean, sv->rstd, x->data, w ? w->data : NULL,
                          b ? b->data : NULL, N, C, eps);
    return t;
}

void layernorm_backward(Graph *g, Tensor *t)
{
    Tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    const NormSaved *sv = t->saved;
    int64_t C = x->shape[x->ndim - 1], N = C ? tensor_numel(x) / C : 0;
    float *dx = x->requires_grad ? grad_get(g, x) : NULL;
    float *dw = w && w->requires_grad ? grad_get(g, w) : NULL;
    float *db = b && b->requires_grad ? grad_get(g, b) : NULL;
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x->data + i * C, *dy = t->grad + i * C;
        float m = sv->mean[i], rstd = sv->rstd[i];
        // Two means over the row: of dxhat and of dxhat * xhat.
        double s1 = 0.0, s2 = 0.0;
        for (int64_t c = 0; c < C; c++) {
            float xhat = (xi[c] - m) * rstd;
            float dxhat = dy[c] * (w ? w->data[c] : 1.0f);
            s1 += dxhat;
            s2 += (double)dxhat * xhat;
            if (dw) dw[c] += dy[c] * xhat;
            if (db) db[c] += dy[c];
        }
        if (!dx) continue;
        float m1 = (float)(s1 / (double)C), m2 = (float)(s2 / (double)C);
        float *dxi = dx + i * C;
        for (int64_t c = 0; c < C; c++) {
            float xhat = (xi[c] - m) * rstd;
            float dxhat = dy[c] * (w ? w->data[c] : 1.0f);
            dxi[c] += rstd * (dxhat - m1 - xhat * m2);
        }
    }
}

// ---------------------------------------------------------------------------
// RMSNorm over the last dim
//
// forward:  r = 1/sqrt(mean(x^2) + eps), y = x r w
// backward: with dn = dy w,  dx_j = r dn_j - r^3 x_j (1/C) sum_i dn_i x_i,  dw += sum_rows dy x r
// ---------------------------------------------------------------------------

void tensor_rmsnorm_rows(float *y, float *rstd, const float *x, const float *w, int64_t N,
                         int64_t C, float eps)
{
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + i * C;
        float *yi = y + i * C;
        double ss = 0.0;
        for (int64_t c = 0; c < C; c++) ss += (double)xi[c] * xi[c];
        float r = (float)(1.0 / sqrt(ss / (double)C + (double)eps));
        if (rstd) rstd[i] = r;
        for (int64_t c = 0; c < C; c++) yi[c] = xi[c] * r * (w ? w[c] : 1.0f);
    }
}

Tensor *tensor_rmsnorm(Graph *g, Tensor *x, Tensor *w, float eps)
{
    norm_check("rmsnorm", x, w);
    x = tensor_contiguous(g, x);
    Tensor *src[2] = {x, w}; // w may be NULL
    Tensor *t = node_new(g, OP_RMSNORM, DT_F32, x->ndim, x->shape, src, 2);
    t->fparam[0] = eps;
    int64_t C = x->shape[x->ndim - 1], N = C ? tensor_numel(x) / C : 0;
    NormSaved *sv = arena_alloc(g->arena, sizeof *sv);
    sv->mean = NULL;
    sv->rstd = arena_alloc(g->arena, (size_t)N * sizeof(float));
    t->saved = sv;
    tensor_rmsnorm_rows(t->data, sv->rstd, x->data, w ? w->data : NULL, N, C, eps);
    return t;
}

void rmsnorm_backward(Graph *g, Tensor *t)
{
    Tensor *x = t->src[0], *w = t->src[1];
    const NormSaved *sv = t->saved;
    int64_t C = x->shape[x->ndim - 1], N = C ? tensor_numel(x) / C : 0;
    float *dx = x->requires_grad ? grad_get(g, x) : NULL;
    float *dw = w && w->requires_grad ? grad_get(g, w) : NULL;
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x->data + i * C, *dy = t->grad + i * C;
        float r = sv->rstd[i];
        double s = 0.0;
        for (int64_t c = 0; c < C; c++) {
            float dn = dy[c] * (w ? w->data[c] : 1.0f);
            s += (double)dn * xi[c];
            if (dw) dw[c] += dy[c] * xi[c] * r;
        }
        if (!dx) continue;
        float k = (float)(s / (double)C) * r * r * r;
        float *dxi = dx + i * C;
        for (int64_t c = 0; c < C; c++) dxi[c] += r * dy[c] * (w ? w->data[c] : 1.0f) - k * xi[c];
    }
}
