/*
 * test_flat.c: exact search (rag/flat.h) against a brute force computed here in double.
 *
 * The brute force scores every row with the metric's definition (the L2 distance summed as
 * (q_i - x_i)^2, not through the sgemm expansion flat.c uses), sorts, and the index must
 * agree: same scores to float tolerance, and the same ids except where two true scores are
 * closer than float rounding can separate.
 */
#include "core/err.h"
#include "core/rng.h"
#include "rag/flat.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Random rows with a shared offset so L2 is not dominated by the norms alone.
static float *random_rows(Rng *r, int64_t n, int64_t d)
{
    float *x = malloc((size_t)n * (size_t)d * sizeof *x);
    for (int64_t i = 0; i < n * d; i++) x[i] = rng_normal(r) + 0.5f;
    return x;
}

static double true_score(RagMetric m, const float *q, const float *x, int64_t d)
{
    double s = 0, nq = 0, nx = 0;
    for (int64_t i = 0; i < d; i++) {
        if (m == RAG_METRIC_L2) {
            double t = (double)q[i] - x[i];
            s += t * t;
        } else {
            s += (double)q[i] * x[i];
        }
        nq += (double)q[i] * q[i];
        nx += (double)x[i] * x[i];
    }
    if (m == RAG_METRIC_L2) return -s;
    if (m == RAG_METRIC_COSINE) return s / (sqrt(nq) * sqrt(nx));
    return s;
}

typedef struct {
    double s;
    int64_t id;
} DHit;

static int dhit_cmp(const void *pa, const void *pb)
{
    const DHit *a = pa, *b = pb;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

// Checks hits[0..k) for query q against the double brute force over x (n, d).
static void expect_exact(RagMetric m, const float *q, const float *x, int64_t n, int64_t d,
                         const RagHit *hits, int64_t k)
{
    DHit *all = malloc((size_t)n * sizeof *all);
    for (int64_t i = 0; i < n; i++) all[i] = (DHit){true_score(m, q, x + i * d, d), i};
    qsort(all, (size_t)n, sizeof *all, dhit_cmp);
    double scale = fabs(all[0].s) + 1.0;
    double tol = 1e-5 * scale;
    for (int64_t j = 0; j < k; j++) {
        // The j-th score equals the true j-th best score...
        ck_assert_msg(fabs(hits[j].score - all[j].s) <= tol, "%s rank %lld: score %.9g, want %.9g",
                      rag_metric_name(m), (long long)j, hits[j].score, all[j].s);
        // ...and the id is the true one, or a row whose true score ties it within rounding.
        double mine = true_score(m, q, x + hits[j].id * d, d);
        ck_assert_msg(hits[j].id == all[j].id || fabs(mine - all[j].s) <= tol,
                      "%s rank %lld: id %lld (true score %.9g), want id %lld (%.9g)",
                      rag_metric_name(m), (long long)j, (long long)hits[j].id, mine,
                      (long long)all[j].id, all[j].s);
        if (j > 0) ck_assert(hits[j].score <= hits[j - 1].score);
        for (int64_t i = 0; i < j; i++) ck_assert(hits[i].id != hits[j].id);
    }
    free(all);
}

static void run_metric(RagMetric m)
{
    // n = 2500 spans two row blocks of flat.c (1024) and a partial one; nq = 300 spans a full
    // query block (256) and a partial one.
    const int64_t n = 2500, d = 37, nq = 300, k = 10;
    Rng r;
    rng_init(&r, 100 + (uint64_t)m);
    float *x = random_rows(&r, n, d), *q = random_rows(&r, nq, d);
    RagFlat *f = rag_flat_create(d, m);
    ck_assert_int_eq(rag_flat_add(f, x, 1000), 0); // incremental: two adds
    ck_assert_int_eq(rag_flat_add(f, x + 1000 * d, n - 1000), 1000);
    ck_assert_int_eq(rag_flat_count(f), n);
    RagHit *batch = malloc((size_t)(nq * k) * sizeof *batch), one[10];
    ck_assert_int_eq(rag_flat_search_batch(f, q, nq, k, batch), k);
    for (int64_t i = 0; i < nq; i++) {
        expect_exact(m, q + i * d, x, n, d, batch + i * k, k);
        // The one-query (sgemv) path gives the same ranking.
        ck_assert_int_eq(rag_flat_search(f, q + i * d, k, one), k);
        for (int64_t j = 0; j < k; j++) {
            ck_assert_int_eq(one[j].id, batch[i * k + j].id);
            ck_assert(fabsf(one[j].score - batch[i * k + j].score) <=
                      1e-5f * (fabsf(one[j].score) + 1));
        }
    }
    free(batch);
    free(x);
    free(q);
    rag_flat_free(f);
}

START_TEST(test_flat_ip_matches_brute_force) { run_metric(RAG_METRIC_IP); }
END_TEST

START_TEST(test_flat_cosine_matches_brute_force) { run_metric(RAG_METRIC_COSINE); }
END_TEST

START_TEST(test_flat_l2_matches_brute_force) { run_metric(RAG_METRIC_L2); }
END_TEST

START_TEST(test_flat_cosine_rows_are_unit)
{
    float x[6] = {3, 4, 0, 0, 0, 0}; // the second row is zero: it stays zero
    RagFlat *f = rag_flat_create(3, RAG_METRIC_COSINE);
    rag_flat_add(f, x, 2);
    const float *r0 = rag_flat_row(f, 0), *r1 = rag_flat_row(f, 1);
    ck_assert_float_eq_tol(r0[0], 0.6f, 1e-6);
    ck_assert_float_eq_tol(r0[1], 0.8f, 1e-6);
    ck_assert_float_eq(r1[0], 0.0f);
    RagHit h[2];
    float q[3] = {0, 10, 0};
    ck_assert_int_eq(rag_flat_search(f, q, 2, h), 2);
    ck_assert_int_eq(h[0].id, 0);
    ck_assert_float_eq_tol(h[0].score, 0.8f, 1e-6);
    ck_assert_int_eq(h[1].id, 1);
    ck_assert_float_eq(h[1].score, 0.0f);
    rag_flat_free(f);
}
END_TEST

START_TEST(test_flat_ties_by_ascending_id_and_k_over_n)
{
    // Five identical rows: every score ties, so the order must be ids 0, 1, 2, ...
    float x[5 * 4];
    for (int i = 0; i < 20; i++) x[i] = (float)(i % 4) - 1.5f;
    RagFlat *f = rag_flat_create(4, RAG_METRIC_L2);
    rag_flat_add(f, x, 5);
    float q[4] = {1, 2, 3, 4};
    RagHit h[8], b[8];
    ck_assert_int_eq(rag_flat_search(f, q, 3, h), 3);
    for (int j = 0; j < 3; j++) ck_assert_int_eq(h[j].id, j);
    // k > n: n hits, and the batch fills the remaining slots with id -1.
    ck_assert_int_eq(rag_flat_search_batch(f, q, 1, 8, b), 5);
    for (int j = 0; j < 5; j++) ck_assert_int_eq(b[j].id, j);
    for (int j = 5; j < 8; j++) {
        ck_assert_int_eq(b[j].id, -1);
        ck_assert(isinf(b[j].score) && b[j].score < 0);
    }
    rag_flat_free(f);
}
END_TEST

static Suite *flat_suite(void)
{
    Suite *s = suite_create("rag_flat");
    TCase *tc = tcase_create("flat");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_flat_ip_matches_brute_force);
    tcase_add_test(tc, test_flat_cosine_matches_brute_force);
    tcase_add_test(tc, test_flat_l2_matches_brute_force);
    tcase_add_test(tc, test_flat_cosine_rows_are_unit);
    tcase_add_test(tc, test_flat_ties_by_ascending_id_and_k_over_n);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(flat_suite()); }
