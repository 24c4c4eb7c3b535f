/*
 * gguf_model.c: a TF_LLAMA TfModel (and its byte-level BPE) to and from llama.cpp's "llama"
 * GGUF architecture. See gguf.h for the contract.
 *
 * The engine names its weights as llama.cpp does (model.h), so both directions walk the
 * model's parameter registry in creation order (token_embd, blk.0 .. blk.L-1, output_norm,
 * output) and only reverse each shape: the engine's row-major (out, in) is GGUF's
 * ne = {in, out}. RoPE needs no permutation either way: the engine rotates adjacent pairs
 * (x[2i], x[2i+1]), which is llama.cpp's "normal" RoPE used by the llama architecture (HF
 * checkpoints get their Wq/Wk rows permuted into that order by llama.cpp's converter).
 *
 * The tokenizer travels as a "gpt2" (byte-level BPE) vocabulary: each token is its bytes
 * written through GPT-2's bytes_to_unicode map, each merge the string "A B" of two tokens.
 */
#include "transformer/gguf.h"

#include "core/err.h"
#include "transformer/tok_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// llama.cpp's token types (tokenizer.ggml.token_type).
enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER = 4, TOK_UNUSED = 5,
       TOK_BYTE = 6 };

// llama.cpp's general.file_type (LLAMA_FTYPE_*).
enum { FTYPE_ALL_F32 = 0, FTYPE_MOSTLY_F16 = 1, FTYPE_MOSTLY_Q8_0 = 7 };

static const char EOT[] = "<|endoftext|>";

// ---------------------------------------------------------------------------
// bytes_to_unicode, both ways
// ---------------------------------------------------------------------------

// Token bytes -> the UTF-8 of their bytes_to_unicode characters (NUL-terminated, new buffer).
static char *bytes_to_text(const uint8_t *s, size_t n)
{
    char *out = xmalloc(2 * n + 1);
    tok_token_to_unicode(s, n, out);
    return out;
}

// ---------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------

// The vocabulary as GGUF strings + types, cfg.vocab entries (see gguf.h for the rules).
typedef struct {
    int n;
    char **text;
    int32_t *type;
    int32_t eos;
} ExportVocab;

static void export_vocab_build(ExportVocab *v, const TfBpe *tok, int V)
{
    int n_tok = tok ? tf_tok_bpe_vocab_size(tok) : (V < 256 ? V : 256);
    v->n = V;
    v->text = xcalloc((size_t)V, sizeof *v->text);
    v->type = xmalloc((size_t)V * sizeof *v->type);
    v->eos = -1;
    for (int i = 0; i < n_tok; i++) {
        size_t len = 1;
        uint8_t byte = (uint8_t)i;
        const uint8_t *s = tok ? tf_tok_bpe_token(tok, i, &len) : &byte;
        v->text[i] = bytes_to_text(s, len);
        v->type[i] = TOK_NORMAL;
        if (v->eos < 0 && len == sizeof EOT - 1 && memcmp(s, EOT, len) == 0) {
            v->eos = i;
            v->type[i] = TOK_CONTROL;
        }
    }
    for (int i = n_tok; i < V; i++) {
        char buf[32];
        bool eot = v->eos < 0 && i == V - 1;
        if (eot) snprintf(buf, sizeof buf, "%s", EOT);
        else snprintf(buf, sizeof buf, "<|tf_pad_%d|>", i);
        v->text[i] = xstrdup(buf);
        v->type[i] = eot ? TOK_CONTROL : TOK_UNUSED;
        if (eot) v->eos = i;
    }
    if (v->eos < 0) v->eos = 0;
}

static void export_vocab_free(ExportVocab *v)
{
    for (int i = 0; i < v->n; i++) free(v->text[i]);
    free(v->text);
    free(v->type);
}

// tok's merges as "A B" strings (new array of new strings; *n gets the count).
static char **export_merges(const TfBpe *tok, int *n)
{
    *n = tok ? tok->n_merges : 0;
    char **out = xcalloc((size_t)(*n ? *n : 1), sizeof *out);
    for (int r = 0; r < *n; r++) {
        char *part[2];
        for (int k = 0; k < 2; k++) {
            size_t len;
            const uint8_t *s = tf_tok_bpe_token(tok, tok->merges[r][k], &len);
            part[k] = bytes_to_text(s, len);
        }
        size_t la = strlen(part[0]), lb = strlen(part[1]);
        out[r] = xmalloc(la + lb + 2);
        memcpy(out[r], part[0], la);
        out[r][la] = ' ';
        memcpy(out[r] + la + 1, part[1], lb + 1);
        free(part[0]);
        free(part[1]);
    }
    return out;
}

int tf_gguf_export(const TfModel *m, const TfBpe *tok, TfGgufType wtype, const char *path)
{
    CHECK(m && path, "tf_gguf_export: NULL argument");
    const TfConfig *c = &m->cfg;
    if (c->arch != TF_LLAMA)
        return err_set(ERR_INVALID, "%s: cannot export a %s model as GGUF; hint: the export "
                       "writes llama.cpp's \"llama\" architecture, train with TF_LLAMA", path,
                       tf_arch_name(c->arch));
    if (wtype != TF_GGUF_F32 && wtype != TF_GGUF_F16 && wtype != TF_GGUF_Q8_0)
        return err_set(ERR_INVALID, "%s: weight type %s; hint: F32, F16 or Q8_0", path,
                       tf_gguf_type_name((uint32_t)wtype));
    const int hd = c->d_model / c->n_head;
    if (wtype == TF_GGUF_Q8_0 && (c->d_model % 32 || c->d_ff % 32 || (c->n_head * hd) % 32))
        return err_set(ERR_SHAPE, "%s: Q8_0 needs d_model (%d), d_ff (%d) and n_head * head "
                       "size to be multiples of 32; hint: export as F16", path, c->d_model,
                       c->d_ff);
    if (tok && tf_tok_bpe_vocab_size(tok) > c->vocab)
        return err_set(ERR_SHAPE, "%s: the tokenizer has %d tokens but the model's vocab is %d; "
                       "hint: pass the tokenizer the model was trained with", path,
                       tf_tok_bpe_vocab_size(tok), c->vocab);

    TfGgufWriter *w = tf_gguf_writer_create();
    tf_gguf_writer_add_str(w, "general.architecture", "llama");
    tf_gguf_writer_add_str(w, "general.name", "engine-tf-model");
    tf_gguf_writer_add_u32(w, "general.file_type", wtype == TF_GGUF_F32 ? FTYPE_ALL_F32 :
                           wtype == TF_GGUF_F16 ? FTYPE_MOSTLY_F16 : FTYPE_MOSTLY_Q8_0);
    tf_gguf_writer_add_u32(w, "llama.context_length", (uint32_t)c->ctx);
    tf_gguf_writer_add_u32(w, "llama.embedding_length", (uint32_t)c->d_model);
    tf_gguf_writer_add_u32(w, "llama.block_count", (uint32_t)c->n_layer);
    tf_gguf_writer_add_u32(w, "llama.feed_forward_length", (uint32_t)c->d_ff);
    tf_gguf_writer_add_u32(w, "llama.attention.head_count", (uint32_t)c->n_head);
    tf_gguf_writer_add_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_head);
    tf_gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
    tf_gguf_writer_add_f32(w, "llama.rope.freq_base", c->rope_base);
    tf_gguf_writer_add_u32(w, "llama.rope.dimension_count", (uint32_t)hd);

    ExportVocab v;
    export_vocab_build(&v, tok, c->vocab);
    int n_merges;
    char **merges = export_merges(tok, &n_merges);
    tf_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2");
    // "gpt-2" selects exactly GPT-2's pre-tokenizer pattern in llama.cpp, the one the engine's
    // TfBpe uses (tok_pretok.c); "default" would add punctuation and digit splits of its own.
    tf_gguf_writer_add_str(w, "tokenizer.ggml.pre", "gpt-2");
    tf_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.text, NULL,
                               v.n);
    tf_gguf_writer_add_arr_i32(w, "tokenizer.ggml.token_type", v.type, v.n);
    tf_gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, NULL,
                               n_merges);
    tf_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v.eos);
    tf_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v.eos);
    tf_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", false);
    tf_gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false);
    export_vocab_free(&v);
    for (int r = 0; r < n_merges; r++) free(merges[r]);
    free(merges);

    // Weights in registry order; 1-D tensors (the norm gains) always F32, as llama.cpp
    // expects (its norm kernels read F32).
    int n_p = nn_params_count(m->params);
    for (int i = 0; i < n_p; i++) {
        const NnParam *p = nn_params_at(m->params, i);
        const Tensor *t = p->t;
        CHECK(tensor_is_contiguous(t) && (t->ndim == 1 || t->ndim == 2),
              "tf_gguf_export: parameter %s is not a contiguous 1-D/2-D tensor", p->name);
        int64_t ne[2] = {t->shape[t->ndim - 1], t->ndim == 2 ? t->shape[0] : 1};
        tf_gguf_writer_add_tensor_f32(w, p->name, t->ndim == 1 ? TF_GGUF_F32 : wtype, t->ndim,
                                      ne, t->data);
    }
    int rc = tf_gguf_writer_write(w, path);
    tf_gguf_writer_free(w);
    return rc;
}

// ---------------------------------------------------------------------------
// Import: the model
// ---------------------------------------------------------------------------

// Rejects llama features the engine does not implement, each with its own message.
static int check_unsupported(const TfGguf *g, int hd)
{
    const char *path = tf_gguf_path(g);
    const char *s;
    size_t len;
    float f;
    uint32_t u;
    if (tf_gguf_get_str(g, "llama.rope.scaling.type", &s, &len) == ERR_OK &&
        !(len == 4 && memcmp(s, "none", 4) == 0))
        return err_set(ERR_FORMAT, "%s: llama.rope.scaling.type = \"%.*s\": RoPE scaling is "
                       "not supported; hint: the engine runs plain RoPE (llama 1/2, SmolLM)",
                       path, (int)(len > 40 ? 40 : len), s);
    if (tf_gguf_get_f32(g, "llama.rope.scaling.factor", &f) == ERR_OK && f != 0.0f && f != 1.0f)
        return err_set(ERR_FORMAT, "%s: llama.rope.scaling.factor = %g: RoPE scaling is not "
                       "supported", path, f);
    if (tf_gguf_find_kv(g, "llama.expert_count") >= 0 &&
        !(tf_gguf_get_u32(g, "llama.expert_count", &u) == ERR_OK && u == 0))
        return err_set(ERR_FORMAT, "%s: llama.expert_count is set: mixture-of-experts is not "
                       "supported", path);
    const char *same[] = {"llama.rope.dimension_count", "llama.attention.key_length",
                          "llama.attention.value_length"};
    for (int i = 0; i < 3; i++) {
        if (tf_gguf_find_kv(g, same[i]) < 0) continue;
        int rc = tf_gguf_get_u32(g, same[i], &u);
        if (rc != ERR_OK) return rc;
        if ((int64_t)u != hd)
            return err_set(ERR_FORMAT, "%s: %s = %u but the head size is %d; hint: partial "
                           "rotary or unequal head sizes are not supported", path, same[i], u,
                           hd);
    }
    err_clear();
    return ERR_OK;
}

static int config_from(const TfGguf *g, TfConfig *cfg)
{
    const char *path = tf_gguf_path(g);
    const char *arch;
    size_t len;
    int rc = tf_gguf_get_str(g, "general.architecture", &arch, &len);
    if (rc != ERR_OK) return rc;
    if (!(len == 5 && memcmp(arch, "llama", 5) == 0))
        return err_set(ERR_FORMAT, "%s: architecture \"%.*s\" is not supported; hint: the "
                       "engine imports \"llama\" (Llama, SmolLM, TinyLlama...)", path,
                       (int)(len > 40 ? 40 : len), arch);
    uint32_t ctx, d, L, F, H, KV;
    float eps, base = 10000.0f;
    if ((rc = tf_gguf_get_u32(g, "llama.context_length", &ctx)) != ERR_OK ||
        (rc = tf_gguf_get_u32(g, "llama.embedding_length", &d)) != ERR_OK ||
        (rc = tf_gguf_get_u32(g, "llama.block_count", &L)) != ERR_OK ||
        (rc = tf_gguf_get_u32(g, "llama.feed_forward_length", &F)) != ERR_OK ||
        (rc = tf_gguf_get_u32(g, "llama.attention.head_count", &H)) != ERR_OK ||
        (rc = tf_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps)) != ERR_OK)
        return rc;
    KV = H;
    if (tf_gguf_find_kv(g, "llama.attention.head_count_kv") >= 0 &&
        (rc = tf_gguf_get_u32(g, "llama.attention.head_count_kv", &KV)) != ERR_OK)
        return rc;
    if (tf_gguf_find_kv(g, "llama.rope.freq_base") >= 0 &&
        (rc = tf_gguf_get_f32(g, "llama.rope.freq_base", &base)) != ERR_OK)
        return rc;
    const TfGgufTensor *emb = tf_gguf_find_tensor(g, "token_embd.weight");
    if (!emb)
        return err_set(ERR_NOTFOUND, "%s: no tensor \"token_embd.weight\"; hint: is this a "
                       "complete llama model?", path);
    if (emb->n_dims != 2 || emb->ne[0] != (int64_t)d || emb->ne[1] > INT32_MAX)
        return err_set(ERR_SHAPE, "%s: token_embd.weight has ne = {%lld, %lld}, expected "
                       "{embedding_length = %u, vocab}", path, (long long)emb->ne[0],
                       (long long)emb->ne[1], d);
    const uint32_t big = 1u << 20; // sizes beyond this are corrupt, not models
    if (d > big || F > big || H > big || KV > big || L > big)
        return err_set(ERR_RANGE, "%s: absurd sizes (embedding %u, ffn %u, heads %u/%u, "
                       "blocks %u)", path, d, F, H, KV, L);
    *cfg = (TfConfig){
        .arch = TF_LLAMA,
        .vocab = (int)emb->ne[1],
        .ctx = (int)(ctx > TF_GGUF_IMPORT_MAX_CTX ? TF_GGUF_IMPORT_MAX_CTX : ctx),
        .d_model = (int)d,
        .n_layer = (int)L,
        .n_head = (int)H,
        .n_kv_head = (int)KV,
        .d_ff = (int)F,
        .norm_eps = eps,
        .rope_base = base,
        .tie_embeddings = tf_gguf_find_tensor(g, "output.weight") == NULL,
        .dropout = 0.0f,
    };
    if (tf_config_check(cfg) != ERR_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err_msg());
        return err_set(ERR_INVALID, "%s: the engine cannot run this model: %s", path, msg);
    }
    return check_unsupported(g, cfg->d_model / cfg->n_head);
}

// Every tensor of the file must be one the config calls for, with its shape: anything else
// (biases, rope_freqs, a vision tower) is a feature the engine's llama lacks, and ignoring it
// would run a different model. Checked before any weight memory is allocated, so the sizes a
// (corrupt) header claims are bounded by the tensors actually in the file. The list is
// model.c's own layout (tf_model_param_specs), the one tf_model_alloc registers.
static int check_tensors(const TfGguf *g, const TfConfig *cfg)
{
    const char *path = tf_gguf_path(g);
    TfParamSpec *e = xmalloc((size_t)tf_model_param_specs(cfg, NULL) * sizeof *e);
    int n = tf_model_param_specs(cfg, e), rc = ERR_OK;
    for (int64_t i = 0; i < tf_gguf_n_tensors(g) && rc == ERR_OK; i++) {
        const char *name = tf_gguf_tensor(g, i)->name;
        int k = 0;
        while (k < n && strcmp(e[k].name, name) != 0) k++;
        if (k < n) continue;
        size_t len = strlen(name);
        const char *why = len > 5 && strcmp(name + len - 5, ".bias") == 0 ?
            "bias tensors are not supported (the engine's llama has no biases)" :
            strcmp(name, "rope_freqs.weight") == 0 ? "RoPE frequency scaling is not supported" :
            "the engine's llama (with this block_count) has no such tensor";
        rc = err_set(ERR_FORMAT, "%s: tensor \"%s\": %s; hint: only llama-architecture "
                     "weights (model.h's names) can be imported", path, name, why);
    }
    for (int k = 0; k < n && rc == ERR_OK; k++) {
        const TfGgufTensor *gt = tf_gguf_find_tensor(g, e[k].name);
        if (!gt) {
            rc = err_set(ERR_NOTFOUND, "%s: tensor \"%s\" is missing; hint: the metadata calls "
                         "for %d blocks%s", path, e[k].name, cfg->n_layer,
                         strcmp(e[k].name, "output.weight") == 0 ? " and untied output" : "");
            break;
        }
        // GGUF lists dims innermost first: (rows, cols) is ne = {cols, rows}.
        int64_t want0 = e[k].ndim == 2 ? e[k].shape[1] : e[k].shape[0];
        int64_t want1 = e[k].ndim == 2 ? e[k].shape[0] : 1;
        if (gt->n_dims != e[k].ndim || gt->ne[0] != want0 || gt->ne[1] != want1)
            rc = err_set(ERR_SHAPE, "%s: tensor \"%s\" has %d dims, ne = {%lld, %lld}; the "
                         "metadata calls for %d dims, ne = {%lld, %lld}; hint: the file is "
                         "inconsistent", path, e[k].name, gt->n_dims, (long long)gt->ne[0],
                         (long long)gt->ne[1], e[k].ndim, (long long)want0, (long long)want1);
    }
    free(e);
    return rc;
}

int tf_gguf_model_from(const TfGguf *g, TfModel **out)
{
    CHECK(g && out, "tf_gguf_model_from: NULL argument");
    *out = NULL;
    TfConfig cfg;
    int rc = config_from(g, &cfg);
    if (rc == ERR_OK) rc = check_tensors(g, &cfg);
    if (rc != ERR_OK) return rc;
    // The registry has exactly the checked names and shapes (tf_model_param_specs), so this
    // only copies. Inference-only: no gradient buffers, half the memory of a trainable model.
    TfModel *m = tf_model_alloc(&cfg, false);
    int n_p = nn_params_count(m->params);
    for (int i = 0; i < n_p; i++) {
        const NnParam *p = nn_params_at(m->params, i);
        const TfGgufTensor *gt = tf_gguf_find_tensor(g, p->name);
        CHECK(gt && gt->n_elem == tensor_numel(p->t), "tf_gguf_model_from: %s disagrees with "
              "the checked tensor list", p->name);
        tf_gguf_tensor_to_f32(gt, p->t->data);
    }
    *out = m;
    return ERR_OK;
}

// ---------------------------------------------------------------------------
// Import: the tokenizer
// ---------------------------------------------------------------------------

typedef struct {
    int n;
    uint8_t *bytes;
    int64_t *off;   // (n + 1)
    TokMap by_hash; // hash of a token's bytes -> the first id with them
} ImportVocab;

static int64_t import_find(const ImportVocab *v, const uint8_t *s, size_t n)
{
    int64_t id = tok_map_get(&v->by_hash, tok_hash_bytes(s, n));
    if (id < 0) return -1;
    if ((size_t)(v->off[id + 1] - v->off[id]) == n && memcmp(v->bytes + v->off[id], s, n) == 0)
        return id;
    for (int i = 0; i < v->n; i++) // a 64-bit hash collision: the slow way
        if ((size_t)(v->off[i + 1] - v->off[i]) == n && memcmp(v->bytes + v->off[i], s, n) == 0)
            return i;
    return -1;
}

static int import_tokens(const TfGguf *g, ImportVocab *v)
{
    const char *path = tf_gguf_path(g);
    TfGgufValType et;
    int64_t n, n_types = -1;
    int rc = tf_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n);
    if (rc != ERR_OK) return rc;
    if (et != TF_GGUF_VAL_STRING || n < 256 || n > INT32_MAX / 2)
        return err_set(ERR_FORMAT, "%s: tokenizer.ggml.tokens is %lld %s elements; hint: a "
                       "byte-level vocabulary is >= 256 strings", path, (long long)n,
                       tf_gguf_val_type_name(et));
    int64_t kv_tok = tf_gguf_find_kv(g, "tokenizer.ggml.tokens");
    int64_t kv_type = tf_gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (kv_type >= 0) {
        if ((rc = tf_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n_types)) != ERR_OK)
            return rc;
        if (et == TF_GGUF_VAL_STRING || n_types != n)
            return err_set(ERR_FORMAT, "%s: tokenizer.ggml.token_type has %lld %s elements for "
                           "%lld tokens; hint: one integer per token", path,
                           (long long)n_types, tf_gguf_val_type_name(et), (long long)n);
    }
    int16_t inv[324];
    tok_unicode_to_byte_table(inv);
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t len;
        tf_gguf_arr_str(g, kv_tok, i, &len);
        total += len;
    }
    v->n = 0;
    v->bytes = xmalloc(total + 1);
    v->off = xmalloc((size_t)(n + 1) * sizeof *v->off);
    v->off[0] = 0;
    tok_map_init(&v->by_hash, (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        size_t len;
        const char *s = tf_gguf_arr_str(g, kv_tok, i, &len);
        int64_t k = tok_token_from_unicode(inv, s, len, v->bytes + v->off[i]);
        int type = kv_type >= 0 ? (int)tf_gguf_arr_num(g, kv_type, i) : TOK_NORMAL;
        if (k < 0) {
            // Special and user-defined tokens ("<|im_start|>", ...) are stored as plain
            // text, not through the byte map.
            if (type == TOK_NORMAL || type == TOK_BYTE)
                return err_set(ERR_FORMAT, "%s: token %lld \"%.*s\" has a character outside "
                               "GPT-2's bytes_to_unicode map; hint: is this a byte-level BPE "
                               "vocabulary?", path, (long long)i, (int)(len > 40 ? 40 : len), s);
            memcpy(v->bytes + v->off[i], s, len);
            k = (int64_t)len;
        }
        v->off[i + 1] = v->off[i] + k;
        const uint8_t *b = v->bytes + v->off[i];
        v->n = (int)i; // import_find must only see the tokens placed before this one
        if (import_find(v, b, (size_t)k) < 0)
            tok_map_put(&v->by_hash, tok_hash_bytes(b, (size_t)k), i);
        v->n = (int)i + 1;
    }
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        if (import_find(v, &c, 1) < 0)
            return err_set(ERR_FORMAT, "%s: no token for the single byte %d; hint: a byte-level "
                           "BPE needs all 256 bytes to encode any text", path, b);
    }
    return ERR_OK;
}

static int import_merges(const TfGguf *g, const ImportVocab *v, int32_t (**out)[3], int *count)
{
    const char *path = tf_gguf_path(g);
    TfGgufValType et;
    int64_t n;
    int rc = tf_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n);
    if (rc != ERR_OK) return rc;
    if (et != TF_GGUF_VAL_STRING || n > INT32_MAX / 2)
        return err_set(ERR_FORMAT, "%s: tokenizer.ggml.merges is %lld %s elements; hint: "
                       "strings \"A B\"", path, (long long)n, tf_gguf_val_type_name(et));
    int64_t kv = tf_gguf_find_kv(g, "tokenizer.ggml.merges");
    int32_t(*m)[3] = xmalloc((size_t)(n ? n : 1) * sizeof *m);
    int16_t inv[324];
    tok_unicode_to_byte_table(inv);
    uint8_t *buf = NULL;
    size_t buf_cap = 0;
    for (int64_t r = 0; r < n; r++) {
        size_t len;
        const char *s = tf_gguf_arr_str(g, kv, r, &len);
        // Split at the first space after the first character, as llama.cpp does.
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (len + 1 > buf_cap) buf_cap = 2 * len + 16, buf = xrealloc(buf, buf_cap);
        int64_t la = -1, lb = -1, a = -1, b = -1, ab = -1;
        if (sp) {
            la = tok_token_from_unicode(inv, s, (size_t)(sp - s), buf);
            lb = la < 0 ? -1 : tok_token_from_unicode(inv, sp + 1, len - (size_t)(sp - s) - 1, buf + la);
        }
        if (la > 0 && lb > 0) {
            a = import_find(v, buf, (size_t)la);
            b = import_find(v, buf + la, (size_t)lb);
            ab = import_find(v, buf, (size_t)(la + lb));
        }
        if (a < 0 || b < 0 || ab < 0) {
            rc = err_set(ERR_FORMAT, "%s: tokenizer.ggml.merges[%lld] = \"%.*s\" is not two "
                         "tokens whose concatenation is a token; hint: merges and tokens must "
                         "come from the same tokenizer", path, (long long)r,
                         (int)(len > 60 ? 60 : len), s);
            break;
        }
        m[r][0] = (int32_t)a, m[r][1] = (int32_t)b, m[r][2] = (int32_t)ab;
    }
    free(buf);
    if (rc != ERR_OK) {
        free(m);
        return rc;
    }
    *out = m;
    *count = (int)n;
    return ERR_OK;
}

int tf_gguf_tok_from(const TfGguf *g, TfBpe **out)
{
    CHECK(g && out, "tf_gguf_tok_from: NULL argument");
    *out = NULL;
    const char *path = tf_gguf_path(g);
    const char *model;
    size_t len;
    int rc = tf_gguf_get_str(g, "tokenizer.ggml.model", &model, &len);
    if (rc != ERR_OK) return rc;
    if (!(len == 4 && memcmp(model, "gpt2", 4) == 0))
        return err_set(ERR_FORMAT, "%s: tokenizer.ggml.model = \"%.*s\": only byte-level BPE "
                       "(\"gpt2\") tokenizers are supported%s; hint: import with tok = NULL to "
                       "load the weights alone and tokenize elsewhere", path,
                       (int)(len > 40 ? 40 : len), model,
                       len == 5 && memcmp(model, "llama", 5) == 0 ?
                       " (\"llama\" is sentencepiece)" : "");
    ImportVocab v = {0};
    rc = import_tokens(g, &v);
    int32_t(*merges)[3] = NULL;
    int n_merges = 0;
    if (rc == ERR_OK) rc = import_merges(g, &v, &merges, &n_merges);
    if (rc == ERR_OK)
        *out = tok_bpe_build(v.n, v.bytes, v.off, n_merges, (const int32_t(*)[3])merges);
    free(merges);
    free(v.bytes);
    free(v.off);
    if (v.by_hash.keys) tok_map_deinit(&v.by_hash);
    return rc;
}

int tf_gguf_import(const char *path, TfModel **model, TfBpe **tok)
{
    CHECK(path && model, "tf_gguf_import: NULL argument");
    *model = NULL;
    if (tok) *tok = NULL;
    TfGguf *g;
    int rc = tf_gguf_open(path, &g);
    if (rc != ERR_OK) return rc;
    TfBpe *t = NULL;
    // The tokenizer first: it is cheap, and its errors should not cost a model load.
    if (tok) rc = tf_gguf_tok_from(g, &t);
    if (rc == ERR_OK) rc = tf_gguf_model_from(g, model);
    tf_gguf_close(g);
    if (rc != ERR_OK) {
        tf_tok_bpe_free(t);
        return rc;
    }
    if (tok) *tok = t;
    return ERR_OK;
}
