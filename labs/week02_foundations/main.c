/*
 * Week 2 lab, foundations: cosine similarity on real images, and gradient descent written out
 * by hand next to autograd. See README.md beside this file for the walkthrough.
 *
 *   build/release/labs/week02_foundations [--quick] [--out out/week02] [--seed 1]
 */
#include "core/cli.h"
#include "core/io.h"
#include "core/plot.h"
#include "core/tensor.h"
#include "datasets/idx.h"
#include "nn/linreg.h"
#include "nn/similarity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D 784 // 28 x 28 pixels
#define K 10  // classes

// ---------------------------------------------------------------------------
// Part 1: cosine similarity between images
// ---------------------------------------------------------------------------

// Class-mean images, their 10x10 cosine matrix as a heatmap, and a 1-nearest-neighbour
// classifier by cosine. Returns the classifier's accuracy.
static float part1_cosine(const DsImages *train, const DsImages *test, int64_t n_base,
                          int64_t n_query, const char *out)
{
    float *base = malloc(sizeof(float) * (size_t)(n_base * D));
    float *query = malloc(sizeof(float) * (size_t)(n_query * D));
    ds_images_to_float(base, train, 0, n_base);
    ds_images_to_float(query, test, 0, n_query);

    // The mean image of each class, then the cosine of every pair of class means.
    float means[K * D] = {0}, cos[K * K];
    int64_t count[K] = {0};
    for (int64_t i = 0; i < n_base; i++) {
        int c = train->labels[i];
        count[c]++;
        for (int j = 0; j < D; j++) means[c * D + j] += base[i * D + j];
    }
    for (int c = 0; c < K; c++)
        for (int j = 0; j < D; j++) means[c * D + j] /= (float)(count[c] ? count[c] : 1);
    for (int a = 0; a < K; a++)
        for (int b = 0; b < K; b++) cos[a * K + b] = nn_cosine(means + a * D, means + b * D, D);
    printf("cosine of class-mean images (1 = same direction):\n%14s", "");
    for (int b = 0; b < K; b++) printf(" %5.5s", ds_fashion_class_name(b));
    printf("\n");
    for (int a = 0; a < K; a++) {
        printf("%14s", ds_fashion_class_name(a));
        for (int b = 0; b < K; b++) printf(" %5.2f", cos[a * K + b]);
        printf("\n");
    }
    const char *names[K];
    for (int c = 0; c < K; c++) names[c] = ds_fashion_class_name(c);
    char path[512];
    snprintf(path, sizeof path, "%s/cosine_class_means.png", out);
    PlotOpts po = {.title = "Cosine similarity of Fashion-MNIST class-mean images",
                   .width = 900, .height = 800};
    if (plot_heatmap(path, cos, K, K, names, names, &po) != ERR_OK)
        fprintf(stderr, "warning: %s\n", err_msg());
    else
        printf("wrote %s\n", path);

    // 1-NN by cosine: unit rows, then one sgemm per block of queries gives every
    // query-base cosine at once: sims (QB, n_base) = query (QB, D) base^T.
    nn_normalize_rows(base, n_base, D);
    nn_normalize_rows(query, n_query, D);
    enum { QB = 128 };
    float *sims = malloc(sizeof(float) * (size_t)(QB * n_base));
    int64_t correct = 0;
    for (int64_t q0 = 0; q0 < n_query; q0 += QB) {
        int64_t nq = n_query - q0 < QB ? n_query - q0 : QB;
        nn_cosine_matrix(sims, query + q0 * D, nq, base, n_base, D);
        for (int64_t q = 0; q < nq; q++) {
            int64_t best;
            nn_topk(&best, NULL, sims + q * n_base, n_base, 1);
            correct += train->labels[best] == test->labels[q0 + q];
        }
    }
    float acc = (float)correct / (float)n_query;
    printf("1-nearest-neighbour by cosine: %lld/%lld test images right (%.1f%%, chance 10%%)\n",
           (long long)correct, (long long)n_query, 100.0f * acc);
    free(sims);
    free(base);
    free(query);
    return acc;
}

// ---------------------------------------------------------------------------
// Part 2: linear regression by stochastic gradient descent
// ---------------------------------------------------------------------------

enum { N = 1024, F = 8 }; // examples, features

// The same MSE loss built from tensor ops, so autograd computes the gradient.
static float autograd_grad(Graph *g, Tensor *w, Tensor *b, const float *X, const float *y)
{
    Tensor *x = tensor_from(graph_arena(g), 2, (int64_t[]){N, F}, X);  // (N, F)
    Tensor *t = tensor_from(graph_arena(g), 2, (int64_t[]){N, 1}, y);  // (N, 1)
    Tensor *pred = tensor_add(g, tensor_matmul(g, x, w), b);          // (N, 1)
    Tensor *err = tensor_sub(g, pred, t);
    Tensor *loss = tensor_mean_all(g, tensor_mul(g, err, err));
    graph_backward(g, loss);
    return tensor_item(loss);
}

static float part2_sgd(int steps, float lr, uint64_t seed, const char *out)
{
    // Synthetic data with a known answer: y = X w* + b* + noise.
    Rng rng;
    rng_init(&rng, seed);
    float *X = malloc(sizeof(float) * N * F), *y = malloc(sizeof(float) * N);
    float w_true[F], b_true = 0.5f;
    for (int j = 0; j < F; j++) w_true[j] = rng_normal(&rng);
    for (int i = 0; i < N; i++) {
        y[i] = b_true + 0.1f * rng_normal(&rng);
        for (int j = 0; j < F; j++) {
            X[i * F + j] = rng_normal(&rng);
            y[i] += X[i * F + j] * w_true[j];
        }
    }
    // By hand, at three learning rates, to see too small, right and too large.
    const float lrs[3] = {lr / 5, lr, lr * 4};
    float *curves = calloc((size_t)(4 * steps), sizeof(float));
    float w[F], b, dw[F], db, final_err = 0;
    for (int r = 0; r < 3; r++) {
        memset(w, 0, sizeof w), b = 0;
        for (int s = 0; s < steps; s++) {
            curves[r * steps + s] = nn_linreg_mse_grad(dw, &db, w, b, X, y, N, F);
            nn_sgd_step(w, dw, F, lrs[r]);
            nn_sgd_step(&b, &db, 1, lrs[r]);
        }
        if (r == 1)
            for (int j = 0; j < F; j++) final_err = fmaxf(final_err, fabsf(w[j] - w_true[j]));
    }
    // With autograd: the gradient at w = 0 must equal the hand-derived one.
    Arena *params = arena_create(0);
    Graph *g = graph_create(0);
    Tensor *wt = tensor_param(params, 2, (int64_t[]){F, 1}), *bt = tensor_param(params, 1, (int64_t[]){1});
    memset(w, 0, sizeof w), b = 0;
    nn_linreg_mse_grad(dw, &db, w, b, X, y, N, F);
    float maxdiff = 0;
    for (int s = 0; s < steps; s++) {
        curves[3 * steps + s] = autograd_grad(g, wt, bt, X, y);
        if (s == 0)
            for (int j = 0; j < F; j++) maxdiff = fmaxf(maxdiff, fabsf(wt->grad[j] - dw[j]));
        nn_sgd_step(wt->data, wt->grad, F, lr);
        nn_sgd_step(bt->data, bt->grad, 1, lr);
        tensor_zero_grad(wt), tensor_zero_grad(bt);
        graph_reset(g);
    }
    printf("autograd vs hand-written gradient at step 0: max |diff| = %.2g\n", maxdiff);
    for (int r = 0; r < 3; r++)
        printf("hand SGD lr %-5g: loss %.4f -> %.4f\n", lrs[r], curves[r * steps],
               curves[r * steps + steps - 1]);
    printf("autograd lr %-5g: loss %.4f -> %.4f (noise floor 0.01)\n", lr, curves[3 * steps],
           curves[4 * steps - 1]);
    printf("max |w - w*| after %d steps at lr %g: %.4f\n", steps, lr, final_err);

    char labels[4][48], path[512];
    PlotSeries series[4];
    for (int r = 0; r < 4; r++) {
        snprintf(labels[r], sizeof labels[r], r < 3 ? "by hand, lr %g" : "autograd, lr %g",
                 r < 3 ? lrs[r] : lr);
        series[r] = (PlotSeries){.label = labels[r], .y = curves + r * steps, .n = steps};
    }
    snprintf(path, sizeof path, "%s/sgd_loss.png", out);
    PlotOpts po = {.title = "Linear regression: MSE by SGD step", .xlabel = "step",
                   .ylabel = "MSE (log scale)", .log_y = true};
    if (plot_lines(path, series, 4, &po) != ERR_OK)
        fprintf(stderr, "warning: %s\n", err_msg());
    else
        printf("wrote %s\n", path);
    graph_free(g);
    arena_free(params);
    free(curves), free(X), free(y);
    return final_err;
}

int main(int argc, char **argv)
{
    int quick = 0, steps = 300;
    float lr = 0.05f;
    uint64_t seed = 1;
    const char *out = "out/week02";
    CliOpt opts[] = {
        {"--quick", CLI_FLAG, &quick, "small sizes, a few seconds (make demo, tests)"},
        {"--steps", CLI_INT, &steps, "SGD steps for linear regression"},
        {"--lr", CLI_FLOAT, &lr, "SGD learning rate (also run at lr/5 and 4 lr)"},
        {"--seed", CLI_U64, &seed, "seed of the synthetic regression data"},
        {"--out", CLI_STR, &out, "folder for the PNG and JSON outputs"},
    };
    int rc = cli_parse(argc, argv, opts, 5, "week02_foundations: cosine similarity and SGD");
    if (rc >= 0) return rc;
    if (steps < 1 || steps > 1000000 || !(lr > 0)) {
        fprintf(stderr, "error: --steps must be in 1..1000000 and --lr positive\n");
        return 2;
    }
    if (io_mkdir_p(out) != ERR_OK) {
        fprintf(stderr, "error: %s\n", err_msg());
        return 1;
    }
    DsImages train = {0}, test = {0};
    if (ds_fashion_load("train", &train) != ERR_OK || ds_fashion_load("test", &test) != ERR_OK) {
        fprintf(stderr, "error: %s\n", err_msg());
        return 1;
    }
    printf("== Part 1: cosine similarity on Fashion-MNIST\n");
    float acc = part1_cosine(&train, &test, quick ? 6000 : train.n, quick ? 200 : 2000, out);
    printf("\n== Part 2: linear regression by SGD, by hand and with autograd\n");
    float werr = part2_sgd(steps, lr, seed, out);

    char json[256], path[512];
    int n = snprintf(json, sizeof json, "{\"nn_cosine_accuracy\":%.4f,\"max_weight_error\":%.5f}\n",
                     acc, werr);
    snprintf(path, sizeof path, "%s/summary.json", out);
    if (io_write_atomic(path, json, (size_t)n) != ERR_OK) fprintf(stderr, "error: %s\n", err_msg());
    ds_images_free(&train);
    ds_images_free(&test);
    return 0;
}
