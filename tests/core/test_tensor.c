/*
 * test_tensor.c: the tensor and graph contracts of core/tensor.h that are not an op's math:
 * values of simple cases worked by hand, views and their gradients, gradient accumulation,
 * no-grad and detach, the memory model (100k steps at flat memory), NaN hunting, the RNG's
 * pinned outputs, edge cases (empty and size-1 dims, logits of +-1000), and CHECK aborts.
 */
#include "core/tensor.h"
#include "tests/test_util.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

START_TEST(test_rng_pinned_outputs)
{
    // Computed independently from the algorithm in rng.h (splitmix64 seeding + xoshiro256**).
    Rng r;
    rng_init(&r, 42);
    ck_assert_uint_eq(rng_u64(&r), 0x15780b2e0c2ec716ull);
    ck_assert_uint_eq(rng_u64(&r), 0x6104d9866d113a7eull);
    ck_assert_uint_eq(rng_u64(&r), 0xae17533239e499a1ull);
    ck_assert_uint_eq(rng_u64(&r), 0xecb8ad4703b360a1ull);
    ck_assert_float_eq(rng_uniform(&r), 0.9918038845062256f);
    // Normals: mean ~0, variance ~1 over many draws; bounded ints stay in range.
    rng_init(&r, 7);
    double s = 0, ss = 0;
    for (int i = 0; i < 100000; i++) {
        double z = rng_normal(&r);
        s += z, ss += z * z;
    }
    ck_assert_double_le(fabs(s / 100000), 0.02);
    ck_assert_double_le(fabs(ss / 100000 - 1.0), 0.02);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) counts[rng_below(&r, 7)]++;
    for (int i = 0; i < 7; i++) ck_assert_int_gt(counts[i], 9500);
}
END_TEST

START_TEST(test_tensor_values_by_hand)
{
    Graph *g = graph_create(0);
    Arena *a = graph_arena(g);
    float av[6] = {1, 2, 3, 4, 5, 6}, bv[3] = {10, 20, 30};
    Tensor *A = tensor_from(a, 2, SHAPE(2, 3), av);
    Tensor *b = tensor_from(a, 1, SHAPE(3), bv);
    float want_add[6] = {11, 22, 33, 14, 25, 36};
    Tensor *s = tensor_add(g, A, b);
    ck_assert(check_close(s->data, want_add, 6, 0, 0, "add broadcast"));
    // (2,3) @ (3,2) with B = A^T: [[14, 32], [32, 77]]
    Tensor *m = tensor_matmul(g, A, tensor_transpose(g, A, 0, 1));
    float want_mm[4] = {14, 32, 32, 77};
    ck_assert(check_close(m->data, want_mm, 4, 0, 0, "A A^T"));
    // softmax of (0, ln 2, ln 3) is (1/6, 2/6, 3/6)
    float lv[3] = {0, logf(2), logf(3)};
    Tensor *p = tensor_softmax(g, tensor_from(a, 1, SHAPE(3), lv), 0);
    float want_p[3] = {1 / 6.f, 2 / 6.f, 3 / 6.f};
    ck_assert(check_close(p->data, want_p, 3, 1e-7, 1e-6, "softmax"));
    // sum over dim 0 keepdim, max over dim 1
    Tensor *sm = tensor_sum(g, A, 0, true);
    ck_assert_int_eq(sm->ndim, 2);
    ck_assert_int_eq(sm->shape[0], 1);
    float want_sum[3] = {5, 7, 9};
    ck_assert(check_close(sm->data, want_sum, 3, 0, 0, "sum keepdim"));
    Tensor *mx = tensor_max(g, A, 1, false);
    float want_max[2] = {3, 6};
    ck_assert(check_close(mx->data, want_max, 2, 0, 0, "max"));
    graph_free(g);
}
END_TEST

START_TEST(test_tensor_large_matmul_layouts)
{
    // Every operand layout against a naive triple loop, on odd sizes.
    Graph *g = graph_create(0);
    Arena *a = graph_arena(g);
    Rng rng;
    rng_init(&rng, 5);
    int64_t M = 37, K = 53, N = 29;
    Tensor *A = tensor_zeros(a, 2, SHAPE(M, K)), *At = tensor_zeros(a, 2, SHAPE(K, M));
    Tensor *B = tensor_zeros(a, 2, SHAPE(K, N)), *Bt = tensor_zeros(a, 2, SHAPE(N, K));
    tensor_fill_normal(A, &rng, 0, 1);
    tensor_fill_normal(B, &rng, 0, 1);
    for (int64_t i = 0; i < M; i++)
        for (int64_t k = 0; k < K; k++) At->data[k * M + i] = A->data[i * K + k];
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++) Bt->data[j * K + k] = B->data[k * N + j];
    float *want = malloc(sizeof(float) * (size_t)(M * N));
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)A->data[i * K + k] * B->data[k * N + j];
            want[i * N + j] = (float)s;
        }
    Tensor *c1 = tensor_matmul(g, A, B);
    Tensor *c2 = tensor_matmul(g, tensor_transpose(g, At, 0, 1), B);
    Tensor *c3 = tensor_matmul(g, A, tensor_transpose(g, Bt, 0, 1));
    Tensor *c4 = tensor_matmul(g, tensor_transpose(g, At, 0, 1), tensor_transpose(g, Bt, 0, 1));
    ck_assert(check_close(c1->data, want, M * N, 1e-4, 1e-4, "A B"));
    ck_assert(check_close(c2->data, want, M * N, 1e-4, 1e-4, "At^T B"));
    ck_assert(check_close(c3->data, want, M * N, 1e-4, 1e-4, "A Bt^T"));
    ck_assert(check_close(c4->data, want, M * N, 1e-4, 1e-4, "At^T Bt^T"));
    // A strided slice (every other row) is neither row- nor column-major: copied, same answer.
    Tensor *A2 = tensor_zeros(a, 2, SHAPE(2 * M, K));
    for (int64_t i = 0; i < M; i++)
        memcpy(A2->data + 2 * i * K, A->data + i * K, sizeof(float) * (size_t)K);
    Tensor *Aview = tensor_reshape(g, A2, 3, SHAPE(M, 2, K));
    Tensor *rows = tensor_reshape(g, tensor_slice(g, Aview, 1, 0, 1), 2, SHAPE(M, K));
    Tensor *c5 = tensor_matmul(g, rows, B);
    ck_assert(check_close(c5->data, want, M * N, 1e-4, 1e-4, "strided rows"));
    free(want);
    graph_free(g);
}
END_TEST

START_TEST(test_tensor_views_share_storage_and_grad)
{
    Arena *params = arena_create(0);
    Graph *g = graph_create(0);
    Tensor *W = tensor_param(params, 2, SHAPE(4, 3));
    for (int i = 0; i < 12; i++) W->data[i] = (float)i;
    // A slice is a view: same storage.
    Tensor *rows = tensor_slice(g, W, 0, 1, 3);
    ck_assert_ptr_eq(rows->data, W->data + 3);
    ck_assert(rows->base == W);
    // Gradient of sum(rows) lands in rows 1..2 of W->grad only.
    graph_backward(g, tensor_sum_all(g, rows));
    float want[12] = {0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0};
    ck_assert(check_close(W->grad, want, 12, 0, 0, "slice grad"));
    // A transpose view's gradient is written in the base's layout.
    graph_reset(g);
    tensor_zero_grad(W);
    Tensor *Wt = tensor_transpose(g, W, 0, 1); // (3, 4)
    float coef[4] = {1, 10, 100, 1000};
    Tensor *y = tensor_mul(g, Wt, tensor_from(graph_arena(g), 1, SHAPE(4), coef));
    graph_backward(g, tensor_sum_all(g, y));
    float want_t[12] = {1, 1, 1, 10, 10, 10, 100, 100, 100, 1000, 1000, 1000};
    ck_assert(check_close(W->grad, want_t, 12, 0, 0, "transpose grad"));
    // Reshape of a non-contiguous view copies (and is then contiguous).
    Tensor *r = tensor_reshape(g, Wt, 1, SHAPE(12));
    ck_assert(tensor_is_contiguous(r));
    ck_assert_float_eq(r->data[1], W->data[3]);
    graph_free(g);
    arena_free(params);
}
END_TEST

START_TEST(test_tensor_grad_accumulates)
{
    Arena *params = arena_create(0);
    Graph *g = graph_create(0);
    Tensor *w = tensor_param(params, 1, SHAPE(3));
    float v[3] = {1, 2, 3};
    tensor_copy_from(w, v);
    // loss = sum(w * w): dloss/dw = 2w. Two separate steps accumulate: 4w.
    for (int step = 0; step < 2; step++) {
        graph_backward(g, tensor_sum_all(g, tensor_mul(g, w, w)));
        graph_reset(g);
    }
    float want[3] = {4, 8, 12};
    ck_assert(check_close(w->grad, want, 3, 0, 0, "accumulated over steps"));
    // Two backward calls on one graph add each loss once (not the first one twice).
    tensor_zero_grad(w);
    Tensor *l1 = tensor_sum_all(g, tensor_mul(g, w, w));
    Tensor *l2 = tensor_sum_all(g, tensor_mul_scalar(g, w, 3.0f));
    graph_backward(g, l1);
    graph_backward(g, l2);
    float want2[3] = {2 + 3, 4 + 3, 6 + 3};
    ck_assert(check_close(w->grad, want2, 3, 0, 0, "two losses, one graph"));
    tensor_zero_grad(w);
    float zero[3] = {0, 0, 0};
    ck_assert(check_close(w->grad, zero, 3, 0, 0, "zero_grad"));
    graph_free(g);
    arena_free(params);
}
END_TEST

START_TEST(test_tensor_no_grad_and_detach)
{
    Arena *params = arena_create(0);
    Graph *g = graph_create(0);
    Tensor *w = tensor_param(params, 1, SHAPE(2));
    tensor_fill(w, 2.0f);
    bool was = graph_set_grad_enabled(g, false);
    ck_assert(was);
    Tensor *y = tensor_mul(g, w, w);
    ck_assert(!y->requires_grad);
    graph_set_grad_enabled(g, true);
    // y = w * detach(w): gradient w.r.t. w is detach(w) = 2, not 2w = 4.
    Tensor *z = tensor_sum_all(g, tensor_mul(g, w, tensor_detach(g, w)));
    ck_assert(z->requires_grad);
    graph_backward(g, z);
    float want[2] = {2, 2};
    ck_assert(check_close(w->grad, want, 2, 0, 0, "detach"));
    graph_free(g);
    arena_free(params);
}
END_TEST

// A 2-layer MLP trained for 100k steps: after the first step the scratch arena never grows,
// and the process's resident memory stays flat.
static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * 4;
}

START_TEST(test_tensor_flat_memory_100k_steps)
{
    Arena *params = arena_create(0);
    Graph *g = graph_create(0);
    Rng rng;
    rng_init(&rng, 1);
    Tensor *W1 = tensor_param(params, 2, SHAPE(8, 4)), *W2 = tensor_param(params, 2, SHAPE(3, 8));
    tensor_fill_normal(W1, &rng, 0, 0.5f);
    tensor_fill_normal(W2, &rng, 0, 0.5f);
    float xv[16];
    int32_t yv[4] = {0, 1, 2, 1};
    for (int i = 0; i < 16; i++) xv[i] = rng_normal(&rng);
    size_t reserved_after_first = 0;
    long rss_start = 0;
    float first_loss = 0, loss = 0;
    const int steps = 100000;
    for (int step = 0; step < steps; step++) {
        Tensor *x = tensor_from(graph_arena(g), 2, SHAPE(4, 4), xv);
        Tensor *y = tensor_from_i32(graph_arena(g), 1, SHAPE(4), yv);
        Tensor *h = tensor_gelu(g, tensor_matmul(g, x, tensor_transpose(g, W1, 0, 1)));
        Tensor *l = tensor_cross_entropy(g, tensor_matmul(g, h, tensor_transpose(g, W2, 0, 1)), y,
                                         -1);
        graph_backward(g, l);
        loss = tensor_item(l);
        if (step == 0) first_loss = loss;
        for (int i = 0; i < 32; i++) W1->data[i] -= 0.01f * W1->grad[i];
        for (int i = 0; i < 24; i++) W2->data[i] -= 0.01f * W2->grad[i];
        tensor_zero_grad(W1);
        tensor_zero_grad(W2);
        graph_reset(g);
        if (step == 0) reserved_after_first = arena_reserved(graph_arena(g));
        if (step == 100) rss_start = rss_kb();
        (void)rss_start;
        ck_assert_uint_eq(arena_reserved(graph_arena(g)), reserved_after_first);
    }
#ifndef __SANITIZE_ADDRESS__
    long growth = rss_kb() - rss_start;
    // (AddressSanitizer's own bookkeeping grows RSS by itself; the arena check above holds.)
    ck_assert_msg(growth < 1024, "RSS grew by %ld kB over %d steps", growth, steps);
#endif
    ck_assert_msg(loss < first_loss * 0.5f, "the MLP did not learn: %g -> %g", first_loss, loss);
    graph_free(g);
    arena_free(params);
}
END_TEST

START_TEST(test_tensor_find_nonfinite)
{
    Graph *g = graph_create(0);
    float v[3] = {1, -1, 2};
    Tensor *x = tensor_from(graph_arena(g), 1, SHAPE(3), v);
    Tensor *e = tensor_exp(g, x);
    Tensor *l = tensor_log(g, tensor_neg(g, x)); // log(-1) = NaN, log(-2) = NaN
    tensor_set_name(l, "bad_log");
    Tensor *s = tensor_add(g, tensor_sum_all(g, l), tensor_sum_all(g, e));
    ck_assert(tensor_has_nonfinite(s));
    ck_assert(!tensor_has_nonfinite(e));
    Tensor *first = graph_find_nonfinite(g);
    ck_assert_ptr_nonnull(first);
    ck_assert_str_eq(first->name, "bad_log");
    // graph_dump names every op.
    char path[512];
    snprintf(path, sizeof path, "%s/dump.txt", test_tmpdir());
    FILE *f = fopen(path, "w+");
    graph_dump(g, f);
    rewind(f);
    char buf[4096] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    ck_assert_uint_gt(n, 0);
    ck_assert_ptr_nonnull(strstr(buf, "bad_log"));
    ck_assert_ptr_nonnull(strstr(buf, "exp"));
    ck_assert_ptr_nonnull(strstr(buf, "log"));
    graph_free(g);
}
END_TEST

START_TEST(test_tensor_edge_cases)
{
    Graph *g = graph_create(0);
    Arena *a = graph_arena(g);
    // Logits of +-1000: softmax and cross-entropy stay finite and exact.
    float big[4] = {1000, -1000, 1000, 0};
    Tensor *x = tensor_from(a, 2, SHAPE(1, 4), big);
    tensor_set_requires_grad(x, a);
    Tensor *p = tensor_softmax(g, x, -1);
    float want_p[4] = {0.5f, 0, 0.5f, 0};
    ck_assert(check_close(p->data, want_p, 4, 1e-7, 0, "softmax +-1000"));
    int32_t t1 = 1;
    Tensor *ce = tensor_cross_entropy(g, x, tensor_from_i32(a, 1, SHAPE(1), &t1), -100);
    ck_assert_float_eq_tol(tensor_item(ce), 2000.0f + logf(2.0f), 1e-2);
    graph_backward(g, ce);
    ck_assert(!tensor_has_nonfinite(p));
    float want_d[4] = {0.5f, -1.0f, 0.5f, 0};
    ck_assert(check_close(x->grad, want_d, 4, 1e-6, 0, "ce grad at +-1000"));
    Tensor *lsm = tensor_log_softmax(g, x, -1);
    ck_assert_float_eq_tol(lsm->data[1], -2000.0f - logf(2.0f), 1e-2);
    // Every target ignored: loss 0, no gradient.
    int32_t ign[2] = {-100, -100};
    Tensor *x2 = tensor_zeros(a, 2, SHAPE(2, 3));
    Tensor *ce0 = tensor_cross_entropy(g, x2, tensor_from_i32(a, 1, SHAPE(2), ign), -100);
    ck_assert_float_eq(tensor_item(ce0), 0.0f);
    // Empty dims: a (0, 3) tensor sums to three zeros; softmax of it is empty.
    Tensor *e = tensor_zeros(a, 2, SHAPE(0, 3));
    Tensor *es = tensor_sum(g, e, 0, false);
    ck_assert_int_eq(es->shape[0], 3);
    float z3[3] = {0, 0, 0};
    ck_assert(check_close(es->data, z3, 3, 0, 0, "sum of empty"));
    ck_assert_int_eq(tensor_numel(tensor_softmax(g, e, -1)), 0);
    ck_assert_int_eq(tensor_numel(tensor_add(g, e, tensor_zeros(a, 1, SHAPE(3)))), 0);
    Tensor *em = tensor_matmul(g, tensor_zeros(a, 2, SHAPE(2, 0)), tensor_zeros(a, 2, SHAPE(0, 3)));
    ck_assert(check_close(em->data, (float[]){0, 0, 0, 0, 0, 0}, 6, 0, 0, "matmul K=0"));
    // Size-1 dims broadcast both ways: (3,1) + (1,4) -> (3,4).
    float c[3] = {1, 2, 3}, r[4] = {10, 20, 30, 40};
    Tensor *o = tensor_add(g, tensor_from(a, 2, SHAPE(3, 1), c), tensor_from(a, 2, SHAPE(1, 4), r));
    ck_assert_int_eq(o->shape[0], 3);
    ck_assert_int_eq(o->shape[1], 4);
    ck_assert_float_eq(o->data[2 * 4 + 3], 43.0f);
    // A 0-dim scalar broadcasts against anything.
    float sv = 2.0f;
    Tensor *sc = tensor_mul(g, tensor_from(a, 0, NULL, &sv), o);
    ck_assert_float_eq(sc->data[11], 86.0f);
    graph_free(g);
}
END_TEST

START_TEST(test_tensor_dropout_seeded)
{
    Graph *g = graph_create(0);
    Tensor *x = tensor_zeros(graph_arena(g), 1, SHAPE(10000));
    tensor_fill(x, 1.0f);
    Rng r1, r2;
    rng_init(&r1, 9);
    rng_init(&r2, 9);
    Tensor *d1 = tensor_dropout(g, x, 0.25f, &r1), *d2 = tensor_dropout(g, x, 0.25f, &r2);
    ck_assert_int_eq(memcmp(d1->data, d2->data, sizeof(float) * 10000), 0);
    int zeros = 0;
    for (int i = 0; i < 10000; i++) {
        zeros += d1->data[i] == 0.0f;
        ck_assert(d1->data[i] == 0.0f || fabsf(d1->data[i] - 1.0f / 0.75f) < 1e-6f);
    }
    ck_assert_int_gt(zeros, 2300);
    ck_assert_int_lt(zeros, 2700);
    ck_assert_ptr_eq(tensor_dropout(g, x, 0.0f, &r1), x);
    graph_free(g);
}
END_TEST

START_TEST(test_graph_profile_counts_ops)
{
    Arena *params = arena_create(0);
    Graph *g = graph_create(0);
    Tensor *W = tensor_param(params, 2, SHAPE(64, 64));
    graph_profile_enable(g, true);
    for (int step = 0; step < 3; step++) {
        Tensor *x = tensor_zeros(graph_arena(g), 2, SHAPE(32, 64));
        Tensor *y = tensor_tanh(g, tensor_matmul(g, x, tensor_transpose(g, W, 0, 1)));
        graph_backward(g, tensor_sum_all(g, y));
        graph_reset(g);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/profile.txt", test_tmpdir());
    FILE *f = fopen(path, "w+");
    graph_profile_report(g, f);
    rewind(f);
    char buf[4096] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    ck_assert_uint_gt(n, 0);
    // 3 steps: 3 matmuls, 3 tanh, 3 transposes; matmul reports a GFLOP/s figure.
    long calls = 0;
    double fwd = 0, bwd = 0, share = 0, gflops = 0;
    const char *m = strstr(buf, "\nmatmul");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(sscanf(m, " matmul %ld %lf %lf %lf%% %lf", &calls, &fwd, &bwd, &share, &gflops),
                     5);
    ck_assert_int_eq(calls, 3);
    ck_assert(fwd > 0 && bwd > 0 && gflops > 0);
    ck_assert_ptr_nonnull(strstr(buf, "tanh"));
    graph_free(g);
    arena_free(params);
}
END_TEST

START_TEST(test_arena_reset_keeps_one_block)
{
    Arena *a = arena_create(1024);
    for (int i = 0; i < 100; i++) arena_alloc(a, 1000);
    size_t hw = arena_high_water(a);
    ck_assert_uint_ge(hw, 100000);
    arena_reset(a);
    ck_assert_uint_eq(arena_used(a), 0);
    ck_assert_uint_eq(arena_reserved(a), hw);
    for (int i = 0; i < 100; i++) {
        void *p = arena_alloc(a, 1000);
        ck_assert_uint_eq((uintptr_t)p % 64, 0);
    }
    ck_assert_uint_eq(arena_reserved(a), hw);
    arena_free(a);
    arena_free(NULL);
    graph_free(NULL);
}
END_TEST

// Contract violations abort (CHECK) rather than compute garbage.
START_TEST(test_check_aborts_on_shape_mismatch)
{
    Graph *g = graph_create(0);
    Tensor *a = tensor_zeros(graph_arena(g), 2, SHAPE(2, 3));
    Tensor *b = tensor_zeros(graph_arena(g), 2, SHAPE(2, 3));
    tensor_matmul(g, a, b); // inner dims 3 vs 2
    graph_free(g);
}
END_TEST

START_TEST(test_check_aborts_on_bad_broadcast)
{
    Graph *g = graph_create(0);
    tensor_add(g, tensor_zeros(graph_arena(g), 1, SHAPE(3)), tensor_zeros(graph_arena(g), 1, SHAPE(4)));
    graph_free(g);
}
END_TEST

static Suite *tensor_suite(void)
{
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_rng_pinned_outputs);
    tcase_add_test(tc, test_tensor_values_by_hand);
    tcase_add_test(tc, test_tensor_large_matmul_layouts);
    tcase_add_test(tc, test_tensor_views_share_storage_and_grad);
    tcase_add_test(tc, test_tensor_grad_accumulates);
    tcase_add_test(tc, test_tensor_no_grad_and_detach);
    tcase_add_test(tc, test_tensor_flat_memory_100k_steps);
    tcase_add_test(tc, test_tensor_find_nonfinite);
    tcase_add_test(tc, test_tensor_edge_cases);
    tcase_add_test(tc, test_tensor_dropout_seeded);
    tcase_add_test(tc, test_arena_reset_keeps_one_block);
    tcase_add_test(tc, test_graph_profile_counts_ops);
    suite_add_tcase(s, tc);
    // Aborting tests need Check's fork mode; with CK_FORK=no they are skipped by Check itself.
    TCase *tk = tcase_create("checks");
    tcase_add_test_raise_signal(tk, test_check_aborts_on_shape_mismatch, SIGABRT);
    tcase_add_test_raise_signal(tk, test_check_aborts_on_bad_broadcast, SIGABRT);
    suite_add_tcase(s, tk);
    return s;
}

int main(void) { return test_main(tensor_suite()); }
