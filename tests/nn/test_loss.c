/*
 * test_loss.c: nn/loss.c: values against PyTorch (tests/fixtures/nn.safetensors) and direct
 * formulas, gradients against PyTorch and against finite differences (core/gradcheck.h).
 */
#include "core/gradcheck.h"
#include "core/safetensors.h"
#include "nn/loss.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static StFile *open_fixture(void)
{
    StFile *f;
    ck_assert_msg(st_open(fixture_path("nn.safetensors"), &f) == ERR_OK,
                  "%s (hint: run /usr/bin/python3 tests/gen_nn_fixtures.py)", err_msg());
    return f;
}

static Tensor *read(StFile *f, Arena *a, const char *name)
{
    Tensor *t;
    ck_assert_msg(st_read(f, name, a, &t) == ERR_OK, "%s", err_msg());
    return t;
}

// ---------------------------------------------------------------------------
// Against PyTorch
// ---------------------------------------------------------------------------

START_TEST(test_bce_matches_torch)
{
    StFile *f = open_fixture();
    Arena *a = arena_create(0);
    Tensor *x = read(f, a, "bce.logits"), *y = read(f, a, "bce.targets");
    Tensor *want = read(f, a, "bce.loss"), *dwant = read(f, a, "bce.dlogits");
    st_close(f);
    tensor_set_requires_grad(x, a);
    Graph *g = graph_create(0);
    Tensor *loss = nn_bce_with_logits_loss(g, x, y);
    ck_assert_int_eq(loss->ndim, 0);
    graph_backward(g, loss);
    float got = tensor_item(loss);
    // Includes |x| = 40 with a wrong target: a naive log(sigmoid) gives inf there.
    ck_assert(isfinite(got));
    ck_assert(check_close(&got, want->data, 1, 1e-6, 1e-5, "bce loss"));
    ck_assert(check_close(x->grad, dwant->data, 20, 1e-7, 1e-4, "bce dlogits"));
    graph_free(g);
    arena_free(a);
}
END_TEST

START_TEST(test_info_nce_matches_torch)
{
    StFile *f = open_fixture();
    const char *tau_s = st_meta(f, "nce.tau");
    ck_assert(tau_s);
    float tau = strtof(tau_s, NULL);
    Arena *a = arena_create(0);
    Tensor *q = read(f, a, "nce.q"), *k = read(f, a, "nce.k");
    const char *names[2] = {"nce", "nce_sym"};
    for (int sym = 0; sym < 2; sym++) {
        char key[64];
        snprintf(key, sizeof key, "%s.loss", names[sym]);
        Tensor *want = read(f, a, key);
        snprintf(key, sizeof key, "%s.dq", names[sym]);
        Tensor *dq = read(f, a, key);
        snprintf(key, sizeof key, "%s.dk", names[sym]);
        Tensor *dk = read(f, a, key);
        tensor_set_requires_grad(q, a);
        tensor_set_requires_grad(k, a);
        tensor_zero_grad(q);
        tensor_zero_grad(k);
        Graph *g = graph_create(0);
        Tensor *loss = nn_info_nce_loss(g, q, k, tau, sym == 1);
        graph_backward(g, loss);
        float got = tensor_item(loss);
        ck_assert(check_close(&got, want->data, 1, 1e-6, 1e-5, names[sym]));
        ck_assert(check_close(q->grad, dq->data, 48, 1e-6, 1e-4, "dq"));
        ck_assert(check_close(k->grad, dk->data, 48, 1e-6, 1e-4, "dk"));
        graph_free(g);
    }
    st_close(f);
    arena_free(a);
}
END_TEST

// ---------------------------------------------------------------------------
// Direct formulas
// ---------------------------------------------------------------------------

START_TEST(test_mse_value)
{
    Arena *a = arena_create(0);
    Tensor *p = tensor_from(a, 2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4});
    Tensor *t = tensor_from(a, 2, (int64_t[]){2, 2}, (float[]){1, 0, 5, 1});
    Graph *g = graph_create(0);
    // (0 + 4 + 4 + 9) / 4
    ck_assert(fabsf(tensor_item(nn_mse_loss(g, p, t)) - 17.0f / 4) < 1e-6f);
    graph_free(g);
    arena_free(a);
}
END_TEST

START_TEST(test_cross_entropy_3d_equals_flat)
{
    Arena *a = arena_create(0);
    Rng rng;
    rng_init(&rng, 5);
    Tensor *x = tensor_zeros(a, 3, (int64_t[]){2, 3, 5});
    tensor_fill_normal(x, &rng, 0, 2);
    int32_t ys[6] = {0, 4, 2, 1, 3, 3};
    Tensor *y3 = tensor_from_i32(a, 2, (int64_t[]){2, 3}, ys);
    Tensor *y1 = tensor_from_i32(a, 1, (int64_t[]){6}, ys);
    Tensor *x2 = tensor_from(a, 2, (int64_t[]){6, 5}, x->data);
    Graph *g = graph_create(0);
    float l3 = tensor_item(nn_cross_entropy_loss(g, x, y3, -1));
    float l2 = tensor_item(nn_cross_entropy_loss(g, x2, y1, -1));
    // By hand: mean_i logsumexp(x_i) - x_i[y_i].
    double want = 0;
    for (int i = 0; i < 6; i++) {
        double s = 0;
        for (int j = 0; j < 5; j++) s += exp(x2->data[i * 5 + j]);
        want += log(s) - x2->data[i * 5 + ys[i]];
    }
    want /= 6;
    ck_assert_msg(fabs(l3 - want) < 1e-5 && l3 == l2, "ce %g %g want %g", l3, l2, want);
    graph_free(g);
    arena_free(a);
}
END_TEST

START_TEST(test_info_nce_perfect_match_is_low)
{
    // Orthogonal unit rows with k = q: the positive logit 1/tau beats the negatives (0) by
    // 1/tau, so the loss is log(1 + (B - 1) e^{-1/tau}).
    Arena *a = arena_create(0);
    float e[16] = {0};
    for (int i = 0; i < 4; i++) e[i * 4 + i] = 1.0f;
    Tensor *q = tensor_from(a, 2, (int64_t[]){4, 4}, e);
    Graph *g = graph_create(0);
    float tau = 0.5f;
    float l = tensor_item(nn_info_nce_loss(g, q, q, tau, true));
    double want = log(1.0 + 3.0 * exp(-1.0 / tau));
    ck_assert_msg(fabs(l - want) < 1e-5, "info_nce %g want %g", l, want);
    graph_free(g);
    arena_free(a);
}
END_TEST

START_TEST(test_l2_normalize_unit_rows)
{
    Arena *a = arena_create(0);
    Tensor *x = tensor_from(a, 2, (int64_t[]){2, 2}, (float[]){3, 4, 0, -2});
    Graph *g = graph_create(0);
    Tensor *y = nn_l2_normalize(g, x, 0.0f);
    ck_assert(check_close(y->data, (float[]){0.6f, 0.8f, 0.0f, -1.0f}, 4, 1e-6, 0, "l2norm"));
    graph_free(g);
    arena_free(a);
}
END_TEST

// ---------------------------------------------------------------------------
// Finite differences
// ---------------------------------------------------------------------------

typedef enum { F_MSE, F_BCE, F_NCE, F_NCE_SYM, F_NCE_NORMALIZED, F_COUNT } LossFn;

static Tensor *apply(Graph *g, Tensor **in, void *ctx)
{
    LossFn which = *(LossFn *)ctx;
    switch (which) {
    case F_MSE: return nn_mse_loss(g, in[0], in[1]);
    case F_BCE: return nn_bce_with_logits_loss(g, in[0], in[1]);
    case F_NCE: return nn_info_nce_loss(g, in[0], in[1], 0.5f, false);
    case F_NCE_SYM: return nn_info_nce_loss(g, in[0], in[1], 0.5f, true);
    case F_NCE_NORMALIZED:
        return nn_info_nce_loss(g, nn_l2_normalize(g, in[0], 1e-6f),
                                nn_l2_normalize(g, in[1], 1e-6f), 0.2f, true);
    case F_COUNT: break;
    }
    return NULL;
}

START_TEST(test_losses_gradcheck)
{
    static const char *names[F_COUNT] = {"mse", "bce", "nce", "nce_sym", "nce_normalized"};
    LossFn which = (LossFn)_i;
    Arena *a = arena_create(0);
    Rng rng;
    rng_init(&rng, 100 + (uint64_t)_i);
    Tensor *x = tensor_zeros(a, 2, (int64_t[]){5, 4});
    Tensor *y = tensor_zeros(a, 2, (int64_t[]){5, 4});
    tensor_fill_normal(x, &rng, 0, 1.5f);
    if (which == F_BCE) tensor_fill_uniform(y, &rng, 0, 1); // probabilities
    else tensor_fill_normal(y, &rng, 0, 1);
    tensor_set_requires_grad(x, a);
    // BCE's targets and MSE's target are data; the contrastive losses differentiate both.
    if (which != F_BCE) tensor_set_requires_grad(y, a);
    Tensor *in[2] = {x, y};
    GradCheckResult r = gradcheck(apply, &which, in, 2, NULL);
    ck_assert_msg(r.ok, "%s: %s", names[which], r.worst);
    ck_assert_msg(r.kinks <= 1, "%s: %lld kinks", names[which], (long long)r.kinks);
    ck_assert(r.checked >= 20);
    arena_free(a);
}
END_TEST

static Suite *loss_suite(void)
{
    Suite *s = suite_create("nn_loss");
    TCase *tc = tcase_create("loss");
    tcase_add_test(tc, test_bce_matches_torch);
    tcase_add_test(tc, test_info_nce_matches_torch);
    tcase_add_test(tc, test_mse_value);
    tcase_add_test(tc, test_cross_entropy_3d_equals_flat);
    tcase_add_test(tc, test_info_nce_perfect_match_is_low);
    tcase_add_test(tc, test_l2_normalize_unit_rows);
    tcase_add_loop_test(tc, test_losses_gradcheck, 0, F_COUNT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(loss_suite()); }
