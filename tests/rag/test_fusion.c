/*
 * test_fusion.c: reciprocal rank fusion (rag/fusion.h) against sums worked out in the test.
 */
#include "rag/fusion.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdlib.h>

START_TEST(test_rrf_two_lists_by_hand)
{
    // a = [5, 3, 9], b = [3, 7]. 3: 1/62 + 1/61; 5: 1/61; 7: 1/62; 9: 1/63.
    const RagHit a[3] = {{5, 9.0f}, {3, 8.0f}, {9, 1.0f}}, b[2] = {{3, 0.9f}, {7, 0.5f}};
    const RagHit *lists[2] = {a, b};
    const int64_t lens[2] = {3, 2};
    RagHit out[10];
    int64_t n = rag_rrf(lists, lens, NULL, 2, 60.0, 10, out);
    ck_assert_int_eq(n, 4);
    const int64_t want_id[4] = {3, 5, 7, 9};
    const double want[4] = {1.0 / 62 + 1.0 / 61, 1.0 / 61, 1.0 / 62, 1.0 / 63};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(out[i].id, want_id[i]);
        ck_assert_float_eq_tol(out[i].score, want[i], 1e-8);
    }
    // top_k cuts; k changes the damping.
    ck_assert_int_eq(rag_rrf(lists, lens, NULL, 2, 60.0, 2, out), 2);
    ck_assert_int_eq(out[1].id, 5);
    n = rag_rrf(lists, lens, NULL, 2, 1.0, 10, out);
    ck_assert_float_eq_tol(out[0].score, 1.0 / 3 + 1.0 / 2, 1e-7);
    ck_assert_int_eq(out[0].id, 3);
}
END_TEST

START_TEST(test_rrf_weights_and_ties)
{
    // Two lists that mirror each other: equal weights tie every pair, broken by ascending id;
    // weighting list b by 2 puts b's order first.
    const RagHit a[2] = {{40, 1.0f}, {20, 0.5f}}, b[2] = {{20, 1.0f}, {40, 0.5f}};
    const RagHit *lists[2] = {a, b};
    const int64_t lens[2] = {2, 2};
    RagHit out[2];
    ck_assert_int_eq(rag_rrf(lists, lens, NULL, 2, 60.0, 2, out), 2);
    ck_assert_int_eq(out[0].id, 20);
    ck_assert_int_eq(out[1].id, 40);
    ck_assert_float_eq(out[0].score, out[1].score);
    const float w[2] = {1.0f, 2.0f};
    rag_rrf(lists, lens, w, 2, 60.0, 2, out);
    ck_assert_int_eq(out[0].id, 20);
    ck_assert_float_eq_tol(out[0].score, 1.0 / 62 + 2.0 / 61, 1e-8);
    ck_assert_float_eq_tol(out[1].score, 1.0 / 61 + 2.0 / 62, 1e-8);
    const float w0[2] = {1.0f, 0.0f}; // weight 0 silences a list
    rag_rrf(lists, lens, w0, 2, 60.0, 2, out);
    ck_assert_int_eq(out[0].id, 40);
}
END_TEST

START_TEST(test_rrf_repeats_empty_and_order_independence)
{
    // A repeated id counts once, at its best position; empty lists add nothing; the result
    // does not depend on the order of the lists.
    const RagHit a[3] = {{1, 3.0f}, {2, 2.0f}, {1, 1.0f}}, e[1] = {{0, 0.0f}};
    const RagHit c[2] = {{2, 5.0f}, {8, 4.0f}};
    const RagHit *l1[3] = {a, e, c}, *l2[3] = {c, e, a};
    const int64_t n1[3] = {3, 0, 2}, n2[3] = {2, 0, 3};
    RagHit o1[5], o2[5];
    int64_t m1 = rag_rrf(l1, n1, NULL, 3, 60.0, 5, o1), m2 = rag_rrf(l2, n2, NULL, 3, 60.0, 5, o2);
    ck_assert_int_eq(m1, 3);
    ck_assert_int_eq(m2, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(o1[i].id, o2[i].id);
        ck_assert_float_eq(o1[i].score, o2[i].score);
    }
    ck_assert_int_eq(o1[0].id, 2); // 1/62 + 1/61
    ck_assert_float_eq_tol(o1[1].score, 1.0 / 61, 1e-8); // id 1, once
    ck_assert_int_eq(rag_rrf(l1, n1, NULL, 3, 60.0, 0, o1), 0);
    ck_assert_int_eq(rag_rrf(l1, n1, NULL, 0, 60.0, 5, o1), 0);
    const int64_t ranks[3] = {0, 4, 1};
    ck_assert_double_eq_tol(rag_rrf_score(ranks, NULL, 3, 60.0), 1.0 / 64 + 1.0 / 61, 1e-15);
}
END_TEST

static Suite *fusion_suite(void)
{
    Suite *s = suite_create("fusion");
    TCase *tc = tcase_create("rrf");
    tcase_add_test(tc, test_rrf_two_lists_by_hand);
    tcase_add_test(tc, test_rrf_weights_and_ties);
    tcase_add_test(tc, test_rrf_repeats_empty_and_order_independence);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(fusion_suite()); }
