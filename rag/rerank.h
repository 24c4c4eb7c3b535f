/*
 * rerank.h: the second retrieval stage: rescoring a short candidate list more carefully.
 *
 * The first stage (BM25, dense, their fusion) scores a query against every chunk, so each
 * chunk is summarised by one number computed without looking at the query and the chunk
 * together. A reranker sees each (query, candidate) pair, so it can afford token-level
 * interaction on the top 50 or so:
 *
 *   Late interaction (MaxSim, as in ColBERT, here over the week-2 word vectors): every query
 *   word looks for its best match among the chunk's words,
 *       maxsim(q, p) = sum_{w in q} s(w) max_{v in p} cos(u_w, u_v) / sum_{w in q} s(w),
 *   with the SIF weight s(w) = a / (a + p(w)) of embed.h (rag_embed_sif), so "the" matching "the" counts for
 *   little and "protocol" matching "protocols" counts a lot. A chunk that mentions each query
 *   concept somewhere scores high even when its averaged vector is diluted by other topics.
 *
 *   A learned cross-scorer: a logistic model over RAG_RERANK_NF features of the pair
 *   (rag_rerank_features), trained in this project on query/passage pairs of the training
 *   split (rag_rerank_train): P(relevant | pair) = sigmoid(w . z + b), z the standardised
 *   features. Fitting is Newton's method (IRLS) on the L2-regularised log-loss: with 7
 *   parameters it converges in ~10 exact steps, deterministically.
 *
 * Features (in this order): the candidate's first-stage BM25 score divided by the best BM25
 * score of the list (0 when BM25 did not return it), its dense cosine, its fused RRF score
 * times 60, MaxSim, the SIF-weighted share of query words present verbatim in the chunk, and
 * log(1 + chunk words).
 *
 * The word vectors and their weights come from a W2V embedder (embed.h), which computes the
 * corpus totals once at creation: a query scores ~50 candidates, so nothing here may walk
 * the vocabulary per call.
 *
 * Ownership: RagRerankModel is a plain value. Borrowed pointers everywhere else.
 * Errors: rag_rerank_train returns ERR_INVALID when the labels are all one class; bad
 * arguments are bugs (CHECK).
 *
 * Usage:
 *     float f[RAG_RERANK_NF];
 *     RagEmbedder words = rag_embedder_w2v(&w2v, 1e-3f);
 *     rag_rerank_features(&words, q, qlen, chunk, clen, bm25_norm, cosine, rrf, f);
 *     ... collect X (n, RAG_RERANK_NF) and labels y (n) over training queries ...
 *     RagRerankModel rm;
 *     if (rag_rerank_train(X, y, n, 1e-3, &rm) != ERR_OK) die(err_msg());
 *     float s = rag_rerank_score(&rm, f);   // larger = more likely relevant
 */
#ifndef RAG_RERANK_H
#define RAG_RERANK_H

#include "rag/embed.h"

#include <stdint.h>

#define RAG_RERANK_NF 6

typedef struct {
    double w[RAG_RERANK_NF], b;                // on standardised features
    double mean[RAG_RERANK_NF], std[RAG_RERANK_NF];
    int iters;                                 // Newton steps taken
    double loss;                               // final mean log-loss (without the L2 term)
} RagRerankModel;

// "bm25", "dense", "rrf", "maxsim", "overlap", "log_len": the feature names, in order.
const char *rag_rerank_feature_name(int i);

// MaxSim late interaction of query q (qlen bytes) against passage p (plen bytes) over the unit
// word vectors of the W2V embedder e with its SIF weights (sif_a 0 = unweighted). In [-1, 1];
// 0 when the query has no known word or the passage none.
float rag_maxsim(const RagEmbedder *e, const char *q, int64_t qlen, const char *p, int64_t plen);

// The SIF-weighted share of the query's words that occur verbatim in the passage, in [0, 1]
// (the "overlap" feature; unknown words weigh 1). 0 for a query without words.
float rag_word_overlap(const RagEmbedder *e, const char *q, int64_t qlen, const char *p,
                       int64_t plen);

// The RAG_RERANK_NF features of one (query, candidate) pair into f, given the candidate's
// first-stage signals (see the top of the file).
void rag_rerank_features(const RagEmbedder *e, const char *q, int64_t qlen, const char *p,
                         int64_t plen, float bm25_norm, float dense_cos, float rrf, float *f);

// Fits the logistic model to n pairs: X (n, RAG_RERANK_NF) row-major, y (n) in {0, 1}, L2
// strength l2 (on the weights, not the bias). Fills *out.
int rag_rerank_train(const float *X, const uint8_t *y, int64_t n, double l2,
                     RagRerankModel *out);

// The model's logit for one pair's features (larger = more likely relevant).
float rag_rerank_score(const RagRerankModel *m, const float *f);

// Saves the model as a small JSON file (atomically): {"format": "engine-rerank-1",
// "features": [names], "w": [...], "b": ..., "mean": [...], "std": [...]}. ERR_IO on failure.
int rag_rerank_save(const RagRerankModel *m, const char *path);

// Loads a file written by rag_rerank_save. ERR_IO (unreadable), ERR_FORMAT (not JSON, another
// format, a missing or non-numeric field, a feature list that differs from this build's, a
// std <= 0), each naming the file and the field.
int rag_rerank_load(const char *path, RagRerankModel *out);

#endif
