/*
 * retriever.c: chunks, the BM25 and dense indexes, fusion and reranking behind one search
 * call (see retriever.h).
 *
 * Dimensions: n = chunks, d = embedding size, K = candidates per first-stage list.
 */
#include "rag/retriever.h"

#include "core/err.h"
#include "rag/flat.h"
#include "rag/fusion.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *name, *title, *source, *kind;
    char *text; // owned copy, NUL-terminated
    int64_t len;
    int64_t first_chunk, n_chunks;
} Doc;

typedef struct {
    int64_t doc, ordinal, start, end;
} Chunk;

struct RagRetriever {
    RagRetrieverConfig cfg;
    const RagEmbedder *emb; // borrowed
    const NnW2v *w2v;       // borrowed, may be NULL
    RagEmbedder words;      // W2V embedder over w2v for the reranker (kind unused when NULL)
    int64_t dim;            // d
    Doc *docs;
    int64_t n_docs, docs_cap;
    Chunk *chunks;
    int64_t n_chunks, chunks_cap;
    float *vecs; // (n, d) the chunk embeddings
    int64_t vecs_cap;
    RagBm25 *bm25;
    RagFlat *flat; // exactly one of flat / hnsw
    RagHnsw *hnsw;
    bool has_model;
    RagRerankModel model;
    double secs[4];
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *dup_or_empty(const char *s)
{
    char *d = strdup(s ? s : "");
    CHECK(d, "rag_retriever: out of memory");
    return d;
}

static void *grow(void *p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap) return p;
    int64_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    p = realloc(p, (size_t)c * elem);
    CHECK(p, "rag_retriever: out of memory (%lld elements)", (long long)c);
    *cap = c;
    return p;
}

RagRetrieverConfig rag_retriever_defaults(void)
{
    RagRetrieverConfig c = {0};
    c.chunk = (RagChunkOpts){.kind = RAG_CHUNK_RECURSIVE, .size = 800, .overlap = 100};
    c.bm25 = rag_bm25_default_config();
    c.bm25.stem = true;
    c.hnsw = (RagHnswConfig){.M = 16, .ef_construction = 200, .ef_search = 64, .seed = 1};
    c.candidates = 50;
    c.sif_a = 1e-3f;
    return c;
}

const char *rag_search_mode_name(RagSearchMode m)
{
    static const char *names[RAG_SEARCH_MODE_COUNT] = {"bm25", "dense", "hybrid",
                                                       "hybrid+rerank"};
    CHECK(m >= 0 && m < RAG_SEARCH_MODE_COUNT, "rag_search_mode_name: bad mode %d", (int)m);
    return names[m];
}

int rag_retriever_create(const RagRetrieverConfig *cfg, const RagEmbedder *emb,
                         const NnW2v *w2v, RagRetriever **out)
{
    CHECK(cfg && emb && out, "rag_retriever_create: bad arguments");
    *out = NULL;
    if (cfg->candidates < 1)
        return err_set(ERR_INVALID, "rag_retriever_create: candidates = %lld; hint: use 50",
                       (long long)cfg->candidates);
    RagChunks probe;
    int rc = rag_chunk("x", 1, &cfg->chunk, &probe); // validates the chunking options
    if (rc != ERR_OK) return rc;
    rag_chunks_free(&probe);
    RagRetriever *r = calloc(1, sizeof *r);
    CHECK(r, "rag_retriever_create: out of memory");
    r->cfg = *cfg;
    r->emb = emb;
    r->w2v = w2v;
    if (w2v) r->words = rag_embedder_w2v(w2v, cfg->sif_a);
    r->dim = emb->dim;
    rc = rag_bm25_create_ex(&cfg->bm25, &r->bm25);
    if (rc != ERR_OK) {
        free(r);
        return rc;
    }
    if (cfg->use_hnsw) {
        RagHnswConfig h = cfg->hnsw;
        h.dim = r->dim;
        h.metric = RAG_METRIC_IP; // embeddings are unit rows: inner product = cosine
        r->hnsw = rag_hnsw_create(&h);
    } else {
        r->flat = rag_flat_create(r->dim, RAG_METRIC_IP);
    }
    *out = r;
    return ERR_OK;
}

void rag_retriever_free(RagRetriever *r)
{
    if (!r) return;
    for (int64_t i = 0; i < r->n_docs; i++) {
        Doc *d = &r->docs[i];
        free(d->name), free(d->title), free(d->source), free(d->kind), free(d->text);
    }
    free(r->docs);
    free(r->chunks);
    free(r->vecs);
    rag_bm25_free(r->bm25);
    rag_flat_free(r->flat);
    rag_hnsw_free(r->hnsw);
    rag_embedder_deinit(&r->words);
    free(r);
}

int64_t rag_retriever_add_chunks(RagRetriever *r, const char *name, const char *title,
                                 const char *source, const char *kind, const char *text,
                                 int64_t len, const int64_t *start, const int64_t *end,
                                 int64_t n_chunks, const float *vectors)
{
    CHECK(r && text && len >= 0 && n_chunks >= 0 && (n_chunks == 0 || (start && end)),
          "rag_retriever_add_chunks: bad arguments");
    r->docs = grow(r->docs, &r->docs_cap, r->n_docs + 1, sizeof *r->docs);
    Doc *d = &r->docs[r->n_docs];
    d->name = dup_or_empty(name), d->title = dup_or_empty(title);
    d->source = dup_or_empty(source), d->kind = dup_or_empty(kind);
    d->text = malloc((size_t)len + 1);
    CHECK(d->text, "rag_retriever_add_chunks: out of memory");
    memcpy(d->text, text, (size_t)len);
    d->text[len] = '\0';
    d->len = len;
    d->first_chunk = r->n_chunks;
    d->n_chunks = n_chunks;
    int64_t doc_id = r->n_docs++;

    r->chunks = grow(r->chunks, &r->chunks_cap, r->n_chunks + n_chunks, sizeof *r->chunks);
    int64_t rows = r->n_chunks + n_chunks;
    if (rows > r->vecs_cap) {
        int64_t cap = r->vecs_cap;
        r->vecs = grow(r->vecs, &cap, rows, (size_t)r->dim * sizeof *r->vecs);
        r->vecs_cap = cap;
    }
    for (int64_t k = 0; k < n_chunks; k++) {
        CHECK(0 <= start[k] && start[k] <= end[k] && end[k] <= len,
              "rag_retriever_add_chunks: chunk %lld [%lld, %lld) outside the text (%lld bytes)",
              (long long)k, (long long)start[k], (long long)end[k], (long long)len);
        int64_t id = r->n_chunks + k;
        r->chunks[id] = (Chunk){doc_id, k, start[k], end[k]};
        float *v = r->vecs + id * r->dim;
        if (vectors) memcpy(v, vectors + k * r->dim, (size_t)r->dim * sizeof *v);
        else rag_embed(r->emb, d->text + start[k], end[k] - start[k], v);
        // BM25 reads NUL-terminated text: cut a temporary terminator into the copy.
        char keep = d->text[end[k]];
        d->text[end[k]] = '\0';
        int rc = rag_bm25_add(r->bm25, id, d->text + start[k]);
        d->text[end[k]] = keep;
        CHECK(rc == ERR_OK, "rag_retriever_add_chunks: BM25 refused chunk %lld: %s",
              (long long)id, err_msg());
    }
    if (n_chunks > 0) {
        const float *x = r->vecs + r->n_chunks * r->dim;
        if (r->hnsw) rag_hnsw_add(r->hnsw, x, n_chunks);
        else rag_flat_add(r->flat, x, n_chunks);
    }
    r->n_chunks += n_chunks;
    return doc_id;
}

int64_t rag_retriever_add_text(RagRetriever *r, const char *name, const char *title,
                               const char *source, const char *kind, const char *text,
                               int64_t len)
{
    CHECK(r && text && len >= 0, "rag_retriever_add_text: bad arguments");
    RagChunks c;
    int rc = rag_chunk(text, len, &r->cfg.chunk, &c);
    if (rc != ERR_OK) return rc;
    int64_t *start = malloc((size_t)(c.n + 1) * sizeof *start);
    int64_t *end = malloc((size_t)(c.n + 1) * sizeof *end);
    CHECK(start && end, "rag_retriever_add_text: out of memory");
    for (int64_t k = 0; k < c.n; k++) start[k] = c.chunks[k].start, end[k] = c.chunks[k].end;
    int64_t id = rag_retriever_add_chunks(r, name, title, source, kind, text, len, start, end,
                                          c.n, NULL);
    free(start), free(end);
    rag_chunks_free(&c);
    return id;
}

int64_t rag_retriever_add_doc(RagRetriever *r, const RagDoc *d)
{
    CHECK(r && d, "rag_retriever_add_doc: bad arguments");
    return rag_retriever_add_text(r, d->id, d->title, d->source, rag_doc_kind_name(d->kind),
                                  d->text, d->len);
}

int64_t rag_retriever_n_docs(const RagRetriever *r) { return r->n_docs; }
int64_t rag_retriever_n_chunks(const RagRetriever *r) { return r->n_chunks; }

RagChunkRef rag_retriever_chunk(const RagRetriever *r, int64_t chunk)
{
    CHECK(chunk >= 0 && chunk < r->n_chunks, "rag_retriever_chunk: id %lld of %lld",
          (long long)chunk, (long long)r->n_chunks);
    const Chunk *c = &r->chunks[chunk];
    return (RagChunkRef){c->doc, c->ordinal, c->start, c->end, r->docs[c->doc].text + c->start};
}

static const Doc *doc_at(const RagRetriever *r, int64_t doc)
{
    CHECK(doc >= 0 && doc < r->n_docs, "rag_retriever: document id %lld of %lld",
          (long long)doc, (long long)r->n_docs);
    return &r->docs[doc];
}

const char *rag_retriever_doc_name(const RagRetriever *r, int64_t doc)
{
    return doc_at(r, doc)->name;
}
const char *rag_retriever_doc_title(const RagRetriever *r, int64_t doc)
{
    return doc_at(r, doc)->title;
}
const char *rag_retriever_doc_source(const RagRetriever *r, int64_t doc)
{
    return doc_at(r, doc)->source;
}
const char *rag_retriever_doc_kind(const RagRetriever *r, int64_t doc)
{
    return doc_at(r, doc)->kind;
}

const float *rag_retriever_vector(const RagRetriever *r, int64_t chunk)
{
    CHECK(chunk >= 0 && chunk < r->n_chunks, "rag_retriever_vector: id %lld", (long long)chunk);
    return r->vecs + chunk * r->dim;
}

static bool keep(const RagRetriever *r, const RagFilter *f, int64_t chunk)
{
    if (!f) return true;
    const Doc *d = &r->docs[r->chunks[chunk].doc];
    if (f->kind && strcmp(d->kind, f->kind) != 0) return false;
    if (f->source_prefix && strncmp(d->source, f->source_prefix, strlen(f->source_prefix)) != 0)
        return false;
    return true;
}

// One first-stage list: the best `want` chunks passing the filter, into out (want room).
// Without a filter that is one search; with one, the search widens (x4) until `want` chunks
// pass or every chunk has been seen.
static int64_t first_stage(RagRetriever *r, RagSearchMode m, const char *query, const float *q,
                           int64_t want, const RagFilter *f, RagHit *out)
{
    int64_t fetch = want, n_out = 0;
    for (;;) {
        if (fetch > r->n_chunks) fetch = r->n_chunks;
        RagHit *buf = malloc((size_t)(fetch + 1) * sizeof *buf);
        CHECK(buf, "rag_retriever: out of memory");
        int64_t n;
        if (m == RAG_SEARCH_BM25) {
            n = rag_bm25_search(r->bm25, query, fetch, buf);
        } else if (r->hnsw) {
            if (rag_hnsw_ef(r->hnsw) < fetch) rag_hnsw_set_ef(r->hnsw, (int)fetch);
            n = rag_hnsw_search(r->hnsw, q, fetch, buf);
            rag_hnsw_set_ef(r->hnsw, r->cfg.hnsw.ef_search ? r->cfg.hnsw.ef_search : 64);
        } else {
            n = rag_flat_search(r->flat, q, fetch, buf);
        }
        n_out = 0;
        for (int64_t i = 0; i < n && n_out < want; i++)
            if (keep(r, f, buf[i].id)) out[n_out++] = buf[i];
        free(buf);
        if (n_out >= want || fetch >= r->n_chunks || n < fetch) break;
        fetch *= 4;
    }
    return n_out;
}

static float dot(const float *a, const float *b, int64_t n)
{
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

int64_t rag_retriever_search(RagRetriever *r, RagSearchMode m, const char *query, int64_t k,
                             const RagFilter *filter, RagHit *out)
{
    CHECK(r && query && out && k >= 0, "rag_retriever_search: bad arguments");
    CHECK(m >= 0 && m < RAG_SEARCH_MODE_COUNT, "rag_retriever_search: bad mode %d", (int)m);
    if (m == RAG_SEARCH_RERANK && !r->w2v)
        return err_set(ERR_INVALID, "rag_retriever_search: reranking needs word vectors; "
                       "hint: pass an NnW2v to rag_retriever_create");
    if (k == 0 || r->n_chunks == 0) return 0;
    int64_t K = r->cfg.candidates > k ? r->cfg.candidates : k;
    float q[RAG_EMBED_MAX_DIM];
    RagHit *lex = NULL, *sem = NULL;
    int64_t n_lex = 0, n_sem = 0;
    double t = now();
    if (m != RAG_SEARCH_DENSE) {
        lex = malloc((size_t)K * sizeof *lex);
        CHECK(lex, "rag_retriever_search: out of memory");
        n_lex = first_stage(r, RAG_SEARCH_BM25, query, NULL, K, filter, lex);
    }
    double t1 = now();
    r->secs[0] += t1 - t;
    if (m != RAG_SEARCH_BM25) {
        rag_embed(r->emb, query, (int64_t)strlen(query), q);
        sem = malloc((size_t)K * sizeof *sem);
        CHECK(sem, "rag_retriever_search: out of memory");
        n_sem = first_stage(r, RAG_SEARCH_DENSE, query, q, K, filter, sem);
    }
    double t2 = now();
    r->secs[1] += t2 - t1;
    int64_t n;
    if (m == RAG_SEARCH_BM25 || m == RAG_SEARCH_DENSE) {
        const RagHit *src = m == RAG_SEARCH_BM25 ? lex : sem;
        n = m == RAG_SEARCH_BM25 ? n_lex : n_sem;
        if (n > k) n = k;
        memcpy(out, src, (size_t)n * sizeof *out);
    } else {
        const RagHit *lists[2] = {lex, sem};
        int64_t lens[2] = {n_lex, n_sem};
        RagHit *fused = malloc((size_t)(2 * K) * sizeof *fused);
        CHECK(fused, "rag_retriever_search: out of memory");
        int64_t nf = rag_rrf(lists, lens, NULL, 2, RAG_RRF_K, m == RAG_SEARCH_RERANK ? K : k,
                             fused);
        double t3 = now();
        r->secs[2] += t3 - t2;
        if (m == RAG_SEARCH_RERANK) {
            float best_bm25 = n_lex > 0 && lex[0].score > 0 ? lex[0].score : 1.0f;
            int64_t qlen = (int64_t)strlen(query);
            for (int64_t i = 0; i < nf; i++) {
                int64_t id = fused[i].id;
                float bm = 0;
                for (int64_t j = 0; j < n_lex; j++)
                    if (lex[j].id == id) {
                        bm = lex[j].score / best_bm25;
                        break;
                    }
                RagChunkRef c = rag_retriever_chunk(r, id);
                float f[RAG_RERANK_NF];
                rag_rerank_features(&r->words, query, qlen, c.text, c.end - c.start,
                                    bm, dot(q, r->vecs + id * r->dim, r->dim), fused[i].score,
                                    f);
                // Before training, MaxSim alone orders the pool.
                fused[i].score = r->has_model ? rag_rerank_score(&r->model, f) : f[3];
            }
            rag_hits_sort(fused, nf);
            r->secs[3] += now() - t3;
        }
        n = nf < k ? nf : k;
        memcpy(out, fused, (size_t)n * sizeof *out);
        free(fused);
    }
    free(lex);
    free(sem);
    return n;
}

int64_t rag_retriever_search_docs(RagRetriever *r, RagSearchMode m, const char *query,
                                  int64_t k, const RagFilter *filter, RagHit *out)
{
    CHECK(r && out && k >= 0, "rag_retriever_search_docs: bad arguments");
    // Enough chunks that k distinct documents are very likely among them.
    int64_t kc = 4 * k > r->cfg.candidates ? 4 * k : r->cfg.candidates;
    RagHit *hits = malloc((size_t)(kc + 1) * sizeof *hits);
    CHECK(hits, "rag_retriever_search_docs: out of memory");
    int64_t n = rag_retriever_search(r, m, query, kc, filter, hits);
    if (n < 0) {
        free(hits);
        return n;
    }
    // hits are best first, so the first time a document appears is its best chunk.
    int64_t n_out = 0;
    for (int64_t i = 0; i < n && n_out < k; i++) {
        int64_t doc = r->chunks[hits[i].id].doc;
        bool seen = false;
        for (int64_t j = 0; j < n_out && !seen; j++) seen = out[j].id == doc;
        if (!seen) out[n_out++] = (RagHit){doc, hits[i].score};
    }
    free(hits);
    return n_out;
}

int rag_retriever_train_reranker(RagRetriever *r, const char *const *queries,
                                 const RagQrels *qrels, const bool *use, int64_t *pairs)
{
    CHECK(r && queries && qrels, "rag_retriever_train_reranker: bad arguments");
    if (!r->w2v)
        return err_set(ERR_INVALID, "rag_retriever_train_reranker: no word vectors; hint: "
                       "pass an NnW2v to rag_retriever_create");
    int64_t K = r->cfg.candidates, cap = 0, n = 0;
    float *X = NULL;
    uint8_t *y = NULL;
    int64_t ycap = 0;
    RagHit *lists[2];
    lists[0] = malloc((size_t)K * sizeof(RagHit));
    lists[1] = malloc((size_t)K * sizeof(RagHit));
    RagHit *fused = malloc((size_t)(2 * K) * sizeof *fused);
    CHECK(lists[0] && lists[1] && fused, "rag_retriever_train_reranker: out of memory");
    float q[RAG_EMBED_MAX_DIM];
    for (int64_t qi = 0; qi < qrels->n_queries; qi++) {
        if ((use && !use[qi]) || rag_qrels_n_relevant(qrels, qi) == 0) continue;
        const char *query = queries[qi];
        int64_t lens[2];
        lens[0] = first_stage(r, RAG_SEARCH_BM25, query, NULL, K, NULL, lists[0]);
        rag_embed(r->emb, query, (int64_t)strlen(query), q);
        lens[1] = first_stage(r, RAG_SEARCH_DENSE, query, q, K, NULL, lists[1]);
        const RagHit *cl[2] = {lists[0], lists[1]};
        int64_t nf = rag_rrf(cl, lens, NULL, 2, RAG_RRF_K, K, fused);
        float best = lens[0] > 0 && lists[0][0].score > 0 ? lists[0][0].score : 1.0f;
        X = grow(X, &cap, n + nf, RAG_RERANK_NF * sizeof *X);
        y = grow(y, &ycap, n + nf, sizeof *y);
        for (int64_t i = 0; i < nf; i++) {
            int64_t id = fused[i].id;
            float bm = 0;
            for (int64_t j = 0; j < lens[0]; j++)
                if (lists[0][j].id == id) {
                    bm = lists[0][j].score / best;
                    break;
                }
            RagChunkRef c = rag_retriever_chunk(r, id);
            rag_rerank_features(&r->words, query, (int64_t)strlen(query), c.text,
                                c.end - c.start, bm, dot(q, r->vecs + id * r->dim, r->dim),
                                fused[i].score, X + n * RAG_RERANK_NF);
            uint8_t rel = 0;
            for (int64_t j = qrels->start[qi]; j < qrels->start[qi + 1]; j++)
                if (qrels->j[j].doc == c.doc && qrels->j[j].rel > 0) rel = 1;
            y[n++] = rel;
        }
    }
    free(lists[0]), free(lists[1]), free(fused);
    if (pairs) *pairs = n;
    int rc = rag_rerank_train(X, y, n, 1e-3, &r->model);
    free(X), free(y);
    if (rc == ERR_OK) r->has_model = true;
    return rc;
}

void rag_retriever_set_reranker(RagRetriever *r, const RagRerankModel *m)
{
    r->has_model = m != NULL;
    if (m) r->model = *m;
}

const RagEmbedder *rag_retriever_words(const RagRetriever *r)
{
    return r->w2v ? &r->words : NULL;
}

const RagRerankModel *rag_retriever_reranker(const RagRetriever *r)
{
    return r->has_model ? &r->model : NULL;
}

void rag_retriever_stage_seconds(const RagRetriever *r, double out[4])
{
    memcpy(out, r->secs, sizeof r->secs);
}
