/*
 * test_embed.c: the embedders of rag/embed.h against independent computations.
 *
 * W2V: the SIF-weighted mean recomputed in double from the word counts and unit vectors, the
 * projection applied by hand; TF: the pooled hidden state checked through the KV-cache
 * inference path (logits are linear in the final hidden state, so the mean of the per-position
 * logits must point the same way as E v).
 */
#include "core/err.h"
#include "rag/embed.h"
#include "tests/test_util.h"
#include "transformer/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *TEXT =
    "the kernel schedules the processes and the kernel manages memory; "
    "a process asks the kernel for memory and the scheduler runs the process "
    "the network stack sends packets and the kernel routes packets";

static NnW2v make_w2v(void)
{
    NnW2v m;
    ck_assert_int_eq(nn_w2v_init(&m, TEXT, 0, 1, 8, 7), ERR_OK);
    // Random-ish but fixed vectors, then unit rows (the embedder reads `unit`).
    for (int64_t i = 0; i < m.vocab * m.dim; i++) m.emb[i] = (float)sin(0.7 * (double)i + 1.0);
    nn_w2v_normalize(&m);
    return m;
}

// The formula of embed.h in double: normalize(P · sum_w a/(a+p(w)) u_w).
static void reference_w2v(const NnW2v *m, const char *const *words, int n, double a,
                          const float *proj, int64_t dim, double *out)
{
    double total = 0, acc[64] = {0}, c[64] = {0};
    for (int64_t i = 0; i < m->vocab; i++) total += (double)m->counts[i];
    // The centre: the expected contribution of one corpus word, sum_w p(w) s(w) u_w.
    for (int64_t i = 0; i < m->vocab; i++) {
        double p = (double)m->counts[i] / total, s = a > 0 ? a / (a + p) : 1.0;
        for (int64_t j = 0; j < m->dim; j++) c[j] += p * s * m->unit[i * m->dim + j];
    }
    for (int k = 0; k < n; k++) {
        int64_t id = nn_w2v_find(m, words[k]);
        if (id < 0) continue;
        double s = a > 0 ? a / (a + (double)m->counts[id] / total) : 1.0;
        for (int64_t j = 0; j < m->dim; j++) acc[j] += s * m->unit[id * m->dim + j] - c[j];
    }
    double ss = 0;
    for (int64_t r = 0; r < dim; r++) {
        out[r] = 0;
        if (!proj) out[r] = acc[r];
        else
            for (int64_t j = 0; j < m->dim; j++) out[r] += (double)proj[r * m->dim + j] * acc[j];
        ss += out[r] * out[r];
    }
    for (int64_t r = 0; r < dim; r++) out[r] /= sqrt(ss);
}

START_TEST(test_w2v_sif_matches_formula)
{
    NnW2v m = make_w2v();
    RagEmbedder e = rag_embedder_w2v(&m, 1e-2f);
    ck_assert_int_eq(e.dim, 8);
    const char *q = "The KERNEL routes; unknownword packets!";
    float got[8];
    ck_assert_int_eq(rag_embed(&e, q, (int64_t)strlen(q), got), 4); // unknownword skipped
    const char *words[] = {"the", "kernel", "routes", "unknownword", "packets"};
    double want[8];
    reference_w2v(&m, words, 5, 1e-2, NULL, 8, want);
    for (int j = 0; j < 8; j++) ck_assert_double_eq_tol(got[j], want[j], 1e-5);
    // The weighting matters: the plain mean points elsewhere.
    RagEmbedder plain = rag_embedder_w2v(&m, 0.0f);
    float p[8];
    rag_embed(&plain, q, (int64_t)strlen(q), p);
    double dot = 0;
    for (int j = 0; j < 8; j++) dot += (double)p[j] * got[j];
    ck_assert(dot < 0.99999);
    rag_embedder_deinit(&e);
    rag_embedder_deinit(&plain);
    nn_w2v_deinit(&m);
}
END_TEST

START_TEST(test_w2v_substring_and_empty)
{
    NnW2v m = make_w2v();
    RagEmbedder e = rag_embedder_w2v(&m, 1e-3f);
    // A chunk is (pointer, length) into a longer text: words past len must not count.
    const char *doc = "kernel memory|packets network";
    float a[8], b[8];
    rag_embed(&e, doc, 13, a); // "kernel memory"
    rag_embed(&e, "kernel memory", 13, b);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    float z[8];
    ck_assert_int_eq(rag_embed(&e, "zzz qqq", 7, z), 0);
    for (int j = 0; j < 8; j++) ck_assert(z[j] == 0.0f);
    ck_assert_int_eq(rag_embed(&e, "", 0, z), 0);
    rag_embedder_deinit(&e);
    nn_w2v_deinit(&m);
}
END_TEST

START_TEST(test_w2v_projection)
{
    NnW2v m = make_w2v();
    float proj[3 * 8];
    for (int i = 0; i < 24; i++) proj[i] = (float)cos(1.3 * i);
    RagEmbedder e = rag_embedder_w2v_proj(&m, 1e-3f, proj, 3);
    ck_assert_str_eq(rag_embedder_name(&e), "w2v-proj");
    const char *q = "process memory scheduler";
    float got[3];
    rag_embed(&e, q, (int64_t)strlen(q), got);
    const char *words[] = {"process", "memory", "scheduler"};
    double want[3];
    reference_w2v(&m, words, 3, 1e-3, proj, 3, want);
    for (int j = 0; j < 3; j++) ck_assert_double_eq_tol(got[j], want[j], 1e-5);
    // Batch = one at a time.
    const char *texts[2] = {q, "kernel"};
    int64_t lens[2] = {(int64_t)strlen(q), 6};
    float batch[6], one[3];
    rag_embed_batch(&e, texts, lens, 2, batch);
    rag_embed(&e, "kernel", 6, one);
    ck_assert(memcmp(batch, got, sizeof got) == 0 && memcmp(batch + 3, one, sizeof one) == 0);
    rag_embedder_deinit(&e);
    nn_w2v_deinit(&m);
}
END_TEST

START_TEST(test_tf_mean_pool_through_kv_cache)
{
    TfBpe *bpe = tf_tok_bpe_train(TEXT, strlen(TEXT), 300);
    TfConfig cfg = tf_config_default(TF_LLAMA);
    cfg.vocab = 300, cfg.ctx = 32, cfg.d_model = 32, cfg.n_layer = 2, cfg.n_head = 4;
    cfg.n_kv_head = 2, cfg.d_ff = 64;
    TfModel *m = tf_model_create(&cfg, 3);
    RagEmbedder e = rag_embedder_tf(m, bpe, 0);
    ck_assert_int_eq(e.dim, 32);
    ck_assert_int_eq(e.max_tokens, 32);
    const char *q = "the kernel routes packets";
    float v[32];
    int64_t n = rag_embed(&e, q, (int64_t)strlen(q), v);
    ck_assert_int_gt(n, 1);
    // Mean of the per-position logits from the KV-cache path = (mean h) E^T (tied head).
    int32_t *ids = NULL;
    ck_assert_int_eq(tf_tok_bpe_encode(bpe, q, strlen(q), &ids), n);
    TfInfer *s = tf_infer_create(m, 32);
    double *ml = calloc((size_t)cfg.vocab, sizeof *ml);
    for (int t = 0; t < n; t++) {
        const float *lg = tf_infer_forward(s, &ids[t], 1, t);
        for (int k = 0; k < cfg.vocab; k++) ml[k] += lg[k] / (double)n;
    }
    double dot = 0, n1 = 0, n2 = 0;
    for (int k = 0; k < cfg.vocab; k++) {
        double ev = 0;
        for (int j = 0; j < 32; j++) ev += (double)m->tok_emb->data[k * 32 + j] * v[j];
        dot += ev * ml[k], n1 += ev * ev, n2 += ml[k] * ml[k];
    }
    ck_assert_double_gt(dot / sqrt(n1 * n2), 0.99999);
    double norm = 0;
    for (int j = 0; j < 32; j++) norm += (double)v[j] * v[j];
    ck_assert_double_eq_tol(norm, 1.0, 1e-5);
    // Truncation: max_tokens = 2 embeds the first two tokens only.
    RagEmbedder e2 = rag_embedder_tf(m, bpe, 2);
    ck_assert_int_eq(rag_embed(&e2, q, (int64_t)strlen(q), v), 2);
    free(ml);
    free(ids);
    tf_infer_free(s);
    tf_model_free(m);
    tf_tok_bpe_free(bpe);
}
END_TEST

static Suite *embed_suite(void)
{
    Suite *s = suite_create("embed");
    TCase *tc = tcase_create("embed");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_w2v_sif_matches_formula);
    tcase_add_test(tc, test_w2v_substring_and_empty);
    tcase_add_test(tc, test_w2v_projection);
    tcase_add_test(tc, test_tf_mean_pool_through_kv_cache);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(embed_suite()); }
