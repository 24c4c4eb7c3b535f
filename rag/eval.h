/*
 * eval.h: retrieval metrics (recall@k, precision@k, MRR, nDCG@k), TREC run and qrels files,
 * and a results table.
 *
 * A run is, per query, a ranked list of RagHit (best first, as every stage returns it); the
 * judgements are a RagQrels (qrels.h), whose query q goes with runs[q]. Conventions (those of
 * trec_eval and of BEIR, which scores through pytrec_eval), for one query with R relevant
 * documents (judgements with rel > 0, including judged documents missing from the corpus):
 *
 *     recall@k     = |relevant in the top k| / R
 *     precision@k  = |relevant in the top k| / k      (divided by k even when fewer were
 *                                                     retrieved, as trec_eval's P_k)
 *     MRR@k        = 1 / rank of the first relevant hit within the top k, 0 if none
 *                    (k = 0: the whole list, trec_eval's recip_rank; BEIR uses MRR@k)
 *     nDCG@k       = DCG@k / IDCG@k,  DCG@k = sum_{i=1..k} rel_i / log2(i + 1)
 *                    rel_i the grade of the hit at rank i (0 when unjudged), i.e. linear gain
 *                    (trec_eval's ndcg_cut; not the 2^rel - 1 "exponential" gain); IDCG@k the
 *                    same sum over the qrels' grades sorted descending (the best possible
 *                    ranking of the judged documents). Binary relevance = all grades 1.
 *
 * Averages are arithmetic means over the queries of the qrels that have at least one relevant
 * judgement; a query with no hits scores 0 (trec_eval -c: a system that skips a query is not
 * rewarded for it). Queries with no relevant judgement are left out.
 *
 * Order: a run is scored in the order given. trec_eval instead re-sorts each run file by score
 * descending and breaks ties by docno descending, so a run with tied scores can score
 * differently there; RagHit lists break ties by ascending id. A document repeated in a run
 * counts at its first position only.
 *
 * Files (plain text, whitespace-separated; written atomically through core/io.h):
 *     run    "qid Q0 docno rank score tag"   rank from 1, one line per hit
 *     qrels  "qid 0 docno rel"               rel an integer grade
 * Document numbers are the names in a `doc_names` table (id = index), e.g. a benchmark's.
 *
 * Ownership: everything is borrowed for the call; rag_eval_read_qrels fills a caller's RagQrels
 * (free with rag_qrels_free; zeroed on failure). rag_eval_metric_name writes into the caller's
 * buffer.
 *
 * Errors: files: ERR_IO (the path and the system's reason), ERR_FORMAT ("file:line", the field,
 * a hint). Names with white space, NULL pointers and k < 0 are bugs (CHECK).
 *
 * Usage:
 *     RagEvalMetric m[3] = {{RAG_EVAL_RECALL, 10}, {RAG_EVAL_MRR, 10}, {RAG_EVAL_NDCG, 10}};
 *     double v[2 * 3];
 *     for (int i = 0; i < 3; i++) {
 *         v[i] = rag_eval_mean(&bm.qrels, bm25_runs, bm25_n, NULL, m[i]);
 *         v[3 + i] = rag_eval_mean(&bm.qrels, fused_runs, fused_n, NULL, m[i]);
 *     }
 *     rag_eval_print_table(stdout, (const char *[]){"bm25", "rrf"}, 2, m, 3, v);
 *     rag_eval_write_run("out/bm25.run", (const char *const *)bm.qrels.qids, bm.n_queries,
 *                        bm25_runs, bm25_n, (const char *const *)bm.doc_names, bm.n_docs,
 *                        "bm25");
 */
#ifndef RAG_EVAL_H
#define RAG_EVAL_H

#include "rag/qrels.h"
#include "rag/rag.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    RAG_EVAL_RECALL = 0,
    RAG_EVAL_PRECISION = 1,
    RAG_EVAL_MRR = 2,
    RAG_EVAL_NDCG = 3,
    RAG_EVAL_COUNT
} RagEvalKind;

typedef struct {
    RagEvalKind kind;
    int64_t k; // cut-off (>= 1; MRR also accepts 0 = the whole list)
} RagEvalMetric;

// Recall@k and nDCG@k of one query: hits (n_hits, ranked) against its judgements
// j[0..n_j) (each doc at most once). Both 0 when the query has no relevant judgement.
void rag_eval_recall_ndcg(const RagHit *hits, int64_t n_hits, const RagJudgement *j,
                          int64_t n_j, int64_t k, double *recall, double *ndcg);

// Metric m of one query (see the top of the file).
double rag_eval_query(const RagHit *hits, int64_t n_hits, const RagJudgement *j, int64_t n_j,
                      RagEvalMetric m);

// The mean of m over the queries of qr that have a relevant judgement and, when `only` is not
// NULL, only[q] is true (e.g. a benchmark's is_test). runs[q] holds n_hits[q] hits (runs[q] may
// be NULL when n_hits[q] is 0). NAN when no query counts.
double rag_eval_mean(const RagQrels *qr, const RagHit *const *runs, const int64_t *n_hits,
                     const bool *only, RagEvalMetric m);

// "recall@10", "P@5", "MRR@10" (or "MRR"), "nDCG@10" into buf; returns buf.
const char *rag_eval_metric_name(RagEvalMetric m, char buf[32]);

// Prints a table to f: one row per system, one column per metric, values (n_systems,
// n_metrics) row-major, 4 decimals (NAN prints as "-").
void rag_eval_print_table(FILE *f, const char *const *systems, int64_t n_systems,
                          const RagEvalMetric *metrics, int64_t n_metrics, const double *values);

// Writes a TREC run file: for each query q, "qids[q] Q0 doc_names[id] rank score tag" per hit
// of runs[q] (ids must lie in [0, n_docs); doc_names NULL writes the id as a number). Atomic.
int rag_eval_write_run(const char *path, const char *const *qids, int64_t n_queries,
                       const RagHit *const *runs, const int64_t *n_hits,
                       const char *const *doc_names, int64_t n_docs, const char *tag);

// Writes qr as a TREC qrels file ("qid 0 docno rel"), documents named by doc_names (ids in
// [0, n_docs); a negative id is written as "unknown:<-id>"). Atomic.
int rag_eval_write_qrels(const char *path, const RagQrels *qr, const char *const *doc_names,
                         int64_t n_docs);

// Reads a TREC qrels file into *out (queries sorted by qid, strcmp). A docno found in
// doc_names[0..n_docs) gets its index as id; other docnos get distinct negative ids (-1, -2,
// ... in order of first appearance). ERR_IO, or ERR_FORMAT for a line without 4 fields, a
// non-integer rel or a (qid, docno) judged twice.
int rag_eval_read_qrels(const char *path, const char *const *doc_names, int64_t n_docs,
                        RagQrels *out);

#endif
