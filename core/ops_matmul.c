/*
 * ops_matmul.c: (batched) matrix products through cblas_sgemm.
 *
 * a: (..., M, K) @ b: (..., K, N) -> c: (..., M, N). Batch dims broadcast; b is often 2-D
 * (weights shared over (B, T)).
 *
 * No operand is ever copied to transpose it. A 2-D slice of a tensor is handed to sgemm as it
 * lies in memory: with unit column stride it is a row-major matrix (leading dim = row stride);
 * with unit row stride it is the transpose of a row-major matrix, and we pass CblasTrans. A
 * transposed weight (tensor_transpose(g, W, 0, 1)) is therefore free.
 *
 * Backward, with dC the output gradient:
 *     dA += dC B^T      (M, K) = (M, N)(N, K)
 *     dB += A^T dC      (K, N) = (K, M)(M, N)
 * A gradient has its tensor's layout (tensor.h), so dA may itself be "transposed" in memory.
 * gemm_into handles that with the identity (X Y)^T = Y^T X^T: writing C^T instead of C.
 * sgemm's beta = 1 makes every product accumulate into the gradient (+=) for free.
 *
 * When a's batch dims fold into its rows (a contiguous (B, T, K) is a (B*T, K) matrix) and b is
 * shared, the whole batch is one sgemm, forward and backward; otherwise one sgemm per batch.
 */
#include "tensor_internal.h"

#include <cblas.h>
#include <string.h>

// A 2-D operand as sgemm sees it: the logical matrix is op(stored), where stored is row-major
// with leading dimension ld, and op is a transpose when t is set.
typedef struct {
    float *p;
    int64_t ld;
    bool t;
} Mat;

// Describes the 2-D matrix (rows, cols) at p with strides (rs, cs), or returns false when it is
// neither row- nor column-major (a strided slice; the caller copies it first).
static bool mat_of(float *p, int64_t rows, int64_t cols, int64_t rs, int64_t cs, Mat *m)
{
    m->p = p;
    m->t = false;
    m->ld = 0;
    if (cs == 1 || cols == 1) {
        m->t = false;
        m->ld = rows <= 1 ? (cols > 1 ? cols : 1) : rs;
        return m->ld >= cols;
    }
    if (rs == 1 || rows == 1) {
        m->t = true;
        m->ld = cols <= 1 ? (rows > 1 ? rows : 1) : cs;
        return m->ld >= rows;
    }
    return false;
}

// mat_of for an operand known to be gemm-able (ensure_gemmable ran on its tensor).
static Mat mat(float *p, int64_t rows, int64_t cols, int64_t rs, int64_t cs)
{
    Mat m;
    bool ok = mat_of(p, rows, cols, rs, cs, &m);
    CHECK(ok, "matmul: (%lld, %lld) operand with strides (%lld, %lld) is not gemm-able",
          (long long)rows, (long long)cols, (long long)rs, (long long)cs);
    return m;
}

static Mat mat_flip(Mat m)
{
    m.t = !m.t;
    return m;
}

// C (M, N) = alpha op(A) op(B) + beta C, where C is row-major (ldc), A is (M, K), B is (K, N).
static void gemm(int64_t M, int64_t N, int64_t K, Mat A, Mat B, float *C, int64_t ldc, float beta)
{
    if (M == 0 || N == 0) return;
    if (K == 0) {
        // An empty inner dim contributes nothing; sgemm would only scale C by beta.
        if (beta == 0.0f)
            for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    cblas_sgemm(CblasRowMajor, A.t ? CblasTrans : CblasNoTrans, B.t ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, 1.0f, A.p, (int)A.ld, B.p, (int)B.ld, beta, C, (int)ldc);
}

// out (M, N) += A B, where out is described by `o` (it may be column-major: then write
// out^T (N, M) += B^T A^T).
static void gemm_into(Mat o, int64_t M, int64_t N, int64_t K, Mat A, Mat B)
{
    if (!o.t)
        gemm(M, N, K, A, B, o.p, o.ld, 1.0f);
    else
        gemm(N, M, K, mat_flip(B), mat_flip(A), o.p, o.ld, 1.0f);
}

// ---------------------------------------------------------------------------
// Shapes: split a tensor into up to 2 batch dims (padded with 1s) and a matrix
// ---------------------------------------------------------------------------

typedef struct {
    int64_t batch[2];   // batch shape, padded with leading 1s
    int64_t bstride[2]; // batch strides (0 where broadcast)
    int64_t rows, cols, rs, cs;
} MatView;

static MatView mat_view(const Tensor *t)
{
    MatView v = {.batch = {1, 1}, .bstride = {0, 0}};
    v.rows = t->shape[t->ndim - 2], v.cols = t->shape[t->ndim - 1];
    v.rs = t->stride[t->ndim - 2], v.cs = t->stride[t->ndim - 1];
    for (int i = 0; i < t->ndim - 2; i++) {
        int k = 2 - (t->ndim - 2) + i;
        v.batch[k] = t->shape[i];
        v.bstride[k] = t->stride[i];
    }
    return v;
}

// True when a's batch dims fold into its rows: a row-major matrix whose batch strides are the
// running product of rows (B, T, K) -> (B*T, K).
static bool folds(const MatView *a)
{
    if (a->cs != 1 && a->cols != 1) return false;
    int64_t s = a->rows * a->rs;
    for (int k = 1; k >= 0; k--) {
        if (a->batch[k] != 1 && a->bstride[k] != s) return false;
        s *= a->batch[k];
    }
    return true;
}

static Tensor *ensure_gemmable(Graph *g, Tensor *t)
{
    MatView v = mat_view(t);
    Mat m;
    return mat_of(t->data, v.rows, v.cols, v.rs, v.cs, &m) ? t : tensor_contiguous(g, t);
}

Tensor *tensor_matmul(Graph *g, Tensor *a, Tensor *b)
{
    char sa[64], sb[64];
    CHECK(a->dtype == DT_F32 && b->dtype == DT_F32, "matmul needs float tensors");
    CHECK(a->ndim >= 2 && b->ndim >= 2, "matmul needs at least 2 dims, got %s @ %s",
          shape_str(a, sa, 64), shape_str(b, sb, 64));
    CHECK(a->shape[a->ndim - 1] == b->shape[b->ndim - 2],
          "matmul: inner dims differ, %s @ %s; hint: a Linear layer computes x @ W^T with "
          "tensor_transpose(g, W, 0, 1)", shape_str(a, sa, 64), shape_str(b, sb, 64));
    a = ensure_gemmable(g, a);
    b = ensure_gemmable(g, b);
    MatView va = mat_view(a), vb = mat_view(b);
    int64_t sh[TENSOR_MAX_DIMS];
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int k = 0; k < 2; k++) {
        CHECK(va.batch[k] == vb.batch[k] || va.batch[k] == 1 || vb.batch[k] == 1,
              "matmul: batch dims do not broadcast, %s @ %s", shape_str(a, sa, 64),
              shape_str(b, sb, 64));
        int64_t n = va.batch[k] > vb.batch[k] ? va.batch[k] : vb.batch[k];
        if (va.batch[k] == 1) va.bstride[k] = 0;
        if (vb.batch[k] == 1) vb.bstride[k] = 0;
        if (k >= 2 - (nd - 2)) sh[k - (2 - (nd - 2))] = n;
    }
    sh[nd - 2] = va.rows, sh[nd - 1] = vb.cols;
    Tensor *src[2] = {a, b};
    Tensor *t = node_new(g, OP_MATMUL, DT_F32, nd, sh, src, 2);
    int64_t M = va.rows, K = va.cols, N = vb.cols;
    int64_t nb0 = nd >= 4 ? sh[0] : 1, nb1 = nd >= 3 ? sh[nd - 3] : 1;
    Mat A, B;
    if (vb.bstride[0] == 0 && vb.bstride[1] == 0 && folds(&va)) {
        // One sgemm: (nb0 * nb1 * M, K) @ (K, N).
        A = mat(a->data, nb0 * nb1 * M, K, va.rs, va.cs);
        B = mat(b->data, K, N, vb.rs, vb.cs);
        gemm(nb0 * nb1 * M, N, K, A, B, t->data, N, 0.0f);
        return t;
    }
    for (int64_t i = 0; i < nb0; i++)
        for (int64_t j = 0; j < nb1; j++) {
            A = mat(a->data + i * va.bstride[0] + j * va.bstride[1], M, K, va.rs, va.cs);
            B = mat(b->data + i * vb.bstride[0] + j * vb.bstride[1], K, N, vb.rs, vb.cs);
            gemm(M, N, K, A, B, t->data + (i * nb1 + j) * M * N, N, 0.0f);
        }
    return t;
}

void matmul_backward(Graph *g, Tensor *t)
{
    Tensor *a = t->src[0], *b = t->src[1];
    MatView va = mat_view(a), vb = mat_view(b);
    int nd = t->ndim;
    int64_t M = va.rows, K = va.cols, N = vb.cols;
    int64_t nb0 = nd >= 4 ? t->shape[0] : 1, nb1 = nd >= 3 ? t->shape[nd - 3] : 1;
    for (int k = 0; k < 2; k++) {
        if (va.batch[k] == 1) va.bstride[k] = 0;
        if (vb.batch[k] == 1) vb.bstride[k] = 0;
    }
    float *da = a->requires_grad ? grad_get(g, a) : NULL;
    float *db = b->requires_grad ? grad_get(g, b) : NULL;
    Mat A, B, dC, O;
    if (vb.bstride[0] == 0 && vb.bstride[1] == 0 && folds(&va)) {
        int64_t R = nb0 * nb1 * M; // all batch rows at once
        dC = mat(t->grad, R, N, N, 1);
        B = mat(b->data, K, N, vb.rs, vb.cs);
        if (da) {
            O = mat(da, R, K, va.rs, va.cs);
            gemm_into(O, R, K, N, dC, mat_flip(B)); // dA (R, K) += dC (R, N) B^T (N, K)
        }
        if (db) {
            A = mat(a->data, R, K, va.rs, va.cs);
            O = mat(db, K, N, vb.rs, vb.cs);
            gemm_into(O, K, N, R, mat_flip(A), dC); // dB (K, N) += A^T (K, R) dC (R, N)
        }
        return;
    }
    for (int64_t i = 0; i < nb0; i++)
        for (int64_t j = 0; j < nb1; j++) {
            int64_t oa = i * va.bstride[0] + j * va.bstride[1];
            int64_t ob = i * vb.bstride[0] + j * vb.bstride[1];
            dC = mat(t->grad + (i * nb1 + j) * M * N, M, N, N, 1);
            if (da) {
                B = mat(b->data + ob, K, N, vb.rs, vb.cs);
                O = mat(da + oa, M, K, va.rs, va.cs);
                gemm_into(O, M, K, N, dC, mat_flip(B));
            }
            if (db) {
                A = mat(a->data + oa, M, K, va.rs, va.cs);
                O = mat(db + ob, K, N, vb.rs, vb.cs);
                gemm_into(O, K, N, M, mat_flip(A), dC);
            }
        }
}
