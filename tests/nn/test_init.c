/*
 * test_init.c: nn/init.c: fans as PyTorch computes them, gains, and the empirical statistics of
 * each initialiser against its formula (within a few percent on 10^5 draws), plus seeding.
 */
#include "nn/init.h"
#include "tests/test_util.h"

#include <math.h>

// Sample mean, standard deviation and max |x| of a tensor.
static void stats(const Tensor *t, double *mean, double *std, double *maxabs)
{
    int64_t n = tensor_numel(t);
    double s = 0, ss = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = t->data[i];
        s += v;
        ss += v * v;
        if (fabs(v) > m) m = fabs(v);
    }
    *mean = s / (double)n;
    *std = sqrt(ss / (double)n - *mean * *mean);
    *maxabs = m;
}

START_TEST(test_init_fans_like_torch)
{
    Arena *a = arena_create(0);
    int64_t fi, fo;
    nn_init_fans(tensor_zeros(a, 2, (int64_t[]){128, 784}), &fi, &fo); // Linear(784, 128)
    ck_assert(fi == 784 && fo == 128);
    nn_init_fans(tensor_zeros(a, 4, (int64_t[]){16, 3, 5, 5}), &fi, &fo); // Conv2d(3, 16, 5)
    ck_assert(fi == 3 * 25 && fo == 16 * 25);
    ck_assert(fabsf(nn_init_gain(NN_GAIN_RELU, 0) - sqrtf(2.0f)) < 1e-7f);
    ck_assert(fabsf(nn_init_gain(NN_GAIN_TANH, 0) - 5.0f / 3.0f) < 1e-7f);
    ck_assert(fabsf(nn_init_gain(NN_GAIN_LEAKY_RELU, 0.01f) - sqrtf(2.0f / 1.0001f)) < 1e-6f);
    ck_assert(nn_init_gain(NN_GAIN_LINEAR, 0) == 1.0f && nn_init_gain(NN_GAIN_SELU, 0) == 0.75f);
    arena_free(a);
}
END_TEST

typedef enum { I_XU, I_XN, I_KU_IN, I_KN_IN, I_KU_OUT, I_KN_OUT, I_LIN, I_COUNT } InitKind;

START_TEST(test_init_statistics)
{
    static const char *names[I_COUNT] = {"xavier_uniform", "xavier_normal", "kaiming_uniform_in",
                                         "kaiming_normal_in", "kaiming_uniform_out",
                                         "kaiming_normal_out", "linear_default"};
    InitKind k = (InitKind)_i;
    Arena *a = arena_create(0);
    const int64_t out = 200, in = 500; // 10^5 values; fan_in != fan_out so a swap shows
    Tensor *w = tensor_zeros(a, 2, (int64_t[]){out, in});
    Rng rng;
    rng_init(&rng, 1000 + (uint64_t)_i);
    const float gain = nn_init_gain(NN_GAIN_RELU, 0);
    double want_std = 0, bound = INFINITY; // bound: the uniform's support
    switch (k) {
    case I_XU:
        nn_init_xavier_uniform(w, &rng, 1.0f);
        bound = sqrt(6.0 / (double)(in + out));
        want_std = bound / sqrt(3.0);
        break;
    case I_XN:
        nn_init_xavier_normal(w, &rng, 1.0f);
        want_std = sqrt(2.0 / (double)(in + out));
        break;
    case I_KU_IN:
        nn_init_kaiming_uniform(w, &rng, gain, NN_FAN_IN);
        want_std = gain / sqrt((double)in);
        bound = sqrt(3.0) * want_std;
        break;
    case I_KN_IN:
        nn_init_kaiming_normal(w, &rng, gain, NN_FAN_IN);
        want_std = gain / sqrt((double)in);
        break;
    case I_KU_OUT:
        nn_init_kaiming_uniform(w, &rng, gain, NN_FAN_OUT);
        want_std = gain / sqrt((double)out);
        bound = sqrt(3.0) * want_std;
        break;
    case I_KN_OUT:
        nn_init_kaiming_normal(w, &rng, gain, NN_FAN_OUT);
        want_std = gain / sqrt((double)out);
        break;
    case I_LIN:
        nn_init_linear_default(w, NULL, &rng);
        bound = 1.0 / sqrt((double)in);
        want_std = bound / sqrt(3.0);
        break;
    case I_COUNT: break;
    }
    double mean, std, maxabs;
    stats(w, &mean, &std, &maxabs);
    ck_assert_msg(fabs(std / want_std - 1.0) < 0.02, "%s: std %g want %g", names[k], std,
                  want_std);
    ck_assert_msg(fabs(mean) < 0.02 * want_std, "%s: mean %g", names[k], mean);
    if (isfinite(bound)) {
        // Inside the bound, and reaching close to it (a too-narrow range would fail here).
        ck_assert_msg(maxabs <= bound * (1 + 1e-6), "%s: |x| %g > %g", names[k], maxabs, bound);
        ck_assert_msg(maxabs > 0.99 * bound, "%s: |x| max %g, bound %g", names[k], maxabs, bound);
    } else {
        ck_assert_msg(maxabs > 3.5 * want_std, "%s: no normal tails", names[k]);
    }
    arena_free(a);
}
END_TEST

START_TEST(test_init_seeded)
{
    Arena *a = arena_create(0);
    Tensor *w1 = tensor_zeros(a, 2, (int64_t[]){8, 8}), *w2 = tensor_zeros(a, 2, (int64_t[]){8, 8});
    Rng r1, r2;
    rng_init(&r1, 5);
    rng_init(&r2, 5);
    nn_init_kaiming_normal(w1, &r1, 1.0f, NN_FAN_IN);
    nn_init_kaiming_normal(w2, &r2, 1.0f, NN_FAN_IN);
    ck_assert(check_close(w1->data, w2->data, 64, 0, 0, "same seed"));
    nn_init_kaiming_normal(w2, &r2, 1.0f, NN_FAN_IN);
    ck_assert(w1->data[0] != w2->data[0]);
    Tensor *b = tensor_zeros(a, 1, (int64_t[]){1000});
    nn_init_uniform(b, &r1, -0.5f, 2.0f);
    nn_init_normal(w1, &r1, 3.0f, 0.0f);
    ck_assert(w1->data[10] == 3.0f);
    for (int i = 0; i < 1000; i++) ck_assert(b->data[i] >= -0.5f && b->data[i] < 2.0f);
    arena_free(a);
}
END_TEST

static Suite *init_suite(void)
{
    Suite *s = suite_create("nn_init");
    TCase *tc = tcase_create("init");
    tcase_add_test(tc, test_init_fans_like_torch);
    tcase_add_loop_test(tc, test_init_statistics, 0, I_COUNT);
    tcase_add_test(tc, test_init_seeded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(init_suite()); }
