/*
 * test_model.c: transformer/model.c against PyTorch, plus the sanity checks of a language
 * model and its checkpoint format.
 *
 * The fixtures (tests/gen_model_fixtures.py) hold a tiny model of each recipe written out in
 * plain torch: weights, a batch, the logits, the loss and the gradient of every weight, all
 * computed in float64 and rounded once. The engine runs in float32, so the tolerances below
 * cover float32 rounding through 2 layers, with room for another BLAS kernel:
 *   logits  |d| <= 1e-5 + 1e-4 |want|   (values O(1); measured max |d| 4.8e-7)
 *   loss    |d| <= 1e-5
 *   grads   |d| <= 2e-6 + 1e-4 |want|   (measured max |d| 1.8e-7 on token_embd, which sums
 *                                         the most terms: the lookup and the tied head)
 * A wrong op (a missing bias, rope on the wrong pairs, a wrong GQA group) is off by 1e-2 or
 * more, so these bounds separate right from wrong by orders of magnitude.
 */
#include "core/err.h"
#include "core/io.h"
#include "core/safetensors.h"
#include "nn/optim.h"
#include "tests/test_util.h"
#include "transformer/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Against PyTorch
// ---------------------------------------------------------------------------

static Tensor *read_fixture(StFile *f, const char *name, Arena *a)
{
    Tensor *t;
    int rc = st_read(f, name, a, &t);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    return t;
}

static void check_against_torch(const char *fixture)
{
    const char *path = fixture_path(fixture);
    StFile *f;
    ck_assert_msg(st_open(path, &f) == ERR_OK, "%s", err_msg());
    TfConfig cfg;
    ck_assert_msg(tf_config_from_meta(f, &cfg) == ERR_OK, "%s", err_msg());
    TfModel *m = tf_model_create(&cfg, 7);
    // nn_params_load ignores the fixture's extra tensors (grads, batch, outputs).
    ck_assert_msg(nn_params_load(m->params, path) == ERR_OK, "%s", err_msg());

    Graph *g = graph_create(0);
    Arena *a = graph_arena(g);
    Tensor *tok = read_fixture(f, "tokens", a), *tgt = read_fixture(f, "targets", a);
    Tensor *want_logits = read_fixture(f, "logits", a), *want_loss = read_fixture(f, "loss", a);

    bool prev = graph_set_grad_enabled(g, false);
    Tensor *logits = tf_model_forward(g, m, tok, false, NULL);
    graph_set_grad_enabled(g, prev);
    ck_assert_int_eq(logits->ndim, 3);
    ck_assert(tensor_same_shape(logits, want_logits));
    ck_assert(check_close(logits->data, want_logits->data, tensor_numel(logits), 1e-5, 1e-4,
                          "logits"));

    Tensor *loss = tf_model_loss(g, m, tok, tgt, false, NULL);
    float l = tensor_item(loss);
    ck_assert_msg(fabsf(l - want_loss->data[0]) <= 1e-5f, "loss %.7f vs torch %.7f", l,
                  want_loss->data[0]);
    graph_backward(g, loss);
    int n = nn_params_count(m->params);
    for (int i = 0; i < n; i++) {
        const NnParam *p = nn_params_at(m->params, i);
        char gname[NN_NAME_MAX + 8];
        snprintf(gname, sizeof gname, "grad.%s", p->name);
        Tensor *want = read_fixture(f, gname, a);
        ck_assert(tensor_same_shape(want, p->t));
        ck_assert_msg(check_close(p->t->grad, want->data, tensor_numel(want), 2e-6, 1e-4, gname),
                      "%s: gradient differs from torch", gname);
    }
    graph_free(g);
    st_close(f);
    tf_model_free(m);
}

START_TEST(test_model_gpt2_matches_torch) { check_against_torch("model_gpt2.safetensors"); }
END_TEST

START_TEST(test_model_llama_matches_torch) { check_against_torch("model_llama.safetensors"); }
END_TEST

// ---------------------------------------------------------------------------
// Sanity: initial loss, overfitting one batch
// ---------------------------------------------------------------------------

static TfConfig tiny_config(TfArch arch, int vocab)
{
    TfConfig c = tf_config_default(arch);
    c.vocab = vocab;
    c.ctx = 16;
    c.d_model = 32;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_kv_head = arch == TF_LLAMA ? 2 : 4;
    c.d_ff = 64;
    c.tie_embeddings = arch == TF_GPT2;
    return c;
}

static void random_tokens(int32_t *ids, int64_t n, int vocab, uint64_t seed)
{
    Rng rng;
    rng_init(&rng, seed);
    for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)rng_below(&rng, (uint32_t)vocab);
}

// A freshly initialised model predicts an almost uniform distribution: its logits are
// O(0.02 * sqrt(C)) small, so the loss is ln(V) to within a few hundredths.
static void check_initial_loss(TfArch arch)
{
    enum { V = 65, B = 4, T = 16 };
    TfConfig c = tiny_config(arch, V);
    TfModel *m = tf_model_create(&c, 3);
    int32_t ids[B * (T + 1)];
    random_tokens(ids, B * (T + 1), V, 11);
    int32_t x[B * T], y[B * T];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            x[b * T + t] = ids[b * (T + 1) + t];
            y[b * T + t] = ids[b * (T + 1) + t + 1];
        }
    Graph *g = graph_create(0);
    Tensor *tok = tensor_from_i32(graph_arena(g), 2, (int64_t[]){B, T}, x);
    Tensor *tgt = tensor_from_i32(graph_arena(g), 2, (int64_t[]){B, T}, y);
    float l = tensor_item(tf_model_loss(g, m, tok, tgt, false, NULL));
    ck_assert_msg(fabsf(l - logf((float)V)) < 0.1f, "%s: initial loss %.4f vs ln(V) = %.4f",
                  tf_arch_name(arch), l, logf((float)V));
    graph_free(g);
    tf_model_free(m);
}

START_TEST(test_model_initial_loss_is_ln_vocab)
{
    check_initial_loss(TF_GPT2);
    check_initial_loss(TF_LLAMA);
}
END_TEST

// Memorising one batch of random tokens: the loss must fall from ln(V) to near 0.
static void check_overfit(TfArch arch)
{
    enum { V = 37, B = 4, T = 16, steps = 300 };
    TfConfig c = tiny_config(arch, V);
    TfModel *m = tf_model_create(&c, 5);
    int32_t x[B * T], y[B * T];
    random_tokens(x, B * T, V, 21);
    random_tokens(y, B * T, V, 22);
    NnOptimConfig oc = nn_optim_defaults(NN_OPTIM_ADAMW, 3e-3f);
    oc.weight_decay = 0.0f;
    NnOptimizer *opt = nn_optim_create(&oc);
    Graph *g = graph_create(0);
    float first = 0.0f, last = 0.0f;
    for (int s = 0; s < steps; s++) {
        Tensor *tok = tensor_from_i32(graph_arena(g), 2, (int64_t[]){B, T}, x);
        Tensor *tgt = tensor_from_i32(graph_arena(g), 2, (int64_t[]){B, T}, y);
        Tensor *loss = tf_model_loss(g, m, tok, tgt, true, NULL);
        last = tensor_item(loss);
        if (s == 0) first = last;
        graph_backward(g, loss);
        nn_optim_step(opt, m->params);
        nn_params_zero_grad(m->params);
        graph_reset(g);
    }
    ck_assert_msg(first > 3.0f && last < 0.1f, "%s: loss %.4f -> %.4f after %d steps",
                  tf_arch_name(arch), first, last, steps);
    graph_free(g);
    nn_optim_free(opt);
    tf_model_free(m);
}

START_TEST(test_model_overfits_one_batch_gpt2) { check_overfit(TF_GPT2); }
END_TEST

START_TEST(test_model_overfits_one_batch_llama) { check_overfit(TF_LLAMA); }
END_TEST

// Dropout on in training changes the loss, off in evaluation does not; same rng seed, same
// loss.
START_TEST(test_model_dropout_train_only)
{
    TfConfig c = tiny_config(TF_GPT2, 37);
    c.dropout = 0.2f;
    TfModel *m = tf_model_create(&c, 9);
    int32_t x[2 * 8];
    random_tokens(x, 16, 37, 4);
    Graph *g = graph_create(0);
    Tensor *tok = tensor_from_i32(graph_arena(g), 2, (int64_t[]){2, 8}, x);
    Rng r1, r2;
    rng_init(&r1, 1);
    rng_init(&r2, 1);
    float e1 = tensor_item(tf_model_loss(g, m, tok, tok, false, NULL));
    float e2 = tensor_item(tf_model_loss(g, m, tok, tok, false, NULL));
    float t1 = tensor_item(tf_model_loss(g, m, tok, tok, true, &r1));
    float t2 = tensor_item(tf_model_loss(g, m, tok, tok, true, &r2));
    ck_assert(e1 == e2 && t1 == t2 && t1 != e1);
    graph_free(g);
    tf_model_free(m);
}
END_TEST

// ---------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------

static float *logits_of(TfModel *m, const int32_t *x, int B, int T)
{
    Graph *g = graph_create(0);
    Tensor *tok = tensor_from_i32(graph_arena(g), 2, (int64_t[]){B, T}, x);
    Tensor *lg = tf_model_forward(g, m, tok, false, NULL);
    float *out = xmalloc((size_t)tensor_numel(lg) * sizeof(float));
    tensor_copy_to(lg, out);
    graph_free(g);
    return out;
}

static void check_round_trip(TfArch arch)
{
    TfConfig c = tiny_config(arch, 41);
    c.norm_eps = 1e-6f;
    c.rope_base = 5000.0f;
    TfModel *m = tf_model_create(&c, 13);
    const char *path = test_tmp_path("rt.safetensors");
    ck_assert_msg(tf_model_save(m, path) == ERR_OK, "%s", err_msg());
    TfModel *m2;
    ck_assert_msg(tf_model_load(path, &m2) == ERR_OK, "%s", err_msg());
    ck_assert(tf_config_equal(&m->cfg, &m2->cfg));
    ck_assert_int_eq(nn_params_count(m->params), nn_params_count(m2->params));
    int32_t x[3 * 10];
    random_tokens(x, 30, 41, 8);
    float *a = logits_of(m, x, 3, 10), *b = logits_of(m2, x, 3, 10);
    ck_assert(memcmp(a, b, sizeof(float) * 3 * 10 * 41) == 0);
    free(a);
    free(b);
    tf_model_free(m);
    tf_model_free(m2);
}

START_TEST(test_model_save_load_round_trip)
{
    check_round_trip(TF_GPT2);
    check_round_trip(TF_LLAMA);
}
END_TEST

// Rewrites the checkpoint at src into dst: without tensor `skip`, with tensor `swap_name`
// replaced by `swap`, with `extra` (named extra_name) added, without metadata key `drop_key`.
static const char *rewrite(const char *src, const char *dst, const char *skip,
                           const char *swap_name, Tensor *swap, const char *extra_name,
                           Tensor *extra, const char *drop_key)
{
    StFile *f;
    ck_assert_msg(st_open(src, &f) == ERR_OK, "%s", err_msg());
    Arena *a = arena_create(0);
    int n = st_count(f), k = 0;
    StEntry *e = xmalloc((size_t)(n + 1) * sizeof *e);
    for (int i = 0; i < n; i++) {
        const char *name = st_name(f, i);
        if (skip && strcmp(name, skip) == 0) continue;
        Tensor *t;
        ck_assert(st_read(f, name, a, &t) == ERR_OK);
        e[k++] = (StEntry){name, swap_name && strcmp(name, swap_name) == 0 ? swap : t};
    }
    if (extra) e[k++] = (StEntry){extra_name, extra};
    int nm = st_meta_count(f), j = 0;
    const char **kv = xmalloc((size_t)(2 * nm) * sizeof *kv);
    for (int i = 0; i < nm; i++) {
        const char *key = st_meta_key(f, i);
        if (drop_key && strcmp(key, drop_key) == 0) continue;
        kv[2 * j] = key;
        kv[2 * j + 1] = st_meta(f, key);
        j++;
    }
    const char *path = test_tmp_path(dst);
    ck_assert_msg(st_save(path, e, k, kv, j) == ERR_OK, "%s", err_msg());
    free(kv);
    free(e);
    arena_free(a);
    st_close(f);
    return path;
}

static void expect_load_error(const char *path, int code, const char *const *needles)
{
    TfModel *m = (TfModel *)1;
    int rc = tf_model_load(path, &m);
    ck_assert(m == NULL);
    test_expect_err(rc, code, needles);
}

START_TEST(test_model_load_errors)
{
    TfConfig c = tiny_config(TF_GPT2, 41);
    TfModel *m = tf_model_create(&c, 13);
    const char *good = xstrdup(test_tmp_path("good.safetensors"));
    ck_assert(tf_model_save(m, good) == ERR_OK);

    const char *p = rewrite(good, "missing.safetensors", "blk.1.ffn_up.bias", NULL, NULL, NULL,
                            NULL, NULL);
    expect_load_error(p, ERR_NOTFOUND,
                      (const char *[]){"missing.safetensors", "blk.1.ffn_up.bias", "hint", NULL});

    Arena *a = arena_create(0);
    Tensor *bad = tensor_zeros(a, 2, (int64_t[]){32, 33});
    p = rewrite(good, "shape.safetensors", NULL, "blk.0.attn_q.weight", bad, NULL, NULL, NULL);
    expect_load_error(p, ERR_SHAPE, (const char *[]){"shape.safetensors", "blk.0.attn_q.weight",
                                                     "(32, 33)", "(32, 32)", NULL});

    Tensor *head = tensor_zeros(a, 2, (int64_t[]){41, 32});
    p = rewrite(good, "extra.safetensors", NULL, NULL, NULL, "output.weight", head, NULL);
    expect_load_error(p, ERR_FORMAT, (const char *[]){"output.weight", "tie_embeddings", NULL});

    p = rewrite(good, "nometa.safetensors", NULL, NULL, NULL, NULL, NULL, "n_head");
    expect_load_error(p, ERR_FORMAT, (const char *[]){"nometa.safetensors", "'n_head'", NULL});

    // A corrupt file: the first half of a good one.
    unsigned char *bytes;
    size_t n;
    ck_assert(io_read_all(good, &bytes, &n) == ERR_OK);
    p = test_write_file("cut.safetensors", bytes, n / 2);
    expect_load_error(p, ERR_TRUNCATED, (const char *[]){"cut.safetensors", NULL});
    // Garbage in the JSON header.
    memset(bytes + 8, '#', 16);
    p = test_write_file("garbage.safetensors", bytes, n);
    TfModel *m2 = NULL;
    ck_assert(tf_model_load(p, &m2) < 0 && m2 == NULL);
    ck_assert(strstr(err_msg(), "garbage.safetensors"));
    // And a config that does not hold together.
    ck_assert(tf_model_load(test_tmp_path("absent.safetensors"), &m2) == ERR_IO);
    free(bytes);

    TfConfig bc = c;
    bc.n_head = 5;
    test_expect_err(tf_config_check(&bc), ERR_INVALID, (const char *[]){"n_head", NULL});
    bc = c;
    bc.n_kv_head = 2;
    test_expect_err(tf_config_check(&bc), ERR_INVALID, (const char *[]){"n_kv_head", NULL});

    arena_free(a);
    free((void *)good);
    tf_model_free(m);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("transformer_model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_model_gpt2_matches_torch);
    tcase_add_test(tc, test_model_llama_matches_torch);
    tcase_add_test(tc, test_model_initial_loss_is_ln_vocab);
    tcase_add_test(tc, test_model_overfits_one_batch_gpt2);
    tcase_add_test(tc, test_model_overfits_one_batch_llama);
    tcase_add_test(tc, test_model_dropout_train_only);
    tcase_add_test(tc, test_model_save_load_round_trip);
    tcase_add_test(tc, test_model_load_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(model_suite()); }
