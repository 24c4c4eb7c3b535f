/*
 * tune.c: contrastive tuning of a projection P on top of averaged word vectors (see tune.h).
 *
 * Dimensions: D = word-vector size, D_out = rows of P, B = batch, N = pairs, V = vocabulary,
 * V_b = distinct words of a batch.
 */
#include "rag/tune.h"

#include "core/err.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/params.h"
#include "nn/progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

RagTuneConfig rag_tune_defaults(void)
{
    return (RagTuneConfig){.dim_out = 0, .tau = 0.05f, .symmetric = true, .batch = 256,
                           .epochs = 60, .lr = 2e-3f, .weight_decay = 0.01f,
                           .word_weights = false, .word_lr = 5e-3f, .word_decay = 0.01f,
                           .val_fraction = 0.1, .patience = 4, .seed = 1, .progress = false};
}

// ---------------------------------------------------------------------------
// Pairs
// ---------------------------------------------------------------------------

void rag_tune_pairs_add(RagTunePairs *p, const char *query, const char *positive)
{
    CHECK(p && query && positive, "rag_tune_pairs_add: NULL argument");
    if (p->n == p->cap_) {
        int64_t cap = p->cap_ ? 2 * p->cap_ : 256;
        p->query = xrealloc(p->query, (size_t)cap * sizeof *p->query);
        p->positive = xrealloc(p->positive, (size_t)cap * sizeof *p->positive);
        p->cap_ = cap;
    }
    p->query[p->n] = query;
    p->positive[p->n] = positive;
    p->n++;
}

int64_t rag_tune_pairs_add_benchmark(RagTunePairs *p, const RagBenchmark *bm, bool test_split,
                                     int64_t max_pairs)
{
    CHECK(p && bm && max_pairs >= 0, "rag_tune_pairs_add_benchmark: bad arguments");
    int64_t added = 0;
    for (int64_t q = 0; q < bm->n_queries && (max_pairs == 0 || added < max_pairs); q++) {
        if (bm->is_test[q] != test_split) continue;
        // The first relevant judged document that is in the corpus is the positive.
        const RagQrels *qr = &bm->qrels;
        for (int64_t j = qr->start[q]; j < qr->start[q + 1]; j++) {
            const RagJudgement *jd = &qr->j[j];
            if (jd->rel <= 0 || jd->doc < 0 || jd->doc >= bm->n_docs) continue;
            rag_tune_pairs_add(p, bm->queries[q], bm->doc_texts[jd->doc]);
            added++;
            break;
        }
    }
    return added;
}

void rag_tune_pairs_free(RagTunePairs *p)
{
    if (!p) return;
    free(p->query);
    free(p->positive);
    memset(p, 0, sizeof *p);
}

// ---------------------------------------------------------------------------
// Features and loss
// ---------------------------------------------------------------------------

int64_t rag_tune_features(const RagEmbedder *base, const char *text, int64_t len, float *x)
{
    CHECK(base && base->kind == RAG_EMBED_W2V && base->w2v,
          "rag_tune_features: need a word-vector (RAG_EMBED_W2V) embedder");
    // The same embedder without its projection: rag_embed then returns x / |x| (embed.c
    // normalises the centred sum), and normalize(P (x / |x|)) = normalize(P x).
    RagEmbedder plain = *base;
    plain.proj = NULL;
    plain.dim = base->w2v->dim;
    return rag_embed(&plain, text, len, x);
}

// E (D_out, D): ones on the diagonal, zeros elsewhere, in g's arena (a constant).
static Tensor *eye(Graph *g, int64_t rows, int64_t cols)
{
    Tensor *e = tensor_zeros(graph_arena(g), 2, (int64_t[]){rows, cols});
    int64_t n = rows < cols ? rows : cols;
    for (int64_t i = 0; i < n; i++) e->data[i * cols + i] = 1.0f;
    return e;
}

Tensor *rag_tune_loss(Graph *g, Tensor *W, Tensor *xq, Tensor *xd, float tau, bool symmetric)
{
    CHECK(g && W && xq && xd && W->ndim == 2 && xq->ndim == 2 && tensor_same_shape(xq, xd) &&
              xq->shape[1] == W->shape[1],
          "rag_tune_loss: need W (D_out, D) and xq, xd (B, D)");
    // P = E + W (D_out, D); rows of xq P^T are P x for each query (B, D_out).
    Tensor *P = tensor_add(g, eye(g, W->shape[0], W->shape[1]), W);
    Tensor *Pt = tensor_transpose(g, P, 0, 1); // (D, D_out) view
    Tensor *q = nn_l2_normalize(g, tensor_matmul(g, xq, Pt), 1e-12f);
    Tensor *k = nn_l2_normalize(g, tensor_matmul(g, xd, Pt), 1e-12f);
    return nn_info_nce_loss(g, q, k, tau, symmetric);
}

// ---------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------

// Checks the configuration; ERR_OK or ERR_INVALID naming the field.
static int check_config(const RagEmbedder *base, const RagTunePairs *pairs,
                        const RagTuneConfig *c)
{
    if (base->kind != RAG_EMBED_W2V || !base->w2v)
        return err_set(ERR_INVALID, "rag_tune_train: embedder '%s' is not a word-vector one; "
                       "hint: build it with rag_embedder_w2v", rag_embedder_name(base));
    if (!(c->tau > 0.0f) || !isfinite(c->tau))
        return err_set(ERR_INVALID, "rag_tune_train: tau = %g must be a positive temperature; "
                       "hint: 0.05 is typical", (double)c->tau);
    if (c->batch < 2)
        return err_set(ERR_INVALID, "rag_tune_train: batch = %lld, need >= 2 (the other "
                       "pairs of a batch are the negatives); hint: 256",
                       (long long)c->batch);
    if (c->epochs < 0 || c->patience < 1)
        return err_set(ERR_INVALID, "rag_tune_train: epochs = %d (>= 0) and patience = %d "
                       "(>= 1) out of range", c->epochs, c->patience);
    if (!(c->lr >= 0.0f) || !(c->weight_decay >= 0.0f))
        return err_set(ERR_INVALID, "rag_tune_train: lr = %g and weight_decay = %g must be "
                       ">= 0", (double)c->lr, (double)c->weight_decay);
    if (!(c->val_fraction >= 0.0 && c->val_fraction < 1.0))
        return err_set(ERR_INVALID, "rag_tune_train: val_fraction = %g must be in [0, 1)",
                       c->val_fraction);
    if (c->dim_out < 0 || c->dim_out > RAG_EMBED_MAX_DIM)
        return err_set(ERR_INVALID, "rag_tune_train: dim_out = %lld out of 0..%d",
                       (long long)c->dim_out, RAG_EMBED_MAX_DIM);
    if (pairs->n < 2)
        return err_set(ERR_INVALID, "rag_tune_train: %lld training pairs, need at least 2; "
                       "hint: fill them with rag_tune_pairs_add_benchmark",
                       (long long)pairs->n);
    return ERR_OK;
}

// The training texts after featurisation. Text 2i is pair i's query, text 2i + 1 its
// positive. Fixed mode keeps x / |x| per text; word mode keeps each text's bag of words, as
// (word id, s(w) * count) entries, since x then depends on the learned alpha.
typedef struct {
    int64_t D, V;
    bool words;    // word mode (cfg.word_weights)
    float *X;      // fixed: (2n, D) features
    int64_t *start; // word: (2n + 1) text t's entries are [start[t], start[t + 1])
    int32_t *word;  // word: word ids
    float *sw;      // word: s(w) * count of the word in the text
    float *known;   // word: (2n) known word occurrences of the text
    int64_t n_entries, cap_entries;
    int32_t *slot;  // word: (V) column of a word in the batch matrix, -1 = none
    int32_t *uniq;  // word: (V) the batch's distinct words
    Arena *consts;  // word: U and ps below live here
    Tensor *U;      // word: (V, D) unit word vectors, constant
    Tensor *ps;     // word: (1, V) p(w) s(w), the weights of the centre c, constant
} TuneData;

// s(w) = a / (a + p(w)) as embed.c computes it (1 when a = 0).
static float sif_weight(const RagEmbedder *e, int64_t id) { return (float)rag_embed_sif(e, id); }

// Appends text's bag of known words as text number t; returns the known occurrences.
static int64_t add_bag(TuneData *d, const RagEmbedder *e, const char *text, int64_t t)
{
    int64_t pos = 0, known = 0, first = d->n_entries;
    char w[NN_W2V_MAX_WORD];
    while (nn_w2v_next_word(text, &pos, w)) {
        int64_t id = nn_w2v_find(e->w2v, w);
        if (id < 0) continue;
        known++;
        if (d->slot[id] < 0) {
            if (d->n_entries == d->cap_entries) {
                d->cap_entries = d->cap_entries ? 2 * d->cap_entries : 4096;
                d->word = xrealloc(d->word, (size_t)d->cap_entries * sizeof *d->word);
                d->sw = xrealloc(d->sw, (size_t)d->cap_entries * sizeof *d->sw);
            }
            d->slot[id] = (int32_t)d->n_entries;
            d->word[d->n_entries] = (int32_t)id;
            d->sw[d->n_entries++] = 0.0f;
        }
        d->sw[d->slot[id]] += sif_weight(e, id);
    }
    for (int64_t k = first; k < d->n_entries; k++) d->slot[d->word[k]] = -1;
    d->start[t + 1] = d->n_entries;
    d->known[t] = (float)known;
    return known;
}

// Featurises every pair; the usable ones (a known word on both sides) are packed first.
// Returns how many are usable.
static int64_t featurise(TuneData *d, const RagEmbedder *e, const RagTunePairs *pairs,
                         bool progress)
{
    int64_t N = pairs->n, D = d->D, n = 0;
    NnProgress *pb = progress && N >= 2000 ? nn_progress_start(N, "features") : NULL;
    for (int64_t i = 0; i < N; i++) {
        const char *q = pairs->query[i], *p = pairs->positive[i];
        bool ok;
        if (!d->words) {
            int64_t kq = rag_tune_features(e, q, (int64_t)strlen(q), d->X + 2 * n * D);
            int64_t kp = rag_tune_features(e, p, (int64_t)strlen(p), d->X + (2 * n + 1) * D);
            ok = kq > 0 && kp > 0;
        } else {
            int64_t mark = d->n_entries;
            ok = add_bag(d, e, q, 2 * n) > 0 && add_bag(d, e, p, 2 * n + 1) > 0;
            if (!ok) d->n_entries = mark; // forget the half-added pair
        }
        n += ok;
        if (pb && ((i + 1) % 1000 == 0 || i + 1 == N)) nn_progress_update(pb, i + 1, NAN, NULL);
    }
    nn_progress_finish(pb);
    return n;
}

static void tune_data_init(TuneData *d, const RagEmbedder *e, int64_t N, bool words)
{
    memset(d, 0, sizeof *d);
    d->D = e->w2v->dim;
    d->V = e->w2v->vocab;
    d->words = words;
    if (!words) {
        d->X = xmalloc((size_t)(2 * N * d->D) * sizeof *d->X);
        return;
    }
    d->start = xcalloc((size_t)(2 * N + 1), sizeof *d->start);
    d->known = xcalloc((size_t)(2 * N), sizeof *d->known);
    d->slot = xmalloc((size_t)d->V * sizeof *d->slot);
    d->uniq = xmalloc((size_t)d->V * sizeof *d->uniq);
    for (int64_t w = 0; w < d->V; w++) d->slot[w] = -1;
    d->consts = arena_create(0);
    d->U = tensor_from(d->consts, 2, (int64_t[]){d->V, d->D}, e->w2v->unit);
    d->ps = tensor_new(d->consts, DT_F32, 2, (int64_t[]){1, d->V});
    for (int64_t w = 0; w < d->V; w++)
        d->ps->data[w] = (float)((double)e->w2v->counts[w] / e->total_count_) * sif_weight(e, w);
}

static void tune_data_deinit(TuneData *d)
{
    free(d->X), free(d->start), free(d->word), free(d->sw), free(d->known);
    free(d->slot), free(d->uniq);
    arena_free(d->consts);
    memset(d, 0, sizeof *d);
}

// Fixed mode: the features of side `side` (0 query, 1 positive) of pairs idx[0..b), (b, D).
static Tensor *gather_fixed(Graph *g, const TuneData *d, const int32_t *idx, int64_t b, int side)
{
    Tensor *t = tensor_new(graph_arena(g), DT_F32, 2, (int64_t[]){b, d->D});
    for (int64_t i = 0; i < b; i++)
        memcpy(t->data + i * d->D, d->X + (2 * (int64_t)idx[i] + side) * d->D,
               (size_t)d->D * sizeof *d->X);
    return t;
}

// Word mode: the counts matrix (b, Vb) of side `side` over the batch's words (slot columns)
// and the known-word counts n (b, 1).
static Tensor *bag_matrix(Graph *g, const TuneData *d, const int32_t *idx, int64_t b, int side,
                          int64_t Vb, Tensor **n_out)
{
    Tensor *A = tensor_zeros(graph_arena(g), 2, (int64_t[]){b, Vb});
    Tensor *n = tensor_new(graph_arena(g), DT_F32, 2, (int64_t[]){b, 1});
    for (int64_t i = 0; i < b; i++) {
        int64_t t = 2 * (int64_t)idx[i] + side;
        for (int64_t k = d->start[t]; k < d->start[t + 1]; k++)
            A->data[i * Vb + d->slot[d->word[k]]] = d->sw[k];
        n->data[i] = d->known[t];
    }
    *n_out = n;
    return A;
}

// Word mode: x (b, D) of both sides, built in the graph from alpha = 1 + delta (see tune.h):
//     x_t = A_t (Ub * alpha_b) - n_t c,   c = (ps * alpha^T) U  (1, D)
static void word_features(Graph *g, TuneData *d, Tensor *delta, const int32_t *idx, int64_t b,
                          Tensor **xq, Tensor **xd)
{
    // The batch's distinct words get columns 0..Vb-1.
    int64_t Vb = 0;
    for (int64_t i = 0; i < b; i++)
        for (int side = 0; side < 2; side++) {
            int64_t t = 2 * (int64_t)idx[i] + side;
            for (int64_t k = d->start[t]; k < d->start[t + 1]; k++)
                if (d->slot[d->word[k]] < 0) {
                    d->slot[d->word[k]] = (int32_t)Vb;
                    d->uniq[Vb++] = d->word[k];
                }
        }
    Tensor *nq, *nd;
    Tensor *Aq = bag_matrix(g, d, idx, b, 0, Vb, &nq), *Ad = bag_matrix(g, d, idx, b, 1, Vb, &nd);
    for (int64_t j = 0; j < Vb; j++) d->slot[d->uniq[j]] = -1;
    Tensor *ids = tensor_from_i32(graph_arena(g), 1, (int64_t[]){Vb}, d->uniq);
    Tensor *Ub = tensor_new(graph_arena(g), DT_F32, 2, (int64_t[]){Vb, d->D});
    for (int64_t j = 0; j < Vb; j++)
        memcpy(Ub->data + j * d->D, d->U->data + (int64_t)d->uniq[j] * d->D,
               (size_t)d->D * sizeof(float));
    // alpha of the batch's words (Vb, 1) scales their vectors; alpha of all words (1, V)
    // weighs the centre.
    Tensor *alpha_b = tensor_add_scalar(g, tensor_embedding(g, delta, ids), 1.0f);
    Tensor *Ua = tensor_mul(g, Ub, alpha_b);
    Tensor *alpha = tensor_add_scalar(g, tensor_reshape(g, delta, 2, (int64_t[]){1, d->V}), 1.0f);
    Tensor *c = tensor_matmul(g, tensor_mul(g, d->ps, alpha), d->U); // (1, D)
    *xq = tensor_sub(g, tensor_matmul(g, Aq, Ua), tensor_mul(g, nq, c));
    *xd = tensor_sub(g, tensor_matmul(g, Ad, Ua), tensor_mul(g, nd, c));
}

// The loss of the batch idx[0..b) on g.
static Tensor *batch_loss(Graph *g, TuneData *d, Tensor *W, Tensor *delta, const int32_t *idx,
                          int64_t b, const RagTuneConfig *c)
{
    Tensor *xq, *xd;
    if (d->words) {
        word_features(g, d, delta, idx, b, &xq, &xd);
    } else {
        xq = gather_fixed(g, d, idx, b, 0);
        xd = gather_fixed(g, d, idx, b, 1);
    }
    return rag_tune_loss(g, W, xq, xd, c->tau, c->symmetric);
}

// Mean loss over consecutive full batches of size b of idx[0..n) (no gradient); NaN if n < 2.
static float eval_loss(Graph *g, TuneData *d, Tensor *W, Tensor *delta, const int32_t *idx,
                       int64_t n, int64_t b, const RagTuneConfig *c)
{
    if (n < 2) return NAN;
    if (b > n) b = n;
    bool prev = graph_set_grad_enabled(g, false);
    double sum = 0;
    int64_t batches = 0;
    for (int64_t s = 0; s + b <= n; s += b) {
        sum += tensor_item(batch_loss(g, d, W, delta, idx + s, b, c));
        batches++;
        graph_reset(g);
    }
    graph_set_grad_enabled(g, prev);
    return (float)(sum / (double)batches);
}

int rag_tune_train(const RagEmbedder *base, const RagTunePairs *pairs, const RagTuneConfig *cfg,
                   RagTuneResult *out)
{
    CHECK(base && pairs && cfg && out, "rag_tune_train: NULL argument");
    memset(out, 0, sizeof *out);
    int rc = check_config(base, pairs, cfg);
    if (rc != ERR_OK) return rc;
    double t0 = now();
    const int64_t D = base->w2v->dim, V = base->w2v->vocab;
    const int64_t Dout = cfg->dim_out > 0 ? cfg->dim_out : D;

    // 1. Features of every text, once; pairs with an empty side are dropped.
    TuneData data;
    tune_data_init(&data, base, pairs->n, cfg->word_weights);
    int64_t n = featurise(&data, base, pairs, cfg->progress);
    out->n_dropped = pairs->n - n;

    // 2. The train / validation cut, by a seeded shuffle of the usable pairs.
    Rng rng;
    rng_init(&rng, cfg->seed);
    int32_t *order = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    for (int64_t i = 0; i < n; i++) order[i] = (int32_t)i;
    rng_shuffle_i32(&rng, order, n);
    int64_t n_val = (int64_t)floor(cfg->val_fraction * (double)n + 0.5);
    if (n_val < 2) n_val = 0; // a batch of one has no negatives: no validation then
    int64_t n_train = n - n_val;
    if (n_train < 2) {
        tune_data_deinit(&data);
        free(order);
        return err_set(ERR_INVALID, "rag_tune_train: %lld usable training pairs of %lld (%lld "
                       "without a known word, %lld held out); hint: more pairs, or word "
                       "vectors that cover their words", (long long)n_train,
                       (long long)pairs->n, (long long)out->n_dropped, (long long)n_val);
    }
    int32_t *train_idx = order + n_val, *val_idx = order;
    int64_t B = cfg->batch < n_train ? cfg->batch : n_train;
    int64_t steps_per_epoch = n_train / B, total = steps_per_epoch * cfg->epochs;

    // 3. The parameters (P = E + W, alpha = 1 + delta; W = delta = 0 at the start), each with
    // its own AdamW so the two can have their own rate and decay.
    NnParams *pw = nn_params_create(), *pa = nn_params_create();
    Tensor *W = nn_params_add(pw, "proj.delta", 2, (int64_t[]){Dout, D});
    Tensor *delta = cfg->word_weights ? nn_params_add(pa, "word.delta", 2, (int64_t[]){V, 1})
                                      : NULL;
    NnOptimConfig oc = nn_optim_defaults(NN_OPTIM_ADAMW, cfg->lr);
    oc.weight_decay = cfg->weight_decay;
    NnOptimizer *opt_w = nn_optim_create(&oc);
    oc.lr = cfg->word_lr;
    oc.weight_decay = cfg->word_decay;
    NnOptimizer *opt_a = nn_optim_create(&oc);
    Graph *g = graph_create(0);
    float *best_w = xcalloc((size_t)(Dout * D), sizeof *best_w);
    float *best_a = delta ? xcalloc((size_t)V, sizeof *best_a) : NULL;

    out->dim_out = Dout;
    out->dim_in = D;
    out->n_train = n_train;
    out->n_val = n_val;
    out->train_loss = xmalloc((size_t)(cfg->epochs + 1) * sizeof *out->train_loss);
    out->val_loss = xmalloc((size_t)(cfg->epochs + 1) * sizeof *out->val_loss);
    out->train_loss[0] = eval_loss(g, &data, W, delta, train_idx, n_train, B, cfg);
    out->val_loss[0] = eval_loss(g, &data, W, delta, val_idx, n_val, B, cfg);
    float best_val = out->val_loss[0];
    int since_best = 0;

    // 4. Epochs of shuffled batches; the validation loss after each picks the P kept.
    NnProgressOpts po = {.items_per_step = B, .items_name = "pairs"};
    NnProgress *pb = cfg->progress && total > 0 ? nn_progress_start_opts(total, "tune", &po)
                                                : NULL;
    int64_t step = 0, warmup = total / 20;
    for (int e = 1; e <= cfg->epochs; e++) {
        rng_shuffle_i32(&rng, train_idx, n_train);
        double sum = 0;
        for (int64_t s = 0; s < steps_per_epoch; s++, step++) {
            Tensor *loss = batch_loss(g, &data, W, delta, train_idx + s * B, B, cfg);
            float lv = tensor_item(loss);
            graph_backward(g, loss);
            // Warmup, then cosine down to 5% of the peak, over the longest run.
            float f = nn_lr_schedule(NN_LR_WARMUP_COSINE, step, total, warmup, 1.0f, 0.05f);
            nn_optim_set_lr(opt_w, f * cfg->lr);
            nn_optim_step(opt_w, pw);
            if (delta) {
                nn_optim_set_lr(opt_a, f * cfg->word_lr);
                nn_optim_step(opt_a, pa);
            }
            nn_params_zero_grad(pw);
            nn_params_zero_grad(pa);
            graph_reset(g);
            sum += lv;
            if (pb)
                nn_progress_update(pb, step + 1, lv, "epoch %d | val %.4f", e,
                                   (double)out->val_loss[e - 1]);
        }
        out->train_loss[e] = (float)(sum / (double)steps_per_epoch);
        out->val_loss[e] = eval_loss(g, &data, W, delta, val_idx, n_val, B, cfg);
        out->epochs_run = e;
        // Without validation the last epoch is kept; otherwise the best one so far.
        if (n_val == 0 || out->val_loss[e] < best_val) {
            best_val = out->val_loss[e];
            out->best_epoch = e;
            memcpy(best_w, W->data, (size_t)(Dout * D) * sizeof *best_w);
            if (delta) memcpy(best_a, delta->data, (size_t)V * sizeof *best_a);
            since_best = 0;
        } else if (++since_best >= cfg->patience) {
            break;
        }
    }
    nn_progress_finish(pb);

    // 5. P = E + W and alpha = 1 + delta of the kept epoch (E and 1 when none improved).
    out->proj = best_w;
    for (int64_t i = 0; i < Dout && i < D; i++) out->proj[i * D + i] += 1.0f;
    if (best_a) {
        for (int64_t w = 0; w < V; w++) best_a[w] += 1.0f;
        out->word_weight = best_a;
        out->vocab = V;
    }
    graph_free(g);
    nn_optim_free(opt_w);
    nn_optim_free(opt_a);
    nn_params_free(pw);
    nn_params_free(pa);
    tune_data_deinit(&data);
    free(order);
    out->seconds = now() - t0;
    return ERR_OK;
}

RagEmbedder rag_tune_embedder(const NnW2v *w2v, float sif_a, const RagTuneResult *res)
{
    CHECK(res && res->proj && w2v && res->dim_in == w2v->dim,
          "rag_tune_embedder: need a trained result for these word vectors (D = %lld)",
          w2v ? (long long)w2v->dim : -1LL);
    return rag_embedder_w2v_proj(w2v, sif_a, res->proj, res->dim_out);
}

void rag_tune_w2v(const NnW2v *src, const RagTuneResult *res, NnW2v *dst)
{
    CHECK(src && res && dst && src->unit && src->hash_,
          "rag_tune_w2v: need loaded word vectors with unit rows and a result");
    CHECK(!res->word_weight || res->vocab == src->vocab,
          "rag_tune_w2v: the result has %lld word weights, the vectors %lld words",
          (long long)res->vocab, (long long)src->vocab);
    int64_t V = src->vocab, D = src->dim;
    size_t vd = (size_t)(V * D) * sizeof(float);
    memset(dst, 0, sizeof *dst);
    dst->vocab = V;
    dst->dim = D;
    dst->words = xmalloc((size_t)V * sizeof *dst->words);
    for (int64_t w = 0; w < V; w++) dst->words[w] = xstrdup(src->words[w]);
    dst->counts = xmalloc((size_t)V * sizeof *dst->counts);
    memcpy(dst->counts, src->counts, (size_t)V * sizeof *dst->counts);
    dst->emb = xmalloc(vd);
    memcpy(dst->emb, src->emb, vd);
    dst->unit = xmalloc(vd);
    memcpy(dst->unit, src->unit, vd);
    if (res->word_weight)
        for (int64_t w = 0; w < V; w++)
            for (int64_t j = 0; j < D; j++) dst->unit[w * D + j] *= res->word_weight[w];
    // The word -> id table holds ids only, so the copy of the words can share its layout.
    dst->hash_size_ = src->hash_size_;
    dst->hash_ = xmalloc((size_t)src->hash_size_ * sizeof *dst->hash_);
    memcpy(dst->hash_, src->hash_, (size_t)src->hash_size_ * sizeof *dst->hash_);
}

void rag_tune_result_free(RagTuneResult *res)
{
    if (!res) return;
    free(res->proj);
    free(res->word_weight);
    free(res->train_loss);
    free(res->val_loss);
    memset(res, 0, sizeof *res);
}
