/*
 * test_week09.c: graded tests of the week-9 exercises (one TCase per exercise id).
 *
 *   make grade WEEK=9          the score table
 *   build/release/tests/graded/test_week09 --grade
 *
 * Each test checks the exercise against an independent computation (plain loops in double
 * precision, written from the formulas) or a property of the math, never against a value
 * copied from the reference solution. Every test needs a non-zero adapter update, loss or
 * gradient, so none of them passes on a stub that does nothing.
 */
#include "core/rng.h"
#include "core/tensor.h"
#include "nn/lora.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/params.h"
#include "tests/grade_report.h"
#include "tests/test_util.h"
#include "transformer/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static Tensor *randn(Arena *a, Rng *r, int64_t rows, int64_t cols, float std)
{
    Tensor *t = tensor_zeros(a, 2, (int64_t[]){rows, cols});
    tensor_fill_normal(t, r, 0.0f, std);
    return t;
}

// out[n][i] = sum_j x[n][j] m[i][j]: x (N, K) times m (M, K) transposed, in double.
static void mul_t(double *out, const float *x, const float *m, int64_t N, int64_t K, int64_t M)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < M; i++) {
            double s = 0;
            for (int64_t j = 0; j < K; j++) s += (double)x[n * K + j] * m[i * K + j];
            out[n * M + i] = s;
        }
}

// |got - want| <= tol * (1 + |want|) for every element.
static void expect_close(const float *got, const double *want, int64_t n, double tol,
                         const char *what)
{
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabs((double)got[i] - want[i]) <= tol * (1.0 + fabs(want[i])),
                      "%s[%lld] = %.7g, expected %.7g", what, (long long)i, (double)got[i],
                      want[i]);
}

// ---------------------------------------------------------------------------
// w09.lora_forward
// ---------------------------------------------------------------------------

// The adapter's reference output: y = x W^T + s (x A^T) B^T for x (N, in), in double.
static void lora_ref(double *y, const float *x, const float *w, const float *a, const float *b,
                     double s, int64_t N, int64_t in, int64_t out, int64_t r)
{
    double *base = malloc(sizeof(double) * (size_t)(N * out));
    double *h = malloc(sizeof(double) * (size_t)(N * r));
    mul_t(base, x, w, N, in, out);
    mul_t(h, x, a, N, in, r);
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < out; i++) {
            double d = 0;
            for (int64_t k = 0; k < r; k++) d += h[n * r + k] * b[i * r + k];
            y[n * out + i] = base[n * out + i] + s * d;
        }
    free(base);
    free(h);
}

START_TEST(test_lora_forward_value)
{
    Arena *ar = arena_create(0);
    Rng r;
    rng_init(&r, 1);
    const int64_t N = 4, in = 6, out = 5, rk = 3;
    Tensor *x = randn(ar, &r, N, in, 1.0f), *w = randn(ar, &r, out, in, 0.5f);
    Tensor *a = randn(ar, &r, rk, in, 0.4f), *b = randn(ar, &r, out, rk, 0.6f);
    NnLoraLinear l = {.a = a, .b = b, .w = w, .scale = 0.7f};
    Graph *g = graph_create(0);
    Tensor *y0 = tensor_matmul(g, x, tensor_transpose(g, w, 0, 1));
    Tensor *y = nn_lora_forward(g, &l, x, y0, false, NULL);
    ck_assert_int_eq(y->ndim, 2);
    ck_assert_int_eq(y->shape[0], N);
    ck_assert_int_eq(y->shape[1], out);
    double want[20];
    lora_ref(want, x->data, w->data, a->data, b->data, 0.7, N, in, out, rk);
    float got[20];
    tensor_copy_to(y, got);
    expect_close(got, want, N * out, 1e-5, "y");
    graph_free(g);
    arena_free(ar);
}
END_TEST

START_TEST(test_lora_forward_batched_input_and_scale)
{
    // x (2, 3, in): the adapter works on any leading dims; the scale multiplies the update
    // only: (y - x W^T) / s must be (x A^T) B^T for two different scales.
    Arena *ar = arena_create(0);
    Rng r;
    rng_init(&r, 2);
    const int64_t in = 8, out = 4, rk = 4;
    Tensor *x = tensor_zeros(ar, 3, (int64_t[]){2, 3, in});
    tensor_fill_normal(x, &r, 0.0f, 1.0f);
    Tensor *w = randn(ar, &r, out, in, 0.5f), *a = randn(ar, &r, rk, in, 0.3f);
    Tensor *b = randn(ar, &r, out, rk, 0.5f);
    const float scales[2] = {3.0f, 0.25f}; // rsLoRA alpha 6, r 4: 6 / sqrt(4) = 3
    for (int c = 0; c < 2; c++) {
        NnLoraLinear l = {.a = a, .b = b, .w = w, .scale = scales[c]};
        Graph *g = graph_create(0);
        Tensor *y0 = tensor_matmul(g, x, tensor_transpose(g, w, 0, 1));
        Tensor *y = nn_lora_forward(g, &l, x, y0, false, NULL);
        ck_assert_int_eq(y->ndim, 3);
        ck_assert_int_eq(y->shape[2], out);
        double want[24];
        lora_ref(want, x->data, w->data, a->data, b->data, scales[c], 6, in, out, rk);
        float got[24];
        tensor_copy_to(y, got);
        expect_close(got, want, 24, 1e-5, "y");
        graph_free(g);
    }
    arena_free(ar);
}
END_TEST

START_TEST(test_lora_forward_gradients)
{
    // With upstream gradient G = dL/dy (N, out), h = x A^T:
    //   dB = s G^T h,  dA = s (G B)^T x,  dx = G W + s (G B) A.
    Arena *ar = arena_create(0);
    Rng r;
    rng_init(&r, 3);
    const int64_t N = 5, in = 4, out = 3, rk = 2;
    const double s = 1.5;
    Tensor *x = randn(ar, &r, N, in, 1.0f), *w = randn(ar, &r, out, in, 0.5f);
    Tensor *a = randn(ar, &r, rk, in, 0.5f), *b = randn(ar, &r, out, rk, 0.5f);
    tensor_set_requires_grad(x, ar);
    tensor_set_requires_grad(a, ar);
    tensor_set_requires_grad(b, ar);
    float G[15];
    for (int i = 0; i < 15; i++) G[i] = rng_normal(&r);
    NnLoraLinear l = {.a = a, .b = b, .w = w, .scale = (float)s};
    Graph *g = graph_create(0);
    Tensor *y0 = tensor_matmul(g, x, tensor_transpose(g, w, 0, 1));
    graph_backward_with(g, nn_lora_forward(g, &l, x, y0, false, NULL), G);
    double h[10], gb[10], da[8] = {0}, db[6] = {0}, dx[20] = {0};
    mul_t(h, x->data, a->data, N, in, rk);
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < rk; k++) {
            gb[n * rk + k] = 0;
            for (int64_t i = 0; i < out; i++)
                gb[n * rk + k] += (double)G[n * out + i] * b->data[i * rk + k];
        }
    for (int64_t n = 0; n < N; n++) {
        for (int64_t i = 0; i < out; i++)
            for (int64_t k = 0; k < rk; k++)
                db[i * rk + k] += s * G[n * out + i] * h[n * rk + k];
        for (int64_t k = 0; k < rk; k++)
            for (int64_t j = 0; j < in; j++)
                da[k * in + j] += s * gb[n * rk + k] * x->data[n * in + j];
        for (int64_t j = 0; j < in; j++) {
            double v = 0;
            for (int64_t i = 0; i < out; i++) v += (double)G[n * out + i] * w->data[i * in + j];
            for (int64_t k = 0; k < rk; k++) v += s * gb[n * rk + k] * a->data[k * in + j];
            dx[n * in + j] = v;
        }
    }
    expect_close(b->grad, db, out * rk, 1e-5, "dB");
    expect_close(a->grad, da, rk * in, 1e-5, "dA");
    expect_close(x->grad, dx, N * in, 1e-5, "dx");
    graph_free(g);
    arena_free(ar);
}
END_TEST

// ---------------------------------------------------------------------------
// w09.lora_merge
// ---------------------------------------------------------------------------

typedef struct {
    Arena *ar;
    NnLoraLinear l;
    float w0[7 * 5];
    double delta[7 * 5]; // s * B A in double
} MergeCase;

static void merge_case(MergeCase *c, uint64_t seed)
{
    const int64_t out = 7, in = 5, rk = 2;
    Rng r;
    rng_init(&r, seed);
    c->ar = arena_create(0);
    c->l = (NnLoraLinear){.w = randn(c->ar, &r, out, in, 1.0f),
                          .a = randn(c->ar, &r, rk, in, 0.5f),
                          .b = randn(c->ar, &r, out, rk, 0.5f), .scale = 2.5f};
    memcpy(c->w0, c->l.w->data, sizeof c->w0);
    for (int64_t i = 0; i < out; i++)
        for (int64_t j = 0; j < in; j++) {
            double d = 0;
            for (int64_t k = 0; k < rk; k++)
                d += (double)c->l.b->data[i * rk + k] * c->l.a->data[k * in + j];
            c->delta[i * in + j] = 2.5 * d;
        }
}

START_TEST(test_lora_merge_adds_scaled_product)
{
    MergeCase c;
    merge_case(&c, 4);
    ck_assert_int_eq(nn_lora_linear_merge(&c.l), ERR_OK);
    ck_assert(c.l.merged);
    double want[35];
    for (int i = 0; i < 35; i++) want[i] = c.w0[i] + c.delta[i];
    expect_close(c.l.w->data, want, 35, 1e-6, "merged W");
    arena_free(c.ar);
}
END_TEST

START_TEST(test_lora_unmerge_restores)
{
    MergeCase c;
    merge_case(&c, 5);
    ck_assert_int_eq(nn_lora_linear_merge(&c.l), ERR_OK);
    double moved = 0;
    for (int i = 0; i < 35; i++) moved = fmax(moved, fabs((double)c.l.w->data[i] - c.w0[i]));
    ck_assert_msg(moved > 0.1, "merge moved W by %g only", moved);
    ck_assert_int_eq(nn_lora_linear_unmerge(&c.l), ERR_OK);
    ck_assert(!c.l.merged);
    double want[35];
    for (int i = 0; i < 35; i++) want[i] = c.w0[i];
    expect_close(c.l.w->data, want, 35, 1e-6, "unmerged W");
    arena_free(c.ar);
}
END_TEST

START_TEST(test_lora_merge_twice_adds_once)
{
    MergeCase c;
    merge_case(&c, 6);
    ck_assert_int_eq(nn_lora_linear_merge(&c.l), ERR_OK);
    ck_assert_int_eq(nn_lora_linear_merge(&c.l), ERR_INVALID);
    double want[35];
    for (int i = 0; i < 35; i++) want[i] = c.w0[i] + c.delta[i];
    expect_close(c.l.w->data, want, 35, 1e-6, "W after a refused second merge");
    arena_free(c.ar);
}
END_TEST

// ---------------------------------------------------------------------------
// w09.lora_freeze
// ---------------------------------------------------------------------------

START_TEST(test_lora_freeze_flags)
{
    NnParams *base = nn_params_create(), *ad = nn_params_create();
    nn_params_add(base, "w1", 2, (int64_t[]){4, 3});
    nn_params_add(base, "b1", 1, (int64_t[]){4});
    nn_params_add(ad, "w1.lora_a", 2, (int64_t[]){2, 3});
    nn_params_add(ad, "w1.lora_b", 2, (int64_t[]){4, 2});
    nn_params_freeze(ad, ""); // the function must make them trainable again
    nn_lora_freeze_base(base, ad);
    for (int i = 0; i < nn_params_count(base); i++) {
        ck_assert(!nn_params_at(base, i)->trainable);
        ck_assert(!nn_params_at(base, i)->t->requires_grad);
    }
    for (int i = 0; i < nn_params_count(ad); i++) {
        ck_assert(nn_params_at(ad, i)->trainable);
        ck_assert(nn_params_at(ad, i)->t->requires_grad);
    }
    nn_params_free(base);
    nn_params_free(ad);
}
END_TEST

START_TEST(test_lora_freeze_counts)
{
    NnParams *base = nn_params_create(), *ad = nn_params_create();
    nn_params_add(base, "w", 2, (int64_t[]){10, 6});
    nn_params_add(base, "v", 2, (int64_t[]){3, 6});
    nn_params_add(ad, "w.lora_a", 2, (int64_t[]){2, 6});
    nn_params_add(ad, "w.lora_b", 2, (int64_t[]){10, 2});
    NnLoraCount c = nn_lora_freeze_base(base, ad);
    ck_assert_int_eq(c.frozen, 10 * 6 + 3 * 6);
    ck_assert_int_eq(c.trainable, 2 * (6 + 10));
    ck_assert_int_eq(c.adam_state_bytes, 2 * 4 * 2 * (6 + 10));
    NnLoraCount c0 = nn_lora_freeze_base(base, NULL);
    ck_assert_int_eq(c0.frozen, 78);
    ck_assert_int_eq(c0.trainable, 0);
    nn_params_free(base);
    nn_params_free(ad);
}
END_TEST

START_TEST(test_lora_freeze_no_base_gradient)
{
    // A model with adapters on q and v: after backward the frozen base has no gradient and an
    // optimizer stepping the whole base registry changes nothing; B gets a gradient.
    TfConfig cfg = tf_config_default(TF_LLAMA);
    cfg.vocab = 16, cfg.ctx = 4, cfg.d_model = 8, cfg.n_layer = 1, cfg.n_head = 2;
    cfg.n_kv_head = 2, cfg.d_ff = 16;
    TfModel *m = tf_model_create(&cfg, 1);
    NnLoraConfig lc = {.targets = NN_LORA_BIT(NN_LORA_Q) | NN_LORA_BIT(NN_LORA_V), .rank = 2,
                       .alpha = 4.0f, .seed = 1};
    NnLora *set;
    ck_assert_int_eq(nn_lora_create(m->params, &lc, &set), ERR_OK);
    tf_model_attach_lora(m, set);
    Tensor *wq = m->layer[0].wq;
    float wq0[64];
    memcpy(wq0, wq->data, sizeof wq0);
    Graph *g = graph_create(0);
    int32_t ids[5] = {1, 5, 2, 9, 3};
    Tensor *tok = tensor_from_i32(graph_arena(g), 2, (int64_t[]){1, 4}, ids);
    Tensor *tgt = tensor_from_i32(graph_arena(g), 2, (int64_t[]){1, 4}, ids + 1);
    graph_backward(g, tf_model_loss(g, m, tok, tgt, false, NULL));
    for (int i = 0; i < nn_params_count(m->params); i++) {
        const Tensor *t = nn_params_at(m->params, i)->t;
        for (int64_t j = 0; t->grad && j < tensor_numel(t); j++)
            ck_assert_msg(t->grad[j] == 0.0f, "%s has a gradient",
                          nn_params_at(m->params, i)->name);
    }
    const Tensor *bq = nn_params_get(nn_lora_params(set), "blk.0.attn_q.lora_b");
    double gn = 0;
    for (int64_t j = 0; j < tensor_numel(bq); j++) gn += fabs(bq->grad[j]);
    ck_assert(gn > 0);
    NnOptimConfig oc = nn_optim_defaults(NN_OPTIM_SGD, 1.0f);
    NnOptimizer *opt = nn_optim_create(&oc);
    nn_optim_step(opt, m->params);
    ck_assert(memcmp(wq0, wq->data, sizeof wq0) == 0);
    nn_optim_free(opt);
    graph_free(g);
    tf_model_detach_lora(m);
    nn_lora_free(set);
    tf_model_free(m);
}
END_TEST

// ---------------------------------------------------------------------------
// w09.infonce
// ---------------------------------------------------------------------------

#define NB 5
#define ND 4

// P[i][j] = softmax_j(q_i . k_j / tau) (rows) and the loss mean_i -log P[i][i], in double.
// cols: the same over columns (key j against every query).
static double nce_ref(double P[NB][NB], const float *q, const float *k, double tau, bool cols)
{
    double S[NB][NB];
    for (int i = 0; i < NB; i++)
        for (int j = 0; j < NB; j++) {
            double d = 0;
            for (int c = 0; c < ND; c++) d += (double)q[i * ND + c] * k[j * ND + c];
            S[cols ? j : i][cols ? i : j] = d / tau;
        }
    double loss = 0;
    for (int i = 0; i < NB; i++) {
        double mx = -INFINITY, z = 0;
        for (int j = 0; j < NB; j++) mx = fmax(mx, S[i][j]);
        for (int j = 0; j < NB; j++) z += exp(S[i][j] - mx);
        for (int j = 0; j < NB; j++) P[i][j] = exp(S[i][j] - mx) / z;
        loss -= log(P[i][i]);
    }
    return loss / NB;
}

static void nce_inputs(Arena *ar, Tensor **q, Tensor **k)
{
    Rng r;
    rng_init(&r, 9);
    *q = randn(ar, &r, NB, ND, 1.0f);
    *k = randn(ar, &r, NB, ND, 1.0f);
    for (int i = 0; i < NB * ND; i++) (*k)->data[i] = 0.6f * (*q)->data[i] + 0.8f * (*k)->data[i];
    tensor_set_requires_grad(*q, ar);
    tensor_set_requires_grad(*k, ar);
}

START_TEST(test_infonce_value)
{
    Arena *ar = arena_create(0);
    Tensor *q, *k;
    nce_inputs(ar, &q, &k);
    double P[NB][NB];
    const float taus[2] = {0.5f, 2.0f};
    for (int c = 0; c < 2; c++) {
        Graph *g = graph_create(0);
        double want = nce_ref(P, q->data, k->data, taus[c], false);
        float got = tensor_item(nn_info_nce_loss(g, q, k, taus[c], false));
        ck_assert_msg(fabs(got - want) <= 1e-5 * (1 + want), "tau %g: %g vs %g", taus[c], got,
                      want);
        graph_free(g);
    }
    arena_free(ar);
}
END_TEST

START_TEST(test_infonce_symmetric_value)
{
    Arena *ar = arena_create(0);
    Tensor *q, *k;
    nce_inputs(ar, &q, &k);
    double P[NB][NB];
    double want = 0.5 * (nce_ref(P, q->data, k->data, 0.3, false) +
                         nce_ref(P, q->data, k->data, 0.3, true));
    Graph *g = graph_create(0);
    float got = tensor_item(nn_info_nce_loss(g, q, k, 0.3f, true));
    ck_assert_msg(fabs(got - want) <= 1e-5 * (1 + want), "%g vs %g", got, want);
    graph_free(g);
    arena_free(ar);
}
END_TEST

START_TEST(test_infonce_gradients)
{
    // Rows only: dL/dq_i = (sum_j P_ij k_j - k_i) / (B tau), dL/dk_j = (sum_i P_ij q_i - q_j)
    // / (B tau), with P the row softmax.
    Arena *ar = arena_create(0);
    Tensor *q, *k;
    nce_inputs(ar, &q, &k);
    const double tau = 0.4;
    double P[NB][NB], dq[NB * ND], dk[NB * ND];
    nce_ref(P, q->data, k->data, tau, false);
    for (int i = 0; i < NB; i++)
        for (int c = 0; c < ND; c++) {
            double sq = -(double)k->data[i * ND + c], sk = -(double)q->data[i * ND + c];
            for (int j = 0; j < NB; j++) {
                sq += P[i][j] * k->data[j * ND + c];
                sk += P[j][i] * q->data[j * ND + c];
            }
            dq[i * ND + c] = sq / (NB * tau);
            dk[i * ND + c] = sk / (NB * tau);
        }
    Graph *g = graph_create(0);
    graph_backward(g, nn_info_nce_loss(g, q, k, (float)tau, false));
    expect_close(q->grad, dq, NB * ND, 1e-5, "dq");
    expect_close(k->grad, dk, NB * ND, 1e-5, "dk");
    graph_free(g);
    arena_free(ar);
}
END_TEST

static Suite *week09_suite(void)
{
    Suite *s = suite_create("week09");
    TCase *tc = tcase_create("w09.lora_forward");
    tcase_add_test(tc, test_lora_forward_value);
    tcase_add_test(tc, test_lora_forward_batched_input_and_scale);
    tcase_add_test(tc, test_lora_forward_gradients);
    suite_add_tcase(s, tc);
    tc = tcase_create("w09.lora_merge");
    tcase_add_test(tc, test_lora_merge_adds_scaled_product);
    tcase_add_test(tc, test_lora_unmerge_restores);
    tcase_add_test(tc, test_lora_merge_twice_adds_once);
    suite_add_tcase(s, tc);
    tc = tcase_create("w09.lora_freeze");
    tcase_add_test(tc, test_lora_freeze_flags);
    tcase_add_test(tc, test_lora_freeze_counts);
    tcase_add_test(tc, test_lora_freeze_no_base_gradient);
    suite_add_tcase(s, tc);
    tc = tcase_create("w09.infonce");
    tcase_add_test(tc, test_infonce_value);
    tcase_add_test(tc, test_infonce_symmetric_value);
    tcase_add_test(tc, test_infonce_gradients);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return grade_main(week09_suite(), argc, argv); }
