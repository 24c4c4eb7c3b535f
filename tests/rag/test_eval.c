/*
 * test_eval.c: retrieval metrics and TREC files (rag/eval.h), and the benchmarks (rag/qrels.h).
 *
 * The metrics are checked on small cases whose values are written out from the definitions
 * in double (1/log2(rank + 1) discounts computed here); the files by a round trip and by
 * reading the written lines back field by field; the benchmarks by properties that follow from
 * their construction (the query no longer contains its headword or its text, the split does
 * not move with the seed, the same config gives the same benchmark).
 */
#include "core/err.h"
#include "core/io.h"
#include "rag/bm25.h"
#include "rag/eval.h"
#include "rag/qrels.h"
#include "tests/test_util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double disc(int rank) { return 1.0 / log2(rank + 1.0); }

// --- metrics --------------------------------------------------------------------------------

START_TEST(test_eval_binary_by_hand)
{
    // Relevant {2, 7, 9}; ranking 4 2 8 7 1: relevant at ranks 2 and 4.
    const RagJudgement j[4] = {{2, 1}, {7, 1}, {9, 1}, {4, 0}};
    const RagHit h[5] = {{4, 5}, {2, 4}, {8, 3}, {7, 2}, {1, 1}};
    double r, nd;
    rag_eval_recall_ndcg(h, 5, j, 4, 3, &r, &nd);
    ck_assert_double_eq_tol(r, 1.0 / 3, 1e-12);
    ck_assert_double_eq_tol(nd, disc(2) / (disc(1) + disc(2) + disc(3)), 1e-12);
    rag_eval_recall_ndcg(h, 5, j, 4, 10, &r, &nd);
    ck_assert_double_eq_tol(r, 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(nd, (disc(2) + disc(4)) / (disc(1) + disc(2) + disc(3)), 1e-12);
    RagEvalMetric p3 = {RAG_EVAL_PRECISION, 3}, p10 = {RAG_EVAL_PRECISION, 10};
    ck_assert_double_eq_tol(rag_eval_query(h, 5, j, 4, p3), 1.0 / 3, 1e-12);
    ck_assert_double_eq_tol(rag_eval_query(h, 5, j, 4, p10), 2.0 / 10, 1e-12); // over k
    ck_assert_double_eq_tol(rag_eval_query(h, 5, j, 4, (RagEvalMetric){RAG_EVAL_MRR, 0}), 0.5,
                            1e-12);
    ck_assert_double_eq_tol(rag_eval_query(h, 5, j, 4, (RagEvalMetric){RAG_EVAL_MRR, 1}), 0.0,
                            1e-12);
    // No hits: everything 0; a repeated relevant hit counts once.
    rag_eval_recall_ndcg(NULL, 0, j, 4, 10, &r, &nd);
    ck_assert(r == 0 && nd == 0);
    const RagHit rep[3] = {{2, 3}, {2, 2}, {7, 1}};
    rag_eval_recall_ndcg(rep, 3, j, 4, 10, &r, &nd);
    ck_assert_double_eq_tol(r, 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(nd, (disc(1) + disc(3)) / (disc(1) + disc(2) + disc(3)), 1e-12);
}
END_TEST

START_TEST(test_eval_graded_ndcg_by_hand)
{
    // Grades: 11 -> 3, 12 -> 2, 13 -> 1, 14 -> 0. Ranking 13 14 11 12: linear gain.
    const RagJudgement j[4] = {{13, 1}, {11, 3}, {14, 0}, {12, 2}};
    const RagHit h[4] = {{13, 4}, {14, 3}, {11, 2}, {12, 1}};
    double r, nd;
    double dcg = 1 * disc(1) + 3 * disc(3) + 2 * disc(4);
    double idcg = 3 * disc(1) + 2 * disc(2) + 1 * disc(3);
    rag_eval_recall_ndcg(h, 4, j, 4, 10, &r, &nd);
    ck_assert_double_eq_tol(r, 1.0, 1e-12);
    ck_assert_double_eq_tol(nd, dcg / idcg, 1e-12);
    // @2: DCG = 1 * disc(1); IDCG@2 = 3 disc(1) + 2 disc(2).
    rag_eval_recall_ndcg(h, 4, j, 4, 2, &r, &nd);
    ck_assert_double_eq_tol(nd, disc(1) / (3 * disc(1) + 2 * disc(2)), 1e-12);
    ck_assert_double_eq_tol(r, 1.0 / 3, 1e-12);
    // The ideal order scores exactly 1.
    const RagHit best[3] = {{11, 3}, {12, 2}, {13, 1}};
    rag_eval_recall_ndcg(best, 3, j, 4, 10, &r, &nd);
    ck_assert_double_eq_tol(nd, 1.0, 1e-12);
}
END_TEST

START_TEST(test_eval_mean_and_table)
{
    RagQrels qr = {0};
    rag_qrels_add_query(&qr, "q1");
    rag_qrels_add(&qr, 1, 1);
    rag_qrels_add_query(&qr, "q2"); // no relevant judgement: left out of the mean
    rag_qrels_add(&qr, 2, 0);
    rag_qrels_add_query(&qr, "q3");
    rag_qrels_add(&qr, 3, 1);
    rag_qrels_add(&qr, 4, 1);
    const RagHit r1[2] = {{9, 2}, {1, 1}}, r3[1] = {{4, 1}};
    const RagHit *runs[3] = {r1, NULL, r3};
    const int64_t n[3] = {2, 0, 1};
    RagEvalMetric rec = {RAG_EVAL_RECALL, 10}, mrr = {RAG_EVAL_MRR, 10};
    ck_assert_double_eq_tol(rag_eval_mean(&qr, runs, n, NULL, rec), (1.0 + 0.5) / 2, 1e-12);
    ck_assert_double_eq_tol(rag_eval_mean(&qr, runs, n, NULL, mrr), (0.5 + 1.0) / 2, 1e-12);
    const bool only[3] = {false, true, true};
    ck_assert_double_eq_tol(rag_eval_mean(&qr, runs, n, only, rec), 0.5, 1e-12);
    const bool none[3] = {false, true, false};
    ck_assert(isnan(rag_eval_mean(&qr, runs, n, none, rec)));
    // A query missing from the run scores 0.
    const int64_t n0[3] = {2, 0, 0};
    ck_assert_double_eq_tol(rag_eval_mean(&qr, runs, n0, NULL, rec), 0.5, 1e-12);

    char path[512];
    snprintf(path, sizeof path, "%s", test_tmp_path("table.txt"));
    FILE *f = fopen(path, "w");
    RagEvalMetric ms[2] = {rec, {RAG_EVAL_NDCG, 10}};
    const double v[4] = {0.75, 0.5, NAN, 0.125};
    rag_eval_print_table(f, (const char *[]){"bm25", "hybrid"}, 2, ms, 2, v);
    fclose(f);
    unsigned char *txt;
    size_t len;
    ck_assert_int_eq(io_read_all(path, &txt, &len), ERR_OK);
    ck_assert_ptr_nonnull(strstr((char *)txt, "recall@10"));
    ck_assert_ptr_nonnull(strstr((char *)txt, "nDCG@10"));
    ck_assert_ptr_nonnull(strstr((char *)txt, "bm25       0.7500     0.5000"));
    ck_assert_ptr_nonnull(strstr((char *)txt, "hybrid          -     0.1250"));
    free(txt);
    rag_qrels_free(&qr);
}
END_TEST

// --- files ----------------------------------------------------------------------------------

START_TEST(test_eval_run_file_fields)
{
    const char *names[3] = {"doc:a", "doc:b", "doc:c"};
    const RagHit r0[2] = {{2, 1.5f}, {0, 0.25f}}, r1[1] = {{1, 3.0f}};
    const RagHit *runs[2] = {r0, r1};
    const int64_t n[2] = {2, 1};
    const char *qids[2] = {"q0", "q1"};
    const char *path = test_tmp_path("x.run");
    ck_assert_int_eq(rag_eval_write_run(path, qids, 2, runs, n, names, 3, "bm25"), ERR_OK);
    FILE *f = fopen(path, "r");
    char q[16], q0[8], d[16], tag[16];
    int rank;
    double score;
    const char *want_q[3] = {"q0", "q0", "q1"}, *want_d[3] = {"doc:c", "doc:a", "doc:b"};
    const double want_s[3] = {1.5, 0.25, 3.0};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(fscanf(f, "%15s %7s %15s %d %lf %15s", q, q0, d, &rank, &score, tag), 6);
        ck_assert_str_eq(q, want_q[i]);
        ck_assert_str_eq(q0, "Q0");
        ck_assert_str_eq(d, want_d[i]);
        ck_assert_int_eq(rank, i == 2 ? 1 : i + 1);
        ck_assert_double_eq_tol(score, want_s[i], 1e-9);
        ck_assert_str_eq(tag, "bm25");
    }
    ck_assert_int_eq(fscanf(f, "%15s", q), EOF);
    fclose(f);
}
END_TEST

START_TEST(test_eval_qrels_round_trip_and_errors)
{
    const char *names[3] = {"d0", "d1", "d2"};
    const char *text = "q2 0 d1 1\n\nq1 0 d2 2\nq1 0 zz 1\nq2 0 yy 0\nq1 0 d0 0\n";
    const char *p = test_write_file("in.qrels", text, strlen(text));
    RagQrels qr;
    ck_assert_int_eq(rag_eval_read_qrels(p, names, 3, &qr), ERR_OK);
    ck_assert_int_eq(qr.n_queries, 2);
    ck_assert_str_eq(qr.qids[0], "q1"); // sorted by qid, file order within
    ck_assert_int_eq(qr.start[1], 3);
    ck_assert_int_eq(qr.j[0].doc, 2);
    ck_assert_int_eq(qr.j[0].rel, 2);
    ck_assert_int_eq(qr.j[1].doc, -1); // "zz": first unknown
    ck_assert_int_eq(qr.j[2].doc, 0);
    ck_assert_int_eq(qr.j[3].doc, 1);
    ck_assert_int_eq(qr.j[4].doc, -2); // "yy"
    ck_assert_int_eq(rag_qrels_n_relevant(&qr, 0), 2);
    ck_assert_int_eq(rag_qrels_find(&qr, "q2"), 1);
    // Write and read back: the same judgements.
    const char *p2 = test_tmp_path("out.qrels");
    ck_assert_int_eq(rag_eval_write_qrels(p2, &qr, names, 3), ERR_OK);
    RagQrels back;
    ck_assert_int_eq(rag_eval_read_qrels(p2, names, 3, &back), ERR_OK);
    ck_assert_int_eq(back.n_queries, 2);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(back.j[i].doc, qr.j[i].doc);
        ck_assert_int_eq(back.j[i].rel, qr.j[i].rel);
    }
    rag_qrels_free(&back);
    rag_qrels_free(&qr);
    // Errors name the file and line.
    const char *bad = test_write_file("bad.qrels", "q1 0 d1 1\nq1 0 d2\n", 19);
    test_expect_err(rag_eval_read_qrels(bad, names, 3, &qr), ERR_FORMAT,
                    (const char *[]){"bad.qrels:2", "4 fields", "hint", NULL});
    ck_assert_int_eq(qr.n_queries, 0);
    bad = test_write_file("bad2.qrels", "q1 0 d1 x1\n", 11);
    test_expect_err(rag_eval_read_qrels(bad, names, 3, &qr), ERR_FORMAT,
                    (const char *[]){"bad2.qrels:1", "rel", NULL});
    bad = test_write_file("bad3.qrels", "q1 0 d1 1\nq1 0 d1 0\n", 20);
    test_expect_err(rag_eval_read_qrels(bad, names, 3, &qr), ERR_FORMAT,
                    (const char *[]){"bad3.qrels:2", "twice", NULL});
    test_expect_err(rag_eval_read_qrels(test_tmp_path("missing.qrels"), names, 3, &qr), ERR_IO,
                    (const char *[]){"missing.qrels", NULL});
}
END_TEST

// --- benchmarks -----------------------------------------------------------------------------

// True when `word` occurs in s as a whole word, ignoring case.
static bool has_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = s; (p = strcasestr(p, word)); p++) {
        bool left = p == s || !isalnum((unsigned char)p[-1]);
        bool right = !isalnum((unsigned char)p[n]);
        if (left && right) return true;
    }
    return false;
}

START_TEST(test_bench_definition_query)
{
    const char *hw[] = {"actor", NULL};
    const char *body = "1. <programming> In object-oriented programming, an actor is an object "
                       "which exists as a concurrent process. Actors' states are private.\n\n"
                       "2. <os> In Chorus, the unit of resource allocation.";
    int64_t used;
    char *q = rag_bench_definition_query(body, hw, 6, 32, &used);
    ck_assert_ptr_nonnull(q);
    ck_assert_str_eq(q, "In object-oriented programming, an is an object which exists as a "
                        "concurrent process.");
    ck_assert_int_eq(used, (int64_t)(strstr(body, "process.") - body) + 8);
    free(q);
    q = rag_bench_definition_query(body, hw, 14, 32, &used); // needs the second sentence
    ck_assert_ptr_nonnull(q);
    ck_assert(!has_word(q, "actors") && strstr(q, "states are private."));
    free(q);
    q = rag_bench_definition_query(body, hw, 3, 5, NULL); // cut at 5 words
    ck_assert_str_eq(q, "In object-oriented programming, an is");
    free(q);
    ck_assert_ptr_null(rag_bench_definition_query("Synonym for actor.", hw, 6, 32, NULL));
}
END_TEST

START_TEST(test_bench_foldoc_properties)
{
    RagBenchConfig c = rag_bench_default_config();
    c.max_queries = 400;
    RagBenchmark a, b;
    int rc = rag_benchmark_foldoc(&c, &a);
    if (rc == ERR_DEPENDENCY) {
        fprintf(stderr, "SKIPPED: %s\n", err_msg());
        return;
    }
    ck_assert_int_eq(rc, ERR_OK);
    ck_assert_int_gt(a.n_docs, 10000);
    ck_assert_int_eq(a.n_queries, 400);
    int64_t n_test = 0;
    for (int64_t q = 0; q < a.n_queries; q++) {
        ck_assert_int_eq(a.qrels.start[q + 1] - a.qrels.start[q], 1);
        int64_t d = a.qrels.j[a.qrels.start[q]].doc;
        ck_assert(d >= 0 && d < a.n_docs);
        // The document starts with its headword line; the query lacks the headword and is
        // not a substring of the document.
        const char *nl = strchr(a.doc_texts[d], '\n');
        char head[256];
        snprintf(head, sizeof head, "%.*s", (int)(nl - a.doc_texts[d]), a.doc_texts[d]);
        if (strlen(head) > 1 && isalnum((unsigned char)head[0]))
            ck_assert_msg(!has_word(a.queries[q], head), "query '%s' holds '%s'", a.queries[q],
                          head);
        ck_assert_msg(!strstr(a.doc_texts[d], a.queries[q]), "query %s is in its document",
                      a.qrels.qids[q]);
        n_test += a.is_test[q];
    }
    ck_assert(n_test > 80 && n_test < 160); // ~30%
    // Another seed: another sample, but each headword keeps its split.
    c.seed = 7;
    ck_assert_int_eq(rag_benchmark_foldoc(&c, &b), ERR_OK);
    int common = 0;
    for (int64_t q = 0; q < b.n_queries; q++) {
        int64_t p = rag_qrels_find(&a.qrels, b.qrels.qids[q]);
        if (p < 0) continue;
        common++;
        ck_assert_int_eq(a.is_test[p], b.is_test[q]);
        ck_assert_str_eq(a.queries[p], b.queries[q]);
    }
    ck_assert(common < 200);
    rag_benchmark_free(&b);
    // The same config again: the same benchmark.
    c.seed = 1;
    ck_assert_int_eq(rag_benchmark_foldoc(&c, &b), ERR_OK);
    ck_assert_int_eq(b.n_docs, a.n_docs);
    for (int64_t q = 0; q < a.n_queries; q++) ck_assert_str_eq(a.qrels.qids[q], b.qrels.qids[q]);
    rag_benchmark_free(&b);
    rag_benchmark_free(&a);
}
END_TEST

START_TEST(test_bench_wordnet_properties)
{
    RagBenchConfig c = rag_bench_default_config();
    c.max_queries = 300;
    RagBenchmark a;
    int rc = rag_benchmark_wordnet(&c, &a);
    if (rc == ERR_DEPENDENCY) {
        fprintf(stderr, "SKIPPED: %s\n", err_msg());
        return;
    }
    ck_assert_int_eq(rc, ERR_OK);
    ck_assert_int_gt(a.n_docs, 50000);
    ck_assert_int_eq(a.n_queries, 300);
    for (int64_t q = 0; q < a.n_queries; q++) {
        ck_assert_int_ge(rag_qrels_n_relevant(&a.qrels, q), 1);
        for (int64_t i = a.qrels.start[q]; i < a.qrels.start[q + 1]; i++) {
            const char *doc = a.doc_texts[a.qrels.j[i].doc];
            // The held-out definition is not one of its lemmas' senses (" definition;" is how a
            // sense's definition sits in a lemma document; another sense may still contain the
            // words: "find the solution" inside "find the solution to (a problem)").
            char pat[1024];
            snprintf(pat, sizeof pat, " %s;", a.queries[q]);
            ck_assert_msg(!strstr(doc, pat), "%s: definition found in %s", a.qrels.qids[q],
                          a.doc_names[a.qrels.j[i].doc]);
        }
    }
    rag_benchmark_free(&a);
}
END_TEST

static Suite *eval_suite(void)
{
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_eval_binary_by_hand);
    tcase_add_test(tc, test_eval_graded_ndcg_by_hand);
    tcase_add_test(tc, test_eval_mean_and_table);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_test(tc, test_eval_run_file_fields);
    tcase_add_test(tc, test_eval_qrels_round_trip_and_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("benchmarks");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bench_definition_query);
    tcase_add_test(tc, test_bench_foldoc_properties);
    tcase_add_test(tc, test_bench_wordnet_properties);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(eval_suite()); }
