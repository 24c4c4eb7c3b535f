/*
 * similarity.c: cosine similarity, row normalisation, all-pairs cosines and top-k.
 */
#include "nn/similarity.h"

#include "core/err.h"
#include "core/exercise.h"

#include <cblas.h>
#include <math.h>

float nn_cosine(const float *a, const float *b, int64_t n)
{
    CHECK(n >= 0, "nn_cosine: negative length %lld", (long long)n);
    // EXERCISE(w02.cosine): return the cosine similarity of a and b (n floats each):
    //   dot(a, b) / (|a| |b|), where |a| = sqrt(dot(a, a)). Accumulate the three sums in
    //   double (a long float sum loses digits), and return 0 when either vector is all zeros.
    // STUB: (void)a, (void)b; exercise_stub("w02.cosine"); return NAN;
    double dot = 0.0, na = 0.0, nb = 0.0;
    for (int64_t i = 0; i < n; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    if (na == 0.0 || nb == 0.0) return 0.0f;
    return (float)(dot / (sqrt(na) * sqrt(nb)));
    // END EXERCISE
}

void nn_normalize_rows(float *x, int64_t rows, int64_t d)
{
    for (int64_t r = 0; r < rows; r++) {
        float *v = x + r * d;
        double ss = 0.0;
        for (int64_t i = 0; i < d; i++) ss += (double)v[i] * v[i];
        if (ss == 0.0) continue;
        float inv = (float)(1.0 / sqrt(ss));
        for (int64_t i = 0; i < d; i++) v[i] *= inv;
    }
}

void nn_cosine_matrix(float *out, const float *a, int64_t na, const float *b, int64_t nb,
                      int64_t d)
{
    CHECK(na >= 0 && nb >= 0 && d >= 0, "nn_cosine_matrix: negative size");
    if (na == 0 || nb == 0) return;
    // out = a b^T: b is stored (nb, d) row-major, so b^T is sgemm's transpose flag, no copy.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)na, (int)nb, (int)d, 1.0f, a,
                (int)(d > 0 ? d : 1), b, (int)(d > 0 ? d : 1), 0.0f, out, (int)nb);
}

void nn_topk(int64_t *idx, float *best_scores, const float *scores, int64_t n, int64_t k)
{
    CHECK(k >= 0 && k <= n, "nn_topk: k = %lld with n = %lld", (long long)k, (long long)n);
    // Insertion into a sorted list of k: O(n k), best for the small k of a nearest-neighbour
    // query and simple to step through.
    int64_t filled = 0;
    for (int64_t i = 0; i < n; i++) {
        float s = scores[i];
        if (filled == k && !(s > scores[idx[k - 1]])) continue;
        int64_t j = filled < k ? filled++ : k - 1;
        while (j > 0 && s > scores[idx[j - 1]]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    if (best_scores)
        for (int64_t j = 0; j < k; j++) best_scores[j] = scores[idx[j]];
}
