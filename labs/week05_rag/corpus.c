/*
 * corpus.c: the week-5 corpus: PDFs made from man pages, ingestion into the SQLite store,
 * and the retriever rebuilt from the store.
 */
#include "lab.h"

#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int lab_make_pdfs(const char *dir, int max_pages)
{
    // Man pages every Debian system with groff has; the first max_pages that exist are used.
    static const char *pages[] = {"groff", "tar", "gzip", "grep", "sed", "find", "make"};
    int made = 0;
    for (size_t i = 0; i < sizeof pages / sizeof *pages && made < max_pages; i++) {
        char src[256], cmd[1024];
        snprintf(src, sizeof src, "/usr/share/man/man1/%s.1.gz", pages[i]);
        if (access(src, R_OK) != 0) continue;
        snprintf(cmd, sizeof cmd, "zcat %s | groff -man -Tpdf > %s/%s.pdf 2>/dev/null", src, dir,
                 pages[i]);
        if (system(cmd) == 0) made++;
    }
    // A broken PDF: ingestion reports it and goes on with the others.
    char bad[1024];
    snprintf(bad, sizeof bad, "%s/broken.pdf", dir);
    FILE *f = fopen(bad, "wb");
    if (f) {
        fputs("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%% truncated here\n", f);
        fclose(f);
    }
    return made;
}

int lab_store_ingest(const RagDocs *docs, const RagChunkOpts *chunk, const RagEmbedder *emb,
                     const char *db_path)
{
    RagStore *s;
    int rc = rag_store_open(db_path, RAG_STORE_CREATE, &s);
    if (rc != ERR_OK) return rc;
    double t0 = now();
    int64_t n_chunks = 0, unchanged = 0;
    rc = rag_store_begin(s);
    for (int64_t i = 0; i < docs->n && rc == ERR_OK; i++) {
        const RagDoc *d = &docs->docs[i];
        RagChunks c;
        rc = rag_chunk(d->text, d->len, chunk, &c);
        if (rc != ERR_OK) break;
        int64_t *start = malloc((size_t)(c.n + 1) * sizeof *start);
        int64_t *end = malloc((size_t)(c.n + 1) * sizeof *end);
        float *vec = malloc((size_t)(c.n + 1) * (size_t)emb->dim * sizeof *vec);
        const char **keys = malloc((size_t)(d->n_meta + 1) * sizeof *keys);
        const char **vals = malloc((size_t)(d->n_meta + 1) * sizeof *vals);
        CHECK(start && end && vec && keys && vals, "lab_store_ingest: out of memory");
        for (int64_t k = 0; k < c.n; k++) {
            start[k] = c.chunks[k].start, end[k] = c.chunks[k].end;
            rag_embed(emb, d->text + start[k], end[k] - start[k], vec + k * emb->dim);
        }
        for (int64_t k = 0; k < d->n_meta; k++) keys[k] = d->meta[k].key, vals[k] = d->meta[k].value;
        RagStorePut put = {.id = d->id, .source = d->source, .title = d->title,
                           .kind = rag_doc_kind_name(d->kind), .meta_keys = keys,
                           .meta_values = vals, .n_meta = d->n_meta, .text = d->text,
                           .text_len = d->len, .chunk_start = start, .chunk_end = end,
                           .n_chunks = c.n, .embedder = rag_embedder_name(emb),
                           .vectors = vec, .dim = emb->dim};
        RagStoreStatus st;
        rc = rag_store_put_doc(s, &put, &st, NULL);
        n_chunks += c.n;
        unchanged += st == RAG_STORE_UNCHANGED;
        free(start), free(end), free(vec), free(keys), free(vals);
        rag_chunks_free(&c);
    }
    if (rc == ERR_OK) rc = rag_store_commit(s);
    else rag_store_rollback(s);
    RagStoreCounts cnt = {0};
    if (rc == ERR_OK) rc = rag_store_count(s, &cnt);
    if (rc == ERR_OK) {
        struct stat sb;
        long long bytes = stat(db_path, &sb) == 0 ? (long long)sb.st_size : -1;
        printf("store %s: %lld documents, %lld chunks, %lld vectors (%s, %lld unchanged since "
               "the last run) in %.1f s; %.1f MB\n", db_path, (long long)cnt.n_docs,
               (long long)cnt.n_chunks, (long long)cnt.n_vectors, rag_embedder_name(emb),
               (long long)unchanged, now() - t0, (double)bytes / 1e6);
    }
    rag_store_close(s);
    return rc;
}

// Row of chunk id `id` in the ascending array ids[0..n), or -1.
static int64_t find_row(const int64_t *ids, int64_t n, int64_t id)
{
    int64_t lo = 0, hi = n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ids[mid] == id) return mid;
        if (ids[mid] < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int lab_store_load(const char *db_path, const RagRetrieverConfig *cfg, const RagEmbedder *emb,
                   const NnW2v *w2v, RagRetriever **out)
{
    RagStore *s;
    int rc = rag_store_open(db_path, RAG_STORE_READONLY, &s);
    if (rc != ERR_OK) return rc;
    double t0 = now();
    int64_t *ids = NULL, n = 0, dim = 0;
    float *vecs = NULL;
    rc = rag_store_load_vectors(s, rag_embedder_name(emb), &ids, &vecs, &n, &dim);
    if (rc == ERR_OK && dim != emb->dim)
        rc = err_set(ERR_SHAPE, "lab: store %s holds %lld-d vectors, the embedder makes %lld; "
                     "hint: delete the store to re-ingest", db_path, (long long)dim,
                     (long long)emb->dim);
    if (rc == ERR_OK) rc = rag_retriever_create(cfg, emb, w2v, out);
    RagStoreDoc d;
    int64_t cursor = 0;
    float *rows = NULL;
    while (rc == ERR_OK && (rc = rag_store_next_doc(s, &cursor, &d)) == 1) {
        rows = realloc(rows, (size_t)(d.n_chunks + 1) * (size_t)dim * sizeof *rows);
        CHECK(rows, "lab_store_load: out of memory");
        for (int64_t k = 0; k < d.n_chunks; k++) {
            int64_t r = find_row(ids, n, d.chunk_id[k]);
            CHECK(r >= 0, "lab_store_load: chunk %lld has no vector (rag_store_verify would "
                  "report it)", (long long)d.chunk_id[k]);
            memcpy(rows + k * dim, vecs + r * dim, (size_t)dim * sizeof *rows);
        }
        int64_t id = rag_retriever_add_chunks(*out, d.id, d.title, d.source, d.kind, d.text,
                                              d.text_len, d.chunk_start, d.chunk_end,
                                              d.n_chunks, rows);
        rc = id < 0 ? (int)id : ERR_OK;
        rag_store_doc_deinit(&d);
    }
    if (rc == 0) rc = ERR_OK; // next_doc's "no more documents"
    free(rows), free(ids), free(vecs);
    rag_store_close(s);
    if (rc != ERR_OK) {
        rag_retriever_free(*out);
        *out = NULL;
        return rc;
    }
    fprintf(stderr, "retriever rebuilt from the store: %lld documents, %lld chunks in %.2f s (no "
           "re-embedding)\n", (long long)rag_retriever_n_docs(*out),
           (long long)rag_retriever_n_chunks(*out), now() - t0);
    return ERR_OK;
}
