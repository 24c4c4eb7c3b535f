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
#include "tests/test_util.h"
#include "transformer/attention.h"
#include "transformer/generate.h"
#include "transformer/sample.h"
#include "transformer/tokenizer.h"

#include <math.h>
#include <stdlib.h>
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
// w03.bpe_merge
// ---------------------------------------------------------------------------

START_TEST(test_bpe_merge_replaces_every_pair)
{
    // "l o w l o w e r" with the pair (l, o) -> 9: both occurrences go, in place.
    int32_t ids[8] = {1, 2, 3, 1, 2, 3, 4, 5};
    int64_t n = tf_tok_bpe_merge(ids, 8, 1, 2, 9);
    int32_t want[6] = {9, 3, 9, 3, 4, 5};
    ck_assert_int_eq(n, 6);
    for (int i = 0; i < 6; i++) ck_assert_int_eq(ids[i], want[i]);
    // The order matters: (2, 1) is a different pair and does not match "1 2".
    int32_t ids2[3] = {1, 2, 1};
    ck_assert_int_eq(tf_tok_bpe_merge(ids2, 3, 2, 1, 7), 2);
    ck_assert_int_eq(ids2[0], 1);
    ck_assert_int_eq(ids2[1], 7);
}
END_TEST

START_TEST(test_bpe_merge_left_to_right_no_overlap)
{
    // "a a a" with (a, a): the scan takes the first two, then "a" is left alone.
    int32_t a3[3] = {5, 5, 5};
    ck_assert_int_eq(tf_tok_bpe_merge(a3, 3, 5, 5, 8), 2);
    ck_assert_int_eq(a3[0], 8);
    ck_assert_int_eq(a3[1], 5);
    // Five in a row: two merges and a leftover; a pair at the very end merges too.
    int32_t a5[7] = {5, 5, 5, 5, 5, 6, 5};
    ck_assert_int_eq(tf_tok_bpe_merge(a5, 7, 5, 5, 8), 5);
    int32_t want[5] = {8, 8, 5, 6, 5};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(a5[i], want[i]);
    int32_t end[3] = {4, 1, 2};
    ck_assert_int_eq(tf_tok_bpe_merge(end, 3, 1, 2, 3), 2);
    ck_assert_int_eq(end[1], 3);
}
END_TEST

START_TEST(test_bpe_merge_matches_string_replace)
{
    // Random sequences over {0,1,2}, spelt as letters "abc"; the pair (0, 1) is the string
    // "ab", and a left-to-right non-overlapping replace of "ab" by "X" is what the merge must
    // give. Each sequence is forced to contain the pair at least once.
    Rng r;
    rng_init(&r, 303);
    for (int it = 0; it < 200; it++) {
        int n = 2 + (int)(rng_uniform(&r) * 30.0f) % 30;
        int32_t ids[32];
        char text[40], want[40];
        for (int i = 0; i < n; i++) ids[i] = (int32_t)(rng_uniform(&r) * 3.0f) % 3;
        int at = (int)(rng_uniform(&r) * (float)(n - 1)) % (n - 1);
        ids[at] = 0, ids[at + 1] = 1;
        for (int i = 0; i < n; i++) text[i] = (char)('a' + ids[i]);
        text[n] = 0;
        int w = 0;
        for (const char *p = text; *p;) {
            const char *hit = strstr(p, "ab");
            if (!hit) {
                while (*p) want[w++] = *p++;
                break;
            }
            while (p < hit) want[w++] = *p++;
            want[w++] = 'X';
            p += 2;
        }
        want[w] = 0;
        int64_t m = tf_tok_bpe_merge(ids, n, 0, 1, 23); // 23 stands for 'X'
        ck_assert_int_eq(m, w);
        for (int i = 0; i < w; i++)
            ck_assert_int_eq(ids[i], want[i] == 'X' ? 23 : want[i] - 'a');
    }
}
END_TEST

// ---------------------------------------------------------------------------
// w03.attention_forward: the composed attention against the fused op, values and gradients
// ---------------------------------------------------------------------------

static void attention_case(bool causal, int64_t B, int64_t H, int64_t T, int64_t D)
{
    Arena *a = arena_create(0);
    Rng r;
    rng_init(&r, 31);
    Tensor *in[3];
    for (int i = 0; i < 3; i++) {
        in[i] = tensor_zeros(a, 4, (int64_t[]){B, H, T, D});
        tensor_fill_normal(in[i], &r, 0, 1);
        tensor_set_requires_grad(in[i], a);
    }
    int64_t n = B * H * T * D;
    float *dout = malloc(sizeof(float) * (size_t)n), *want[4], *got[4];
    for (int64_t i = 0; i < n; i++) dout[i] = rng_normal(&r);
    for (int pass = 0; pass < 2; pass++) {
        float **res = pass == 0 ? want : got;
        Graph *g = graph_create(0);
        for (int i = 0; i < 3; i++) tensor_zero_grad(in[i]);
        Tensor *o = pass == 0 ? tensor_attention(g, in[0], in[1], in[2], causal)
                              : tf_attention_composed(g, in[0], in[1], in[2], causal);
        ck_assert_int_eq(tensor_numel(o), n);
        res[0] = malloc(sizeof(float) * (size_t)n);
        tensor_copy_to(o, res[0]);
        if (o->requires_grad) graph_backward_with(g, o, dout);
        for (int i = 0; i < 3; i++) {
            res[1 + i] = calloc((size_t)n, sizeof(float));
            memcpy(res[1 + i], in[i]->grad, sizeof(float) * (size_t)n);
        }
        graph_free(g);
    }
    const char *what[4] = {"out", "dq", "dk", "dv"};
    for (int k = 0; k < 4; k++) {
        ck_assert_msg(check_close(got[k], want[k], n, 1e-5, 1e-4, what[k]), "%s differs", what[k]);
        free(want[k]), free(got[k]);
    }
    free(dout);
    arena_free(a);
}

START_TEST(test_attention_causal_matches_fused) { attention_case(true, 2, 2, 5, 4); }
END_TEST

START_TEST(test_attention_full_matches_fused) { attention_case(false, 1, 3, 4, 8); }
END_TEST

START_TEST(test_attention_first_query_sees_only_itself)
{
    // With a causal mask, query 0 attends to key 0 alone: its output is exactly v[0].
    Graph *g = graph_create(0);
    float q[8] = {1, 2, 3, 4, 5, 6, 7, 8}, k[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    float v[8] = {0.5f, -1, 2, 3, 9, 9, 9, 9};
    Tensor *Q = tensor_from(graph_arena(g), 4, (int64_t[]){1, 1, 2, 4}, q);
    Tensor *K = tensor_from(graph_arena(g), 4, (int64_t[]){1, 1, 2, 4}, k);
    Tensor *V = tensor_from(graph_arena(g), 4, (int64_t[]){1, 1, 2, 4}, v);
    Tensor *o = tf_attention_composed(g, Q, K, V, true);
    float got[8];
    tensor_copy_to(o, got);
    ck_assert(check_close(got, v, 4, 1e-6, 0, "row 0"));
    graph_free(g);
}
END_TEST

// ---------------------------------------------------------------------------
// w03.softmax_backward: tensor_softmax's gradient against finite differences
// ---------------------------------------------------------------------------

// L = sum_k r_k softmax(x)_k over the last dim, computed here in double.
static double softmax_dot(const float *x, const float *r, int n)
{
    double m = x[0], s = 0, d = 0;
    for (int i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int i = 0; i < n; i++) s += exp((double)x[i] - m);
    for (int i = 0; i < n; i++) d += r[i] * exp((double)x[i] - m) / s;
    return d;
}

static void softmax_grad_case(int dim, int64_t rows, int64_t n)
{
    Arena *a = arena_create(0);
    Rng r;
    rng_init(&r, 5);
    int64_t shape[2] = {dim == 1 ? rows : n, dim == 1 ? n : rows};
    Tensor *x = tensor_zeros(a, 2, shape);
    tensor_fill_normal(x, &r, 0, 2);
    tensor_set_requires_grad(x, a);
    float *dout = malloc(sizeof(float) * (size_t)(rows * n));
    for (int64_t i = 0; i < rows * n; i++) dout[i] = rng_normal(&r);
    Graph *g = graph_create(0);
    Tensor *y = tensor_softmax(g, x, dim);
    graph_backward_with(g, y, dout);
    // Each row (a column when dim = 0) independently, by central differences.
    for (int64_t row = 0; row < rows; row++) {
        float xs[16], rs[16];
        for (int64_t k = 0; k < n; k++) {
            int64_t at = dim == 1 ? row * n + k : k * rows + row;
            xs[k] = x->data[at], rs[k] = dout[at];
        }
        for (int64_t k = 0; k < n; k++) {
            int64_t at = dim == 1 ? row * n + k : k * rows + row;
            float h = 1e-3f, keep = xs[k];
            xs[k] = keep + h;
            double lp = softmax_dot(xs, rs, (int)n);
            xs[k] = keep - h;
            double lm = softmax_dot(xs, rs, (int)n);
            xs[k] = keep;
            double num = (lp - lm) / (2.0 * h);
            ck_assert_msg(fabs(x->grad[at] - num) < 1e-3 + 1e-3 * fabs(num),
                          "row %lld, element %lld: grad %g, finite differences %g", (long long)row,
                          (long long)k, x->grad[at], num);
        }
    }
    graph_free(g);
    free(dout);
    arena_free(a);
}

START_TEST(test_softmax_backward_last_dim) { softmax_grad_case(1, 3, 6); }
END_TEST

START_TEST(test_softmax_backward_first_dim) { softmax_grad_case(0, 4, 5); }
END_TEST

START_TEST(test_softmax_backward_one_hot_upstream)
{
    // With upstream gradient e_0 the backward is the first row of the Jacobian:
    // dx_j = y_0 ([j == 0] - y_j), computed here from a softmax done in double. The gradient
    // must be accumulated: x->grad starts at 7 everywhere.
    Arena *a = arena_create(0);
    float xv[4] = {1, -2, 0.5f, 3};
    Tensor *x = tensor_from(a, 2, (int64_t[]){1, 4}, xv);
    tensor_set_requires_grad(x, a);
    for (int i = 0; i < 4; i++) x->grad[i] = 7.0f;
    Graph *g = graph_create(0);
    graph_backward_with(g, tensor_softmax(g, x, -1), (float[]){1, 0, 0, 0});
    double y[4], s = 0;
    for (int i = 0; i < 4; i++) s += exp(xv[i]);
    for (int i = 0; i < 4; i++) y[i] = exp(xv[i]) / s;
    for (int j = 0; j < 4; j++) {
        double want = 7.0 + y[0] * ((j == 0) - y[j]);
        ck_assert_msg(fabs(x->grad[j] - want) < 1e-5, "dx[%d] = %g, want %g", j, x->grad[j], want);
    }
    graph_free(g);
    arena_free(a);
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
    tc = tcase_create("w03.bpe_merge");
    tcase_add_test(tc, test_bpe_merge_replaces_every_pair);
    tcase_add_test(tc, test_bpe_merge_left_to_right_no_overlap);
    tcase_add_test(tc, test_bpe_merge_matches_string_replace);
    suite_add_tcase(s, tc);
    tc = tcase_create("w03.attention_forward");
    tcase_add_test(tc, test_attention_causal_matches_fused);
    tcase_add_test(tc, test_attention_full_matches_fused);
    tcase_add_test(tc, test_attention_first_query_sees_only_itself);
    suite_add_tcase(s, tc);
    tc = tcase_create("w03.softmax_backward");
    tcase_add_test(tc, test_softmax_backward_last_dim);
    tcase_add_test(tc, test_softmax_backward_first_dim);
    tcase_add_test(tc, test_softmax_backward_one_hot_upstream);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return grade_main(week03_suite(), argc, argv); }
