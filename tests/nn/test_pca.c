/*
 * test_pca.c: tests of nn/pca.c on synthetic data with known principal axes.
 */
#include "core/rng.h"
#include "nn/pca.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdlib.h>

enum { N = 20000, DIM = 6 };

// Points = 3 z1 a + 1.5 z2 b + 0.5 noise, with a, b orthonormal: the covariance has eigenvalues
// 9.25 (along a), 2.5 (along b) and 0.25 (the other 4 directions).
static float *make_points(float *a, float *b)
{
    Rng r;
    rng_init(&r, 3);
    double na = 0, nb = 0, ab = 0;
    for (int j = 0; j < DIM; j++) a[j] = rng_normal(&r), na += a[j] * a[j];
    for (int j = 0; j < DIM; j++) a[j] /= (float)sqrt(na);
    for (int j = 0; j < DIM; j++) b[j] = rng_normal(&r), ab += b[j] * a[j];
    for (int j = 0; j < DIM; j++) b[j] -= (float)ab * a[j], nb += b[j] * b[j]; // Gram-Schmidt
    for (int j = 0; j < DIM; j++) b[j] /= (float)sqrt(nb);
    float *x = malloc(sizeof(float) * N * DIM);
    for (int i = 0; i < N; i++) {
        float z1 = rng_normal(&r), z2 = rng_normal(&r);
        for (int j = 0; j < DIM; j++)
            x[i * DIM + j] = 5.0f + 3 * z1 * a[j] + 1.5f * z2 * b[j] + 0.5f * rng_normal(&r);
    }
    return x;
}

static double dot(const float *p, const float *q)
{
    double s = 0;
    for (int j = 0; j < DIM; j++) s += (double)p[j] * q[j];
    return s;
}

START_TEST(test_pca_recovers_axes_and_variances)
{
    float a[DIM], b[DIM], comps[3 * DIM], var[3], mean[DIM];
    float *x = make_points(a, b);
    double total = nn_pca_fit(comps, var, mean, x, N, DIM, 3, 1);
    ck_assert(fabs(dot(comps, a)) > 0.99);
    ck_assert(fabs(dot(comps + DIM, b)) > 0.99);
    ck_assert(fabs(dot(comps, comps + DIM)) < 1e-4); // orthogonal
    ck_assert(fabs(dot(comps, comps) - 1) < 1e-5);
    ck_assert(var[0] > var[1] && var[1] > var[2]);
    ck_assert_msg(fabs(var[0] / 9.25 - 1) < 0.04, "var0 %g", var[0]);
    ck_assert_msg(fabs(var[1] / 2.5 - 1) < 0.04, "var1 %g", var[1]);
    ck_assert_msg(fabs(var[2] / 0.25 - 1) < 0.06, "var2 %g", var[2]);
    ck_assert_msg(fabs(total / (9.25 + 2.5 + 4 * 0.25) - 1) < 0.04, "total %g", total);
    for (int j = 0; j < DIM; j++) ck_assert_float_eq_tol(mean[j], 5.0f, 0.05f);
    free(x);
}
END_TEST

START_TEST(test_pca_projection)
{
    float a[DIM], b[DIM], comps[2 * DIM], var[2], mean[DIM];
    float *x = make_points(a, b);
    nn_pca_fit(comps, var, mean, x, N, DIM, 2, 7);
    float *xy = malloc(sizeof(float) * N * 2);
    nn_pca_project(xy, x, N, DIM, mean, comps, 2);
    // The projections have mean 0 and the variances the fit found, and are uncorrelated.
    double m0 = 0, v0 = 0, v1 = 0, c01 = 0;
    for (int i = 0; i < N; i++) m0 += xy[2 * i];
    for (int i = 0; i < N; i++)
        v0 += xy[2 * i] * xy[2 * i], v1 += xy[2 * i + 1] * xy[2 * i + 1],
            c01 += xy[2 * i] * xy[2 * i + 1];
    ck_assert(fabs(m0 / N) < 1e-3);
    ck_assert_double_eq_tol(v0 / (N - 1), var[0], 1e-3 * var[0]);
    ck_assert_double_eq_tol(v1 / (N - 1), var[1], 1e-3 * var[1]);
    ck_assert(fabs(c01 / (N - 1)) < 1e-2);
    // Sign convention: the largest-magnitude coordinate of each component is positive.
    for (int c = 0; c < 2; c++) {
        int jm = 0;
        for (int j = 1; j < DIM; j++)
            if (fabsf(comps[c * DIM + j]) > fabsf(comps[c * DIM + jm])) jm = j;
        ck_assert(comps[c * DIM + jm] > 0);
    }
    free(xy);
    free(x);
}
END_TEST

static Suite *pca_suite(void)
{
    Suite *s = suite_create("pca");
    TCase *tc = tcase_create("pca");
    tcase_add_test(tc, test_pca_recovers_axes_and_variances);
    tcase_add_test(tc, test_pca_projection);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(pca_suite()); }
