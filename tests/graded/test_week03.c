/*
 * test_week03.c: graded tests of the week-3 exercises (one TCase per exercise id).
 *
 *   make grade WEEK=3          the score table
 *   build/release/tests/graded/test_week03 --grade
 *
 * Each test checks the exercise against an independent computation or a property of the
 * math, never against a value copied from the reference solution.
 */
#include "core/rng.h"
#include "tests/grade_report.h"
#include "tests/graded/w03_bpe_merge_tests.h"
#include "tests/test_util.h"
#include "transformer/generate.h"
#include "transformer/sample.h"

#include <math.h>
#include <string.h>

// ---------------------------------------------------------------------------
// w03.rope
// ---------------------------------------------------------------------------

START_TEST(test_rope_position_zero_is_identity)
{
    float x[8] = {0.5f, -1.0f, 2.0f, 0.25f, -3.0f, 1.5f, 0.0f, 4.0f}, y[8];
    memcpy(y, x, sizeof x);
    tf_rope_rotate(y, 8, 0, 10000.0f);
    for (int i = 0; i < 8; i++) ck_assert_float_eq_tol(y[i], x[i], 1e-7);
}
END_TEST

START_TEST(test_rope_against_cos_sin)
{
    // Pair i of a head of size 8 at position 5 turns by 5 * 10000^(-2i/8).
    float x[8] = {1.0f, 0.0f, 0.0f, 1.0f, 0.6f, -0.8f, 2.0f, 3.0f}, y[8];
    memcpy(y, x, sizeof x);
    tf_rope_rotate(y, 8, 5, 10000.0f);
    for (int i = 0; i < 4; i++) {
        double th = 5.0 * pow(10000.0, -(double)(2 * i) / 8.0);
        double y0 = x[2 * i] * cos(th) - x[2 * i + 1] * sin(th);
        double y1 = x[2 * i] * sin(th) + x[2 * i + 1] * cos(th);
        ck_assert_float_eq_tol(y[2 * i], y0, 1e-5);
        ck_assert_float_eq_tol(y[2 * i + 1], y1, 1e-5);
        // A rotation keeps each pair's length.
        double n0 = hypot(x[2 * i], x[2 * i + 1]), n1 = hypot(y[2 * i], y[2 * i + 1]);
        ck_assert_float_eq_tol(n1, n0, 1e-5);
    }
}
END_TEST

START_TEST(test_rope_scores_depend_on_relative_position)
{
    // <rope(q, m), rope(k, n)> depends on m - n only: what makes RoPE a relative encoding.
    Rng r;
    rng_init(&r, 3);
    float q[16], k[16];
    for (int i = 0; i < 16; i++) q[i] = rng_normal(&r), k[i] = rng_normal(&r);
    double dots[2];
    const int pm[2] = {7, 40}, pn[2] = {3, 36};
    for (int t = 0; t < 2; t++) {
        float a[16], b[16];
        memcpy(a, q, sizeof q);
        memcpy(b, k, sizeof k);
        tf_rope_rotate(a, 16, pm[t], 100.0f);
        tf_rope_rotate(b, 16, pn[t], 100.0f);
        dots[t] = 0;
        for (int i = 0; i < 16; i++) dots[t] += (double)a[i] * b[i];
    }
    double plain = 0;
    for (int i = 0; i < 16; i++) plain += (double)q[i] * k[i];
    ck_assert(isfinite(dots[0]));
    ck_assert_float_eq_tol(dots[0], dots[1], 1e-4);
    ck_assert(fabs(dots[0] - plain) > 1e-3); // and it is not the unrotated product
}
END_TEST

// ---------------------------------------------------------------------------
// w03.causal_mask
// ---------------------------------------------------------------------------

START_TEST(test_causal_softmax_masks_the_future)
{
    float s[6] = {0.0f, 1.0f, 2.0f, 9.0f, 9.0f, 9.0f};
    tf_attn_softmax_causal(s, 3, 6);
    double z = 1.0 + exp(1.0) + exp(2.0);
    ck_assert_float_eq_tol(s[0], 1.0 / z, 1e-6);
    ck_assert_float_eq_tol(s[1], exp(1.0) / z, 1e-6);
    ck_assert_float_eq_tol(s[2], exp(2.0) / z, 1e-6);
    for (int j = 3; j < 6; j++) ck_assert_float_eq(s[j], 0.0f);
}
END_TEST

START_TEST(test_causal_softmax_first_row_and_stability)
{
    float s[4] = {-7.0f, 3.0f, 3.0f, 3.0f};
    tf_attn_softmax_causal(s, 1, 4); // the first query sees only itself
    ck_assert_float_eq_tol(s[0], 1.0f, 1e-7);
    for (int j = 1; j < 4; j++) ck_assert_float_eq(s[j], 0.0f);
    float big[3] = {5000.0f, 5001.0f, -1e30f};
    tf_attn_softmax_causal(big, 2, 3); // exp(5000) overflows unless the max is subtracted
    ck_assert_float_eq_tol(big[0], 1.0 / (1.0 + exp(1.0)), 1e-6);
    ck_assert_float_eq_tol(big[1], exp(1.0) / (1.0 + exp(1.0)), 1e-6);
    ck_assert_float_eq(big[2], 0.0f);
}
END_TEST

START_TEST(test_causal_softmax_full_row_sums_to_one)
{
    Rng r;
    rng_init(&r, 8);
    float s[32], x[32];
    for (int j = 0; j < 32; j++) x[j] = s[j] = 3.0f * rng_normal(&r);
    tf_attn_softmax_causal(s, 32, 32);
    double sum = 0, z = 0;
    for (int j = 0; j < 32; j++) z += exp((double)x[j]);
    for (int j = 0; j < 32; j++) {
        ck_assert_float_eq_tol(s[j], exp((double)x[j]) / z, 1e-6);
        sum += s[j];
    }
    ck_assert_float_eq_tol(sum, 1.0, 1e-5);
}
END_TEST

// ---------------------------------------------------------------------------
// w03.sampling
// ---------------------------------------------------------------------------

static void fill(float *p, int32_t *ids, const float *src, int n)
{
    for (int i = 0; i < n; i++) p[i] = src[i], ids[i] = i;
}

START_TEST(test_filter_top_k_one_keeps_the_max)
{
    const float src[6] = {0.1f, 0.05f, 0.3f, 0.2f, 0.25f, 0.1f};
    float p[6];
    int32_t ids[6];
    fill(p, ids, src, 6);
    int n = tf_sample_filter(p, ids, 6, 1, 1.0f);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_float_eq_tol(p[0], 1.0f, 1e-6);
    fill(p, ids, src, 6);
    n = tf_sample_filter(p, ids, 6, 3, 1.0f); // 0.3, 0.25, 0.2 of mass 0.75
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(ids[1], 4);
    ck_assert_int_eq(ids[2], 3);
    ck_assert_float_eq_tol(p[0], 0.4f, 1e-6);
    ck_assert_float_eq_tol(p[1], 0.25f / 0.75f, 1e-6);
    ck_assert_float_eq_tol(p[2], 0.2f / 0.75f, 1e-6);
}
END_TEST

START_TEST(test_filter_top_p_smallest_nucleus)
{
    const float src[6] = {0.1f, 0.05f, 0.3f, 0.2f, 0.25f, 0.1f};
    float p[6];
    int32_t ids[6];
    // 0.3 + 0.25 = 0.55 < 0.6 <= 0.75: three tokens.
    fill(p, ids, src, 6);
    int n = tf_sample_filter(p, ids, 6, 0, 0.6f);
    ck_assert_int_eq(n, 3);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += p[i];
    ck_assert_float_eq_tol(sum, 1.0, 1e-6);
    ck_assert_float_eq_tol(p[2], 0.2f / 0.75f, 1e-6);
    // 0.3 alone reaches 0.29: one token.
    fill(p, ids, src, 6);
    ck_assert_int_eq(tf_sample_filter(p, ids, 6, 0, 0.29f), 1);
    ck_assert_int_eq(ids[0], 2);
    // top_p = 1 keeps all six.
    fill(p, ids, src, 6);
    ck_assert_int_eq(tf_sample_filter(p, ids, 6, 0, 1.0f), 6);
    ck_assert_float_eq_tol(p[5], 0.05f, 1e-6);
}
END_TEST

START_TEST(test_filter_top_k_then_top_p_and_ties)
{
    // Equal probabilities are ordered by the lower id. Top-2 keeps ids 1 and 3 (0.3 each);
    // relative to their mass 0.6, the first alone is 0.5 >= 0.5: one token, id 1.
    const float src[5] = {0.1f, 0.3f, 0.2f, 0.3f, 0.1f};
    float p[5];
    int32_t ids[5];
    fill(p, ids, src, 5);
    int n = tf_sample_filter(p, ids, 5, 2, 0.5f);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_float_eq_tol(p[0], 1.0f, 1e-6);
    // Without the nucleus: both, in id order, 0.5 each.
    fill(p, ids, src, 5);
    n = tf_sample_filter(p, ids, 5, 2, 1.0f);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[1], 3);
    ck_assert_float_eq_tol(p[1], 0.5f, 1e-6);
}
END_TEST

// ---------------------------------------------------------------------------

static Suite *week03_suite(void)
{
    Suite *s = suite_create("week03");
    TCase *tc = tcase_create("w03.rope");
    tcase_add_test(tc, test_rope_position_zero_is_identity);
    tcase_add_test(tc, test_rope_against_cos_sin);
    tcase_add_test(tc, test_rope_scores_depend_on_relative_position);
    suite_add_tcase(s, tc);
    tc = tcase_create("w03.causal_mask");
    tcase_add_test(tc, test_causal_softmax_masks_the_future);
    tcase_add_test(tc, test_causal_softmax_first_row_and_stability);
    tcase_add_test(tc, test_causal_softmax_full_row_sums_to_one);
    suite_add_tcase(s, tc);
    tc = tcase_create("w03.sampling");
    tcase_add_test(tc, test_filter_top_k_one_keeps_the_max);
    tcase_add_test(tc, test_filter_top_p_smallest_nucleus);
    tcase_add_test(tc, test_filter_top_k_then_top_p_and_ties);
    suite_add_tcase(s, tc);
    w03_bpe_merge_add_tcase(s); // tests/graded/w03_bpe_merge_tests.h
    return s;
}

int main(int argc, char **argv) { return grade_main(week03_suite(), argc, argv); }
