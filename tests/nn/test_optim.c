/*
 * test_optim.c: nn/optim.c against PyTorch 1.13, step by step.
 *
 * tests/fixtures/nn.safetensors (written by tests/gen_nn_fixtures.py) holds, per optimizer
 * case, the initial parameters, the gradient given at each of 10 steps and torch's parameters
 * after each step. Each test replays the gradients through nn_optim_step and compares every
 * step, so a wrong ordering of the update (bias correction, decay before or after the moments,
 * the first momentum step) shows at the step where it first matters.
 *
 * Also: gradient clipping against torch.nn.utils.clip_grad_norm_, the LR schedules, and that
 * frozen parameters are left alone.
 */
#include "core/safetensors.h"
#include "nn/optim.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define STEPS 10
// float32 replay of float32 torch: only FMA contraction and libm differences remain.
#define OPT_ATOL 1e-6
#define OPT_RTOL 1e-6

typedef struct {
    const char *name;
    const char *meta; // must equal the fixture's metadata string for the case
    NnOptimConfig cfg;
} OptCase;

static const OptCase opt_cases[] = {
    {"sgd_momentum", "opt=sgd lr=0.1 momentum=0.9 weight_decay=0.01",
     {.kind = NN_OPTIM_SGD, .lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f}},
    {"sgd_nesterov", "opt=sgd lr=0.1 momentum=0.9 nesterov=1 weight_decay=0.01",
     {.kind = NN_OPTIM_SGD, .lr = 0.1f, .momentum = 0.9f, .nesterov = true,
      .weight_decay = 0.01f}},
    {"sgd_plain", "opt=sgd lr=0.1", {.kind = NN_OPTIM_SGD, .lr = 0.1f}},
    {"adam", "opt=adam betas=0.9,0.999 eps=1e-08 lr=0.05 weight_decay=0.01",
     {.kind = NN_OPTIM_ADAM, .lr = 0.05f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
      .weight_decay = 0.01f}},
    {"adamw", "opt=adamw betas=0.9,0.999 eps=1e-08 lr=0.05 weight_decay=0.1",
     {.kind = NN_OPTIM_ADAMW, .lr = 0.05f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
      .weight_decay = 0.1f}},
};
#define N_OPT_CASES ((int)(sizeof opt_cases / sizeof opt_cases[0]))

static StFile *open_fixture(void)
{
    StFile *f;
    int rc = st_open(fixture_path("nn.safetensors"), &f);
    ck_assert_msg(rc == ERR_OK, "%s (hint: run /usr/bin/python3 tests/gen_nn_fixtures.py)",
                  err_msg());
    return f;
}

static Tensor *read(StFile *f, Arena *a, const char *fmt, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, fmt, name);
    Tensor *t;
    ck_assert_msg(st_read(f, key, a, &t) == ERR_OK, "%s", err_msg());
    return t;
}

// ---------------------------------------------------------------------------
// PyTorch replays
// ---------------------------------------------------------------------------

START_TEST(test_optim_matches_torch)
{
    const OptCase *c = &opt_cases[_i];
    StFile *f = open_fixture();
    const char *meta = st_meta(f, c->name);
    ck_assert_msg(meta && strcmp(meta, c->meta) == 0, "%s: fixture says '%s', table says '%s'",
                  c->name, meta ? meta : "(none)", c->meta);
    Arena *a = arena_create(0);
    Tensor *init0 = read(f, a, "%s.p0.init", c->name), *init1 = read(f, a, "%s.p1.init", c->name);
    Tensor *g0 = read(f, a, "%s.p0.grads", c->name), *g1 = read(f, a, "%s.p1.grads", c->name);
    Tensor *af0 = read(f, a, "%s.p0.after", c->name), *af1 = read(f, a, "%s.p1.after", c->name);
    st_close(f);

    NnParams *p = nn_params_create();
    Tensor *p0 = nn_params_add(p, "p0", 2, (int64_t[]){4, 3});
    Tensor *p1 = nn_params_add(p, "p1", 1, (int64_t[]){3});
    tensor_copy_from(p0, init0->data);
    tensor_copy_from(p1, init1->data);
    NnOptimizer *opt = nn_optim_create(&c->cfg);
    bool ok = true;
    for (int s = 0; s < STEPS && ok; s++) {
        memcpy(p0->grad, g0->data + s * 12, 12 * sizeof(float));
        memcpy(p1->grad, g1->data + s * 3, 3 * sizeof(float));
        nn_optim_step(opt, p);
        char label[64];
        snprintf(label, sizeof label, "%s step %d p0", c->name, s + 1);
        ok = check_close(p0->data, af0->data + s * 12, 12, OPT_ATOL, OPT_RTOL, label);
        snprintf(label, sizeof label, "%s step %d p1", c->name, s + 1);
        ok = check_close(p1->data, af1->data + s * 3, 3, OPT_ATOL, OPT_RTOL, label) && ok;
    }
    ck_assert_msg(ok, "%s diverges from PyTorch", c->name);
    ck_assert_int_eq(nn_optim_steps(opt), STEPS);
    // The parameters moved: the fixture is not a trivial one.
    ck_assert(fabsf(p0->data[0] - init0->data[0]) > 1e-3f);
    nn_optim_free(opt);
    nn_params_free(p);
    arena_free(a);
}
END_TEST

// ---------------------------------------------------------------------------
// Clipping
// ---------------------------------------------------------------------------

START_TEST(test_clip_grad_norm_matches_torch)
{
    StFile *f = open_fixture();
    Arena *a = arena_create(0);
    Tensor *g0 = read(f, a, "%s.g0", "clip"), *g1 = read(f, a, "%s.g1", "clip");
    const float max_norms[2] = {1.0f, 100.0f};
    for (int i = 0; i < 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "clip%d", i);
        Tensor *norm = read(f, a, "%s.norm", name);
        Tensor *w0 = read(f, a, "%s.g0", name), *w1 = read(f, a, "%s.g1", name);
        NnParams *p = nn_params_create();
        Tensor *a0 = nn_params_add(p, "a", 2, (int64_t[]){4, 3});
        Tensor *a1 = nn_params_add(p, "b", 1, (int64_t[]){3});
        memcpy(a0->grad, g0->data, 12 * sizeof(float));
        memcpy(a1->grad, g1->data, 3 * sizeof(float));
        float got = nn_clip_grad_norm(p, max_norms[i]);
        ck_assert(check_close(&got, norm->data, 1, 1e-6, 1e-6, "norm"));
        ck_assert(check_close(a0->grad, w0->data, 12, 1e-7, 1e-6, "clipped g0"));
        ck_assert(check_close(a1->grad, w1->data, 3, 1e-7, 1e-6, "clipped g1"));
        nn_params_free(p);
    }
    // Case 0 did clip (norm > 1) and case 1 did not: both branches are covered.
    ck_assert(tensor_item(read(f, a, "%s.norm", "clip0")) > 1.0f);
    st_close(f);
    arena_free(a);
}
END_TEST

START_TEST(test_clip_grad_norm_after_clip_is_max_and_skips_frozen)
{
    NnParams *p = nn_params_create();
    Tensor *a = nn_params_add(p, "a", 1, (int64_t[]){2});
    Tensor *b = nn_params_add(p, "frozen.b", 1, (int64_t[]){1});
    nn_params_freeze(p, "frozen.");
    a->grad[0] = 3.0f;
    a->grad[1] = 4.0f;
    b->grad[0] = 100.0f; // a frozen grad (set by hand) takes no part
    float n = nn_clip_grad_norm(p, 0.5f);
    ck_assert(fabsf(n - 5.0f) < 1e-6f);
    float after = sqrtf(a->grad[0] * a->grad[0] + a->grad[1] * a->grad[1]);
    ck_assert_msg(fabsf(after - 0.5f) < 1e-5f, "norm after clipping %g", after);
    ck_assert(b->grad[0] == 100.0f);
    nn_params_free(p);
}
END_TEST

// ---------------------------------------------------------------------------
// Frozen parameters, defaults, schedules
// ---------------------------------------------------------------------------

START_TEST(test_optim_skips_frozen_params)
{
    NnParams *p = nn_params_create();
    Tensor *body = nn_params_add(p, "body.weight", 1, (int64_t[]){4});
    Tensor *head = nn_params_add(p, "head.weight", 1, (int64_t[]){4});
    tensor_fill(body, 1.0f);
    tensor_fill(head, 1.0f);
    ck_assert_int_eq(nn_params_freeze(p, "body."), 1);
    NnOptimConfig cfg = nn_optim_defaults(NN_OPTIM_ADAMW, 0.1f);
    NnOptimizer *opt = nn_optim_create(&cfg);
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 4; i++) body->grad[i] = head->grad[i] = 1.0f;
        nn_optim_step(opt, p);
    }
    for (int i = 0; i < 4; i++) {
        ck_assert(body->data[i] == 1.0f);
        ck_assert(head->data[i] < 0.8f); // Adam moves ~lr per step: 3 steps of 0.1
    }
    nn_optim_free(opt);
    nn_params_free(p);
}
END_TEST

START_TEST(test_optim_defaults_are_torch_defaults)
{
    NnOptimConfig a = nn_optim_defaults(NN_OPTIM_ADAM, 1e-3f);
    ck_assert(a.beta1 == 0.9f && a.beta2 == 0.999f && a.eps == 1e-8f && a.weight_decay == 0.0f);
    NnOptimConfig w = nn_optim_defaults(NN_OPTIM_ADAMW, 1e-3f);
    ck_assert(w.weight_decay == 0.01f && w.lr == 1e-3f);
    NnOptimConfig s = nn_optim_defaults(NN_OPTIM_SGD, 0.1f);
    ck_assert(s.momentum == 0.0f && !s.nesterov);
    ck_assert_str_eq(nn_optim_name(NN_OPTIM_ADAMW), "adamw");
    NnOptimizer *opt = nn_optim_create(&w);
    nn_optim_set_lr(opt, 0.5f);
    ck_assert(nn_optim_lr(opt) == 0.5f);
    nn_optim_free(opt);
}
END_TEST

START_TEST(test_lr_schedule_warmup_cosine)
{
    const int64_t total = 1000, warmup = 100;
    const float hi = 1e-3f, lo = 1e-4f;
    NnLrSchedule k = NN_LR_WARMUP_COSINE;
    // Warmup: linear from hi/warmup at step 0 to hi at step warmup - 1.
    ck_assert(fabsf(nn_lr_schedule(k, 0, total, warmup, hi, lo) - hi / 100) < 1e-9f);
    ck_assert(fabsf(nn_lr_schedule(k, 49, total, warmup, hi, lo) - hi / 2) < 1e-9f);
    ck_assert(fabsf(nn_lr_schedule(k, 99, total, warmup, hi, lo) - hi) < 1e-9f);
    // Cosine: hi at the start of the decay, the midpoint halfway, lo at and after the end.
    ck_assert(fabsf(nn_lr_schedule(k, 100, total, warmup, hi, lo) - hi) < 1e-9f);
    ck_assert(fabsf(nn_lr_schedule(k, 550, total, warmup, hi, lo) - (hi + lo) / 2) < 1e-8f);
    ck_assert(fabsf(nn_lr_schedule(k, 1000, total, warmup, hi, lo) - lo) < 1e-9f);
    ck_assert(fabsf(nn_lr_schedule(k, 5000, total, warmup, hi, lo) - lo) < 1e-9f);
    // Monotone: up during warmup, down afterwards.
    float prev = 0.0f;
    for (int64_t s = 0; s < total; s++) {
        float lr = nn_lr_schedule(k, s, total, warmup, hi, lo);
        if (s < warmup) ck_assert(lr > prev);
        else if (s > warmup) ck_assert(lr <= prev);
        ck_assert(lr <= hi + 1e-9f && (s < warmup || lr >= lo - 1e-9f));
        prev = lr;
    }
    // Constant, with and without warmup.
    ck_assert(nn_lr_schedule(NN_LR_CONSTANT, 7, 10, 0, hi, lo) == hi);
    ck_assert(fabsf(nn_lr_schedule(NN_LR_CONSTANT, 1, 10, 4, hi, lo) - hi / 2) < 1e-9f);
}
END_TEST

// A quadratic bowl: every optimizer must get close to the minimum (a sanity check that the
// step direction is downhill, independent of the fixtures).
START_TEST(test_optim_descends_quadratic)
{
    for (int kind = 0; kind < NN_OPTIM_COUNT; kind++) {
        NnParams *p = nn_params_create();
        Tensor *x = nn_params_add(p, "x", 1, (int64_t[]){3});
        const float target[3] = {1.0f, -2.0f, 0.5f};
        NnOptimConfig cfg = nn_optim_defaults((NnOptimKind)kind, kind ? 0.05f : 0.1f);
        cfg.weight_decay = 0.0f;
        if (kind == NN_OPTIM_SGD) cfg.momentum = 0.5f;
        NnOptimizer *opt = nn_optim_create(&cfg);
        for (int s = 0; s < 500; s++) {
            for (int i = 0; i < 3; i++) x->grad[i] = 2.0f * (x->data[i] - target[i]);
            nn_optim_step(opt, p);
        }
        ck_assert_msg(check_close(x->data, target, 3, 1e-2, 0, nn_optim_name(cfg.kind)),
                      "%s did not converge", nn_optim_name(cfg.kind));
        nn_optim_free(opt);
        nn_params_free(p);
    }
}
END_TEST

static Suite *optim_suite(void)
{
    Suite *s = suite_create("nn_optim");
    TCase *tc = tcase_create("optim");
    tcase_add_loop_test(tc, test_optim_matches_torch, 0, N_OPT_CASES);
    tcase_add_test(tc, test_clip_grad_norm_matches_torch);
    tcase_add_test(tc, test_clip_grad_norm_after_clip_is_max_and_skips_frozen);
    tcase_add_test(tc, test_optim_skips_frozen_params);
    tcase_add_test(tc, test_optim_defaults_are_torch_defaults);
    tcase_add_test(tc, test_lr_schedule_warmup_cosine);
    tcase_add_test(tc, test_optim_descends_quadratic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(optim_suite()); }
