/*
 * test_train.c: transformer/train.c: a resumed run is bit-identical to an uninterrupted one,
 * gradient accumulation equals a bigger batch, a short run learns, and the run writes its
 * log, checkpoint and curves.
 */
#include "core/err.h"
#include "core/io.h"
#include "core/safetensors.h"
#include "tests/test_util.h"
#include "transformer/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// A corpus with structure to learn: a repeating pattern of short "words" with noise.
static int32_t *make_corpus(int64_t n, int vocab)
{
    int32_t *ids = xmalloc((size_t)n * sizeof *ids);
    Rng rng;
    rng_init(&rng, 99);
    for (int64_t i = 0; i < n; i++) {
        int32_t next = (int32_t)((i * 7 + (i / 5) * 3) % vocab);
        ids[i] = rng_below(&rng, 10) == 0 ? (int32_t)rng_below(&rng, (uint32_t)vocab) : next;
    }
    return ids;
}

static TfConfig small_model(void)
{
    TfConfig c = tf_config_default(TF_LLAMA);
    c.vocab = 23;
    c.ctx = 16;
    c.d_model = 32;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_kv_head = 2;
    c.d_ff = 48;
    c.tie_embeddings = false;
    c.dropout = 0.1f; // so the resume must restore the dropout stream too
    return c;
}

static TfTrainConfig small_train(int64_t steps)
{
    TfTrainConfig tc = tf_train_defaults();
    tc.batch = 4;
    tc.seq_len = 12;
    tc.steps = steps;
    tc.lr = 3e-3f;
    tc.min_lr = 3e-4f;
    tc.warmup = 3;
    tc.grad_clip = 0.5f;
    tc.grad_accum = 2;
    tc.val_every = 0;
    tc.ckpt_every = 0;
    tc.progress = false;
    tc.seed = 5;
    return tc;
}

START_TEST(test_train_resume_is_bitwise_identical)
{
    enum { N = 4000, STEPS = 20, HALF = 10 };
    int32_t *ids = make_corpus(N, 23);
    TfConfig mc = small_model();
    TfTrainConfig tc = small_train(STEPS);

    float full[STEPS], resumed[STEPS];
    TfModel *m = tf_model_create(&mc, 1);
    TfTrain *tr = tf_train_create(m, ids, N, &tc);
    for (int s = 0; s < STEPS; s++) full[s] = tf_train_step(tr, NULL);
    tf_train_free(tr);
    tf_model_free(m);

    const char *ckpt = test_tmp_path("half.safetensors");
    m = tf_model_create(&mc, 1);
    tr = tf_train_create(m, ids, N, &tc);
    for (int s = 0; s < HALF; s++) resumed[s] = tf_train_step(tr, NULL);
    ck_assert_msg(tf_train_save(tr, ckpt) == ERR_OK, "%s", err_msg());
    tf_train_free(tr);
    tf_model_free(m);

    // Everything is rebuilt from the file: the model (another seed: its weights come from the
    // checkpoint), a fresh trainer, then the optimizer, Rng and step from the checkpoint.
    ck_assert_msg(tf_model_load(ckpt, &m) == ERR_OK, "%s", err_msg());
    tr = tf_train_create(m, ids, N, &tc);
    ck_assert_msg(tf_train_load(tr, ckpt) == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(tf_train_next_step(tr), HALF);
    for (int s = HALF; s < STEPS; s++) resumed[s] = tf_train_step(tr, NULL);
    for (int s = 0; s < STEPS; s++)
        ck_assert_msg(memcmp(&full[s], &resumed[s], sizeof(float)) == 0,
                      "step %d: %.9g vs resumed %.9g", s, full[s], resumed[s]);
    tf_train_free(tr);
    tf_model_free(m);

    // Without the optimizer state the continuation differs (the test can fail).
    ck_assert_msg(tf_model_load(ckpt, &m) == ERR_OK, "%s", err_msg());
    tr = tf_train_create(m, ids, N, &tc);
    float l = tf_train_step(tr, NULL);
    ck_assert(memcmp(&l, &full[HALF], sizeof l) != 0);
    tf_train_free(tr);
    tf_model_free(m);
    free(ids);
}
END_TEST

START_TEST(test_train_load_errors)
{
    enum { N = 2000 };
    int32_t *ids = make_corpus(N, 23);
    TfConfig mc = small_model();
    TfTrainConfig tc = small_train(5);
    TfModel *m = tf_model_create(&mc, 1);
    const char *plain = test_tmp_path("plain.safetensors");
    ck_assert(tf_model_save(m, plain) == ERR_OK);
    TfTrain *tr = tf_train_create(m, ids, N, &tc);
    test_expect_err(tf_train_load(tr, plain), ERR_FORMAT,
                    (const char *[]){"plain.safetensors", "train.step", "hint", NULL});
    ck_assert_int_eq(tf_train_next_step(tr), 0);
    // A checkpoint of another model.
    TfConfig other = mc;
    other.d_model = 48;
    TfModel *m2 = tf_model_create(&other, 1);
    TfTrain *tr2 = tf_train_create(m2, ids, N, &tc);
    const char *ck2 = test_tmp_path("other.safetensors");
    ck_assert(tf_train_save(tr2, ck2) == ERR_OK);
    test_expect_err(tf_train_load(tr, ck2), ERR_FORMAT,
                    (const char *[]){"other.safetensors", "config", NULL});
    tf_train_free(tr2);
    tf_model_free(m2);
    tf_train_free(tr);
    tf_model_free(m);
    free(ids);
}
END_TEST

// One step of batch 8 and one of 4 x accumulate 2 see the same 8 windows (the same Rng draws
// in the same order), so their losses and updates agree to float rounding.
START_TEST(test_train_grad_accum_equals_big_batch)
{
    enum { N = 3000 };
    int32_t *ids = make_corpus(N, 23);
    TfConfig mc = small_model();
    mc.dropout = 0.0f; // dropout masks would be drawn in another order
    TfTrainConfig a = small_train(10), b = small_train(10);
    a.batch = 8, a.grad_accum = 1;
    b.batch = 4, b.grad_accum = 2;
    TfModel *ma = tf_model_create(&mc, 2), *mb = tf_model_create(&mc, 2);
    TfTrain *ta = tf_train_create(ma, ids, N, &a), *tb = tf_train_create(mb, ids, N, &b);
    TfTrainStats sa, sb;
    tf_train_step(ta, &sa);
    tf_train_step(tb, &sb);
    ck_assert_msg(fabsf(sa.loss - sb.loss) <= 1e-6f, "loss %.9g vs %.9g", sa.loss, sb.loss);
    ck_assert_msg(fabsf(sa.grad_norm - sb.grad_norm) <= 1e-6f * sa.grad_norm, "norm %g vs %g",
                  sa.grad_norm, sb.grad_norm);
    for (int i = 0; i < nn_params_count(ma->params); i++) {
        const NnParam *pa = nn_params_at(ma->params, i), *pb = nn_params_at(mb->params, i);
        ck_assert(check_close(pa->t->data, pb->t->data, tensor_numel(pa->t), 1e-6, 0,
                              pa->name));
    }
    tf_train_free(ta);
    tf_train_free(tb);
    tf_model_free(ma);
    tf_model_free(mb);
    free(ids);
}
END_TEST

static int n_samples;
static void count_sample(void *ctx, TfModel *m, int64_t step)
{
    (void)m;
    (void)step;
    (*(int *)ctx)++;
}

// A short run through tf_train_run: the validation loss falls well below ln(V), and the run
// leaves a log, a checkpoint tf_model_load reads, and a PNG.
START_TEST(test_train_run_learns_and_writes_files)
{
    enum { N = 6000 };
    int32_t *ids = make_corpus(N, 23);
    TfConfig mc = small_model();
    mc.dropout = 0.0f;
    TfTrainConfig tc = small_train(60);
    tc.grad_accum = 1;
    tc.batch = 8;
    tc.val_every = 20;
    tc.val_batches = 4;
    tc.ckpt_every = 30;
    tc.sample = count_sample;
    tc.sample_ctx = &n_samples;
    tc.sample_every = 20;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/run", test_tmpdir());
    tc.out_dir = dir;
    TfModel *m = tf_model_create(&mc, 3);
    TfTrain *tr = tf_train_create(m, ids, N, &tc);
    float before = tf_train_eval(tr);
    ck_assert_msg(fabsf(before - logf(23.0f)) < 0.2f, "initial val loss %.3f", before);
    n_samples = 0;
    ck_assert_msg(tf_train_run(tr) == ERR_OK, "%s", err_msg());
    float after = tf_train_eval(tr);
    ck_assert_msg(after < before - 1.0f, "val loss %.3f -> %.3f", before, after);
    ck_assert_int_eq(n_samples, 3);
    char p[600];
    struct stat st;
    snprintf(p, sizeof p, "%s/loss.png", dir);
    ck_assert(stat(p, &st) == 0 && st.st_size > 1000);
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    unsigned char *log;
    size_t n;
    ck_assert(io_read_all(p, &log, &n) == ERR_OK);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += log[i] == '\n';
    ck_assert_int_eq(lines, 60 + 3); // one per step, one per evaluation
    ck_assert(strstr((char *)log, "\"val_loss\""));
    free(log);
    snprintf(p, sizeof p, "%s/ckpt.safetensors", dir);
    TfModel *m2;
    ck_assert_msg(tf_model_load(p, &m2) == ERR_OK, "%s", err_msg());
    ck_assert(memcmp(m2->tok_emb->data, m->tok_emb->data,
                     (size_t)tensor_numel(m->tok_emb) * sizeof(float)) == 0);
    tf_model_free(m2);
    tf_train_free(tr);
    tf_model_free(m);
    free(ids);
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("transformer_train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_train_resume_is_bitwise_identical);
    tcase_add_test(tc, test_train_load_errors);
    tcase_add_test(tc, test_train_grad_accum_equals_big_batch);
    tcase_add_test(tc, test_train_run_learns_and_writes_files);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(train_suite()); }
