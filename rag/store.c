/*
 * store.c: the SQLite-backed RAG store (see store.h for the file layout and the contract).
 *
 * Every statement is prepared once at open (SQLITE_PREPARE_PERSISTENT) and kept in the handle;
 * a call binds, steps and resets it, so no statement holds a read transaction between calls.
 * Reads that take several statements (a document, all chunks) run inside one read transaction
 * so they see one snapshot even while another process writes.
 */
#include "rag/store.h"

#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Vector blobs are the raw bytes of float32 arrays; the file format says little-endian.
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "rag/store.c needs a little-endian CPU");

// ---------------------------------------------------------------------------
// Schema and statements
// ---------------------------------------------------------------------------

static const char *schema_sql =
    "CREATE TABLE docs ("
    "  doc_pk   INTEGER PRIMARY KEY,"
    "  id       TEXT NOT NULL UNIQUE,"
    "  source   TEXT NOT NULL,"
    "  title    TEXT NOT NULL,"
    "  kind     TEXT NOT NULL,"
    "  text     TEXT NOT NULL,"
    "  hash     INTEGER NOT NULL,"
    "  n_chunks INTEGER NOT NULL CHECK (n_chunks >= 0));"
    "CREATE TABLE doc_meta ("
    "  doc_pk INTEGER NOT NULL REFERENCES docs(doc_pk) ON DELETE CASCADE,"
    "  key    TEXT NOT NULL,"
    "  value  TEXT NOT NULL,"
    "  PRIMARY KEY (doc_pk, key)) WITHOUT ROWID;"
    "CREATE TABLE chunks ("
    "  chunk_id   INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  doc_pk     INTEGER NOT NULL REFERENCES docs(doc_pk) ON DELETE CASCADE,"
    "  ordinal    INTEGER NOT NULL,"
    "  start_byte INTEGER NOT NULL,"
    "  end_byte   INTEGER NOT NULL,"
    "  UNIQUE (doc_pk, ordinal),"
    "  CHECK (0 <= start_byte AND start_byte <= end_byte));"
    "CREATE TABLE embedders ("
    "  emb_pk INTEGER PRIMARY KEY,"
    "  name   TEXT NOT NULL UNIQUE,"
    "  dim    INTEGER NOT NULL CHECK (dim > 0));"
    "CREATE TABLE vectors ("
    "  emb_pk   INTEGER NOT NULL REFERENCES embedders(emb_pk) ON DELETE CASCADE,"
    "  chunk_id INTEGER NOT NULL REFERENCES chunks(chunk_id) ON DELETE CASCADE,"
    "  data     BLOB NOT NULL,"
    "  PRIMARY KEY (emb_pk, chunk_id)) WITHOUT ROWID;"
    // The child-key index that makes the cascade from chunks to vectors a lookup, not a scan.
    "CREATE INDEX vectors_by_chunk ON vectors(chunk_id);";

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_DOC_FIND,
    ST_DOC_INSERT,
    ST_DOC_UPDATE,
    ST_DOC_DELETE,
    ST_DOC_GET,
    ST_DOC_NEXT,
    ST_DOC_TEXT,
    ST_DOCS_ALL,
    ST_META_DELETE,
    ST_META_INSERT,
    ST_META_GET,
    ST_CHUNKS_DELETE,
    ST_CHUNK_INSERT,
    ST_CHUNKS_GET,
    ST_CHUNKS_ALL,
    ST_EMB_FIND,
    ST_EMB_COUNT,
    ST_EMB_INSERT,
    ST_VEC_UPSERT,
    ST_VEC_DOC,
    ST_VECS_ALL,
    ST_COUNTS,
    ST_COUNT,
};

static const char *stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT rag_put",
    [ST_RELEASE] = "RELEASE rag_put",
    [ST_ROLLBACK_TO] = "ROLLBACK TO rag_put",
    [ST_DOC_FIND] = "SELECT doc_pk, hash FROM docs WHERE id = ?1",
    [ST_DOC_INSERT] = "INSERT INTO docs (id, source, title, kind, text, hash, n_chunks) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_DOC_UPDATE] = "UPDATE docs SET source = ?2, title = ?3, kind = ?4, text = ?5, hash = ?6, "
                      "n_chunks = ?7 WHERE doc_pk = ?1",
    [ST_DOC_DELETE] = "DELETE FROM docs WHERE id = ?1",
    [ST_DOC_GET] = "SELECT doc_pk, id, source, title, kind, text, hash FROM docs WHERE id = ?1",
    [ST_DOC_NEXT] = "SELECT doc_pk, id, source, title, kind, text, hash FROM docs "
                    "WHERE doc_pk > ?1 ORDER BY doc_pk LIMIT 1",
    [ST_DOC_TEXT] = "SELECT text FROM docs WHERE doc_pk = ?1",
    [ST_DOCS_ALL] = "SELECT doc_pk, id FROM docs ORDER BY doc_pk",
    [ST_META_DELETE] = "DELETE FROM doc_meta WHERE doc_pk = ?1",
    [ST_META_INSERT] = "INSERT INTO doc_meta (doc_pk, key, value) VALUES (?1, ?2, ?3)",
    [ST_META_GET] = "SELECT key, value FROM doc_meta WHERE doc_pk = ?1 ORDER BY key",
    [ST_CHUNKS_DELETE] = "DELETE FROM chunks WHERE doc_pk = ?1",
    [ST_CHUNK_INSERT] = "INSERT INTO chunks (doc_pk, ordinal, start_byte, end_byte) "
                        "VALUES (?1, ?2, ?3, ?4)",
    [ST_CHUNKS_GET] = "SELECT chunk_id, start_byte, end_byte FROM chunks WHERE doc_pk = ?1 "
                      "ORDER BY ordinal",
    [ST_CHUNKS_ALL] = "SELECT chunk_id, doc_pk, ordinal, start_byte, end_byte FROM chunks "
                      "ORDER BY chunk_id",
    [ST_EMB_FIND] = "SELECT emb_pk, dim FROM embedders WHERE name = ?1",
    [ST_EMB_COUNT] = "SELECT count(*) FROM vectors WHERE emb_pk = ?1",
    [ST_EMB_INSERT] = "INSERT INTO embedders (name, dim) VALUES (?1, ?2)",
    [ST_VEC_UPSERT] = "INSERT OR REPLACE INTO vectors (emb_pk, chunk_id, data) VALUES (?1, ?2, ?3)",
    [ST_VEC_DOC] = "SELECT c.chunk_id, v.data FROM chunks c LEFT JOIN vectors v "
                   "ON v.chunk_id = c.chunk_id AND v.emb_pk = ?2 WHERE c.doc_pk = ?1 "
                   "ORDER BY c.ordinal",
    [ST_VECS_ALL] = "SELECT chunk_id, data FROM vectors WHERE emb_pk = ?1 ORDER BY chunk_id",
    [ST_COUNTS] = "SELECT (SELECT count(*) FROM docs), (SELECT count(*) FROM chunks), "
                  "(SELECT count(*) FROM vectors), (SELECT count(*) FROM embedders)",
};

struct RagStore {
    sqlite3 *db;
    char *path;
    int flags;
    int in_batch;   // between rag_store_begin and commit/rollback
    int batch_lost; // SQLite rolled the batch back on its own (disk full, I/O error)
    sqlite3_stmt *st[ST_COUNT];
};

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

// The engine's code and a hint for an SQLite result code.
static int sqlite_hint(int rc, const char **hint)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
        *hint = "another process holds the write lock (an ingest or an open batch); retry "
                "when it is done or raise rag_store_set_busy_timeout";
        return ERR_IO;
    case SQLITE_LOCKED:
        *hint = "another connection of this process holds a table lock";
        return ERR_IO;
    case SQLITE_NOTADB:
        *hint = "not an engine store: the file is not an SQLite database";
        return ERR_FORMAT;
    case SQLITE_CORRUPT:
        *hint = "the file is damaged (PRAGMA integrity_check says where); rebuild the store "
                "from its sources";
        return ERR_FORMAT;
    case SQLITE_FORMAT:
    case SQLITE_SCHEMA:
    case SQLITE_ERROR: *hint = "not an engine store, or a damaged schema"; return ERR_FORMAT;
    case SQLITE_CONSTRAINT:
        *hint = "a constraint of the schema failed (duplicate id or meta key, bad offsets)";
        return ERR_FORMAT;
    case SQLITE_CANTOPEN:
        *hint = "check that the path exists (or pass RAG_STORE_CREATE) and that its folder is "
                "writable: WAL mode keeps <path>-wal and <path>-shm beside it";
        return ERR_IO;
    case SQLITE_READONLY:
        *hint = "the file or its folder is read-only, or the store was opened with "
                "RAG_STORE_READONLY";
        return ERR_IO;
    case SQLITE_FULL: *hint = "the disk is full"; return ERR_IO;
    case SQLITE_IOERR:
        *hint = "the operating system reported an I/O error (disk, network file system?)";
        return ERR_IO;
    case SQLITE_NOMEM: *hint = "SQLite ran out of memory"; return ERR_IO;
    default: *hint = "see the SQLite message"; return ERR_IO;
    }
}

// Turns an SQLite failure of `op` into an engine error naming the file, the operation, the
// SQLite message and a hint.
static int __attribute__((format(printf, 4, 5)))
sq_fail(const char *path, sqlite3 *db, int rc, const char *op_fmt, ...)
{
    char op[256];
    va_list ap;
    va_start(ap, op_fmt);
    vsnprintf(op, sizeof op, op_fmt, ap);
    va_end(ap);
    const char *hint;
    int code = sqlite_hint(rc, &hint);
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return err_set(code, "store %s: %s: %s (sqlite code %d); hint: %s", path, op, msg, rc, hint);
}

#define FAIL(s, rc, ...) sq_fail((s)->path, (s)->db, (rc), __VA_ARGS__)

// ---------------------------------------------------------------------------
// Statement helpers
// ---------------------------------------------------------------------------

// A cached statement, reset and with its bindings cleared.
static sqlite3_stmt *stmt(RagStore *s, int which)
{
    sqlite3_stmt *st = s->st[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

// Steps a statement that returns no rows to completion and resets it.
static int run(RagStore *s, sqlite3_stmt *st, const char *op)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        int e = FAIL(s, rc, "%s", op);
        sqlite3_reset(st);
        return e;
    }
    sqlite3_reset(st);
    return ERR_OK;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v, int64_t n)
{
    sqlite3_bind_text64(st, i, v ? v : "", v ? (sqlite3_uint64)n : 0, SQLITE_STATIC, SQLITE_UTF8);
}

static void bind_str(sqlite3_stmt *st, int i, const char *v)
{
    bind_text(st, i, v, v ? (int64_t)strlen(v) : 0);
}

// A malloc'd copy of a text column (NUL-terminated; *n = its byte length when n != NULL).
static char *col_dup(sqlite3_stmt *st, int i, int64_t *n)
{
    const void *p = sqlite3_column_blob(st, i);
    int len = sqlite3_column_bytes(st, i);
    char *out = xmalloc((size_t)len + 1);
    if (len > 0) memcpy(out, p, (size_t)len);
    out[len] = '\0';
    if (n) *n = len;
    return out;
}

// A read transaction around a multi-statement read, so every statement sees one snapshot.
// Inside a batch (a write transaction is open) nothing is needed.
static int read_begin(RagStore *s, int *began)
{
    *began = 0;
    if (!sqlite3_get_autocommit(s->db)) return ERR_OK;
    int rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return FAIL(s, rc, "begin read");
    *began = 1;
    return ERR_OK;
}

static void read_end(RagStore *s, int began)
{
    // Ending a read transaction cannot lose data; a failure here would only come from a
    // statement left running, which the helpers never do.
    if (began) sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

// Opens the write scope of one put/delete: a whole transaction, or a savepoint in a batch.
static int write_begin(RagStore *s, const char *op)
{
    if (s->batch_lost)
        return err_set(ERR_IO,
                       "store %s: %s: SQLite rolled the open batch back after an earlier "
                       "error; hint: call rag_store_rollback, fix the cause (disk "
                       "full?) and ingest the batch again",
                       s->path, op);
    return run(s, stmt(s, s->in_batch ? ST_SAVEPOINT : ST_BEGIN), op);
}

static int write_commit(RagStore *s, const char *op)
{
    int rc = run(s, stmt(s, s->in_batch ? ST_RELEASE : ST_COMMIT), op);
    if (rc != ERR_OK && !s->in_batch && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

// Undoes the write scope after a failure (the error message is already set).
static void write_abort(RagStore *s)
{
    if (sqlite3_get_autocommit(s->db)) {
        // SQLite has already rolled the whole transaction back (disk full, I/O error): in a
        // batch, that took the earlier puts of the batch with it.
        if (s->in_batch) s->batch_lost = 1;
        return;
    }
    if (s->in_batch) {
        sqlite3_step(stmt(s, ST_ROLLBACK_TO));
        sqlite3_step(stmt(s, ST_RELEASE));
        sqlite3_reset(s->st[ST_RELEASE]);
        sqlite3_reset(s->st[ST_ROLLBACK_TO]);
    } else {
        sqlite3_step(stmt(s, ST_ROLLBACK));
        sqlite3_reset(s->st[ST_ROLLBACK]);
    }
}

// ---------------------------------------------------------------------------
// Open and close
// ---------------------------------------------------------------------------

// One integer from a one-row query (a PRAGMA).
static int query_int(RagStore *s, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return FAIL(s, rc, "%s", sql);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        int e = FAIL(s, rc, "%s", sql);
        sqlite3_finalize(st);
        return e;
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return ERR_OK;
}

static int create_schema(RagStore *s)
{
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return FAIL(s, rc, "create schema");
    // Another process may have created the schema while this one waited for the lock.
    int64_t n_obj;
    int e = query_int(s, "SELECT count(*) FROM sqlite_schema", &n_obj);
    if (e == ERR_OK && n_obj == 0) {
        char sql[128];
        snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d;",
                 RAG_STORE_APP_ID, RAG_STORE_VERSION);
        rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK) e = FAIL(s, rc, "create schema");
    }
    if (e == ERR_OK) {
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) e = FAIL(s, rc, "create schema: commit");
    }
    if (e != ERR_OK && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

// Reads the header fields before anything is written: a foreign or newer file stays untouched.
static int check_header(RagStore *s, int *empty)
{
    int64_t app_id, version, n_obj;
    int e = query_int(s, "PRAGMA application_id", &app_id);
    if (e == ERR_OK) e = query_int(s, "PRAGMA user_version", &version);
    if (e == ERR_OK) e = query_int(s, "SELECT count(*) FROM sqlite_schema", &n_obj);
    if (e != ERR_OK) return e;
    *empty = app_id == 0 && version == 0 && n_obj == 0;
    if (*empty) return ERR_OK;
    if (app_id != RAG_STORE_APP_ID)
        return err_set(ERR_FORMAT,
                       "store %s: not an engine store: an SQLite file with application_id "
                       "0x%08llx (expected 0x%08x) and %lld schema objects; hint: it belongs to "
                       "another program, pick another path",
                       s->path, (unsigned long long)(uint32_t)app_id, RAG_STORE_APP_ID,
                       (long long)n_obj);
    if (version > RAG_STORE_VERSION)
        return err_set(ERR_FORMAT,
                       "store %s: schema version %lld is newer than this build reads (%d); "
                       "hint: update the engine",
                       s->path, (long long)version, RAG_STORE_VERSION);
    if (version < 1)
        return err_set(ERR_FORMAT,
                       "store %s: engine store with schema version %lld (expected %d); hint: "
                       "the file is damaged, rebuild it from the sources",
                       s->path, (long long)version, RAG_STORE_VERSION);
    return ERR_OK;
}

static int setup(RagStore *s)
{
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 5000);
    int empty;
    int e = check_header(s, &empty);
    if (e != ERR_OK) return e;
    if (empty && (s->flags & RAG_STORE_READONLY))
        return err_set(ERR_FORMAT,
                       "store %s: the file is empty (no schema); hint: create it "
                       "with RAG_STORE_CREATE first",
                       s->path);
    if (!(s->flags & RAG_STORE_READONLY)) {
        // journal_mode is persistent (stored in the file); it answers with the mode in force.
        sqlite3_stmt *st;
        int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            e = FAIL(s, rc, "set journal_mode = WAL");
            sqlite3_finalize(st);
            return e;
        }
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        int ok = mode && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0);
        char got[32];
        snprintf(got, sizeof got, "%s", mode ? mode : "?");
        sqlite3_finalize(st);
        if (!ok)
            return err_set(ERR_IO,
                           "store %s: journal_mode is '%s', WAL refused; hint: the file "
                           "system cannot share memory between processes (network "
                           "file system?)",
                           s->path, got);
    }
    const char *sync = (s->flags & RAG_STORE_DURABLE) ? "PRAGMA synchronous = FULL"
                                                      : "PRAGMA synchronous = NORMAL";
    int rc = sqlite3_exec(s->db, sync, NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return FAIL(s, rc, "set pragmas");
    if (empty && (e = create_schema(s)) != ERR_OK) return e;
    for (int i = 0; i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK)
            return err_set(ERR_FORMAT,
                           "store %s: prepare '%s': %s; hint: the schema is not an "
                           "engine store's, the file is damaged",
                           s->path, stmt_sql[i], sqlite3_errmsg(s->db));
    }
    return ERR_OK;
}

int rag_store_open(const char *path, int flags, RagStore **out)
{
    CHECK(path && out, "rag_store_open: path and out must not be NULL");
    CHECK(!((flags & RAG_STORE_CREATE) && (flags & RAG_STORE_READONLY)),
          "rag_store_open: RAG_STORE_CREATE and RAG_STORE_READONLY exclude each other");
    *out = NULL;
    RagStore *s = xcalloc(1, sizeof *s);
    s->path = xstrdup(path);
    s->flags = flags;
    int oflags = (flags & RAG_STORE_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (flags & RAG_STORE_CREATE) oflags |= SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
    int e = rc == SQLITE_OK ? setup(s) : FAIL(s, rc, "open");
    if (e != ERR_OK) {
        rag_store_close(s);
        return e;
    }
    *out = s;
    return ERR_OK;
}

void rag_store_close(RagStore *s)
{
    if (!s) return;
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
    // Closing rolls back an open batch. The last connection to close checkpoints the WAL into
    // the main file and deletes <path>-wal.
    int rc = sqlite3_close(s->db);
    CHECK(rc == SQLITE_OK, "rag_store_close %s: %s (a statement was left unfinalized)", s->path,
          sqlite3_errstr(rc));
    free(s->path);
    free(s);
}

void rag_store_set_busy_timeout(RagStore *s, int ms)
{
    CHECK(s, "rag_store_set_busy_timeout: NULL store");
    sqlite3_busy_timeout(s->db, ms);
}

sqlite3 *rag_store_sqlite(RagStore *s)
{
    CHECK(s, "rag_store_sqlite: NULL store");
    return s->db;
}

// ---------------------------------------------------------------------------
// Content hash
// ---------------------------------------------------------------------------

// FNV-1a, 64-bit: h = (h xor byte) * 0x100000001b3 from h = 0xcbf29ce484222325.
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

// Hashes the length first, so ("ab", "c") and ("a", "bc") differ.
static uint64_t fnv_field(uint64_t h, const void *data, size_t n)
{
    uint64_t len = n;
    h = fnv(h, &len, sizeof len);
    return fnv(h, data, n);
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
    return fnv_field(h, s ? s : "", s ? strlen(s) : 0);
}

static int64_t text_len_of(const RagStorePut *d)
{
    return d->text_len < 0 ? (int64_t)strlen(d->text) : d->text_len;
}

// The metadata order given by the caller does not matter: rows are keyed. Sort indices by key.
static int meta_cmp(const void *a, const void *b, void *keys)
{
    const char *const *k = keys;
    return strcmp(k[*(const int64_t *)a], k[*(const int64_t *)b]);
}

static int64_t *meta_order(const RagStorePut *d)
{
    int64_t *ord = xmalloc(sizeof *ord * (size_t)(d->n_meta > 0 ? d->n_meta : 1));
    for (int64_t i = 0; i < d->n_meta; i++) ord[i] = i;
    if (d->n_meta > 1) qsort_r(ord, (size_t)d->n_meta, sizeof *ord, meta_cmp, (void *)d->meta_keys);
    return ord;
}

static uint64_t content_hash(const RagStorePut *d, const int64_t *ord)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv_str(h, d->id);
    h = fnv_str(h, d->source);
    h = fnv_str(h, d->title);
    h = fnv_str(h, d->kind);
    uint64_t n = (uint64_t)d->n_meta;
    h = fnv(h, &n, sizeof n);
    for (int64_t i = 0; i < d->n_meta; i++) {
        h = fnv_str(h, d->meta_keys[ord[i]]);
        h = fnv_str(h, d->meta_values[ord[i]]);
    }
    h = fnv_field(h, d->text, (size_t)text_len_of(d));
    n = (uint64_t)d->n_chunks;
    h = fnv(h, &n, sizeof n);
    for (int64_t k = 0; k < d->n_chunks; k++) {
        int64_t se[2] = {d->chunk_start[k], d->chunk_end[k]};
        h = fnv(h, se, sizeof se);
    }
    return h;
}

static void check_put(const RagStorePut *d)
{
    CHECK(d && d->id && d->text, "rag_store_put_doc: doc, id and text must not be NULL");
    CHECK(d->n_meta >= 0 && (d->n_meta == 0 || (d->meta_keys && d->meta_values)),
          "rag_store_put_doc %s: n_meta %lld without keys/values", d->id, (long long)d->n_meta);
    for (int64_t i = 0; i < d->n_meta; i++)
        CHECK(d->meta_keys[i] && d->meta_values[i], "rag_store_put_doc %s: meta %lld is NULL",
              d->id, (long long)i);
    int64_t len = text_len_of(d);
    CHECK(d->n_chunks >= 0 && (d->n_chunks == 0 || (d->chunk_start && d->chunk_end)),
          "rag_store_put_doc %s: n_chunks %lld without offsets", d->id, (long long)d->n_chunks);
    for (int64_t k = 0; k < d->n_chunks; k++)
        CHECK(0 <= d->chunk_start[k] && d->chunk_start[k] <= d->chunk_end[k] &&
                  d->chunk_end[k] <= len,
              "rag_store_put_doc %s: chunk %lld is [%lld, %lld), outside the text [0, %lld)", d->id,
              (long long)k, (long long)d->chunk_start[k], (long long)d->chunk_end[k],
              (long long)len);
    CHECK(!d->embedder == !d->vectors, "rag_store_put_doc %s: embedder and vectors go together",
          d->id);
    CHECK(!d->vectors || d->dim > 0, "rag_store_put_doc %s: dim %lld", d->id, (long long)d->dim);
}

uint64_t rag_store_content_hash(const RagStorePut *doc)
{
    check_put(doc);
    int64_t *ord = meta_order(doc);
    uint64_t h = content_hash(doc, ord);
    free(ord);
    return h;
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

// The emb_pk of `name`, created with `dim` if new; ERR_SHAPE if it exists with another dim.
static int embedder_get(RagStore *s, const char *name, int64_t dim, int64_t *pk)
{
    sqlite3_stmt *st = stmt(s, ST_EMB_FIND);
    bind_str(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *pk = sqlite3_column_int64(st, 0);
        int64_t have = sqlite3_column_int64(st, 1);
        sqlite3_reset(st);
        if (have != dim)
            return err_set(ERR_SHAPE,
                           "store %s: embedder '%s' has dim %lld in the store, the "
                           "vectors given have dim %lld; hint: a different model "
                           "needs a different embedder name",
                           s->path, name, (long long)have, (long long)dim);
        return ERR_OK;
    }
    if (rc != SQLITE_DONE) {
        int e = FAIL(s, rc, "find embedder '%s'", name);
        sqlite3_reset(st);
        return e;
    }
    sqlite3_reset(st);
    st = stmt(s, ST_EMB_INSERT);
    bind_str(st, 1, name);
    sqlite3_bind_int64(st, 2, dim);
    int e = run(s, st, "add embedder");
    *pk = sqlite3_last_insert_rowid(s->db);
    return e;
}

// Writes (or replaces) the vectors of `emb` for the chunks `ids` (n of them).
static int vectors_write(RagStore *s, int64_t emb, const int64_t *ids, const float *v, int64_t n,
                         int64_t dim)
{
    for (int64_t k = 0; k < n; k++) {
        sqlite3_stmt *st = stmt(s, ST_VEC_UPSERT);
        sqlite3_bind_int64(st, 1, emb);
        sqlite3_bind_int64(st, 2, ids[k]);
        sqlite3_bind_blob64(st, 3, v + k * dim, (sqlite3_uint64)dim * sizeof(float), SQLITE_STATIC);
        int e = run(s, st, "write vector");
        if (e != ERR_OK) return e;
    }
    return ERR_OK;
}

// The chunk ids of document `pk` in ordinal order, into ids (n expected; ERR_FORMAT otherwise).
static int chunk_ids_of(RagStore *s, int64_t pk, int64_t *ids, int64_t n, const char *doc_id)
{
    sqlite3_stmt *st = stmt(s, ST_CHUNKS_GET);
    sqlite3_bind_int64(st, 1, pk);
    int64_t k = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k < n) ids[k] = sqlite3_column_int64(st, 0);
        k++;
    }
    if (rc != SQLITE_DONE) {
        int e = FAIL(s, rc, "read chunks of '%s'", doc_id);
        sqlite3_reset(st);
        return e;
    }
    sqlite3_reset(st);
    if (k != n)
        return err_set(ERR_SHAPE,
                       "store %s: document '%s' has %lld chunks, got %lld vectors; "
                       "hint: one vector per chunk, in chunk order",
                       s->path, doc_id, (long long)k, (long long)n);
    return ERR_OK;
}

// 1 when the stored vectors of `emb` for doc `pk` equal v bit for bit, else 0; <0 on error.
static int vectors_same(RagStore *s, int64_t pk, int64_t emb, const float *v, int64_t n,
                        int64_t dim)
{
    sqlite3_stmt *st = stmt(s, ST_VEC_DOC);
    sqlite3_bind_int64(st, 1, pk);
    sqlite3_bind_int64(st, 2, emb);
    int64_t k = 0;
    int same = 1, rc;
    size_t bytes = (size_t)dim * sizeof(float);
    while (same && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(st, 1);
        if (k >= n || !b || (size_t)sqlite3_column_bytes(st, 1) != bytes ||
            memcmp(b, v + k * dim, bytes) != 0)
            same = 0;
        k++;
    }
    if (same && rc != SQLITE_DONE) {
        int e = FAIL(s, rc, "compare vectors");
        sqlite3_reset(st);
        return e;
    }
    sqlite3_reset(st);
    return same && k == n;
}

// Inserts the metadata and chunks of document `pk` (chunk ids into ids).
static int doc_children_insert(RagStore *s, int64_t pk, const RagStorePut *d, const int64_t *ord,
                               int64_t *ids)
{
    for (int64_t i = 0; i < d->n_meta; i++) {
        sqlite3_stmt *st = stmt(s, ST_META_INSERT);
        sqlite3_bind_int64(st, 1, pk);
        bind_str(st, 2, d->meta_keys[ord[i]]);
        bind_str(st, 3, d->meta_values[ord[i]]);
        int e = run(s, st, "write metadata");
        if (e != ERR_OK) return e;
    }
    for (int64_t k = 0; k < d->n_chunks; k++) {
        sqlite3_stmt *st = stmt(s, ST_CHUNK_INSERT);
        sqlite3_bind_int64(st, 1, pk);
        sqlite3_bind_int64(st, 2, k);
        sqlite3_bind_int64(st, 3, d->chunk_start[k]);
        sqlite3_bind_int64(st, 4, d->chunk_end[k]);
        int e = run(s, st, "write chunk");
        if (e != ERR_OK) return e;
        ids[k] = sqlite3_last_insert_rowid(s->db);
    }
    return ERR_OK;
}

static void bind_doc(sqlite3_stmt *st, const RagStorePut *d, uint64_t hash)
{
    bind_str(st, 2, d->source);
    bind_str(st, 3, d->title);
    bind_str(st, 4, d->kind);
    bind_text(st, 5, d->text, text_len_of(d));
    sqlite3_bind_int64(st, 6, (int64_t)hash);
    sqlite3_bind_int64(st, 7, d->n_chunks);
}

// The body of rag_store_put_doc, inside its write scope.
static int put_doc(RagStore *s, const RagStorePut *d, const int64_t *ord, uint64_t hash,
                   RagStoreStatus *status, int64_t *ids)
{
    sqlite3_stmt *st = stmt(s, ST_DOC_FIND);
    bind_str(st, 1, d->id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        int e = FAIL(s, rc, "find document '%s'", d->id);
        sqlite3_reset(st);
        return e;
    }
    int found = rc == SQLITE_ROW;
    int64_t pk = found ? sqlite3_column_int64(st, 0) : 0;
    uint64_t old_hash = found ? (uint64_t)sqlite3_column_int64(st, 1) : 0;
    sqlite3_reset(st);

    int64_t emb = 0;
    int e;
    if (d->vectors && (e = embedder_get(s, d->embedder, d->dim, &emb)) != ERR_OK) return e;

    if (found && old_hash == hash) {
        // Same content: keep the rows (and so the chunk ids an index may hold).
        if ((e = chunk_ids_of(s, pk, ids, d->n_chunks, d->id)) != ERR_OK) return e;
        *status = RAG_STORE_UNCHANGED;
        if (!d->vectors) return ERR_OK;
        int same = vectors_same(s, pk, emb, d->vectors, d->n_chunks, d->dim);
        if (same < 0) return same;
        if (same) return ERR_OK;
        *status = RAG_STORE_VECTORS_UPDATED;
        return vectors_write(s, emb, ids, d->vectors, d->n_chunks, d->dim);
    }
    if (found) {
        // Replace: the cascade from chunks removes the vectors of every embedder.
        st = stmt(s, ST_META_DELETE);
        sqlite3_bind_int64(st, 1, pk);
        if ((e = run(s, st, "delete old metadata")) != ERR_OK) return e;
        st = stmt(s, ST_CHUNKS_DELETE);
        sqlite3_bind_int64(st, 1, pk);
        if ((e = run(s, st, "delete old chunks")) != ERR_OK) return e;
        st = stmt(s, ST_DOC_UPDATE);
        sqlite3_bind_int64(st, 1, pk);
        bind_doc(st, d, hash);
        if ((e = run(s, st, "update document")) != ERR_OK) return e;
        *status = RAG_STORE_REPLACED;
    } else {
        st = stmt(s, ST_DOC_INSERT);
        bind_str(st, 1, d->id);
        bind_doc(st, d, hash);
        if ((e = run(s, st, "insert document")) != ERR_OK) return e;
        pk = sqlite3_last_insert_rowid(s->db);
        *status = RAG_STORE_ADDED;
    }
    if ((e = doc_children_insert(s, pk, d, ord, ids)) != ERR_OK) return e;
    if (d->vectors) return vectors_write(s, emb, ids, d->vectors, d->n_chunks, d->dim);
    return ERR_OK;
}

int rag_store_put_doc(RagStore *s, const RagStorePut *doc, RagStoreStatus *status,
                      int64_t *chunk_ids)
{
    CHECK(s, "rag_store_put_doc: NULL store");
    check_put(doc);
    if (!doc->id[0])
        return err_set(ERR_INVALID,
                       "store %s: put_doc: empty document id; hint: use the "
                       "file path or another unique key",
                       s->path);
    int64_t *ord = meta_order(doc);
    for (int64_t i = 1; i < doc->n_meta; i++)
        if (strcmp(doc->meta_keys[ord[i - 1]], doc->meta_keys[ord[i]]) == 0) {
            int e = err_set(ERR_INVALID,
                            "store %s: put_doc '%s': meta key '%s' given twice; "
                            "hint: one value per key",
                            s->path, doc->id, doc->meta_keys[ord[i]]);
            free(ord);
            return e;
        }
    uint64_t hash = content_hash(doc, ord);
    int64_t *ids =
        chunk_ids ? chunk_ids : xmalloc(sizeof *ids * (size_t)(doc->n_chunks ? doc->n_chunks : 1));
    RagStoreStatus st_local = RAG_STORE_UNCHANGED;
    int e = write_begin(s, "put_doc: begin");
    if (e == ERR_OK) {
        e = put_doc(s, doc, ord, hash, &st_local, ids);
        if (e == ERR_OK)
            e = write_commit(s, "put_doc: commit");
        else
            write_abort(s);
    }
    if (e != ERR_OK && err_msg()[0] && !strstr(err_msg(), doc->id)) {
        // Name the document in the message when the failing step did not.
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", err_msg());
        err_set(e, "%s (document '%s')", buf, doc->id);
    }
    if (e == ERR_OK && status) *status = st_local;
    if (!chunk_ids) free(ids);
    free(ord);
    return e;
}

int rag_store_put_vectors(RagStore *s, const char *doc_id, const char *embedder,
                          const float *vectors, int64_t n, int64_t dim)
{
    CHECK(s && doc_id && embedder && (vectors || n == 0) && dim > 0,
          "rag_store_put_vectors: bad arguments");
    int e = write_begin(s, "put_vectors: begin");
    if (e != ERR_OK) return e;
    int64_t *ids = xmalloc(sizeof *ids * (size_t)(n ? n : 1));
    sqlite3_stmt *st = stmt(s, ST_DOC_FIND);
    bind_str(st, 1, doc_id);
    int rc = sqlite3_step(st);
    int64_t pk = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (rc == SQLITE_DONE)
        e = err_set(ERR_NOTFOUND, "store %s: put_vectors: no document '%s'", s->path, doc_id);
    else if (rc != SQLITE_ROW)
        e = FAIL(s, rc, "put_vectors: find '%s'", doc_id);
    sqlite3_reset(st);
    int64_t emb;
    if (e == ERR_OK) e = chunk_ids_of(s, pk, ids, n, doc_id);
    if (e == ERR_OK) e = embedder_get(s, embedder, dim, &emb);
    if (e == ERR_OK) e = vectors_write(s, emb, ids, vectors, n, dim);
    if (e == ERR_OK)
        e = write_commit(s, "put_vectors: commit");
    else
        write_abort(s);
    free(ids);
    return e;
}

int rag_store_delete_doc(RagStore *s, const char *doc_id)
{
    CHECK(s && doc_id, "rag_store_delete_doc: NULL argument");
    int e = write_begin(s, "delete_doc: begin");
    if (e != ERR_OK) return e;
    sqlite3_stmt *st = stmt(s, ST_DOC_DELETE);
    bind_str(st, 1, doc_id);
    e = run(s, st, "delete_doc");
    if (e == ERR_OK && sqlite3_changes(s->db) == 0)
        e = err_set(ERR_NOTFOUND, "store %s: delete_doc: no document '%s'", s->path, doc_id);
    if (e == ERR_OK)
        e = write_commit(s, "delete_doc: commit");
    else
        write_abort(s);
    return e;
}

// ---------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------

int rag_store_begin(RagStore *s)
{
    CHECK(s && !s->in_batch, "rag_store_begin: a batch is already open (batches do not nest)");
    int e = run(s, stmt(s, ST_BEGIN), "begin batch");
    if (e == ERR_OK) s->in_batch = 1, s->batch_lost = 0;
    return e;
}

int rag_store_commit(RagStore *s)
{
    CHECK(s && s->in_batch, "rag_store_commit: no batch is open");
    s->in_batch = 0;
    if (s->batch_lost) {
        s->batch_lost = 0;
        return err_set(ERR_IO,
                       "store %s: commit batch: SQLite rolled the batch back after an "
                       "earlier error; hint: nothing of the batch was written, fix the "
                       "cause (disk full?) and ingest it again",
                       s->path);
    }
    int e = run(s, stmt(s, ST_COMMIT), "commit batch");
    if (e != ERR_OK && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

int rag_store_rollback(RagStore *s)
{
    CHECK(s && s->in_batch, "rag_store_rollback: no batch is open");
    s->in_batch = 0;
    if (s->batch_lost || sqlite3_get_autocommit(s->db)) {
        s->batch_lost = 0;
        return ERR_OK;
    }
    return run(s, stmt(s, ST_ROLLBACK), "rollback batch");
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

void rag_store_doc_deinit(RagStoreDoc *d)
{
    if (!d) return;
    free(d->id), free(d->source), free(d->title), free(d->kind), free(d->text);
    for (int64_t i = 0; i < d->n_meta; i++) free(d->meta_keys[i]), free(d->meta_values[i]);
    free(d->meta_keys), free(d->meta_values);
    free(d->chunk_id), free(d->chunk_start), free(d->chunk_end);
    memset(d, 0, sizeof *d);
}

// Fills *out from the current row of a ST_DOC_GET/ST_DOC_NEXT statement (then reset), plus
// its metadata and chunks. *pk receives the document's key.
static int doc_read(RagStore *s, sqlite3_stmt *st, RagStoreDoc *out, int64_t *pk)
{
    *pk = sqlite3_column_int64(st, 0);
    out->id = col_dup(st, 1, NULL);
    out->source = col_dup(st, 2, NULL);
    out->title = col_dup(st, 3, NULL);
    out->kind = col_dup(st, 4, NULL);
    out->text = col_dup(st, 5, &out->text_len);
    out->hash = (uint64_t)sqlite3_column_int64(st, 6);
    sqlite3_reset(st);

    int64_t cap = 4;
    out->meta_keys = xmalloc(sizeof(char *) * (size_t)cap);
    out->meta_values = xmalloc(sizeof(char *) * (size_t)cap);
    sqlite3_stmt *m = stmt(s, ST_META_GET);
    sqlite3_bind_int64(m, 1, *pk);
    int rc;
    while ((rc = sqlite3_step(m)) == SQLITE_ROW) {
        if (out->n_meta == cap) {
            cap *= 2;
            out->meta_keys = xrealloc(out->meta_keys, sizeof(char *) * (size_t)cap);
            out->meta_values = xrealloc(out->meta_values, sizeof(char *) * (size_t)cap);
        }
        out->meta_keys[out->n_meta] = col_dup(m, 0, NULL);
        out->meta_values[out->n_meta++] = col_dup(m, 1, NULL);
    }
    if (rc != SQLITE_DONE) {
        int e = FAIL(s, rc, "read metadata of '%s'", out->id);
        sqlite3_reset(m);
        return e;
    }
    sqlite3_reset(m);

    cap = 8;
    out->chunk_id = xmalloc(sizeof(int64_t) * (size_t)cap);
    out->chunk_start = xmalloc(sizeof(int64_t) * (size_t)cap);
    out->chunk_end = xmalloc(sizeof(int64_t) * (size_t)cap);
    sqlite3_stmt *c = stmt(s, ST_CHUNKS_GET);
    sqlite3_bind_int64(c, 1, *pk);
    while ((rc = sqlite3_step(c)) == SQLITE_ROW) {
        if (out->n_chunks == cap) {
            cap *= 2;
            out->chunk_id = xrealloc(out->chunk_id, sizeof(int64_t) * (size_t)cap);
            out->chunk_start = xrealloc(out->chunk_start, sizeof(int64_t) * (size_t)cap);
            out->chunk_end = xrealloc(out->chunk_end, sizeof(int64_t) * (size_t)cap);
        }
        out->chunk_id[out->n_chunks] = sqlite3_column_int64(c, 0);
        out->chunk_start[out->n_chunks] = sqlite3_column_int64(c, 1);
        out->chunk_end[out->n_chunks++] = sqlite3_column_int64(c, 2);
    }
    if (rc != SQLITE_DONE) {
        int e = FAIL(s, rc, "read chunks of '%s'", out->id);
        sqlite3_reset(c);
        return e;
    }
    sqlite3_reset(c);
    return ERR_OK;
}

// Runs a prepared ST_DOC_GET / ST_DOC_NEXT and reads the document: 1 found, 0 none, <0 error.
static int doc_fetch(RagStore *s, sqlite3_stmt *st, RagStoreDoc *out, int64_t *pk, const char *what)
{
    memset(out, 0, sizeof *out);
    int began, e = read_begin(s, &began);
    if (e != ERR_OK) return e;
    int rc = sqlite3_step(st);
    int found = 0;
    if (rc == SQLITE_ROW) {
        e = doc_read(s, st, out, pk);
        found = 1;
    } else if (rc != SQLITE_DONE) {
        e = FAIL(s, rc, "read document %s", what);
    }
    sqlite3_reset(st);
    read_end(s, began);
    if (e != ERR_OK) {
        rag_store_doc_deinit(out);
        return e;
    }
    return found;
}

int rag_store_get_doc(RagStore *s, const char *doc_id, RagStoreDoc *out)
{
    CHECK(s && doc_id && out, "rag_store_get_doc: NULL argument");
    sqlite3_stmt *st = stmt(s, ST_DOC_GET);
    bind_str(st, 1, doc_id);
    int64_t pk;
    int r = doc_fetch(s, st, out, &pk, doc_id);
    if (r < 0) return r;
    if (r == 0) return err_set(ERR_NOTFOUND, "store %s: no document '%s'", s->path, doc_id);
    return ERR_OK;
}

int rag_store_doc_hash(RagStore *s, const char *doc_id, uint64_t *hash)
{
    CHECK(s && doc_id && hash, "rag_store_doc_hash: NULL argument");
    sqlite3_stmt *st = stmt(s, ST_DOC_FIND);
    bind_str(st, 1, doc_id);
    int rc = sqlite3_step(st);
    int e = ERR_OK;
    if (rc == SQLITE_ROW)
        *hash = (uint64_t)sqlite3_column_int64(st, 1);
    else if (rc == SQLITE_DONE)
        e = err_set(ERR_NOTFOUND, "store %s: no document '%s'", s->path, doc_id);
    else
        e = FAIL(s, rc, "read hash of '%s'", doc_id);
    sqlite3_reset(st);
    return e;
}

int rag_store_next_doc(RagStore *s, int64_t *cursor, RagStoreDoc *out)
{
    CHECK(s && cursor && out, "rag_store_next_doc: NULL argument");
    sqlite3_stmt *st = stmt(s, ST_DOC_NEXT);
    sqlite3_bind_int64(st, 1, *cursor);
    int64_t pk;
    int r = doc_fetch(s, st, out, &pk, "(next)");
    if (r == 1) *cursor = pk;
    return r;
}

void rag_store_chunks_deinit(RagStoreChunks *c)
{
    if (!c) return;
    free(c->chunk_id), free(c->doc), free(c->ordinal), free(c->start), free(c->end);
    free(c->text), free(c->doc_ids), free(c->pool);
    memset(c, 0, sizeof *c);
}

// A growing byte pool; strings are recorded as offsets and turned into pointers at the end
// (the pool moves when it grows).
typedef struct {
    char *p;
    size_t n, cap;
} Pool;

static size_t pool_add(Pool *pl, const void *data, size_t n)
{
    if (pl->n + n + 1 > pl->cap) {
        pl->cap = (pl->n + n + 1) * 2;
        pl->p = xrealloc(pl->p, pl->cap);
    }
    size_t at = pl->n;
    if (n) memcpy(pl->p + at, data, n);
    pl->p[at + n] = '\0';
    pl->n += n + 1;
    return at;
}

// Index of `pk` in the ascending array pks (n), or -1.
static int64_t find_pk(const int64_t *pks, int64_t n, int64_t pk)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (pks[mid] < pk)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && pks[lo] == pk ? lo : -1;
}

static int load_chunks(RagStore *s, RagStoreChunks *c, Pool *pl, int64_t **pks_out)
{
    // Documents first: their keys (to map each chunk to a row) and ids.
    int64_t cap = 64, *pks = xmalloc(sizeof *pks * (size_t)cap);
    size_t *id_at = xmalloc(sizeof *id_at * (size_t)cap);
    *pks_out = pks;
    sqlite3_stmt *st = stmt(s, ST_DOCS_ALL);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (c->n_docs == cap) {
            cap *= 2;
            pks = *pks_out = xrealloc(pks, sizeof *pks * (size_t)cap);
            id_at = xrealloc(id_at, sizeof *id_at * (size_t)cap);
        }
        pks[c->n_docs] = sqlite3_column_int64(st, 0);
        id_at[c->n_docs++] =
            pool_add(pl, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    }
    if (rc != SQLITE_DONE) {
        int e = FAIL(s, rc, "load_chunks: read documents");
        sqlite3_reset(st);
        free(id_at);
        return e;
    }
    sqlite3_reset(st);
    c->doc_ids = xmalloc(sizeof(char *) * (size_t)(c->n_docs ? c->n_docs : 1));
    for (int64_t i = 0; i < c->n_docs; i++) c->doc_ids[i] = (char *)id_at[i];
    free(id_at);

    // Then the chunks; the text of the current document is read once per document (chunks of
    // one document are contiguous in id order, since a put inserts them together).
    cap = 256;
    c->chunk_id = xmalloc(sizeof(int64_t) * (size_t)cap);
    c->doc = xmalloc(sizeof(int64_t) * (size_t)cap);
    c->ordinal = xmalloc(sizeof(int64_t) * (size_t)cap);
    c->start = xmalloc(sizeof(int64_t) * (size_t)cap);
    c->end = xmalloc(sizeof(int64_t) * (size_t)cap);
    c->text = xmalloc(sizeof(char *) * (size_t)cap);
    sqlite3_stmt *tx = s->st[ST_DOC_TEXT];
    int64_t text_pk = -1;
    const char *text = NULL;
    int64_t text_len = 0;
    int e = ERR_OK;
    st = stmt(s, ST_CHUNKS_ALL);
    while (e == ERR_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t pk = sqlite3_column_int64(st, 1);
        if (pk != text_pk) {
            sqlite3_reset(tx);
            sqlite3_bind_int64(tx, 1, pk);
            int r2 = sqlite3_step(tx);
            if (r2 != SQLITE_ROW) {
                e = r2 == SQLITE_DONE ? err_set(ERR_FORMAT,
                                                "store %s: load_chunks: chunk %lld belongs to no "
                                                "document; hint: run rag_store_verify",
                                                s->path, (long long)sqlite3_column_int64(st, 0))
                                      : FAIL(s, r2, "load_chunks: read text");
                break;
            }
            text = sqlite3_column_blob(tx, 0);
            text_len = sqlite3_column_bytes(tx, 0);
            text_pk = pk;
        }
        if (c->n == cap) {
            cap *= 2;
            c->chunk_id = xrealloc(c->chunk_id, sizeof(int64_t) * (size_t)cap);
            c->doc = xrealloc(c->doc, sizeof(int64_t) * (size_t)cap);
            c->ordinal = xrealloc(c->ordinal, sizeof(int64_t) * (size_t)cap);
            c->start = xrealloc(c->start, sizeof(int64_t) * (size_t)cap);
            c->end = xrealloc(c->end, sizeof(int64_t) * (size_t)cap);
            c->text = xrealloc(c->text, sizeof(char *) * (size_t)cap);
        }
        int64_t i = c->n;
        c->chunk_id[i] = sqlite3_column_int64(st, 0);
        c->doc[i] = find_pk(pks, c->n_docs, pk);
        c->ordinal[i] = sqlite3_column_int64(st, 2);
        c->start[i] = sqlite3_column_int64(st, 3);
        c->end[i] = sqlite3_column_int64(st, 4);
        if (c->doc[i] < 0 || c->start[i] < 0 || c->start[i] > c->end[i] || c->end[i] > text_len) {
            e = err_set(ERR_FORMAT,
                        "store %s: load_chunks: chunk %lld is [%lld, %lld) of a text "
                        "of %lld bytes; hint: the file is damaged, run "
                        "rag_store_verify",
                        s->path, (long long)c->chunk_id[i], (long long)c->start[i],
                        (long long)c->end[i], (long long)text_len);
            break;
        }
        c->text[i] = (char *)pool_add(pl, text + c->start[i], (size_t)(c->end[i] - c->start[i]));
        c->n++;
    }
    if (e == ERR_OK && rc != SQLITE_DONE) e = FAIL(s, rc, "load_chunks: read chunks");
    sqlite3_reset(tx);
    sqlite3_reset(st);
    return e;
}

int rag_store_load_chunks(RagStore *s, RagStoreChunks *out)
{
    CHECK(s && out, "rag_store_load_chunks: NULL argument");
    memset(out, 0, sizeof *out);
    int began, e = read_begin(s, &began);
    if (e != ERR_OK) return e;
    Pool pl = {0};
    int64_t *pks = NULL;
    e = load_chunks(s, out, &pl, &pks);
    read_end(s, began);
    free(pks);
    out->pool = pl.p;
    // Turn the recorded offsets into pointers now that the pool no longer moves.
    for (int64_t i = 0; i < out->n_docs; i++) out->doc_ids[i] = pl.p + (size_t)out->doc_ids[i];
    for (int64_t i = 0; i < out->n; i++) out->text[i] = pl.p + (size_t)out->text[i];
    if (e != ERR_OK) rag_store_chunks_deinit(out);
    return e;
}

// The key, dim and vector count of an embedder: 1 found, 0 absent, <0 error.
static int embedder_find(RagStore *s, const char *name, int64_t *pk, int64_t *dim, int64_t *count)
{
    sqlite3_stmt *st = stmt(s, ST_EMB_FIND);
    bind_str(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        int e = FAIL(s, rc, "find embedder '%s'", name);
        sqlite3_reset(st);
        return e;
    }
    *pk = sqlite3_column_int64(st, 0);
    *dim = sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    st = stmt(s, ST_EMB_COUNT);
    sqlite3_bind_int64(st, 1, *pk);
    rc = sqlite3_step(st);
    int e = 1;
    if (rc == SQLITE_ROW)
        *count = sqlite3_column_int64(st, 0);
    else
        e = FAIL(s, rc, "count vectors of '%s'", name);
    sqlite3_reset(st);
    return e;
}

static int no_embedder(RagStore *s, const char *name)
{
    return err_set(ERR_NOTFOUND,
                   "store %s: no embedder '%s'; hint: SELECT name, dim FROM "
                   "embedders lists the stored ones",
                   s->path, name);
}

int rag_store_embedder_info(RagStore *s, const char *embedder, int64_t *dim, int64_t *n_vectors)
{
    CHECK(s && embedder, "rag_store_embedder_info: NULL argument");
    int64_t pk, d, n;
    int began, e = read_begin(s, &began);
    if (e != ERR_OK) return e;
    int r = embedder_find(s, embedder, &pk, &d, &n);
    read_end(s, began);
    if (r < 0) return r;
    if (r == 0) return no_embedder(s, embedder);
    if (dim) *dim = d;
    if (n_vectors) *n_vectors = n;
    return ERR_OK;
}

int rag_store_load_vectors(RagStore *s, const char *embedder, int64_t **chunk_ids, float **vectors,
                           int64_t *n, int64_t *dim)
{
    CHECK(s && embedder && chunk_ids && vectors && n && dim, "rag_store_load_vectors: NULL arg");
    *chunk_ids = NULL, *vectors = NULL, *n = 0, *dim = 0;
    int began, e = read_begin(s, &began);
    if (e != ERR_OK) return e;
    int64_t d = 0, count = 0, emb = 0;
    int r = embedder_find(s, embedder, &emb, &d, &count);
    if (r <= 0) e = r < 0 ? r : no_embedder(s, embedder);
    sqlite3_stmt *st;
    int rc;
    int64_t *ids = NULL;
    float *m = NULL;
    int64_t k = 0;
    if (e == ERR_OK && count > 0) {
        ids = xmalloc(sizeof *ids * (size_t)count);
        m = xmalloc(sizeof *m * (size_t)count * (size_t)d);
        st = stmt(s, ST_VECS_ALL);
        sqlite3_bind_int64(st, 1, emb);
        size_t bytes = (size_t)d * sizeof(float);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < count) {
            ids[k] = sqlite3_column_int64(st, 0);
            if ((size_t)sqlite3_column_bytes(st, 1) != bytes) {
                e = err_set(ERR_FORMAT,
                            "store %s: load_vectors '%s': chunk %lld has a %d-byte "
                            "vector, expected %zu (dim %lld); hint: the file is "
                            "damaged, run rag_store_verify",
                            s->path, embedder, (long long)ids[k], sqlite3_column_bytes(st, 1),
                            bytes, (long long)d);
                break;
            }
            memcpy(m + k * d, sqlite3_column_blob(st, 1), bytes);
            k++;
        }
        if (e == ERR_OK && rc != SQLITE_DONE)
            e = rc == SQLITE_ROW ? err_set(ERR_FORMAT,
                                           "store %s: load_vectors: more rows than "
                                           "counted",
                                           s->path)
                                 : FAIL(s, rc, "load_vectors '%s'", embedder);
        sqlite3_reset(st);
    }
    read_end(s, began);
    if (e != ERR_OK) {
        free(ids), free(m);
        return e;
    }
    *chunk_ids = ids, *vectors = m, *n = k, *dim = d;
    return ERR_OK;
}

int rag_store_count(RagStore *s, RagStoreCounts *out)
{
    CHECK(s && out, "rag_store_count: NULL argument");
    sqlite3_stmt *st = stmt(s, ST_COUNTS);
    int rc = sqlite3_step(st);
    int e = ERR_OK;
    if (rc == SQLITE_ROW) {
        out->n_docs = sqlite3_column_int64(st, 0);
        out->n_chunks = sqlite3_column_int64(st, 1);
        out->n_vectors = sqlite3_column_int64(st, 2);
        out->n_embedders = sqlite3_column_int64(st, 3);
    } else {
        e = FAIL(s, rc, "count");
    }
    sqlite3_reset(st);
    return e;
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

// Runs `sql`; a returned row is a problem, reported with `what` and the row's first columns.
// With `ok_text`, a single row equal to it is fine (PRAGMA integrity_check says "ok").
static int verify_query(RagStore *s, const char *sql, const char *ok_text, const char *what)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return FAIL(s, rc, "verify: %s", what);
    rc = sqlite3_step(st);
    int e = ERR_OK;
    if (rc == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(st, 0);
        if (!(ok_text && a && strcmp(a, ok_text) == 0)) {
            char cols[512] = "";
            int nc = sqlite3_column_count(st);
            for (int i = 0; i < nc && i < 4; i++) {
                const char *v = (const char *)sqlite3_column_text(st, i);
                size_t l = strlen(cols);
                snprintf(cols + l, sizeof cols - l, "%s%s", i ? ", " : "", v ? v : "NULL");
            }
            e = err_set(ERR_FORMAT,
                        "store %s: verify: %s: %s; hint: the file is damaged, "
                        "rebuild the store from its sources",
                        s->path, what, cols);
        }
    } else if (rc != SQLITE_DONE) {
        e = FAIL(s, rc, "verify: %s", what);
    }
    sqlite3_finalize(st);
    return e;
}

int rag_store_verify(RagStore *s)
{
    CHECK(s, "rag_store_verify: NULL store");
    static const struct {
        const char *sql, *ok, *what;
    } q[] = {
        {"PRAGMA integrity_check", "ok", "integrity_check"},
        {"PRAGMA foreign_key_check", NULL, "foreign key violation (table, rowid, parent)"},
        {"SELECT d.id, d.n_chunks, count(c.chunk_id) FROM docs d LEFT JOIN chunks c "
         "ON c.doc_pk = d.doc_pk GROUP BY d.doc_pk HAVING count(c.chunk_id) != d.n_chunks",
         NULL, "document with a wrong number of chunks (id, expected, found)"},
        {"SELECT d.id, c.ordinal, c.end_byte, length(CAST(d.text AS BLOB)) FROM chunks c "
         "JOIN docs d ON d.doc_pk = c.doc_pk WHERE c.end_byte > length(CAST(d.text AS BLOB)) "
         "OR c.ordinal < 0 OR c.ordinal >= d.n_chunks",
         NULL, "chunk outside its document (id, ordinal, end, text bytes)"},
        {"SELECT e.name, v.chunk_id, length(v.data) FROM vectors v JOIN embedders e "
         "ON e.emb_pk = v.emb_pk WHERE length(v.data) != 4 * e.dim",
         NULL, "vector of the wrong size (embedder, chunk, bytes)"},
        {"SELECT d.id, e.name, count(*), d.n_chunks FROM vectors v "
         "JOIN chunks c ON c.chunk_id = v.chunk_id JOIN docs d ON d.doc_pk = c.doc_pk "
         "JOIN embedders e ON e.emb_pk = v.emb_pk GROUP BY d.doc_pk, v.emb_pk "
         "HAVING count(*) != d.n_chunks",
         NULL, "document partly embedded (id, embedder, vectors, chunks)"},
    };
    int began, e = read_begin(s, &began);
    for (size_t i = 0; e == ERR_OK && i < sizeof q / sizeof q[0]; i++)
        e = verify_query(s, q[i].sql, q[i].ok, q[i].what);
    read_end(s, began);
    return e;
}
