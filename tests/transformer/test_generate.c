/*
 * test_generate.c: transformer/generate.c, the KV-cache forward. The key property: the logits
 * of position t are the same whether computed by the graph forward over the whole sequence
 * (tf_model_forward), by one prefill of tokens 0..t, or token by token through the cache, for
 * both recipes, grouped-query attention and an untied head included. Weights are random
 * everywhere (biases and norm gains too), so every term of the math is exercised.
 */
#include "core/rng.h"
#include "nn/params.h"
#include "tests/model_util.h"
#include "tests/test_util.h"
#include "transformer/generate.h"
#include "transformer/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_SEQ 21

static TfModel *random_model(TfArch arch, int n_kv_head, bool tied, uint64_t seed)
{
    TfConfig c = tf_config_default(arch);
    c.vocab = 37;
    c.ctx = 24;
    c.d_model = 32;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_kv_head = n_kv_head;
    c.d_ff = 48;
    c.tie_embeddings = tied;
    ck_assert_int_eq(tf_config_check(&c), ERR_OK);
    TfModel *m = tf_model_create(&c, seed);
    test_model_redraw(m, seed + 1, 0.25f);
    return m;
}

// Graph logits (T, V) of one sequence, copied into `out`.
static void graph_logits(TfModel *m, const int32_t *tok, int T, float *out)
{
    Graph *g = graph_create(0);
    graph_set_grad_enabled(g, false);
    Tensor *t = tensor_from_i32(graph_arena(g), 2, (int64_t[]){1, T}, tok);
    Tensor *logits = tf_model_forward(g, m, t, false, NULL);
    ck_assert_int_eq(tensor_numel(logits), (int64_t)T * m->cfg.vocab);
    tensor_copy_to(logits, out);
    graph_free(g);
}

// The three routes agree at every position.
static void check_routes(TfModel *m)
{
    int V = m->cfg.vocab;
    int32_t tok[T_SEQ];
    test_random_tokens(tok, T_SEQ, V, 5);
    float *ref = malloc(sizeof(float) * T_SEQ * V);
    graph_logits(m, tok, T_SEQ, ref);
    // The logits must not be trivially small, or the tolerance would mean nothing.
    float amax = 0;
    for (int i = 0; i < T_SEQ * V; i++) amax = fmaxf(amax, fabsf(ref[i]));
    ck_assert_msg(amax > 0.5f, "logits too small to test (max |logit| %g)", amax);

    TfInfer *s = tf_infer_create(m, T_SEQ);
    char label[64];
    // Token by token through the cache.
    for (int t = 0; t < T_SEQ; t++) {
        const float *lg = tf_infer_forward(s, &tok[t], 1, t);
        snprintf(label, sizeof label, "decode pos %d", t);
        ck_assert(check_close(lg, ref + (size_t)t * V, V, 2e-5, 1e-4, label));
    }
    ck_assert_int_eq(tf_infer_len(s), T_SEQ);
    // One prefill of tokens 0..t (from an empty cache).
    for (int t = 0; t < T_SEQ; t += 4) {
        tf_infer_reset(s);
        const float *lg = tf_infer_forward(s, tok, t + 1, 0);
        snprintf(label, sizeof label, "prefill 0..%d", t);
        ck_assert(check_close(lg, ref + (size_t)t * V, V, 2e-5, 1e-4, label));
    }
    // Mixed: a prefill of 7, a chunk of 5 on top of the cache, then single tokens.
    tf_infer_reset(s);
    tf_infer_forward(s, tok, 7, 0);
    const float *lg = tf_infer_forward(s, tok + 7, 5, 7);
    ck_assert(check_close(lg, ref + (size_t)11 * V, V, 2e-5, 1e-4, "chunk 7..11"));
    for (int t = 12; t < T_SEQ; t++) lg = tf_infer_forward(s, &tok[t], 1, t);
    ck_assert(check_close(lg, ref + (size_t)(T_SEQ - 1) * V, V, 2e-5, 1e-4, "after chunks"));
    tf_infer_free(s);
    free(ref);
}

START_TEST(test_infer_gpt2_matches_graph)
{
    TfModel *m = random_model(TF_GPT2, 4, true, 11);
    check_routes(m);
    tf_model_free(m);
}
END_TEST

START_TEST(test_infer_llama_matches_graph)
{
    TfModel *m = random_model(TF_LLAMA, 4, true, 12);
    check_routes(m);
    tf_model_free(m);
}
END_TEST

START_TEST(test_infer_llama_gqa_untied_matches_graph)
{
    TfModel *m = random_model(TF_LLAMA, 2, false, 13);
    ck_assert_ptr_nonnull(m->lm_head);
    check_routes(m);
    tf_model_free(m);
    m = random_model(TF_LLAMA, 1, false, 14); // multi-query: one kv head for all
    check_routes(m);
    tf_model_free(m);
}
END_TEST

// Rewinding (pos below the cached length) forgets the later positions: continuing from there
// with different tokens gives the graph's logits of the edited sequence.
START_TEST(test_infer_rewind)
{
    TfModel *m = random_model(TF_LLAMA, 2, true, 15);
    int V = m->cfg.vocab;
    int32_t a[10], b[10];
    test_random_tokens(a, 10, V, 1);
    memcpy(b, a, sizeof a);
    b[6] = (a[6] + 1) % V;
    b[8] = (a[8] + 3) % V;
    float *ref = malloc(sizeof(float) * 10 * V);
    graph_logits(m, b, 10, ref);
    TfInfer *s = tf_infer_create(m, 10);
    tf_infer_forward(s, a, 10, 0);
    ck_assert_int_eq(tf_infer_len(s), 10);
    tf_infer_forward(s, b + 6, 2, 6);
    ck_assert_int_eq(tf_infer_len(s), 8);
    const float *lg = tf_infer_forward(s, b + 8, 2, 8);
    ck_assert(check_close(lg, ref + 9 * V, V, 2e-5, 1e-4, "rewound"));
    tf_infer_free(s);
    free(ref);
    tf_model_free(m);
}
END_TEST

// The causal softmax: masked entries are exactly 0, the rest is a stable softmax.
START_TEST(test_attn_softmax_causal_values)
{
    float s[5] = {1000.0f, 1001.0f, 999.0f, 5.0f, -3.0f};
    tf_attn_softmax_causal(s, 3, 5);
    double e0 = exp(-1.0), e1 = 1.0, e2 = exp(-2.0), z = e0 + e1 + e2;
    ck_assert_float_eq_tol(s[0], e0 / z, 1e-6);
    ck_assert_float_eq_tol(s[1], e1 / z, 1e-6);
    ck_assert_float_eq_tol(s[2], e2 / z, 1e-6);
    ck_assert_float_eq(s[3], 0.0f);
    ck_assert_float_eq(s[4], 0.0f);
}
END_TEST

// RoPE of one vector equals the graph's tensor_rope at the same position.
START_TEST(test_rope_rotate_matches_tensor_rope)
{
    Rng r;
    rng_init(&r, 3);
    float x[16], y[16];
    for (int i = 0; i < 16; i++) x[i] = rng_normal(&r);
    memcpy(y, x, sizeof x);
    tf_rope_rotate(y, 16, 37, 10000.0f);
    Graph *g = graph_create(0);
    Tensor *t = tensor_from(graph_arena(g), 2, (int64_t[]){1, 16}, x);
    Tensor *rt = tensor_rope(g, t, 37, 10000.0f);
    ck_assert(check_close(y, rt->data, 16, 0, 0, "rope vs tensor_rope"));
    graph_free(g);
}
END_TEST

static Suite *generate_suite(void)
{
    Suite *s = suite_create("generate");
    TCase *tc = tcase_create("cache");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_infer_gpt2_matches_graph);
    tcase_add_test(tc, test_infer_llama_matches_graph);
    tcase_add_test(tc, test_infer_llama_gqa_untied_matches_graph);
    tcase_add_test(tc, test_infer_rewind);
    suite_add_tcase(s, tc);
    tc = tcase_create("kernels");
    tcase_add_test(tc, test_attn_softmax_causal_values);
    tcase_add_test(tc, test_rope_rotate_matches_tensor_rope);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(generate_suite()); }
