/*
 * similarity.h: cosine similarity and nearest neighbours over float vectors.
 *
 * The week-2 building block of every embedding system: two vectors are similar when they
 * point the same way, whatever their length, so compare them by the cosine of their angle,
 *     cos(a, b) = a . b / (|a| |b|),
 * which is the dot product of the two vectors scaled to unit length. For many vectors at once,
 * normalise the rows once and a single matrix product (sgemm) gives every cosine.
 *
 * Shapes: (n, d) = n vectors of d floats, row-major. All pointers are borrowed; nothing is
 * kept after a call returns. Misuse (negative sizes, k > n) is a bug (CHECK).
 *
 * Usage:
 *     float c = nn_cosine(a, b, d);                        // one pair
 *     nn_normalize_rows(q, nq, d);                         // unit rows, in place
 *     nn_normalize_rows(x, nx, d);
 *     nn_cosine_matrix(sims, q, nq, x, nx, d);             // sims (nq, nx) = q x^T
 *     int64_t top[5];
 *     nn_topk(top, NULL, sims, nx, 5);                     // indices of the 5 best of row 0
 */
#ifndef NN_SIMILARITY_H
#define NN_SIMILARITY_H

#include <stdint.h>

// Cosine similarity of a and b (n floats each), accumulated in double. Returns 0 when either
// vector is all zeros (the angle is undefined; 0 means "unrelated" to a ranking).
float nn_cosine(const float *a, const float *b, int64_t n);

// Scales each row of x (rows, d) to unit L2 norm, in place. All-zero rows stay zero.
void nn_normalize_rows(float *x, int64_t rows, int64_t d);

// out (na, nb) = a (na, d) @ b (nb, d)^T through one sgemm. With unit rows (nn_normalize_rows)
// these are the cosines.
void nn_cosine_matrix(float *out, const float *a, int64_t na, const float *b, int64_t nb,
                      int64_t d);

// The k indices of the largest scores (n of them), best first; ties go to the lower index.
// best_scores (k) may be NULL. k <= n.
void nn_topk(int64_t *idx, float *best_scores, const float *scores, int64_t n, int64_t k);

#endif
