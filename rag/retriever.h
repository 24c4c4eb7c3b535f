/*
 * retriever.h: the retrieval half of the RAG pipeline: documents in, ranked chunks out.
 *
 * A RagRetriever owns a corpus of documents cut into chunks (chunk.h) and three views of it:
 * a BM25 index of the chunk texts (bm25.h), a dense index of their embeddings (flat.h exact
 * cosine, or hnsw.h), and the embeddings themselves (for the reranker's features). A query
 * runs through one of the modes, each a stage added to the previous one:
 *
 *     RAG_SEARCH_BM25    lexical: BM25 over the chunk texts
 *     RAG_SEARCH_DENSE   semantic: cosine between the query's and the chunks' embeddings
 *     RAG_SEARCH_HYBRID  both lists (cfg.candidates each) fused by reciprocal rank (k = 60)
 *     RAG_SEARCH_RERANK  the fused top cfg.candidates rescored by the reranker (rerank.h):
 *                        the trained logistic cross-scorer once rag_retriever_train_reranker
 *                        has run, MaxSim alone before that
 *
 * A metadata filter (RagFilter: document kind and/or source prefix) keeps only chunks of the
 * matching documents; it is applied to each first-stage list before fusion, fetching more
 * candidates when the filter is selective (up to every chunk for an exact answer).
 *
 * Chunk ids are 0..n_chunks-1 in insertion order (the order of rag_retriever_add_doc calls,
 * then chunk order in each document); document ids are 0..n_docs-1 likewise.
 * Document-level results (rag_retriever_search_docs) score a document by its best chunk.
 *
 * Ownership: the retriever copies every text it is given. The embedder and the word vectors
 * (for the reranker; may be NULL, then RERANK is refused) are borrowed and must outlive it.
 * Chunk/document accessors return borrowed pointers valid until rag_retriever_free.
 * Errors: ERR_INVALID for bad chunking options or a reranker asked for without word vectors;
 * those of the stages otherwise. Bad arguments (ids out of range) are bugs: CHECK.
 *
 * Usage:
 *     RagRetrieverConfig cfg = rag_retriever_defaults();
 *     cfg.chunk = (RagChunkOpts){.kind = RAG_CHUNK_RECURSIVE, .size = 600, .overlap = 100};
 *     RagRetriever *r;
 *     if (rag_retriever_create(&cfg, &embedder, &w2v, &r) != ERR_OK) die(err_msg());
 *     for (i = 0; i < n; i++) rag_retriever_add_doc(r, &docs->docs[i]);
 *     RagHit hits[5];
 *     int64_t n_hits = rag_retriever_search(r, RAG_SEARCH_HYBRID, "mail protocol", 5, NULL,
 *                                           hits);
 *     RagChunkRef c = rag_retriever_chunk(r, hits[0].id);   // c.text, c.len, c.doc
 *     rag_retriever_free(r);
 */
#ifndef RAG_RETRIEVER_H
#define RAG_RETRIEVER_H

#include "rag/bm25.h"
#include "rag/chunk.h"
#include "rag/doc.h"
#include "rag/embed.h"
#include "rag/hnsw.h"
#include "rag/qrels.h"
#include "rag/rag.h"
#include "rag/rerank.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    RAG_SEARCH_BM25 = 0,
    RAG_SEARCH_DENSE,
    RAG_SEARCH_HYBRID,
    RAG_SEARCH_RERANK,
    RAG_SEARCH_MODE_COUNT
} RagSearchMode;

typedef struct {
    RagChunkOpts chunk;   // how documents are cut (bpe borrowed)
    RagBm25Config bm25;   // the lexical index
    bool use_hnsw;        // dense index: HNSW (true) or exact cosine (false)
    RagHnswConfig hnsw;   // M, ef_construction, ef_search, seed (dim/metric are set here)
    int64_t candidates;   // per first-stage list, and the reranker's pool (50)
    float sif_a;          // the reranker's SIF weight (1e-3)
} RagRetrieverConfig;

typedef struct {
    const char *kind;          // keep documents of this kind ("pdf", "dict"...), NULL = any
    const char *source_prefix; // keep documents whose source starts with this, NULL = any
} RagFilter;

typedef struct {
    int64_t doc;        // document id
    int64_t ordinal;    // position of the chunk in its document
    int64_t start, end; // bytes [start, end) of the document's text
    const char *text;   // (end - start) bytes, borrowed, not NUL-terminated
} RagChunkRef;

typedef struct RagRetriever RagRetriever;

// Recursive chunks of 800 characters with 100 of overlap, default BM25 with stemming, exact
// cosine, 50 candidates, sif_a 1e-3.
RagRetrieverConfig rag_retriever_defaults(void);

// "bm25", "dense", "hybrid", "hybrid+rerank".
const char *rag_search_mode_name(RagSearchMode m);

// A new empty retriever (owned by the caller) over the borrowed embedder and word vectors
// (w2v: for the reranker's features; NULL = no reranking).
int rag_retriever_create(const RagRetrieverConfig *cfg, const RagEmbedder *emb,
                         const NnW2v *w2v, RagRetriever **out);

// Frees it. NULL does nothing.
void rag_retriever_free(RagRetriever *r);

// Cuts, indexes and embeds one document (copied). Returns its id, or a negative Err.
int64_t rag_retriever_add_doc(RagRetriever *r, const RagDoc *d);

// The same from plain fields (copied): cut by the configured chunker, indexed, embedded.
int64_t rag_retriever_add_text(RagRetriever *r, const char *name, const char *title,
                               const char *source, const char *kind, const char *text,
                               int64_t len);

// The same for a document whose chunks (and optionally vectors, (n_chunks, emb dim)) are known,
// e.g. loaded from a store: no chunking, and no embedding when vectors is not NULL.
int64_t rag_retriever_add_chunks(RagRetriever *r, const char *name, const char *title,
                                 const char *source, const char *kind, const char *text,
                                 int64_t len, const int64_t *start, const int64_t *end,
                                 int64_t n_chunks, const float *vectors);

int64_t rag_retriever_n_docs(const RagRetriever *r);
int64_t rag_retriever_n_chunks(const RagRetriever *r);
RagChunkRef rag_retriever_chunk(const RagRetriever *r, int64_t chunk);
const char *rag_retriever_doc_name(const RagRetriever *r, int64_t doc);
const char *rag_retriever_doc_title(const RagRetriever *r, int64_t doc);
const char *rag_retriever_doc_source(const RagRetriever *r, int64_t doc);
const char *rag_retriever_doc_kind(const RagRetriever *r, int64_t doc);
// The document's embedding rows of its chunks (n_chunks(doc) rows of emb dim), borrowed.
const float *rag_retriever_vector(const RagRetriever *r, int64_t chunk);

// The top min(k, ...) chunks for `query` in mode m (filter may be NULL), into out (k room).
// Returns how many were written, or a negative Err (RERANK without word vectors).
int64_t rag_retriever_search(RagRetriever *r, RagSearchMode m, const char *query, int64_t k,
                             const RagFilter *filter, RagHit *out);

// The top k documents, each scored by its best chunk (hit ids are document ids).
int64_t rag_retriever_search_docs(RagRetriever *r, RagSearchMode m, const char *query,
                                  int64_t k, const RagFilter *filter, RagHit *out);

// Trains the reranker's logistic model on queries[q] for which use[q] is true (NULL = all),
// with document-level judgements qrels (judgement doc = this retriever's document id): the
// fused candidates of each query are labelled relevant when their document is. Returns
// ERR_OK or the error of rag_rerank_train. *pairs (may be NULL) gets the pair count.
int rag_retriever_train_reranker(RagRetriever *r, const char *const *queries,
                                 const RagQrels *qrels, const bool *use, int64_t *pairs);

// The word-vector embedder (SIF weight cfg.sif_a) over the w2v given at creation, which the
// reranker's features use (borrowed, owned by r), or NULL without word vectors.
const RagEmbedder *rag_retriever_words(const RagRetriever *r);

// Uses a reranker model fitted elsewhere (copied; NULL forgets it): e.g. one fitted on a
// benchmark's retriever with the same chunker, BM25 and embedder, so the features mean the same.
void rag_retriever_set_reranker(RagRetriever *r, const RagRerankModel *m);

// The trained model, or NULL before training (borrowed).
const RagRerankModel *rag_retriever_reranker(const RagRetriever *r);

// Time spent in each stage since creation (seconds): [0] BM25, [1] dense (incl. embedding the
// query), [2] fusion, [3] rerank.
void rag_retriever_stage_seconds(const RagRetriever *r, double out[4]);

#endif
