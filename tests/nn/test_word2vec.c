/*
 * test_word2vec.c: tests of nn/word2vec.c (the gradient step, the vocabulary, the negative
 * table, save/load, and training on a tiny synthetic corpus).
 */
#include "core/err.h"
#include "core/rng.h"
#include "nn/word2vec.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 8, K = 3 };

// The loss written directly from its definition, in double.
static double sgns_loss(const float *v, const float *u, float vecs[K][D])
{
    double dot = 0, l;
    for (int i = 0; i < D; i++) dot += (double)u[i] * v[i];
    l = log(1 + exp(-dot));
    for (int k = 0; k < K; k++) {
        double d = 0;
        for (int i = 0; i < D; i++) d += (double)vecs[k][i] * v[i];
        l += log(1 + exp(d));
    }
    return l;
}

START_TEST(test_sgns_step_is_minus_lr_gradient)
{
    Rng r;
    rng_init(&r, 5);
    float v[D], u[D], n[K][D];
    for (int i = 0; i < D; i++) v[i] = rng_normal(&r) * 0.5f, u[i] = rng_normal(&r) * 0.5f;
    for (int k = 0; k < K; k++)
        for (int i = 0; i < D; i++) n[k][i] = rng_normal(&r) * 0.5f;
    float v0[D], u0[D], n0[K][D];
    memcpy(v0, v, sizeof v), memcpy(u0, u, sizeof u), memcpy(n0, n, sizeof n);
    float *negs[K] = {n[0], n[1], n[2]};
    const float lr = 1e-3f;
    float loss = nn_w2v_sgns_step(v, u, negs, K, D, lr);
    ck_assert_double_eq_tol(loss, sgns_loss(v0, u0, n0), 1e-5);
    // Central differences of the loss in every coordinate of every vector.
    const double h = 1e-3;
    float *params[K + 2] = {v0, u0, n0[0], n0[1], n0[2]};
    const float *after[K + 2] = {v, u, n[0], n[1], n[2]};
    for (int p = 0; p < K + 2; p++)
        for (int i = 0; i < D; i++) {
            float keep = params[p][i];
            params[p][i] = keep + (float)h;
            double lp = sgns_loss(v0, u0, n0);
            params[p][i] = keep - (float)h;
            double lm = sgns_loss(v0, u0, n0);
            params[p][i] = keep;
            double grad = (lp - lm) / (2 * h);
            double step = (double)after[p][i] - keep;
            ck_assert_msg(fabs(step + lr * grad) < 2e-6, "vector %d coord %d: step %g, -lr*grad %g",
                          p, i, step, -lr * grad);
        }
}
END_TEST

START_TEST(test_sgns_step_extreme_dots_finite)
{
    float v[D], u[D], n[D];
    for (int i = 0; i < D; i++) v[i] = 10, u[i] = -10, n[i] = 10; // dots of +-800
    float *negs[1] = {n};
    float loss = nn_w2v_sgns_step(v, u, negs, 1, D, 0.01f);
    ck_assert(isfinite(loss));
    ck_assert_double_eq_tol(loss, 1600.0, 1e-2); // -log s(-800) - log s(-800) = 800 + 800
    for (int i = 0; i < D; i++) ck_assert(isfinite(v[i]) && isfinite(u[i]) && isfinite(n[i]));
}
END_TEST

START_TEST(test_tokenizer)
{
    const char *t = "Don't PANIC: x-window's  --dash-- it'  1024 bytes\n";
    const char *want[] = {"don't", "panic", "x-window's", "dash", "it", "1024", "bytes"};
    char buf[NN_W2V_MAX_WORD];
    int64_t pos = 0;
    int n = 0;
    while (nn_w2v_next_word(t, &pos, buf)) {
        ck_assert_int_lt(n, 7);
        ck_assert_str_eq(buf, want[n]);
        n++;
    }
    ck_assert_int_eq(n, 7);
}
END_TEST

START_TEST(test_vocab_counts_sorted)
{
    NnW2v m;
    const char *t = "b a c a b a d d d d e";
    ck_assert_int_eq(nn_w2v_init(&m, t, 0, 2, 4, 1), ERR_OK);
    ck_assert_int_eq(m.vocab, 3); // d 4, a 3, b 2; c and e (1) are dropped
    ck_assert_str_eq(m.words[0], "d");
    ck_assert_str_eq(m.words[1], "a");
    ck_assert_str_eq(m.words[2], "b");
    ck_assert_int_eq(m.counts[0], 4);
    ck_assert_int_eq(m.counts[2], 2);
    ck_assert_int_eq(nn_w2v_find(&m, "a"), 1);
    ck_assert_int_eq(nn_w2v_find(&m, "c"), -1);
    nn_w2v_deinit(&m);
    // max_tokens: only "b a c" are counted.
    ck_assert_int_eq(nn_w2v_init(&m, t, 3, 1, 4, 1), ERR_OK);
    ck_assert_int_eq(m.vocab, 3);
    nn_w2v_deinit(&m);
    ck_assert_int_eq(nn_w2v_init(&m, "!!! ...", 0, 1, 4, 1), ERR_INVALID);
    ck_assert_int_eq(m.vocab, 0);
    nn_w2v_deinit(&m);
}
END_TEST

START_TEST(test_neg_table_unigram_075)
{
    int64_t counts[4] = {1000, 100, 10, 1};
    enum { S = 1 << 20 };
    int32_t *table = malloc(sizeof(int32_t) * S);
    nn_w2v_neg_table(table, S, counts, 4);
    int64_t seen[4] = {0};
    for (int i = 0; i < S; i++) {
        ck_assert(table[i] >= 0 && table[i] < 4);
        seen[table[i]]++;
    }
    double z = 0;
    for (int i = 0; i < 4; i++) z += pow((double)counts[i], 0.75);
    for (int i = 0; i < 4; i++) {
        double want = pow((double)counts[i], 0.75) / z, got = (double)seen[i] / S;
        ck_assert_msg(fabs(got - want) < 1e-3 + 0.01 * want, "word %d: %g vs %g", i, got, want);
    }
    free(table);
}
END_TEST

START_TEST(test_save_load_roundtrip)
{
    NnW2v m, l;
    ck_assert_int_eq(nn_w2v_init(&m, "alpha beta beta gamma gamma gamma don't", 0, 1, 6, 3),
                     ERR_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/w2v.safetensors", test_tmpdir());
    ck_assert_int_eq(nn_w2v_save(&m, path), ERR_OK);
    ck_assert_int_eq(nn_w2v_load(&l, path), ERR_OK);
    ck_assert_int_eq(l.vocab, m.vocab);
    ck_assert_int_eq(l.dim, m.dim);
    for (int64_t i = 0; i < m.vocab; i++) {
        ck_assert_str_eq(l.words[i], m.words[i]);
        ck_assert_int_eq(l.counts[i], m.counts[i]);
    }
    ck_assert(check_close(l.emb, m.emb, m.vocab * m.dim, 0, 0, "emb"));
    ck_assert(check_close(l.unit, m.unit, m.vocab * m.dim, 0, 0, "unit"));
    ck_assert_ptr_null(l.ctx);
    ck_assert_int_eq(nn_w2v_find(&l, "don't"), nn_w2v_find(&m, "don't"));
    nn_w2v_deinit(&l);
    nn_w2v_deinit(&m);
    // A file that is not ours: an error naming it, and a zeroed model.
    snprintf(path, sizeof path, "%s/junk.safetensors", test_tmpdir());
    FILE *f = fopen(path, "wb");
    fputs("not a safetensors file", f);
    fclose(f);
    ck_assert_int_lt(nn_w2v_load(&l, path), 0);
    ck_assert_int_eq(l.vocab, 0);
    ck_assert_ptr_nonnull(strstr(err_msg(), "junk"));
}
END_TEST

// Training on a synthetic corpus of random filler words with the phrases "shaker salt grinder"
// and "shaker pepper grinder" mixed in. salt always co-occurs with shaker and grinder, so the
// model must predict them as its contexts (u_c . v_salt highest); salt and pepper occur in
// exactly the same contexts, so their vectors must be each other's nearest neighbours.
START_TEST(test_training_cooccurring_words)
{
    const char *fill[] = {"red", "green", "blue", "cat", "dog", "tree", "rock", "sky", "sea",
                          "sun", "moon", "star", "fish", "bird", "road", "lamp"};
    Rng r;
    rng_init(&r, 9);
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    for (int i = 0; i < 20000; i++) {
        const char *w = rng_below(&r, 6) != 0 ? fill[rng_below(&r, 16)]
                        : rng_below(&r, 2) ? "shaker salt grinder" : "shaker pepper grinder";
        len += (size_t)snprintf(text + len, cap - len, "%s ", w);
    }
    NnW2v m;
    ck_assert_int_eq(nn_w2v_init(&m, text, 0, 1, 16, 1), ERR_OK);
    ck_assert_int_eq(m.vocab, 20);
    NnW2vConfig cfg = {.window = 2, .negatives = 5, .epochs = 2, .lr = 0.05f, .subsample = 0,
                       .seed = 2};
    NnW2vStats st;
    ck_assert_int_eq(nn_w2v_train(&m, text, 0, &cfg, &st), ERR_OK);
    ck_assert(st.final_loss < 3.0f && st.words_trained > 0);
    int64_t salt = nn_w2v_find(&m, "salt"), pepper = nn_w2v_find(&m, "pepper"), idx;
    // The best-scoring context of salt.
    int64_t best = -1;
    double best_dot = -1e30;
    for (int64_t c = 0; c < m.vocab; c++) {
        double d = 0;
        for (int i = 0; i < 16; i++) d += (double)m.ctx[c * 16 + i] * m.emb[salt * 16 + i];
        if (c != salt && d > best_dot) best_dot = d, best = c;
    }
    ck_assert_msg(best == nn_w2v_find(&m, "shaker") || best == nn_w2v_find(&m, "grinder"),
                  "salt's best context is %s", m.words[best]);
    ck_assert_int_eq(nn_w2v_neighbors(&m, m.unit + salt * m.dim, &salt, 1, 1, &idx, NULL), 1);
    ck_assert_str_eq(m.words[idx], "pepper");
    ck_assert_int_eq(nn_w2v_neighbors(&m, m.unit + pepper * m.dim, &pepper, 1, 1, &idx, NULL), 1);
    ck_assert_str_eq(m.words[idx], "salt");
    // The text vector of "salt pepper" is the mean of the two unit vectors.
    float tv[16];
    char unknown[NN_W2V_MAX_WORD];
    ck_assert_int_eq(nn_w2v_text_vector(&m, "Salt, PEPPER and zzz", tv, unknown), 2);
    ck_assert_str_eq(unknown, "and");
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq_tol(tv[i], 0.5f * (m.unit[salt * 16 + i] + m.unit[pepper * 16 + i]),
                               1e-6);
    nn_w2v_deinit(&m);
    free(text);
}
END_TEST

START_TEST(test_analogy_on_constructed_vectors)
{
    // Hand-made unit vectors where b - a + c points exactly at d.
    NnW2v m;
    ck_assert_int_eq(nn_w2v_init(&m, "a a a a b b b c c d", 0, 1, 3, 1), ERR_OK);
    float vec[4][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {-1, 1, 1}}; // a b c d, by count order
    memcpy(m.emb, vec, sizeof vec);
    nn_w2v_normalize(&m);
    float s;
    int64_t id = nn_w2v_analogy(&m, "a", "b", "c", &s);
    ck_assert_int_eq(id, nn_w2v_find(&m, "d"));
    ck_assert_float_eq_tol(s, 1.0f, 1e-5);
    ck_assert_int_eq(nn_w2v_analogy(&m, "a", "b", "nope", &s), -1);
    nn_w2v_deinit(&m);
}
END_TEST

static Suite *w2v_suite(void)
{
    Suite *s = suite_create("word2vec");
    TCase *tc = tcase_create("word2vec");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sgns_step_is_minus_lr_gradient);
    tcase_add_test(tc, test_sgns_step_extreme_dots_finite);
    tcase_add_test(tc, test_tokenizer);
    tcase_add_test(tc, test_vocab_counts_sorted);
    tcase_add_test(tc, test_neg_table_unigram_075);
    tcase_add_test(tc, test_save_load_roundtrip);
    tcase_add_test(tc, test_training_cooccurring_words);
    tcase_add_test(tc, test_analogy_on_constructed_vectors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(w2v_suite()); }
