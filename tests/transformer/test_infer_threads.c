/*
 * test_infer_threads.c: the worker threads of transformer/generate.c. Every step of the
 * KV-cache forward is cut into chunks whose numbering does not depend on the thread count, and
 * a chunk computes the same bits whichever thread runs it, so the logits must be IDENTICAL
 * (memcmp) at 1, 2 and 3 threads, in decode and in prefill, for both recipes, grouped-query
 * attention and an untied head. The models are wide enough (C 256, F 384, V 300) that every
 * step has several chunks, so the threads really share the work. Also: the logits at 2 threads
 * match the graph forward; switching the thread count between calls; OpenBLAS's thread count
 * is restored after a forward; states with running workers are freed cleanly (valgrind/ASan).
 */
#include "core/rng.h"
#include "nn/params.h"
#include "tests/model_util.h"
#include "tests/test_util.h"
#include "transformer/generate.h"
#include "transformer/model.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T_SEQ 24
#define N_THR 3

static TfModel *wide_model(TfArch arch, int n_kv_head, bool tied, uint64_t seed)
{
    TfConfig c = tf_config_default(arch);
    c.vocab = 300;
    c.ctx = 32;
    c.d_model = 256;
    c.n_layer = 2;
    c.n_head = 8;
    c.n_kv_head = n_kv_head;
    c.d_ff = 384;
    c.tie_embeddings = tied;
    ck_assert_int_eq(tf_config_check(&c), ERR_OK);
    TfModel *m = tf_model_create(&c, seed);
    test_model_redraw(m, seed + 1, 0.08f);
    return m;
}

// Logits of every position (T_SEQ, V) decoding token by token, then those of a prefill of
// 0..T_SEQ-1 and of a 7-token chunk on top of a 9-token prefill, at `threads` threads.
static void run_routes(TfModel *m, int threads, float *dec, float *pre, float *chunk)
{
    int V = m->cfg.vocab;
    int32_t tok[T_SEQ];
    test_random_tokens(tok, T_SEQ, V, 21);
    TfInfer *s = tf_infer_create(m, T_SEQ);
    tf_infer_set_threads(s, threads);
    for (int t = 0; t < T_SEQ; t++)
        memcpy(dec + (size_t)t * V, tf_infer_forward(s, &tok[t], 1, t), sizeof(float) * V);
    tf_infer_reset(s);
    memcpy(pre, tf_infer_forward(s, tok, T_SEQ, 0), sizeof(float) * V);
    tf_infer_forward(s, tok, 9, 0);
    memcpy(chunk, tf_infer_forward(s, tok + 9, 7, 9), sizeof(float) * V);
    tf_infer_free(s);
}

static void check_same_bits(TfModel *m)
{
    int V = m->cfg.vocab;
    float *dec[N_THR], *pre[N_THR], *chunk[N_THR];
    for (int k = 0; k < N_THR; k++) {
        dec[k] = malloc(sizeof(float) * T_SEQ * V);
        pre[k] = malloc(sizeof(float) * V);
        chunk[k] = malloc(sizeof(float) * V);
        run_routes(m, k + 1, dec[k], pre[k], chunk[k]);
    }
    float amax = 0;
    for (int i = 0; i < T_SEQ * V; i++) amax = fmaxf(amax, fabsf(dec[0][i]));
    ck_assert_msg(amax > 0.5f, "logits too small to test (max |logit| %g)", amax);
    for (int k = 1; k < N_THR; k++) {
        for (int t = 0; t < T_SEQ; t++)
            ck_assert_msg(memcmp(dec[k] + (size_t)t * V, dec[0] + (size_t)t * V,
                                 sizeof(float) * V) == 0,
                          "decode pos %d: %d threads differ from 1", t, k + 1);
        ck_assert_msg(memcmp(pre[k], pre[0], sizeof(float) * V) == 0,
                      "prefill: %d threads differ from 1", k + 1);
        ck_assert_msg(memcmp(chunk[k], chunk[0], sizeof(float) * V) == 0,
                      "chunk on a prefill: %d threads differ from 1", k + 1);
    }
    // The routes agree with each other (the last decode position is the prefill's).
    ck_assert(check_close(pre[0], dec[0] + (size_t)(T_SEQ - 1) * V, V, 2e-5, 1e-4, "prefill"));
    ck_assert(check_close(chunk[0], dec[0] + (size_t)15 * V, V, 2e-5, 1e-4, "chunk"));
    for (int k = 0; k < N_THR; k++) {
        free(dec[k]);
        free(pre[k]);
        free(chunk[k]);
    }
}

START_TEST(test_threads_same_bits_llama)
{
    TfModel *m = wide_model(TF_LLAMA, 8, true, 31);
    check_same_bits(m);
    tf_model_free(m);
}
END_TEST

START_TEST(test_threads_same_bits_llama_gqa_untied)
{
    TfModel *m = wide_model(TF_LLAMA, 2, false, 32);
    check_same_bits(m);
    tf_model_free(m);
    m = wide_model(TF_LLAMA, 1, false, 33); // one kv head: fewer chunks than threads in QKV
    check_same_bits(m);
    tf_model_free(m);
}
END_TEST

START_TEST(test_threads_same_bits_gpt2)
{
    TfModel *m = wide_model(TF_GPT2, 8, true, 34);
    check_same_bits(m);
    tf_model_free(m);
}
END_TEST

// At 2 threads, decoding token by token gives the graph forward's logits.
START_TEST(test_threads_match_graph)
{
    TfModel *m = wide_model(TF_LLAMA, 2, false, 35);
    int V = m->cfg.vocab, T = 12;
    int32_t tok[12];
    test_random_tokens(tok, T, V, 22);
    Graph *g = graph_create(0);
    graph_set_grad_enabled(g, false);
    Tensor *t = tensor_from_i32(graph_arena(g), 2, (int64_t[]){1, T}, tok);
    Tensor *logits = tf_model_forward(g, m, t, false, NULL);
    float *ref = malloc(sizeof(float) * (size_t)T * V);
    tensor_copy_to(logits, ref);
    graph_free(g);
    TfInfer *s = tf_infer_create(m, T);
    tf_infer_set_threads(s, 2);
    for (int i = 0; i < T; i++) {
        const float *lg = tf_infer_forward(s, &tok[i], 1, i);
        char label[32];
        snprintf(label, sizeof label, "pos %d", i);
        ck_assert(check_close(lg, ref + (size_t)i * V, V, 2e-5, 1e-4, label));
    }
    tf_infer_free(s);
    free(ref);
    tf_model_free(m);
}
END_TEST

// Changing the thread count between calls (workers stopped and started) keeps the sequence:
// the result equals a run at one thread throughout.
START_TEST(test_threads_switch_midway)
{
    TfModel *m = wide_model(TF_LLAMA, 4, true, 36);
    int V = m->cfg.vocab;
    int32_t tok[T_SEQ];
    test_random_tokens(tok, T_SEQ, V, 23);
    float *want = malloc(sizeof(float) * V);
    TfInfer *s = tf_infer_create(m, T_SEQ);
    tf_infer_set_threads(s, 1);
    tf_infer_forward(s, tok, 5, 0);
    for (int t = 5; t < T_SEQ; t++)
        memcpy(want, tf_infer_forward(s, &tok[t], 1, t), sizeof(float) * V);
    tf_infer_reset(s);
    const int counts[] = {2, 3, 1, 2};
    ck_assert_int_eq(tf_infer_set_threads(s, 3), 1);
    tf_infer_forward(s, tok, 5, 0);
    const float *lg = NULL;
    for (int t = 5; t < T_SEQ; t++) {
        tf_infer_set_threads(s, counts[t % 4]);
        lg = tf_infer_forward(s, &tok[t], 1, t);
    }
    ck_assert_msg(memcmp(lg, want, sizeof(float) * V) == 0,
                  "switching thread counts changed bits");
    tf_infer_free(s);
    free(want);
    tf_model_free(m);
}
END_TEST

// A forward leaves OpenBLAS's thread count as it found it (the workers use 1 inside).
START_TEST(test_threads_blas_count_restored)
{
    TfModel *m = wide_model(TF_LLAMA, 8, true, 37);
    int before = openblas_get_num_threads();
    TfInfer *s = tf_infer_create(m, 8);
    int32_t tok[4] = {1, 2, 3, 4};
    for (int threads = 1; threads <= 2; threads++) {
        tf_infer_set_threads(s, threads);
        tf_infer_forward(s, tok, 4, 0);
        ck_assert_int_eq(openblas_get_num_threads(), before);
        tf_infer_forward(s, tok + 3, 1, 4);
        ck_assert_int_eq(openblas_get_num_threads(), before);
    }
    tf_infer_free(s);
    tf_model_free(m);
}
END_TEST

// Many states with running (then sleeping) workers, freed right away or after the workers
// fell asleep: no leak, no hang (ASan and valgrind check the rest).
START_TEST(test_threads_create_free)
{
    TfModel *m = wide_model(TF_GPT2, 8, true, 38);
    int32_t tok = 7;
    for (int i = 0; i < 20; i++) {
        TfInfer *s = tf_infer_create(m, 4);
        tf_infer_set_threads(s, 2 + i % 2);
        tf_infer_forward(s, &tok, 1, 0);
        if (i % 5 == 0) {
            struct timespec ts = {0, 5 * 1000 * 1000}; // past the spin: workers asleep
            nanosleep(&ts, NULL);
            tf_infer_forward(s, &tok, 1, 1);
        }
        tf_infer_free(s);
    }
    TfInfer *s = tf_infer_create(m, 4);
    tf_infer_set_threads(s, 4); // set but never run: no workers started
    tf_infer_free(s);
    tf_model_free(m);
}
END_TEST

static Suite *infer_threads_suite(void)
{
    Suite *s = suite_create("infer_threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_threads_same_bits_llama);
    tcase_add_test(tc, test_threads_same_bits_llama_gqa_untied);
    tcase_add_test(tc, test_threads_same_bits_gpt2);
    tcase_add_test(tc, test_threads_match_graph);
    tcase_add_test(tc, test_threads_switch_midway);
    tcase_add_test(tc, test_threads_blas_count_restored);
    tcase_add_test(tc, test_threads_create_free);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(infer_threads_suite()); }
