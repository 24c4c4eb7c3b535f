/*
 * generate.c: the KV-cache forward pass (see generate.h for the contract).
 *
 * One forward over n new rows at positions pos..pos+n-1, x (n, C):
 *     x = tok_emb[tokens] (+ pos_emb[pos + i], gpt2)
 *     per layer l:
 *         z = n1(x);  q = z Wq^T (+bq),  k = z Wk^T (+bk),  v = z Wv^T (+bv)
 *         llama: rotate every head of q and k at its position (tf_rope_rotate's angles,
 *                computed once per row: rope_table)
 *         kcache[l][g][pos + i] = k row i, head g; same for v
 *         per head h, g = h / (H / KVH), t = pos + n keys:
 *             S = q_h K_g^T / sqrt(hd)      (n, t)
 *             row i: causal softmax over keys 0..pos+i (tf_attn_softmax_causal)
 *             o_h = S V_g                    (n, hd)
 *         x += o Wo^T (+bo)
 *         z = n2(x);  x += Wdown gelu(Wup z + bup) + bdown      (gpt2)
 *                     x += Wdown (silu(Wgate z) * Wup z)         (llama)
 *     logits = n_f(x[n-1]) E^T   (E = tok_emb when tied, else lm_head)
 * Only the last row goes through the final norm and the vocabulary projection: the caller
 * wants one distribution.
 *
 * Each projection is one BLAS call: sgemm for n > 1 rows, sgemv for a single row (machine
 * facts: a 1-row sgemm reaches ~7 GFLOP/s, sgemv ~40). The cache is laid out
 * (L, KVH, max_T, hd), so the keys of one (layer, kv head) are a contiguous (t, hd) matrix
 * that S = q K^T reads with leading dimension hd.
 */
#include "transformer/generate.h"

#include "core/fastmath.h"

#include "core/err.h"
#include "core/exercise.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct TfInfer {
    const TfModel *m; // borrowed
    int max_T;        // cache capacity (positions)
    int len;          // positions cached
    int threads;      // OpenBLAS threads used by tf_infer_forward
    int cap_rows;     // rows the scratch buffers hold
    float *kc, *vc;   // (L, KVH, max_T, hd)
    // scratch, cap_rows rows each
    float *x;      // (n, C) the residual stream
    float *z;      // (n, C) normalised input of a sublayer
    float *q;      // (n, H*hd)
    float *k, *v;  // (n, KVH*hd)
    float *o;      // (n, H*hd) attention output before Wo
    float *y;      // (n, C) sublayer output before the residual add
    float *f1, *f2;// (n, F) MLP hidden (f2: llama's gate)
    float *s;      // (n, max_T) attention scores of one head
    float *rope;   // (n, hd) RoPE's (cos, sin) pairs of each row's position
    float *logits; // (V,)
};

// ---------------------------------------------------------------------------
// Kernels: norms, activations, linear layers
// ---------------------------------------------------------------------------

static void norm_rows(const TfModel *m, float *y, const float *x, const Tensor *w, const Tensor *b,
                      int n)
{
    const TfConfig *c = &m->cfg;
    if (c->arch == TF_GPT2)
        tensor_layernorm_rows(y, NULL, NULL, x, w ? w->data : NULL, b ? b->data : NULL, n,
                              c->d_model, c->norm_eps);
    else
        tensor_rmsnorm_rows(y, NULL, x, w ? w->data : NULL, n, c->d_model, c->norm_eps);
}

// y (n, out) = x (n, in) W^T (+ b), W (out, in). The bias is added after the product, as the
// graph adds it (tensor_add after tensor_matmul).
static void linear(float *y, const float *x, const Tensor *W, const Tensor *b, int n, int in,
                   int out)
{
    if (n == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, W->data, in, x, 1, 0.0f, y, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, W->data,
                    in, 0.0f, y, out);
    if (b)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < out; j++) y[(size_t)i * out + j] += b->data[j];
}


// ---------------------------------------------------------------------------
// RoPE and the causal softmax (exercises)
// ---------------------------------------------------------------------------

void tf_rope_rotate(float *x, int hd, int pos, float base)
{
    // EXERCISE(w03.rope): rotate each adjacent pair (x[2i], x[2i+1]) of the head vector by the
    // angle pos * base^(-2i/hd). Compute the frequency, the angle, cos and sin in double, round
    // cos and sin to float, then x[2i] <- x0 cos - x1 sin, x[2i+1] <- x0 sin + x1 cos (read
    // both x0 and x1 before writing).
    // STUB: exercise_stub("w03.rope"); (void)pos; (void)base;
    // STUB: for (int i = 0; i < hd; i++) x[i] = NAN;
    for (int i = 0; i < hd / 2; i++) {
        double freq = pow((double)base, -2.0 * (double)i / (double)hd);
        double ang = (double)pos * freq;
        float c = (float)cos(ang), s = (float)sin(ang);
        float x0 = x[2 * i], x1 = x[2 * i + 1];
        x[2 * i] = x0 * c - x1 * s;
        x[2 * i + 1] = x0 * s + x1 * c;
    }
    // END EXERCISE
}

void tf_attn_softmax_causal(float *scores, int n_visible, int n_total)
{
    CHECK(n_visible >= 1 && n_visible <= n_total, "attn_softmax_causal: n_visible %d of %d",
          n_visible, n_total);
    // EXERCISE(w03.causal_mask): softmax over scores[0..n_visible) only (the keys the query may
    // see), stably: subtract the max, exponentiate, sum in double, multiply by 1/sum. Then set
    // scores[n_visible..n_total) to exactly 0 (the future gets no weight).
    // STUB: exercise_stub("w03.causal_mask");
    // STUB: for (int j = 0; j < n_total; j++) scores[j] = NAN;
    float mx = -INFINITY;
    for (int j = 0; j < n_visible; j++) mx = scores[j] > mx ? scores[j] : mx;
    double sum = 0.0;
    for (int j = 0; j < n_visible; j++) {
        scores[j] = expf(scores[j] - mx);
        sum += scores[j];
    }
    float r = (float)(1.0 / sum);
    for (int j = 0; j < n_visible; j++) scores[j] *= r;
    for (int j = n_visible; j < n_total; j++) scores[j] = 0.0f;
    // END EXERCISE
}

// The (cos, sin) of every pair of a head at position pos, as cs[2i] = cos, cs[2i+1] = sin:
// exactly what tf_rope_rotate makes of the unit pairs (1, 0) (1 cos - 0 sin = cos and
// 1 sin + 0 cos = sin, with no rounding), so the table is the exercise's own angles.
static void rope_table(float *cs, int hd, int pos, float base)
{
    for (int i = 0; i < hd; i += 2) cs[i] = 1.0f, cs[i + 1] = 0.0f;
    tf_rope_rotate(cs, hd, pos, base);
}

// tf_rope_rotate with the angles of rope_table: the same products and sums, so the same bits.
static void rope_apply(float *x, const float *cs, int hd)
{
    for (int i = 0; i < hd; i += 2) {
        float c = cs[i], s = cs[i + 1];
        float x0 = x[i], x1 = x[i + 1];
        x[i] = x0 * c - x1 * s;
        x[i + 1] = x0 * s + x1 * c;
    }
}

// ---------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------

static void check_weight(const Tensor *t, int64_t rows, int64_t cols, const char *what)
{
    CHECK(t && t->dtype == DT_F32 && tensor_is_contiguous(t), "tf_infer: %s missing or strided",
          what);
    int64_t n = tensor_numel(t);
    CHECK(n == rows * cols, "tf_infer: %s has %lld elements, want %lld x %lld", what,
          (long long)n, (long long)rows, (long long)cols);
}

// Decoding reads every weight once per token. Measured on 2 cores (bench_generate): while the
// weights fit in cache (TINY, 3 MB) decode is latency-bound and a second OpenBLAS thread only
// adds wake-ups (1 thread ~1.6x faster); once they do not (SMALL, 42 MB) it is bound by memory
// bandwidth and a second core adds bandwidth (2 threads ~1.8x faster). The pool size is the one
// OpenBLAS had at the first call (OPENBLAS_NUM_THREADS or the core count).
#define TF_INFER_MT_BYTES (8u << 20)

static int default_threads(const TfModel *m)
{
    static int pool = 0;
    if (pool == 0) pool = openblas_get_num_threads();
    size_t bytes = 0;
    for (int i = 0; i < nn_params_count(m->params); i++)
        bytes += (size_t)tensor_numel(nn_params_at(m->params, i)->t) * sizeof(float);
    return bytes > TF_INFER_MT_BYTES && pool > 1 ? pool : 1;
}

TfInfer *tf_infer_create(const TfModel *m, int max_T)
{
    const TfConfig *c = &m->cfg;
    CHECK(max_T >= 1, "tf_infer_create: max_T = %d", max_T);
    CHECK(c->arch != TF_GPT2 || max_T <= c->ctx,
          "tf_infer_create: max_T %d exceeds the gpt2 position table (ctx %d)", max_T, c->ctx);
    CHECK(c->n_layer >= 1 && c->n_layer <= TF_MAX_LAYERS && c->n_head >= 1 &&
              c->d_model % c->n_head == 0 && c->n_kv_head >= 1 && c->n_head % c->n_kv_head == 0,
          "tf_infer_create: inconsistent config (L %d, C %d, H %d, KVH %d)", c->n_layer,
          c->d_model, c->n_head, c->n_kv_head);
    int C = c->d_model, hd = C / c->n_head, F = c->d_ff;
    CHECK(c->arch != TF_LLAMA || hd % 2 == 0, "tf_infer_create: RoPE needs an even head size");
    // Every weight the forward reads must be a contiguous matrix of the documented shape.
    check_weight(m->tok_emb, c->vocab, C, "token_embd");
    if (c->arch == TF_GPT2) check_weight(m->pos_emb, c->ctx, C, "pos_embd");
    if (!c->tie_embeddings && m->lm_head) check_weight(m->lm_head, c->vocab, C, "output");
    for (int l = 0; l < c->n_layer; l++) {
        const TfLayer *ly = &m->layer[l];
        check_weight(ly->wq, (int64_t)c->n_head * hd, C, "attn_q");
        check_weight(ly->wk, (int64_t)c->n_kv_head * hd, C, "attn_k");
        check_weight(ly->wv, (int64_t)c->n_kv_head * hd, C, "attn_v");
        check_weight(ly->wo, C, (int64_t)c->n_head * hd, "attn_output");
        check_weight(ly->w_up, F, C, "ffn_up");
        check_weight(ly->w_down, C, F, "ffn_down");
        if (c->arch == TF_LLAMA) check_weight(ly->w_gate, F, C, "ffn_gate");
    }
    TfInfer *s = xcalloc(1, sizeof *s);
    s->m = m;
    s->max_T = max_T;
    s->threads = default_threads(m);
    size_t cache = (size_t)c->n_layer * c->n_kv_head * max_T * hd;
    s->kc = xcalloc(cache, sizeof(float));
    s->vc = xcalloc(cache, sizeof(float));
    s->logits = xcalloc((size_t)c->vocab, sizeof(float));
    return s;
}

void tf_infer_free(TfInfer *s)
{
    if (!s) return;
    free(s->kc);
    free(s->vc);
    free(s->x);
    free(s->z);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->o);
    free(s->y);
    free(s->f1);
    free(s->f2);
    free(s->s);
    free(s->rope);
    free(s->logits);
    free(s);
}

void tf_infer_reset(TfInfer *s) { s->len = 0; }

int tf_infer_len(const TfInfer *s) { return s->len; }

int tf_infer_max_T(const TfInfer *s) { return s->max_T; }

const TfModel *tf_infer_model(const TfInfer *s) { return s->m; }

int tf_infer_set_threads(TfInfer *s, int n)
{
    CHECK(n >= 1, "tf_infer_set_threads: n = %d", n);
    int old = s->threads;
    s->threads = n;
    return old;
}

// Grows the scratch buffers to hold n rows (prefill sizes them once; decode reuses them).
static void ensure_rows(TfInfer *s, int n)
{
    if (n <= s->cap_rows) return;
    const TfConfig *c = &s->m->cfg;
    size_t C = (size_t)c->d_model, hd = C / (size_t)c->n_head;
    size_t qd = (size_t)c->n_head * hd, kvd = (size_t)c->n_kv_head * hd, F = (size_t)c->d_ff;
    size_t r = (size_t)n;
    s->x = xrealloc(s->x, r * C * sizeof(float));
    s->z = xrealloc(s->z, r * C * sizeof(float));
    s->q = xrealloc(s->q, r * qd * sizeof(float));
    s->k = xrealloc(s->k, r * kvd * sizeof(float));
    s->v = xrealloc(s->v, r * kvd * sizeof(float));
    s->o = xrealloc(s->o, r * qd * sizeof(float));
    s->y = xrealloc(s->y, r * C * sizeof(float));
    s->f1 = xrealloc(s->f1, r * F * sizeof(float));
    s->f2 = xrealloc(s->f2, r * F * sizeof(float));
    s->s = xrealloc(s->s, r * (size_t)s->max_T * sizeof(float));
    s->rope = xrealloc(s->rope, r * hd * sizeof(float));
    s->cap_rows = n;
}

// ---------------------------------------------------------------------------
// The forward pass
// ---------------------------------------------------------------------------

// Attention of n query rows (at positions pos..pos+n-1) of layer l against the cache, whose
// rows 0..pos+n-1 already hold this call's keys and values. Writes s->o (n, H*hd).
static void attention(TfInfer *s, int l, int n, int pos)
{
    const TfConfig *c = &s->m->cfg;
    int H = c->n_head, KVH = c->n_kv_head, hd = c->d_model / H, group = H / KVH;
    int t = pos + n, qd = H * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < H; h++) {
        size_t at = ((size_t)l * KVH + h / group) * s->max_T * hd;
        const float *K = s->kc + at, *V = s->vc + at; // (t, hd) each
        const float *Q = s->q + (size_t)h * hd;        // n rows at stride qd
        float *O = s->o + (size_t)h * hd;              // n rows at stride qd
        float *S = s->s;                               // (n, t)
        if (n == 1) {
            // S = scale K q (t,), o = V^T p (hd,)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, t, hd, scale, K, hd, Q, 1, 0.0f, S, 1);
            tf_attn_softmax_causal(S, t, t);
            cblas_sgemv(CblasRowMajor, CblasTrans, t, hd, 1.0f, V, hd, S, 1, 0.0f, O, 1);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, t, hd, scale, Q, qd, K, hd,
                        0.0f, S, t);
            for (int i = 0; i < n; i++) tf_attn_softmax_causal(S + (size_t)i * t, pos + i + 1, t);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, t, 1.0f, S, t, V, hd,
                        0.0f, O, qd);
        }
    }
}

const float *tf_infer_forward(TfInfer *s, const int32_t *tokens, int n, int pos)
{
    const TfModel *m = s->m;
    const TfConfig *c = &m->cfg;
    CHECK(n >= 1 && pos >= 0 && pos <= s->len && pos + n <= s->max_T,
          "tf_infer_forward: %d tokens at pos %d with %d cached, capacity %d", n, pos, s->len,
          s->max_T);
    for (int i = 0; i < n; i++)
        CHECK(tokens[i] >= 0 && tokens[i] < c->vocab, "tf_infer_forward: token %d = %d, vocab %d",
              i, (int)tokens[i], c->vocab);
    if (openblas_get_num_threads() != s->threads) openblas_set_num_threads(s->threads);
    ensure_rows(s, n);
    int C = c->d_model, H = c->n_head, KVH = c->n_kv_head, hd = C / H, F = c->d_ff;
    int qd = H * hd, kvd = KVH * hd;
    bool llama = c->arch == TF_LLAMA;

    // RoPE's angles depend on the position only: one (cos, sin) table per row serves every
    // head of every layer (pow, cos and sin per pair would otherwise run L * (H + KVH) times).
    if (llama)
        for (int i = 0; i < n; i++) rope_table(s->rope + (size_t)i * hd, hd, pos + i, c->rope_base);

    // Embeddings.
    for (int i = 0; i < n; i++) {
        float *xi = s->x + (size_t)i * C;
        memcpy(xi, m->tok_emb->data + (size_t)tokens[i] * C, (size_t)C * sizeof(float));
        if (!llama) {
            const float *p = m->pos_emb->data + (size_t)(pos + i) * C;
            for (int j = 0; j < C; j++) xi[j] += p[j];
        }
    }

    for (int l = 0; l < c->n_layer; l++) {
        const TfLayer *ly = &m->layer[l];
        // Attention sublayer.
        norm_rows(m, s->z, s->x, ly->attn_norm_w, ly->attn_norm_b, n);
        linear(s->q, s->z, ly->wq, ly->bq, n, C, qd);
        linear(s->k, s->z, ly->wk, ly->bk, n, C, kvd);
        linear(s->v, s->z, ly->wv, ly->bv, n, C, kvd);
        if (llama)
            for (int i = 0; i < n; i++) {
                const float *cs = s->rope + (size_t)i * hd;
                for (int h = 0; h < H; h++)
                    rope_apply(s->q + (size_t)i * qd + (size_t)h * hd, cs, hd);
                for (int g = 0; g < KVH; g++)
                    rope_apply(s->k + (size_t)i * kvd + (size_t)g * hd, cs, hd);
            }
        // Append this call's keys and values: row i, head g -> cache[l][g][pos + i].
        for (int g = 0; g < KVH; g++) {
            size_t at = (((size_t)l * KVH + g) * s->max_T + pos) * hd;
            for (int i = 0; i < n; i++) {
                memcpy(s->kc + at + (size_t)i * hd, s->k + (size_t)i * kvd + (size_t)g * hd,
                       (size_t)hd * sizeof(float));
                memcpy(s->vc + at + (size_t)i * hd, s->v + (size_t)i * kvd + (size_t)g * hd,
                       (size_t)hd * sizeof(float));
            }
        }
        attention(s, l, n, pos);
        linear(s->y, s->o, ly->wo, ly->bo, n, qd, C);
        for (size_t j = 0; j < (size_t)n * C; j++) s->x[j] += s->y[j];

        // MLP sublayer.
        norm_rows(m, s->z, s->x, ly->ffn_norm_w, ly->ffn_norm_b, n);
        linear(s->f1, s->z, ly->w_up, ly->b_up, n, C, F);
        if (llama) {
            linear(s->f2, s->z, ly->w_gate, NULL, n, C, F);
            for (size_t j = 0; j < (size_t)n * F; j++) s->f1[j] = fm_silu(s->f2[j]) * s->f1[j];
        } else {
            for (size_t j = 0; j < (size_t)n * F; j++) s->f1[j] = fm_gelu(s->f1[j]);
        }
        linear(s->y, s->f1, ly->w_down, ly->b_down, n, F, C);
        for (size_t j = 0; j < (size_t)n * C; j++) s->x[j] += s->y[j];
    }
    s->len = pos + n;

    // Final norm and vocabulary projection of the last row only.
    const float *last = s->x + (size_t)(n - 1) * C;
    norm_rows(m, s->z, last, m->norm_w, m->norm_b, 1);
    const Tensor *E = m->lm_head && !c->tie_embeddings ? m->lm_head : m->tok_emb;
    linear(s->logits, s->z, E, NULL, 1, C, c->vocab);
    return s->logits;
}
