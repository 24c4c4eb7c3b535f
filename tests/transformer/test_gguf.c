/*
 * test_gguf.c: the GGUF container (transformer/gguf.c) and the model export/import
 * (transformer/gguf_model.c).
 *
 * Round trips: F32 export -> import is bit-identical (weights and tf_infer logits), F16 within
 * half-precision rounding, tokenizers encode the same text to the same ids, Q8_0 tensors
 * quantised here by the formula dequantise to d * q. Malformed files (bad magic, every
 * truncation, wrong types, bad offsets, absurd dims, unknown tensor types, duplicates, a fuzz
 * loop of random mutations) are rejected with an error and never crash (run under ASan too).
 *
 * Allocation (TCase "alloc"): tf_model_alloc registers what tf_model_create registers (names,
 * order, shapes, as tf_model_param_specs lists them), zero-filled; without gradients it holds
 * half the memory, runs the same forward, CHECKs when trained, and can still carry LoRA
 * adapters that train. Imports and tf_model_load_no_grad give such inference-only models.
 *
 * The week-3 lab (TCase "lab"): `week03_transformer generate --gguf FILE` on an exported
 * model prints what tf_generate gives on the original model (greedy and sampled, text and
 * --tokens ids), and fails with a clear message on a non-llama file or an unsupported
 * tokenizer. It runs the lab binary of the same build (make builds it with the tests).
 */
#include "core/arena.h"
#include "core/err.h"
#include "core/io.h"
#include "core/rng.h"
#include "nn/lora.h"
#include "tests/test_util.h"
#include "transformer/generate.h"
#include "transformer/gguf.h"
#include "transformer/model.h"
#include "transformer/sample.h"
#include "transformer/tokenizer.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

static TfConfig small_cfg(int vocab, bool tied)
{
    TfConfig c = tf_config_default(TF_LLAMA);
    c.vocab = vocab;
    c.ctx = 32;
    c.d_model = 64;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_kv_head = 2;
    c.d_ff = 96;
    c.norm_eps = 1e-5f;
    c.rope_base = 10000.0f;
    c.tie_embeddings = tied;
    c.dropout = 0.0f;
    return c;
}

// Gives the norm gains values other than 1 so that their round trip is tested too.
static TfModel *small_model(int vocab, bool tied, uint64_t seed)
{
    TfConfig c = small_cfg(vocab, tied);
    TfModel *m = tf_model_create(&c, seed);
    Rng rng;
    rng_init(&rng, seed + 1);
    for (int l = 0; l < c.n_layer; l++) {
        tensor_fill_uniform(m->layer[l].attn_norm_w, &rng, 0.5f, 1.5f);
        tensor_fill_uniform(m->layer[l].ffn_norm_w, &rng, 0.5f, 1.5f);
    }
    tensor_fill_uniform(m->norm_w, &rng, 0.5f, 1.5f);
    return m;
}

static unsigned char *read_file(const char *path, size_t *n)
{
    unsigned char *data;
    ck_assert_int_eq(io_read_all(path, &data, n), ERR_OK);
    return data;
}

// Writes bytes to a temporary file without fsync (the fuzz loop writes thousands).
static const char *write_plain(const char *name, const void *data, size_t n)
{
    const char *path = test_tmp_path(name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

// Offset of the first occurrence of pat in buf (the test fails when absent).
static size_t find_bytes(const unsigned char *buf, size_t n, const void *pat, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(buf + i, pat, m) == 0) return i;
    ck_abort_msg("pattern not found");
    return 0;
}

// Offset just after a GGUF string (u64 length + bytes) equal to s.
static size_t after_string(const unsigned char *buf, size_t n, const char *s)
{
    size_t len = strlen(s);
    unsigned char pat[80];
    uint64_t l = len;
    memcpy(pat, &l, 8);
    memcpy(pat + 8, s, len);
    return find_bytes(buf, n, pat, 8 + len) + 8 + len;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put_u64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

// Opens a (mutated) buffer and expects the given error code with the given message parts.
static void expect_open_err(const unsigned char *buf, size_t n, int code,
                            const char *const *needles)
{
    const char *path = write_plain("bad.gguf", buf, n);
    TfGguf *g = (TfGguf *)1;
    int rc = tf_gguf_open(path, &g);
    ck_assert_ptr_null(g);
    test_expect_err(rc, code, needles);
}

// A small container: three KVs and tensors "a" (F32, 3x5), "b" (F16, 8), "c" (F32, 8).
// The last tensor is 32 bytes, so the file ends exactly at its data (no trailing padding):
// every proper prefix is then a truncated file.
static const float A_VALS[15] = {1, -2, 3.5f, 0, 1e-3f, 7, 8, 9, 10, 11, 12, 13, 14, 15, -16};
static const uint16_t B_VALS[8] = {0x3C00, 0xC000, 0x0001, 0x7BFF, 0x8000, 0x3555, 0x1234, 0};
static const float C_VALS[8] = {0.5f, 0.25f, -0.125f, 1, 2, 3, 4, 5};

static void write_small(const char *path)
{
    TfGgufWriter *w = tf_gguf_writer_create();
    tf_gguf_writer_add_str(w, "general.architecture", "test");
    tf_gguf_writer_add_u32(w, "test.count", 42);
    tf_gguf_writer_add_bool(w, "test.flag", true);
    tf_gguf_writer_add_tensor(w, "a", TF_GGUF_F32, 2, (int64_t[]){5, 3}, A_VALS);
    tf_gguf_writer_add_tensor(w, "b", TF_GGUF_F16, 1, (int64_t[]){8}, B_VALS);
    tf_gguf_writer_add_tensor(w, "c", TF_GGUF_F32, 1, (int64_t[]){8}, C_VALS);
    ck_assert_int_eq(tf_gguf_writer_write(w, path), ERR_OK);
    tf_gguf_writer_free(w);
}

static unsigned char *small_bytes(size_t *n)
{
    const char *path = test_tmp_path("small.gguf");
    write_small(path);
    return read_file(path, n);
}

// ---------------------------------------------------------------------------
// Half precision
// ---------------------------------------------------------------------------

START_TEST(test_f16_known_values)
{
    ck_assert_uint_eq(tf_f32_to_f16(1.0f), 0x3C00);
    ck_assert_uint_eq(tf_f32_to_f16(-2.0f), 0xC000);
    ck_assert_uint_eq(tf_f32_to_f16(65504.0f), 0x7BFF);    // largest half
    ck_assert_uint_eq(tf_f32_to_f16(65520.0f), 0x7C00);    // halfway to 2^16: even -> inf
    ck_assert_uint_eq(tf_f32_to_f16(0x1p-24f), 0x0001);    // smallest subnormal
    ck_assert_uint_eq(tf_f32_to_f16(0x1p-25f), 0x0000);    // a tie: rounds to even (0)
    ck_assert_uint_eq(tf_f32_to_f16(0x1.8p-25f), 0x0001);  // above the tie
    ck_assert_uint_eq(tf_f32_to_f16(1.0f + 0x1p-11f), 0x3C00); // tie -> even
    ck_assert_uint_eq(tf_f32_to_f16(1.0f + 0x1.8p-11f), 0x3C01);
    ck_assert(isnan(tf_f16_to_f32(tf_f32_to_f16(NAN))));
    ck_assert(isinf(tf_f16_to_f32(tf_f32_to_f16(1e10f))));
    ck_assert(tf_f16_to_f32(0x3555) == 0x1.554p-2f);
    ck_assert(tf_f16_to_f32(0x8001) == -0x1p-24f);
}
END_TEST

// Every half converts to a float and back to itself; a random float converts to the nearest
// half (no neighbour is closer).
START_TEST(test_f16_exhaustive_and_nearest)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = tf_f16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        ck_assert_msg(tf_f32_to_f16(f) == h, "half %04x -> %g -> %04x", h, f,
                      tf_f32_to_f16(f));
    }
    Rng rng;
    rng_init(&rng, 7);
    for (int i = 0; i < 100000; i++) {
        float x = (rng_uniform(&rng) * 2.0f - 1.0f) * ldexpf(1.0f, (i % 40) - 26);
        uint16_t h = tf_f32_to_f16(x);
        double err = fabs((double)tf_f16_to_f32(h) - x);
        for (int d = -1; d <= 1; d += 2) {
            uint16_t nb = (uint16_t)(h + d);
            float y = tf_f16_to_f32(nb);
            if (isnan(y) || isinf(y) || ((nb ^ h) & 0x8000)) continue;
            ck_assert_msg(err <= fabs((double)y - x), "%g -> %04x, but %04x is closer", x, h, nb);
        }
    }
}
END_TEST

// ---------------------------------------------------------------------------
// Container
// ---------------------------------------------------------------------------

START_TEST(test_container_roundtrip)
{
    const char *path = test_tmp_path("rt.gguf");
    TfGgufWriter *w = tf_gguf_writer_create();
    const char *strs[] = {"x", "", "héllo"};
    int32_t ints[] = {-1, 0, 7};
    float fl[] = {0.5f, -3.0f};
    tf_gguf_writer_add_u32(w, "general.alignment", 64);
    tf_gguf_writer_add_u32(w, "k.u32", 4000000000u);
    tf_gguf_writer_add_i32(w, "k.i32", -5);
    tf_gguf_writer_add_f32(w, "k.f32", 0.25f);
    tf_gguf_writer_add_bool(w, "k.bool", false);
    tf_gguf_writer_add_str(w, "k.str", "value");
    tf_gguf_writer_add_arr_str(w, "k.astr", strs, NULL, 3);
    tf_gguf_writer_add_arr_i32(w, "k.ai32", ints, 3);
    tf_gguf_writer_add_arr_f32(w, "k.af32", fl, 2);
    tf_gguf_writer_add_tensor(w, "a", TF_GGUF_F32, 2, (int64_t[]){5, 3}, A_VALS);
    tf_gguf_writer_add_tensor(w, "b", TF_GGUF_F16, 1, (int64_t[]){8}, B_VALS);
    tf_gguf_writer_add_tensor_f32(w, "c16", TF_GGUF_F16, 1, (int64_t[]){8}, C_VALS);
    ck_assert_int_eq(tf_gguf_writer_write(w, path), ERR_OK);
    tf_gguf_writer_free(w);

    TfGguf *g;
    ck_assert_int_eq(tf_gguf_open(path, &g), ERR_OK);
    ck_assert_int_eq(tf_gguf_version(g), 3);
    ck_assert_uint_eq(tf_gguf_alignment(g), 64);
    ck_assert_int_eq(tf_gguf_n_kv(g), 9);
    ck_assert_str_eq(tf_gguf_kv_key(g, 3), "k.f32");
    uint32_t u;
    float f;
    bool b;
    const char *s;
    size_t len;
    ck_assert_int_eq(tf_gguf_get_u32(g, "k.u32", &u), ERR_OK);
    ck_assert_uint_eq(u, 4000000000u);
    ck_assert_int_eq(tf_gguf_get_f32(g, "k.f32", &f), ERR_OK);
    ck_assert(f == 0.25f);
    ck_assert_int_eq(tf_gguf_get_bool(g, "k.bool", &b), ERR_OK);
    ck_assert(!b);
    ck_assert_int_eq(tf_gguf_get_str(g, "k.str", &s, &len), ERR_OK);
    ck_assert(len == 5 && memcmp(s, "value", 5) == 0);
    // Strict types: an i32 is not a u32; absent keys are ERR_NOTFOUND.
    test_expect_err(tf_gguf_get_u32(g, "k.i32", &u), ERR_FORMAT,
                    (const char *[]){"k.i32", "i32", "u32", NULL});
    test_expect_err(tf_gguf_get_u32(g, "k.none", &u), ERR_NOTFOUND,
                    (const char *[]){"k.none", NULL});
    TfGgufValType et;
    int64_t cnt;
    ck_assert_int_eq(tf_gguf_get_arr(g, "k.astr", &et, &cnt), ERR_OK);
    ck_assert(et == TF_GGUF_VAL_STRING && cnt == 3);
    int64_t kv = tf_gguf_find_kv(g, "k.astr");
    for (int i = 0; i < 3; i++) {
        s = tf_gguf_arr_str(g, kv, i, &len);
        ck_assert(len == strlen(strs[i]) && memcmp(s, strs[i], len) == 0);
    }
    kv = tf_gguf_find_kv(g, "k.ai32");
    for (int i = 0; i < 3; i++) ck_assert(tf_gguf_arr_num(g, kv, i) == ints[i]);
    kv = tf_gguf_find_kv(g, "k.af32");
    for (int i = 0; i < 2; i++) ck_assert(tf_gguf_arr_num(g, kv, i) == fl[i]);
    ck_assert_int_eq(tf_gguf_find_kv(g, "nope"), -1);

    // Tensors: shapes as given, offsets the running sum of sizes padded to 64.
    ck_assert_int_eq(tf_gguf_n_tensors(g), 3);
    const TfGgufTensor *ta = tf_gguf_find_tensor(g, "a"), *tb = tf_gguf_find_tensor(g, "b");
    const TfGgufTensor *tc = tf_gguf_find_tensor(g, "c16");
    ck_assert(ta && tb && tc && !tf_gguf_find_tensor(g, "d"));
    ck_assert(ta->n_dims == 2 && ta->ne[0] == 5 && ta->ne[1] == 3 && ta->n_elem == 15);
    ck_assert(ta->offset == 0 && tb->offset == 64 && tc->offset == 128);
    float out[15];
    tf_gguf_tensor_to_f32(ta, out);
    ck_assert(memcmp(out, A_VALS, sizeof A_VALS) == 0);
    tf_gguf_tensor_to_f32(tb, out);
    for (int i = 0; i < 8; i++) ck_assert(out[i] == tf_f16_to_f32(B_VALS[i]));
    tf_gguf_tensor_to_f32(tc, out);
    for (int i = 0; i < 8; i++) ck_assert(out[i] == C_VALS[i]); // exact in f16
    tf_gguf_close(g);

    // The data section starts at a multiple of the alignment and the file ends after the
    // last tensor's padded data.
    size_t n;
    unsigned char *buf = read_file(path, &n);
    ck_assert_uint_eq(n % 64, 0);
    size_t data_start = n - 3 * 64;
    ck_assert(memcmp(buf + data_start, A_VALS, sizeof A_VALS) == 0);
    free(buf);
}
END_TEST

// Q8_0 quantised here by the format's formula: per block of 32, d = max|x| / 127 stored as
// f16, q = round(x / d); the reader must give back d_f16 * q exactly, and the writer's own
// quantiser must produce the same bytes.
START_TEST(test_q8_0_dequantise)
{
    enum { ROWS = 3, COLS = 64, N = ROWS * COLS, NB = N / 32 };
    float x[N];
    Rng rng;
    rng_init(&rng, 3);
    for (int i = 0; i < N; i++) x[i] = (rng_uniform(&rng) - 0.5f) * 4.0f;
    for (int i = 32; i < 64; i++) x[i] = 0.0f; // an all-zero block: d = 0
    unsigned char raw[NB * 34];
    float want[N];
    for (int b = 0; b < NB; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            if (fabsf(x[b * 32 + j]) > amax) amax = fabsf(x[b * 32 + j]);
        float d = amax / 127.0f;
        uint16_t dh = tf_f32_to_f16(d);
        memcpy(raw + b * 34, &dh, 2);
        for (int j = 0; j < 32; j++) {
            int q = d > 0 ? (int)lrintf(x[b * 32 + j] / d) : 0;
            ck_assert(q >= -127 && q <= 127);
            raw[b * 34 + 2 + j] = (unsigned char)(int8_t)q;
            want[b * 32 + j] = tf_f16_to_f32(dh) * (float)q;
        }
    }
    const char *path = test_tmp_path("q8.gguf");
    TfGgufWriter *w = tf_gguf_writer_create();
    tf_gguf_writer_add_tensor(w, "q", TF_GGUF_Q8_0, 2, (int64_t[]){COLS, ROWS}, raw);
    tf_gguf_writer_add_tensor_f32(w, "q_by_writer", TF_GGUF_Q8_0, 2, (int64_t[]){COLS, ROWS}, x);
    ck_assert_int_eq(tf_gguf_writer_write(w, path), ERR_OK);
    tf_gguf_writer_free(w);
    TfGguf *g;
    ck_assert_int_eq(tf_gguf_open(path, &g), ERR_OK);
    const TfGgufTensor *t = tf_gguf_find_tensor(g, "q");
    ck_assert(t && t->type == TF_GGUF_Q8_0 && t->nbytes == sizeof raw);
    float got[N];
    tf_gguf_tensor_to_f32(t, got);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(got[i] == want[i], "element %d: %g vs %g", i, got[i], want[i]);
        // And the quantisation error is at most half a step (plus the f16 rounding of d).
        ck_assert(fabsf(got[i] - x[i]) <= 2.0f / 127.0f * 0.51f + 1e-3f);
    }
    const TfGgufTensor *t2 = tf_gguf_find_tensor(g, "q_by_writer");
    ck_assert(memcmp(t2->data, raw, sizeof raw) == 0);
    tf_gguf_close(g);
}
END_TEST

// ---------------------------------------------------------------------------
// Model export / import
// ---------------------------------------------------------------------------

// Logits of a fixed token sequence through the KV-cache inference path (malloc'd).
static float *infer_logits(const TfModel *m, const int32_t *toks, int n)
{
    TfInfer *s = tf_infer_create(m, 32);
    tf_infer_set_threads(s, 1);
    const float *l = tf_infer_forward(s, toks, n, 0);
    float *out = xmalloc((size_t)m->cfg.vocab * sizeof *out);
    memcpy(out, l, (size_t)m->cfg.vocab * sizeof *out);
    tf_infer_free(s);
    return out;
}

static void roundtrip_f32(bool tied)
{
    TfModel *m = small_model(300, tied, 11);
    const char *path = test_tmp_path("m32.gguf");
    ck_assert_int_eq(tf_gguf_export(m, NULL, TF_GGUF_F32, path), ERR_OK);
    TfModel *m2;
    TfBpe *tok;
    ck_assert_int_eq(tf_gguf_import(path, &m2, &tok), ERR_OK);
    ck_assert(tf_config_equal(&m->cfg, &m2->cfg));
    ck_assert_int_eq(nn_params_count(m->params), nn_params_count(m2->params));
    for (int i = 0; i < nn_params_count(m->params); i++) {
        // Same registry, entry by entry (names, order, shapes), as tf_model_create makes it.
        const NnParam *p = nn_params_at(m->params, i);
        ck_assert_str_eq(nn_params_at(m2->params, i)->name, p->name);
        Tensor *q = nn_params_get(m2->params, p->name);
        ck_assert_msg(q && tensor_same_shape(p->t, q), "%s", p->name);
        ck_assert_msg(memcmp(p->t->data, q->data, (size_t)tensor_numel(q) * 4) == 0,
                      "%s differs", p->name);
    }
    int32_t toks[] = {1, 200, 17, 299, 0, 5, 42};
    float *a = infer_logits(m, toks, 7), *b = infer_logits(m2, toks, 7);
    ck_assert(memcmp(a, b, 300 * sizeof *a) == 0);
    free(a);
    free(b);
    // The tied file has no output.weight (llama.cpp then reuses token_embd).
    TfGguf *g;
    ck_assert_int_eq(tf_gguf_open(path, &g), ERR_OK);
    ck_assert(!tf_gguf_find_tensor(g, "output.weight") == tied);
    const TfGgufTensor *q = tf_gguf_find_tensor(g, "blk.1.attn_k.weight");
    ck_assert(q->ne[0] == 64 && q->ne[1] == 32); // (KVH * hd, C) reversed
    tf_gguf_close(g);
    tf_tok_bpe_free(tok);
    tf_model_free(m);
    tf_model_free(m2);
}

START_TEST(test_model_f32_roundtrip_untied)
{
    roundtrip_f32(false);
}
END_TEST

START_TEST(test_model_f32_roundtrip_tied)
{
    roundtrip_f32(true);
}
END_TEST

START_TEST(test_model_f16_roundtrip)
{
    TfModel *m = small_model(300, false, 12);
    const char *path = test_tmp_path("m16.gguf");
    ck_assert_int_eq(tf_gguf_export(m, NULL, TF_GGUF_F16, path), ERR_OK);
    TfGguf *g;
    ck_assert_int_eq(tf_gguf_open(path, &g), ERR_OK);
    ck_assert(tf_gguf_find_tensor(g, "blk.0.attn_norm.weight")->type == TF_GGUF_F32);
    ck_assert(tf_gguf_find_tensor(g, "output_norm.weight")->type == TF_GGUF_F32);
    ck_assert(tf_gguf_find_tensor(g, "blk.0.ffn_down.weight")->type == TF_GGUF_F16);
    ck_assert(tf_gguf_find_tensor(g, "token_embd.weight")->type == TF_GGUF_F16);
    tf_gguf_close(g);
    TfModel *m2;
    ck_assert_int_eq(tf_gguf_import(path, &m2, NULL), ERR_OK);
    for (int i = 0; i < nn_params_count(m->params); i++) {
        const NnParam *p = nn_params_at(m->params, i);
        const float *x = p->t->data, *y = nn_params_get(m2->params, p->name)->data;
        for (int64_t j = 0; j < tensor_numel(p->t); j++) {
            // Half precision keeps 11 significant bits: relative error <= 2^-11 (normal
            // range), absolute <= 2^-25 (subnormal range). Norms (F32) must be exact.
            double tol = p->t->ndim == 1 ? 0.0 : fmax(fabs(x[j]) * 0x1p-11, 0x1p-25);
            ck_assert_msg(fabs((double)y[j] - x[j]) <= tol, "%s[%lld]: %g vs %g", p->name,
                          (long long)j, y[j], x[j]);
        }
    }
    int32_t toks[] = {3, 4, 5, 250};
    float *a = infer_logits(m, toks, 4), *b = infer_logits(m2, toks, 4);
    ck_assert(check_close(b, a, 300, 2e-3, 1e-2, "f16 logits"));
    free(a);
    free(b);
    tf_model_free(m);
    tf_model_free(m2);
}
END_TEST

START_TEST(test_model_q8_0_export_import)
{
    TfConfig c = small_cfg(300, true);
    c.d_ff = 128;
    TfModel *m = tf_model_create(&c, 5);
    const char *path = test_tmp_path("m8.gguf");
    ck_assert_int_eq(tf_gguf_export(m, NULL, TF_GGUF_Q8_0, path), ERR_OK);
    TfModel *m2;
    ck_assert_int_eq(tf_gguf_import(path, &m2, NULL), ERR_OK);
    const float *x = m->layer[0].wq->data, *y = m2->layer[0].wq->data;
    for (int b = 0; b < 64 * 64 / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        // Half a step of d = amax / 127, plus up to 127 steps of d's f16 rounding (2^-11).
        for (int j = 0; j < 32; j++)
            ck_assert(fabsf(y[b * 32 + j] - x[b * 32 + j]) <= amax / 127.0f * 0.57f);
    }
    tf_model_free(m);
    tf_model_free(m2);
}
END_TEST

static const char TEXT[] =
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away, "
    "quickly and quietly, over the hills and far away. 12345 foxes, 678 dogs!\n"
    "Über naïve café — ünïcödé bytes \x01\x02\xff too.";

START_TEST(test_tokenizer_roundtrip)
{
    TfBpe *bpe = tf_tok_bpe_train(TEXT, sizeof TEXT - 1, 300);
    int n_tok = tf_tok_bpe_vocab_size(bpe);
    ck_assert_int_gt(n_tok, 256);
    TfModel *m = small_model(320, true, 13); // 320 > n_tok: filler ids and an <|endoftext|>
    const char *path = test_tmp_path("tok.gguf");
    ck_assert_int_eq(tf_gguf_export(m, bpe, TF_GGUF_F32, path), ERR_OK);

    // The metadata llama.cpp reads.
    TfGguf *g;
    ck_assert_int_eq(tf_gguf_open(path, &g), ERR_OK);
    const char *s;
    size_t len;
    ck_assert_int_eq(tf_gguf_get_str(g, "tokenizer.ggml.model", &s, &len), ERR_OK);
    ck_assert(len == 4 && memcmp(s, "gpt2", 4) == 0);
    ck_assert_int_eq(tf_gguf_get_str(g, "tokenizer.ggml.pre", &s, &len), ERR_OK);
    ck_assert(len == 5 && memcmp(s, "gpt-2", 5) == 0);
    int64_t kt = tf_gguf_find_kv(g, "tokenizer.ggml.tokens");
    int64_t ktype = tf_gguf_find_kv(g, "tokenizer.ggml.token_type");
    TfGgufValType et;
    int64_t cnt;
    ck_assert_int_eq(tf_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &cnt), ERR_OK);
    ck_assert_int_eq(cnt, 320);
    s = tf_gguf_arr_str(g, kt, 'A', &len); // printable bytes stand for themselves
    ck_assert(len == 1 && s[0] == 'A');
    s = tf_gguf_arr_str(g, kt, ' ', &len); // space is U+0120 "Ġ"
    ck_assert(len == 2 && (uint8_t)s[0] == 0xC4 && (uint8_t)s[1] == 0xA0);
    s = tf_gguf_arr_str(g, kt, 0, &len);   // byte 0 is U+0100 "Ā"
    ck_assert(len == 2 && (uint8_t)s[0] == 0xC4 && (uint8_t)s[1] == 0x80);
    s = tf_gguf_arr_str(g, kt, 319, &len);
    ck_assert(len == 13 && memcmp(s, "<|endoftext|>", 13) == 0);
    ck_assert(tf_gguf_arr_num(g, ktype, 319) == 3);     // CONTROL
    ck_assert(tf_gguf_arr_num(g, ktype, n_tok) == 5);   // UNUSED filler
    ck_assert(tf_gguf_arr_num(g, ktype, 100) == 1);     // NORMAL
    uint32_t eos, bos;
    bool add_bos;
    ck_assert_int_eq(tf_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos), ERR_OK);
    ck_assert_int_eq(tf_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos), ERR_OK);
    ck_assert(eos == 319 && bos == 319);
    ck_assert_int_eq(tf_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos), ERR_OK);
    ck_assert(!add_bos);
    ck_assert_int_eq(tf_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &cnt), ERR_OK);
    ck_assert_int_eq(cnt, tf_tok_bpe_n_merges(bpe));
    tf_gguf_close(g);

    TfModel *m2;
    TfBpe *bpe2;
    ck_assert_int_eq(tf_gguf_import(path, &m2, &bpe2), ERR_OK);
    ck_assert_int_eq(tf_tok_bpe_vocab_size(bpe2), 320);
    ck_assert_int_eq(tf_tok_bpe_n_merges(bpe2), tf_tok_bpe_n_merges(bpe));
    const char *texts[] = {TEXT, "the fox and the dog", "zzz unseen \xf0\x9f\x98\x80 text 42"};
    for (int k = 0; k < 3; k++) {
        int32_t *a, *b;
        int64_t na = tf_tok_bpe_encode(bpe, texts[k], strlen(texts[k]), &a);
        int64_t nb = tf_tok_bpe_encode(bpe2, texts[k], strlen(texts[k]), &b);
        ck_assert_int_eq(na, nb);
        ck_assert(memcmp(a, b, (size_t)na * sizeof *a) == 0);
        if (k == 0) ck_assert_int_lt(na, (int64_t)strlen(texts[k])); // merges did apply
        char *dec;
        size_t dlen;
        ck_assert_int_eq(tf_tok_bpe_decode(bpe2, b, nb, &dec, &dlen), ERR_OK);
        ck_assert(dlen == strlen(texts[k]) && memcmp(dec, texts[k], dlen) == 0);
        free(dec);
        free(a);
        free(b);
    }
    tf_tok_bpe_free(bpe);
    tf_tok_bpe_free(bpe2);
    tf_model_free(m);
    tf_model_free(m2);
}
END_TEST

// Without a tokenizer the vocabulary is the 256 bytes (then fillers): text encodes byte by byte.
START_TEST(test_tokenizer_null_is_bytes)
{
    TfModel *m = small_model(260, true, 14);
    const char *path = test_tmp_path("bytes.gguf");
    ck_assert_int_eq(tf_gguf_export(m, NULL, TF_GGUF_F32, path), ERR_OK);
    TfModel *m2;
    TfBpe *t;
    ck_assert_int_eq(tf_gguf_import(path, &m2, &t), ERR_OK);
    int32_t *ids;
    int64_t n = tf_tok_bpe_encode(t, "hi \xff", 4, &ids);
    ck_assert_int_eq(n, 4);
    ck_assert(ids[0] == 'h' && ids[1] == 'i' && ids[2] == ' ' && ids[3] == 255);
    free(ids);
    tf_tok_bpe_free(t);
    tf_model_free(m);
    tf_model_free(m2);
}
END_TEST

START_TEST(test_export_refuses_gpt2)
{
    TfConfig c = tf_config_default(TF_GPT2);
    c.vocab = 64, c.ctx = 16, c.d_model = 32, c.n_layer = 1, c.n_head = 2, c.n_kv_head = 2;
    c.d_ff = 64;
    TfModel *m = tf_model_create(&c, 1);
    test_expect_err(tf_gguf_export(m, NULL, TF_GGUF_F32, test_tmp_path("g.gguf")), ERR_INVALID,
                    (const char *[]){"gpt2", "g.gguf", "hint", NULL});
    tf_model_free(m);
}
END_TEST

// A llama file built by hand with the writer, with one thing changed per case.
typedef enum {
    MK_OK, MK_ARCH_GPT2, MK_BIAS, MK_ROPE_SCALING, MK_SPM_TOKENIZER, MK_KEY_TYPE,
    MK_MISSING_TENSOR, MK_BAD_SHAPE
} MkCase;

static const char *make_llama(MkCase k, float *scratch)
{
    const char *path = test_tmp_path("hand.gguf");
    const int V = 256, C = 32, F = 32;
    TfGgufWriter *w = tf_gguf_writer_create();
    tf_gguf_writer_add_str(w, "general.architecture", k == MK_ARCH_GPT2 ? "gpt2" : "llama");
    tf_gguf_writer_add_u32(w, "llama.context_length", 64);
    tf_gguf_writer_add_u32(w, "llama.embedding_length", C);
    if (k == MK_KEY_TYPE) tf_gguf_writer_add_i32(w, "llama.block_count", 1);
    else tf_gguf_writer_add_u32(w, "llama.block_count", 1);
    tf_gguf_writer_add_u32(w, "llama.feed_forward_length", F);
    tf_gguf_writer_add_u32(w, "llama.attention.head_count", 4);
    tf_gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    if (k == MK_ROPE_SCALING) tf_gguf_writer_add_str(w, "llama.rope.scaling.type", "linear");
    tf_gguf_writer_add_str(w, "tokenizer.ggml.model", k == MK_SPM_TOKENIZER ? "llama" : "gpt2");
    char names[256][3];
    const char *toks[256];
    for (int i = 0; i < 256; i++) {
        // bytes_to_unicode by hand: printable ASCII stands for itself; others as U+0100+k.
        uint32_t cp = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174) ? (uint32_t)i
                                                                                  : 0;
        if (!cp) {
            uint32_t r = 0;
            for (int b = 0; b < i; b++)
                r += !((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174));
            cp = 256 + r;
        }
        if (cp < 0x80) names[i][0] = (char)cp, names[i][1] = 0;
        else names[i][0] = (char)(0xC0 | (cp >> 6)), names[i][1] = (char)(0x80 | (cp & 0x3F)),
             names[i][2] = 0;
        toks[i] = names[i];
    }
    tf_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 256);
    tf_gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", toks, NULL, 0);
    struct { const char *name; int64_t ne0, ne1; } t[] = {
        {"token_embd.weight", C, V}, {"blk.0.attn_norm.weight", C, 0},
        {"blk.0.attn_q.weight", C, C}, {"blk.0.attn_k.weight", C, C},
        {"blk.0.attn_v.weight", C, C}, {"blk.0.attn_output.weight", C, C},
        {"blk.0.ffn_norm.weight", C, 0}, {"blk.0.ffn_gate.weight", C, F},
        {"blk.0.ffn_up.weight", C, F}, {"blk.0.ffn_down.weight", F, C},
        {"output_norm.weight", C, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (k == MK_MISSING_TENSOR && i == 4) continue;
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        if (k == MK_BAD_SHAPE && i == 3) ne[1] = 16;
        tf_gguf_writer_add_tensor_f32(w, t[i].name, TF_GGUF_F32, ne[1] ? 2 : 1, ne, scratch);
    }
    if (k == MK_BIAS)
        tf_gguf_writer_add_tensor_f32(w, "blk.0.attn_q.bias", TF_GGUF_F32, 1, (int64_t[]){C},
                                      scratch);
    ck_assert_int_eq(tf_gguf_writer_write(w, path), ERR_OK);
    tf_gguf_writer_free(w);
    return path;
}

START_TEST(test_import_rejects_unsupported)
{
    float *scratch = xcalloc(256 * 32, sizeof *scratch);
    for (int i = 0; i < 256 * 32; i++) scratch[i] = 0.01f * (float)(i % 17);
    TfModel *m;
    TfBpe *t;
    ck_assert_int_eq(tf_gguf_import(make_llama(MK_OK, scratch), &m, &t), ERR_OK);
    ck_assert(m->cfg.n_layer == 1 && m->cfg.vocab == 256 && m->cfg.tie_embeddings &&
              m->cfg.n_kv_head == 4 && m->cfg.rope_base == 10000.0f && m->cfg.ctx == 64);
    tf_model_free(m);
    tf_tok_bpe_free(t);
    test_expect_err(tf_gguf_import(make_llama(MK_ARCH_GPT2, scratch), &m, NULL), ERR_FORMAT,
                    (const char *[]){"hand.gguf", "architecture", "gpt2", NULL});
    ck_assert_ptr_null(m);
    test_expect_err(tf_gguf_import(make_llama(MK_BIAS, scratch), &m, NULL), ERR_FORMAT,
                    (const char *[]){"blk.0.attn_q.bias", "bias", NULL});
    test_expect_err(tf_gguf_import(make_llama(MK_ROPE_SCALING, scratch), &m, NULL), ERR_FORMAT,
                    (const char *[]){"rope.scaling", "linear", NULL});
    test_expect_err(tf_gguf_import(make_llama(MK_KEY_TYPE, scratch), &m, NULL), ERR_FORMAT,
                    (const char *[]){"llama.block_count", "i32", "u32", NULL});
    test_expect_err(tf_gguf_import(make_llama(MK_MISSING_TENSOR, scratch), &m, NULL),
                    ERR_NOTFOUND, (const char *[]){"blk.0.attn_v.weight", "missing", NULL});
    test_expect_err(tf_gguf_import(make_llama(MK_BAD_SHAPE, scratch), &m, NULL), ERR_SHAPE,
                    (const char *[]){"blk.0.attn_k.weight", NULL});
    // A sentencepiece tokenizer: an error when asked for, the weights alone load.
    const char *spm = make_llama(MK_SPM_TOKENIZER, scratch);
    test_expect_err(tf_gguf_import(spm, &m, &t), ERR_FORMAT,
                    (const char *[]){"tokenizer.ggml.model", "llama", "sentencepiece", NULL});
    ck_assert(m == NULL && t == NULL);
    ck_assert_int_eq(tf_gguf_import(spm, &m, NULL), ERR_OK);
    tf_model_free(m);
    free(scratch);
}
END_TEST

// ---------------------------------------------------------------------------
// Malformed files
// ---------------------------------------------------------------------------

START_TEST(test_bad_magic_and_version)
{
    size_t n;
    unsigned char *buf = small_bytes(&n);
    buf[0] = 'X';
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"bad.gguf", "magic", "hint", NULL});
    buf[0] = 'G';
    put_u32(buf + 4, 4);
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"version 4", NULL});
    put_u32(buf + 4, 0x03000000); // a big-endian file
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"big-endian", NULL});
    put_u32(buf + 4, 2); // version 2 has the same layout: accepted
    TfGguf *g;
    ck_assert_int_eq(tf_gguf_open(write_plain("v2.gguf", buf, n), &g), ERR_OK);
    ck_assert_int_eq(tf_gguf_version(g), 2);
    tf_gguf_close(g);
    free(buf);
}
END_TEST

START_TEST(test_every_truncation_rejected)
{
    size_t n;
    unsigned char *buf = small_bytes(&n);
    TfGguf *g;
    ck_assert_int_eq(tf_gguf_open(write_plain("full.gguf", buf, n), &g), ERR_OK);
    tf_gguf_close(g);
    for (size_t len = 0; len < n; len++) {
        int rc = tf_gguf_open(write_plain("cut.gguf", buf, len), &g);
        ck_assert_msg(rc == ERR_TRUNCATED || rc == ERR_RANGE, "prefix of %zu/%zu bytes: rc %d",
                      len, n, rc);
        ck_assert_ptr_null(g);
        ck_assert(strstr(err_msg(), "cut.gguf"));
    }
    free(buf);
}
END_TEST

START_TEST(test_bad_kv_types)
{
    size_t n;
    unsigned char *buf = small_bytes(&n);
    size_t p = after_string(buf, n, "test.count"); // then u32 type, u32 value
    put_u32(buf + p, 13);
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"test.count", "value type 13", NULL});
    free(buf);
    buf = small_bytes(&n);
    p = after_string(buf, n, "test.flag");
    buf[p + 4] = 2; // a bool of 2
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"test.flag", "bool", NULL});
    free(buf);
    // Nested arrays and absurd array counts.
    TfGgufWriter *w = tf_gguf_writer_create();
    int32_t v[2] = {1, 2};
    tf_gguf_writer_add_arr_i32(w, "arr", v, 2);
    const char *path = test_tmp_path("arr.gguf");
    ck_assert_int_eq(tf_gguf_writer_write(w, path), ERR_OK);
    tf_gguf_writer_free(w);
    buf = read_file(path, &n);
    p = after_string(buf, n, "arr"); // u32 ARRAY, u32 elem type, u64 count
    put_u32(buf + p + 4, TF_GGUF_VAL_ARRAY);
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"arr", "nested", NULL});
    put_u32(buf + p + 4, TF_GGUF_VAL_I32);
    put_u64(buf + p + 8, 1ull << 61);
    expect_open_err(buf, n, ERR_RANGE, (const char *[]){"arr", "count", NULL});
    free(buf);
    // Duplicate keys: "key.b" renamed "key.a".
    w = tf_gguf_writer_create();
    tf_gguf_writer_add_u32(w, "key.a", 1);
    tf_gguf_writer_add_u32(w, "key.b", 2);
    path = test_tmp_path("dup.gguf");
    ck_assert_int_eq(tf_gguf_writer_write(w, path), ERR_OK);
    tf_gguf_writer_free(w);
    buf = read_file(path, &n);
    buf[after_string(buf, n, "key.b") - 1] = 'a';
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"key.a", "twice", NULL});
    free(buf);
    // Counts beyond the file, and a bad alignment.
    buf = small_bytes(&n);
    put_u64(buf + 16, 1ull << 40);
    expect_open_err(buf, n, ERR_RANGE, (const char *[]){"corrupt", NULL});
    free(buf);
    w = tf_gguf_writer_create();
    tf_gguf_writer_add_u32(w, "general.alignment", 32);
    tf_gguf_writer_add_tensor(w, "a", TF_GGUF_F32, 1, (int64_t[]){8}, C_VALS);
    path = test_tmp_path("align.gguf");
    ck_assert_int_eq(tf_gguf_writer_write(w, path), ERR_OK);
    tf_gguf_writer_free(w);
    buf = read_file(path, &n);
    put_u32(buf + after_string(buf, n, "general.alignment") + 4, 48);
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"general.alignment = 48", NULL});
    free(buf);
}
END_TEST

// Tensor info fields of tensor `name` in the small file: n_dims at the returned offset, then
// ne[n_dims], type, offset.
static size_t tensor_info(const unsigned char *buf, size_t n, const char *name)
{
    return after_string(buf, n, name);
}

START_TEST(test_bad_tensor_infos)
{
    size_t n;
    unsigned char *buf = small_bytes(&n);
    size_t a = tensor_info(buf, n, "a"); // n_dims 2, ne 5 3, type, offset
    size_t b = tensor_info(buf, n, "b"); // n_dims 1, ne 8, type, offset
    unsigned char *orig = xmalloc(n);
    memcpy(orig, buf, n);
#define RESET() memcpy(buf, orig, n)
    put_u32(buf + a, 5);
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"\"a\"", "n_dims = 5", NULL});
    RESET();
    put_u32(buf + a, 0);
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"n_dims = 0", NULL});
    RESET();
    put_u64(buf + a + 4, 0);
    expect_open_err(buf, n, ERR_RANGE, (const char *[]){"\"a\"", "dimension 0", NULL});
    RESET();
    put_u64(buf + a + 4, (uint64_t)-3);
    expect_open_err(buf, n, ERR_RANGE, (const char *[]){"dimension 0 is -3", NULL});
    RESET();
    put_u64(buf + a + 12, 1ull << 62); // elements far beyond the file (and overflowing * 4)
    expect_open_err(buf, n, ERR_RANGE, (const char *[]){"\"a\"", "dimension 1", NULL});
    RESET();
    put_u32(buf + a + 20, 12); // Q4_K
    expect_open_err(buf, n, ERR_FORMAT,
                    (const char *[]){"\"a\"", "unsupported tensor type Q4_K", "hint", NULL});
    RESET();
    put_u32(buf + a + 20, 200);
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"unsupported tensor type type 200",
                                                         NULL});
    RESET();
    put_u32(buf + a + 20, TF_GGUF_Q8_0); // ne[0] = 5 is not whole Q8_0 blocks
    expect_open_err(buf, n, ERR_SHAPE, (const char *[]){"Q8_0", NULL});
    RESET();
    put_u64(buf + b + 16, 33); // misaligned offset
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"\"b\"", "alignment", NULL});
    RESET();
    put_u64(buf + b + 16, 1ull << 40); // aligned but far outside
    expect_open_err(buf, n, ERR_RANGE, (const char *[]){"\"b\"", "outside", NULL});
    RESET();
    put_u64(buf + b + 16, 0); // on top of "a"
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"overlap", NULL});
    RESET();
    buf[b - 1] = 'a'; // "b" renamed "a": a duplicate
    expect_open_err(buf, n, ERR_FORMAT, (const char *[]){"tensor \"a\" appears twice", NULL});
    RESET();
    put_u64(buf + a - 9, 100); // the name length of "a" now runs past the header
    {
        TfGguf *g;
        int rc = tf_gguf_open(write_plain("bad.gguf", buf, n), &g);
        ck_assert(rc < 0 && g == NULL);
    }
#undef RESET
    free(orig);
    free(buf);
}
END_TEST

// Random mutations of an exported model (bit flips, byte overwrites, 64-bit field smashes,
// truncations), mostly in the header where the structure is. Every file must either open and
// be fully readable, or be rejected with a message; model and tokenizer import on whatever
// opens must likewise succeed or fail cleanly. ASan/UBSan catch any stray access.
START_TEST(test_fuzz_mutations)
{
    TfConfig c = small_cfg(260, true);
    c.d_model = 32, c.n_head = 2, c.n_kv_head = 1, c.d_ff = 32, c.n_layer = 1;
    TfModel *m = tf_model_create(&c, 9);
    TfBpe *bpe = tf_tok_bpe_train("aaab abab bbba aa bb ab", 23, 258);
    const char *path = test_tmp_path("fuzzbase.gguf");
    ck_assert_int_eq(tf_gguf_export(m, bpe, TF_GGUF_F16, path), ERR_OK);
    tf_tok_bpe_free(bpe);
    tf_model_free(m);
    size_t n;
    unsigned char *base = read_file(path, &n);
    TfGguf *g;
    // The header (metadata and tensor table) ends shortly after the last tensor's name.
    size_t header = find_bytes(base, n, "output_norm.weight", 18) + 64;
    unsigned char *buf = xmalloc(n);
    float *scratch = NULL;
    Rng rng;
    rng_init(&rng, 2024);
    int opened = 0, rejected = 0, models = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, base, n);
        size_t len = n;
        int muts = 1 + (int)(rng_u64(&rng) % 4);
        for (int k = 0; k < muts; k++) {
            uint64_t r = rng_u64(&rng);
            size_t pos = (r & 7) ? (size_t)((r >> 8) % header) : (size_t)((r >> 8) % n);
            switch ((r >> 3) % 4) {
            case 0: buf[pos] ^= (unsigned char)(1u << ((r >> 5) & 7)); break;
            case 1: buf[pos] = (unsigned char)(r >> 40); break;
            case 2: // a 64-bit field smashed with a power of two or all ones
                if (pos + 8 <= n) put_u64(buf + pos, (r >> 60) & 1 ? ~0ull : 1ull << (r % 64));
                break;
            default: len = pos; break;
            }
        }
        int rc = tf_gguf_open(write_plain("fuzz.gguf", buf, len), &g);
        if (rc != ERR_OK) {
            ck_assert(rc < 0 && g == NULL && err_msg()[0] != 0);
            rejected++;
            continue;
        }
        opened++;
        // Everything an opened file hands out must be readable.
        for (int64_t i = 0; i < tf_gguf_n_kv(g); i++) {
            const char *key = tf_gguf_kv_key(g, i);
            TfGgufValType et;
            int64_t cnt;
            if (tf_gguf_kv_type(g, i) == TF_GGUF_VAL_ARRAY &&
                tf_gguf_get_arr(g, key, &et, &cnt) == ERR_OK)
                for (int64_t j = 0; j < cnt; j++) {
                    size_t sl;
                    if (et == TF_GGUF_VAL_STRING) (void)tf_gguf_arr_str(g, i, j, &sl);
                    else (void)tf_gguf_arr_num(g, i, j);
                }
        }
        for (int64_t i = 0; i < tf_gguf_n_tensors(g); i++) {
            const TfGgufTensor *t = tf_gguf_tensor(g, i);
            scratch = xrealloc(scratch, (size_t)t->n_elem * sizeof *scratch);
            tf_gguf_tensor_to_f32(t, scratch);
        }
        TfModel *mm;
        TfBpe *tt;
        if (tf_gguf_model_from(g, &mm) == ERR_OK) models++, tf_model_free(mm);
        if (tf_gguf_tok_from(g, &tt) == ERR_OK) tf_tok_bpe_free(tt);
        tf_gguf_close(g);
    }
    // The loop must have exercised both sides.
    ck_assert_int_gt(rejected, 1000);
    ck_assert_int_gt(opened, 100);
    ck_assert_int_gt(models, 10);
    free(scratch);
    free(buf);
    free(base);
}
END_TEST

// ---------------------------------------------------------------------------
// Allocation without initialisation, with and without gradients
// ---------------------------------------------------------------------------

static TfConfig gpt2_cfg(void)
{
    TfConfig c = tf_config_default(TF_GPT2);
    c.vocab = 70, c.ctx = 16, c.d_model = 32, c.n_layer = 2, c.n_head = 4, c.n_kv_head = 4;
    c.d_ff = 48;
    return c;
}

// m's registry against tf_model_create's for the same config, and its own state.
static void check_alloc(const TfConfig *c, bool with_grads)
{
    TfModel *ref = tf_model_create(c, 3), *m = tf_model_alloc(c, with_grads);
    int n = nn_params_count(ref->params);
    ck_assert_int_eq(nn_params_count(m->params), n);
    ck_assert_int_eq(tf_model_param_specs(c, NULL), n);
    TfParamSpec *spec = xmalloc((size_t)n * sizeof *spec);
    ck_assert_int_eq(tf_model_param_specs(c, spec), n);
    ck_assert(nn_params_has_grads(m->params) == with_grads);
    for (int i = 0; i < n; i++) {
        const NnParam *a = nn_params_at(ref->params, i), *b = nn_params_at(m->params, i);
        ck_assert_str_eq(b->name, a->name);
        ck_assert_str_eq(spec[i].name, a->name);
        ck_assert_msg(tensor_same_shape(a->t, b->t), "%s", a->name);
        ck_assert_int_eq(spec[i].ndim, a->t->ndim);
        for (int k = 0; k < a->t->ndim; k++) ck_assert(spec[i].shape[k] == a->t->shape[k]);
        int64_t nonzero = 0;
        for (int64_t j = 0; j < tensor_numel(b->t); j++) nonzero += b->t->data[j] != 0.0f;
        ck_assert_msg(nonzero == 0, "%s: %lld values are not zero", b->name, (long long)nonzero);
        ck_assert(b->trainable == with_grads && b->t->requires_grad == with_grads);
        ck_assert(with_grads ? b->t->grad != NULL : b->t->grad == NULL);
    }
    // The TfModel slots point at the registered tensors.
    ck_assert_ptr_eq(m->tok_emb, nn_params_get(m->params, "token_embd.weight"));
    ck_assert_ptr_eq(m->layer[1].w_down, nn_params_get(m->params, "blk.1.ffn_down.weight"));
    ck_assert_ptr_eq(m->layer[1].wk, nn_params_get(m->params, "blk.1.attn_k.weight"));
    ck_assert_ptr_eq(m->norm_w, nn_params_get(m->params, "output_norm.weight"));
    if (c->arch == TF_GPT2) {
        ck_assert_ptr_eq(m->pos_emb, nn_params_get(m->params, "pos_embd.weight"));
        ck_assert_ptr_eq(m->layer[0].b_down, nn_params_get(m->params, "blk.0.ffn_down.bias"));
        ck_assert_ptr_null(m->layer[0].w_gate);
    } else {
        ck_assert_ptr_eq(m->layer[0].w_gate, nn_params_get(m->params, "blk.0.ffn_gate.weight"));
        ck_assert_ptr_null(m->pos_emb);
        ck_assert_ptr_null(m->layer[0].bq);
    }
    ck_assert(c->tie_embeddings ? m->lm_head == NULL
                                : m->lm_head == nn_params_get(m->params, "output.weight"));
    // Memory: weights alone, or weights and as much again for the gradients.
    int64_t bytes = nn_params_numel(m->params, false) * (int64_t)sizeof(float);
    int64_t used = (int64_t)arena_used(nn_params_arena(m->params));
    ck_assert_int_eq(nn_params_numel(m->params, true), with_grads ? bytes / 4 : 0);
    if (with_grads)
        ck_assert_msg(used >= 2 * bytes, "arena %lld B for %lld B of weights", (long long)used,
                      (long long)bytes);
    else
        ck_assert_msg(used >= bytes && used < bytes + bytes / 4 + 64 * 2 * n,
                      "arena %lld B for %lld B of weights", (long long)used, (long long)bytes);
    free(spec);
    tf_model_free(ref);
    tf_model_free(m);
}

START_TEST(test_model_alloc_matches_create)
{
    TfConfig g = gpt2_cfg(), tied = small_cfg(300, true), untied = small_cfg(300, false);
    for (int w = 0; w < 2; w++) {
        check_alloc(&g, w);
        check_alloc(&tied, w);
        check_alloc(&untied, w);
    }
}
END_TEST

// Copies every weight of src into dst (same config).
static void copy_weights(TfModel *dst, const TfModel *src)
{
    for (int i = 0; i < nn_params_count(src->params); i++) {
        const NnParam *p = nn_params_at(src->params, i);
        memcpy(nn_params_at(dst->params, i)->t->data, p->t->data,
               (size_t)tensor_numel(p->t) * sizeof(float));
    }
}

static float *graph_logits(TfModel *m, const int32_t *toks, int T)
{
    Graph *g = graph_create(0);
    Tensor *x = tensor_from_i32(graph_arena(g), 2, (int64_t[]){1, T}, toks);
    Tensor *y = tf_model_forward(g, m, x, false, NULL);
    float *out = xmalloc((size_t)tensor_numel(y) * sizeof *out);
    memcpy(out, y->data, (size_t)tensor_numel(y) * sizeof *out);
    graph_free(g);
    return out;
}

// An inference-only model runs exactly the forward of a trainable one.
START_TEST(test_model_no_grad_forward_same)
{
    const TfConfig cfgs[2] = {gpt2_cfg(), small_cfg(300, false)};
    for (int k = 0; k < 2; k++) {
        TfModel *a = tf_model_create(&cfgs[k], 9), *b = tf_model_alloc(&cfgs[k], false);
        copy_weights(b, a);
        int32_t toks[] = {1, 5, 60, 2, 33, 7};
        float *la = graph_logits(a, toks, 6), *lb = graph_logits(b, toks, 6);
        ck_assert(memcmp(la, lb, (size_t)6 * cfgs[k].vocab * sizeof *la) == 0);
        TfInfer *sa = tf_infer_create(a, 16), *sb = tf_infer_create(b, 16);
        const float *ia = tf_infer_forward(sa, toks, 6, 0), *ib = tf_infer_forward(sb, toks, 6, 0);
        ck_assert(memcmp(ia, ib, (size_t)cfgs[k].vocab * sizeof *ia) == 0);
        tf_infer_free(sa);
        tf_infer_free(sb);
        free(la), free(lb);
        tf_model_free(a);
        tf_model_free(b);
    }
}
END_TEST

// Training an inference-only model is a bug: CHECK (SIGABRT).
START_TEST(test_model_no_grad_train_checks)
{
    TfConfig c = small_cfg(300, true);
    TfModel *m = tf_model_alloc(&c, false);
    Graph *g = graph_create(0);
    int32_t ids[4] = {1, 2, 3, 4}, next[4] = {2, 3, 4, 5};
    Tensor *x = tensor_from_i32(graph_arena(g), 2, (int64_t[]){1, 4}, ids);
    Tensor *y = tensor_from_i32(graph_arena(g), 2, (int64_t[]){1, 4}, next);
    tf_model_loss(g, m, x, y, true, NULL); // aborts here
    ck_abort_msg("train = true on an inference-only model did not CHECK");
}
END_TEST

START_TEST(test_params_no_grad_unfreeze_checks)
{
    NnParams *p = nn_params_create_no_grad();
    nn_params_add(p, "w", 1, (int64_t[]){4});
    ck_assert_int_eq(nn_params_freeze(p, ""), 1); // freezing what is frozen is fine
    nn_params_unfreeze(p, "w");                   // aborts here
    ck_abort_msg("unfreezing an inference-only registry did not CHECK");
}
END_TEST

// LoRA adapters on an inference-only base train: gradients reach them, none the base.
START_TEST(test_model_no_grad_lora_trains)
{
    TfConfig c = small_cfg(300, true);
    TfModel *src = small_model(300, true, 21), *m = tf_model_alloc(&c, false);
    copy_weights(m, src);
    NnLoraConfig lc = {.targets = NN_LORA_BIT(NN_LORA_Q) | NN_LORA_BIT(NN_LORA_V), .rank = 4,
                       .alpha = 8.0f, .seed = 2};
    NnLora *lora;
    ck_assert_int_eq(nn_lora_create(m->params, &lc, &lora), ERR_OK);
    tf_model_attach_lora(m, lora);
    Graph *g = graph_create(0);
    int32_t ids[6] = {1, 2, 3, 4, 5, 6}, next[6] = {2, 3, 4, 5, 6, 7};
    Tensor *x = tensor_from_i32(graph_arena(g), 2, (int64_t[]){1, 6}, ids);
    Tensor *y = tensor_from_i32(graph_arena(g), 2, (int64_t[]){1, 6}, next);
    graph_backward(g, tf_model_loss(g, m, x, y, true, NULL));
    // B starts at zero, so dB = s (x A^T)^T dy is what must be non-zero.
    Tensor *b = nn_params_get(nn_lora_params(lora), "blk.0.attn_q.lora_b");
    ck_assert_ptr_nonnull(b);
    double sum = 0;
    for (int64_t j = 0; j < tensor_numel(b); j++) sum += fabs(b->grad[j]);
    ck_assert_msg(sum > 0, "no gradient reached the adapter");
    for (int i = 0; i < nn_params_count(m->params); i++)
        ck_assert_ptr_null(nn_params_at(m->params, i)->t->grad);
    graph_free(g);
    tf_model_detach_lora(m);
    nn_lora_free(lora);
    tf_model_free(m);
    tf_model_free(src);
}
END_TEST

START_TEST(test_model_load_no_grad)
{
    TfModel *m = small_model(300, false, 31);
    const char *path = test_tmp_path("nograd.safetensors");
    ck_assert_int_eq(tf_model_save(m, path), ERR_OK);
    TfModel *a, *b;
    ck_assert_int_eq(tf_model_load(path, &a), ERR_OK);
    ck_assert_int_eq(tf_model_load_no_grad(path, &b), ERR_OK);
    ck_assert(nn_params_has_grads(a->params) && !nn_params_has_grads(b->params));
    ck_assert(tf_config_equal(&b->cfg, &m->cfg));
    for (int i = 0; i < nn_params_count(m->params); i++) {
        const NnParam *p = nn_params_at(m->params, i), *q = nn_params_at(b->params, i);
        ck_assert_str_eq(q->name, p->name);
        ck_assert(memcmp(p->t->data, q->t->data, (size_t)tensor_numel(p->t) * 4) == 0);
        ck_assert_ptr_null(q->t->grad);
        ck_assert_ptr_nonnull(nn_params_at(a->params, i)->t->grad);
    }
    // Errors are tf_model_load's.
    TfModel *none;
    ck_assert_int_eq(tf_model_load_no_grad(test_tmp_path("absent.safetensors"), &none), ERR_IO);
    ck_assert_ptr_null(none);
    tf_model_free(a);
    tf_model_free(b);
    tf_model_free(m);
}
END_TEST

// An imported model has no gradient buffers: its arena holds the weights alone.
START_TEST(test_import_is_inference_only)
{
    TfModel *m = small_model(300, false, 41);
    const char *path = test_tmp_path("inf.gguf");
    ck_assert_int_eq(tf_gguf_export(m, NULL, TF_GGUF_F16, path), ERR_OK);
    TfModel *m2;
    ck_assert_int_eq(tf_gguf_import(path, &m2, NULL), ERR_OK);
    ck_assert(!nn_params_has_grads(m2->params));
    ck_assert_int_eq(nn_params_numel(m2->params, true), 0);
    int64_t bytes = nn_params_numel(m2->params, false) * 4;
    ck_assert_int_lt((int64_t)arena_used(nn_params_arena(m2->params)), bytes + bytes / 4);
    for (int i = 0; i < nn_params_count(m2->params); i++)
        ck_assert_ptr_null(nn_params_at(m2->params, i)->t->grad);
    tf_model_free(m2);
    tf_model_free(m);
}
END_TEST

// ---------------------------------------------------------------------------
// The week-3 lab's `generate --gguf`
// ---------------------------------------------------------------------------

// build/<mode>/labs/week03_transformer next to this test's build/<mode>/tests/transformer/.
static const char *lab_path(void)
{
    static char path[4200];
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert_int_gt(n, 0);
    exe[n] = '\0';
    for (int k = 0; k < 3; k++) *strrchr(exe, '/') = '\0';
    snprintf(path, sizeof path, "%s/labs/week03_transformer", exe);
    ck_assert_msg(access(path, X_OK) == 0, "%s is missing; hint: build it (make, or make %s)",
                  path, path);
    return path;
}

// Runs the lab's generate with `args`; returns its exit status, stdout and stderr (malloc'd).
static int run_lab(const char *args, char **out, char **err)
{
    char cmd[16384];
    const char *o = test_tmp_path("lab.out"), *e = test_tmp_path("lab.err");
    snprintf(cmd, sizeof cmd, "ASAN_OPTIONS=detect_leaks=1 '%s' generate %s >'%s' 2>'%s'",
             lab_path(), args, o, e);
    int rc = system(cmd);
    size_t n;
    ck_assert_int_eq(io_read_all(o, (unsigned char **)out, &n), ERR_OK);
    ck_assert_int_eq(io_read_all(e, (unsigned char **)err, &n), ERR_OK);
    fprintf(stderr, "$ generate %s\n%s", args, *err);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// What tf_generate gives on `m` (the reference), stopping at eos as the lab does.
static int reference(const TfModel *m, const int32_t *ids, int n, int max_new,
                     const TfSampler *sc, int32_t eos, int32_t *out)
{
    TfInfer *s = tf_infer_create(m, m->cfg.ctx);
    const int32_t *stops[1] = {&eos};
    int lens[1] = {1}, n_out;
    ck_assert_int_eq(tf_generate(s, ids, n, max_new, sc, stops, lens, 1, out, &n_out), ERR_OK);
    tf_infer_free(s);
    return n_out;
}

START_TEST(test_lab_generate_gguf_equals_tf_generate)
{
    TfBpe *bpe = tf_tok_bpe_train(TEXT, sizeof TEXT - 1, 300);
    // vocab = the tokenizer's size, so every id the model can produce decodes with bpe.
    TfConfig c = small_cfg(tf_tok_bpe_vocab_size(bpe), false);
    c.ctx = 64;
    TfModel *m = tf_model_create(&c, 51);
    char path[4096]; // test_tmp_path's buffers rotate (run_lab uses them): keep a copy
    snprintf(path, sizeof path, "%s", test_tmp_path("lab.gguf"));
    ck_assert_int_eq(tf_gguf_export(m, bpe, TF_GGUF_F32, path), ERR_OK);
    TfGguf *g; // the end-of-text id the lab stops at
    uint32_t eos;
    ck_assert_int_eq(tf_gguf_open(path, &g), ERR_OK);
    ck_assert_int_eq(tf_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos), ERR_OK);
    tf_gguf_close(g);
    const char *prompt = "the fox and the dog";
    int32_t *ids;
    int n = (int)tf_tok_bpe_encode(bpe, prompt, strlen(prompt), &ids);
    const TfSampler samplers[3] = {{.temperature = 0, .top_p = 1},
                                   {.temperature = 1.5f, .top_k = 50, .top_p = 0.9f, .seed = 7},
                                   {.temperature = 2.0f, .top_k = 0, .top_p = 1, .seed = 8}};
    int distinct = 0;
    int32_t prev[24];
    for (int k = 0; k < 3; k++) {
        const TfSampler *sc = &samplers[k];
        int32_t want[24];
        int n_want = reference(m, ids, n, 24, sc, (int32_t)eos, want);
        ck_assert_int_gt(n_want, 0);
        if (k > 0 && memcmp(want, prev, sizeof want) != 0) distinct++;
        memcpy(prev, want, sizeof want);
        char *text;
        size_t len;
        ck_assert_int_eq(tf_tok_bpe_decode(bpe, want, n_want, &text, &len), ERR_OK);
        char args[8192], *out, *err;
        snprintf(args, sizeof args, "--gguf '%s' --prompt '%s' --max-new 24 --temperature %g "
                 "--top-k %d --top-p %g --seed %llu", path, prompt, (double)sc->temperature,
                 sc->top_k, (double)sc->top_p, (unsigned long long)sc->seed);
        ck_assert_int_eq(run_lab(args, &out, &err), 0);
        ck_assert_msg(strncmp(out, prompt, strlen(prompt)) == 0 &&
                      strncmp(out + strlen(prompt), text, len) == 0 &&
                      strcmp(out + strlen(prompt) + len, "\n") == 0,
                      "sampler %d: lab printed \"%s\", tf_generate gives \"%s%s\"", k, out,
                      prompt, text);
        ck_assert_ptr_nonnull(strstr(err, "tokens/s"));
        free(out), free(err), free(text);

        // The same with the prompt as ids: the output is the ids.
        char list[512] = "", num[16];
        for (int i = 0; i < n; i++) {
            snprintf(num, sizeof num, i ? " %d" : "%d", ids[i]);
            strcat(list, num);
        }
        snprintf(args, sizeof args, "--gguf '%s' --tokens '%s' --max-new 24 --temperature %g "
                 "--top-k %d --top-p %g --seed %llu", path, list, (double)sc->temperature,
                 sc->top_k, (double)sc->top_p, (unsigned long long)sc->seed);
        ck_assert_int_eq(run_lab(args, &out, &err), 0);
        char want_ids[1024] = "";
        for (int i = 0; i < n_want; i++) {
            snprintf(num, sizeof num, i ? " %d" : "%d", want[i]);
            strcat(want_ids, num);
        }
        strcat(want_ids, "\n");
        ck_assert_str_eq(out, want_ids);
        free(out), free(err);
    }
    ck_assert_int_gt(distinct, 0); // the sampling flags reached the sampler
    free(ids);
    tf_tok_bpe_free(bpe);
    tf_model_free(m);
}
END_TEST

START_TEST(test_lab_generate_gguf_errors)
{
    float *scratch = xcalloc(256 * 32, sizeof *scratch);
    char args[8192], *out, *err;
    // Not a llama: the architecture is named.
    snprintf(args, sizeof args, "--gguf '%s' --prompt hi", make_llama(MK_ARCH_GPT2, scratch));
    ck_assert_int_eq(run_lab(args, &out, &err), 1);
    ck_assert_msg(strstr(err, "architecture") && strstr(err, "gpt2") && strstr(err, "hint"),
                  "%s", err);
    ck_assert_str_eq(out, "");
    free(out), free(err);
    // A sentencepiece tokenizer: named, with the --tokens way out, which then works.
    char spm[4096]; // test_tmp_path's buffers rotate: keep a copy
    snprintf(spm, sizeof spm, "%s", make_llama(MK_SPM_TOKENIZER, scratch));
    snprintf(args, sizeof args, "--gguf '%s' --prompt hi", spm);
    ck_assert_int_eq(run_lab(args, &out, &err), 1);
    ck_assert_msg(strstr(err, "sentencepiece") && strstr(err, "--tokens"), "%s", err);
    free(out), free(err);
    snprintf(args, sizeof args, "--gguf '%s' --tokens '3 4 5' --max-new 4 --temperature 0",
             spm);
    ck_assert_int_eq(run_lab(args, &out, &err), 0);
    int a, b, c, d;
    ck_assert_msg(sscanf(out, "%d %d %d %d", &a, &b, &c, &d) == 4, "%s", out);
    free(out), free(err);
    // Ids out of the vocabulary, a missing file.
    snprintf(args, sizeof args, "--gguf '%s' --tokens '3 256' --temperature 0", spm);
    ck_assert_int_eq(run_lab(args, &out, &err), 1);
    ck_assert_msg(strstr(err, "256") && strstr(err, "[0, 256)"), "%s", err);
    free(out), free(err);
    ck_assert_int_eq(run_lab("--gguf /nonexistent/x.gguf", &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.gguf"));
    free(out), free(err);
    free(scratch);
}
END_TEST

static Suite *gguf_suite(void)
{
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("gguf");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_f16_known_values);
    tcase_add_test(tc, test_f16_exhaustive_and_nearest);
    tcase_add_test(tc, test_container_roundtrip);
    tcase_add_test(tc, test_q8_0_dequantise);
    tcase_add_test(tc, test_model_f32_roundtrip_untied);
    tcase_add_test(tc, test_model_f32_roundtrip_tied);
    tcase_add_test(tc, test_model_f16_roundtrip);
    tcase_add_test(tc, test_model_q8_0_export_import);
    tcase_add_test(tc, test_tokenizer_roundtrip);
    tcase_add_test(tc, test_tokenizer_null_is_bytes);
    tcase_add_test(tc, test_export_refuses_gpt2);
    tcase_add_test(tc, test_import_rejects_unsupported);
    tcase_add_test(tc, test_bad_magic_and_version);
    tcase_add_test(tc, test_every_truncation_rejected);
    tcase_add_test(tc, test_bad_kv_types);
    tcase_add_test(tc, test_bad_tensor_infos);
    tcase_add_test(tc, test_fuzz_mutations);
    suite_add_tcase(s, tc);
    TCase *ta = tcase_create("alloc");
    tcase_set_timeout(ta, 300);
    tcase_add_test(ta, test_model_alloc_matches_create);
    tcase_add_test(ta, test_model_no_grad_forward_same);
    tcase_add_test_raise_signal(ta, test_model_no_grad_train_checks, SIGABRT);
    tcase_add_test_raise_signal(ta, test_params_no_grad_unfreeze_checks, SIGABRT);
    tcase_add_test(ta, test_model_no_grad_lora_trains);
    tcase_add_test(ta, test_model_load_no_grad);
    tcase_add_test(ta, test_import_is_inference_only);
    suite_add_tcase(s, ta);
    TCase *tl = tcase_create("lab");
    tcase_set_timeout(tl, 300);
    tcase_add_test(tl, test_lab_generate_gguf_equals_tf_generate);
    tcase_add_test(tl, test_lab_generate_gguf_errors);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    return test_main(gguf_suite());
}
