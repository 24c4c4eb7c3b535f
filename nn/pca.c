/*
 * pca.c: principal components by power iteration with deflation (see pca.h).
 *
 * n = points, d = dimensions, k = components.
 */
#include "nn/pca.h"

#include "core/err.h"
#include "core/rng.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double nn_pca_fit(float *components, float *variances, float *mean, const float *X, int64_t n,
                  int64_t d, int k, uint64_t seed)
{
    CHECK(components && variances && mean && X, "nn_pca_fit: NULL argument");
    CHECK(n >= 2 && d >= 1 && k >= 1 && k <= d, "nn_pca_fit: n %lld, d %lld, k %d (want n >= 2, "
          "1 <= k <= d)", (long long)n, (long long)d, k);
    // Mean (in double), then the centred copy.
    double *mu = xcalloc((size_t)d, sizeof(double));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) mu[j] += X[i * d + j];
    for (int64_t j = 0; j < d; j++) mean[j] = (float)(mu[j] /= (double)n);
    float *xc = xmalloc(sizeof(float) * (size_t)(n * d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) xc[i * d + j] = (float)(X[i * d + j] - mu[j]);
    // C (d, d) = Xc^T Xc / (n - 1): ssyrk fills the upper triangle; mirror it in double.
    float *cf = xcalloc((size_t)(d * d), sizeof(float));
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0f / (float)(n - 1), xc,
                (int)d, 0.0f, cf, (int)d);
    double *c = xmalloc(sizeof(double) * (size_t)(d * d));
    double trace = 0;
    for (int64_t i = 0; i < d; i++) {
        trace += cf[i * d + i];
        for (int64_t j = i; j < d; j++) c[i * d + j] = c[j * d + i] = cf[i * d + j];
    }
    double *v = xmalloc(sizeof(double) * (size_t)d), *w = xmalloc(sizeof(double) * (size_t)d);
    Rng rng;
    rng_init(&rng, seed);
    for (int comp = 0; comp < k; comp++) {
        double norm = 0;
        for (int64_t j = 0; j < d; j++) v[j] = rng_normal(&rng), norm += v[j] * v[j];
        for (int64_t j = 0; j < d; j++) v[j] /= sqrt(norm);
        double lambda = 0;
        for (int it = 0; it < 10000; it++) {
            // w = C v; lambda = v . C v (the Rayleigh quotient); v <- w / |w|.
            double wn = 0, change = 0;
            lambda = 0;
            for (int64_t i = 0; i < d; i++) {
                double s = 0;
                for (int64_t j = 0; j < d; j++) s += c[i * d + j] * v[j];
                w[i] = s, wn += s * s, lambda += v[i] * s;
            }
            wn = sqrt(wn);
            if (wn == 0) break; // C is zero: every direction has variance 0
            for (int64_t j = 0; j < d; j++) {
                double nv = w[j] / wn;
                change += (nv - v[j]) * (nv - v[j]);
                v[j] = nv;
            }
            if (change < 1e-18) break;
        }
        // Fix the sign: the largest-magnitude coordinate positive.
        int64_t jm = 0;
        for (int64_t j = 1; j < d; j++)
            if (fabs(v[j]) > fabs(v[jm])) jm = j;
        double sign = v[jm] < 0 ? -1.0 : 1.0;
        for (int64_t j = 0; j < d; j++) components[comp * d + j] = (float)(sign * v[j]);
        variances[comp] = (float)(lambda > 0 ? lambda : 0);
        // Deflate: C <- C - lambda v v^T removes this component's variance.
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < d; j++) c[i * d + j] -= lambda * v[i] * v[j];
    }
    free(mu), free(xc), free(cf), free(c), free(v), free(w);
    return trace;
}

void nn_pca_project(float *out, const float *X, int64_t n, int64_t d, const float *mean,
                    const float *components, int k)
{
    CHECK(out && X && mean && components && k >= 1, "nn_pca_project: bad arguments");
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < k; c++) {
            double s = 0;
            for (int64_t j = 0; j < d; j++)
                s += ((double)X[i * d + j] - mean[j]) * components[(int64_t)c * d + j];
            out[i * k + c] = (float)s;
        }
}
