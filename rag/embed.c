/*
 * embed.c: the embedders of embed.h (averaged word vectors, pooled transformer states).
 *
 * Dimensions: D = word-vector size, C = transformer width, T = tokens of one text,
 * dim = output size.
 */
#include "rag/embed.h"

#include "core/err.h"
#include "nn/progress.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

RagEmbedder rag_embedder_w2v(const NnW2v *w2v, float sif_a)
{
    CHECK(w2v && w2v->unit, "rag_embedder_w2v: the word vectors need their unit rows; "
          "hint: call nn_w2v_normalize first");
    CHECK(sif_a >= 0.0f, "rag_embedder_w2v: sif_a = %g must be >= 0", sif_a);
    RagEmbedder e = {.kind = RAG_EMBED_W2V, .dim = w2v->dim, .w2v = w2v, .sif_a = sif_a};
    for (int64_t i = 0; i < w2v->vocab; i++) e.total_count_ += (double)w2v->counts[i];
    // c = sum_w p(w) s(w) u_w, accumulated in double.
    int64_t D = w2v->dim;
    double *c = calloc((size_t)D, sizeof *c);
    e.center_ = malloc((size_t)D * sizeof *e.center_);
    CHECK(c && e.center_, "rag_embedder_w2v: out of memory");
    for (int64_t i = 0; i < w2v->vocab; i++) {
        double p = (double)w2v->counts[i] / e.total_count_, s = rag_embed_sif(&e, i);
        for (int64_t j = 0; j < D; j++) c[j] += p * s * w2v->unit[i * D + j];
    }
    for (int64_t j = 0; j < D; j++) e.center_[j] = (float)c[j];
    free(c);
    return e;
}

double rag_embed_sif(const RagEmbedder *e, int64_t id)
{
    CHECK(e->kind == RAG_EMBED_W2V, "rag_embed_sif: not a word-vector embedder");
    if (e->sif_a <= 0 || id < 0) return 1.0;
    return e->sif_a / (e->sif_a + (double)e->w2v->counts[id] / e->total_count_);
}

void rag_embedder_deinit(RagEmbedder *e)
{
    if (!e) return;
    free(e->center_);
    e->center_ = NULL;
}

RagEmbedder rag_embedder_w2v_proj(const NnW2v *w2v, float sif_a, const float *proj, int64_t dim)
{
    CHECK(proj && dim >= 1 && dim <= RAG_EMBED_MAX_DIM,
          "rag_embedder_w2v_proj: need a projection of 1..%d rows", RAG_EMBED_MAX_DIM);
    RagEmbedder e = rag_embedder_w2v(w2v, sif_a);
    e.proj = proj;
    e.dim = dim;
    return e;
}

RagEmbedder rag_embedder_tf(TfModel *model, TfBpe *bpe, int max_tokens)
{
    CHECK(model && bpe, "rag_embedder_tf: need a model and its tokenizer");
    CHECK(tf_tok_bpe_vocab_size(bpe) <= model->cfg.vocab,
          "rag_embedder_tf: the tokenizer has %d tokens but the model only %d",
          tf_tok_bpe_vocab_size(bpe), model->cfg.vocab);
    if (max_tokens <= 0 || max_tokens > model->cfg.ctx) max_tokens = model->cfg.ctx;
    return (RagEmbedder){.kind = RAG_EMBED_TF, .dim = model->cfg.d_model, .model = model,
                         .bpe = bpe, .max_tokens = max_tokens};
}

const char *rag_embedder_name(const RagEmbedder *e)
{
    switch (e->kind) {
    case RAG_EMBED_W2V: return e->proj ? "w2v-proj" : "w2v-sif";
    case RAG_EMBED_TF: return "tf-mean";
    }
    return "?";
}

// Scales v (n) to unit length; leaves the zero vector alone.
static void normalize(float *v, int64_t n)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)v[i] * v[i];
    if (ss <= 0) return;
    float inv = (float)(1.0 / sqrt(ss));
    for (int64_t i = 0; i < n; i++) v[i] *= inv;
}

// W2V: v = P · sum_w s(w) u_w / n, s(w) = a / (a + p(w)) (or 1 when a = 0).
static int64_t embed_w2v(const RagEmbedder *e, const char *text, int64_t len, float *out)
{
    const NnW2v *m = e->w2v;
    int64_t D = m->dim;
    float acc[NN_W2V_MAX_DIM] = {0}; // (D)
    // nn_w2v_next_word reads a NUL-terminated string; chunks are substrings, so copy.
    char *buf = malloc((size_t)len + 1);
    CHECK(buf, "rag_embed: out of memory");
    memcpy(buf, text, (size_t)len);
    buf[len] = '\0';
    int64_t pos = 0, known = 0;
    char word[NN_W2V_MAX_WORD];
    while (nn_w2v_next_word(buf, &pos, word)) {
        int64_t id = nn_w2v_find(m, word);
        if (id < 0) continue;
        float s = (float)rag_embed_sif(e, id);
        const float *u = m->unit + id * D;
        for (int64_t j = 0; j < D; j++) acc[j] += s * u[j] - e->center_[j];
        known++;
    }
    free(buf);
    if (e->proj) {
        // out (dim) = P (dim, D) · acc (D)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)e->dim, (int)D, 1.0f, e->proj, (int)D,
                    acc, 1, 0.0f, out, 1);
    } else {
        memcpy(out, acc, (size_t)D * sizeof *out);
    }
    // The 1/n of the mean does not change the direction, so normalising is enough.
    if (known == 0) memset(out, 0, (size_t)e->dim * sizeof *out);
    normalize(out, e->dim);
    return known;
}

// TF: v = normalize(mean_t h_t), h = tf_model_hidden of the first max_tokens BPE tokens.
static int64_t embed_tf(const RagEmbedder *e, const char *text, int64_t len, float *out)
{
    int64_t C = e->dim;
    memset(out, 0, (size_t)C * sizeof *out);
    int32_t *ids = NULL;
    int64_t n = tf_tok_bpe_encode(e->bpe, text, (size_t)len, &ids);
    if (n <= 0) {
        free(ids);
        return 0;
    }
    if (n > e->max_tokens) n = e->max_tokens;
    Graph *g = graph_create(0);
    graph_set_grad_enabled(g, false);
    Tensor *tok = tensor_from_i32(graph_arena(g), 2, (int64_t[]){1, n}, ids);
    Tensor *h = tensor_contiguous(g, tf_model_hidden(g, e->model, tok, false, NULL)); // (1,T,C)
    for (int64_t t = 0; t < n; t++) {
        const float *row = h->data + t * C;
        for (int64_t j = 0; j < C; j++) out[j] += row[j];
    }
    graph_free(g);
    free(ids);
    normalize(out, C);
    return n;
}

int64_t rag_embed(const RagEmbedder *e, const char *text, int64_t len, float *out)
{
    CHECK(e && out && (text || len == 0) && len >= 0, "rag_embed: bad arguments");
    switch (e->kind) {
    case RAG_EMBED_W2V: return embed_w2v(e, text, len, out);
    case RAG_EMBED_TF: return embed_tf(e, text, len, out);
    }
    CHECK(0, "rag_embed: unknown embedder kind %d", (int)e->kind);
    return 0;
}

void rag_embed_batch(const RagEmbedder *e, const char *const *texts, const int64_t *lens,
                     int64_t n, float *out)
{
    NnProgress *p = n >= 2000 ? nn_progress_start(n, "embed") : NULL;
    for (int64_t i = 0; i < n; i++) {
        rag_embed(e, texts[i], lens[i], out + i * e->dim);
        if (p && ((i + 1) % 500 == 0 || i + 1 == n)) nn_progress_update(p, i + 1, NAN, NULL);
    }
    nn_progress_finish(p);
}
