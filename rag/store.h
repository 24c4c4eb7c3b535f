/*
 * store.h: the RAG corpus on disk: documents, chunks, metadata and vectors in one SQLite file.
 *
 * The store is the source of truth of the week-5 pipeline. The in-memory indexes (flat, HNSW,
 * BM25) are caches: each can be rebuilt from the store with rag_store_load_chunks (ids, offsets,
 * text) and rag_store_load_vectors (one embedder's contiguous (n, dim) matrix and chunk ids).
 *
 * The file (schema version RAG_STORE_VERSION, PRAGMA user_version; PRAGMA application_id is
 * RAG_STORE_APP_ID, so a file made by another program is recognised and refused):
 *     docs      (doc_pk, id TEXT UNIQUE, source, title, kind, text, hash, n_chunks)
 *     doc_meta  (doc_pk, key, value)                  key/value pairs, one row each
 *     chunks    (chunk_id, doc_pk, ordinal, start_byte, end_byte)
 *     embedders (emb_pk, name UNIQUE, dim)            one row per named embedder
 *     vectors   (emb_pk, chunk_id, data)              data: dim float32, little-endian
 * Chunks keep only byte offsets [start, end) into their document's text: the text is stored
 * once and a chunk's text is recovered exactly as text[start:end] (no copy to drift apart).
 * Chunk ids come from AUTOINCREMENT: they are never reused, not even after a delete, so an
 * index that still holds the id of a deleted chunk can never confuse it with a new chunk.
 * Deleting a document cascades (foreign keys) to its metadata, chunks and vectors.
 *
 * Crash safety. The file is in WAL mode: a transaction is appended to "<path>-wal" and a crash
 * at any moment leaves every committed transaction and nothing of an unfinished one (SQLite's
 * WAL frames carry checksums; recovery stops at the last whole commit). Every rag_store_put_doc
 * is one transaction (a savepoint inside a batch), so a document is either all there - text,
 * metadata, every chunk, every vector - or absent. synchronous=NORMAL is the default: in WAL
 * mode it never corrupts the file, and a commit that has returned survives the process being
 * killed (its frames are in the OS page cache); only a power cut or OS crash can roll back the
 * last few commits (not synced yet). A corpus can be re-ingested from its sources, and NORMAL
 * saves an fsync per document; pass RAG_STORE_DURABLE for synchronous=FULL (fsync at each
 * commit) when losing the last commits to a power cut is not acceptable. SQLite writes its own
 * files atomically, so core/io.h is not used here.
 *
 * Errors. Every SQLite failure becomes ERR_IO (locks, permissions, disk, I/O) or ERR_FORMAT
 * (not an SQLite file, not an engine store, a newer schema, a damaged file) with a message
 * "store <path>: <operation>: <sqlite message> (<code>); hint: ..." read with err_msg().
 * Other codes: ERR_NOTFOUND (no such document or embedder), ERR_SHAPE (vectors whose dim
 * differs from the one stored for that embedder), ERR_INVALID (empty id, duplicate meta key).
 * Misuse (NULL store, chunk offsets outside the text, commit without begin) is a bug: CHECK.
 *
 * Ownership. A RagStore is owned by the caller of rag_store_open; rag_store_close frees it.
 * Every input pointer is borrowed for the duration of the call only. Outputs are owned by the
 * caller: RagStoreDoc / RagStoreChunks are freed with their _deinit, the arrays of
 * rag_store_load_vectors with free(). One RagStore is used by one thread at a time; several
 * processes may open the same file (one writer at a time, readers never block).
 *
 * Usage:
 *     RagStore *s;
 *     if (rag_store_open("corpus.db", RAG_STORE_CREATE, &s) != ERR_OK) die(err_msg());
 *     int64_t start[] = {0, 120}, end[] = {130, 250};          // two chunks of `text`
 *     RagStorePut d = { .id = "faq.md", .source = "docs/faq.md", .kind = "markdown",
 *                       .text = text, .text_len = -1, .chunk_start = start,
 *                       .chunk_end = end, .n_chunks = 2,
 *                       .embedder = "w2v-64", .vectors = vecs, .dim = 64 };   // (2, 64)
 *     RagStoreStatus st;
 *     if (rag_store_put_doc(s, &d, &st, NULL) != ERR_OK) die(err_msg());
 *     int64_t *ids, n, dim; float *m;                           // rebuild an index
 *     if (rag_store_load_vectors(s, "w2v-64", &ids, &m, &n, &dim) != ERR_OK) die(err_msg());
 *     free(ids), free(m);
 *     rag_store_close(s);
 */
#ifndef RAG_STORE_H
#define RAG_STORE_H

#include <sqlite3.h>
#include <stdint.h>

// PRAGMA application_id of an engine store: "RAGS" in ASCII.
#define RAG_STORE_APP_ID 0x52414753
// PRAGMA user_version of the schema this build writes (and the newest it reads).
#define RAG_STORE_VERSION 1

typedef struct RagStore RagStore;

// Flags of rag_store_open (bitwise or).
enum {
    RAG_STORE_CREATE = 1,   // create the file (and the schema) when it does not exist
    RAG_STORE_READONLY = 2, // open for reading only; writes fail with ERR_IO
    RAG_STORE_DURABLE = 4,  // synchronous=FULL: fsync the WAL at every commit
};

// What rag_store_put_doc did.
typedef enum {
    RAG_STORE_ADDED,           // a new document
    RAG_STORE_REPLACED,        // the content changed: old metadata/chunks/vectors replaced
    RAG_STORE_UNCHANGED,       // same content hash and same vectors: nothing written
    RAG_STORE_VECTORS_UPDATED, // same content (chunk ids kept); the given vectors rewritten
} RagStoreStatus;

// One document to store. All pointers are borrowed for the call.
typedef struct {
    const char *id;                 // unique document id, non-empty (file path, URL, key)
    const char *source;             // where it came from; NULL = ""
    const char *title;              // NULL = ""
    const char *kind;               // "text", "markdown", "pdf", "dict", ...; NULL = ""
    const char *const *meta_keys;   // (n_meta) distinct keys
    const char *const *meta_values; // (n_meta)
    int64_t n_meta;
    const char *text;           // (text_len) bytes; any bytes (UTF-8 expected)
    int64_t text_len;           // -1 = strlen(text)
    const int64_t *chunk_start; // (n_chunks) byte offsets into text, chunk k is
    const int64_t *chunk_end;   // (n_chunks)   text[start[k], end[k]); may overlap
    int64_t n_chunks;
    const char *embedder; // NULL = no vectors; else the embedder's name
    const float *vectors; // (n_chunks, dim) row-major, row k for chunk k
    int64_t dim;
} RagStorePut;

// A stored document (rag_store_get_doc / rag_store_next_doc). Everything is owned by the
// struct; free with rag_store_doc_deinit.
typedef struct {
    char *id, *source, *title, *kind; // NUL-terminated
    char *text;                       // (text_len) bytes, plus a NUL after them
    int64_t text_len;
    int64_t n_meta;
    char **meta_keys;   // (n_meta) sorted by key
    char **meta_values; // (n_meta)
    int64_t n_chunks;
    int64_t *chunk_id;    // (n_chunks) in ordinal order
    int64_t *chunk_start; // (n_chunks)
    int64_t *chunk_end;   // (n_chunks)
    uint64_t hash;        // rag_store_content_hash of what was put
} RagStoreDoc;

// Every chunk of the store, for rebuilding the in-memory indexes. Owned by the struct; free
// with rag_store_chunks_deinit.
typedef struct {
    int64_t n;         // number of chunks
    int64_t *chunk_id; // (n) ascending
    int64_t *doc;      // (n) row of the chunk's document in doc_ids
    int64_t *ordinal;  // (n) position of the chunk in its document, 0-based
    int64_t *start;    // (n) byte offsets into the document's text
    int64_t *end;      // (n)
    char **text;       // (n) the chunk's bytes (end - start of them), NUL-terminated
    int64_t n_docs;
    char **doc_ids; // (n_docs) in insertion order
    char *pool;     // private: the storage of text and doc_ids
} RagStoreChunks;

typedef struct {
    int64_t n_docs, n_chunks, n_vectors, n_embedders;
} RagStoreCounts;

// Opens the store at `path` (creating it with RAG_STORE_CREATE). Checks that the file is an
// engine store of a version this build reads: a non-SQLite file, an SQLite file of another
// program or a newer schema is refused with ERR_FORMAT before anything is written to it.
// Sets WAL mode, foreign keys on, synchronous NORMAL (FULL with RAG_STORE_DURABLE) and a
// busy timeout of 5 s. On success *out is owned by the caller (rag_store_close).
int rag_store_open(const char *path, int flags, RagStore **out);

// Closes the store; an open batch is rolled back. rag_store_close(NULL) does nothing.
void rag_store_close(RagStore *s);

// How long a write waits for another process's write lock before failing with ERR_IO.
void rag_store_set_busy_timeout(RagStore *s, int ms);

// The underlying SQLite handle (borrowed, valid until rag_store_close), for ad-hoc queries
// ("SELECT kind, count(*) FROM docs GROUP BY kind"). Writing through it bypasses the checks.
sqlite3 *rag_store_sqlite(RagStore *s);

// 64-bit FNV-1a over the document's content: id, source, title, kind, the metadata (sorted by
// key), the text and the chunk offsets, each field length-prefixed. Vectors are not included,
// so a pipeline can compare it with rag_store_doc_hash before embedding and skip unchanged
// documents. A change detector, not a cryptographic hash.
uint64_t rag_store_content_hash(const RagStorePut *doc);

// Adds or replaces one document in one transaction (a savepoint inside a batch: a failed put
// leaves the batch as it was). If a document with that id exists:
//   - same content hash: the document and its chunk ids are kept; with vectors, the rows of
//     that embedder are compared and rewritten if they differ (RAG_STORE_VECTORS_UPDATED),
//     else nothing is written (RAG_STORE_UNCHANGED);
//   - otherwise its metadata, chunks and the vectors of every embedder are deleted and the new
//     ones inserted (RAG_STORE_REPLACED); the new chunks get new ids.
// *status (may be NULL) says which; chunk_ids (may be NULL, else (n_chunks)) receives the
// chunk ids in chunk order. Vectors of an embedder already in the store must have its dim
// (ERR_SHAPE otherwise). Errors: ERR_IO, ERR_FORMAT, ERR_SHAPE, ERR_INVALID; nothing changed.
int rag_store_put_doc(RagStore *s, const RagStorePut *doc, RagStoreStatus *status,
                      int64_t *chunk_ids);

// Writes (inserts or replaces) one embedder's vectors, (n, dim) row-major, for the n chunks of
// an existing document (n must equal its chunk count: ERR_SHAPE). One transaction.
int rag_store_put_vectors(RagStore *s, const char *doc_id, const char *embedder,
                          const float *vectors, int64_t n, int64_t dim);

// Deletes a document with its metadata, chunks and vectors. ERR_NOTFOUND if absent. To drop the
// chunks from an in-memory index too, read their ids first with rag_store_get_doc.
int rag_store_delete_doc(RagStore *s, const char *doc_id);

// Reads one document into *out (owned by the caller: rag_store_doc_deinit). ERR_NOTFOUND if
// absent (then *out is zeroed).
int rag_store_get_doc(RagStore *s, const char *doc_id, RagStoreDoc *out);

// The stored content hash of a document (ERR_NOTFOUND if absent).
int rag_store_doc_hash(RagStore *s, const char *doc_id, uint64_t *hash);

// Iterates the documents in insertion order. Start with *cursor = 0; each call returns 1 and
// fills *out (rag_store_doc_deinit it) and advances *cursor, 0 at the end, or a negative Err.
// No statement stays open between calls, so writing during the iteration is allowed.
//     int64_t cur = 0; RagStoreDoc d; int rc;
//     while ((rc = rag_store_next_doc(s, &cur, &d)) == 1) { use(&d); rag_store_doc_deinit(&d); }
int rag_store_next_doc(RagStore *s, int64_t *cursor, RagStoreDoc *out);

// Frees what a RagStoreDoc owns and zeroes it. NULL does nothing.
void rag_store_doc_deinit(RagStoreDoc *d);

// Reads every chunk (ids, documents, offsets, text) from one consistent snapshot into *out
// (owned by the caller: rag_store_chunks_deinit). ERR_FORMAT if an offset lies outside its text.
int rag_store_load_chunks(RagStore *s, RagStoreChunks *out);

// Frees what a RagStoreChunks owns and zeroes it. NULL does nothing.
void rag_store_chunks_deinit(RagStoreChunks *c);

// Reads every vector of `embedder`: *vectors (n, dim) row-major and *chunk_ids (n) ascending,
// both malloc'd and owned by the caller (free()); NULL when n == 0. ERR_NOTFOUND if no such
// embedder, ERR_FORMAT if a blob has the wrong size.
int rag_store_load_vectors(RagStore *s, const char *embedder, int64_t **chunk_ids, float **vectors,
                           int64_t *n, int64_t *dim);

// The numbers of documents, chunks, vectors (all embedders) and embedders.
int rag_store_count(RagStore *s, RagStoreCounts *out);

// The dim of an embedder and how many vectors it has (ERR_NOTFOUND if absent). Either output
// may be NULL.
int rag_store_embedder_info(RagStore *s, const char *embedder, int64_t *dim, int64_t *n_vectors);

// A batch: the puts and deletes between begin and commit are one transaction (one commit, so
// bulk ingest does not pay a commit per document). rag_store_rollback undoes the whole batch.
// Begin takes the write lock at once (ERR_IO after the busy timeout if another process has
// it). Nested batches are a bug. If SQLite rolled the batch back itself (disk full, I/O error),
// later puts and the commit return ERR_IO and say so; a failed commit rolls the batch back.
int rag_store_begin(RagStore *s);
int rag_store_commit(RagStore *s);
int rag_store_rollback(RagStore *s);

// Checks the whole file: PRAGMA integrity_check and foreign_key_check, every document has
// n_chunks chunks, every chunk lies inside its text, every vector blob has dim floats, and an
// embedder covers all chunks of a document or none. ERR_FORMAT naming the first problem.
int rag_store_verify(RagStore *s);

#endif
