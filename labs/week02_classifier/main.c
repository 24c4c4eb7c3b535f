/*
 * Week 2 lab, a real classifier: an MLP 784-256-128-10 on Fashion-MNIST, trained with SGD +
 * momentum and with AdamW (both written by hand in nn/optim.c), side by side. See README.md.
 *
 *   build/release/labs/week02_classifier [--quick] [--optim sgd|adamw|both] [--out DIR]
 */
#include "core/cli.h"
#include "core/io.h"
#include "core/plot.h"
#include "core/tensor.h"
#include "datasets/idx.h"
#include "nn/data.h"
#include "nn/layers.h"
#include "nn/metrics.h"
#include "nn/optim.h"
#include "nn/progress.h"
#include "nn/softmax_ce.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define D 784 // 28 x 28 pixels
#define K 10  // classes
#define B 128 // batch size
#define MAX_EPOCHS 100

typedef struct {
    const float *x; // (n, D) pixels in [0, 1]
    const int32_t *y; // (n,)
} Split;

typedef struct {
    int n_train; // points in the per-step curve
    float *train_x, *train_loss, *train_acc; // (n_train) x in epochs, loss and acc averaged
    float val_x[MAX_EPOCHS + 1], val_loss[MAX_EPOCHS + 1], val_acc[MAX_EPOCHS + 1];
    float test_acc, sec_per_epoch;
    float confusion[K * K]; // (true, predicted) counts on the test set
} Run;

static int argmax(const float *z) // index of the largest of K logits
{
    int best = 0;
    for (int j = 1; j < K; j++) best = z[j] > z[best] ? j : best;
    return best;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// Entropy, cross-entropy and the hand-written gradient against autograd's.
static void demo_entropy(Graph *g, Rng *rng, const int32_t *labels)
{
    float logits[K], dl[K], peaked[K], H_u = 0, H_p = 0;
    for (int j = 0; j < K; j++) peaked[j] = j == 3 ? 0.91f : 0.01f;
    for (int j = 0; j < K; j++) H_u -= 0.1f * logf(0.1f), H_p -= peaked[j] * logf(peaked[j]);
    printf("entropy of uniform over 10 classes: %.4f nats (= log 10 = %.4f)\n", H_u, logf(10));
    printf("entropy of (0.91 on one class, 0.01 elsewhere): %.4f nats\n", H_p);
    for (int j = 0; j < K; j++) logits[j] = j == 3 ? 8.0f : 0.0f;
    printf("cross-entropy, confident (logit 8 vs 0) and right: %.4f nats\n",
           nn_softmax_ce(dl, logits, 3, K));
    printf("cross-entropy, confident and wrong:                %.4f nats (chance: %.4f)\n",
           nn_softmax_ce(dl, logits, 5, K), logf(10));
    // 8 rows of random logits: autograd's gradient of the mean CE is (p - onehot) / 8.
    enum { R = 8 };
    float z[R * K], hand[R * K], loss_hand = 0, maxdiff = 0;
    for (int i = 0; i < R * K; i++) z[i] = 2.0f * rng_normal(rng);
    for (int r = 0; r < R; r++) loss_hand += nn_softmax_ce(hand + r * K, z + r * K, labels[r], K);
    Tensor *t = tensor_from(graph_arena(g), 2, (int64_t[]){R, K}, z);
    tensor_set_requires_grad(t, graph_arena(g));
    Tensor *y = tensor_from_i32(graph_arena(g), 1, (int64_t[]){R}, labels);
    Tensor *loss = tensor_cross_entropy(g, t, y, -1);
    graph_backward(g, loss);
    for (int i = 0; i < R * K; i++) maxdiff = fmaxf(maxdiff, fabsf(t->grad[i] - hand[i] / R));
    printf("hand-written vs autograd on %d rows: loss %.5f vs %.5f, max |grad diff| = %.2g\n\n",
           R, loss_hand / R, tensor_item(loss), maxdiff);
    graph_reset(g);
}

// Mean loss and accuracy over n examples, grad recording off; fills conf when not NULL.
static float evaluate(Graph *g, const NnMLP *m, Split s, int64_t n, float *acc, float *conf)
{
    bool was = graph_set_grad_enabled(g, false);
    double loss = 0;
    int64_t right = 0;
    for (int64_t i0 = 0; i0 < n; i0 += 1000) {
        int64_t nb = n - i0 < 1000 ? n - i0 : 1000;
        Tensor *x = tensor_from(graph_arena(g), 2, (int64_t[]){nb, D}, s.x + i0 * D);
        Tensor *y = tensor_from_i32(graph_arena(g), 1, (int64_t[]){nb}, s.y + i0);
        Tensor *logits = nn_mlp_forward(g, m, x, false, NULL);
        loss += tensor_item(tensor_cross_entropy(g, logits, y, -1)) * (double)nb;
        for (int64_t r = 0; r < nb; r++) {
            int best = argmax(logits->data + r * K);
            right += best == s.y[i0 + r];
            if (conf) conf[s.y[i0 + r] * K + best] += 1;
        }
        graph_reset(g);
    }
    graph_set_grad_enabled(g, was);
    *acc = (float)right / (float)n;
    return (float)(loss / (double)n);
}

static void train(Run *run, NnOptimKind kind, float lr, int epochs, uint64_t seed, Split tr,
                  const int32_t *tr_idx, int64_t n_tr, Split va, int64_t n_va, Split te,
                  int64_t n_te, NnLog *log, const char *ckpt)
{
    Rng rng;
    rng_init(&rng, seed);
    NnParams *p = nn_params_create();
    NnMLP mlp;
    nn_mlp_init(&mlp, p, "mlp", (int64_t[]){D, 256, 128, K}, 3, NN_ACT_RELU, 0.0f, &rng);
    NnOptimConfig cfg = nn_optim_defaults(kind, lr);
    if (kind == NN_OPTIM_SGD) cfg.momentum = 0.9f;
    NnOptimizer *opt = nn_optim_create(&cfg);
    NnLoader ld;
    nn_loader_init(&ld, tr_idx, n_tr,
                   &(NnLoaderConfig){.batch_size = B, .shuffle = true, .seed = seed});
    // spe = steps per epoch; a point of the training curve every tenth of an epoch.
    int64_t spe = nn_loader_num_batches(&ld), total = spe * epochs, every = spe / 10 + 1, step = 0;
    run->train_x = malloc(sizeof(float) * (size_t)(3 * (total / every + 2)));
    run->train_loss = run->train_x + total / every + 2;
    run->train_acc = run->train_loss + total / every + 2;
    Graph *g = graph_create(0);
    float *xb = malloc(sizeof(float) * B * D);
    int32_t yb[B];
    run->val_x[0] = 0, run->val_loss[0] = evaluate(g, &mlp, va, n_va, &run->val_acc[0], NULL);
    fflush(stdout); // the bar goes to stderr: keep the order in a combined log
    NnProgressOpts popt = {.items_per_step = B, .items_name = "ex"};
    NnProgress *pb = nn_progress_start_opts(total, nn_optim_name(kind), &popt);
    double loss_sum = 0, t_train = 0;
    int64_t right = 0, seen = 0;
    NnBatch b;
    for (int e = 0; e < epochs; e++) {
        double t0 = now_s();
        while (nn_loader_next(&ld, &b)) {
            nn_gather_rows(xb, tr.x, D, b.idx, b.size);
            for (int64_t i = 0; i < b.size; i++) yb[i] = tr.y[b.idx[i]];
            Tensor *x = tensor_from(graph_arena(g), 2, (int64_t[]){b.size, D}, xb);
            Tensor *y = tensor_from_i32(graph_arena(g), 1, (int64_t[]){b.size}, yb);
            Tensor *logits = nn_mlp_forward(g, &mlp, x, true, &rng);
            Tensor *loss = tensor_cross_entropy(g, logits, y, -1);
            graph_backward(g, loss);
            float l = tensor_item(loss), rate = nn_lr_schedule(NN_LR_WARMUP_COSINE, step, total,
                                                                spe / 5, lr, lr / 100);
            nn_optim_set_lr(opt, rate);
            nn_optim_step(opt, p);
            nn_params_zero_grad(p);
            for (int64_t r = 0; r < b.size; r++) right += argmax(logits->data + r * K) == yb[r];
            graph_reset(g);
            loss_sum += l * (double)b.size, seen += b.size, step++;
            nn_progress_update(pb, step, l, "lr %.2e | epoch %d", rate, e + 1);
            if (step % every == 0 || step == total) { // a point of the train curve
                int k = run->n_train++;
                run->train_x[k] = (float)step / (float)spe;
                run->train_loss[k] = (float)(loss_sum / (double)seen);
                run->train_acc[k] = (float)right / (float)seen;
                nn_log_write(log, "{\"optim\":\"%s\",\"step\":%lld,\"split\":\"train\","
                             "\"loss\":%.5f,\"acc\":%.4f,\"lr\":%.3e}", nn_optim_name(kind),
                             (long long)step, run->train_loss[k], run->train_acc[k], rate);
                loss_sum = 0, right = 0, seen = 0;
            }
        }
        t_train += now_s() - t0;
        run->val_x[e + 1] = (float)(e + 1);
        run->val_loss[e + 1] = evaluate(g, &mlp, va, n_va, &run->val_acc[e + 1], NULL);
        nn_log_write(log, "{\"optim\":\"%s\",\"step\":%lld,\"split\":\"val\",\"loss\":%.5f,"
                     "\"acc\":%.4f}", nn_optim_name(kind), (long long)step, run->val_loss[e + 1],
                     run->val_acc[e + 1]);
    }
    nn_progress_finish(pb);
    run->sec_per_epoch = (float)(t_train / epochs);
    float test_loss = evaluate(g, &mlp, te, n_te, &run->test_acc, run->confusion);
    printf("%-5s: val acc %.4f, test loss %.4f, test acc %.4f (%lld images), %.2f s/epoch\n",
           nn_optim_name(kind), run->val_acc[epochs], test_loss, run->test_acc, (long long)n_te,
           run->sec_per_epoch);
    if (nn_params_save(p, ckpt, (const char *[]){"optimizer", nn_optim_name(kind)}, 1) != ERR_OK)
        fprintf(stderr, "warning: %s\n", err_msg());
    free(xb);
    graph_free(g);
    nn_loader_deinit(&ld);
    nn_optim_free(opt);
    nn_params_free(p);
}

static void plot(const char *out, const char *file, const char *title, const char *ylabel,
                 PlotSeries *s, int n, bool log_y)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", out, file);
    PlotOpts po = {.title = title, .xlabel = "epoch", .ylabel = ylabel, .log_y = log_y};
    if (plot_lines(path, s, n, &po) != ERR_OK)
        fprintf(stderr, "warning: %s\n", err_msg());
    else
        printf("wrote %s\n", path);
}

int main(int argc, char **argv)
{
    int quick = 0, epochs = 15;
    float lr = 1e-3f, sgd_lr = 0.05f;
    uint64_t seed = 1;
    const char *out = "out/week02_classifier", *which = "both";
    CliOpt opts[] = {
        {"--quick", CLI_FLAG, &quick, "10k training images, 2 epochs, 2k test (seconds)"},
        {"--optim", CLI_STR, &which, "sgd, adamw or both (compared side by side)"},
        {"--epochs", CLI_INT, &epochs, "epochs over the training split"},
        {"--lr", CLI_FLOAT, &lr, "AdamW peak learning rate (warmup + cosine)"},
        {"--sgd-lr", CLI_FLOAT, &sgd_lr, "SGD (momentum 0.9) peak learning rate"},
        {"--seed", CLI_U64, &seed, "seed of the init, split and shuffling"},
        {"--out", CLI_STR, &out, "folder for the PNG, JSON and checkpoint outputs"},
    };
    int rc = cli_parse(argc, argv, opts, 7, "week02_classifier: an MLP on Fashion-MNIST");
    if (rc >= 0) return rc;
    bool use[2] = {strcmp(which, "adamw") != 0, strcmp(which, "sgd") != 0};
    if (quick) epochs = 2;
    if ((!use[0] && !use[1]) || (strcmp(which, "both") && !(use[0] ^ use[1])) || epochs < 1 ||
        epochs > MAX_EPOCHS || !(lr > 0) || !(sgd_lr > 0)) {
        fprintf(stderr, "error: --optim sgd|adamw|both, --epochs 1..%d, rates > 0\n", MAX_EPOCHS);
        return 2;
    }
    DsImages trs = {0}, tes = {0};
    if (io_mkdir_p(out) != ERR_OK || ds_fashion_load("train", &trs) != ERR_OK ||
        ds_fashion_load("test", &tes) != ERR_OK) {
        fprintf(stderr, "error: %s\n", err_msg());
        return 1;
    }
    int64_t n = quick ? 10000 : trs.n, n_te = quick ? 2000 : tes.n, n_va = nn_split_count(n, 0.1f);
    float *x = malloc(sizeof(float) * (size_t)((n + n_te) * D));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)(n + n_te));
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)n); // train indices, then validation
    ds_images_to_float(x, &trs, 0, n);
    ds_images_to_float(x + n * D, &tes, 0, n_te);
    for (int64_t i = 0; i < n; i++) y[i] = trs.labels[i];
    for (int64_t i = 0; i < n_te; i++) y[n + i] = tes.labels[i];
    nn_split(n, 0.1f, seed, idx, idx + n - n_va);
    // Validation rows gathered once, contiguous; training rows are gathered per batch.
    float *xv = malloc(sizeof(float) * (size_t)(n_va * D));
    int32_t *yv = malloc(sizeof(int32_t) * (size_t)n_va);
    nn_gather_rows(xv, x, D, idx + n - n_va, n_va);
    for (int64_t i = 0; i < n_va; i++) yv[i] = y[idx[n - n_va + i]];
    Split tr = {x, y}, va = {xv, yv}, te = {x + n * D, y + n};
    printf("Fashion-MNIST: %lld train, %lld validation, %lld test images; MLP 784-256-128-10\n\n",
           (long long)(n - n_va), (long long)n_va, (long long)n_te);

    Graph *g = graph_create(0);
    Rng rng;
    rng_init(&rng, seed);
    demo_entropy(g, &rng, y);
    graph_free(g);

    Run runs[2] = {{0}};
    const NnOptimKind kinds[2] = {NN_OPTIM_SGD, NN_OPTIM_ADAMW};
    char path[512], labels[8][40];
    NnLog *log = NULL;
    snprintf(path, sizeof path, "%s/metrics.jsonl", out);
    if (nn_log_open(path, false, &log) != ERR_OK) {
        fprintf(stderr, "error: %s\n", err_msg());
        return 1;
    }
    for (int k = 0; k < 2; k++) {
        if (!use[k]) continue;
        snprintf(path, sizeof path, "%s/model_%s.safetensors", out, nn_optim_name(kinds[k]));
        train(&runs[k], kinds[k], k ? lr : sgd_lr, epochs, seed, tr, idx, n - n_va, va, n_va, te,
              n_te, log, path);
    }
    nn_log_close(log);

    PlotSeries ls[4], as[4];
    int ns = 0;
    for (int k = 0; k < 2; k++) {
        if (!use[k]) continue;
        const char *nm = nn_optim_name(kinds[k]);
        snprintf(labels[2 * k], 40, "%s train", nm), snprintf(labels[2 * k + 1], 40, "%s val", nm);
        Run *r = &runs[k];
        ls[ns] = (PlotSeries){labels[2 * k], r->train_x, r->train_loss, r->n_train};
        as[ns++] = (PlotSeries){labels[2 * k], r->train_x, r->train_acc, r->n_train};
        ls[ns] = (PlotSeries){labels[2 * k + 1], r->val_x, r->val_loss, epochs + 1};
        as[ns++] = (PlotSeries){labels[2 * k + 1], r->val_x, r->val_acc, epochs + 1};
    }
    plot(out, "loss.png", "Cross-entropy: SGD+momentum vs AdamW", "loss (log scale)", ls, ns, true);
    plot(out, "accuracy.png", "Accuracy: SGD+momentum vs AdamW", "accuracy", as, ns, false);
    const char *names[K];
    for (int c = 0; c < K; c++) names[c] = ds_fashion_class_name(c);
    Run *best = use[1] ? &runs[1] : &runs[0];
    snprintf(path, sizeof path, "%s/confusion.png", out);
    PlotOpts po = {.title = use[1] ? "Test confusion (AdamW)" : "Test confusion (SGD)",
                   .xlabel = "predicted class", .ylabel = "true class", .width = 1000,
                   .height = 860};
    if (plot_heatmap(path, best->confusion, K, K, names, names, &po) != ERR_OK)
        fprintf(stderr, "warning: %s\n", err_msg());
    else
        printf("wrote %s\n", path);

    char json[512];
    int len = snprintf(json, sizeof json, "{\"epochs\":%d,\"train\":%lld,\"test\":%lld", epochs,
                       (long long)(n - n_va), (long long)n_te);
    for (int k = 0; k < 2; k++)
        if (use[k])
            len += snprintf(json + len, sizeof json - (size_t)len,
                            ",\"%s\":{\"test_acc\":%.4f,\"val_acc\":%.4f,\"sec_per_epoch\":%.3f}",
                            nn_optim_name(kinds[k]), runs[k].test_acc, runs[k].val_acc[epochs],
                            runs[k].sec_per_epoch);
    len += snprintf(json + len, sizeof json - (size_t)len, "}\n");
    snprintf(path, sizeof path, "%s/summary.json", out);
    if (io_write_atomic(path, json, (size_t)len) != ERR_OK)
        fprintf(stderr, "error: %s\n", err_msg());
    else
        printf("wrote %s: %s", path, json);
    for (int k = 0; k < 2; k++) free(runs[k].train_x);
    free(x), free(y), free(idx), free(xv), free(yv);
    ds_images_free(&trs);
    ds_images_free(&tes);
    return 0;
}
