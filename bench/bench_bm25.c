/*
 * bench_bm25.c: BM25 index build and query speed on all of FOLDOC, this engine against SQLite
 * FTS5 in the same run, with the retrieval quality of both on the reverse-dictionary queries.
 *
 * Data: rag_benchmark_foldoc (rag/qrels.h) with the default config: every FOLDOC entry is a
 * document (about 15k), every entry long enough gives a query (its first sentences, headword
 * removed, cut out of its document). Both sides index the very same document texts.
 *
 * Two pairings, each measured side by side, alternating, median of --reps builds / query passes:
 *   plain    ours: no stemming, FTS5's idf    FTS5: tokenize = 'unicode61'
 *            (the same scores up to float rounding: tests/rag/test_bm25.c checks this)
 *   stemmed  ours: Snowball English, Lucene idf   FTS5: tokenize = 'porter unicode61'
 *            (Porter vs Snowball stems and the two idfs differ: similar, not identical)
 * A query is the benchmark query's terms (our tokeniser, unstemmed) OR-ed together, each quoted:
 * `"t1" OR "t2" ...`, run as SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT 10 on
 * FTS5, and rag_bm25_search(k = 10) on ours. Build = insert every document (FTS5: in one
 * transaction into an in-memory database) from an empty index.
 *
 * Queries: FTS5 evaluates an OR of ~20 terms by visiting every matching row (tens of q/s), so
 * the benchmark takes a seeded sample of the queries: --queries N (default 1000, 0 = all of them,
 * about 9k); builds and query passes are repeated --reps times (default 3), medians reported.
 *
 * Output: a table (build seconds, queries/s, ratios, recall@10, MRR@10 on the sampled queries
 * and on their test split), then one line `BENCH {"bench":"bm25",...}`. --quick: 200 queries,
 * 1 rep.
 */
#include "bench/common/bench_util.h"
#include "core/err.h"
#include "rag/bm25.h"
#include "rag/eval.h"
#include "rag/qrels.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPK 10

typedef struct {
    double build_s, qps;
    double recall_all, mrr_all, recall_test, mrr_test;
} Side;

static void die_sql(sqlite3 *db, const char *what)
{
    fprintf(stderr, "bench_bm25: sqlite: %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
}

// Builds an FTS5 table over the documents; returns the database (in memory).
static sqlite3 *fts5_build(const RagBenchmark *bm, const char *tokenize)
{
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) die_sql(db, "open");
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE VIRTUAL TABLE t USING fts5(body, tokenize = '%s')",
             tokenize);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) die_sql(db, "create");
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(db, "INSERT INTO t(rowid, body) VALUES (?, ?)", -1, &ins, NULL))
        die_sql(db, "prepare insert");
    for (int64_t d = 0; d < bm->n_docs; d++) {
        sqlite3_bind_int64(ins, 1, d);
        sqlite3_bind_text(ins, 2, bm->doc_texts[d], -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) die_sql(db, "insert");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) die_sql(db, "commit");
    return db;
}

static RagBm25 *ours_build(const RagBenchmark *bm, RagBm25Config cfg)
{
    RagBm25 *ix = rag_bm25_create(&cfg);
    for (int64_t d = 0; d < bm->n_docs; d++)
        CHECK(rag_bm25_add(ix, d, bm->doc_texts[d]) == ERR_OK, "%s", err_msg());
    return ix;
}

// Runs every query on FTS5; hits (n_queries, TOPK) and n_hits filled. Returns seconds.
static double fts5_queries(sqlite3 *db, char **exprs, int64_t nq, RagHit *hits, int64_t *n_hits)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT rowid, bm25(t) FROM t WHERE t MATCH ? ORDER BY bm25(t) "
                           "LIMIT 10", -1, &st, NULL))
        die_sql(db, "prepare query");
    double t0 = bench_now();
    for (int64_t q = 0; q < nq; q++) {
        sqlite3_bind_text(st, 1, exprs[q], -1, SQLITE_STATIC);
        int64_t n = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < TOPK)
            hits[q * TOPK + n++] = (RagHit){sqlite3_column_int64(st, 0),
                                            (float)-sqlite3_column_double(st, 1)};
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) die_sql(db, exprs[q]);
        n_hits[q] = n;
        sqlite3_reset(st);
    }
    double dt = bench_now() - t0;
    sqlite3_finalize(st);
    return dt;
}

static double ours_queries(RagBm25 *ix, char **queries, int64_t nq, RagHit *hits,
                           int64_t *n_hits)
{
    double t0 = bench_now();
    for (int64_t q = 0; q < nq; q++)
        n_hits[q] = rag_bm25_search(ix, queries[q], TOPK, hits + q * TOPK);
    return bench_now() - t0;
}

static void quality(const RagBenchmark *bm, const RagHit *hits, const int64_t *n_hits, Side *s)
{
    const RagHit **runs = xmalloc((size_t)bm->n_queries * sizeof *runs);
    for (int64_t q = 0; q < bm->n_queries; q++) runs[q] = hits + q * TOPK;
    RagEvalMetric rec = {RAG_EVAL_RECALL, TOPK}, mrr = {RAG_EVAL_MRR, TOPK};
    s->recall_all = rag_eval_mean(&bm->qrels, runs, n_hits, NULL, rec);
    s->mrr_all = rag_eval_mean(&bm->qrels, runs, n_hits, NULL, mrr);
    s->recall_test = rag_eval_mean(&bm->qrels, runs, n_hits, bm->is_test, rec);
    s->mrr_test = rag_eval_mean(&bm->qrels, runs, n_hits, bm->is_test, mrr);
    free(runs);
}

// One pairing: ours with cfg against FTS5 with `tokenize`, alternating, reps times.
static void pairing(const RagBenchmark *bm, char **exprs, RagBm25Config cfg, const char *tokenize,
                    int reps, Side *ours, Side *fts)
{
    int64_t nq = bm->n_queries;
    RagHit *h_ours = xmalloc((size_t)nq * TOPK * sizeof *h_ours);
    RagHit *h_fts = xmalloc((size_t)nq * TOPK * sizeof *h_fts);
    int64_t *n_ours = xmalloc((size_t)nq * sizeof *n_ours);
    int64_t *n_fts = xmalloc((size_t)nq * sizeof *n_fts);
    double bo[16], bf[16], qo[16], qf[16];
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        RagBm25 *ix = ours_build(bm, cfg);
        bo[r] = bench_now() - t0;
        t0 = bench_now();
        sqlite3 *db = fts5_build(bm, tokenize);
        bf[r] = bench_now() - t0;
        qo[r] = ours_queries(ix, bm->queries, nq, h_ours, n_ours);
        qf[r] = fts5_queries(db, exprs, nq, h_fts, n_fts);
        rag_bm25_free(ix);
        sqlite3_close(db);
    }
    ours->build_s = bench_median(bo, reps);
    fts->build_s = bench_median(bf, reps);
    ours->qps = (double)nq / bench_median(qo, reps);
    fts->qps = (double)nq / bench_median(qf, reps);
    quality(bm, h_ours, n_ours, ours);
    quality(bm, h_fts, n_fts, fts);
    free(h_ours);
    free(h_fts);
    free(n_ours);
    free(n_fts);
}

int main(int argc, char **argv)
{
    int reps = 3;
    int64_t n_queries = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) reps = 1, n_queries = 200;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc) n_queries = atoll(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_bm25 [--quick] [--reps N (1..16)] [--queries N]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 16) reps = 3;
    RagBenchConfig cfg = rag_bench_default_config();
    cfg.max_queries = n_queries > 0 ? n_queries : 0;
    RagBenchmark bm;
    double t0 = bench_now();
    int rc = rag_benchmark_foldoc(&cfg, &bm);
    if (rc == ERR_DEPENDENCY) {
        printf("bench_bm25: skipped: %s\n", err_msg());
        return 0;
    }
    if (rc) {
        fprintf(stderr, "bench_bm25: %s\n", err_msg());
        return 1;
    }
    int64_t n_test = 0;
    for (int64_t q = 0; q < bm.n_queries; q++) n_test += bm.is_test[q];
    printf("FOLDOC reverse dictionary: %lld documents, %lld queries (%lld test), built in %.2f s\n",
           (long long)bm.n_docs, (long long)bm.n_queries, (long long)n_test, bench_now() - t0);

    // FTS5 expressions: the query's unstemmed terms, quoted, OR-ed.
    RagBm25 *tok = rag_bm25_create(NULL);
    char **exprs = xmalloc((size_t)bm.n_queries * sizeof *exprs);
    for (int64_t q = 0; q < bm.n_queries; q++) {
        char *terms = rag_bm25_terms(tok, bm.queries[q]);
        char *e = xmalloc(4 * strlen(terms) + 8), *w = e;
        for (char *sv, *t = strtok_r(terms, " ", &sv); t; t = strtok_r(NULL, " ", &sv))
            w += sprintf(w, "%s\"%s\"", w == e ? "" : " OR ", t);
        *w = '\0';
        exprs[q] = e;
        free(terms);
    }
    rag_bm25_free(tok);

    RagBm25Config plain = rag_bm25_default_config();
    plain.idf = RAG_BM25_IDF_FTS5;
    RagBm25Config stem = rag_bm25_default_config();
    stem.stem = true;
    Side o1, f1, o2, f2;
    pairing(&bm, exprs, plain, "unicode61", reps, &o1, &f1);
    pairing(&bm, exprs, stem, "porter unicode61", reps, &o2, &f2);

    printf("\n%-34s %9s %10s %10s %8s %10s %8s\n", "system", "build s", "queries/s",
           "recall@10", "MRR@10", "R@10 test", "MRR test");
    const char *names[4] = {"ours  plain (no stem, FTS5 idf)", "fts5  unicode61",
                            "ours  Snowball, Lucene idf", "fts5  porter unicode61"};
    const Side *sides[4] = {&o1, &f1, &o2, &f2};
    for (int i = 0; i < 4; i++)
        printf("%-34s %9.3f %10.0f %10.4f %8.4f %10.4f %8.4f\n", names[i], sides[i]->build_s,
               sides[i]->qps, sides[i]->recall_all, sides[i]->mrr_all, sides[i]->recall_test,
               sides[i]->mrr_test);
    printf("\nratios (ours faster by): plain build %.2fx, queries %.2fx; stemmed build %.2fx, "
           "queries %.2fx\n", f1.build_s / o1.build_s, o1.qps / f1.qps, f2.build_s / o2.build_s,
           o2.qps / f2.qps);
    char b[12][BENCH_NUM_BUF];
    printf("BENCH {\"bench\":\"bm25\",\"docs\":%lld,\"queries\":%lld,"
           "\"plain\":{\"ours_build_s\":%s,\"fts5_build_s\":%s,\"ours_qps\":%s,\"fts5_qps\":%s,"
           "\"ours_recall10\":%s,\"fts5_recall10\":%s},"
           "\"stemmed\":{\"ours_build_s\":%s,\"fts5_build_s\":%s,\"ours_qps\":%s,\"fts5_qps\":%s,"
           "\"ours_recall10\":%s,\"fts5_recall10\":%s}}\n",
           (long long)bm.n_docs, (long long)bm.n_queries, bench_json_num(b[0], o1.build_s, 4),
           bench_json_num(b[1], f1.build_s, 4), bench_json_num(b[2], o1.qps, 1),
           bench_json_num(b[3], f1.qps, 1), bench_json_num(b[4], o1.recall_all, 4),
           bench_json_num(b[5], f1.recall_all, 4), bench_json_num(b[6], o2.build_s, 4),
           bench_json_num(b[7], f2.build_s, 4), bench_json_num(b[8], o2.qps, 1),
           bench_json_num(b[9], f2.qps, 1), bench_json_num(b[10], o2.recall_all, 4),
           bench_json_num(b[11], f2.recall_all, 4));
    for (int64_t q = 0; q < bm.n_queries; q++) free(exprs[q]);
    free(exprs);
    rag_benchmark_free(&bm);
    return 0;
}
