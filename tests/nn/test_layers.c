/*
 * test_layers.c: nn/layers.c: each module's forward against a hand computation, its parameter
 * names and initial values, its gradients, and an MLP that learns XOR with AdamW (the modules,
 * the loss and the optimizer working together).
 */
#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "tests/test_util.h"

#include <math.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Linear
// ---------------------------------------------------------------------------

// y[r][o] = sum_i x[r][i] W[o][i] + b[o], in double.
static void linear_ref(float *y, const float *x, const float *W, const float *b, int rows,
                       int in, int out)
{
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++) s += (double)x[r * in + i] * W[o * in + i];
            y[r * out + o] = (float)s;
        }
}

START_TEST(test_linear_forward_and_grad)
{
    NnParams *p = nn_params_create();
    Rng rng;
    rng_init(&rng, 1);
    NnLinear l;
    nn_linear_init(&l, p, "fc1", 5, 3, true, &rng);
    ck_assert(nn_params_get(p, "fc1.weight") == l.weight);
    ck_assert(nn_params_get(p, "fc1.bias") == l.bias);
    ck_assert(l.weight->shape[0] == 3 && l.weight->shape[1] == 5);
    // PyTorch's default init: every value within 1/sqrt(in), and not all zero.
    float bound = 1.0f / sqrtf(5.0f);
    for (int i = 0; i < 15; i++) ck_assert(fabsf(l.weight->data[i]) <= bound);
    ck_assert(l.weight->data[0] != 0.0f && l.bias->data[0] != 0.0f);

    Graph *g = graph_create(0);
    Tensor *x = tensor_zeros(graph_arena(g), 3, (int64_t[]){2, 4, 5}); // (B, T, in)
    tensor_fill_normal(x, &rng, 0, 1);
    Tensor *y = nn_linear_forward(g, &l, x);
    ck_assert(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 4 && y->shape[2] == 3);
    float want[24], got[24];
    linear_ref(want, x->data, l.weight->data, l.bias->data, 8, 5, 3);
    tensor_copy_to(y, got);
    ck_assert(check_close(got, want, 24, 1e-5, 1e-5, "linear 3d"));

    // d(sum y)/dW[o][i] = sum_r x[r][i]; d/db[o] = rows.
    graph_backward(g, tensor_sum_all(g, y));
    for (int o = 0; o < 3; o++) {
        ck_assert(fabsf(l.bias->grad[o] - 8.0f) < 1e-5f);
        for (int i = 0; i < 5; i++) {
            double s = 0;
            for (int r = 0; r < 8; r++) s += x->data[r * 5 + i];
            ck_assert(fabs(l.weight->grad[o * 5 + i] - s) < 1e-4);
        }
    }
    // A 1-D input is one row.
    Tensor *v = tensor_from(graph_arena(g), 1, (int64_t[]){5}, x->data);
    Tensor *yv = nn_linear_forward(g, &l, v);
    ck_assert(yv->ndim == 1 && yv->shape[0] == 3);
    ck_assert(check_close(yv->data, want, 3, 1e-5, 1e-5, "linear 1d"));
    graph_free(g);
    nn_params_free(p);
}
END_TEST

START_TEST(test_linear_without_bias)
{
    NnParams *p = nn_params_create();
    Rng rng;
    rng_init(&rng, 2);
    NnLinear l;
    nn_linear_init(&l, p, "", 4, 2, false, &rng);
    ck_assert(l.bias == NULL);
    ck_assert_int_eq(nn_params_count(p), 1);
    ck_assert_str_eq(nn_params_at(p, 0)->name, "weight");
    Graph *g = graph_create(0);
    Tensor *x = tensor_zeros(graph_arena(g), 2, (int64_t[]){3, 4});
    tensor_fill_normal(x, &rng, 0, 1);
    float want[6];
    linear_ref(want, x->data, l.weight->data, NULL, 3, 4, 2);
    ck_assert(check_close(nn_linear_forward(g, &l, x)->data, want, 6, 1e-5, 1e-5, "no bias"));
    graph_free(g);
    nn_params_free(p);
}
END_TEST

// ---------------------------------------------------------------------------
// Embedding, norms, dropout
// ---------------------------------------------------------------------------

START_TEST(test_embedding_rows)
{
    NnParams *p = nn_params_create();
    Rng rng;
    rng_init(&rng, 3);
    NnEmbedding e;
    nn_embedding_init(&e, p, "wte", 10, 4, &rng);
    ck_assert(nn_params_get(p, "wte.weight") == e.weight);
    Graph *g = graph_create(0);
    Tensor *ids = tensor_from_i32(graph_arena(g), 2, (int64_t[]){2, 2}, (int32_t[]){7, 0, 7, 9});
    Tensor *y = nn_embedding_forward(g, &e, ids);
    ck_assert(y->ndim == 3 && y->shape[2] == 4);
    const int32_t want_rows[4] = {7, 0, 7, 9};
    for (int i = 0; i < 4; i++)
        ck_assert(check_close(y->data + i * 4, e.weight->data + want_rows[i] * 4, 4, 0, 0, "row"));
    // A repeated id accumulates its gradient: row 7 gets 2, row 0 gets 1, row 1 nothing.
    graph_backward(g, tensor_sum_all(g, y));
    ck_assert(e.weight->grad[7 * 4] == 2.0f && e.weight->grad[0] == 1.0f);
    ck_assert(e.weight->grad[1 * 4] == 0.0f);
    graph_free(g);
    nn_params_free(p);
}
END_TEST

START_TEST(test_layernorm_and_rmsnorm_forward)
{
    NnParams *p = nn_params_create();
    NnLayerNorm ln;
    NnRMSNorm rn;
    nn_layernorm_init(&ln, p, "ln_1", 4, 1e-5f, true);
    nn_rmsnorm_init(&rn, p, "norm", 4, 1e-6f);
    ck_assert(ln.weight->data[2] == 1.0f && ln.bias->data[2] == 0.0f);
    ck_assert(rn.weight->data[3] == 1.0f);
    // Non-trivial affine parameters, so the test sees that they are applied.
    const float w[4] = {1, 2, 0.5f, -1}, b[4] = {0.1f, 0, -0.2f, 3};
    memcpy(ln.weight->data, w, sizeof w);
    memcpy(ln.bias->data, b, sizeof b);
    memcpy(rn.weight->data, w, sizeof w);
    Graph *g = graph_create(0);
    const float xs[8] = {1, 2, 3, 4, -1, 0.5f, 0, 2};
    Tensor *x = tensor_from(graph_arena(g), 2, (int64_t[]){2, 4}, xs);
    Tensor *yl = nn_layernorm_forward(g, &ln, x), *yr = nn_rmsnorm_forward(g, &rn, x);
    float wl[8], wr[8];
    for (int r = 0; r < 2; r++) {
        double mean = 0, var = 0, ms = 0;
        for (int j = 0; j < 4; j++) mean += xs[r * 4 + j] / 4.0;
        for (int j = 0; j < 4; j++) {
            double d = xs[r * 4 + j] - mean;
            var += d * d / 4.0; // biased variance, as PyTorch
            ms += (double)xs[r * 4 + j] * xs[r * 4 + j] / 4.0;
        }
        for (int j = 0; j < 4; j++) {
            wl[r * 4 + j] = (float)((xs[r * 4 + j] - mean) / sqrt(var + 1e-5) * w[j] + b[j]);
            wr[r * 4 + j] = (float)(xs[r * 4 + j] / sqrt(ms + 1e-6) * w[j]);
        }
    }
    ck_assert(check_close(yl->data, wl, 8, 1e-5, 1e-5, "layernorm"));
    ck_assert(check_close(yr->data, wr, 8, 1e-5, 1e-5, "rmsnorm"));
    graph_free(g);
    nn_params_free(p);
}
END_TEST

START_TEST(test_dropout_train_and_eval)
{
    Graph *g = graph_create(0);
    Rng rng;
    rng_init(&rng, 9);
    const int64_t n = 20000;
    Tensor *x = tensor_zeros(graph_arena(g), 1, (int64_t[]){n});
    tensor_fill(x, 1.0f);
    ck_assert(nn_dropout(g, x, 0.3f, false, NULL) == x); // eval: identity, no rng needed
    Tensor *y = nn_dropout(g, x, 0.3f, true, &rng);
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y->data[i] == 0.0f) zeros++;
        else ck_assert(fabsf(y->data[i] - 1.0f / 0.7f) < 1e-6f);
    }
    double frac = (double)zeros / (double)n; // binomial: sd ~ 0.0032
    ck_assert_msg(fabs(frac - 0.3) < 0.015, "dropped %.4f", frac);
    graph_free(g);
}
END_TEST

// ---------------------------------------------------------------------------
// MLP
// ---------------------------------------------------------------------------

START_TEST(test_mlp_names_and_forward)
{
    NnParams *p = nn_params_create();
    Rng rng;
    rng_init(&rng, 4);
    NnMLP m;
    nn_mlp_init(&m, p, "mlp", (int64_t[]){3, 6, 2}, 2, NN_ACT_TANH, 0.0f, &rng);
    const char *names[4] = {"mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"};
    ck_assert_int_eq(nn_params_count(p), 4);
    for (int i = 0; i < 4; i++) ck_assert_str_eq(nn_params_at(p, i)->name, names[i]);
    ck_assert_int_eq(nn_params_numel(p, false), 3 * 6 + 6 + 6 * 2 + 2);
    Graph *g = graph_create(0);
    Tensor *x = tensor_zeros(graph_arena(g), 2, (int64_t[]){4, 3});
    tensor_fill_normal(x, &rng, 0, 1);
    Tensor *y = nn_mlp_forward(g, &m, x, false, NULL);
    float h[24], want[8];
    linear_ref(h, x->data, m.fc[0].weight->data, m.fc[0].bias->data, 4, 3, 6);
    for (int i = 0; i < 24; i++) h[i] = tanhf(h[i]);
    linear_ref(want, h, m.fc[1].weight->data, m.fc[1].bias->data, 4, 6, 2);
    ck_assert(check_close(y->data, want, 8, 1e-5, 1e-5, "mlp"));
    ck_assert_str_eq(nn_activation_name(NN_ACT_GELU), "gelu");
    graph_free(g);
    nn_params_free(p);
}
END_TEST

START_TEST(test_mlp_learns_xor)
{
    NnParams *p = nn_params_create();
    Rng rng;
    rng_init(&rng, 7);
    NnMLP m;
    nn_mlp_init(&m, p, "", (int64_t[]){2, 16, 2}, 2, NN_ACT_RELU, 0.0f, &rng);
    NnOptimConfig cfg = nn_optim_defaults(NN_OPTIM_ADAMW, 0.05f);
    NnOptimizer *opt = nn_optim_create(&cfg);
    Graph *g = graph_create(0);
    const float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    const int32_t ys[4] = {0, 1, 1, 0};
    float first = 0, last = 0;
    for (int step = 0; step < 300; step++) {
        Tensor *x = tensor_from(graph_arena(g), 2, (int64_t[]){4, 2}, xs);
        Tensor *y = tensor_from_i32(graph_arena(g), 1, (int64_t[]){4}, ys);
        Tensor *loss = nn_cross_entropy_loss(g, nn_mlp_forward(g, &m, x, true, &rng), y, -1);
        graph_backward(g, loss);
        nn_optim_step(opt, p);
        nn_params_zero_grad(p);
        last = tensor_item(loss);
        if (step == 0) first = last;
        graph_reset(g);
    }
    ck_assert_msg(first > 0.5f && last < 0.05f, "xor loss %g -> %g", first, last);
    graph_free(g);
    nn_optim_free(opt);
    nn_params_free(p);
}
END_TEST

static Suite *layers_suite(void)
{
    Suite *s = suite_create("nn_layers");
    TCase *tc = tcase_create("layers");
    tcase_add_test(tc, test_linear_forward_and_grad);
    tcase_add_test(tc, test_linear_without_bias);
    tcase_add_test(tc, test_embedding_rows);
    tcase_add_test(tc, test_layernorm_and_rmsnorm_forward);
    tcase_add_test(tc, test_dropout_train_and_eval);
    tcase_add_test(tc, test_mlp_names_and_forward);
    tcase_add_test(tc, test_mlp_learns_xor);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(layers_suite()); }
