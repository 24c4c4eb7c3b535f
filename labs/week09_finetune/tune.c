/*
 * tune.c: part 6, fine-tuning the retriever instead of the generator. The dense retriever's
 * embedder (the SIF-weighted average of word vectors) gets a learnt linear map P on top,
 * trained by InfoNCE with in-batch negatives on (definition, entry) pairs of the FOLDOC
 * reverse-dictionary benchmark's TRAIN split (rag/tune.h); its retrieval metrics are then
 * measured on the TEST split, whose entries were never in a training pair.
 */
#include "lab.h"

#include "core/err.h"
#include "core/plot.h"
#include "rag/experiment.h"
#include "rag/tune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The SIF constants: the retriever's usual one, and the smaller one that leaves rare words
// more weight, which only the tuned map can use (see rag/tune.h).
#define SIF_BASE 1e-3f
#define SIF_TUNED 3e-5f
#define N_SETTINGS 3

// One experiment: a fresh retriever (no reranker: w2v NULL) over the benchmark with emb.
static int score(const RagEmbedder *emb, const RagBenchmark *bm, int64_t max_test,
                 RagExpResult *res)
{
    RagRetrieverConfig cfg = rag_retriever_defaults();
    RagRetriever *r;
    int rc = rag_retriever_create(&cfg, emb, NULL, &r);
    if (rc != ERR_OK) return rc;
    RagExpConfig ec = rag_exp_defaults();
    ec.max_test = max_test, ec.max_train = 0, ec.progress = true;
    rc = rag_experiment_run(r, bm, &ec, res);
    rag_retriever_free(r);
    return rc;
}

int lab_embed_tune(const NnW2v *w2v, int64_t max_test, const char *out, json_t *json)
{
    RagBenchmark bm;
    int rc = rag_benchmark_foldoc(NULL, &bm);
    if (rc != ERR_OK) return rc;
    int64_t n_test = 0;
    for (int64_t q = 0; q < bm.n_queries; q++) n_test += bm.is_test[q];
    RagTunePairs pairs = {0};
    int64_t n_pairs = rag_tune_pairs_add_benchmark(&pairs, &bm, false, 0);
    printf("benchmark: %lld FOLDOC entries, %lld queries; %lld TRAIN pairs (definition with its "
           "headword removed -> entry), %lld TEST queries of other entries (%lld scored)\n",
           (long long)bm.n_docs, (long long)bm.n_queries, (long long)n_pairs, (long long)n_test,
           (long long)(max_test > 0 && max_test < n_test ? max_test : n_test));
    for (int64_t q = 0; q < bm.n_queries; q++)
        if (!bm.is_test[q]) {
            printf("  e.g. \"%.80s...\" -> %s\n", bm.queries[q],
                   bm.doc_names[bm.qrels.j[bm.qrels.start[q]].doc]);
            break;
        }

    // The tuning: features x / |x| once, then P = E + W by AdamW on InfoNCE (tau 0.05,
    // in-batch negatives, both directions), early stopping on 10% of the pairs.
    RagEmbedder feat = rag_embedder_w2v(w2v, SIF_TUNED);
    RagTuneConfig tc = rag_tune_defaults();
    tc.progress = true;
    RagTuneResult tr;
    if ((rc = rag_tune_train(&feat, &pairs, &tc, &tr)) != ERR_OK) goto done_pairs;
    printf("InfoNCE (batch %lld, tau %.2f): train %.3f -> %.3f, validation %.3f -> %.3f (best "
           "epoch %d of %d), %lld + %lld pairs, %lld x %lld parameters, %.1f s\n",
           (long long)tc.batch, (double)tc.tau, (double)tr.train_loss[1],
           (double)tr.train_loss[tr.epochs_run], (double)tr.val_loss[0],
           (double)tr.val_loss[tr.best_epoch], tr.best_epoch, tr.epochs_run,
           (long long)tr.n_train, (long long)tr.n_val, (long long)tr.dim_out,
           (long long)tr.dim_in, tr.seconds);
    float ep[256];
    int n_ep = tr.epochs_run < 255 ? tr.epochs_run : 255;
    for (int i = 0; i <= n_ep; i++) ep[i] = (float)i;
    PlotSeries s[2] = {
        {.label = "train", .x = ep + 1, .y = tr.train_loss + 1, .n = n_ep},
        {.label = "validation", .x = ep, .y = tr.val_loss, .n = n_ep + 1},
    };
    char path[1024];
    snprintf(path, sizeof path, "%s/embed_tune.png", out);
    rc = plot_lines(path, s, 2, &(PlotOpts){.title = "Contrastive tuning of the embedder "
                    "(InfoNCE, in-batch negatives)", .xlabel = "epoch", .ylabel = "loss"});
    if (rc != ERR_OK) goto done_tune;
    printf("wrote %s\n", path);

    // Before and after, on the TEST split: the untuned average at both SIF constants (so the
    // gain is not mistaken for the constant's), then the tuned encoder.
    RagEmbedder emb[N_SETTINGS] = {rag_embedder_w2v(w2v, SIF_BASE), rag_embedder_w2v(w2v, SIF_TUNED),
                                   rag_tune_embedder(w2v, SIF_TUNED, &tr)};
    const char *names[N_SETTINGS] = {"untuned, a=1e-3", "untuned, a=3e-5", "tuned P, a=3e-5"};
    RagExpResult res[N_SETTINGS];
    for (int i = 0; i < N_SETTINGS && rc == ERR_OK; i++) {
        printf("-- %s\n", names[i]);
        fflush(stdout);
        rc = score(&emb[i], &bm, max_test, &res[i]);
    }
    for (int i = 0; i < N_SETTINGS; i++) rag_embedder_deinit(&emb[i]);
    if (rc != ERR_OK) goto done_tune;
    printf("\n%lld TEST queries (entries never in a tuning pair), document level:\n",
           (long long)res[0].n_test);
    printf("%-18s %-7s %9s %9s %9s\n", "embedder", "mode", "recall@10", "MRR@10", "nDCG@10");
    printf("%-18s %-7s %9.3f %9.3f %9.3f\n", "(lexical)", "bm25", res[0].values[0][0],
           res[0].values[0][1], res[0].values[0][2]);
    json_t *jrows = json_array();
    for (int i = 0; i < N_SETTINGS; i++)
        for (int m = RAG_SEARCH_DENSE; m <= RAG_SEARCH_HYBRID; m++) {
            const double *v = res[i].values[m];
            printf("%-18s %-7s %9.3f %9.3f %9.3f\n", names[i], rag_search_mode_name(m), v[0],
                   v[1], v[2]);
            json_array_append_new(jrows, json_pack("{s:s, s:s, s:f, s:f, s:f}", "embedder",
                                  names[i], "mode", rag_search_mode_name(m), "recall10", v[0],
                                  "mrr10", v[1], "ndcg10", v[2]));
        }
    json_object_set_new(json, "embedding_tuning", json_pack(
        "{s:o, s:I, s:I, s:i, s:i, s:f, s:f, s:f, s:f}", "rows", jrows, "train_pairs",
        (json_int_t)tr.n_train, "test_queries", (json_int_t)res[0].n_test, "best_epoch",
        tr.best_epoch, "epochs", tr.epochs_run, "val_loss_before", (double)tr.val_loss[0],
        "val_loss_best", (double)tr.val_loss[tr.best_epoch], "bm25_recall10",
        res[0].values[0][0], "seconds", tr.seconds));
done_tune:
    rag_tune_result_free(&tr);
    rag_embedder_deinit(&feat);
done_pairs:
    rag_tune_pairs_free(&pairs);
    rag_benchmark_free(&bm);
    return rc;
}
