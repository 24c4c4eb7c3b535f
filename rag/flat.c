/*
 * flat.c: exact top-k search through sgemm / sgemv (see flat.h for the math and contract).
 *
 * n = rows in the index, d = dimension, k = hits per query, qb x nb = one block of scores.
 */
#include "rag/flat.h"

#include "core/err.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// Queries and rows per block. The (FLAT_QB, FLAT_NB) score block is 1 MiB, about one core's
// L2, where the top-k pass then reads it. Every query block streams the whole base through
// sgemm once, so a taller block reads the base fewer times: 256 x 1024 measured about 10%
// faster than 128 x 1024 on 60,000 x 784 (Fashion-MNIST), with no gain beyond.
#define FLAT_QB 256
#define FLAT_NB 1024

struct RagFlat {
    int64_t dim;
    RagMetric metric;
    int64_t n, cap;
    float *x;     // (cap, dim): rows 0..n-1 used
    float *norm2; // (cap): |x_i|^2, for L2
};

const char *rag_metric_name(RagMetric m)
{
    static const char *names[RAG_METRIC_COUNT] = {"ip", "cosine", "l2"};
    _Static_assert(sizeof names / sizeof names[0] == RAG_METRIC_COUNT, "one name per metric");
    CHECK(m >= 0 && m < RAG_METRIC_COUNT, "rag_metric_name: metric %d out of range", (int)m);
    return names[m];
}

// ---------------------------------------------------------------------------
// Top-k heap
// ---------------------------------------------------------------------------

// Top-k selection is rag.h's RagTopK: a min-heap whose root is the worst kept hit. Rows
// arrive in ascending id order, so a new row that only ties the root is worse than it, and
// "s > root" is the whole admission test.

// Scans one block of scores s[0..nb) for rows first..first+nb-1 (minus sub[j] when sub is
// not NULL, the L2 row norms).
static void topk_scan(RagTopK *t, const float *s, const float *sub, int64_t first, int64_t nb)
{
    int64_t j = 0;
    // Fill phase: until the heap holds k hits everything goes in.
    for (; j < nb && t->n < t->k; j++) {
        float v = sub ? s[j] - sub[j] : s[j];
        rag_topk_push(t, (RagHit){first + j, v});
    }
    float thr = t->n > 0 ? t->h[0].score : -INFINITY;
    for (; j < nb; j++) {
        float v = sub ? s[j] - sub[j] : s[j];
        if (v > thr) {
            rag_topk_push(t, (RagHit){first + j, v});
            thr = t->h[0].score;
        }
    }
}

// ---------------------------------------------------------------------------
// Index
// ---------------------------------------------------------------------------

RagFlat *rag_flat_create(int64_t dim, RagMetric metric)
{
    CHECK(dim >= 1, "rag_flat_create: dim %lld must be >= 1", (long long)dim);
    CHECK(metric >= 0 && metric < RAG_METRIC_COUNT, "rag_flat_create: bad metric %d",
          (int)metric);
    RagFlat *f = xcalloc(1, sizeof *f);
    f->dim = dim;
    f->metric = metric;
    return f;
}

void rag_flat_free(RagFlat *f)
{
    if (!f) return;
    free(f->x);
    free(f->norm2);
    free(f);
}

// Scales v (d floats) to unit length in place; a zero vector stays zero.
static void normalise(float *v, int64_t d)
{
    double s = 0;
    for (int64_t i = 0; i < d; i++) s += (double)v[i] * v[i];
    if (s == 0) return;
    float inv = (float)(1.0 / sqrt(s));
    for (int64_t i = 0; i < d; i++) v[i] *= inv;
}

int64_t rag_flat_add(RagFlat *f, const float *x, int64_t n)
{
    CHECK(f && (x || n == 0) && n >= 0, "rag_flat_add: NULL index/rows or n %lld < 0",
          (long long)n);
    if (f->n + n > f->cap) {
        int64_t cap = f->cap ? f->cap : 256;
        while (cap < f->n + n) cap *= 2;
        f->x = xrealloc(f->x, (size_t)cap * (size_t)f->dim * sizeof(float));
        f->norm2 = xrealloc(f->norm2, (size_t)cap * sizeof(float));
        f->cap = cap;
    }
    int64_t first = f->n, d = f->dim;
    float *dst = f->x + (size_t)first * (size_t)d;
    memcpy(dst, x, (size_t)n * (size_t)d * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        float *row = dst + (size_t)i * (size_t)d;
        if (f->metric == RAG_METRIC_COSINE) normalise(row, d);
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += (double)row[j] * row[j];
        f->norm2[first + i] = (float)s;
    }
    f->n += n;
    return first;
}

int64_t rag_flat_count(const RagFlat *f) { return f->n; }
int64_t rag_flat_dim(const RagFlat *f) { return f->dim; }
RagMetric rag_flat_metric(const RagFlat *f) { return f->metric; }

const float *rag_flat_row(const RagFlat *f, int64_t id)
{
    CHECK(id >= 0 && id < f->n, "rag_flat_row: id %lld not in 0..%lld", (long long)id,
          (long long)f->n - 1);
    return f->x + (size_t)id * (size_t)f->dim;
}

// ---------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------

// The queries as the metric sees them: a normalised copy for cosine (*owned set, caller frees),
// else Q itself.
static const float *prepare_queries(const RagFlat *f, const float *Q, int64_t nq, float **owned)
{
    *owned = NULL;
    if (f->metric != RAG_METRIC_COSINE) return Q;
    float *c = xmalloc((size_t)nq * (size_t)f->dim * sizeof(float));
    memcpy(c, Q, (size_t)nq * (size_t)f->dim * sizeof(float));
    for (int64_t i = 0; i < nq; i++) normalise(c + (size_t)i * (size_t)f->dim, f->dim);
    *owned = c;
    return c;
}

static float sq_norm(const float *v, int64_t d)
{
    double s = 0;
    for (int64_t i = 0; i < d; i++) s += (double)v[i] * v[i];
    return (float)s;
}

int64_t rag_flat_search(const RagFlat *f, const float *q, int64_t k, RagHit *out)
{
    CHECK(f && q && out && k >= 1, "rag_flat_search: NULL argument or k %lld < 1", (long long)k);
    float *owned;
    const float *qq = prepare_queries(f, q, 1, &owned);
    int l2 = f->metric == RAG_METRIC_L2;
    int64_t d = f->dim, kk = k < f->n ? k : f->n;
    RagTopK t = {.h = xmalloc((size_t)(kk > 0 ? kk : 1) * sizeof(RagHit)), .n = 0, .k = kk};
    float s[FLAT_NB];
    for (int64_t j0 = 0; j0 < f->n && kk > 0; j0 += FLAT_NB) {
        int64_t nb = f->n - j0 < FLAT_NB ? f->n - j0 : FLAT_NB;
        // s = alpha X_block q: alpha = 2 for L2 (the cross term of the expansion).
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)nb, (int)d, l2 ? 2.0f : 1.0f,
                    f->x + (size_t)j0 * (size_t)d, (int)d, qq, 1, 0.0f, s, 1);
        topk_scan(&t, s, l2 ? f->norm2 + j0 : NULL, j0, nb);
    }
    int64_t got = rag_topk_drain(&t, out, l2 ? -sq_norm(qq, d) : 0.0f);
    free(t.h);
    free(owned);
    return got;
}

int64_t rag_flat_search_batch(const RagFlat *f, const float *Q, int64_t nq, int64_t k,
                              RagHit *out)
{
    CHECK(f && (Q || nq == 0) && out && k >= 1 && nq >= 0,
          "rag_flat_search_batch: NULL argument, k %lld < 1 or nq %lld < 0", (long long)k,
          (long long)nq);
    CHECK(f->dim <= INT32_MAX, "rag_flat_search_batch: dim too large for BLAS");
    float *owned;
    const float *qq = prepare_queries(f, Q, nq, &owned);
    int l2 = f->metric == RAG_METRIC_L2;
    int64_t d = f->dim, kk = k < f->n ? k : f->n;
    float *s = xmalloc((size_t)FLAT_QB * FLAT_NB * sizeof(float));
    RagHit *heaps = xmalloc((size_t)FLAT_QB * (size_t)(kk > 0 ? kk : 1) * sizeof(RagHit));
    RagTopK t[FLAT_QB];
    for (int64_t i0 = 0; i0 < nq; i0 += FLAT_QB) {
        int64_t qb = nq - i0 < FLAT_QB ? nq - i0 : FLAT_QB;
        for (int64_t i = 0; i < qb; i++)
            t[i] = (RagTopK){heaps + (size_t)i * (size_t)kk, 0, kk};
        for (int64_t j0 = 0; j0 < f->n && kk > 0; j0 += FLAT_NB) {
            int64_t nb = f->n - j0 < FLAT_NB ? f->n - j0 : FLAT_NB;
            // S (qb, nb) = alpha Q_block X_block^T.
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)qb, (int)nb, (int)d,
                        l2 ? 2.0f : 1.0f, qq + (size_t)i0 * (size_t)d, (int)d,
                        f->x + (size_t)j0 * (size_t)d, (int)d, 0.0f, s, (int)nb);
            for (int64_t i = 0; i < qb; i++)
                topk_scan(&t[i], s + (size_t)i * (size_t)nb, l2 ? f->norm2 + j0 : NULL, j0, nb);
        }
        for (int64_t i = 0; i < qb; i++) {
            RagHit *o = out + (size_t)(i0 + i) * (size_t)k;
            const float *qi = qq + (size_t)(i0 + i) * (size_t)d;
            rag_topk_drain(&t[i], o, l2 ? -sq_norm(qi, d) : 0.0f);
            for (int64_t j = kk; j < k; j++) o[j] = (RagHit){-1, -INFINITY};
        }
    }
    free(heaps);
    free(s);
    free(owned);
    return kk;
}
