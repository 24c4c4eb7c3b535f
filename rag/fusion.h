/*
 * fusion.h: reciprocal rank fusion (RRF) of ranked lists, e.g. BM25 + dense retrieval.
 *
 * Scores from different retrievers are not comparable (a BM25 score of 14 and a cosine of 0.8
 * say nothing about each other), but ranks are. RRF (Cormack, Clarke and Buettcher, SIGIR 2009)
 * gives each document the sum over the lists that hold it of
 *
 *     score(d) = sum_i  w_i / (k + rank_i(d))        rank_i(d) = 1 for the top of list i
 *
 * with k = 60 by default (it damps the difference between rank 1 and rank 2, so one list's
 * top hit cannot outvote agreement further down) and weights w_i = 1 unless given. A list that
 * does not hold d adds nothing. The rank of a hit is its position in the list as given (the
 * lists are taken to be ranked already, best first, as every stage returns them); an id that
 * appears twice in one list counts once, at its first (best) position.
 *
 * Determinism: the sum is taken in double, in list order, then rounded to float; the result is
 * sorted by that float score descending and ties by ascending id (rag_hits_sort's order), so
 * the same inputs always give the same output whatever the order ids first appear in.
 *
 * Ownership: the lists are borrowed (read only); out is the caller's, with room for top_k hits.
 * Errors: none from the environment; NULL lists with non-zero length, negative lengths,
 * k <= 0 or negative weights are bugs (CHECK).
 *
 * Usage:
 *     RagHit sparse[100], dense[100], fused[10];
 *     int64_t ns = rag_bm25_search(bm25, question, 100, sparse);
 *     int64_t nd = rag_flat_search(flat, qvec, 100, dense);
 *     const RagHit *lists[2] = {sparse, dense};
 *     const int64_t lens[2] = {ns, nd};
 *     int64_t n = rag_rrf(lists, lens, NULL, 2, RAG_RRF_K, 10, fused);   // equal weights
 *     for (int64_t i = 0; i < n; i++) printf("%lld %.5f\n", (long long)fused[i].id,
 *                                            fused[i].score);
 */
#ifndef RAG_FUSION_H
#define RAG_FUSION_H

#include "rag/rag.h"

#include <stdint.h>

// The k of Cormack et al.
#define RAG_RRF_K 60.0

// Fuses n_lists ranked lists (lists[i] holds lens[i] hits) with per-list weights (NULL = all
// 1) into the top_k best documents by RRF score, written to out sorted as rag_hits_sort does.
// Returns how many were written: min(top_k, distinct ids over all lists).
int64_t rag_rrf(const RagHit *const *lists, const int64_t *lens, const float *weights,
                int64_t n_lists, double k, int64_t top_k, RagHit *out);

// The RRF score of one document: sum over i < n_lists with ranks[i] >= 1 of
// weights[i] / (k + ranks[i]); ranks[i] = 0 means "not in list i". weights NULL = all 1.
double rag_rrf_score(const int64_t *ranks, const float *weights, int64_t n_lists, double k);

#endif
