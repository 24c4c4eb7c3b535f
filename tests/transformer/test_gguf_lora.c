/*
 * test_gguf_lora.c: LoRA adapters exported as GGUF adapters (tf_gguf_export_lora), checked
 * against REAL llama.cpp.
 *
 * A TF_LLAMA model with spread-out logits (weights N(0, 0.3), as in test_llama_agree.c) gets a
 * LoRA set whose B is redrawn at random (a fresh set has B = 0 and would change nothing). The
 * base is exported with tf_gguf_export (F32) and the set with tf_gguf_export_lora; llama.cpp
 * runs base.gguf with the adapter applied (tests/llama_ref/llama_ref eval --lora), 1 thread,
 * F32 KV cache. The engine runs the same ids twice: through the graph with the set attached
 * (tf_model_forward), and through the KV cache (tf_infer) after merging the set. Checked:
 *   - max |logit difference| at the last prompt position <= 1e-4, llama.cpp vs both engine
 *     paths, and the greedy continuation of 32 tokens identical (llama.cpp vs merged);
 *   - the negative: llama.cpp on the base alone differs from the adapted logits by > 0.1, so
 *     a file llama.cpp ignored, or an adapter applied at the wrong scale, fails the test;
 *   - plain LoRA on all seven targets (multi-head, tied output), and rsLoRA (alpha / sqrt(r))
 *     on q, v, down (grouped-query, untied): the alpha conversion; llama.cpp's user scale 0.5
 *     (--lora-scale) against the engine merged at half the scale.
 * Without node-llama-cpp those tests print "SKIPPED: ..." and pass, unless REQUIRE_NPM=1.
 * The file's layout (keys, names, shapes, values, the folded hand-set scale) and the errors
 * are checked without llama.cpp.
 */
#include "core/err.h"
#include "core/rng.h"
#include "nn/lora.h"
#include "nn/params.h"
#include "tests/llama_util.h"
#include "tests/test_util.h"
#include "transformer/generate.h"
#include "transformer/gguf.h"
#include "transformer/model.h"
#include "transformer/sample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define N_PROMPT 12
#define N_GEN 32
#define TOL 1e-4
#define MIN_EFFECT 0.1

// ---------------------------------------------------------------------------
// The engine side
// ---------------------------------------------------------------------------

// A LoRA set on m with B drawn N(0, 0.3), so that the adapter changes the model.
static NnLora *random_lora(TfModel *m, const char *targets, int rank, float alpha, bool rslora,
                           uint64_t seed)
{
    NnLoraConfig lc = {.rank = rank, .alpha = alpha, .rslora = rslora, .seed = seed};
    ck_assert_int_eq(nn_lora_targets_parse(targets, &lc.targets), ERR_OK);
    NnLora *set;
    ck_assert_msg(nn_lora_create(m->params, &lc, &set) == ERR_OK, "%s", err_msg());
    Rng r;
    rng_init(&r, seed + 100);
    for (int l = 0; l < nn_lora_n_layer(set); l++)
        for (int t = 0; t < NN_LORA_N_TARGETS; t++) {
            NnLoraLinear *s = nn_lora_site(set, l, (NnLoraTarget)t);
            if (s) tensor_fill_normal(s->b, &r, 0.0f, 0.3f);
        }
    return set;
}

// The engine's last-position logits through the graph (honours attached adapters).
static void engine_graph_logits(TfModel *m, const int32_t *ids, float *logits)
{
    Graph *g = graph_create(0);
    Tensor *tok = tensor_from_i32(graph_arena(g), 2, (int64_t[]){1, N_PROMPT}, ids);
    Tensor *out = tf_model_forward(g, m, tok, false, NULL); // (1, T, V)
    ck_assert(tensor_is_contiguous(out));
    const int V = m->cfg.vocab;
    memcpy(logits, out->data + (size_t)(N_PROMPT - 1) * (size_t)V, sizeof(float) * (size_t)V);
    graph_free(g);
}

static void check_logits(const float *ours, const float *theirs, int V, const char *what)
{
    float lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < V; i++) lo = fminf(lo, theirs[i]), hi = fmaxf(hi, theirs[i]);
    ck_assert_msg(hi - lo > 2.0f, "%s: logits too flat to test (range %g)", what, hi - lo);
    double d = llama_ref_max_abs_diff(ours, theirs, V);
    printf("%s: max |logit diff| %.3g (tolerance %g), logit range %.2f\n", what, d, TOL,
           (double)(hi - lo));
    ck_assert_msg(d <= TOL, "%s: max |logit diff| %g > %g (first: engine %g %g, llama.cpp %g "
                  "%g)", what, d, TOL, ours[0], ours[1], theirs[0], theirs[1]);
}

static void check_greedy(const int32_t *ours, const int32_t *theirs, const char *what)
{
    for (int g = 0; g < N_GEN; g++)
        ck_assert_msg(ours[g] == theirs[g], "%s: greedy token %d: engine %d, llama.cpp %d", what,
                      g, (int)ours[g], (int)theirs[g]);
}

// The whole comparison for one model and set (see the top of the file). When half_scale is
// set, also llama.cpp at user scale 0.5 against the engine merged at half the scale.
static void check_adapter(TfModel *m, NnLora *set, const char *name, const char *driver,
                          bool half_scale)
{
    const int V = m->cfg.vocab;
    char base_name[128], lora_name[128];
    snprintf(base_name, sizeof base_name, "%s_base.gguf", name);
    snprintf(lora_name, sizeof lora_name, "%s_lora.gguf", name);
    char base[4096], lora[4096];
    snprintf(base, sizeof base, "%s", test_tmp_path(base_name));
    snprintf(lora, sizeof lora, "%s", test_tmp_path(lora_name));
    ck_assert_msg(tf_gguf_export(m, NULL, TF_GGUF_F32, base) == ERR_OK, "%s", err_msg());
    ck_assert_msg(tf_gguf_export_lora(set, m, lora) == ERR_OK, "%s", err_msg());

    int32_t ids[N_PROMPT];
    Rng r;
    rng_init(&r, 7);
    for (int i = 0; i < N_PROMPT; i++) ids[i] = (int32_t)rng_below(&r, (uint32_t)V);
    size_t bytes = sizeof(float) * (size_t)V;
    float *attached = malloc(bytes), *merged = malloc(bytes), *theirs = malloc(bytes);
    float *plain = malloc(bytes);
    int32_t g_merged[N_GEN], g_theirs[N_GEN];

    tf_model_attach_lora(m, set);
    engine_graph_logits(m, ids, attached);
    tf_model_detach_lora(m);
    ck_assert_int_eq(nn_lora_merge(set), ERR_OK);
    llama_ref_engine_eval(m, ids, N_PROMPT, N_GEN, merged, g_merged);
    llama_ref_eval(driver, base, lora, 1.0f, ids, N_PROMPT, N_GEN, V, theirs, g_theirs);
    llama_ref_eval(driver, base, NULL, 1.0f, ids, N_PROMPT, N_GEN, V, plain, NULL);

    char what[160];
    snprintf(what, sizeof what, "%s: llama.cpp+adapter vs engine merged", name);
    check_logits(merged, theirs, V, what);
    check_greedy(g_merged, g_theirs, what);
    snprintf(what, sizeof what, "%s: llama.cpp+adapter vs engine attached", name);
    check_logits(attached, theirs, V, what);
    double effect = llama_ref_max_abs_diff(plain, theirs, V);
    printf("%s: the adapter moves llama.cpp's logits by up to %.3g\n", name, effect);
    ck_assert_msg(effect > MIN_EFFECT, "%s: llama.cpp's logits without the adapter differ by "
                  "only %g: the adapter had no effect, the test proves nothing", name, effect);

    if (half_scale) {
        // llama.cpp: 0.5 * alpha_file / r. The engine: the same set at half its scale.
        ck_assert_int_eq(nn_lora_unmerge(set), ERR_OK);
        for (int l = 0; l < nn_lora_n_layer(set); l++)
            for (int t = 0; t < NN_LORA_N_TARGETS; t++) {
                NnLoraLinear *s = nn_lora_site(set, l, (NnLoraTarget)t);
                if (s) s->scale *= 0.5f;
            }
        ck_assert_int_eq(nn_lora_merge(set), ERR_OK);
        llama_ref_engine_eval(m, ids, N_PROMPT, N_GEN, merged, g_merged);
        llama_ref_eval(driver, base, lora, 0.5f, ids, N_PROMPT, N_GEN, V, theirs, g_theirs);
        snprintf(what, sizeof what, "%s: llama.cpp scale 0.5 vs engine half scale", name);
        check_logits(merged, theirs, V, what);
        check_greedy(g_merged, g_theirs, what);
        ck_assert_msg(llama_ref_max_abs_diff(plain, theirs, V) > 0.5 * MIN_EFFECT, "%s: no effect", what);
    }
    ck_assert_int_eq(nn_lora_unmerge(set), ERR_OK);
    free(attached);
    free(merged);
    free(theirs);
    free(plain);
}

// ---------------------------------------------------------------------------
// Tests against llama.cpp
// ---------------------------------------------------------------------------

START_TEST(test_gguf_lora_llama_all_targets)
{
    const char *driver = llama_ref_driver_or_skip("lora_all_targets");
    if (!driver) return;
    TfModel *m = llama_ref_spread_model(64, 2, 4, 4, 160, 300, true, 11);
    NnLora *set = random_lora(m, "all", 4, 8.0f, false, 3);
    check_adapter(m, set, "lora_all", driver, false);
    nn_lora_free(set);
    tf_model_free(m);
}
END_TEST

START_TEST(test_gguf_lora_llama_rslora_gqa)
{
    const char *driver = llama_ref_driver_or_skip("lora_rslora_gqa");
    if (!driver) return;
    TfModel *m = llama_ref_spread_model(96, 3, 6, 2, 256, 320, false, 23);
    NnLora *set = random_lora(m, "q,v,down", 8, 4.0f, true, 5);
    check_adapter(m, set, "lora_rs", driver, true);
    nn_lora_free(set);
    tf_model_free(m);
}
END_TEST

// ---------------------------------------------------------------------------
// The file itself, and the errors (no llama.cpp needed)
// ---------------------------------------------------------------------------

static void expect_str(const TfGguf *g, const char *key, const char *want)
{
    const char *s;
    size_t len;
    ck_assert_msg(tf_gguf_get_str(g, key, &s, &len) == ERR_OK, "%s: %s", key, err_msg());
    ck_assert_msg(len == strlen(want) && memcmp(s, want, len) == 0, "%s = \"%.*s\", want \"%s\"",
                  key, (int)len, s, want);
}

// One adapter's tensors: names, GGUF shapes (A ne = {in, r}, B ne = {r, out}) and values
// (B times `b_factor`).
static void expect_pair(const TfGguf *g, const NnLoraLinear *s, const char *wname,
                        double b_factor)
{
    char nm[TF_GGUF_MAX_NAME];
    const int64_t r = s->a->shape[0], in = s->a->shape[1], out = s->b->shape[0];
    snprintf(nm, sizeof nm, "%s.lora_a", wname);
    const TfGgufTensor *a = tf_gguf_find_tensor(g, nm);
    ck_assert_msg(a != NULL, "no tensor %s", nm);
    ck_assert_int_eq(a->type, TF_GGUF_F32);
    ck_assert_int_eq(a->n_dims, 2);
    ck_assert_msg(a->ne[0] == in && a->ne[1] == r, "%s ne = {%lld, %lld}", nm,
                  (long long)a->ne[0], (long long)a->ne[1]);
    ck_assert_mem_eq(a->data, s->a->data, sizeof(float) * (size_t)(r * in));
    snprintf(nm, sizeof nm, "%s.lora_b", wname);
    const TfGgufTensor *b = tf_gguf_find_tensor(g, nm);
    ck_assert_msg(b != NULL, "no tensor %s", nm);
    ck_assert_int_eq(b->type, TF_GGUF_F32);
    ck_assert_msg(b->n_dims == 2 && b->ne[0] == r && b->ne[1] == out, "%s ne = {%lld, %lld}",
                  nm, (long long)b->ne[0], (long long)b->ne[1]);
    float *want = malloc(sizeof(float) * (size_t)(r * out));
    for (int64_t i = 0; i < r * out; i++) want[i] = (float)(b_factor * (double)s->b->data[i]);
    ck_assert(check_close(b->data, want, r * out, 0.0, 1e-6, nm));
    free(want);
}

START_TEST(test_gguf_lora_file_layout)
{
    TfModel *m = llama_ref_spread_model(32, 2, 4, 2, 48, 64, false, 9);
    NnLora *set = random_lora(m, "q,k,o,up", 4, 6.0f, false, 1);
    // A hand-set scale on one adapter: llama.cpp has one alpha per file, so it goes into B.
    NnLoraLinear *odd = nn_lora_site(set, 1, NN_LORA_UP);
    odd->scale *= 2.0f;
    const char *path = test_tmp_path("layout_lora.gguf");
    ck_assert_msg(tf_gguf_export_lora(set, m, path) == ERR_OK, "%s", err_msg());
    TfGguf *g;
    ck_assert_msg(tf_gguf_open(path, &g) == ERR_OK, "%s", err_msg());
    expect_str(g, "general.architecture", "llama");
    expect_str(g, "general.type", "adapter");
    expect_str(g, "adapter.type", "lora");
    float alpha;
    ck_assert_int_eq(tf_gguf_get_f32(g, "adapter.lora.alpha", &alpha), ERR_OK);
    ck_assert_float_eq(alpha, 6.0f); // plain LoRA: alpha as is, llama.cpp divides by r
    ck_assert_int_eq(tf_gguf_n_tensors(g), 2 * 2 * 4);
    static const char *const wn[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate",
                                     "ffn_up", "ffn_down"};
    for (int l = 0; l < 2; l++)
        for (int t = 0; t < NN_LORA_N_TARGETS; t++) {
            const NnLoraLinear *s = nn_lora_site(set, l, (NnLoraTarget)t);
            char nm[TF_GGUF_MAX_NAME];
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, wn[t]);
            if (!s) {
                char a[TF_GGUF_MAX_NAME + 8];
                snprintf(a, sizeof a, "%s.lora_a", nm);
                ck_assert_msg(tf_gguf_find_tensor(g, a) == NULL, "%s should be absent", a);
                continue;
            }
            expect_pair(g, s, nm, s == odd ? 2.0 : 1.0);
        }
    tf_gguf_close(g);
    nn_lora_free(set);

    // rsLoRA: llama.cpp's alpha_file / r must be the engine's alpha / sqrt(r).
    set = random_lora(m, "v", 9, 3.0f, true, 2);
    ck_assert_msg(tf_gguf_export_lora(set, m, path) == ERR_OK, "%s", err_msg());
    ck_assert_msg(tf_gguf_open(path, &g) == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(tf_gguf_get_f32(g, "adapter.lora.alpha", &alpha), ERR_OK);
    float s_engine = nn_lora_site(set, 0, NN_LORA_V)->scale;
    ck_assert_float_eq_tol(s_engine, 1.0f, 1e-6f); // 3 / sqrt(9)
    ck_assert_float_eq_tol(alpha / 9.0f, s_engine, 1e-6f);
    expect_pair(g, nn_lora_site(set, 1, NN_LORA_V), "blk.1.attn_v.weight", 1.0);
    tf_gguf_close(g);
    nn_lora_free(set);
    tf_model_free(m);
}
END_TEST

START_TEST(test_gguf_lora_errors)
{
    const char *path = test_tmp_path("bad_lora.gguf");
    TfModel *m = llama_ref_spread_model(32, 2, 4, 4, 48, 64, true, 4);
    NnLora *set = random_lora(m, "q,down", 2, 4.0f, false, 6);

    // A merged set: its update is already in the base weights.
    ck_assert_int_eq(nn_lora_merge(set), ERR_OK);
    test_expect_err(tf_gguf_export_lora(set, m, path), ERR_INVALID,
                    (const char *const[]){path, "blk.0.attn_q.weight", "merged", "hint", NULL});
    ck_assert_int_eq(nn_lora_unmerge(set), ERR_OK);

    // Another base: fewer layers; the same layers with another d_ff.
    TfModel *shallow = llama_ref_spread_model(32, 1, 4, 4, 48, 64, true, 4);
    test_expect_err(tf_gguf_export_lora(set, shallow, path), ERR_SHAPE,
                    (const char *const[]){path, "2 layers", "1", NULL});
    TfModel *wide = llama_ref_spread_model(32, 2, 4, 4, 64, 64, true, 4);
    test_expect_err(tf_gguf_export_lora(set, wide, path), ERR_SHAPE,
                    (const char *const[]){path, "blk.0.ffn_down.weight", "hint", NULL});

    // A GPT-2 model: llama.cpp's adapter must match the "llama" base architecture.
    TfConfig gc = tf_config_default(TF_GPT2);
    gc.vocab = 64, gc.ctx = 32, gc.d_model = 32, gc.n_layer = 2, gc.n_head = 4;
    gc.n_kv_head = 4, gc.d_ff = 64;
    TfModel *gpt = tf_model_create(&gc, 1);
    NnLoraConfig lc = {.targets = NN_LORA_BIT(NN_LORA_Q), .rank = 2, .alpha = 2.0f, .seed = 1};
    NnLora *gset;
    ck_assert_int_eq(nn_lora_create(gpt->params, &lc, &gset), ERR_OK);
    test_expect_err(tf_gguf_export_lora(gset, gpt, path), ERR_INVALID,
                    (const char *const[]){path, "gpt2", "hint", NULL});

    // Nothing was written by any failing call.
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f == NULL, "a failed export left %s behind", path);
    nn_lora_free(gset);
    tf_model_free(gpt);
    tf_model_free(wide);
    tf_model_free(shallow);
    nn_lora_free(set);
    tf_model_free(m);
}
END_TEST

static Suite *gguf_lora_suite(void)
{
    Suite *s = suite_create("gguf_lora");
    TCase *tc = tcase_create("gguf_lora");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gguf_lora_file_layout);
    tcase_add_test(tc, test_gguf_lora_errors);
    tcase_add_test(tc, test_gguf_lora_llama_all_targets);
    tcase_add_test(tc, test_gguf_lora_llama_rslora_gqa);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(gguf_lora_suite()); }
