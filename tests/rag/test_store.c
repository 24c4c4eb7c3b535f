/*
 * test_store.c: tests for rag/store.c.
 *
 * Round trip of documents, metadata, chunks and vectors (floats compared bit for bit, NaN and
 * -0 included); replace/unchanged/vector-only updates and their atomicity (a trigger makes an
 * update fail half-way); delete cascades; batches; reopen; refused files (not SQLite, another
 * program's SQLite file, a newer schema, a missing file, a read-only store, a held write lock).
 *
 * The crash tests fork a child that ingests (one transaction per put, or batches of 7) and
 * reports each commit over a pipe; the parent SIGKILLs it after a seeded random delay, reopens
 * the file and checks that integrity_check says ok, that every document is whole and exactly
 * what was written, and that the store holds exactly the state after the last reported commit
 * (or after the one that was in flight); the next round continues the ingest on the same file.
 * The torn-write test freezes the child (SIGSTOP) at a random moment, copies the database and
 * its WAL as they are, then tears the WAL copy after the last commit the child reported as
 * synced (synchronous=FULL): cut at a random byte and followed by garbage, as a power cut in
 * the middle of a write leaves it. Opening the copy must give a whole store with every
 * reported commit.
 */
#include "rag/store.h"

#include "core/err.h"
#include "core/rng.h"
#include "tests/test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// Generated documents: the content of (doc d, version v) is a function of (d, v), so a reader
// can check any stored document completely without remembering what was written.
// ---------------------------------------------------------------------------

#define DIM        12
#define MAX_CHUNKS 6
#define EMB        "test-emb"

typedef struct {
    char id[32], title[48], source[48], ver[8], num[24];
    const char *keys[3], *vals[3];
    char text[1600];
    int64_t len;
    int64_t start[MAX_CHUNKS], end[MAX_CHUNKS];
    float vec[MAX_CHUNKS * DIM];
    RagStorePut put;
} GenDoc;

static void gen_doc(GenDoc *g, int64_t d, int v)
{
    static const char *words[] = {"store",        "chunk", "vector", "the",
                                  "of",           "wal",   "crash",  "d\xc3\xa9j\xc3\xa0",
                                  "\xe2\x88\x91", "index", "query"};
    Rng r;
    rng_init(&r, (uint64_t)d * 4 + (uint64_t)v);
    memset(g, 0, sizeof *g);
    snprintf(g->id, sizeof g->id, "doc-%06lld", (long long)d);
    snprintf(g->title, sizeof g->title, "Document %lld, version %d", (long long)d, v);
    snprintf(g->source, sizeof g->source, "gen/%lld.txt", (long long)d);
    snprintf(g->ver, sizeof g->ver, "%d", v);
    snprintf(g->num, sizeof g->num, "%lld", (long long)d);
    int64_t want = 40 + rng_below(&r, 1400);
    while (g->len < want) {
        const char *w = words[rng_below(&r, sizeof words / sizeof words[0])];
        int64_t wl = (int64_t)strlen(w);
        if (g->len + wl + 1 >= (int64_t)sizeof g->text) break;
        memcpy(g->text + g->len, w, (size_t)wl);
        g->len += wl;
        g->text[g->len++] = rng_below(&r, 9) ? ' ' : '\n';
    }
    int64_t n = 1 + rng_below(&r, MAX_CHUNKS);
    for (int64_t k = 0; k < n; k++) {
        // Overlapping chunks, as a sliding-window chunker makes.
        g->start[k] = k * g->len / n;
        g->end[k] = (k + 1) * g->len / n + 8;
        if (g->end[k] > g->len) g->end[k] = g->len;
    }
    for (int64_t i = 0; i < n * DIM; i++) g->vec[i] = rng_normal(&r);
    g->keys[0] = "version", g->vals[0] = g->ver;
    g->keys[1] = "lang", g->vals[1] = "en";
    g->keys[2] = "n", g->vals[2] = g->num;
    g->put = (RagStorePut){.id = g->id,
                           .source = g->source,
                           .title = g->title,
                           .kind = "text",
                           .meta_keys = g->keys,
                           .meta_values = g->vals,
                           .n_meta = 3,
                           .text = g->text,
                           .text_len = g->len,
                           .chunk_start = g->start,
                           .chunk_end = g->end,
                           .n_chunks = n,
                           .embedder = EMB,
                           .vectors = g->vec,
                           .dim = DIM};
}

static const char *meta_get(const RagStoreDoc *d, const char *key)
{
    for (int64_t i = 0; i < d->n_meta; i++)
        if (strcmp(d->meta_keys[i], key) == 0) return d->meta_values[i];
    return NULL;
}

// True when the stored document is exactly the put (fields, metadata, text, chunk offsets).
// On a mismatch, says what differs in `why`.
static bool doc_matches(const RagStoreDoc *sd, const RagStorePut *p, char *why, size_t nwhy)
{
    int64_t len = p->text_len < 0 ? (int64_t)strlen(p->text) : p->text_len;
#define DIFF(cond, ...)                                                                            \
    do {                                                                                           \
        if (cond) {                                                                                \
            snprintf(why, nwhy, __VA_ARGS__);                                                      \
            return false;                                                                          \
        }                                                                                          \
    } while (0)
    DIFF(strcmp(sd->id, p->id) != 0, "id %s vs %s", sd->id, p->id);
    DIFF(strcmp(sd->source, p->source ? p->source : "") != 0, "%s: source", p->id);
    DIFF(strcmp(sd->title, p->title ? p->title : "") != 0, "%s: title", p->id);
    DIFF(strcmp(sd->kind, p->kind ? p->kind : "") != 0, "%s: kind", p->id);
    DIFF(sd->text_len != len || memcmp(sd->text, p->text, (size_t)len) != 0 ||
             sd->text[len] != '\0',
         "%s: text (%lld vs %lld bytes)", p->id, (long long)sd->text_len, (long long)len);
    DIFF(sd->n_meta != p->n_meta, "%s: %lld meta vs %lld", p->id, (long long)sd->n_meta,
         (long long)p->n_meta);
    for (int64_t i = 0; i < p->n_meta; i++) {
        const char *v = meta_get(sd, p->meta_keys[i]);
        DIFF(!v || strcmp(v, p->meta_values[i]) != 0, "%s: meta %s", p->id, p->meta_keys[i]);
    }
    for (int64_t i = 1; i < sd->n_meta; i++)
        DIFF(strcmp(sd->meta_keys[i - 1], sd->meta_keys[i]) >= 0, "%s: meta not sorted", p->id);
    DIFF(sd->n_chunks != p->n_chunks, "%s: %lld chunks vs %lld", p->id, (long long)sd->n_chunks,
         (long long)p->n_chunks);
    for (int64_t k = 0; k < p->n_chunks; k++)
        DIFF(sd->chunk_start[k] != p->chunk_start[k] || sd->chunk_end[k] != p->chunk_end[k],
             "%s: chunk %lld offsets", p->id, (long long)k);
    DIFF(sd->hash != rag_store_content_hash(p), "%s: hash", p->id);
#undef DIFF
    return true;
}

// Row of chunk `id` in the ascending ids (n), or -1.
static int64_t row_of(const int64_t *ids, int64_t n, int64_t id)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == id ? lo : -1;
}

static RagStore *open_ok(const char *path, int flags)
{
    RagStore *s;
    int rc = rag_store_open(path, flags, &s);
    ck_assert_msg(rc == ERR_OK, "open %s: %s", path, err_msg());
    return s;
}

static void put_ok(RagStore *s, const RagStorePut *p, RagStoreStatus want, int64_t *ids)
{
    RagStoreStatus st = (RagStoreStatus)-1;
    int rc = rag_store_put_doc(s, p, &st, ids);
    ck_assert_msg(rc == ERR_OK, "put %s: %s", p->id, err_msg());
    ck_assert_msg(st == want, "put %s: status %d, expected %d", p->id, st, want);
}

// One integer from raw SQL (an independent look at the file, not through the store's API).
static int64_t sql_int(RagStore *s, const char *sql)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(rag_store_sqlite(s), sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static bool integrity_ok(RagStore *s)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(
        sqlite3_prepare_v2(rag_store_sqlite(s), "PRAGMA integrity_check", -1, &st, NULL),
        SQLITE_OK);
    bool ok = sqlite3_step(st) == SQLITE_ROW &&
              strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0 &&
              sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok;
}

static void sql_exec(RagStore *s, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(rag_store_sqlite(s), sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
}

// ---------------------------------------------------------------------------
// Round trip, updates, deletes, batches
// ---------------------------------------------------------------------------

START_TEST(test_store_round_trip)
{
    const char *path = test_tmp_path("rt.db");
    RagStore *s = open_ok(path, RAG_STORE_CREATE);
    enum { N = 5 };
    GenDoc *g = xmalloc(sizeof *g * N);
    int64_t ids[N][MAX_CHUNKS];
    for (int i = 0; i < N; i++) gen_doc(&g[i], i * 10 + 3, 1);
    // Special floats must come back bit for bit.
    uint32_t bits[] = {0x7fc00001u, 0x80000000u, 0x00000001u, 0x7f800000u, 0xff7fffffu};
    for (int i = 0; i < 5; i++) memcpy(&g[0].vec[i], &bits[i], 4);
    // A document without vectors and with a NUL byte in its text.
    g[4].put.embedder = NULL, g[4].put.vectors = NULL;
    g[4].text[3] = '\0';
    for (int i = 0; i < N; i++) put_ok(s, &g[i].put, RAG_STORE_ADDED, ids[i]);
    rag_store_close(s);

    s = open_ok(path, 0); // reopen: everything persisted
    ck_assert_int_eq(rag_store_verify(s), ERR_OK);
    RagStoreCounts c;
    ck_assert_int_eq(rag_store_count(s, &c), ERR_OK);
    int64_t want_chunks = 0, want_vecs = 0;
    for (int i = 0; i < N; i++) {
        want_chunks += g[i].put.n_chunks;
        if (g[i].put.vectors) want_vecs += g[i].put.n_chunks;
    }
    ck_assert_int_eq(c.n_docs, N);
    ck_assert_int_eq(c.n_chunks, want_chunks);
    ck_assert_int_eq(c.n_vectors, want_vecs);
    ck_assert_int_eq(c.n_embedders, 1);

    char why[256];
    for (int i = 0; i < N; i++) {
        RagStoreDoc d;
        ck_assert_int_eq(rag_store_get_doc(s, g[i].id, &d), ERR_OK);
        ck_assert_msg(doc_matches(&d, &g[i].put, why, sizeof why), "%s", why);
        for (int64_t k = 0; k < d.n_chunks; k++) ck_assert_int_eq(d.chunk_id[k], ids[i][k]);
        uint64_t h;
        ck_assert_int_eq(rag_store_doc_hash(s, g[i].id, &h), ERR_OK);
        ck_assert(h == d.hash);
        rag_store_doc_deinit(&d);
    }
    // Iteration: every document once, in insertion order.
    int64_t cur = 0;
    int n_it = 0, r;
    RagStoreDoc d;
    while ((r = rag_store_next_doc(s, &cur, &d)) == 1) {
        ck_assert_int_lt(n_it, N);
        ck_assert_str_eq(d.id, g[n_it].id);
        ck_assert_msg(doc_matches(&d, &g[n_it].put, why, sizeof why), "%s", why);
        rag_store_doc_deinit(&d);
        n_it++;
    }
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(n_it, N);

    // All chunks: text is exactly the slice of the document text.
    RagStoreChunks ch;
    ck_assert_int_eq(rag_store_load_chunks(s, &ch), ERR_OK);
    ck_assert_int_eq(ch.n, want_chunks);
    ck_assert_int_eq(ch.n_docs, N);
    int64_t at = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_str_eq(ch.doc_ids[i], g[i].id);
        for (int64_t k = 0; k < g[i].put.n_chunks; k++, at++) {
            ck_assert_int_eq(ch.chunk_id[at], ids[i][k]);
            ck_assert_int_eq(ch.doc[at], i);
            ck_assert_int_eq(ch.ordinal[at], k);
            ck_assert_int_eq(ch.start[at], g[i].start[k]);
            ck_assert_int_eq(ch.end[at], g[i].end[k]);
            int64_t l = g[i].end[k] - g[i].start[k];
            ck_assert(memcmp(ch.text[at], g[i].text + g[i].start[k], (size_t)l) == 0);
            ck_assert_int_eq(ch.text[at][l], '\0');
        }
    }
    for (int64_t k = 1; k < ch.n; k++) ck_assert_int_lt(ch.chunk_id[k - 1], ch.chunk_id[k]);
    rag_store_chunks_deinit(&ch);
    rag_store_chunks_deinit(&ch); // deinit zeroes: a second call is harmless

    // All vectors of the embedder: an (n, dim) matrix whose rows are the bits that were put.
    int64_t *vid, nv, dim;
    float *m;
    ck_assert_int_eq(rag_store_load_vectors(s, EMB, &vid, &m, &nv, &dim), ERR_OK);
    ck_assert_int_eq(nv, want_vecs);
    ck_assert_int_eq(dim, DIM);
    for (int i = 0; i < N; i++) {
        if (!g[i].put.vectors) continue;
        for (int64_t k = 0; k < g[i].put.n_chunks; k++) {
            int64_t row = row_of(vid, nv, ids[i][k]);
            ck_assert_int_ge(row, 0);
            ck_assert(memcmp(m + row * DIM, g[i].vec + k * DIM, DIM * sizeof(float)) == 0);
        }
    }
    free(vid), free(m);
    int64_t edim, en;
    ck_assert_int_eq(rag_store_embedder_info(s, EMB, &edim, &en), ERR_OK);
    ck_assert_int_eq(edim, DIM);
    ck_assert_int_eq(en, want_vecs);
    test_expect_err(rag_store_embedder_info(s, "nope", NULL, NULL), ERR_NOTFOUND,
                    (const char *[]){"nope", NULL});
    test_expect_err(rag_store_load_vectors(s, "nope", &vid, &m, &nv, &dim), ERR_NOTFOUND,
                    (const char *[]){"nope", NULL});
    test_expect_err(rag_store_get_doc(s, "missing", &d), ERR_NOTFOUND,
                    (const char *[]){"missing", path, NULL});
    // The file really is in WAL mode, with the engine's id and version.
    ck_assert_int_eq(sql_int(s, "PRAGMA application_id"), RAG_STORE_APP_ID);
    ck_assert_int_eq(sql_int(s, "PRAGMA user_version"), RAG_STORE_VERSION);
    ck_assert_int_eq(sql_int(s, "PRAGMA foreign_keys"), 1);
    ck_assert_int_eq(sql_int(s, "PRAGMA synchronous"), 1); // NORMAL
    rag_store_close(s);
    rag_store_close(NULL);
    s = open_ok(path, RAG_STORE_DURABLE);
    ck_assert_int_eq(sql_int(s, "PRAGMA synchronous"), 2); // FULL
    rag_store_close(s);
    free(g);
}
END_TEST

START_TEST(test_store_update_replaces)
{
    RagStore *s = open_ok(test_tmp_path("up.db"), RAG_STORE_CREATE);
    GenDoc a, b, other;
    gen_doc(&a, 7, 1);
    gen_doc(&b, 7, 2);
    gen_doc(&other, 8, 1);
    int64_t ida[MAX_CHUNKS], idb[MAX_CHUNKS], idc[MAX_CHUNKS];
    put_ok(s, &a.put, RAG_STORE_ADDED, ida);
    put_ok(s, &other.put, RAG_STORE_ADDED, NULL);
    // A second embedder on the first version: the replace must remove it too.
    float v2[MAX_CHUNKS * 3];
    for (int i = 0; i < MAX_CHUNKS * 3; i++) v2[i] = (float)i;
    ck_assert_int_eq(rag_store_put_vectors(s, a.id, "second", v2, a.put.n_chunks, 3), ERR_OK);
    test_expect_err(rag_store_put_vectors(s, a.id, "second", v2, a.put.n_chunks + 1, 3), ERR_SHAPE,
                    (const char *[]){a.id, NULL});
    test_expect_err(rag_store_put_vectors(s, "ghost", "second", v2, 1, 3), ERR_NOTFOUND,
                    (const char *[]){"ghost", NULL});
    int64_t n2;
    ck_assert_int_eq(rag_store_embedder_info(s, "second", NULL, &n2), ERR_OK);
    ck_assert_int_eq(n2, a.put.n_chunks);

    put_ok(s, &b.put, RAG_STORE_REPLACED, idb);
    RagStoreDoc d;
    char why[256];
    ck_assert_int_eq(rag_store_get_doc(s, a.id, &d), ERR_OK);
    ck_assert_msg(doc_matches(&d, &b.put, why, sizeof why), "%s", why);
    rag_store_doc_deinit(&d);
    // New chunk ids, above every old one (ids are never reused); no row of the old version.
    for (int64_t k = 0; k < b.put.n_chunks; k++) ck_assert_int_gt(idb[k], ida[a.put.n_chunks - 1]);
    ck_assert_int_eq(rag_store_embedder_info(s, "second", NULL, &n2), ERR_OK);
    ck_assert_int_eq(n2, 0);
    RagStoreCounts c;
    ck_assert_int_eq(rag_store_count(s, &c), ERR_OK);
    ck_assert_int_eq(c.n_chunks, b.put.n_chunks + other.put.n_chunks);
    ck_assert_int_eq(c.n_vectors, b.put.n_chunks + other.put.n_chunks);
    ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM doc_meta"), 6);

    // Same content again: nothing written, the chunk ids are kept.
    put_ok(s, &b.put, RAG_STORE_UNCHANGED, idc);
    for (int64_t k = 0; k < b.put.n_chunks; k++) ck_assert_int_eq(idc[k], idb[k]);
    // Same content without vectors: unchanged too, and the stored vectors stay.
    RagStorePut nov = b.put;
    nov.embedder = NULL, nov.vectors = NULL;
    put_ok(s, &nov, RAG_STORE_UNCHANGED, NULL);
    // Same content, new vectors: only the vectors are rewritten, under the same chunk ids.
    b.vec[1] += 1.0f;
    put_ok(s, &b.put, RAG_STORE_VECTORS_UPDATED, idc);
    for (int64_t k = 0; k < b.put.n_chunks; k++) ck_assert_int_eq(idc[k], idb[k]);
    int64_t *vid, nv, dim;
    float *m;
    ck_assert_int_eq(rag_store_load_vectors(s, EMB, &vid, &m, &nv, &dim), ERR_OK);
    int64_t row = row_of(vid, nv, idb[0]);
    ck_assert_int_ge(row, 0);
    ck_assert(memcmp(m + row * DIM, b.vec, DIM * sizeof(float)) == 0);
    free(vid), free(m);
    // The content hash ignores the metadata order but not a metadata value.
    RagStorePut swapped = b.put;
    const char *k2[3] = {b.keys[2], b.keys[0], b.keys[1]};
    const char *v3[3] = {b.vals[2], b.vals[0], b.vals[1]};
    swapped.meta_keys = k2, swapped.meta_values = v3;
    ck_assert(rag_store_content_hash(&swapped) == rag_store_content_hash(&b.put));
    v3[0] = "other";
    ck_assert(rag_store_content_hash(&swapped) != rag_store_content_hash(&b.put));

    // Bad input is refused and changes nothing.
    RagStorePut bad = a.put;
    bad.id = "";
    test_expect_err(rag_store_put_doc(s, &bad, NULL, NULL), ERR_INVALID,
                    (const char *[]){"empty", NULL});
    bad = a.put;
    const char *dup_k[2] = {"k", "k"}, *dup_v[2] = {"1", "2"};
    bad.meta_keys = dup_k, bad.meta_values = dup_v, bad.n_meta = 2;
    test_expect_err(rag_store_put_doc(s, &bad, NULL, NULL), ERR_INVALID,
                    (const char *[]){"'k'", a.id, NULL});
    bad = a.put;
    bad.dim = DIM / 2;
    test_expect_err(rag_store_put_doc(s, &bad, NULL, NULL), ERR_SHAPE,
                    (const char *[]){EMB, "dim", NULL});
    ck_assert_int_eq(rag_store_get_doc(s, a.id, &d), ERR_OK);
    ck_assert_msg(doc_matches(&d, &b.put, why, sizeof why), "%s", why);
    rag_store_doc_deinit(&d);
    ck_assert_int_eq(rag_store_verify(s), ERR_OK);
    rag_store_close(s);
}
END_TEST

// A replace that fails half-way (a trigger aborts the third chunk insert, after the old rows
// were deleted) must leave the old version exactly, alone and inside a batch.
START_TEST(test_store_update_is_atomic)
{
    RagStore *s = open_ok(test_tmp_path("atomic.db"), RAG_STORE_CREATE);
    GenDoc a, b, other;
    gen_doc(&a, 11, 1);
    gen_doc(&b, 11, 2);
    b.put.n_chunks = 4; // at least three chunks, so the third insert can fail
    for (int64_t k = 0; k < 4; k++) b.start[k] = k * b.len / 4, b.end[k] = (k + 1) * b.len / 4;
    gen_doc(&other, 12, 1);
    put_ok(s, &a.put, RAG_STORE_ADDED, NULL);
    sql_exec(s, "CREATE TRIGGER fail_third BEFORE INSERT ON chunks WHEN NEW.ordinal = 2 "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    RagStoreCounts before, after;
    ck_assert_int_eq(rag_store_count(s, &before), ERR_OK);
    test_expect_err(rag_store_put_doc(s, &b.put, NULL, NULL), ERR_FORMAT,
                    (const char *[]){"injected failure", "atomic.db", a.id, NULL});
    RagStoreDoc d;
    char why[256];
    ck_assert_int_eq(rag_store_get_doc(s, a.id, &d), ERR_OK);
    ck_assert_msg(doc_matches(&d, &a.put, why, sizeof why), "%s", why);
    rag_store_doc_deinit(&d);
    ck_assert_int_eq(rag_store_count(s, &after), ERR_OK);
    ck_assert_int_eq(after.n_chunks, before.n_chunks);
    ck_assert_int_eq(after.n_vectors, before.n_vectors);

    // In a batch: the failed put is undone alone; the put before it commits with the batch.
    ck_assert_int_eq(rag_store_begin(s), ERR_OK);
    put_ok(s, &other.put, RAG_STORE_ADDED, NULL);
    ck_assert_int_lt(rag_store_put_doc(s, &b.put, NULL, NULL), 0);
    ck_assert_int_eq(rag_store_commit(s), ERR_OK);
    ck_assert_int_eq(rag_store_get_doc(s, other.id, &d), ERR_OK);
    rag_store_doc_deinit(&d);
    ck_assert_int_eq(rag_store_get_doc(s, a.id, &d), ERR_OK);
    ck_assert_msg(doc_matches(&d, &a.put, why, sizeof why), "%s", why);
    rag_store_doc_deinit(&d);
    sql_exec(s, "DROP TRIGGER fail_third");
    put_ok(s, &b.put, RAG_STORE_REPLACED, NULL);
    ck_assert_int_eq(rag_store_verify(s), ERR_OK);
    rag_store_close(s);
}
END_TEST

START_TEST(test_store_delete_cascades)
{
    RagStore *s = open_ok(test_tmp_path("del.db"), RAG_STORE_CREATE);
    GenDoc a, b;
    gen_doc(&a, 21, 1);
    gen_doc(&b, 22, 1);
    int64_t ida[MAX_CHUNKS];
    put_ok(s, &a.put, RAG_STORE_ADDED, ida);
    put_ok(s, &b.put, RAG_STORE_ADDED, NULL);
    float v2[MAX_CHUNKS * 2] = {0};
    ck_assert_int_eq(rag_store_put_vectors(s, a.id, "second", v2, a.put.n_chunks, 2), ERR_OK);
    ck_assert_int_eq(rag_store_delete_doc(s, a.id), ERR_OK);
    test_expect_err(rag_store_delete_doc(s, a.id), ERR_NOTFOUND, (const char *[]){a.id, NULL});
    RagStoreDoc d;
    test_expect_err(rag_store_get_doc(s, a.id, &d), ERR_NOTFOUND, (const char *[]){a.id, NULL});
    // No row of the deleted document is left in any table (raw SQL, not the API).
    ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM docs"), 1);
    ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM doc_meta"), 3);
    ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM chunks"), b.put.n_chunks);
    ck_assert_int_eq(sql_int(s, "SELECT count(*) FROM vectors"), b.put.n_chunks);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM vectors WHERE chunk_id = %lld",
             (long long)ida[0]);
    ck_assert_int_eq(sql_int(s, sql), 0);
    char why[256];
    ck_assert_int_eq(rag_store_get_doc(s, b.id, &d), ERR_OK);
    ck_assert_msg(doc_matches(&d, &b.put, why, sizeof why), "%s", why);
    rag_store_doc_deinit(&d);
    // A deleted document's chunk ids are not handed out again.
    int64_t idn[MAX_CHUNKS];
    put_ok(s, &a.put, RAG_STORE_ADDED, idn);
    for (int64_t k = 0; k < a.put.n_chunks; k++) ck_assert_int_gt(idn[k], ida[a.put.n_chunks - 1]);
    ck_assert_int_eq(rag_store_verify(s), ERR_OK);
    rag_store_close(s);
}
END_TEST

START_TEST(test_store_batch_commit_rollback)
{
    const char *path = test_tmp_path("batch.db");
    RagStore *s = open_ok(path, RAG_STORE_CREATE);
    GenDoc g;
    ck_assert_int_eq(rag_store_begin(s), ERR_OK);
    for (int i = 0; i < 5; i++) gen_doc(&g, i, 1), put_ok(s, &g.put, RAG_STORE_ADDED, NULL);
    RagStoreCounts c;
    ck_assert_int_eq(rag_store_count(s, &c), ERR_OK); // the batch sees its own writes
    ck_assert_int_eq(c.n_docs, 5);
    ck_assert_int_eq(rag_store_rollback(s), ERR_OK);
    ck_assert_int_eq(rag_store_count(s, &c), ERR_OK);
    ck_assert_int_eq(c.n_docs, 0);
    ck_assert_int_eq(c.n_chunks, 0);
    ck_assert_int_eq(rag_store_begin(s), ERR_OK);
    for (int i = 0; i < 5; i++) gen_doc(&g, i, 1), put_ok(s, &g.put, RAG_STORE_ADDED, NULL);
    ck_assert_int_eq(rag_store_delete_doc(s, "doc-000002"), ERR_OK);
    ck_assert_int_eq(rag_store_commit(s), ERR_OK);
    // An open batch is rolled back by close.
    ck_assert_int_eq(rag_store_begin(s), ERR_OK);
    gen_doc(&g, 99, 1);
    put_ok(s, &g.put, RAG_STORE_ADDED, NULL);
    rag_store_close(s);
    s = open_ok(path, 0);
    ck_assert_int_eq(rag_store_count(s, &c), ERR_OK);
    ck_assert_int_eq(c.n_docs, 4);
    RagStoreDoc d;
    ck_assert_int_eq(rag_store_get_doc(s, "doc-000002", &d), ERR_NOTFOUND);
    ck_assert_int_eq(rag_store_get_doc(s, "doc-000099", &d), ERR_NOTFOUND);
    rag_store_close(s);
}
END_TEST

// ---------------------------------------------------------------------------
// Refused files and environment errors
// ---------------------------------------------------------------------------

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = xmalloc((size_t)len + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return b;
}

START_TEST(test_store_refuses_foreign_files)
{
    RagStore *s = NULL;
    // Not SQLite at all.
    const char *txt = test_write_file("notes.txt",
                                      "hello, this is not a database at all; "
                                      "just some text long enough to fill a header.....\n",
                                      88);
    test_expect_err(rag_store_open(txt, RAG_STORE_CREATE, &s), ERR_FORMAT,
                    (const char *[]){"notes.txt", "not an engine store", "hint", NULL});
    ck_assert_ptr_null(s);

    // Another program's SQLite file: refused, and left byte for byte as it was.
    char other[512];
    snprintf(other, sizeof other, "%s", test_tmp_path("other.db"));
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(other, &db), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    size_t n0, n1;
    unsigned char *b0 = slurp(other, &n0);
    test_expect_err(rag_store_open(other, RAG_STORE_CREATE, &s), ERR_FORMAT,
                    (const char *[]){"other.db", "not an engine store", "application_id", NULL});
    unsigned char *b1 = slurp(other, &n1);
    ck_assert(n0 == n1 && memcmp(b0, b1, n0) == 0);
    free(b0), free(b1);

    // A newer schema.
    const char *newer = test_tmp_path("newer.db");
    s = open_ok(newer, RAG_STORE_CREATE);
    sql_exec(s, "PRAGMA user_version = 99");
    rag_store_close(s);
    test_expect_err(rag_store_open(newer, 0, &s), ERR_FORMAT,
                    (const char *[]){"newer.db", "99", "newer", NULL});

    // A missing file without RAG_STORE_CREATE.
    test_expect_err(rag_store_open(test_tmp_path("absent.db"), 0, &s), ERR_IO,
                    (const char *[]){"absent.db", "open", "hint", NULL});
    // A file damaged in the middle of its header page.
    const char *dam = test_tmp_path("damaged.db");
    s = open_ok(dam, RAG_STORE_CREATE);
    rag_store_close(s);
    size_t nd;
    unsigned char *bd = slurp(dam, &nd);
    memcpy(bd, "SQLite format 2\0", 16);
    test_write_file("damaged.db", bd, nd);
    free(bd);
    test_expect_err(rag_store_open(dam, 0, &s), ERR_FORMAT,
                    (const char *[]){"damaged.db", "hint", NULL});
}
END_TEST

START_TEST(test_store_readonly_and_lock)
{
    const char *path = test_tmp_path("lock.db");
    RagStore *a = open_ok(path, RAG_STORE_CREATE);
    GenDoc g;
    gen_doc(&g, 1, 1);
    put_ok(a, &g.put, RAG_STORE_ADDED, NULL);

    RagStore *ro = open_ok(path, RAG_STORE_READONLY);
    RagStoreDoc d;
    ck_assert_int_eq(rag_store_get_doc(ro, g.id, &d), ERR_OK);
    rag_store_doc_deinit(&d);
    gen_doc(&g, 2, 1);
    test_expect_err(rag_store_put_doc(ro, &g.put, NULL, NULL), ERR_IO,
                    (const char *[]){"lock.db", "readonly", "RAG_STORE_READONLY", NULL});

    // A second writer while the first holds a batch: the write lock error, with its hint.
    RagStore *b = open_ok(path, 0);
    rag_store_set_busy_timeout(b, 50);
    ck_assert_int_eq(rag_store_begin(a), ERR_OK);
    test_expect_err(rag_store_put_doc(b, &g.put, NULL, NULL), ERR_IO,
                    (const char *[]){"lock.db", "locked", "write lock", NULL});
    test_expect_err(rag_store_begin(b), ERR_IO, (const char *[]){"write lock", NULL});
    // Readers are not blocked by the writer (WAL), and see the last commit only.
    RagStoreCounts c;
    put_ok(a, &g.put, RAG_STORE_ADDED, NULL);
    ck_assert_int_eq(rag_store_count(ro, &c), ERR_OK);
    ck_assert_int_eq(c.n_docs, 1);
    ck_assert_int_eq(rag_store_commit(a), ERR_OK);
    ck_assert_int_eq(rag_store_count(ro, &c), ERR_OK);
    ck_assert_int_eq(c.n_docs, 2);
    gen_doc(&g, 3, 1);
    put_ok(b, &g.put, RAG_STORE_ADDED, NULL); // the lock is free again
    rag_store_close(b);
    rag_store_close(ro);
    rag_store_close(a);
}
END_TEST

// ---------------------------------------------------------------------------
// Crash tests
// ---------------------------------------------------------------------------

// The ingest is a fixed sequence of operations; op j (global index) is:
//     j % 8 in 0..4   put doc j, version 1          (added)
//     j % 8 == 5      put doc j-3, version 2        (replaced)
//     j % 8 == 6      put doc j-4, version 2 again  (unchanged)
//     j % 8 == 7      delete doc j-5
// so the expected store after the first m ops is a function of m alone.
#define MAX_OPS 400000

static void model_apply(signed char *ver, int64_t j)
{
    switch (j % 8) {
    case 5: ver[j - 3] = 2; break;
    case 6: ver[j - 4] = 2; break;
    case 7: ver[j - 5] = 0; break;
    default: ver[j] = 1; break;
    }
}

// Runs op j on the store (child side; no Check calls). Returns ERR_OK or an error.
static int op_run(RagStore *s, int64_t j)
{
    GenDoc g;
    RagStoreStatus st;
    int rc;
    switch (j % 8) {
    case 5:
        gen_doc(&g, j - 3, 2);
        rc = rag_store_put_doc(s, &g.put, &st, NULL);
        return rc ? rc : st == RAG_STORE_REPLACED ? ERR_OK : ERR_INVALID;
    case 6:
        gen_doc(&g, j - 4, 2);
        rc = rag_store_put_doc(s, &g.put, &st, NULL);
        return rc ? rc : st == RAG_STORE_UNCHANGED ? ERR_OK : ERR_INVALID;
    case 7: gen_doc(&g, j - 5, 1); return rag_store_delete_doc(s, g.id);
    default:
        gen_doc(&g, j, 1);
        rc = rag_store_put_doc(s, &g.put, &st, NULL);
        return rc ? rc : st == RAG_STORE_ADDED ? ERR_OK : ERR_INVALID;
    }
}

typedef struct {
    int64_t ops;      // operations committed so far
    int64_t wal_size; // size of <path>-wal right after that commit
} Report;

static off_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : 0;
}

// The child: ingests from op `from` in commits of `batch` ops, reporting each commit, until
// killed. Never returns.
static void __attribute__((noreturn))
child_ingest(const char *path, int64_t from, int batch, int flags, int no_ckpt, int fd)
{
    RagStore *s;
    if (rag_store_open(path, flags, &s) != ERR_OK) _exit(3);
    // The torn test keeps every frame in the WAL (no checkpoint), so the bytes after the last
    // reported size are exactly what was written since; the others checkpoint every 16 pages
    // (the default is 1000), so kills also land inside checkpoints.
    const char *ckpt = no_ckpt ? "PRAGMA wal_autocheckpoint = 0" : "PRAGMA wal_autocheckpoint = 16";
    if (sqlite3_exec(rag_store_sqlite(s), ckpt, NULL, NULL, NULL) != SQLITE_OK) _exit(3);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", path);
    for (int64_t j = from; j + batch <= MAX_OPS; j += batch) {
        if (batch > 1 && rag_store_begin(s) != ERR_OK) _exit(4);
        for (int64_t k = j; k < j + batch; k++)
            if (op_run(s, k) != ERR_OK) {
                fprintf(stderr, "child: op %lld: %s\n", (long long)k, err_msg());
                _exit(5);
            }
        if (batch > 1 && rag_store_commit(s) != ERR_OK) _exit(6);
        Report r = {j + batch, file_size(wal)};
        if (write(fd, &r, sizeof r) != (ssize_t)sizeof r) _exit(7);
    }
    _exit(0);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Reads reports from fd until `deadline` (ms; <0: until EOF), or with `first` until one has
// come. Keeps the last one in *last.
static void read_reports(int fd, double deadline, Report *last, int64_t *n_reports, int first)
{
    static char buf[sizeof(Report) * 256];
    static size_t have;
    for (;;) {
        if (first && *n_reports > 0) return;
        int timeout = -1;
        if (deadline >= 0) {
            double left = deadline - now_ms();
            if (left <= 0) return;
            timeout = (int)left + 1;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, timeout);
        if (pr < 0 && errno == EINTR) continue;
        ck_assert_int_ge(pr, 0);
        if (pr == 0) continue;
        ssize_t got = read(fd, buf + have, sizeof buf - have);
        if (got < 0 && errno == EINTR) continue;
        ck_assert_int_ge(got, 0);
        if (got == 0) {
            have = 0;
            return; // EOF: the child is gone
        }
        have += (size_t)got;
        size_t whole = have / sizeof(Report);
        if (whole) {
            memcpy(last, buf + (whole - 1) * sizeof(Report), sizeof(Report));
            *n_reports += (int64_t)whole;
            memmove(buf, buf + whole * sizeof(Report), have - whole * sizeof(Report));
            have -= whole * sizeof(Report);
        }
    }
}

// Checks the store at `path` against the model: integrity, every document whole and exactly
// as generated, and the set of (document, version) equal to the state after `m` ops or after
// `m + batch` ops (the commit in flight at the kill). `ver` is the state after `from` <= m ops.
// Returns the number of ops the store holds.
static int64_t check_state(const char *path, const signed char *ver, int64_t from, int64_t m,
                           int batch)
{
    RagStore *s = open_ok(path, 0);
    ck_assert_msg(integrity_ok(s), "%s: integrity_check is not ok", path);
    ck_assert_msg(rag_store_verify(s) == ERR_OK, "%s", err_msg());

    int64_t *vid, nv, dim;
    float *mat;
    // The embedder exists once the first document is in (a kill may come before that).
    int rc = rag_store_load_vectors(s, EMB, &vid, &mat, &nv, &dim);
    ck_assert_msg(rc == ERR_OK || rc == ERR_NOTFOUND, "%s", err_msg());
    signed char *have = xcalloc((size_t)MAX_OPS, 1);
    int64_t cur = 0, n_chunks = 0, hi = -1;
    int r;
    RagStoreDoc d;
    char why[256];
    while ((r = rag_store_next_doc(s, &cur, &d)) == 1) {
        long long doc;
        ck_assert_int_eq(sscanf(d.id, "doc-%lld", &doc), 1);
        ck_assert(doc >= 0 && doc < MAX_OPS);
        const char *v = meta_get(&d, "version");
        ck_assert_ptr_nonnull(v);
        GenDoc g;
        gen_doc(&g, doc, atoi(v));
        ck_assert_msg(doc_matches(&d, &g.put, why, sizeof why), "%s: partial or wrong: %s", path,
                      why);
        for (int64_t k = 0; k < d.n_chunks; k++) {
            int64_t row = row_of(vid, nv, d.chunk_id[k]);
            ck_assert_msg(row >= 0, "%s: chunk %lld has no vector", d.id, (long long)k);
            ck_assert(memcmp(mat + row * DIM, g.vec + k * DIM, DIM * sizeof(float)) == 0);
        }
        n_chunks += d.n_chunks;
        have[doc] = (signed char)atoi(v);
        if (doc > hi) hi = doc;
        rag_store_doc_deinit(&d);
    }
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(nv, n_chunks); // no vector without its chunk
    RagStoreCounts c;
    ck_assert_int_eq(rag_store_count(s, &c), ERR_OK);
    ck_assert_int_eq(c.n_chunks, n_chunks);
    free(vid), free(mat);
    rag_store_close(s);

    // Compare with the model after m ops, then after the in-flight commit.
    signed char *want = xmalloc((size_t)MAX_OPS);
    memcpy(want, ver, (size_t)MAX_OPS);
    for (int64_t j = from; j < m; j++) model_apply(want, j);
    int64_t held = -1;
    for (int step = 0; step < 2 && held < 0; step++) {
        if (step == 1)
            for (int64_t j = m; j < m + batch && j < MAX_OPS; j++) model_apply(want, j);
        int64_t lim = m + batch + 1 < MAX_OPS ? m + batch + 1 : MAX_OPS;
        if (hi < lim && memcmp(want, have, (size_t)lim) == 0) held = step ? m + batch : m;
    }
    ck_assert_msg(held >= 0,
                  "%s: the store is neither the state after the %lld reported ops "
                  "nor the one after the next commit (highest doc %lld)",
                  path, (long long)m, (long long)hi);
    free(want);
    free(have);
    return held;
}

static void copy_file(const char *from, const char *to)
{
    size_t n = 0;
    unsigned char *b = NULL;
    if (access(from, F_OK) == 0) b = slurp(from, &n);
    FILE *fp = fopen(to, "wb");
    ck_assert_ptr_nonnull(fp);
    if (n) ck_assert_uint_eq(fwrite(b, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
    free(b);
}

// Tears a WAL copy: everything before `keep` stays (it was synced), the rest is cut at a
// random byte and garbage follows, as a write interrupted by a power cut can leave it.
static void tear_wal(const char *wal, off_t keep, Rng *rng)
{
    off_t size = file_size(wal);
    if (size <= keep) return;
    off_t cut = keep + (off_t)rng_below(rng, (uint32_t)(size - keep + 1));
    ck_assert_int_eq(truncate(wal, cut), 0);
    FILE *fp = fopen(wal, "ab");
    ck_assert_ptr_nonnull(fp);
    uint32_t junk = rng_below(rng, 3) ? rng_below(rng, 9000) : 0;
    for (uint32_t i = 0; i < junk; i++) fputc((int)rng_below(rng, 256), fp);
    ck_assert_int_eq(fclose(fp), 0);
}

// Rounds of ingest-and-kill on one file. `torn`: also snapshot and tear a copy each round.
static void crash_rounds(const char *name, int batch, int rounds, int torn, uint64_t seed)
{
    char path[512], copy[540], wal[560], copy_wal[580];
    snprintf(path, sizeof path, "%s", test_tmp_path(name));
    snprintf(copy, sizeof copy, "%s.copy", path);
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(copy_wal, sizeof copy_wal, "%s-wal", copy);
    rag_store_close(open_ok(path, RAG_STORE_CREATE));
    signed char *ver = xcalloc((size_t)MAX_OPS, 1);
    Rng rng;
    rng_init(&rng, seed);
    int64_t ops = 0, total_reports = 0;
    for (int round = 0; round < rounds; round++) {
        int flags = torn || (round & 1) ? RAG_STORE_DURABLE : 0;
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        fflush(NULL);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            child_ingest(path, ops, batch, flags, torn, fds[1]);
        }
        close(fds[1]);
        Report last = {ops, 0};
        int64_t n_reports = 0;
        // The delay runs from the fork on even rounds (the kill may come before any commit)
        // and from the first commit on odd ones, so a slow machine (valgrind, a loaded CI)
        // still kills children in the middle of their ingest.
        double delay = 20 + rng_below(&rng, 180); // ms
        if (round & 1) read_reports(fds[0], now_ms() + 30000, &last, &n_reports, 1);
        read_reports(fds[0], now_ms() + delay, &last, &n_reports, 0);
        int status;
        if (torn) {
            // Freeze the child wherever it is, copy the files as the OS holds them right now.
            ck_assert_int_eq(kill(pid, SIGSTOP), 0);
            ck_assert_int_eq(waitpid(pid, &status, WUNTRACED), pid);
            ck_assert_msg(WIFSTOPPED(status), "child ended early (status %d)", status);
            copy_file(path, copy);
            copy_file(wal, copy_wal);
        }
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "child ended by itself (status %d): it failed", status);
        read_reports(fds[0], -1, &last, &n_reports, 0); // what it reported before it died
        close(fds[0]);
        total_reports += n_reports;
        int64_t m = last.ops;
        if (torn) {
            // Every commit the child reported was fsynced (synchronous=FULL) before the tear.
            tear_wal(copy_wal, (off_t)last.wal_size, &rng);
            int64_t held = check_state(copy, ver, ops, m, batch);
            ck_assert_int_ge(held, m);
            unlink(copy), unlink(copy_wal);
            char shm[600];
            snprintf(shm, sizeof shm, "%s-shm", copy);
            unlink(shm);
        }
        int64_t held = check_state(path, ver, ops, m, batch);
        for (int64_t j = ops; j < held; j++) model_apply(ver, j);
        ops = held;
    }
    // The ingest goes on after the crashes, and the rounds did commit something.
    ck_assert_msg(total_reports > 0, "no commit was reported in %d rounds", rounds);
    RagStore *s = open_ok(path, 0);
    for (int64_t j = ops; j < ops + 8; j++) ck_assert_int_eq(op_run(s, j), ERR_OK);
    rag_store_close(s);
    for (int64_t j = ops; j < ops + 8; j++) model_apply(ver, j);
    ck_assert_int_eq(check_state(path, ver, ops + 8, ops + 8, 1), ops + 8);
    free(ver);
}

START_TEST(test_store_crash_per_doc)
{
    crash_rounds("crash1.db", 1, 10, 0, 1001);
}
END_TEST

START_TEST(test_store_crash_batches)
{
    crash_rounds("crash7.db", 7, 10, 0, 2002);
}
END_TEST

START_TEST(test_store_crash_torn_wal)
{
    crash_rounds("torn.db", 3, 8, 1, 3003);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_store_round_trip);
    tcase_add_test(tc, test_store_update_replaces);
    tcase_add_test(tc, test_store_update_is_atomic);
    tcase_add_test(tc, test_store_delete_cascades);
    tcase_add_test(tc, test_store_batch_commit_rollback);
    tcase_add_test(tc, test_store_refuses_foreign_files);
    tcase_add_test(tc, test_store_readonly_and_lock);
    suite_add_tcase(s, tc);
    TCase *crash = tcase_create("crash");
    tcase_set_timeout(crash, 120);
    tcase_add_test(crash, test_store_crash_per_doc);
    tcase_add_test(crash, test_store_crash_batches);
    tcase_add_test(crash, test_store_crash_torn_wal);
    suite_add_tcase(s, crash);
    return s;
}

int main(void)
{
    return test_main(store_suite());
}
