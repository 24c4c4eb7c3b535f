/*
 * tune.h: contrastive tuning of the averaged-word-vector embedder (week 9, "embedding tuning").
 *
 * The untuned dense retriever (embed.h, RAG_EMBED_W2V) turns a text into the SIF-weighted,
 * centred sum of its word vectors, x(text) (D), and uses its direction. Word2vec vectors are
 * trained to predict neighbouring words, not to make a definition land next to the entry it
 * defines, so that direction is a weak retrieval signal. Here a linear map is learnt on top:
 *
 *     v(text) = normalize( P x(text) ),      P = E + W  (D_out, D)
 *
 * where E is the (D_out, D) identity (ones on the diagonal, zeros elsewhere) and W starts at
 * zero, so the tuned encoder starts exactly at the baseline (for D_out >= D). Weight decay on
 * W (AdamW's decoupled decay) pulls P towards the identity, i.e. towards the baseline, rather
 * than towards zero. Because v only depends on the direction of P x, x may be given at any
 * scale: the features used here are the baseline embedder's unit vectors x / |x|
 * (rag_tune_features), the same numbers the untuned retriever uses.
 *
 * Training data are pairs (query text, positive text): a FOLDOC definition with its headword
 * removed and the entry it defines (rag_tune_pairs_add_benchmark on the TRAIN split of
 * qrels.h's benchmark), optionally WordNet glosses and their lemmas. A step takes B pairs and
 * minimises InfoNCE with in-batch negatives (nn/loss.h): the B x B cosine matrix S / tau, each
 * query's positive on the diagonal and the other B - 1 positives as its negatives,
 *     L = mean_i -log( exp(S_ii / tau) / sum_j exp(S_ij / tau) )    (+ the column version)
 * through the engine's graph and autograd, with AdamW (nn/optim.h). The features x of every
 * text are computed once before training (word vectors are frozen), so a step is two
 * (B, D) x (D, D_out) products and the loss. A share of the pairs is held out (by a seeded
 * shuffle) for a validation loss after each epoch; training stops when it has not improved
 * for `patience` epochs and the P of the best epoch is returned.
 *
 * Optional per-word weights (cfg.word_weights). P re-weights directions of the average; it
 * cannot tell "protocol" (frequent and vague in FOLDOC) from "smtp" (rare and decisive) when
 * their vectors point the same way. With word_weights each word also gets a learned scalar
 * alpha_w = 1 + delta_w (V parameters, delta = 0 at the start, decayed towards 0) multiplying
 * its unit vector, and the centre follows the same formula as embed.h:
 *     x(text) = sum_{w in text} ( s(w) alpha_w u_w - c(alpha) ),  c = sum_w p(w) s(w) alpha_w u_w
 * Then x is not fixed any more: each step builds it in the graph from the batch's word counts
 * (a (B, V_batch) count matrix times the (V_batch, D) scaled vectors), so the gradient reaches
 * alpha. Deployed, this is still the plain W2V embedder, over derived word vectors whose unit
 * rows are alpha_w u_w (rag_tune_w2v).
 *
 * At retrieval time the tuned encoder is an ordinary embedder:
 * rag_embedder_w2v_proj(w2v, sif_a, res.proj, res.dim_out) (rag_tune_embedder), so the
 * retriever, the experiment and the store use it unchanged; with word weights, w2v is the
 * derived copy made by rag_tune_w2v (the reranker may keep the original vectors).
 *
 * The base embedder's SIF constant matters more after tuning than before: a smaller a (3e-5
 * rather than the retriever's 1e-3) leaves rare, decisive words more weight, which the
 * untuned average cannot use (its recall falls slightly) but P can (on FOLDOC with D = 100
 * word vectors, tuned dense recall@10 was 0.14 at a = 1e-3 and 0.195 at a = 3e-5).
 *
 * Dimensions: D = word-vector size (embedder input), D_out = output size (rows of P),
 * B = batch, N = pairs, V = vocabulary.
 *
 * Ownership: a RagTunePairs owns its two pointer arrays but borrows the strings (from the
 * benchmark or the caller): they must outlive it. A RagTuneResult owns proj and the curves;
 * free with rag_tune_result_free. The embedder passed to rag_tune_train is borrowed.
 *
 * Errors: a bad configuration (tau <= 0, batch < 2, no usable pairs, an embedder that is
 * not RAG_EMBED_W2V...) returns ERR_INVALID with a message naming the field and a hint;
 * nothing is allocated then. NULL arguments are bugs (CHECK).
 *
 * Usage:
 *     RagBenchmark bm;   rag_benchmark_foldoc(NULL, &bm);
 *     RagEmbedder base = rag_embedder_w2v(&w2v, 1e-3f);
 *     RagTunePairs pairs = {0};
 *     rag_tune_pairs_add_benchmark(&pairs, &bm, false, 0);         // the TRAIN split
 *     RagTuneConfig cfg = rag_tune_defaults();
 *     RagTuneResult res;
 *     if (rag_tune_train(&base, &pairs, &cfg, &res) != ERR_OK) die(err_msg());
 *     NnW2v w2v_t;  rag_tune_w2v(&w2v, &res, &w2v_t);              // alpha_w u_w (or a copy)
 *     RagEmbedder tuned = rag_tune_embedder(&w2v_t, 1e-3f, &res);  // proj borrowed from res
 *     ... rag_retriever_create(&rcfg, &tuned, &w2v, &r); rag_experiment_run(r, &bm, ...) ...
 *     rag_embedder_deinit(&tuned); nn_w2v_deinit(&w2v_t);
 *     rag_tune_result_free(&res); rag_tune_pairs_free(&pairs);
 */
#ifndef RAG_TUNE_H
#define RAG_TUNE_H

#include "core/tensor.h"
#include "rag/embed.h"
#include "rag/qrels.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int64_t n;              // N pairs
    const char **query;     // (N) borrowed texts; the array is owned
    const char **positive;  // (N) borrowed texts; the array is owned
    int64_t cap_;           // internal: capacity
} RagTunePairs;

typedef struct {
    int64_t dim_out;      // D_out, rows of P; 0 = D (square, identity start) (0)
    float tau;            // InfoNCE temperature, > 0 (0.05)
    bool symmetric;       // also the key -> query direction (CLIP) (true)
    int64_t batch;        // B pairs per step, >= 2 (256)
    int epochs;           // at most this many passes over the training pairs (60)
    float lr;             // AdamW peak learning rate, warmup-cosine schedule (2e-3)
    float weight_decay;   // AdamW decoupled decay of W = P - E (towards the baseline) (0.01)
    bool word_weights;    // also learn a weight per word (see above) (false)
    float word_lr;        // its AdamW learning rate (5e-3)
    float word_decay;     // its decoupled decay, towards weight 1 (0.01)
    double val_fraction;  // share of the pairs held out for the validation loss (0.1)
    int patience;         // stop after this many epochs without a better val loss (4)
    uint64_t seed;        // the train/val cut and the batch order (1)
    bool progress;        // progress line on stderr (false)
} RagTuneConfig;

typedef struct {
    float *proj;          // (D_out, D) the trained P (of the best validation epoch), owned
    float *word_weight;   // (V) the learned alpha_w (word_weights), owned; NULL otherwise
    int64_t vocab;        // V when word_weight is set
    int64_t dim_out, dim_in; // D_out, D
    int epochs_run;       // epochs trained (<= cfg.epochs; fewer after early stopping)
    int best_epoch;       // 1-based epoch whose P is returned; 0 = none improved (P = E)
    float *train_loss;    // (epochs_run + 1) mean training loss per epoch; [0] = before
    float *val_loss;      // (epochs_run + 1) validation loss; [0] = before training (P = E)
    int64_t n_train, n_val; // pairs used for training / validation
    int64_t n_dropped;    // pairs dropped because a text had no known word
    double seconds;       // wall time of the training (features included)
} RagTuneResult;

// The defaults shown in RagTuneConfig's comments.
RagTuneConfig rag_tune_defaults(void);

// Appends a (query, positive) pair; both strings are borrowed.
void rag_tune_pairs_add(RagTunePairs *p, const char *query, const char *positive);

// Appends one pair per query of the benchmark's TRAIN split (test_split false) or TEST split
// (true): the query text and the text of its first relevant document that is in the corpus;
// at most max_pairs of them (0 = all). Strings are borrowed from bm. Returns how many.
int64_t rag_tune_pairs_add_benchmark(RagTunePairs *p, const RagBenchmark *bm, bool test_split,
                                     int64_t max_pairs);

// Frees the arrays and zeroes p (the strings are not freed). NULL and zeroed are no-ops.
void rag_tune_pairs_free(RagTunePairs *p);

// The fixed features of one text: x / |x| (D), x the SIF-weighted centred sum of embed.h,
// i.e. exactly what the W2V embedder `base` gives WITHOUT its projection (any proj of base is
// ignored). Returns the number of known words (0: x is zeros). D = base->w2v->dim.
int64_t rag_tune_features(const RagEmbedder *base, const char *text, int64_t len, float *x);

// The training loss of one batch, on graph g: InfoNCE(normalize(xq P^T), normalize(xd P^T))
// with P = E + W. W: (D_out, D) parameter; xq, xd: (B, D) features. Returns a scalar tensor.
// Exposed so the tests can check its gradient by finite differences.
Tensor *rag_tune_loss(Graph *g, Tensor *W, Tensor *xq, Tensor *xd, float tau, bool symmetric);

// Trains P on the pairs (see the top of this file). base: a RAG_EMBED_W2V embedder (its own
// projection, if any, is ignored; features come from rag_tune_features). On success *out owns
// the result (rag_tune_result_free). Errors: ERR_INVALID for a bad config or no usable pairs.
int rag_tune_train(const RagEmbedder *base, const RagTunePairs *pairs, const RagTuneConfig *cfg,
                   RagTuneResult *out);

// The tuned embedder: rag_embedder_w2v_proj(w2v, sif_a, res->proj, res->dim_out). res->proj
// is borrowed (keep res alive); free the embedder with rag_embedder_deinit. sif_a must be the
// base embedder's. When res has word weights, w2v must be the copy made by rag_tune_w2v.
RagEmbedder rag_tune_embedder(const NnW2v *w2v, float sif_a, const RagTuneResult *res);

// The word vectors of a result with word weights: a deep copy of src (owned by the caller,
// nn_w2v_deinit) whose unit rows are alpha_w * src->unit rows (so they are not unit length:
// do not call nn_w2v_normalize on it; emb is copied unscaled, ctx is NULL). Without word
// weights the copy's unit rows equal src's. src->vocab must equal res->vocab when set.
void rag_tune_w2v(const NnW2v *src, const RagTuneResult *res, NnW2v *dst);

// Frees what res owns and zeroes it. NULL and zeroed are no-ops.
void rag_tune_result_free(RagTuneResult *res);

#endif
