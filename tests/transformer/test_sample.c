/*
 * test_sample.c: transformer/sample.c: greedy = argmax, the top-k/top-p filter on hand-made
 * distributions, seeded reproducibility, the empirical distribution of draws against the
 * filtered probabilities (chi-square), and tf_generate's stop conditions.
 */
#include "core/rng.h"
#include "nn/params.h"
#include "tests/test_util.h"
#include "transformer/generate.h"
#include "transformer/model.h"
#include "transformer/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_sample_greedy_is_argmax)
{
    Rng r;
    rng_init(&r, 1);
    TfSampler sc = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f};
    for (int trial = 0; trial < 50; trial++) {
        float lg[40];
        int best = 0;
        for (int i = 0; i < 40; i++) {
            lg[i] = rng_normal(&r);
            if (lg[i] > lg[best]) best = i;
        }
        ck_assert_int_eq(tf_sample(lg, 40, &sc, &r), best);
    }
    float tie[4] = {1, 3, 3, 2};
    ck_assert_int_eq(tf_sample(tie, 4, &sc, &r), 1); // ties: the lowest id
}
END_TEST

START_TEST(test_sample_filter_top_k_and_top_p)
{
    // Probabilities of ids 0..4; sorted: id3 .4, id1 .3, id0 .15, id4 .1, id2 .05.
    const float p0[5] = {0.15f, 0.3f, 0.05f, 0.4f, 0.1f};
    float p[5];
    int32_t ids[5];
    memcpy(p, p0, sizeof p);
    for (int i = 0; i < 5; i++) ids[i] = i;
    int n = tf_sample_filter(p, ids, 5, 1, 1.0f); // top-1: only the max, probability 1
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(ids[0], 3);
    ck_assert_float_eq_tol(p[0], 1.0f, 1e-6);

    memcpy(p, p0, sizeof p);
    for (int i = 0; i < 5; i++) ids[i] = i;
    n = tf_sample_filter(p, ids, 5, 0, 0.8f); // .4 + .3 = .7 < .8 <= .85: three kept
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ids[0], 3);
    ck_assert_int_eq(ids[1], 1);
    ck_assert_int_eq(ids[2], 0);
    ck_assert_float_eq_tol(p[0], 0.4f / 0.85f, 1e-6);
    ck_assert_float_eq_tol(p[2], 0.15f / 0.85f, 1e-6);

    // top-k 4 first (mass .95), then top-p .75 of that: .4/.95 + .3/.95 = .737 < .75.
    memcpy(p, p0, sizeof p);
    for (int i = 0; i < 5; i++) ids[i] = i;
    n = tf_sample_filter(p, ids, 5, 4, 0.75f);
    ck_assert_int_eq(n, 3);

    // Ties are ordered by the lower id.
    float q[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    int32_t qi[4] = {3, 0, 2, 1};
    n = tf_sample_filter(q, qi, 4, 2, 1.0f);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(qi[0], 0);
    ck_assert_int_eq(qi[1], 1);
    ck_assert_float_eq_tol(q[0] + q[1], 1.0f, 1e-6);
}
END_TEST

// The draws follow the filtered, renormalised distribution, computed here from scratch.
START_TEST(test_sample_distribution_chi_square)
{
    enum { V = 12, N = 40000 };
    float lg[V];
    Rng r;
    rng_init(&r, 9);
    for (int i = 0; i < V; i++) lg[i] = 0.5f * rng_normal(&r);
    TfSampler sc = {.temperature = 0.7f, .top_k = 8, .top_p = 0.9f};
    // Expected: softmax(lg / 0.7), sorted, first 8, renormalise, nucleus 0.9, renormalise.
    double p[V];
    int order[V];
    double z = 0;
    for (int i = 0; i < V; i++) z += p[i] = exp(lg[i] / 0.7);
    for (int i = 0; i < V; i++) p[i] /= z, order[i] = i;
    for (int i = 0; i < V; i++) // selection sort, descending
        for (int j = i + 1; j < V; j++)
            if (p[order[j]] > p[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    double mass = 0, cum = 0;
    for (int i = 0; i < 8; i++) mass += p[order[i]];
    int keep = 8;
    for (int i = 0; i < 8; i++) {
        cum += p[order[i]] / mass;
        if (cum >= 0.9) {
            keep = i + 1;
            break;
        }
    }
    double want[V] = {0}, kept = 0;
    for (int i = 0; i < keep; i++) kept += p[order[i]];
    for (int i = 0; i < keep; i++) want[order[i]] = p[order[i]] / kept;

    int count[V] = {0};
    Rng d;
    rng_init(&d, 77);
    for (int s = 0; s < N; s++) count[tf_sample(lg, V, &sc, &d)]++;
    double chi2 = 0;
    for (int i = 0; i < V; i++) {
        if (want[i] == 0) {
            ck_assert_msg(count[i] == 0, "token %d is filtered out but was drawn %d times", i,
                          count[i]);
            continue;
        }
        double e = want[i] * N;
        chi2 += (count[i] - e) * (count[i] - e) / e;
    }
    // keep - 1 degrees of freedom (<= 7): P(chi2 > 30) < 1e-4.
    ck_assert_msg(chi2 < 30.0, "chi-square %g over %d candidates", chi2, keep);
    ck_assert_int_ge(keep, 3); // a real draw, and both cuts matter
    ck_assert_int_lt(keep, 8);
}
END_TEST

// ---------------------------------------------------------------------------
// tf_generate
// ---------------------------------------------------------------------------

static TfModel *small_model(void)
{
    TfConfig c = tf_config_default(TF_LLAMA);
    c.vocab = 23;
    c.ctx = 64;
    c.d_model = 16;
    c.n_layer = 2;
    c.n_head = 2;
    c.n_kv_head = 1;
    c.d_ff = 24;
    TfModel *m = tf_model_create(&c, 3);
    Rng r;
    rng_init(&r, 4);
    for (int i = 0; i < nn_params_count(m->params); i++) {
        const NnParam *p = nn_params_at(m->params, i);
        if (!strstr(p->name, "norm")) tensor_fill_normal(p->t, &r, 0.0f, 0.5f);
    }
    return m;
}

START_TEST(test_generate_seeded_and_greedy)
{
    TfModel *m = small_model();
    TfInfer *s = tf_infer_create(m, 64);
    const int32_t prompt[3] = {1, 2, 3};
    int32_t a[20], b[20], c[20];
    int na, nb, nc;
    TfSampler sc = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 5};
    ck_assert_int_eq(tf_generate(s, prompt, 3, 20, &sc, NULL, NULL, 0, a, &na), ERR_OK);
    ck_assert_int_eq(tf_generate(s, prompt, 3, 20, &sc, NULL, NULL, 0, b, &nb), ERR_OK);
    ck_assert_int_eq(na, 20);
    ck_assert_int_eq(nb, 20);
    ck_assert_mem_eq(a, b, sizeof a); // same seed, same tokens
    sc.seed = 6;
    ck_assert_int_eq(tf_generate(s, prompt, 3, 20, &sc, NULL, NULL, 0, c, &nc), ERR_OK);
    ck_assert(memcmp(a, c, sizeof a) != 0); // another seed, another sample (23^20 to 1)

    // Greedy: each token is the argmax of the graph-free forward of everything before it.
    sc.temperature = 0.0f;
    ck_assert_int_eq(tf_generate(s, prompt, 3, 10, &sc, NULL, NULL, 0, a, &na), ERR_OK);
    ck_assert_int_eq(na, 10);
    int32_t seq[13];
    memcpy(seq, prompt, sizeof prompt);
    memcpy(seq + 3, a, 10 * sizeof(int32_t));
    TfInfer *s2 = tf_infer_create(m, 64);
    for (int i = 0; i < 10; i++) {
        const float *lg = tf_infer_forward(s2, seq, 3 + i, 0); // fresh prefill each time
        ck_assert_int_eq(a[i], tf_sample_argmax(lg, m->cfg.vocab));
    }
    tf_infer_free(s2);
    tf_infer_free(s);
    tf_model_free(m);
}
END_TEST

START_TEST(test_generate_stops)
{
    TfModel *m = small_model();
    TfInfer *s = tf_infer_create(m, 64);
    const int32_t prompt[2] = {4, 7};
    TfSampler sc = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f};
    int32_t full[30], out[30];
    int nf, n;
    ck_assert_int_eq(tf_generate(s, prompt, 2, 30, &sc, NULL, NULL, 0, full, &nf), ERR_OK);
    ck_assert_int_eq(nf, 30);
    // Two stop sequences taken from the free run (tokens 5..6 and 8..10): the output ends at
    // the first place where the run so far ends with either, without the stop tokens.
    const int32_t stop_a[2] = {full[5], full[6]}, stop_b[3] = {full[8], full[9], full[10]};
    const int32_t *stops[2] = {stop_a, stop_b};
    int lens[2] = {2, 3}, want = -1;
    for (int e = 1; e <= 30 && want < 0; e++) {
        if (e >= 2 && memcmp(full + e - 2, stop_a, sizeof stop_a) == 0) want = e - 2;
        else if (e >= 3 && memcmp(full + e - 3, stop_b, sizeof stop_b) == 0) want = e - 3;
    }
    ck_assert_int_ge(want, 0);
    ck_assert_int_eq(tf_generate(s, prompt, 2, 30, &sc, stops, lens, 2, out, &n), ERR_OK);
    ck_assert_int_eq(n, want);
    ck_assert_mem_eq(out, full, (size_t)n * sizeof(int32_t));
    // A one-token stop: the output is everything before its first occurrence.
    const int32_t one[1] = {full[3]};
    int k = 0;
    while (full[k] != one[0]) k++;
    const int32_t *stops1[1] = {one};
    int lens1[1] = {1};
    ck_assert_int_eq(tf_generate(s, prompt, 2, 30, &sc, stops1, lens1, 1, out, &n), ERR_OK);
    ck_assert_int_eq(n, k);
    // max_new.
    ck_assert_int_eq(tf_generate(s, prompt, 2, 4, &sc, NULL, NULL, 0, out, &n), ERR_OK);
    ck_assert_int_eq(n, 4);
    ck_assert_mem_eq(out, full, 4 * sizeof(int32_t));
    tf_infer_free(s);

    // A full cache: max_T 6 holds the prompt and 4 fed-back tokens; the 5th sampled token
    // needs no room, so 5 come out.
    s = tf_infer_create(m, 6);
    ck_assert_int_eq(tf_generate(s, prompt, 2, 30, &sc, NULL, NULL, 0, out, &n), ERR_OK);
    ck_assert_int_eq(n, 5);
    ck_assert_mem_eq(out, full, 5 * sizeof(int32_t));
    // A prompt that does not fit, or empty: ERR_INVALID naming the sizes.
    int32_t longp[7] = {0};
    test_expect_err(tf_generate(s, longp, 7, 3, &sc, NULL, NULL, 0, out, &n), ERR_INVALID,
                    (const char *const[]){"prompt of 7", "hint:", NULL});
    test_expect_err(tf_generate(s, longp, 0, 3, &sc, NULL, NULL, 0, out, &n), ERR_INVALID,
                    (const char *const[]){"prompt of 0", NULL});
    longp[1] = 99;
    test_expect_err(tf_generate(s, longp, 2, 3, &sc, NULL, NULL, 0, out, &n), ERR_INVALID,
                    (const char *const[]){"vocabulary", NULL});
    tf_infer_free(s);
    tf_model_free(m);
}
END_TEST

static Suite *sample_suite(void)
{
    Suite *s = suite_create("sample");
    TCase *tc = tcase_create("sample");
    tcase_add_test(tc, test_sample_greedy_is_argmax);
    tcase_add_test(tc, test_sample_filter_top_k_and_top_p);
    tcase_add_test(tc, test_sample_distribution_chi_square);
    suite_add_tcase(s, tc);
    tc = tcase_create("generate");
    tcase_add_test(tc, test_generate_seeded_and_greedy);
    tcase_add_test(tc, test_generate_stops);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(sample_suite()); }
