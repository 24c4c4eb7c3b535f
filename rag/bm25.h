/*
 * bm25.h: a BM25 inverted index (lexical retrieval), the sparse half of hybrid search.
 *
 * Documents are (id, text) pairs. The text is cut into terms (see "Tokens" below), and the
 * index keeps for every term its postings list (document, term frequency), and for every
 * document its length in terms. A query is scored term at a time: for each query term, walk
 * its postings and add the term's contribution to an accumulator per document; then a k-element
 * heap picks the best. The score of document D for query Q (terms with repetition) is
 *
 *     score(D, Q) = sum_{t in Q} idf(t) * tf(t,D) (k1 + 1) / (tf(t,D) + k1 (1 - b + b |D| / avgdl))
 *
 * with |D| the document's length in terms and avgdl the mean length over the live documents.
 * k1 (default 1.2) says how fast repeated occurrences saturate; b (default 0.75) how much a long
 * document is penalised. A query term that appears twice counts twice (as Lucene's boolean OR
 * of the terms and FTS5's "a OR a" do). Two idf variants (N live documents, df of them hold t):
 *
 *     RAG_BM25_IDF_LUCENE  idf = ln(1 + (N - df + 0.5) / (df + 0.5))   always > 0 (the default)
 *     RAG_BM25_IDF_FTS5    idf = ln((N - df + 0.5) / (df + 0.5)), and 1e-6 where that is <= 0
 *
 * The FTS5 variant is what SQLite's fts5 bm25() computes (k1 = 1.2, b = 0.75 there), so with
 * it, no stemming and no stop words, our scores equal -bm25() of an FTS5 table over the same
 * documents with the default unicode61 tokenizer (for ASCII text); the tests check this.
 *
 * Tokens: the text is read as UTF-8. A term is a maximal run of ASCII letters and digits and
 * non-ASCII letters; everything else separates terms: ASCII punctuation and space, the
 * Latin-1 and General Punctuation symbols (U+0080..U+00BF, U+00D7, U+00F7, U+2000..U+206F), and
 * bytes that are not valid UTF-8 (a broken sequence never ends up inside a term). ASCII and
 * Latin-1 capitals are lowercased (A-Z, U+00C0..U+00DE). Terms longer than RAG_BM25_MAX_TERM
 * bytes are dropped. Then, in order: stop words (a built-in English list) are dropped when
 * `stopwords` is set, and terms are stemmed with Snowball's English stemmer (libstemmer,
 * "english") when `stem` is set. Queries go through the same steps.
 *
 * Ids: any int64_t chosen by the caller, unique among live documents. Deleting a document
 * removes its postings (the index keeps each document's distinct terms for that), so N, df and
 * avgdl are always those of the live documents, exactly as if it had never been added.
 *
 * Ownership: rag_bm25_create returns an index owned by the caller (rag_bm25_free, NULL is
 * fine). Texts are read during the call and not kept. Threads: the stemmer and the scoring
 * accumulator live in the index, so one index serves one thread at a time (searches included).
 *
 * Errors: adding an id that is already live or deleting one that is not is ERR_INVALID (the
 * message names the id); NULL pointers and bad settings (k1 < 0, b outside [0, 1]) are bugs
 * (CHECK). An index whose stemmer cannot be created is ERR_DEPENDENCY from rag_bm25_create_ex.
 *
 * Usage:
 *     RagBm25Config cfg = rag_bm25_default_config();   // k1 1.2, b 0.75, Lucene idf
 *     cfg.stem = true;                                 // Snowball English
 *     RagBm25 *ix = rag_bm25_create(&cfg);
 *     rag_bm25_add(ix, 7, "Lisp is a family of programming languages");
 *     rag_bm25_add(ix, 9, "Fortran is a compiled imperative language");
 *     RagHit top[10];
 *     int64_t n = rag_bm25_search(ix, "programming language", 10, top);
 *     for (int64_t i = 0; i < n; i++)
 *         printf("%lld %.3f\n", (long long)top[i].id, top[i].score);   // 7 first
 *     rag_bm25_delete(ix, 9);
 *     rag_bm25_free(ix);
 */
#ifndef RAG_BM25_H
#define RAG_BM25_H

#include "rag/rag.h"

#include <stdbool.h>
#include <stdint.h>

// Longest term kept, in bytes (longer runs, e.g. base64 blobs, are dropped).
#define RAG_BM25_MAX_TERM 64

typedef enum {
    RAG_BM25_IDF_LUCENE = 0, // ln(1 + (N - df + 0.5) / (df + 0.5))
    RAG_BM25_IDF_FTS5 = 1,   // ln((N - df + 0.5) / (df + 0.5)), floored at 1e-6 (SQLite FTS5)
} RagBm25Idf;

typedef struct {
    double k1;      // term-frequency saturation, >= 0 (1.2)
    double b;       // length normalisation in [0, 1] (0.75)
    bool stem;      // Snowball English stemming (false)
    bool stopwords; // drop English stop words (false)
    RagBm25Idf idf; // RAG_BM25_IDF_LUCENE
} RagBm25Config;

typedef struct RagBm25 RagBm25;

// k1 = 1.2, b = 0.75, no stemming, no stop words, Lucene idf.
RagBm25Config rag_bm25_default_config(void);

// A new empty index; cfg NULL means the defaults. Aborts (CHECK) on bad settings and when the
// stemmer cannot be created; rag_bm25_create_ex returns that as an error instead.
RagBm25 *rag_bm25_create(const RagBm25Config *cfg);

// As rag_bm25_create, but a stemmer libstemmer cannot make is ERR_DEPENDENCY (hint: the
// package). On success *out is owned by the caller.
int rag_bm25_create_ex(const RagBm25Config *cfg, RagBm25 **out);

// Frees the index. NULL is a no-op.
void rag_bm25_free(RagBm25 *ix);

// Indexes `text` (NUL-terminated UTF-8) under `id`. A text with no terms is still a document
// (length 0, it never matches). ERR_INVALID when `id` is already live.
int rag_bm25_add(RagBm25 *ix, int64_t id, const char *text);

// Removes document `id`: its postings go, N, df and avgdl no longer count it, and the id may be
// added again. Costs the length of the postings lists of its terms. ERR_INVALID when not live.
int rag_bm25_delete(RagBm25 *ix, int64_t id);

// Live documents.
int64_t rag_bm25_count(const RagBm25 *ix);

// Distinct terms ever seen (a deleted document's terms stay in the vocabulary, with df 0).
int64_t rag_bm25_vocab_size(const RagBm25 *ix);

// Mean length of the live documents in terms (0 when there are none).
double rag_bm25_avgdl(const RagBm25 *ix);

// Number of live documents that contain `term` (taken as already tokenised: lowercased and,
// when the index stems, stemmed); 0 for an unknown term.
int64_t rag_bm25_df(const RagBm25 *ix, const char *term);

// The best min(k, matching documents) documents for `query`, written to out (k entries of room)
// sorted by score descending, ties by ascending id (rag_hits_sort's order). A document matches
// when it contains at least one query term. Returns how many were written. Not reentrant.
int64_t rag_bm25_search(RagBm25 *ix, const char *query, int64_t k, RagHit *out);

// The terms of `text` after the index's tokenising, stop words and stemming, separated by
// single spaces, in a new string the caller frees. For tests, debugging and for feeding the same
// terms to another engine (the benchmark's FTS5 query).
char *rag_bm25_terms(RagBm25 *ix, const char *text);

// BM25's per-term contribution: idf * tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)), for a
// term occurring tf times in a document of dl terms, mean length avgdl > 0.
double rag_bm25_term_score(double tf, double dl, double avgdl, double idf, double k1, double b);

// The idf of a term held by df of N documents, in the given variant (see the top of the file).
double rag_bm25_idf(RagBm25Idf mode, int64_t n_docs, int64_t df);

#endif
