/*
 * test_bm25.c: the BM25 index (rag/bm25.h) against independent computations.
 *
 * 1. A double-precision recomputation of every document's score from the formula, with the
 *    test's own term counting (the corpus is plain ASCII, so splitting on non-alphanumerics and
 *    lowercasing is the whole tokeniser).
 * 2. SQLite FTS5 on the same documents: with idf = RAG_BM25_IDF_FTS5 (FTS5's formula), no
 *    stemming and no stop words, -bm25() of every matching row must equal our score and the
 *    ranking must be the same. FTS5's default unicode61 tokenizer splits and folds ASCII as ours.
 * 3. Delete: an index that added and deleted documents scores exactly as one built without them.
 */
#include "core/err.h"
#include "rag/bm25.h"
#include "tests/test_util.h"

#include <ctype.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *DOCS[] = {
    "Lisp is a family of programming languages with fully parenthesised prefix notation.",
    "Fortran is a compiled imperative programming language for numeric computation.",
    "A compiler translates a program in one programming language into another language.",
    "The kernel schedules processes; the kernel manages memory and devices.",
    "Garbage collection reclaims memory that the program no longer uses. Lisp had it first.",
    "Prolog is a logic programming language. Prolog programs are sets of clauses.",
    "Memory memory memory: a short document about memory.",
    "An interpreter runs a program directly, without compiling it to machine language first.",
};
#define N_DOCS ((int)(sizeof DOCS / sizeof DOCS[0]))
static const int64_t IDS[N_DOCS] = {10, 11, 12, 13, 14, 15, 16, 17};

// --- the test's own BM25 --------------------------------------------------------------------

// Splits s into lowercase ASCII words (at most max, 32 bytes each).
static int words(const char *s, char out[][32], int max)
{
    int n = 0;
    while (*s) {
        while (*s && !isalnum((unsigned char)*s)) s++;
        if (!*s) break;
        int l = 0;
        while (isalnum((unsigned char)*s)) {
            if (l < 31) out[n][l++] = (char)tolower((unsigned char)*s);
            s++;
        }
        out[n][l] = '\0';
        if (n < max - 1) n++;
    }
    return n;
}

static int count_in(char w[][32], int n, const char *t)
{
    int c = 0;
    for (int i = 0; i < n; i++) c += strcmp(w[i], t) == 0;
    return c;
}

// Score of every document for `query` by the formula, in double. fts5: FTS5's idf.
static void reference_scores(const char *query, bool fts5, double k1, double b, double *score)
{
    static char dw[N_DOCS][64][32];
    int dn[N_DOCS];
    double total = 0;
    for (int d = 0; d < N_DOCS; d++) total += dn[d] = words(DOCS[d], dw[d], 64);
    double avgdl = total / N_DOCS;
    char qw[32][32];
    int qn = words(query, qw, 32);
    for (int d = 0; d < N_DOCS; d++) score[d] = 0;
    for (int i = 0; i < qn; i++) {
        int df = 0;
        for (int d = 0; d < N_DOCS; d++) df += count_in(dw[d], dn[d], qw[i]) > 0;
        double r = (N_DOCS - df + 0.5) / (df + 0.5);
        double idf = fts5 ? (log(r) > 0 ? log(r) : 1e-6) : log(1.0 + r);
        for (int d = 0; d < N_DOCS; d++) {
            double tf = count_in(dw[d], dn[d], qw[i]);
            if (tf == 0) continue;
            score[d] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dn[d] / avgdl));
        }
    }
}

static RagBm25 *build(RagBm25Config cfg)
{
    RagBm25 *ix = rag_bm25_create(&cfg);
    for (int d = 0; d < N_DOCS; d++) ck_assert_int_eq(rag_bm25_add(ix, IDS[d], DOCS[d]), ERR_OK);
    return ix;
}

static int doc_of(int64_t id)
{
    for (int d = 0; d < N_DOCS; d++)
        if (IDS[d] == id) return d;
    return -1;
}

// Checks the hits against the reference: every matching document present, scores equal.
static void expect_reference(RagBm25 *ix, const char *query, bool fts5, double k1, double b)
{
    double want[N_DOCS];
    reference_scores(query, fts5, k1, b, want);
    RagHit hits[N_DOCS];
    int64_t n = rag_bm25_search(ix, query, N_DOCS, hits);
    int matching = 0;
    for (int d = 0; d < N_DOCS; d++) matching += want[d] > 0;
    ck_assert_int_eq(n, matching);
    for (int64_t i = 0; i < n; i++) {
        int d = doc_of(hits[i].id);
        ck_assert_int_ge(d, 0);
        ck_assert_msg(fabs(hits[i].score - want[d]) <= 1e-5 * (1 + want[d]),
                      "%s: doc %lld score %.7f, want %.7f", query, (long long)hits[i].id,
                      hits[i].score, want[d]);
        if (i > 0) ck_assert(hits[i - 1].score >= hits[i].score);
    }
}

START_TEST(test_bm25_scores_match_formula)
{
    RagBm25 *ix = build(rag_bm25_default_config());
    ck_assert_int_eq(rag_bm25_count(ix), N_DOCS);
    expect_reference(ix, "programming language", false, 1.2, 0.75);
    expect_reference(ix, "Lisp memory", false, 1.2, 0.75);
    expect_reference(ix, "memory memory kernel", false, 1.2, 0.75); // repeats count twice
    expect_reference(ix, "PROLOG, compiler!", false, 1.2, 0.75);
    rag_bm25_free(ix);

    RagBm25Config c = rag_bm25_default_config();
    c.k1 = 2.0, c.b = 0.3;
    ix = build(c);
    expect_reference(ix, "memory program language", false, 2.0, 0.3);
    rag_bm25_free(ix);
    c.k1 = 0.9, c.b = 0.0;
    ix = build(c);
    expect_reference(ix, "memory program language", false, 0.9, 0.0);
    rag_bm25_free(ix);
}
END_TEST

START_TEST(test_bm25_statistics)
{
    RagBm25 *ix = build(rag_bm25_default_config());
    char w[64][32];
    double total = 0;
    for (int d = 0; d < N_DOCS; d++) total += words(DOCS[d], w, 64);
    ck_assert_double_eq_tol(rag_bm25_avgdl(ix), total / N_DOCS, 1e-12);
    ck_assert_int_eq(rag_bm25_df(ix, "memory"), 3);
    ck_assert_int_eq(rag_bm25_df(ix, "prolog"), 1);
    ck_assert_int_eq(rag_bm25_df(ix, "cobol"), 0);
    RagHit h[4];
    ck_assert_int_eq(rag_bm25_search(ix, "cobol snobol", 4, h), 0);
    ck_assert_int_eq(rag_bm25_search(ix, "", 4, h), 0);
    // Lucene idf: ln(1 + (N - df + 0.5) / (df + 0.5)).
    ck_assert_double_eq_tol(rag_bm25_idf(RAG_BM25_IDF_LUCENE, 8, 3), log(1 + 5.5 / 3.5), 1e-12);
    ck_assert_double_eq_tol(rag_bm25_idf(RAG_BM25_IDF_FTS5, 8, 3), log(5.5 / 3.5), 1e-12);
    ck_assert_double_eq_tol(rag_bm25_idf(RAG_BM25_IDF_FTS5, 8, 6), 1e-6, 1e-15);
    rag_bm25_free(ix);
}
END_TEST

// --- against SQLite FTS5 --------------------------------------------------------------------

static void sql_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
}

START_TEST(test_bm25_matches_fts5)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    sql_ok(db, "CREATE VIRTUAL TABLE t USING fts5(body)");
    sqlite3_stmt *ins;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "INSERT INTO t(rowid, body) VALUES (?, ?)", -1, &ins,
                                        NULL), SQLITE_OK);
    for (int d = 0; d < N_DOCS; d++) {
        sqlite3_bind_int64(ins, 1, IDS[d]);
        sqlite3_bind_text(ins, 2, DOCS[d], -1, SQLITE_STATIC);
        ck_assert_int_eq(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    RagBm25Config cfg = rag_bm25_default_config();
    cfg.idf = RAG_BM25_IDF_FTS5;
    RagBm25 *ix = build(cfg);
    // Queries as FTS5 OR-expressions of their terms (the terms come from our tokeniser).
    const char *queries[] = {"programming language", "lisp memory", "memory kernel kernel",
                             "prolog compiler program", "first language lisp"};
    for (int qi = 0; qi < 5; qi++) {
        char *terms = rag_bm25_terms(ix, queries[qi]);
        char expr[256] = "", sql[512];
        for (char *sv, *t = strtok_r(terms, " ", &sv); t; t = strtok_r(NULL, " ", &sv)) {
            if (*expr) strcat(expr, " OR ");
            strcat(expr, t);
        }
        free(terms);
        snprintf(sql, sizeof sql,
                 "SELECT rowid, bm25(t) FROM t WHERE t MATCH '%s' ORDER BY bm25(t), rowid", expr);
        sqlite3_stmt *st;
        ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        RagHit hits[N_DOCS];
        int64_t n = rag_bm25_search(ix, queries[qi], N_DOCS, hits), i = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            ck_assert_int_lt(i, n);
            int64_t rowid = sqlite3_column_int64(st, 0);
            double s = -sqlite3_column_double(st, 1);
            ck_assert_msg(rowid == hits[i].id, "%s: rank %lld: fts5 row %lld, ours %lld",
                          expr, (long long)i, (long long)rowid, (long long)hits[i].id);
            ck_assert_msg(fabs(s - hits[i].score) <= 1e-5 * (1 + fabs(s)),
                          "%s: row %lld: fts5 %.7f, ours %.7f", expr, (long long)rowid, s,
                          hits[i].score);
            i++;
        }
        ck_assert_int_eq(i, n);
        sqlite3_finalize(st);
    }
    rag_bm25_free(ix);
    sqlite3_close(db);
}
END_TEST

// --- delete, ids, ties ----------------------------------------------------------------------

START_TEST(test_bm25_delete_equals_never_added)
{
    RagBm25 *a = rag_bm25_create(NULL), *b = rag_bm25_create(NULL);
    for (int d = 0; d < N_DOCS; d++) {
        ck_assert_int_eq(rag_bm25_add(a, IDS[d], DOCS[d]), ERR_OK);
        if (d != 2 && d != 6) ck_assert_int_eq(rag_bm25_add(b, IDS[d], DOCS[d]), ERR_OK);
    }
    ck_assert_int_eq(rag_bm25_delete(a, IDS[6]), ERR_OK);
    ck_assert_int_eq(rag_bm25_delete(a, IDS[2]), ERR_OK);
    ck_assert_int_eq(rag_bm25_count(a), N_DOCS - 2);
    ck_assert_double_eq_tol(rag_bm25_avgdl(a), rag_bm25_avgdl(b), 1e-12);
    const char *qs[] = {"memory programming", "compiler language lisp", "kernel"};
    for (int i = 0; i < 3; i++) {
        RagHit ha[N_DOCS], hb[N_DOCS];
        int64_t na = rag_bm25_search(a, qs[i], N_DOCS, ha);
        int64_t nb = rag_bm25_search(b, qs[i], N_DOCS, hb);
        ck_assert_int_eq(na, nb);
        for (int64_t j = 0; j < na; j++) {
            ck_assert_int_eq(ha[j].id, hb[j].id);
            ck_assert_float_eq_tol(ha[j].score, hb[j].score, 1e-6);
        }
    }
    // The id is free again; adding a live id or deleting a missing one is an error.
    ck_assert_int_eq(rag_bm25_add(a, IDS[6], DOCS[6]), ERR_OK);
    test_expect_err(rag_bm25_add(a, IDS[6], "x"), ERR_INVALID, (const char *[]){"16", NULL});
    test_expect_err(rag_bm25_delete(a, 999), ERR_INVALID, (const char *[]){"999", NULL});
    rag_bm25_free(a);
    rag_bm25_free(b);
}
END_TEST

START_TEST(test_bm25_topk_heap_and_ties)
{
    // 300 documents; ids added in a scrambled order; many exact ties. The top k must equal
    // the full sorted list's first k (score desc, id asc).
    RagBm25 *ix = rag_bm25_create(NULL);
    char text[128];
    for (int i = 0; i < 300; i++) {
        int64_t id = (int64_t)((i * 7919) % 300) * 3 - 100; // distinct, negatives included
        snprintf(text, sizeof text, "alpha %s beta%d gamma %s", i % 3 ? "delta" : "",
                 i % 5, i % 7 ? "" : "delta delta");
        ck_assert_int_eq(rag_bm25_add(ix, id, text), ERR_OK);
    }
    RagHit all[300], top[17];
    int64_t n = rag_bm25_search(ix, "delta beta3 gamma", 300, all);
    ck_assert_int_eq(n, 300);
    for (int64_t i = 1; i < n; i++)
        ck_assert(all[i - 1].score > all[i].score ||
                  (all[i - 1].score == all[i].score && all[i - 1].id < all[i].id));
    int64_t k = rag_bm25_search(ix, "delta beta3 gamma", 17, top);
    ck_assert_int_eq(k, 17);
    for (int i = 0; i < 17; i++) {
        ck_assert_int_eq(top[i].id, all[i].id);
        ck_assert_float_eq(top[i].score, all[i].score);
    }
    rag_bm25_free(ix);
}
END_TEST

// --- tokeniser ------------------------------------------------------------------------------

START_TEST(test_bm25_tokeniser_utf8)
{
    RagBm25 *ix = rag_bm25_create(NULL);
    // Latin-1 capitals fold; an em dash and curly quotes separate; other scripts stay whole;
    // invalid bytes (a lone continuation byte, a truncated sequence) separate.
    char *t = rag_bm25_terms(ix, "CAF\xc3\x89 na\xc3\xafve\xe2\x80\x94"
                                 "dash \xe2\x80\x9cq\xe2\x80\x9d "
                                 "\xce\xbb-calc x\x80y z\xe2\x82");
    ck_assert_str_eq(t, "caf\xc3\xa9 na\xc3\xafve dash q \xce\xbb calc x y z");
    free(t);
    // A term longer than RAG_BM25_MAX_TERM is dropped, not cut.
    char longw[200];
    memset(longw, 'a', 100);
    strcpy(longw + 100, " ok");
    t = rag_bm25_terms(ix, longw);
    ck_assert_str_eq(t, "ok");
    free(t);
    rag_bm25_free(ix);
}
END_TEST

START_TEST(test_bm25_stemming_and_stopwords)
{
    RagBm25Config c = rag_bm25_default_config();
    c.stem = true;
    c.stopwords = true;
    RagBm25 *ix = rag_bm25_create(&c);
    char *t = rag_bm25_terms(ix, "The compilers are compiling the programs and running");
    ck_assert_str_eq(t, "compil compil program run"); // Snowball English stems
    free(t);
    ck_assert_int_eq(rag_bm25_add(ix, 1, "A compiler compiles programs."), ERR_OK);
    ck_assert_int_eq(rag_bm25_add(ix, 2, "The kernel runs processes."), ERR_OK);
    ck_assert_int_eq(rag_bm25_df(ix, "compil"), 1);
    ck_assert_int_eq(rag_bm25_df(ix, "the"), 0);
    RagHit h[2];
    ck_assert_int_eq(rag_bm25_search(ix, "compiling", 2, h), 1);
    ck_assert_int_eq(h[0].id, 1);
    ck_assert_int_eq(rag_bm25_search(ix, "the a", 2, h), 0); // only stop words
    rag_bm25_free(ix);
}
END_TEST

static Suite *bm25_suite(void)
{
    Suite *s = suite_create("bm25");
    TCase *tc = tcase_create("bm25");
    tcase_add_test(tc, test_bm25_scores_match_formula);
    tcase_add_test(tc, test_bm25_statistics);
    tcase_add_test(tc, test_bm25_matches_fts5);
    tcase_add_test(tc, test_bm25_delete_equals_never_added);
    tcase_add_test(tc, test_bm25_topk_heap_and_ties);
    tcase_add_test(tc, test_bm25_tokeniser_utf8);
    tcase_add_test(tc, test_bm25_stemming_and_stopwords);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(bm25_suite()); }
