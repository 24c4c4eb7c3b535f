/*
 * rag.h: the retrieval-augmented generation module, and the one type its stages share.
 *
 * The week-5 pipeline, one header per stage (each the contract of its file):
 *
 *     doc.h      documents: plain text, Markdown, dictd entries, PDF (poppler) -> RagDoc
 *     chunk.h    chunking strategies -> RagChunk (byte offsets into a document's text)
 *     embed.h    embedders: text -> unit vector (week-2 word vectors, transformer states)
 *     flat.h     exact search (inner product, cosine, L2) batched through sgemm
 *     hnsw.h     HNSW approximate nearest neighbours (add, delete, save/load)
 *     bm25.h     BM25 inverted index (Lucene idf, optional Snowball stemming)
 *     fusion.h   reciprocal rank fusion of ranked lists
 *     rerank.h   second-stage scoring of the fused candidates
 *     store.h    SQLite store: documents, chunks, metadata, vectors in one file
 *     eval.h     recall@k, MRR, nDCG@10, TREC run files
 *     pipeline.h question -> retrieve -> rerank -> context -> answer (JSON)
 *
 * Every retrieval stage speaks RagHit: an id (a chunk id, or a row of an index) and a score,
 * larger = better (an L2 search reports the negated squared distance, so "larger is better"
 * holds everywhere and lists can be fused and compared without knowing where they came from).
 * A ranked list is an array of RagHit sorted by score, descending; ties are broken by
 * ascending id so results are deterministic.
 */
#ifndef RAG_RAG_H
#define RAG_RAG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int64_t id;  // chunk id / index row
    float score; // larger = better
} RagHit;

// Sorts hits by score descending, ties by ascending id (the order every stage returns).
void rag_hits_sort(RagHit *hits, int64_t n);

// a ranks after b in that order: a lower score, or an equal score and a larger id.
static inline bool rag_hit_worse(RagHit a, RagHit b)
{
    return a.score < b.score || (a.score == b.score && a.id > b.id);
}

// The k best hits of a stream: a min-heap in caller storage h (k entries) whose root h[0] is
// the worst hit kept, so a new hit is admitted when it beats the root. Used by BM25 and exact
// search. Start with (RagTopK){buf, 0, k}.
typedef struct {
    RagHit *h;
    int64_t n, k;
} RagTopK;

// Offers x: kept if fewer than k are held or x beats the worst kept one (which then goes).
void rag_topk_push(RagTopK *t, RagHit x);

// Empties the heap into out[0..n) best first (the rag_hits_sort order), adding `add` to every
// score; returns n. out may be t->h itself.
int64_t rag_topk_drain(RagTopK *t, RagHit *out, float add);

#endif
