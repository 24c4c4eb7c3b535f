/*
 * experiment.c: fill a retriever with a benchmark's documents, train its reranker on the
 * train split, score every mode on the test split (see experiment.h).
 */
#include "rag/experiment.h"

#include "core/err.h"
#include "nn/progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

RagExpConfig rag_exp_defaults(void)
{
    return (RagExpConfig){.k = 10, .max_test = 0, .max_train = 2000, .tag = "run"};
}

// Marks the first `max` queries of the wanted split (0 = all) in sel; returns how many.
static int64_t select_queries(const RagBenchmark *bm, bool test, int64_t max, bool *sel)
{
    int64_t n = 0;
    for (int64_t q = 0; q < bm->n_queries; q++) {
        sel[q] = bm->is_test[q] == test && (max == 0 || n < max) &&
                 rag_qrels_n_relevant(&bm->qrels, q) > 0;
        n += sel[q];
    }
    return n;
}

int rag_experiment_run(RagRetriever *r, const RagBenchmark *bm, const RagExpConfig *c,
                       RagExpResult *out)
{
    CHECK(r && bm && c && out && c->k >= 1, "rag_experiment_run: bad arguments");
    CHECK(rag_retriever_n_docs(r) == 0, "rag_experiment_run: the retriever must start empty");
    memset(out, 0, sizeof *out);
    out->metrics[0] = (RagEvalMetric){RAG_EVAL_RECALL, c->k};
    out->metrics[1] = (RagEvalMetric){RAG_EVAL_MRR, c->k};
    out->metrics[2] = (RagEvalMetric){RAG_EVAL_NDCG, 10};

    // 1. Index the documents (document id i = benchmark document i).
    double t0 = now();
    NnProgress *p = c->progress ? nn_progress_start(bm->n_docs, "index") : NULL;
    for (int64_t i = 0; i < bm->n_docs; i++) {
        const char *text = bm->doc_texts[i];
        int64_t id = rag_retriever_add_text(r, bm->doc_names[i], bm->doc_names[i], bm->name,
                                            "dict", text, (int64_t)strlen(text));
        if (id < 0) {
            nn_progress_finish(p);
            return (int)id;
        }
        CHECK(id == i, "rag_experiment_run: document ids out of step");
        if (p && ((i + 1) % 2000 == 0 || i + 1 == bm->n_docs))
            nn_progress_update(p, i + 1, NAN, NULL);
    }
    nn_progress_finish(p);
    out->index_seconds = now() - t0;
    out->n_docs = rag_retriever_n_docs(r);
    out->n_chunks = rag_retriever_n_chunks(r);

    bool *sel = malloc((size_t)bm->n_queries * sizeof *sel + 1);
    CHECK(sel, "rag_experiment_run: out of memory");
    // 2. The reranker, on train queries only.
    int rc = ERR_OK;
    if (c->max_train > 0 && rag_retriever_words(r)) {
        select_queries(bm, false, c->max_train, sel);
        rc = rag_retriever_train_reranker(r, (const char *const *)bm->queries, &bm->qrels, sel,
                                          &out->n_train_pairs);
        if (rc != ERR_OK) {
            free(sel);
            return rc;
        }
    }

    // 3. Every mode on the test queries.
    out->n_test = select_queries(bm, true, c->max_test, sel);
    RagHit **runs = calloc((size_t)bm->n_queries, sizeof *runs);
    int64_t *n_hits = calloc((size_t)bm->n_queries, sizeof *n_hits);
    CHECK(runs && n_hits, "rag_experiment_run: out of memory");
    int64_t depth = c->k > 10 ? c->k : 10;
    for (int m = 0; m < RAG_SEARCH_MODE_COUNT && rc == ERR_OK; m++) {
        if (m == RAG_SEARCH_RERANK && !rag_retriever_words(r)) {
            for (int j = 0; j < RAG_EXP_N_METRICS; j++) out->values[m][j] = NAN;
            continue;
        }
        p = c->progress ? nn_progress_start(out->n_test, rag_search_mode_name(m)) : NULL;
        double ts = now();
        int64_t done = 0;
        for (int64_t q = 0; q < bm->n_queries && rc == ERR_OK; q++) {
            n_hits[q] = 0;
            if (!sel[q]) continue;
            if (!runs[q]) runs[q] = malloc((size_t)depth * sizeof **runs);
            CHECK(runs[q], "rag_experiment_run: out of memory");
            int64_t n = rag_retriever_search_docs(r, (RagSearchMode)m, bm->queries[q], depth,
                                                  NULL, runs[q]);
            if (n < 0) rc = (int)n;
            else n_hits[q] = n;
            done++;
            if (p && (done % 200 == 0 || done == out->n_test))
                nn_progress_update(p, done, NAN, NULL);
        }
        nn_progress_finish(p);
        double secs = now() - ts;
        out->qps[m] = secs > 0 ? (double)out->n_test / secs : 0;
        for (int j = 0; j < RAG_EXP_N_METRICS; j++)
            out->values[m][j] = rag_eval_mean(&bm->qrels, (const RagHit *const *)runs, n_hits,
                                              sel, out->metrics[j]);
        if (c->run_dir && rc == ERR_OK) {
            char path[1024], tag[256];
            snprintf(tag, sizeof tag, "%s.%s", c->tag ? c->tag : "run",
                     rag_search_mode_name(m));
            for (char *s = tag; *s; s++)
                if (*s == '+') *s = '_';
            snprintf(path, sizeof path, "%s/%s.run", c->run_dir, tag);
            // Only the selected queries: the others have 0 hits and write no line.
            rc = rag_eval_write_run(path, (const char *const *)bm->qrels.qids, bm->n_queries,
                                    (const RagHit *const *)runs, n_hits,
                                    (const char *const *)bm->doc_names, bm->n_docs, tag);
        }
    }
    if (c->run_dir && rc == ERR_OK) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.qrels", c->run_dir, c->tag ? c->tag : "run");
        rc = rag_eval_write_qrels(path, &bm->qrels, (const char *const *)bm->doc_names,
                                  bm->n_docs);
    }
    for (int64_t q = 0; q < bm->n_queries; q++) free(runs[q]);
    free(runs), free(n_hits), free(sel);
    return rc;
}

void rag_exp_print(FILE *f, const RagExpResult *res, int n, const char *const *names)
{
    char buf[32];
    fprintf(f, "%-22s %-14s", "setting", "mode");
    for (int j = 0; j < RAG_EXP_N_METRICS; j++)
        fprintf(f, " %10s", rag_eval_metric_name(res[0].metrics[j], buf));
    fprintf(f, " %10s\n", "queries/s");
    for (int i = 0; i < n; i++) {
        for (int m = 0; m < RAG_SEARCH_MODE_COUNT; m++) {
            fprintf(f, "%-22s %-14s", names[i], rag_search_mode_name(m));
            for (int j = 0; j < RAG_EXP_N_METRICS; j++) {
                double v = res[i].values[m][j];
                if (isnan(v)) fprintf(f, " %10s", "-");
                else fprintf(f, " %10.4f", v);
            }
            fprintf(f, " %10.0f\n", res[i].qps[m]);
        }
    }
}
