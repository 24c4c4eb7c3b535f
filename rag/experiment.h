/*
 * experiment.h: one retrieval experiment = a benchmark, a retriever over its documents, every
 * search mode scored on the test queries. The week-5 lab's tables and the retrieval test
 * both run through here, so what the lab prints is what the test checks.
 *
 *   1. the benchmark's documents go into the retriever in order (document id i = benchmark
 *      document i), cut by the retriever's chunking options;
 *   2. the reranker is trained on up to max_train queries of the TRAIN split;
 *   3. each mode (BM25, dense, hybrid, hybrid+rerank) answers up to max_test queries of the
 *      TEST split at the document level; the metrics are recall@k, MRR@k and nDCG@10 (eval.h);
 *   4. optionally one TREC run file per mode: <run_dir>/<tag>.<mode>.run (+ the qrels).
 *
 * Train and test queries come from different dictionary entries (qrels.h splits by headword),
 * so the reranker never sees a test entry's query.
 *
 * Ownership: everything is borrowed. Errors: those of the retriever and of writing run files.
 *
 * Usage:
 *     RagBenchmark bm;   rag_benchmark_foldoc(NULL, &bm);
 *     RagRetriever *r;   rag_retriever_create(&cfg, &emb, &w2v, &r);
 *     RagExpConfig ec = rag_exp_defaults();
 *     RagExpResult res;
 *     if (rag_experiment_run(r, &bm, &ec, &res) != ERR_OK) die(err_msg());
 *     rag_exp_print(stdout, &res, 1, (const char *[]){"recursive-800"});
 */
#ifndef RAG_EXPERIMENT_H
#define RAG_EXPERIMENT_H

#include "rag/eval.h"
#include "rag/qrels.h"
#include "rag/retriever.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define RAG_EXP_N_METRICS 3 // recall@k, MRR@k, nDCG@10

typedef struct {
    int64_t k;          // recall@k and MRR@k cut-off (10)
    int64_t max_test;   // test queries scored, 0 = all (0)
    int64_t max_train;  // train queries for the reranker, 0 = none: MaxSim only (2000)
    const char *run_dir; // TREC run files go here, NULL = none
    const char *tag;     // file-name / run tag prefix ("run")
    bool progress;       // progress bars on stderr
} RagExpConfig;

typedef struct {
    RagEvalMetric metrics[RAG_EXP_N_METRICS];
    double values[RAG_SEARCH_MODE_COUNT][RAG_EXP_N_METRICS]; // by mode, by metric
    double qps[RAG_SEARCH_MODE_COUNT];                       // test queries per second
    int64_t n_test, n_train_pairs;
    int64_t n_docs, n_chunks;
    double index_seconds; // adding the documents (chunk + embed + index)
} RagExpResult;

RagExpConfig rag_exp_defaults(void);

// Runs the experiment on an EMPTY retriever r (it is filled with bm's documents).
int rag_experiment_run(RagRetriever *r, const RagBenchmark *bm, const RagExpConfig *c,
                       RagExpResult *out);

// Prints one table row per (result, mode): name, mode, the metrics, queries/s.
void rag_exp_print(FILE *f, const RagExpResult *res, int n, const char *const *names);

#endif
