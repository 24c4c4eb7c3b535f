/*
 * test_rerank.c: MaxSim against a double-precision recomputation, the features' definitions,
 * and the logistic fit checked by optimality (the regularised gradient vanishes and nearby
 * parameters score a higher loss), not against stored numbers.
 */
#include "core/err.h"
#include "core/rng.h"
#include "rag/rerank.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *TEXT = "the kernel schedules processes and the kernel manages memory "
                          "the network stack sends packets over the network to a host "
                          "a compiler translates source code into machine code";

static NnW2v make_w2v(void)
{
    NnW2v m;
    ck_assert_int_eq(nn_w2v_init(&m, TEXT, 0, 1, 6, 7), ERR_OK);
    for (int64_t i = 0; i < m.vocab * m.dim; i++) m.emb[i] = (float)sin(0.37 * (double)i);
    nn_w2v_normalize(&m);
    return m;
}

static double ref_maxsim(const NnW2v *m, double a, const char *const *q, int nq,
                         const char *const *p, int np)
{
    double total = 0, num = 0, den = 0;
    for (int64_t i = 0; i < m->vocab; i++) total += (double)m->counts[i];
    for (int i = 0; i < nq; i++) {
        int64_t qi = nn_w2v_find(m, q[i]);
        if (qi < 0) continue;
        double best = -2;
        for (int j = 0; j < np; j++) {
            int64_t pj = nn_w2v_find(m, p[j]);
            if (pj < 0) continue;
            double d = 0;
            for (int k = 0; k < m->dim; k++)
                d += (double)m->unit[qi * m->dim + k] * m->unit[pj * m->dim + k];
            best = fmax(best, d);
        }
        double s = a / (a + (double)m->counts[qi] / total);
        num += s * best, den += s;
    }
    return num / den;
}

START_TEST(test_maxsim_formula)
{
    NnW2v m = make_w2v();
    const char *q = "kernel packets, zebra";
    const char *p = "The compiler sends memory to the host";
    RagEmbedder e = rag_embedder_w2v(&m, 1e-2f);
    float got = rag_maxsim(&e, q, (int64_t)strlen(q), p, (int64_t)strlen(p));
    const char *qw[] = {"kernel", "packets", "zebra"};
    const char *pw[] = {"the", "compiler", "sends", "memory", "to", "the", "host"};
    ck_assert_double_eq_tol(got, ref_maxsim(&m, 1e-2, qw, 3, pw, 7), 1e-5);
    // A passage containing every query word scores exactly 1.
    const char *p2 = "packets and kernel";
    ck_assert_float_eq_tol(rag_maxsim(&e, q, (int64_t)strlen(q), p2, 18), 1.0f, 1e-5);
    // No known word: 0.
    ck_assert_float_eq(rag_maxsim(&e, "zebra", 5, p, (int64_t)strlen(p)), 0.0f);
    rag_embedder_deinit(&e);
    nn_w2v_deinit(&m);
}
END_TEST

START_TEST(test_features)
{
    NnW2v m = make_w2v();
    const char *q = "kernel memory zebra";
    const char *p = "the kernel schedules processes";
    float f[RAG_RERANK_NF];
    RagEmbedder e = rag_embedder_w2v(&m, 0.0f);
    rag_rerank_features(&e, q, (int64_t)strlen(q), p, (int64_t)strlen(p), 0.5f, 0.25f, 0.02f, f);
    ck_assert_float_eq(f[0], 0.5f);
    ck_assert_float_eq(f[1], 0.25f);
    ck_assert_float_eq_tol(f[2], 1.2f, 1e-6);
    // Unweighted overlap: "kernel" of the three words is present.
    ck_assert_float_eq_tol(f[4], 1.0f / 3.0f, 1e-6);
    ck_assert_float_eq_tol(f[5], (float)log1p(4.0), 1e-6);
    ck_assert_str_eq(rag_rerank_feature_name(3), "maxsim");
    // The overlap on its own is the same feature.
    ck_assert_float_eq(rag_word_overlap(&e, q, (int64_t)strlen(q), p, (int64_t)strlen(p)), f[4]);
    rag_embedder_deinit(&e);
    nn_w2v_deinit(&m);
}
END_TEST

// The regularised mean log-loss at (w, b) on raw features (standardised inside).
static double loss_at(const RagRerankModel *mdl, const float *X, const uint8_t *y, int64_t n,
                      double l2)
{
    double L = 0;
    for (int64_t i = 0; i < n; i++) {
        double t = rag_rerank_score(mdl, X + i * RAG_RERANK_NF);
        L += log1p(exp(-fabs(t))) + fmax(t, 0) - (y[i] ? t : 0);
    }
    double r = 0;
    for (int k = 0; k < RAG_RERANK_NF; k++) r += mdl->w[k] * mdl->w[k];
    return L / (double)n + 0.5 * l2 * r;
}

START_TEST(test_logistic_fit_is_optimal)
{
    enum { N = 600 };
    static float X[N * RAG_RERANK_NF];
    static uint8_t y[N];
    Rng r;
    rng_init(&r, 5);
    for (int i = 0; i < N; i++) {
        double t = -0.5;
        for (int k = 0; k < RAG_RERANK_NF; k++) {
            X[i * RAG_RERANK_NF + k] = (float)(rng_normal(&r) * (k + 1) + k);
            t += (k % 2 ? -0.8 : 1.1) * (X[i * RAG_RERANK_NF + k] - k) / (k + 1);
        }
        y[i] = rng_uniform(&r) < 1.0 / (1.0 + exp(-t));
    }
    RagRerankModel m;
    double l2 = 1e-3;
    ck_assert_int_eq(rag_rerank_train(X, y, N, l2, &m), ERR_OK);
    double L0 = loss_at(&m, X, y, N, l2);
    ck_assert_double_lt(L0, log(2.0));
    // Every coordinate nudged either way increases the loss: a minimum.
    for (int k = 0; k <= RAG_RERANK_NF; k++) {
        for (int s = -1; s <= 1; s += 2) {
            RagRerankModel m2 = m;
            if (k < RAG_RERANK_NF) m2.w[k] += s * 1e-3;
            else m2.b += s * 1e-3;
            ck_assert_double_gt(loss_at(&m2, X, y, N, l2), L0);
        }
    }
    // The signs of the generating weights are recovered.
    for (int k = 0; k < RAG_RERANK_NF; k++) ck_assert(k % 2 ? m.w[k] < 0 : m.w[k] > 0);
    // One class only: a clear error.
    memset(y, 1, sizeof y);
    ck_assert_int_eq(rag_rerank_train(X, y, N, l2, &m), ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err_msg(), "both classes"));
}
END_TEST

START_TEST(test_save_load)
{
    RagRerankModel m = {.b = -1.25, .iters = 7, .loss = 0.5};
    for (int k = 0; k < RAG_RERANK_NF; k++)
        m.w[k] = 0.1 * (k + 1) - 0.33, m.mean[k] = k * 0.7, m.std[k] = 1.0 + k;
    const char *path = test_tmp_path("rerank.json");
    ck_assert_int_eq(rag_rerank_save(&m, path), ERR_OK);
    RagRerankModel back;
    ck_assert_int_eq(rag_rerank_load(path, &back), ERR_OK);
    float f[RAG_RERANK_NF] = {0.5f, 0.2f, 1.0f, 0.7f, 0.3f, 3.0f};
    ck_assert(rag_rerank_score(&back, f) == rag_rerank_score(&m, f));
    ck_assert(back.b == m.b && back.iters == 7);
    // Bad files: not JSON, another format, a renamed feature, a zero std.
    const char *bad[] = {
        "{nope", "{\"format\": \"x\"}",
        "{\"format\": \"engine-rerank-1\", \"features\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]}",
    };
    const char *needles[][3] = {{"not JSON", NULL}, {"format", NULL}, {"features", NULL}};
    for (int i = 0; i < 3; i++) {
        const char *p = test_write_file("bad.json", bad[i], strlen(bad[i]));
        test_expect_err(rag_rerank_load(p, &back), ERR_FORMAT, needles[i]);
    }
    m.std[2] = 0;
    ck_assert_int_eq(rag_rerank_save(&m, path), ERR_OK);
    test_expect_err(rag_rerank_load(path, &back), ERR_FORMAT, (const char *[]){"std", NULL});
    test_expect_err(rag_rerank_load(test_tmp_path("none.json"), &back), ERR_IO,
                    (const char *[]){"none.json", NULL});
}
END_TEST

static Suite *rerank_suite(void)
{
    Suite *s = suite_create("rerank");
    TCase *tc = tcase_create("rerank");
    tcase_add_test(tc, test_maxsim_formula);
    tcase_add_test(tc, test_features);
    tcase_add_test(tc, test_logistic_fit_is_optimal);
    tcase_add_test(tc, test_save_load);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(rerank_suite()); }
