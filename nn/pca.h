/*
 * pca.h: principal component analysis by power iteration with deflation.
 *
 * The principal components of n points x_i in R^d are the eigenvectors of their covariance
 *     C = Xc^T Xc / (n - 1),    Xc = the rows x_i - mean,
 * sorted by eigenvalue: the first is the direction along which the points spread most, and its
 * eigenvalue is the variance along it. Power iteration finds the top eigenvector: repeat
 * v <- C v / |C v| and v turns toward it at the rate lambda_2 / lambda_1 per step. Deflation,
 * C <- C - lambda v v^T, then removes that component so the next run finds the second one.
 * Projecting onto the first two components gives the best 2-D picture of the points in the
 * least-squares sense (used for the week-2 embedding scatter plots).
 *
 * C is formed with one cblas_ssyrk; the iteration runs in double. Signs are fixed so that each
 * component's largest-magnitude coordinate is positive (a seed gives the same picture).
 *
 * Shapes: X (n, d) row-major; k components. All pointers are borrowed; outputs are
 * caller-allocated. Misuse (k > d, n < 2) is a bug (CHECK).
 *
 * Usage:
 *     float mean[D], comps[2 * D], var[2], xy[N * 2];
 *     nn_pca_fit(comps, var, mean, X, N, D, 2, 1);      // top 2 components, seed 1
 *     nn_pca_project(xy, X, N, D, mean, comps, 2);        // (N, 2) coordinates
 */
#ifndef NN_PCA_H
#define NN_PCA_H

#include <stdint.h>

// The top k principal components of X (n, d): components (k, d) unit rows, variances (k) the
// eigenvalues in decreasing order, mean (d). Power iteration runs until the direction changes
// by less than 1e-9 (or 10000 steps), from a seeded random start. Returns the total variance
// (the trace of C), so variances[i] / total is the explained fraction.
double nn_pca_fit(float *components, float *variances, float *mean, const float *X, int64_t n,
                  int64_t d, int k, uint64_t seed);

// out (n, k) = (X - mean) components^T: each point's coordinates along the components.
void nn_pca_project(float *out, const float *X, int64_t n, int64_t d, const float *mean,
                    const float *components, int k);

#endif
