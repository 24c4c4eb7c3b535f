/*
 * retrieve.c: the same questions answered by retrieval (week 5's pipeline): every FOLDOC
 * entry, held-out ones included, is a document; the BASE model (never fine-tuned) picks the
 * answer sentence among the retrieved ones, and the answer is quoted verbatim with its
 * citation. The knowledge is in the store, not in the weights.
 */
#include "lab.h"

#include "core/err.h"
#include "datasets/datasets.h"
#include "rag/pipeline.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int lab_rag_eval(const LabData *d, TfModel *base, TfBpe *tok, const NnW2v *w2v,
                 const int64_t *const idx[2], const int64_t n[2], double em[3], double f1[3],
                 double *seconds)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    // The word vectors serve the dense half of hybrid search and MaxSim (week 2's skip-gram).
    RagEmbedder emb = rag_embedder_w2v(w2v, 1e-3f);
    RagDocs *docs = rag_docs_create();
    int64_t n_docs = rag_docs_add_dict(docs, "foldoc", 0);
    RagRetrieverConfig cfg = rag_retriever_defaults();
    cfg.chunk.bpe = tok;
    RagRetriever *r = NULL;
    int rc = n_docs < 0 ? (int)n_docs : rag_retriever_create(&cfg, &emb, w2v, &r);
    for (int64_t i = 0; rc == ERR_OK && i < docs->n; i++) {
        int64_t id = rag_retriever_add_doc(r, &docs->docs[i]);
        if (id < 0) rc = (int)id;
    }
    RagPipelineConfig pc = rag_pipeline_defaults();
    pc.mode = RAG_SEARCH_BM25, pc.k = 1, pc.model = base, pc.bpe = tok;
    // s = 0: seen entries as trained, 1: seen entries paraphrased, 2: held-out entries.
    for (int s = 0; s < 3; s++) {
        em[s] = f1[s] = 0;
        int set = s == 2;
        for (int64_t i = 0; rc == ERR_OK && i < n[set]; i++) {
            const LabQa *q = &d->qa[idx[set][i]];
            char question[256], *json;
            snprintf(question, sizeof question, s == 1 ? "What does %s mean?" : "What is %s?",
                     q->title);
            if ((rc = rag_answer(r, &pc, question, &json)) != ERR_OK) break;
            json_t *o = json_loads(json, 0, NULL);
            const char *a = json_string_value(json_object_get(o, "answer"));
            // The answer is "\"<sentence>\" [n]": score the sentence alone.
            char *ans = strdup(json_is_true(json_object_get(o, "found")) && a ? a + 1 : "");
            char *close = strrchr(ans, '"');
            if (close) *close = '\0';
            double e, f;
            lab_score(ans, q->answer, &e, &f);
            if (i == 0)
                printf("  [RAG, %s] %s -> %s\n", s == 2 ? "held out" : s ? "paraphrased" : "seen",
                       question, ans);
            em[s] += e / (double)n[set], f1[s] += f / (double)n[set];
            free(ans), free(json);
            json_decref(o);
        }
    }
    rag_retriever_free(r);
    rag_docs_free(docs);
    rag_embedder_deinit(&emb);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return rc;
}
