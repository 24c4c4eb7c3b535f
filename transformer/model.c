/*
 * model.c: the decoder-only transformer of model.h (GPT-2 and Llama recipes), built from graph
 * ops, and its safetensors checkpoints.
 *
 * Glossary: B = batch, T = time, C = d_model, V = vocab, H = heads, KVH = kv heads,
 * hd = C / H, F = d_ff, L = n_layer.
 *
 * The forward pass makes as few copies as the ops allow:
 *   - every linear layer is x @ W^T with W^T a transposed view, so sgemm reads W in place;
 *   - q, k, v (B, T, C) are re-viewed as (B, T, H, hd) and transposed to (B, H, T, hd) without
 *     a copy: tensor_attention reads strided heads as long as the last dim is contiguous;
 *   - RoPE (llama) needs its input contiguous with T at dim -2, so q and k are copied once
 *     there (the rotated output is a new tensor anyway);
 *   - the attention output (B, H, T, hd) goes back to (B, T, C) through a transpose and a
 *     reshape, which is the one unavoidable copy per layer.
 */
#include "transformer/model.h"

#include "core/err.h"
#include "nn/init.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

const char *tf_arch_name(TfArch arch)
{
    return arch == TF_GPT2 ? "gpt2" : arch == TF_LLAMA ? "llama" : "?";
}

TfConfig tf_config_default(TfArch arch)
{
    TfConfig c = {
        .arch = arch,
        .vocab = 256,
        .ctx = 128,
        .d_model = 128,
        .n_layer = 4,
        .n_head = 4,
        .n_kv_head = 4,
        .d_ff = arch == TF_GPT2 ? 512 : 344, // llama: about 8/3 C, SwiGLU's parameter match
        .norm_eps = 1e-5f,
        .rope_base = 10000.0f,
        .tie_embeddings = true,
        .dropout = 0.0f,
    };
    return c;
}

bool tf_config_equal(const TfConfig *a, const TfConfig *b)
{
    return a->arch == b->arch && a->vocab == b->vocab && a->ctx == b->ctx &&
           a->d_model == b->d_model && a->n_layer == b->n_layer && a->n_head == b->n_head &&
           a->n_kv_head == b->n_kv_head && a->d_ff == b->d_ff && a->norm_eps == b->norm_eps &&
           a->rope_base == b->rope_base && a->tie_embeddings == b->tie_embeddings &&
           a->dropout == b->dropout;
}

int tf_config_check(const TfConfig *c)
{
    if (c->arch != TF_GPT2 && c->arch != TF_LLAMA)
        return err_set(ERR_INVALID, "config: arch = %d; hint: TF_GPT2 or TF_LLAMA", (int)c->arch);
    if (c->vocab < 1) return err_set(ERR_INVALID, "config: vocab = %d must be >= 1", c->vocab);
    if (c->ctx < 1) return err_set(ERR_INVALID, "config: ctx = %d must be >= 1", c->ctx);
    if (c->n_layer < 1 || c->n_layer > TF_MAX_LAYERS)
        return err_set(ERR_INVALID, "config: n_layer = %d must be in [1, %d]", c->n_layer,
                       TF_MAX_LAYERS);
    if (c->d_model < 1 || c->n_head < 1 || c->d_model % c->n_head != 0)
        return err_set(ERR_INVALID, "config: n_head = %d must divide d_model = %d", c->n_head,
                       c->d_model);
    if ((c->d_model / c->n_head) % 2 != 0 && c->arch == TF_LLAMA)
        return err_set(ERR_INVALID, "config: head size %d must be even for RoPE; hint: "
                       "d_model / n_head", c->d_model / c->n_head);
    if (c->n_kv_head < 1 || c->n_head % c->n_kv_head != 0)
        return err_set(ERR_INVALID, "config: n_kv_head = %d must divide n_head = %d",
                       c->n_kv_head, c->n_head);
    if (c->arch == TF_GPT2 && c->n_kv_head != c->n_head)
        return err_set(ERR_INVALID, "config: gpt2 has n_kv_head = n_head (%d), got %d",
                       c->n_head, c->n_kv_head);
    if (c->arch == TF_GPT2 && !c->tie_embeddings)
        return err_set(ERR_INVALID, "config: gpt2 always ties its embeddings; hint: set "
                       "tie_embeddings = true");
    if (c->d_ff < 1) return err_set(ERR_INVALID, "config: d_ff = %d must be >= 1", c->d_ff);
    if (!(c->norm_eps > 0.0f) || !isfinite(c->norm_eps))
        return err_set(ERR_INVALID, "config: norm_eps = %g must be > 0", c->norm_eps);
    if (c->arch == TF_LLAMA && (!(c->rope_base > 0.0f) || !isfinite(c->rope_base)))
        return err_set(ERR_INVALID, "config: rope_base = %g must be > 0", c->rope_base);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return err_set(ERR_INVALID, "config: dropout = %g must be in [0, 1)", c->dropout);
    return ERR_OK;
}

// ---------------------------------------------------------------------------
// Creation
// ---------------------------------------------------------------------------

// The layout walk: one emit per parameter, in registry order. It fills specs (when `out` is
// set) and registers the tensors (when `p` is set, storing each in its TfModel slot), so the
// names, shapes and order of tf_model_param_specs and tf_model_alloc cannot drift apart.
typedef struct {
    TfParamSpec *out; // NULL: do not record specs
    NnParams *p;      // NULL: do not register
    int n;            // parameters emitted so far
} Layout;

// One parameter: its name is fmt with the block index l for "%d" (names outside the blocks
// have none and ignore l), its shape (rows,) or (rows, cols).
static void emit(Layout *ly, Tensor **slot, int ndim, int64_t rows, int64_t cols,
                 const char *fmt, int l)
{
    char name[NN_NAME_MAX];
    snprintf(name, sizeof name, fmt, l);
    if (ly->out) {
        TfParamSpec *s = &ly->out[ly->n];
        memcpy(s->name, name, sizeof name);
        s->ndim = ndim;
        s->shape[0] = rows;
        s->shape[1] = ndim == 2 ? cols : 1;
    }
    if (ly->p)
        *slot = nn_params_add(ly->p, name, ndim, ndim == 2 ? (int64_t[]){rows, cols} :
                              (int64_t[]){rows});
    ly->n++;
}

// Walks the layout of cfg (checked by the caller). m is NULL when only specs are wanted.
static int layout_walk(const TfConfig *cfg, TfModel *m, Layout *ly)
{
    const int64_t C = cfg->d_model, V = cfg->vocab, F = cfg->d_ff;
    const int64_t hd = C / cfg->n_head, Cq = cfg->n_head * hd, Ckv = cfg->n_kv_head * hd;
    const bool gpt2 = cfg->arch == TF_GPT2;
    Tensor *dummy;
    // A slot of m, or a scratch pointer when nothing is registered.
#define SLOT(field) (m ? &m->field : &dummy)
    emit(ly, SLOT(tok_emb), 2, V, C, "token_embd.weight", 0);
    if (gpt2) emit(ly, SLOT(pos_emb), 2, cfg->ctx, C, "pos_embd.weight", 0);
    for (int l = 0; l < cfg->n_layer; l++) {
#define LSLOT(field) SLOT(layer[l].field)
        emit(ly, LSLOT(attn_norm_w), 1, C, 0, "blk.%d.attn_norm.weight", l);
        if (gpt2) emit(ly, LSLOT(attn_norm_b), 1, C, 0, "blk.%d.attn_norm.bias", l);
        emit(ly, LSLOT(wq), 2, Cq, C, "blk.%d.attn_q.weight", l);
        if (gpt2) emit(ly, LSLOT(bq), 1, Cq, 0, "blk.%d.attn_q.bias", l);
        emit(ly, LSLOT(wk), 2, Ckv, C, "blk.%d.attn_k.weight", l);
        if (gpt2) emit(ly, LSLOT(bk), 1, Ckv, 0, "blk.%d.attn_k.bias", l);
        emit(ly, LSLOT(wv), 2, Ckv, C, "blk.%d.attn_v.weight", l);
        if (gpt2) emit(ly, LSLOT(bv), 1, Ckv, 0, "blk.%d.attn_v.bias", l);
        emit(ly, LSLOT(wo), 2, C, Cq, "blk.%d.attn_output.weight", l);
        if (gpt2) emit(ly, LSLOT(bo), 1, C, 0, "blk.%d.attn_output.bias", l);
        emit(ly, LSLOT(ffn_norm_w), 1, C, 0, "blk.%d.ffn_norm.weight", l);
        if (gpt2) emit(ly, LSLOT(ffn_norm_b), 1, C, 0, "blk.%d.ffn_norm.bias", l);
        if (!gpt2) emit(ly, LSLOT(w_gate), 2, F, C, "blk.%d.ffn_gate.weight", l);
        emit(ly, LSLOT(w_up), 2, F, C, "blk.%d.ffn_up.weight", l);
        if (gpt2) emit(ly, LSLOT(b_up), 1, F, 0, "blk.%d.ffn_up.bias", l);
        emit(ly, LSLOT(w_down), 2, C, F, "blk.%d.ffn_down.weight", l);
        if (gpt2) emit(ly, LSLOT(b_down), 1, C, 0, "blk.%d.ffn_down.bias", l);
#undef LSLOT
    }
    emit(ly, SLOT(norm_w), 1, C, 0, "output_norm.weight", 0);
    if (gpt2) emit(ly, SLOT(norm_b), 1, C, 0, "output_norm.bias", 0);
    if (!cfg->tie_embeddings) emit(ly, SLOT(lm_head), 2, V, C, "output.weight", 0);
#undef SLOT
    return ly->n;
}

int tf_model_param_specs(const TfConfig *cfg, TfParamSpec *out)
{
    CHECK(cfg && tf_config_check(cfg) == ERR_OK, "tf_model_param_specs: %s; hint: call "
          "tf_config_check on user input first", cfg ? err_msg() : "NULL config");
    Layout ly = {.out = out};
    return layout_walk(cfg, NULL, &ly);
}

TfModel *tf_model_alloc(const TfConfig *cfg, bool with_grads)
{
    CHECK(cfg && tf_config_check(cfg) == ERR_OK, "tf_model_alloc: %s; hint: call "
          "tf_config_check on user input first", cfg ? err_msg() : "NULL config");
    TfModel *m = xcalloc(1, sizeof *m);
    m->cfg = *cfg;
    m->params = with_grads ? nn_params_create() : nn_params_create_no_grad();
    Layout ly = {.p = m->params};
    layout_walk(cfg, m, &ly);
    return m;
}

TfModel *tf_model_create(const TfConfig *cfg, uint64_t seed)
{
    TfModel *m = tf_model_alloc(cfg, true);
    Rng rng;
    rng_init(&rng, seed);
    // GPT-2: every weight N(0, 0.02); the two projections that write into the residual stream
    // (Wo, Wdown) get 0.02 / sqrt(2L), so the residual's variance stays about constant over
    // the 2L additions. Norm gains start at 1, biases (already zero) at 0.
    const float std = 0.02f, std_res = 0.02f / sqrtf(2.0f * (float)cfg->n_layer);
    nn_init_normal(m->tok_emb, &rng, 0.0f, std);
    if (m->pos_emb) nn_init_normal(m->pos_emb, &rng, 0.0f, std);
    for (int l = 0; l < cfg->n_layer; l++) {
        TfLayer *y = &m->layer[l];
        tensor_fill(y->attn_norm_w, 1.0f);
        tensor_fill(y->ffn_norm_w, 1.0f);
        nn_init_normal(y->wq, &rng, 0.0f, std);
        nn_init_normal(y->wk, &rng, 0.0f, std);
        nn_init_normal(y->wv, &rng, 0.0f, std);
        nn_init_normal(y->wo, &rng, 0.0f, std_res);
        if (y->w_gate) nn_init_normal(y->w_gate, &rng, 0.0f, std);
        nn_init_normal(y->w_up, &rng, 0.0f, std);
        nn_init_normal(y->w_down, &rng, 0.0f, std_res);
    }
    tensor_fill(m->norm_w, 1.0f);
    if (m->lm_head) nn_init_normal(m->lm_head, &rng, 0.0f, std);
    return m;
}

void tf_model_free(TfModel *m)
{
    if (!m) return;
    nn_params_free(m->params);
    free(m);
}

// ---------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------

// How a forward pass runs: the LoRA adapters' dropout needs these.
typedef struct {
    bool train;
    Rng *rng;
} Pass;

// y = x W^T (+ b) for x (B, T, in), W (out, in): one sgemm with W read transposed in place;
// plus the LoRA update s (drop(x) A^T) B^T when an unmerged adapter is attached.
static Tensor *linear(Graph *g, Tensor *x, Tensor *w, Tensor *b, const NnLoraLinear *lora,
                      const Pass *ps)
{
    Tensor *y = tensor_matmul(g, x, tensor_transpose(g, w, 0, 1));
    y = b ? tensor_add(g, y, b) : y;
    return lora ? nn_lora_forward(g, lora, x, y, ps->train, ps->rng) : y;
}

static Tensor *norm(Graph *g, const TfModel *m, Tensor *x, Tensor *w, Tensor *b)
{
    if (m->cfg.arch == TF_GPT2) return tensor_layernorm(g, x, w, b, m->cfg.norm_eps);
    return tensor_rmsnorm(g, x, w, m->cfg.norm_eps);
}

// (B, T, heads * hd) -> (B, heads, T, hd): a reshape and a transpose, both views.
static Tensor *split_heads(Graph *g, Tensor *x, int64_t heads)
{
    int64_t B = x->shape[0], T = x->shape[1], hd = x->shape[2] / heads;
    Tensor *r = tensor_reshape(g, x, 4, (int64_t[]){B, T, heads, hd});
    return tensor_transpose(g, r, 1, 2);
}

static Tensor *attention(Graph *g, const TfModel *m, const TfLayer *y, Tensor *x,
                         const Pass *ps)
{
    const TfConfig *c = &m->cfg;
    int64_t B = x->shape[0], T = x->shape[1];
    const NnLoraLinear *const *ad = y->lora;
    Tensor *q = linear(g, x, y->wq, y->bq, ad[NN_LORA_Q], ps);
    Tensor *k = linear(g, x, y->wk, y->bk, ad[NN_LORA_K], ps);
    Tensor *v = linear(g, x, y->wv, y->bv, ad[NN_LORA_V], ps);
    q = split_heads(g, q, c->n_head);    // (B, H, T, hd)
    k = split_heads(g, k, c->n_kv_head); // (B, KVH, T, hd)
    v = split_heads(g, v, c->n_kv_head); // (B, KVH, T, hd)
    if (c->arch == TF_LLAMA) {
        // Positions are the index along dim -2 (T), from 0.
        q = tensor_rope(g, q, 0, c->rope_base);
        k = tensor_rope(g, k, 0, c->rope_base);
    }
    Tensor *o = tensor_attention(g, q, k, v, true);                          // (B, H, T, hd)
    o = tensor_reshape(g, tensor_transpose(g, o, 1, 2), 3,
                       (int64_t[]){B, T, (int64_t)c->n_head * (c->d_model / c->n_head)});
    return linear(g, o, y->wo, y->bo, ad[NN_LORA_O], ps); // (B, T, C)
}

static Tensor *mlp(Graph *g, const TfModel *m, const TfLayer *y, Tensor *x, const Pass *ps)
{
    Tensor *h;
    if (m->cfg.arch == TF_GPT2) {
        h = tensor_gelu(g, linear(g, x, y->w_up, y->b_up, y->lora[NN_LORA_UP], ps));
    } else {
        // SwiGLU: silu(x Wgate^T) * (x Wup^T).
        Tensor *gate = linear(g, x, y->w_gate, NULL, y->lora[NN_LORA_GATE], ps);
        h = tensor_mul(g, tensor_silu(g, gate), linear(g, x, y->w_up, NULL,
                                                        y->lora[NN_LORA_UP], ps));
    }
    return linear(g, h, y->w_down, y->b_down, y->lora[NN_LORA_DOWN], ps);
}

static Tensor *dropout(Graph *g, const TfModel *m, Tensor *x, bool train, Rng *rng)
{
    if (!train || m->cfg.dropout == 0.0f) return x;
    CHECK(rng, "tf_model_forward: dropout %g in training needs an rng", m->cfg.dropout);
    return tensor_dropout(g, x, m->cfg.dropout, rng);
}

// True when an adapter set is attached (tf_model_attach_lora): something to train even when
// the model itself has no gradients.
static bool has_adapters(const TfModel *m)
{
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int t = 0; t < NN_LORA_N_TARGETS; t++)
            if (m->layer[l].lora[t]) return true;
    return false;
}

Tensor *tf_model_hidden(Graph *g, TfModel *m, Tensor *tokens, bool train, Rng *rng)
{
    const TfConfig *c = &m->cfg;
    CHECK(tokens->dtype == DT_I32 && tokens->ndim == 2, "tf_model_forward: tokens must be "
          "int32 (B, T)");
    CHECK(!train || nn_params_has_grads(m->params) || has_adapters(m), "tf_model_forward: "
          "train = true on an inference-only model (no gradient buffers: tf_model_alloc(cfg, "
          "false), tf_model_load_no_grad, tf_gguf_import) with no LoRA adapters attached; hint: "
          "train a model made with gradients (tf_model_create, tf_model_load), or attach LoRA "
          "adapters (nn/lora.h) and train those");
    int64_t T = tokens->shape[1];
    CHECK(T >= 1 && T <= c->ctx, "tf_model_forward: T = %lld must be in [1, ctx = %d]",
          (long long)T, c->ctx);
    Tensor *x = tensor_embedding(g, m->tok_emb, tokens); // (B, T, C)
    if (m->pos_emb) {
        // The first T rows of the positions table, broadcast over the batch.
        x = tensor_add(g, x, tensor_slice(g, m->pos_emb, 0, 0, T));
    }
    x = dropout(g, m, x, train, rng);
    const Pass ps = {.train = train, .rng = rng};
    for (int l = 0; l < c->n_layer; l++) {
        const TfLayer *y = &m->layer[l];
        Tensor *a = attention(g, m, y, norm(g, m, x, y->attn_norm_w, y->attn_norm_b), &ps);
        x = tensor_add(g, x, dropout(g, m, a, train, rng));
        Tensor *f = mlp(g, m, y, norm(g, m, x, y->ffn_norm_w, y->ffn_norm_b), &ps);
        x = tensor_add(g, x, dropout(g, m, f, train, rng));
    }
    return norm(g, m, x, m->norm_w, m->norm_b);
}

Tensor *tf_model_forward(Graph *g, TfModel *m, Tensor *tokens, bool train, Rng *rng)
{
    Tensor *x = tf_model_hidden(g, m, tokens, train, rng); // (B, T, C)
    Tensor *head = m->lm_head ? m->lm_head : m->tok_emb;
    return tensor_matmul(g, x, tensor_transpose(g, head, 0, 1)); // (B, T, V)
}

Tensor *tf_model_loss(Graph *g, TfModel *m, Tensor *tokens, Tensor *targets, bool train,
                      Rng *rng)
{
    CHECK(targets->dtype == DT_I32 && tensor_same_shape(tokens, targets),
          "tf_model_loss: targets must be int32 with the shape of tokens");
    Tensor *logits = tf_model_forward(g, m, tokens, train, rng);
    int64_t V = m->cfg.vocab;
    Tensor *flat = tensor_reshape(g, logits, 2, (int64_t[]){-1, V});       // (B*T, V), a view
    Tensor *tflat = tensor_reshape(g, targets, 1, (int64_t[]){-1});        // (B*T,)
    return tensor_cross_entropy(g, flat, tflat, -1);
}

// ---------------------------------------------------------------------------
// LoRA adapters
// ---------------------------------------------------------------------------

void tf_model_attach_lora(TfModel *m, NnLora *set)
{
    CHECK(m && set, "tf_model_attach_lora: NULL argument");
    CHECK(nn_lora_base(set) == m->params && nn_lora_n_layer(set) == m->cfg.n_layer,
          "tf_model_attach_lora: the adapter set was made on another model; hint: "
          "nn_lora_create(m->params, ...) on this model");
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int t = 0; t < NN_LORA_N_TARGETS; t++)
            m->layer[l].lora[t] = nn_lora_site(set, l, (NnLoraTarget)t);
}

void tf_model_detach_lora(TfModel *m)
{
    CHECK(m, "tf_model_detach_lora: NULL model");
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int t = 0; t < NN_LORA_N_TARGETS; t++) m->layer[l].lora[t] = NULL;
}

// ---------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------

#define META_FORMAT "engine-tf-model"
#define META_VERSION "1"
#define N_CFG_META 14 // pairs written by config_meta

// The config as (key, value) string pairs into kv (2 * N_CFG_META pointers into buf).
static void config_meta(const TfConfig *c, char buf[N_CFG_META][32], const char **kv)
{
    const char *keys[N_CFG_META] = {"format", "version", "arch", "vocab", "ctx", "d_model",
                                    "n_layer", "n_head", "n_kv_head", "d_ff", "norm_eps",
                                    "rope_base", "tie_embeddings", "dropout"};
    snprintf(buf[0], 32, "%s", META_FORMAT);
    snprintf(buf[1], 32, "%s", META_VERSION);
    snprintf(buf[2], 32, "%s", tf_arch_name(c->arch));
    snprintf(buf[3], 32, "%d", c->vocab);
    snprintf(buf[4], 32, "%d", c->ctx);
    snprintf(buf[5], 32, "%d", c->d_model);
    snprintf(buf[6], 32, "%d", c->n_layer);
    snprintf(buf[7], 32, "%d", c->n_head);
    snprintf(buf[8], 32, "%d", c->n_kv_head);
    snprintf(buf[9], 32, "%d", c->d_ff);
    // %.9g round-trips every float exactly.
    snprintf(buf[10], 32, "%.9g", (double)c->norm_eps);
    snprintf(buf[11], 32, "%.9g", (double)c->rope_base);
    snprintf(buf[12], 32, "%s", c->tie_embeddings ? "true" : "false");
    snprintf(buf[13], 32, "%.9g", (double)c->dropout);
    for (int i = 0; i < N_CFG_META; i++) {
        kv[2 * i] = keys[i];
        kv[2 * i + 1] = buf[i];
    }
}

int tf_model_save_ext(const TfModel *m, const char *path, const StEntry *extra, int n_extra,
                      const char *const *extra_meta, int n_extra_meta)
{
    CHECK(n_extra >= 0 && n_extra_meta >= 0, "tf_model_save_ext: negative counts");
    int n_p = nn_params_count(m->params);
    StEntry *e = xmalloc((size_t)(n_p + n_extra + 1) * sizeof *e);
    for (int i = 0; i < n_p; i++) {
        const NnParam *p = nn_params_at(m->params, i);
        e[i] = (StEntry){.name = p->name, .t = p->t};
    }
    for (int i = 0; i < n_extra; i++) {
        CHECK(strncmp(extra[i].name, TF_EXTRA_PREFIX, strlen(TF_EXTRA_PREFIX)) == 0,
              "tf_model_save_ext: extra tensor '%s' must start with '" TF_EXTRA_PREFIX "'",
              extra[i].name);
        e[n_p + i] = extra[i];
    }
    char buf[N_CFG_META][32];
    const char **kv = xmalloc((size_t)(2 * (N_CFG_META + n_extra_meta)) * sizeof *kv);
    config_meta(&m->cfg, buf, kv);
    for (int i = 0; i < 2 * n_extra_meta; i++) kv[2 * N_CFG_META + i] = extra_meta[i];
    int rc = st_save(path, e, n_p + n_extra, kv, N_CFG_META + n_extra_meta);
    free(kv);
    free(e);
    return rc;
}

int tf_model_save(const TfModel *m, const char *path)
{
    return tf_model_save_ext(m, path, NULL, 0, NULL, 0);
}

static int meta_str(const StFile *f, const char *key, const char **out)
{
    *out = st_meta(f, key);
    if (!*out)
        return err_set(ERR_FORMAT, "%s: metadata key '%s' is missing; hint: was this file "
                       "written by tf_model_save?", st_path(f), key);
    return ERR_OK;
}

static int meta_int(const StFile *f, const char *key, int *out)
{
    const char *s;
    int rc = meta_str(f, key, &s);
    if (rc != ERR_OK) return rc;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 1000000000L)
        return err_set(ERR_FORMAT, "%s: metadata '%s' = \"%s\" is not an integer in "
                       "[0, 1e9]; hint: the config values are decimal strings", st_path(f), key,
                       s);
    *out = (int)v;
    return ERR_OK;
}

static int meta_float(const StFile *f, const char *key, float *out)
{
    const char *s;
    int rc = meta_str(f, key, &s);
    if (rc != ERR_OK) return rc;
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return err_set(ERR_FORMAT, "%s: metadata '%s' = \"%s\" is not a finite number",
                       st_path(f), key, s);
    *out = v;
    return ERR_OK;
}

int tf_config_from_meta(const StFile *f, TfConfig *out)
{
    const char *path = st_path(f), *s;
    int rc;
    if ((rc = meta_str(f, "format", &s)) != ERR_OK) return rc;
    if (strcmp(s, META_FORMAT) != 0)
        return err_set(ERR_FORMAT, "%s: metadata 'format' = \"%s\", expected \"" META_FORMAT
                       "\"; hint: this is not a transformer checkpoint", path, s);
    if ((rc = meta_str(f, "version", &s)) != ERR_OK) return rc;
    if (strcmp(s, META_VERSION) != 0)
        return err_set(ERR_FORMAT, "%s: metadata 'version' = \"%s\", this build reads \""
                       META_VERSION "\"", path, s);
    TfConfig c = {0};
    if ((rc = meta_str(f, "arch", &s)) != ERR_OK) return rc;
    if (strcmp(s, "gpt2") == 0) {
        c.arch = TF_GPT2;
    } else if (strcmp(s, "llama") == 0) {
        c.arch = TF_LLAMA;
    } else {
        return err_set(ERR_FORMAT, "%s: metadata 'arch' = \"%s\"; hint: \"gpt2\" or \"llama\"",
                       path, s);
    }
    if ((rc = meta_int(f, "vocab", &c.vocab)) != ERR_OK) return rc;
    if ((rc = meta_int(f, "ctx", &c.ctx)) != ERR_OK) return rc;
    if ((rc = meta_int(f, "d_model", &c.d_model)) != ERR_OK) return rc;
    if ((rc = meta_int(f, "n_layer", &c.n_layer)) != ERR_OK) return rc;
    if ((rc = meta_int(f, "n_head", &c.n_head)) != ERR_OK) return rc;
    if ((rc = meta_int(f, "n_kv_head", &c.n_kv_head)) != ERR_OK) return rc;
    if ((rc = meta_int(f, "d_ff", &c.d_ff)) != ERR_OK) return rc;
    if ((rc = meta_float(f, "norm_eps", &c.norm_eps)) != ERR_OK) return rc;
    if ((rc = meta_float(f, "rope_base", &c.rope_base)) != ERR_OK) return rc;
    if ((rc = meta_float(f, "dropout", &c.dropout)) != ERR_OK) return rc;
    if ((rc = meta_str(f, "tie_embeddings", &s)) != ERR_OK) return rc;
    if (strcmp(s, "true") == 0) {
        c.tie_embeddings = true;
    } else if (strcmp(s, "false") == 0) {
        c.tie_embeddings = false;
    } else {
        return err_set(ERR_FORMAT, "%s: metadata 'tie_embeddings' = \"%s\"; hint: \"true\" or "
                       "\"false\"", path, s);
    }
    if ((rc = tf_config_check(&c)) != ERR_OK)
        return err_set(rc, "%s: %s", path, err_msg());
    *out = c;
    return ERR_OK;
}

// Every model tensor present with its shape, and no tensor the model lacks (except the
// trainer's TF_EXTRA_PREFIX state): so a tied/untied or gpt2/llama mix-up is named.
static int check_tensors(const StFile *f, const TfModel *m)
{
    const char *path = st_path(f);
    int n_p = nn_params_count(m->params);
    for (int i = 0; i < n_p; i++) {
        const NnParam *p = nn_params_at(m->params, i);
        int ndim;
        int64_t sh[ST_MAX_DIMS];
        if (st_info(f, p->name, &ndim, sh, NULL) != ERR_OK)
            return err_set(ERR_NOTFOUND, "%s: weight '%s' is missing (%s, %d layers); hint: "
                           "the file is cut or was written by another model", path, p->name,
                           tf_arch_name(m->cfg.arch), m->cfg.n_layer);
        bool same = ndim == p->t->ndim;
        for (int k = 0; same && k < ndim; k++) same = sh[k] == p->t->shape[k];
        if (!same) {
            char got[96] = "(", want[96] = "(";
            for (int k = 0; k < ndim; k++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", k ? ", " : "",
                         (long long)sh[k]);
            for (int k = 0; k < p->t->ndim; k++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld",
                         k ? ", " : "", (long long)p->t->shape[k]);
            strncat(got, ")", sizeof got - strlen(got) - 1);
            strncat(want, ")", sizeof want - strlen(want) - 1);
            return err_set(ERR_SHAPE, "%s: weight '%s' has shape %s, the config in the metadata "
                           "asks for %s; hint: the metadata and the tensors disagree", path,
                           p->name, got, want);
        }
    }
    for (int i = 0; i < st_count(f); i++) {
        const char *name = st_name(f, i);
        if (strncmp(name, TF_EXTRA_PREFIX, strlen(TF_EXTRA_PREFIX)) == 0) continue;
        if (!nn_params_get(m->params, name))
            return err_set(ERR_FORMAT, "%s: tensor '%s' is not part of a %s model with "
                           "tie_embeddings = %s; hint: the metadata and the tensors disagree",
                           path, name, tf_arch_name(m->cfg.arch),
                           m->cfg.tie_embeddings ? "true" : "false");
    }
    return ERR_OK;
}

static int model_load(const char *path, bool with_grads, TfModel **out)
{
    *out = NULL;
    StFile *f;
    int rc = st_open(path, &f);
    if (rc != ERR_OK) return rc;
    TfConfig c;
    rc = tf_config_from_meta(f, &c);
    TfModel *m = NULL;
    if (rc == ERR_OK) {
        m = tf_model_alloc(&c, with_grads);
        rc = check_tensors(f, m);
    }
    int n_p = m ? nn_params_count(m->params) : 0;
    for (int i = 0; i < n_p && rc == ERR_OK; i++) {
        const NnParam *p = nn_params_at(m->params, i);
        rc = st_read_into(f, p->name, p->t);
    }
    st_close(f);
    if (rc != ERR_OK) {
        tf_model_free(m);
        return rc;
    }
    *out = m;
    return ERR_OK;
}

int tf_model_load(const char *path, TfModel **out)
{
    return model_load(path, true, out);
}

int tf_model_load_no_grad(const char *path, TfModel **out)
{
    return model_load(path, false, out);
}
