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

#include <stdint.h>

typedef struct {
    int64_t id;  // chunk id / index row
    float score; // larger = better
} RagHit;

// Sorts hits by score descending, ties by ascending id (the order every stage returns).
void rag_hits_sort(RagHit *hits, int64_t n);

#endif
