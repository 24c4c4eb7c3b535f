/*
 * test_tune.c: contrastive tuning of the word-vector embedder (rag/tune.h).
 *
 * Small real data: word vectors trained here on the first 1M words of FOLDOC (D = 48), and
 * the FOLDOC reverse-dictionary benchmark cut to 3,000 queries (~2,100 train pairs, ~900 test
 * queries whose entries are never trained on). Checked: the identity start is the untuned
 * embedder; the training loss falls; the projection's gradient matches finite differences;
 * the word-weight encoder deployed through rag_tune_w2v matches its formula recomputed in
 * double; held-out dense recall@10 (scored here by brute-force cosine over whole documents,
 * independently of the retriever) improves; bad configurations are clear errors.
 */
#include "core/err.h"
#include "core/gradcheck.h"
#include "datasets/datasets.h"
#include "rag/tune.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIF_A 3e-5f

static NnW2v W2V;
static RagBenchmark BM;

static void setup(void)
{
    char *text;
    size_t len;
    ck_assert_int_eq(ds_corpus_text("foldoc", &text, &len), ERR_OK);
    uint64_t seed = getenv("TUNE_TEST_SEED") ? strtoull(getenv("TUNE_TEST_SEED"), NULL, 10) : 1;
    ck_assert_int_eq(nn_w2v_init(&W2V, text, 1000000, 3, 48, seed), ERR_OK);
    NnW2vConfig wc = {.window = 5, .negatives = 5, .epochs = 2, .lr = 0.025f,
                      .subsample = 1e-3f, .seed = seed};
    ck_assert_int_eq(nn_w2v_train(&W2V, text, 1000000, &wc, NULL), ERR_OK);
    nn_w2v_normalize(&W2V);
    free(text);
    RagBenchConfig bc = rag_bench_default_config();
    bc.max_queries = 3000;
    bc.seed = seed;
    ck_assert_int_eq(rag_benchmark_foldoc(&bc, &BM), ERR_OK);
}

static void teardown(void)
{
    rag_benchmark_free(&BM);
    nn_w2v_deinit(&W2V);
}

// A quick config for the small data.
static RagTuneConfig small_config(void)
{
    RagTuneConfig c = rag_tune_defaults();
    c.batch = 128;
    c.epochs = 30;
    return c;
}

static double dot(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

// Dense recall@10 of embedder e on the benchmark's test queries: every document embedded
// whole, ranked by cosine (ties count against the relevant document).
static double test_recall10(const RagEmbedder *e)
{
    int64_t n = BM.n_docs, d = e->dim;
    float *docs = malloc((size_t)(n * d) * sizeof *docs), q[RAG_EMBED_MAX_DIM];
    ck_assert_ptr_nonnull(docs);
    for (int64_t i = 0; i < n; i++)
        rag_embed(e, BM.doc_texts[i], (int64_t)strlen(BM.doc_texts[i]), docs + i * d);
    int64_t hits = 0, total = 0;
    for (int64_t k = 0; k < BM.n_queries; k++) {
        if (!BM.is_test[k]) continue;
        int64_t rel = BM.qrels.j[BM.qrels.start[k]].doc;
        rag_embed(e, BM.queries[k], (int64_t)strlen(BM.queries[k]), q);
        double s = dot(q, docs + rel * d, d);
        int64_t better = 0;
        for (int64_t i = 0; i < n && better < 10; i++)
            if (i != rel && dot(q, docs + i * d, d) >= s) better++;
        hits += better < 10;
        total++;
    }
    free(docs);
    ck_assert_int_gt(total, 500);
    return (double)hits / (double)total;
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

START_TEST(test_tune_identity_start_is_baseline)
{
    // lr = 0: P stays E and alpha stays 1, so the tuned encoder is the untuned one.
    RagEmbedder base = rag_embedder_w2v(&W2V, SIF_A);
    RagTunePairs pairs = {0};
    ck_assert_int_eq(rag_tune_pairs_add_benchmark(&pairs, &BM, false, 500), 500);
    RagTuneConfig c = small_config();
    c.lr = 0.0f, c.word_lr = 0.0f, c.epochs = 2, c.word_weights = true;
    RagTuneResult res;
    ck_assert_int_eq(rag_tune_train(&base, &pairs, &c, &res), ERR_OK);
    int64_t D = W2V.dim;
    ck_assert_int_eq(res.dim_in, D);
    ck_assert_int_eq(res.dim_out, D);
    for (int64_t i = 0; i < D; i++)
        for (int64_t j = 0; j < D; j++) ck_assert_float_eq(res.proj[i * D + j], i == j);
    for (int64_t w = 0; w < W2V.vocab; w++) ck_assert_float_eq(res.word_weight[w], 1.0f);
    NnW2v w2v_t;
    rag_tune_w2v(&W2V, &res, &w2v_t);
    RagEmbedder tuned = rag_tune_embedder(&w2v_t, SIF_A, &res);
    float a[64], b[64], x[64];
    for (int64_t k = 0; k < 50; k++) {
        const char *t = BM.doc_texts[k * 7];
        int64_t len = (int64_t)strlen(t);
        int64_t known = rag_embed(&base, t, len, a);
        ck_assert_int_eq(rag_embed(&tuned, t, len, b), known);
        ck_assert(check_close(b, a, D, 1e-6, 0, "tuned vs untuned"));
        // The features are the untuned embedding itself.
        ck_assert_int_eq(rag_tune_features(&base, t, len, x), known);
        ck_assert(check_close(x, a, D, 0, 0, "features vs untuned"));
    }
    // The loss curve starts at the same value for both runs (nothing moved).
    ck_assert_float_eq_tol(res.val_loss[res.epochs_run], res.val_loss[0], 1e-5);
    rag_embedder_deinit(&tuned);
    nn_w2v_deinit(&w2v_t);
    rag_embedder_deinit(&base);
    rag_tune_result_free(&res);
    rag_tune_pairs_free(&pairs);
}
END_TEST

START_TEST(test_tune_loss_decreases)
{
    RagEmbedder base = rag_embedder_w2v(&W2V, SIF_A);
    RagTunePairs pairs = {0};
    ck_assert_int_gt(rag_tune_pairs_add_benchmark(&pairs, &BM, false, 0), 1500);
    RagTuneConfig c = small_config();
    c.epochs = 8;
    RagTuneResult res;
    ck_assert_int_eq(rag_tune_train(&base, &pairs, &c, &res), ERR_OK);
    ck_assert_int_ge(res.epochs_run, 1);
    ck_assert_int_eq(res.n_train + res.n_val + res.n_dropped, pairs.n);
    for (int e = 0; e <= res.epochs_run; e++)
        printf("epoch %d: train %.4f val %.4f\n", e, res.train_loss[e], res.val_loss[e]);
    // Both curves fall well below the start (log(128) = 4.85 is chance for a batch of 128).
    ck_assert_float_lt(res.train_loss[res.epochs_run], 0.8f * res.train_loss[0]);
    ck_assert_int_ge(res.best_epoch, 1);
    ck_assert_float_lt(res.val_loss[res.best_epoch], 0.9f * res.val_loss[0]);
    // Deterministic: the same seed gives the same P.
    RagTuneResult again;
    ck_assert_int_eq(rag_tune_train(&base, &pairs, &c, &again), ERR_OK);
    ck_assert_mem_eq(res.proj, again.proj, (size_t)(res.dim_out * res.dim_in) * sizeof(float));
    rag_tune_result_free(&again);
    rag_tune_result_free(&res);
    rag_embedder_deinit(&base);
    rag_tune_pairs_free(&pairs);
}
END_TEST

typedef struct {
    float tau;
    bool symmetric;
} LossCtx;

static Tensor *loss_fn(Graph *g, Tensor **in, void *ctx)
{
    const LossCtx *c = ctx;
    return rag_tune_loss(g, in[0], in[1], in[2], c->tau, c->symmetric);
}

START_TEST(test_tune_loss_gradient)
{
    // A tiny case: W (3, 4) (non-square P), 5 pairs. tau 0.5 keeps the softmax smooth enough
    // for float32 finite differences.
    Arena *a = arena_create(0);
    Rng rng;
    rng_init(&rng, 3);
    Tensor *W = tensor_zeros(a, 2, (int64_t[]){3, 4});
    Tensor *xq = tensor_zeros(a, 2, (int64_t[]){5, 4}), *xd = tensor_zeros(a, 2, (int64_t[]){5, 4});
    tensor_fill_normal(W, &rng, 0.0f, 0.3f);
    tensor_fill_normal(xq, &rng, 0.0f, 1.0f);
    tensor_fill_normal(xd, &rng, 0.0f, 1.0f);
    tensor_set_requires_grad(W, a);
    for (int sym = 0; sym < 2; sym++) {
        LossCtx c = {.tau = 0.5f, .symmetric = sym};
        GradCheckResult r = gradcheck(loss_fn, &c, (Tensor *[]){W, xq, xd}, 3, NULL);
        ck_assert_msg(r.ok, "symmetric %d: %s", sym, r.worst);
        ck_assert_int_eq(r.checked, 12);
        ck_assert_int_eq(r.kinks, 0);
    }
    arena_free(a);
}
END_TEST

START_TEST(test_tune_word_weights_deploy)
{
    // Train with word weights, then recompute the deployed embedding in double from the
    // formula of tune.h: normalize(P sum_w (s(w) alpha_w u_w - c)), c = sum p s alpha u.
    RagEmbedder base = rag_embedder_w2v(&W2V, SIF_A);
    RagTunePairs pairs = {0};
    rag_tune_pairs_add_benchmark(&pairs, &BM, false, 0);
    RagTuneConfig c = small_config();
    c.epochs = 3, c.word_weights = true, c.dim_out = 24; // non-square P too
    RagTuneResult res;
    ck_assert_int_eq(rag_tune_train(&base, &pairs, &c, &res), ERR_OK);
    ck_assert_int_eq(res.vocab, W2V.vocab);
    int64_t moved = 0, V = W2V.vocab, D = W2V.dim, Dout = res.dim_out;
    for (int64_t w = 0; w < V; w++) moved += fabsf(res.word_weight[w] - 1.0f) > 1e-3f;
    ck_assert_int_gt(moved, 100);
    NnW2v w2v_t;
    rag_tune_w2v(&W2V, &res, &w2v_t);
    RagEmbedder tuned = rag_tune_embedder(&w2v_t, SIF_A, &res);
    ck_assert_int_eq(tuned.dim, Dout);
    double total = 0, cen[64] = {0};
    for (int64_t w = 0; w < V; w++) total += (double)W2V.counts[w];
    for (int64_t w = 0; w < V; w++) {
        double p = (double)W2V.counts[w] / total, s = SIF_A / (SIF_A + p);
        for (int64_t j = 0; j < D; j++)
            cen[j] += p * s * res.word_weight[w] * W2V.unit[w * D + j];
    }
    const char *t = BM.queries[0];
    double x[64] = {0}, v[64], ss = 0;
    int64_t pos = 0;
    char word[NN_W2V_MAX_WORD];
    while (nn_w2v_next_word(t, &pos, word)) {
        int64_t id = nn_w2v_find(&W2V, word);
        if (id < 0) continue;
        double s = SIF_A / (SIF_A + (double)W2V.counts[id] / total);
        for (int64_t j = 0; j < D; j++)
            x[j] += s * res.word_weight[id] * W2V.unit[id * D + j] - cen[j];
    }
    for (int64_t r = 0; r < Dout; r++) {
        v[r] = 0;
        for (int64_t j = 0; j < D; j++) v[r] += (double)res.proj[r * D + j] * x[j];
        ss += v[r] * v[r];
    }
    float got[64], want[64];
    rag_embed(&tuned, t, (int64_t)strlen(t), got);
    for (int64_t r = 0; r < Dout; r++) want[r] = (float)(v[r] / sqrt(ss));
    ck_assert(check_close(got, want, Dout, 1e-4, 0, "deployed vs formula"));
    rag_embedder_deinit(&tuned);
    nn_w2v_deinit(&w2v_t);
    rag_embedder_deinit(&base);
    rag_tune_result_free(&res);
    rag_tune_pairs_free(&pairs);
}
END_TEST

START_TEST(test_tune_heldout_retrieval_improves)
{
    RagEmbedder base = rag_embedder_w2v(&W2V, SIF_A);
    RagTunePairs pairs = {0};
    rag_tune_pairs_add_benchmark(&pairs, &BM, false, 0);
    RagTuneConfig c = small_config();
    c.seed = getenv("TUNE_TEST_SEED") ? strtoull(getenv("TUNE_TEST_SEED"), NULL, 10) : 1;
    RagTuneResult res;
    ck_assert_int_eq(rag_tune_train(&base, &pairs, &c, &res), ERR_OK);
    NnW2v w2v_t;
    rag_tune_w2v(&W2V, &res, &w2v_t);
    RagEmbedder tuned = rag_tune_embedder(&w2v_t, SIF_A, &res);
    double before = test_recall10(&base), after = test_recall10(&tuned);
    printf("held-out dense recall@10: untuned %.4f, tuned %.4f (%d epochs, best %d)\n", before,
           after, res.epochs_run, res.best_epoch);
    // Measured with TUNE_TEST_SEED = 1..5 (word vectors, query sample, tuning order):
    // untuned 0.016-0.025, tuned 0.070-0.086; gain +0.049..+0.061, ratio 3.0x..4.4x. The
    // floors are about half of the worst seed: a tuner that learns nothing, or only fits the
    // train entries, fails; seed noise does not.
    ck_assert_double_gt(after, before + 0.025);
    ck_assert_double_gt(after, 2.0 * before);
    rag_embedder_deinit(&tuned);
    nn_w2v_deinit(&w2v_t);
    rag_embedder_deinit(&base);
    rag_tune_result_free(&res);
    rag_tune_pairs_free(&pairs);
}
END_TEST

START_TEST(test_tune_bad_config)
{
    RagEmbedder base = rag_embedder_w2v(&W2V, SIF_A);
    RagTunePairs pairs = {0};
    RagTuneResult res;
    RagTuneConfig c = small_config();
    test_expect_err(rag_tune_train(&base, &pairs, &c, &res), ERR_INVALID,
                    (const char *[]){"0 training pairs", "hint", NULL});
    rag_tune_pairs_add_benchmark(&pairs, &BM, false, 100);
    c.tau = 0.0f;
    test_expect_err(rag_tune_train(&base, &pairs, &c, &res), ERR_INVALID,
                    (const char *[]){"tau = 0", "hint", NULL});
    c.tau = -0.1f;
    test_expect_err(rag_tune_train(&base, &pairs, &c, &res), ERR_INVALID,
                    (const char *[]){"tau = -0.1", NULL});
    c = small_config();
    c.batch = 1;
    test_expect_err(rag_tune_train(&base, &pairs, &c, &res), ERR_INVALID,
                    (const char *[]){"batch = 1", NULL});
    // Pairs without a single known word are dropped; none left is an error too.
    RagTunePairs junk = {0};
    for (int i = 0; i < 10; i++) rag_tune_pairs_add(&junk, "zzqx qqzv", "xqzz vqqz");
    c = small_config();
    test_expect_err(rag_tune_train(&base, &junk, &c, &res), ERR_INVALID,
                    (const char *[]){"10 without a known word", NULL});
    // Nothing is left allocated after an error.
    ck_assert_ptr_null(res.proj);
    rag_tune_pairs_free(&junk);
    rag_tune_pairs_free(&pairs);
    rag_embedder_deinit(&base);
}
END_TEST

static Suite *tune_suite(void)
{
    Suite *s = suite_create("tune");
    TCase *tc = tcase_create("tune");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_tune_identity_start_is_baseline);
    tcase_add_test(tc, test_tune_loss_decreases);
    tcase_add_test(tc, test_tune_loss_gradient);
    tcase_add_test(tc, test_tune_word_weights_deploy);
    tcase_add_test(tc, test_tune_heldout_retrieval_improves);
    tcase_add_test(tc, test_tune_bad_config);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(tune_suite()); }
