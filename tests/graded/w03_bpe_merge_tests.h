/*
 * w03_bpe_merge_tests.h: the graded tests of exercise w03.bpe_merge (tf_tok_bpe_merge,
 * transformer/tok_bpe.c), as a fragment that tests/graded/test_week03.c includes once:
 *
 *     #include "tests/graded/w03_bpe_merge_tests.h"
 *     ...
 *     w03_bpe_merge_add_tcase(s);      // in week03_suite, before `return s;`
 *
 * It is a fragment (static functions, included in exactly one program) so that the tokenizer's
 * tests can live apart from the week's other exercises while grading stays one program per
 * week. Every test fails on the stub (which leaves the ids alone) and checks values computed
 * independently: by hand, or by a string search on a text spelling of the ids.
 */
#ifndef TESTS_GRADED_W03_BPE_MERGE_TESTS_H
#define TESTS_GRADED_W03_BPE_MERGE_TESTS_H

#include "core/rng.h"
#include "transformer/tokenizer.h"

#include <check.h>
#include <string.h>

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

static void w03_bpe_merge_add_tcase(Suite *s)
{
    TCase *tc = tcase_create("w03.bpe_merge");
    tcase_add_test(tc, test_bpe_merge_replaces_every_pair);
    tcase_add_test(tc, test_bpe_merge_left_to_right_no_overlap);
    tcase_add_test(tc, test_bpe_merge_matches_string_replace);
    suite_add_tcase(s, tc);
}

#endif
