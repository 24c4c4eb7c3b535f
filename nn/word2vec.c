/*
 * word2vec.c: skip-gram with negative sampling, trained by hand-written SGD (see word2vec.h).
 *
 * V = vocabulary size, D = vector size, K = negatives per (centre, context) pair.
 */
#include "nn/word2vec.h"

#include "core/arena.h"
#include "core/err.h"
#include "core/exercise.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "core/tensor.h"
#include "nn/similarity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// The gradient step
// ---------------------------------------------------------------------------

float nn_w2v_sgns_step(float *v_center, float *u_ctx, float *const *u_neg, int K, int64_t D,
                       float lr)
{
    // EXERCISE(w02.skipgram_grad): one SGD step of skip-gram with negative sampling.
    // With v = v_center, u = u_ctx, n_k = u_neg[k] and s(x) = 1 / (1 + exp(-x)), the loss is
    //     L = -log s(u . v) - sum_k log s(-n_k . v).
    // Its gradients: dL/du = (s(u . v) - 1) v, dL/dn_k = s(n_k . v) v, and
    //     dL/dv = (s(u . v) - 1) u + sum_k s(n_k . v) n_k.
    // Compute L (return it), then move every vector by -lr * its gradient, all gradients taken
    // at the old values: accumulate dL/dv in a local buffer (D <= NN_W2V_MAX_DIM floats) while
    // you update u and each n_k with the old v, and add -lr * dL/dv to v at the end.
    // Hint: log s(x) = -log(1 + exp(-x)) overflows for large -x; use log1p and the sign of x.
    // STUB: exercise_stub("w02.skipgram_grad"); (void)v_center; (void)u_ctx; (void)u_neg;
    // STUB: (void)K; (void)D; (void)lr; return NAN;
    CHECK(D > 0 && D <= NN_W2V_MAX_DIM, "sgns_step: D = %lld, want 1..%d", (long long)D,
          NN_W2V_MAX_DIM);
    float gv[NN_W2V_MAX_DIM]; // dL/dv, accumulated over the K + 1 output vectors
    memset(gv, 0, sizeof(float) * (size_t)D);
    double loss = 0;
    for (int k = -1; k < K; k++) {
        // k = -1 is the true context (label 1), k >= 0 the negatives (label 0).
        float *u = k < 0 ? u_ctx : u_neg[k];
        double dot = 0;
        for (int64_t i = 0; i < D; i++) dot += (double)u[i] * v_center[i];
        // The logistic loss of label y: -log s(dot) for y = 1, -log s(-dot) for y = 0; its
        // derivative in dot is s(dot) - y.
        // log s(dot) without overflow: -log(1 + e^-dot) for dot >= 0, else dot - log(1 + e^dot);
        // and log s(-dot) = log s(dot) - dot.
        double ls = dot >= 0 ? -log1p(exp(-dot)) : dot - log1p(exp(dot));
        double sig = dot >= 0 ? 1.0 / (1.0 + exp(-dot)) : exp(dot) / (1.0 + exp(dot));
        loss -= k < 0 ? ls : ls - dot;
        float g = (float)(sig - (k < 0 ? 1.0 : 0.0));
        for (int64_t i = 0; i < D; i++) {
            gv[i] += g * u[i];
            u[i] -= lr * g * v_center[i];
        }
    }
    for (int64_t i = 0; i < D; i++) v_center[i] -= lr * gv[i];
    return (float)loss;
    // END EXERCISE
}

// ---------------------------------------------------------------------------
// Words and the vocabulary
// ---------------------------------------------------------------------------

static int is_alnum_lc(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int nn_w2v_next_word(const char *text, int64_t *pos, char *buf)
{
    int64_t p = *pos;
    for (;;) {
        while (text[p] && !is_alnum_lc((unsigned char)text[p])) p++;
        if (!text[p]) {
            *pos = p;
            return 0;
        }
        int n = 0, too_long = 0;
        for (;;) {
            unsigned char c = (unsigned char)text[p];
            // ' and - belong to a word only between two letters or digits.
            int inner = (c == '\'' || c == '-') && n > 0 &&
                        is_alnum_lc((unsigned char)text[p + 1]);
            if (!is_alnum_lc(c) && !inner) break;
            if (n < NN_W2V_MAX_WORD - 1)
                buf[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            else
                too_long = 1;
            p++;
        }
        buf[n] = 0;
        if (!too_long) {
            *pos = p;
            return 1;
        }
    }
}

// FNV-1a: a simple, good-enough string hash for the open-addressing table.
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

// A growable word -> count table used while counting (before the vocabulary is fixed).
typedef struct {
    char **words;
    int64_t *counts;
    int64_t n, cap;
    int64_t *slots; // (size) ids or -1
    int64_t size;   // a power of two, kept > 2 n
} Counter;

static int64_t *slot_of(int64_t *slots, int64_t size, char *const *words, const char *w)
{
    uint64_t i = hash_str(w) & (uint64_t)(size - 1);
    while (slots[i] >= 0 && strcmp(words[slots[i]], w) != 0) i = (i + 1) & (uint64_t)(size - 1);
    return &slots[i];
}

static int64_t *new_slots(int64_t size)
{
    int64_t *s = xmalloc(sizeof(int64_t) * (size_t)size);
    for (int64_t i = 0; i < size; i++) s[i] = -1;
    return s;
}

static void counter_add(Counter *c, const char *w)
{
    int64_t *slot = slot_of(c->slots, c->size, c->words, w);
    if (*slot >= 0) {
        c->counts[*slot]++;
        return;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->words = xrealloc(c->words, sizeof(char *) * (size_t)c->cap);
        c->counts = xrealloc(c->counts, sizeof(int64_t) * (size_t)c->cap);
    }
    c->words[c->n] = xstrdup(w);
    c->counts[c->n] = 1;
    *slot = c->n++;
    if (2 * c->n >= c->size) { // grow and rehash
        free(c->slots);
        c->size *= 2;
        c->slots = new_slots(c->size);
        for (int64_t i = 0; i < c->n; i++)
            *slot_of(c->slots, c->size, c->words, c->words[i]) = i;
    }
}

static const char *const *g_sort_words; // qsort has no context argument
static const int64_t *g_sort_counts;

static int cmp_by_count(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    if (g_sort_counts[a] != g_sort_counts[b]) return g_sort_counts[a] > g_sort_counts[b] ? -1 : 1;
    return strcmp(g_sort_words[a], g_sort_words[b]);
}

// Builds m->hash_ from m->words.
static void build_hash(NnW2v *m)
{
    m->hash_size_ = 16;
    while (m->hash_size_ < 2 * m->vocab + 2) m->hash_size_ *= 2;
    m->hash_ = new_slots(m->hash_size_);
    for (int64_t i = 0; i < m->vocab; i++)
        *slot_of(m->hash_, m->hash_size_, m->words, m->words[i]) = i;
}

int64_t nn_w2v_find(const NnW2v *m, const char *word)
{
    CHECK(m && word, "nn_w2v_find: NULL argument");
    if (!m->hash_) return -1;
    return *slot_of(m->hash_, m->hash_size_, m->words, word);
}

int nn_w2v_init(NnW2v *m, const char *text, int64_t max_tokens, int min_count, int64_t dim,
                uint64_t seed)
{
    CHECK(m && text, "nn_w2v_init: NULL argument");
    CHECK(dim > 0 && dim <= NN_W2V_MAX_DIM, "nn_w2v_init: dim %lld, want 1..%d", (long long)dim,
          NN_W2V_MAX_DIM);
    memset(m, 0, sizeof *m);
    Counter c = {.size = 1024};
    c.slots = new_slots(c.size);
    char buf[NN_W2V_MAX_WORD];
    int64_t pos = 0, ntok = 0;
    while ((max_tokens <= 0 || ntok < max_tokens) && nn_w2v_next_word(text, &pos, buf)) {
        counter_add(&c, buf);
        ntok++;
    }
    // Sort the ids by count, then keep those seen often enough.
    int64_t *order = xmalloc(sizeof(int64_t) * (size_t)(c.n ? c.n : 1));
    for (int64_t i = 0; i < c.n; i++) order[i] = i;
    g_sort_words = (const char *const *)c.words, g_sort_counts = c.counts;
    qsort(order, (size_t)c.n, sizeof(int64_t), cmp_by_count);
    int64_t V = 0;
    while (V < c.n && c.counts[order[V]] >= min_count) V++;
    if (V > 0) {
        m->vocab = V, m->dim = dim;
        m->words = xmalloc(sizeof(char *) * (size_t)V);
        m->counts = xmalloc(sizeof(int64_t) * (size_t)V);
        for (int64_t i = 0; i < V; i++) {
            m->words[i] = c.words[order[i]];
            c.words[order[i]] = NULL; // moved into the model
            m->counts[i] = c.counts[order[i]];
        }
        build_hash(m);
        // word2vec's initialisation: small uniform input vectors, zero output vectors (so the
        // first gradients of v are zero and the output vectors move first).
        Rng rng;
        rng_init(&rng, seed);
        size_t n = (size_t)(V * dim);
        m->emb = xmalloc(sizeof(float) * n);
        m->ctx = xcalloc(n, sizeof(float));
        m->unit = xmalloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++) m->emb[i] = (rng_uniform(&rng) - 0.5f) / (float)dim;
        nn_w2v_normalize(m);
    }
    for (int64_t i = 0; i < c.n; i++) free(c.words[i]);
    free(c.words), free(c.counts), free(c.slots), free(order);
    if (V == 0)
        return err_set(ERR_INVALID, "word2vec: no word of the text (%lld words) occurs %d times "
                       "or more; hint: lower min_count or give a longer text",
                       (long long)ntok, min_count);
    return ERR_OK;
}

void nn_w2v_deinit(NnW2v *m)
{
    if (!m) return;
    for (int64_t i = 0; i < m->vocab && m->words; i++) free(m->words[i]);
    free(m->words), free(m->counts), free(m->emb), free(m->ctx), free(m->unit), free(m->hash_);
    memset(m, 0, sizeof *m);
}

void nn_w2v_normalize(NnW2v *m)
{
    memcpy(m->unit, m->emb, sizeof(float) * (size_t)(m->vocab * m->dim));
    nn_normalize_rows(m->unit, m->vocab, m->dim);
}

// ---------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------

void nn_w2v_neg_table(int32_t *table, int64_t size, const int64_t *counts, int64_t V)
{
    CHECK(table && counts && size > 0 && V > 0, "nn_w2v_neg_table: bad arguments");
    double total = 0;
    for (int64_t i = 0; i < V; i++) total += pow((double)counts[i], 0.75);
    // Word i fills the slots up to the cumulative share of its weight.
    int64_t i = 0;
    double cum = pow((double)counts[0], 0.75) / total;
    for (int64_t s = 0; s < size; s++) {
        table[s] = (int32_t)i;
        if ((double)(s + 1) / (double)size > cum && i < V - 1) {
            i++;
            cum += pow((double)counts[i], 0.75) / total;
        }
    }
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// One progress line: on a terminal it rewrites itself (\r), otherwise it is a plain line.
static void progress(int tty, int epoch, int epochs, int64_t done, int64_t total, double t0,
                     float loss, int final)
{
    double el = now_sec() - t0, rate = el > 0 ? (double)done / el : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "%sword2vec epoch %d/%d  words %lld/%lld  %.0f words/s  loss %.3f  %s %.0fs%s",
            tty ? "\r" : "", epoch, epochs, (long long)done, (long long)total, rate, loss,
            final ? "took" : "ETA", final ? el : eta, tty && !final ? "   " : "\n");
    fflush(stderr);
}

int nn_w2v_train(NnW2v *m, const char *text, int64_t max_tokens, const NnW2vConfig *cfg,
                 NnW2vStats *stats)
{
    CHECK(m && text && cfg, "nn_w2v_train: NULL argument");
    CHECK(cfg->window >= 1 && cfg->negatives >= 1 && cfg->negatives <= 64 && cfg->epochs >= 1,
          "nn_w2v_train: window %d, negatives %d, epochs %d", cfg->window, cfg->negatives,
          cfg->epochs);
    if (!m->ctx)
        return err_set(ERR_INVALID, "word2vec: the model has no output vectors; hint: a loaded "
                       "model cannot be trained further, build one with nn_w2v_init");
    // The text as word ids (unknown words dropped, as word2vec does).
    int64_t cap = 1 << 16, n = 0, ntok = 0, pos = 0;
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)cap);
    char buf[NN_W2V_MAX_WORD];
    while ((max_tokens <= 0 || ntok < max_tokens) && nn_w2v_next_word(text, &pos, buf)) {
        ntok++;
        int64_t id = nn_w2v_find(m, buf);
        if (id < 0) continue;
        if (n == cap) ids = xrealloc(ids, sizeof(int32_t) * (size_t)(cap *= 2));
        ids[n++] = (int32_t)id;
    }
    if (n == 0) {
        free(ids);
        return err_set(ERR_INVALID, "word2vec: the training text has no vocabulary word; "
                       "hint: build the vocabulary from the same text");
    }
    // Subsampling keep-probabilities (Mikolov's formula with t scaled by the corpus size).
    const int64_t V = m->vocab, D = m->dim;
    float *keep = xmalloc(sizeof(float) * (size_t)V);
    for (int64_t i = 0; i < V; i++) {
        double tf = (double)cfg->subsample * (double)n, f = (double)m->counts[i];
        keep[i] = cfg->subsample > 0 ? (float)((sqrt(f / tf) + 1) * tf / f) : 1.0f;
    }
    const int64_t table_size = 1 << 22;
    int32_t *table = xmalloc(sizeof(int32_t) * (size_t)table_size);
    nn_w2v_neg_table(table, table_size, m->counts, V);
    int32_t *sent = xmalloc(sizeof(int32_t) * (size_t)n);
    Rng rng;
    rng_init(&rng, cfg->seed);
    const int K = cfg->negatives;
    float *negs[64];
    const int64_t total = n * cfg->epochs;
    int tty = isatty(2);
    double t0 = now_sec(), last = t0;
    double tail = 0, recent = 0; // loss sums: the last 1% of the run, and since the last print
    int64_t tail_n = 0, trained = 0, recent_n = 0;
    for (int ep = 0; ep < cfg->epochs; ep++) {
        // This epoch's subsampled text (a fresh draw each epoch).
        int64_t ns = 0;
        for (int64_t i = 0; i < n; i++)
            if (keep[ids[i]] >= 1.0f || rng_uniform(&rng) < keep[ids[i]]) sent[ns++] = ids[i];
        for (int64_t i = 0; i < ns; i++) {
            // Progress in corpus words: position i of ns stands for i * n / ns words.
            int64_t done = ep * n + (int64_t)((double)i * (double)n / (double)ns);
            float lr = cfg->lr * fmaxf(1e-4f, 1.0f - (float)done / (float)total);
            int b = 1 + (int)rng_below(&rng, (uint32_t)cfg->window);
            float *v = m->emb + (int64_t)sent[i] * D;
            for (int64_t j = i - b; j <= i + b; j++) {
                if (j < 0 || j >= ns || j == i) continue;
                int32_t o = sent[j];
                for (int k = 0; k < K; k++) {
                    int32_t w = table[rng_u64(&rng) >> 42]; // 22 bits: table_size
                    if (w == o) w = table[rng_u64(&rng) >> 42];
                    negs[k] = m->ctx + (int64_t)w * D;
                }
                float l = nn_w2v_sgns_step(v, m->ctx + (int64_t)o * D, negs, K, D, lr);
                recent += l, recent_n++;
                if (done >= total - total / 100) tail += l, tail_n++;
            }
            trained++;
            if (cfg->progress && (i & 4095) == 0) {
                double t = now_sec();
                if (t - last > (tty ? 0.25 : 5.0)) {
                    progress(tty, ep + 1, cfg->epochs, done, total, t0,
                             (float)(recent / (double)(recent_n ? recent_n : 1)), 0);
                    last = t, recent = 0, recent_n = 0;
                }
            }
        }
    }
    double secs = now_sec() - t0;
    float final_loss = tail_n ? (float)(tail / (double)tail_n) : NAN;
    if (cfg->progress)
        progress(tty, cfg->epochs, cfg->epochs, total, total, t0, final_loss, 1);
    if (stats) {
        stats->words_trained = trained;
        stats->seconds = secs;
        stats->words_per_sec = secs > 0 ? (double)total / secs : 0;
        stats->final_loss = final_loss;
    }
    free(ids), free(keep), free(table), free(sent);
    nn_w2v_normalize(m);
    return ERR_OK;
}

// ---------------------------------------------------------------------------
// Queries: neighbours, analogies, texts
// ---------------------------------------------------------------------------

int64_t nn_w2v_neighbors(const NnW2v *m, const float *q, const int64_t *exclude, int n_exclude,
                         int64_t k, int64_t *idx, float *scores)
{
    CHECK(m && q && idx && k >= 1, "nn_w2v_neighbors: bad arguments");
    const int64_t V = m->vocab, D = m->dim;
    float *qn = xmalloc(sizeof(float) * (size_t)D), *sims = xmalloc(sizeof(float) * (size_t)V);
    memcpy(qn, q, sizeof(float) * (size_t)D);
    nn_normalize_rows(qn, 1, D);
    nn_cosine_matrix(sims, qn, 1, m->unit, V, D);
    for (int e = 0; e < n_exclude; e++)
        if (exclude[e] >= 0 && exclude[e] < V) sims[exclude[e]] = -INFINITY;
    int64_t avail = V - n_exclude, kk = k < avail ? k : avail;
    if (kk < 0) kk = 0;
    if (kk > 0) nn_topk(idx, scores, sims, V, kk);
    free(qn), free(sims);
    return kk;
}

int64_t nn_w2v_analogy(const NnW2v *m, const char *a, const char *b, const char *c,
                       float *score)
{
    int64_t ids[3] = {nn_w2v_find(m, a), nn_w2v_find(m, b), nn_w2v_find(m, c)};
    if (ids[0] < 0 || ids[1] < 0 || ids[2] < 0) return -1;
    const int64_t D = m->dim;
    float *q = xmalloc(sizeof(float) * (size_t)D);
    for (int64_t i = 0; i < D; i++)
        q[i] = m->unit[ids[1] * D + i] - m->unit[ids[0] * D + i] + m->unit[ids[2] * D + i];
    int64_t best = -1;
    float s = 0;
    // Distinct ids only, so a repeated query word is not excluded twice.
    int nx = ids[1] == ids[0] ? 1 : 2;
    int64_t ex[3] = {ids[0], ids[1], ids[2]};
    if (ids[2] != ids[0] && ids[2] != ids[1]) nx++;
    else ex[2] = ex[0];
    if (nn_w2v_neighbors(m, q, ex, nx, 1, &best, &s) < 1) best = -1;
    if (score) *score = s;
    free(q);
    return best;
}

int64_t nn_w2v_text_vector(const NnW2v *m, const char *text, float *out, char *unknown)
{
    const int64_t D = m->dim;
    memset(out, 0, sizeof(float) * (size_t)D);
    if (unknown) unknown[0] = 0;
    char buf[NN_W2V_MAX_WORD];
    int64_t pos = 0, known = 0;
    while (nn_w2v_next_word(text, &pos, buf)) {
        int64_t id = nn_w2v_find(m, buf);
        if (id < 0) {
            if (unknown && !unknown[0]) memcpy(unknown, buf, strlen(buf) + 1);
            continue;
        }
        for (int64_t i = 0; i < D; i++) out[i] += m->unit[id * D + i];
        known++;
    }
    for (int64_t i = 0; known > 0 && i < D; i++) out[i] /= (float)known;
    return known;
}

// ---------------------------------------------------------------------------
// WordNet evaluation
// ---------------------------------------------------------------------------

// The vocabulary ids of w's WordNet synonyms (single words only, w excluded), up to max.
static int synonyms_in_vocab(const NnW2v *m, const DsWordNet *wn, int64_t w, int64_t *out,
                             int max)
{
    int64_t syn[64];
    int64_t ns = ds_wordnet_lookup(wn, m->words[w], syn, 64), n = 0;
    if (ns > 64) ns = 64;
    for (int64_t s = 0; s < ns; s++) {
        const DsSynset *ss = &wn->synsets[syn[s]];
        for (int64_t j = 0; j < ss->n_words && n < max; j++) {
            const char *word = ds_wordnet_word(wn, syn[s], j);
            char lc[NN_W2V_MAX_WORD];
            size_t len = strlen(word);
            if (len >= sizeof lc || strchr(word, ' ')) continue;
            for (size_t i = 0; i <= len; i++)
                lc[i] = (char)(word[i] >= 'A' && word[i] <= 'Z' ? word[i] + 32 : word[i]);
            int64_t id = nn_w2v_find(m, lc);
            if (id < 0 || id == w) continue;
            int dup = 0;
            for (int64_t k = 0; k < n; k++) dup |= out[k] == id;
            if (!dup) out[n++] = id;
        }
    }
    return (int)n;
}

void nn_w2v_eval_wordnet(const NnW2v *m, const float *unit, const DsWordNet *wn, int64_t n_words,
                         NnW2vEval *out)
{
    CHECK(m && unit && wn && out, "nn_w2v_eval_wordnet: NULL argument");
    const int64_t V = m->vocab, D = m->dim;
    memset(out, 0, sizeof *out);
    float *sims = xmalloc(sizeof(float) * (size_t)V);
    int64_t syn[256];
    for (int64_t w = 0; w < V && out->n_eval < n_words; w++) {
        if (strlen(m->words[w]) < 3) continue;
        int ns = synonyms_in_vocab(m, wn, w, syn, 256);
        if (ns == 0) continue;
        nn_cosine_matrix(sims, unit + w * D, 1, unit, V, D);
        float best = -INFINITY;
        for (int s = 0; s < ns; s++) best = fmaxf(best, sims[syn[s]]);
        // Rank of the best synonym: 1 + the other words (not w) that score strictly higher.
        int64_t rank = 1;
        for (int64_t j = 0; j < V; j++) rank += j != w && sims[j] > best;
        out->n_eval++;
        out->mrr += 1.0 / (double)rank;
        out->recall10 += rank <= 10;
    }
    if (out->n_eval > 0) out->mrr /= (double)out->n_eval, out->recall10 /= (double)out->n_eval;
    free(sims);
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

int nn_w2v_save(const NnW2v *m, const char *path)
{
    CHECK(m && path && m->vocab > 0, "nn_w2v_save: empty model or NULL path");
    const int64_t V = m->vocab, D = m->dim;
    size_t len = 0;
    for (int64_t i = 0; i < V; i++) len += strlen(m->words[i]) + 1;
    char *vocab = xmalloc(len + 1), *p = vocab;
    for (int64_t i = 0; i < V; i++) {
        size_t l = strlen(m->words[i]);
        memcpy(p, m->words[i], l);
        p += l;
        *p++ = i + 1 < V ? '\n' : 0;
    }
    int32_t *counts = xmalloc(sizeof(int32_t) * (size_t)V);
    for (int64_t i = 0; i < V; i++) counts[i] = (int32_t)(m->counts[i] > INT32_MAX ? INT32_MAX
                                                                                   : m->counts[i]);
    Arena *a = arena_create(0);
    StEntry e[2] = {{"embeddings", tensor_from(a, 2, (int64_t[]){V, D}, m->emb)},
                    {"counts", tensor_from_i32(a, 1, (int64_t[]){V}, counts)}};
    const char *meta[4] = {"format", "engine-word2vec-1", "vocab", vocab};
    int rc = st_save(path, e, 2, meta, 2);
    arena_free(a);
    free(vocab), free(counts);
    return rc;
}

int nn_w2v_load(NnW2v *m, const char *path)
{
    CHECK(m && path, "nn_w2v_load: NULL argument");
    memset(m, 0, sizeof *m);
    StFile *f;
    int rc = st_open(path, &f);
    if (rc != ERR_OK) return rc;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const char *vocab = st_meta(f, "vocab");
    Arena *a = arena_create(0);
    Tensor *emb = NULL, *cnt = NULL;
    if (!vocab) {
        rc = err_set(ERR_FORMAT, "%s: no \"vocab\" in __metadata__; hint: write the file with "
                     "nn_w2v_save", path);
        goto out;
    }
    if ((rc = st_info(f, "embeddings", &ndim, shape, NULL)) != ERR_OK) goto out;
    if (ndim != 2 || shape[0] < 1 || shape[1] < 1 || shape[1] > NN_W2V_MAX_DIM) {
        rc = err_set(ERR_SHAPE, "%s: \"embeddings\" must be (V, D) with 1 <= D <= %d; hint: "
                     "write the file with nn_w2v_save", path, NN_W2V_MAX_DIM);
        goto out;
    }
    if ((rc = st_read(f, "embeddings", a, &emb)) != ERR_OK) goto out;
    if ((rc = st_read(f, "counts", a, &cnt)) != ERR_OK) goto out;
    const int64_t V = shape[0], D = shape[1];
    if (cnt->dtype != DT_I32 || cnt->ndim != 1 || cnt->shape[0] != V) {
        rc = err_set(ERR_SHAPE, "%s: \"counts\" must be integers of shape (%lld,) like the "
                     "embedding rows; hint: the file is inconsistent, save it again", path,
                     (long long)V);
        goto out;
    }
    m->vocab = V, m->dim = D;
    m->words = xcalloc((size_t)V, sizeof(char *));
    m->counts = xmalloc(sizeof(int64_t) * (size_t)V);
    const char *p = vocab;
    for (int64_t i = 0; i < V; i++) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0 || l >= NN_W2V_MAX_WORD || (!e && i + 1 < V) || (e && i + 1 == V)) {
            rc = err_set(ERR_FORMAT, "%s: metadata \"vocab\" word %lld is empty, too long, or "
                         "the word count differs from the %lld embedding rows; hint: save the "
                         "file again", path, (long long)i, (long long)V);
            goto out;
        }
        m->words[i] = xmalloc(l + 1);
        memcpy(m->words[i], p, l);
        m->words[i][l] = 0;
        m->counts[i] = cnt->idata[i];
        p = e ? e + 1 : p + l;
    }
    build_hash(m);
    for (int64_t i = 0; i < V; i++)
        if (nn_w2v_find(m, m->words[i]) != i) {
            rc = err_set(ERR_FORMAT, "%s: metadata \"vocab\" has the word '%s' twice; hint: "
                         "save the file again", path, m->words[i]);
            goto out;
        }
    m->emb = xmalloc(sizeof(float) * (size_t)(V * D));
    m->unit = xmalloc(sizeof(float) * (size_t)(V * D));
    tensor_copy_to(emb, m->emb);
    nn_w2v_normalize(m);
out:
    if (rc != ERR_OK) nn_w2v_deinit(m);
    arena_free(a);
    st_close(f);
    return rc;
}
