/*
 * qrels.h: relevance judgements ("qrels"), and the retrieval benchmarks built from real data.
 *
 * RagQrels says, per query, which documents are relevant and how much: a grade `rel` (> 0
 * relevant, 0 judged not relevant; binary benchmarks use 1). Document ids are in the RagHit id
 * space of the index being evaluated; a judged document that is not in the corpus has a
 * negative id (no hit can match it, but it still counts as relevant in recall's denominator).
 * eval.h reads and writes TREC qrels files into this type and scores runs against it.
 *
 * The benchmarks (a corpus, queries and their qrels, built deterministically):
 *
 * FOLDOC reverse dictionary (rag_benchmark_foldoc). Each FOLDOC entry is one document, id =
 * its position in `doc_names` ("foldoc:<headword>", the headword with spaces and '%' written
 * %20, %25). A query is made from an entry's definition: the first paragraph of its body
 * without FOLDOC's "<category>" tags and "1." sense numbers, sentence by sentence until at
 * least min_query_words words (at most 2 sentences, cut at max_query_words), then every
 * occurrence of the headword (and of the other headwords sharing the entry's text) is removed,
 * matched as whole words ignoring case, also with "s", "es", "'s" or "'" appended. The one
 * relevant document is the entry. "What is the word for: a model for concurrency in which
 * autonomous objects execute asynchronously?" -> foldoc:actors.
 *   The query text is cut out of its own document (unless keep_query_text): the document keeps
 * the headword and the rest of the entry, not the sentences the query came from. Otherwise the
 * query would be a verbatim substring of its answer and any lexical retriever would score near
 * 1 (the "inverse cloze" set-up of Lee et al. 2019). Entries whose query would have fewer than
 * min_query_words words, or whose remaining text fewer than min_doc_words, make no query but
 * stay in the corpus whole (as distractors).
 *
 * WordNet glosses (rag_benchmark_wordnet). Documents are lemmas: "bank: sloping land beside a
 * body of water; a financial institution that accepts deposits ..." -- the lemma followed by
 * the synonyms and gloss of each of its senses. A query is one synset's gloss (its definition,
 * the part before the first "; \""), and the relevant documents are the lemmas of that synset.
 * To keep that honest the queried synsets are held out: their glosses are left out of every
 * lemma document, so a lemma is found through its *other* senses (and its synonyms there), the
 * way a reader who knows "bank" (river) and "bank" (money) might guess "bank" (aircraft
 * manoeuvre) from the gloss "tip laterally". A lemma with no other sense has an empty document,
 * is not in the corpus and is not counted as relevant; a synset none of whose lemmas is in the
 * corpus makes no query. This is a hard task for lexical retrieval by construction.
 *
 * Sampling and splits: which entries become queries is decided by hashing (FNV-1a 64) the
 * headword (the synset's offset and part of speech for WordNet): `seed` orders the candidates
 * and the first max_queries are kept (0 = all), and a query is in the test split when a second
 * hash of the headword, independent of the seed, falls below test_fraction -- so an entry is
 * in the same split whatever the seed or the sample size, and later work can train on the
 * train part and evaluate on the test part. For WordNet the held-out synsets (those whose
 * glosses leave the corpus) are all candidates; max_queries only subsamples the queries.
 *
 * Ownership: a RagQrels or RagBenchmark filled here owns every string and array in it; free
 * with rag_qrels_free / rag_benchmark_free (NULL and zeroed structs are no-ops). All strings
 * are NUL-terminated UTF-8 as the data has it.
 *
 * Errors: the loaders' (ERR_DEPENDENCY naming dict-foldoc or wordnet-base when missing).
 *
 * Usage:
 *     RagBenchmark bm;
 *     RagBenchConfig cfg = rag_bench_default_config();   // seed 1, all queries, 30% test
 *     if (rag_benchmark_foldoc(&cfg, &bm) != ERR_OK) die(err_msg());
 *     RagBm25 *ix = rag_bm25_create(NULL);
 *     for (int64_t d = 0; d < bm.n_docs; d++) rag_bm25_add(ix, d, bm.doc_texts[d]);
 *     for (int64_t q = 0; q < bm.n_queries; q++) {
 *         if (!bm.is_test[q]) continue;
 *         n_hits[q] = rag_bm25_search(ix, bm.queries[q], 10, runs[q]);   // score with eval.h
 *     }
 *     rag_benchmark_free(&bm);
 */
#ifndef RAG_QRELS_H
#define RAG_QRELS_H

#include "datasets/dictd.h"
#include "datasets/wordnet.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int64_t doc; // document id (RagHit id space); < 0 = not in the corpus
    int rel;     // relevance grade: > 0 relevant, 0 judged not relevant
} RagJudgement;

typedef struct {
    int64_t n_queries;
    char **qids;        // (n_queries) query ids, owned
    int64_t *start;     // (n_queries + 1) query q's judgements are j[start[q] .. start[q + 1])
    RagJudgement *j;    // (start[n_queries]) owned
    int64_t qcap_, jcap_; // internal: capacities
} RagQrels;

// Appends a query with id `qid` (copied; no whitespace) and returns its index. Judgements added
// next belong to it. Start from a zeroed RagQrels.
int64_t rag_qrels_add_query(RagQrels *qr, const char *qid);

// Adds a judgement (doc, rel) to the last query added (there must be one). CHECKs that the
// query does not already judge `doc`.
void rag_qrels_add(RagQrels *qr, int64_t doc, int rel);

// Number of relevant (rel > 0) judgements of query q.
int64_t rag_qrels_n_relevant(const RagQrels *qr, int64_t q);

// Index of the query with id `qid`, or -1 (linear scan).
int64_t rag_qrels_find(const RagQrels *qr, const char *qid);

// Frees what qr owns and zeroes it. NULL and zeroed structs are no-ops.
void rag_qrels_free(RagQrels *qr);

// ---------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------

typedef struct {
    uint64_t seed;         // orders the candidate queries before the max_queries cut (1)
    int64_t max_queries;   // keep this many queries, 0 = all candidates (0)
    double test_fraction;  // share of queries in the test split, by headword hash (0.3)
    int min_query_words;   // fewer words after the headword is removed: no query (6)
    int max_query_words;   // the query is cut after this many words (32)
    int min_doc_words;     // a FOLDOC entry left with fewer words makes no query (8)
    bool keep_query_text;  // FOLDOC: leave the query's sentences in its document (false)
    double wordnet_holdout; // WordNet: share of synsets held out as candidate queries (0.02)
} RagBenchConfig;

typedef struct {
    const char *name;   // "foldoc" or "wordnet" (a literal)
    int64_t n_docs;
    char **doc_names;   // (n_docs) document names, whitespace-free (TREC docno); id = index
    char **doc_texts;   // (n_docs) the text to index
    int64_t n_queries;
    char **queries;     // (n_queries) query text
    bool *is_test;      // (n_queries) true: test split
    RagQrels qrels;     // qrels.qids[q] is the id of queries[q]; judged docs index doc_names
} RagBenchmark;

// The defaults shown in RagBenchConfig's comments.
RagBenchConfig rag_bench_default_config(void);

// The FOLDOC reverse-dictionary benchmark from the installed dict-foldoc (cfg NULL = defaults).
int rag_benchmark_foldoc(const RagBenchConfig *cfg, RagBenchmark *out);

// The same from an already loaded dictionary (any dictd dictionary; used by the tests).
int rag_benchmark_from_dict(const DsDict *d, const char *prefix, const RagBenchConfig *cfg,
                            RagBenchmark *out);

// The WordNet gloss benchmark from the installed wordnet-base (cfg NULL = defaults).
int rag_benchmark_wordnet(const RagBenchConfig *cfg, RagBenchmark *out);

// The same from an already loaded WordNet.
int rag_benchmark_from_wordnet(const DsWordNet *wn, const RagBenchConfig *cfg,
                               RagBenchmark *out);

// Frees what b owns and zeroes it. NULL and zeroed structs are no-ops.
void rag_benchmark_free(RagBenchmark *b);

// The FOLDOC query text for one definition body (as ds_dict_body gives it), with the words in
// the NULL-terminated list `headwords` removed; NULL when it has fewer than min_words words.
// *used (may be NULL) receives how many bytes of the body's first paragraph the query's
// sentences took. New string, the caller frees it. Exposed for the tests.
char *rag_bench_definition_query(const char *body, const char *const *headwords, int min_words,
                                 int max_words, int64_t *used);

#endif
