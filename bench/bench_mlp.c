/*
 * bench_mlp.c: training speed of a small classifier, this engine against PyTorch, in one run.
 *
 * The workload is week 2's: an MLP 784-256-128-10 (ReLU, nn.Linear's default init), mean
 * cross-entropy, AdamW at lr 1e-3 with PyTorch's other defaults (weight decay 0.01), batch
 * 128, the 60,000 Fashion-MNIST training images shuffled every epoch (469 batches, the last
 * one partial). Two figures:
 *
 *   1. s/epoch, steady state: `--steps` training steps (default 200) timed after 20 untimed
 *      warm-up steps, scaled to 469 steps. Also, in the full mode, the first whole epoch of
 *      part 2 as measured (it includes the first steps' allocations).
 *   2. time to 88% test accuracy: whole epochs from a fresh model, the test accuracy on the
 *      10,000 test images after each one (grad recording off; evaluation is not timed), until
 *      it reaches 0.88 or --max-epochs. Reported as training seconds and epochs. Skipped in
 *      --quick.
 *
 * The peer is bench/peers/mlp_torch.py, the same model, data files, optimizer and method in
 * PyTorch. This program runs it itself after its own measurements (so both sides see the same
 * machine state within a minute and the ratio can be printed here), with the same thread count
 * (torch.set_num_threads = OpenBLAS's thread count) and OMP_WAIT_POLICY=PASSIVE unless the
 * caller set it otherwise: Debian's torch uses OpenMP, whose idle threads spin and steal the
 * second core. Its PEER line is echoed, then a table of ours / torch ratios. Goal: ratio <= 0.5
 * for s/epoch. (It is named mlp_torch.py, not bench_mlp.py, so tools/run_bench.sh does not run
 * it a second time.)
 *
 * Output: the table, then one line `BENCH {"bench":"mlp",...}` with every figure.
 */
#include "bench/common/bench_util.h"
#include "core/cli.h"
#include "core/tensor.h"
#include "datasets/idx.h"
#include "nn/data.h"
#include "nn/layers.h"
#include "nn/optim.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define D 784
#define K 10
#define B 128
#define GOAL 0.5
#define TARGET_ACC 0.88

typedef struct {
    float *xtr, *xte;   // (60000, D), (10000, D) pixels / 255
    int32_t *ytr, *yte; // labels
    int64_t ntr, nte;
} Data;

typedef struct {
    NnParams *p;
    NnMLP mlp;
    NnOptimizer *opt;
    Graph *g;
    float *xb;  // (B, D) batch buffer
    int32_t yb[B];
} Model;

static void model_init(Model *m, uint64_t seed)
{
    Rng rng;
    rng_init(&rng, seed);
    m->p = nn_params_create();
    nn_mlp_init(&m->mlp, m->p, "mlp", (int64_t[]){D, 256, 128, K}, 3, NN_ACT_RELU, 0.0f, &rng);
    NnOptimConfig cfg = nn_optim_defaults(NN_OPTIM_ADAMW, 1e-3f);
    m->opt = nn_optim_create(&cfg);
    m->g = graph_create(0);
    m->xb = malloc(sizeof(float) * B * D);
}

static void model_deinit(Model *m)
{
    free(m->xb);
    graph_free(m->g);
    nn_optim_free(m->opt);
    nn_params_free(m->p);
}

// One AdamW step on the examples idx[0..n).
static void train_step(Model *m, const Data *d, const int32_t *idx, int64_t n)
{
    nn_gather_rows(m->xb, d->xtr, D, idx, n);
    for (int64_t i = 0; i < n; i++) m->yb[i] = d->ytr[idx[i]];
    Graph *g = m->g;
    Tensor *x = tensor_from(graph_arena(g), 2, (int64_t[]){n, D}, m->xb);
    Tensor *y = tensor_from_i32(graph_arena(g), 1, (int64_t[]){n}, m->yb);
    Tensor *loss = tensor_cross_entropy(g, nn_mlp_forward(g, &m->mlp, x, true, NULL), y, -1);
    graph_backward(g, loss);
    nn_optim_step(m->opt, m->p);
    nn_params_zero_grad(m->p);
    graph_reset(g);
}

static float test_accuracy(Model *m, const Data *d)
{
    bool was = graph_set_grad_enabled(m->g, false);
    int64_t right = 0;
    for (int64_t i0 = 0; i0 < d->nte; i0 += 1000) {
        int64_t nb = d->nte - i0 < 1000 ? d->nte - i0 : 1000;
        Tensor *x = tensor_from(graph_arena(m->g), 2, (int64_t[]){nb, D}, d->xte + i0 * D);
        const float *z = nn_mlp_forward(m->g, &m->mlp, x, false, NULL)->data; // (nb, K)
        for (int64_t r = 0; r < nb; r++) {
            int best = 0;
            for (int j = 1; j < K; j++) best = z[r * K + j] > z[r * K + best] ? j : best;
            right += best == d->yte[i0 + r];
        }
        graph_reset(m->g);
    }
    graph_set_grad_enabled(m->g, was);
    return (float)right / (float)d->nte;
}

// ---------------------------------------------------------------------------
// The peer
// ---------------------------------------------------------------------------

typedef struct {
    bool ok;
    double s_epoch, s_full_epoch, s_to_88; // NAN when absent
    int epochs_to_88, threads;
    char omp[32];
} Peer;

// Runs the peer script (bench_run_peer echoes its output) and reads its PEER line.
static Peer run_peer(const char *script, bool quick, int steps, int max_epochs, int threads)
{
    Peer pr = {.s_epoch = NAN, .s_full_epoch = NAN, .s_to_88 = NAN};
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "OMP_WAIT_POLICY=%.32s /usr/bin/python3 '%.1000s' --threads %d "
             "--steps %d --max-epochs %d%s", bench_omp_wait_policy(), script, threads, steps,
             max_epochs, quick ? " --quick" : "");
    json_t *o = bench_run_peer(cmd);
    if (!o) return pr;
    pr.ok = true;
    pr.s_epoch = bench_json_number(o, "s_per_epoch");
    pr.s_full_epoch = bench_json_number(o, "s_full_epoch");
    pr.s_to_88 = bench_json_number(o, "s_to_88");
    double e = bench_json_number(o, "epochs_to_88"), t = bench_json_number(o, "threads");
    pr.epochs_to_88 = isnan(e) ? 0 : (int)e;
    pr.threads = isnan(t) ? 0 : (int)t;
    snprintf(pr.omp, sizeof pr.omp, "%s", bench_json_string(o, "omp_wait_policy", "?"));
    json_decref(o);
    return pr;
}

static void row(const char *what, double ours, double peer, const char *unit)
{
    printf("%-28s %10.3f %10.3f %s  ratio ", what, ours, peer, unit);
    if (isnan(ours / peer))
        printf("n/a\n");
    else
        printf("%.2f\n", ours / peer);
}

int main(int argc, char **argv)
{
    int quick = 0, steps = 200, max_epochs = 15, no_peer = 0;
    uint64_t seed = 1;
    const char *peer_path = "bench/peers/mlp_torch.py";
    CliOpt opts[] = {
        {"--quick", CLI_FLAG, &quick, "steady state only (50 steps), no time-to-88%"},
        {"--steps", CLI_INT, &steps, "timed steps of the steady-state measurement"},
        {"--max-epochs", CLI_INT, &max_epochs, "cap of the time-to-88% run"},
        {"--seed", CLI_U64, &seed, "model init and shuffling seed"},
        {"--peer", CLI_STR, &peer_path, "the PyTorch peer script"},
        {"--no-peer", CLI_FLAG, &no_peer, "measure this engine only"},
    };
    int rc = cli_parse(argc, argv, opts, 6, "bench_mlp: MLP training speed vs PyTorch");
    if (rc >= 0) return rc;
    if (quick && steps > 50) steps = 50;
    if (steps < 1 || max_epochs < 1) {
        fprintf(stderr, "bench_mlp: --steps and --max-epochs must be >= 1\n");
        return 2;
    }
    DsImages tr = {0}, te = {0};
    if (ds_fashion_load("train", &tr) != ERR_OK || ds_fashion_load("test", &te) != ERR_OK) {
        fprintf(stderr, "bench_mlp: %s\n", err_msg());
        return 1;
    }
    Data d = {.ntr = tr.n, .nte = te.n};
    d.xtr = malloc(sizeof(float) * (size_t)(d.ntr * D));
    d.xte = malloc(sizeof(float) * (size_t)(d.nte * D));
    d.ytr = malloc(sizeof(int32_t) * (size_t)d.ntr);
    d.yte = malloc(sizeof(int32_t) * (size_t)d.nte);
    ds_images_to_float(d.xtr, &tr, 0, d.ntr);
    ds_images_to_float(d.xte, &te, 0, d.nte);
    for (int64_t i = 0; i < d.ntr; i++) d.ytr[i] = tr.labels[i];
    for (int64_t i = 0; i < d.nte; i++) d.yte[i] = te.labels[i];
    ds_images_free(&tr);
    ds_images_free(&te);
    int threads = openblas_get_num_threads();
    printf("bench_mlp: MLP 784-256-128-10, AdamW lr 1e-3, batch %d; OpenBLAS core %s, %d "
           "thread(s)\n", B, bench_blas_corename(), threads);

    // 1. Steady state.
    NnLoader ld;
    nn_loader_init(&ld, NULL, d.ntr, &(NnLoaderConfig){.batch_size = B, .shuffle = true,
                                                        .seed = seed});
    int64_t spe = nn_loader_num_batches(&ld); // 469
    Model m;
    model_init(&m, seed);
    NnBatch b;
    double t0 = 0;
    for (int s = 0; s < 20 + steps; s++) {
        if (s == 20) t0 = bench_now();
        if (!nn_loader_next(&ld, &b)) nn_loader_next(&ld, &b);
        train_step(&m, &d, b.idx, b.size);
    }
    double ms_step = (bench_now() - t0) / steps * 1e3, s_epoch = ms_step * (double)spe / 1e3;
    model_deinit(&m);
    printf("ours: %.3f ms/step over %d steps -> %.3f s/epoch (%lld steps)\n", ms_step, steps,
           s_epoch, (long long)spe);

    // 2. Time to 88% test accuracy.
    double s_full = NAN, s_to = NAN, train_s = 0;
    int epochs = 0;
    float acc = 0;
    if (!quick) {
        model_init(&m, seed);
        nn_loader_set_epoch(&ld, 0);
        while (epochs < max_epochs) {
            t0 = bench_now();
            while (nn_loader_next(&ld, &b)) train_step(&m, &d, b.idx, b.size);
            double dt = bench_now() - t0;
            s_full = epochs == 0 ? dt : s_full;
            train_s += dt;
            epochs++;
            acc = test_accuracy(&m, &d);
            printf("ours: epoch %d: %.3f s, test acc %.4f\n", epochs, dt, acc);
            if (acc >= TARGET_ACC) {
                s_to = train_s;
                break;
            }
        }
        model_deinit(&m);
    }
    nn_loader_deinit(&ld);
    fflush(stdout);

    Peer pr = {.s_epoch = NAN, .s_full_epoch = NAN, .s_to_88 = NAN};
    if (!no_peer) {
        char path[1024];
        bench_repo_path(path, sizeof path, peer_path);
        pr = run_peer(path, quick, steps, max_epochs, threads);
        if (!pr.ok) fprintf(stderr, "bench_mlp: no PEER line from %s (hint: is python3-torch "
                            "installed? `make deps`)\n", path);
    }

    printf("\n%-28s %10s %10s\n", "", "ours", "torch");
    row("s/epoch (steady state)", s_epoch, pr.s_epoch, "s");
    if (!quick) {
        row("s first full epoch", s_full, pr.s_full_epoch, "s");
        row("s to 88% test accuracy", s_to, pr.s_to_88, "s");
        printf("%-28s %10d %10d\n", "epochs to 88%", isnan(s_to) ? 0 : epochs, pr.epochs_to_88);
    }
    printf("threads: ours %d (OpenBLAS %s), torch %d (OMP_WAIT_POLICY=%s); goal s/epoch ratio "
           "<= %.2f: %s\n", threads, bench_blas_corename(), pr.threads, pr.ok ? pr.omp : "-",
           GOAL, !pr.ok ? "n/a" : s_epoch / pr.s_epoch <= GOAL ? "met" : "NOT met");
    char num[6][BENCH_NUM_BUF];
    printf("BENCH {\"bench\":\"mlp\",\"threads\":%d,\"corename\":\"%s\",\"ours\":{"
           "\"s_per_epoch\":%s,\"s_full_epoch\":%s,\"s_to_88\":%s,\"epochs\":%d,\"test_acc\":%.4f},"
           "\"torch\":{"
           "\"s_per_epoch\":%s,\"s_full_epoch\":%s,\"s_to_88\":%s,\"epochs_to_88\":%d}}\n",
           threads, bench_blas_corename(), bench_json_num(num[0], s_epoch, 4),
           bench_json_num(num[1], s_full, 4), bench_json_num(num[2], s_to, 4), epochs, acc,
           bench_json_num(num[3], pr.s_epoch, 4), bench_json_num(num[4], pr.s_full_epoch, 4),
           bench_json_num(num[5], pr.s_to_88, 4), pr.epochs_to_88);
    free(d.xtr), free(d.xte), free(d.ytr), free(d.yte);
    return 0;
}
