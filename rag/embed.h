/*
 * embed.h: embedders, text -> one unit-length vector, for dense retrieval.
 *
 * Two kinds, one struct, dispatched by a switch on `kind` (rag_embed):
 *
 *   RAG_EMBED_W2V  the week-2 word vectors, averaged with frequency weights (SIF, Arora et al.
 *                  2017): a word w of corpus probability p(w) weighs a / (a + p(w)), so "the"
 *                  (p ~ 0.05) counts ~50x less than a rare term (p ~ 1e-5) at a = 1e-3. The
 *                  average is then optionally multiplied by a learned projection P (dim, D)
 *                  (the contrastively tuned encoder of week 9 supplies P) and normalised.
 *                    v = normalize( P · sum_w (a / (a + p(w))) u_w / n_known )
 *                  where u_w are the unit word vectors (NnW2v.unit). Unknown words are skipped.
                  Averaged word vectors share a large common direction (every text contains
                  "the", "of", "a"...), which makes all cosines ~0.99; SIF removes it. Here it
                  is removed before the projection by centring on its expectation under the
                  unigram distribution: each known word contributes s(w) u_w - c with
                    c = sum_w p(w) s(w) u_w,
                  the mean contribution of a word drawn from the corpus (no corpus pass needed).
 *   RAG_EMBED_TF   mean-pooled final hidden states of a transformer (transformer/model.h
 *                  tf_model_hidden) over the BPE tokens of the text (the first max_tokens of
 *                  them), normalised: v = normalize( (1/T) sum_t h_t ).
 *
 * Every output row has unit L2 norm, so inner product = cosine; an empty text (no known word,
 * no token) gives the zero vector, which matches nothing (score 0 against every row).
 *
 * Dimensions: D = word-vector size, C = transformer width, dim = output size
 * (W2V: D, or P's rows; TF: C).
 *
 * Ownership: a RagEmbedder is a small value; the word vectors, projection, model and tokenizer
 * it points to are borrowed and must outlive it. Texts are (pointer, byte length): chunks are
 * substrings of their documents and are not NUL-terminated.
 *
 * Usage:
 *     NnW2v w2v;  nn_w2v_load(&w2v, "out/week02_embeddings/embeddings.safetensors");
 *     nn_w2v_normalize(&w2v);
 *     RagEmbedder e = rag_embedder_w2v(&w2v, 1e-3f);     // rag_embedder_deinit(&e) at the end
 *     float *vecs = malloc(n * e.dim * sizeof *vecs);
 *     rag_embed_batch(&e, texts, lens, n, vecs);     // (n, dim), unit rows
 *     float q[RAG_EMBED_MAX_DIM];
 *     rag_embed(&e, "a protocol for mail", 19, q);    // (dim)
 *     ... nn_w2v_deinit(&w2v);
 */
#ifndef RAG_EMBED_H
#define RAG_EMBED_H

#include "nn/word2vec.h"
#include "transformer/model.h"
#include "transformer/tokenizer.h"

#include <stdint.h>

#define RAG_EMBED_MAX_DIM 4096

typedef enum { RAG_EMBED_W2V = 0, RAG_EMBED_TF = 1 } RagEmbedKind;

typedef struct {
    RagEmbedKind kind;
    int64_t dim;         // output size
    // RAG_EMBED_W2V
    const NnW2v *w2v;    // borrowed; its `unit` rows must be filled (nn_w2v_normalize)
    float sif_a;         // a of a / (a + p(w)); 0 = plain (unweighted) mean
    const float *proj;   // borrowed (dim, D) row-major, or NULL (dim = D)
    double total_count_; // internal: sum of w2v->counts
    float *center_;      // internal: (D) c above, owned (rag_embedder_deinit)
    // RAG_EMBED_TF
    TfModel *model;      // borrowed
    TfBpe *bpe;          // borrowed
    int max_tokens;      // texts are truncated to this many tokens (<= model ctx)
} RagEmbedder;

// An averaged-word-vector embedder (dim = D). sif_a >= 0. Free with rag_embedder_deinit.
RagEmbedder rag_embedder_w2v(const NnW2v *w2v, float sif_a);

// The same with a projection P (dim, D), borrowed (the tuned encoder of week 9).
RagEmbedder rag_embedder_w2v_proj(const NnW2v *w2v, float sif_a, const float *proj, int64_t dim);

// A mean-pooled transformer embedder (dim = C). max_tokens <= 0 means the model's ctx.
RagEmbedder rag_embedder_tf(TfModel *model, TfBpe *bpe, int max_tokens);

// The SIF weight s(w) = a / (a + p(w)) of word id of a W2V embedder, p(w) its corpus
// probability; 1 when a = 0 or id < 0 (an unknown word counts as rarer than any known one).
double rag_embed_sif(const RagEmbedder *e, int64_t id);

// Releases what the embedder owns (the W2V centre vector); safe on any embedder, twice too.
void rag_embedder_deinit(RagEmbedder *e);

// "w2v-sif", "w2v-proj" or "tf-mean": names the embedder in stores, tables and run files.
const char *rag_embedder_name(const RagEmbedder *e);

// Embeds one text (len bytes) into out (dim), unit norm or all zeros. Returns the number of
// words/tokens that contributed (0: out is zeros).
int64_t rag_embed(const RagEmbedder *e, const char *text, int64_t len, float *out);

// Embeds n texts into out (n, dim). Shows progress on stderr when n is large (>= 2000).
void rag_embed_batch(const RagEmbedder *e, const char *const *texts, const int64_t *lens,
                     int64_t n, float *out);

#endif
