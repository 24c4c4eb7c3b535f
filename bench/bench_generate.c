/*
 * bench_generate.c: greedy generation speed with the KV cache, this engine against PyTorch.
 *
 * Two GPT-2-recipe models with random weights (tf_model_create's init), vocab 65:
 *     TINY  4 layers, 4 heads, width 128, d_ff 512, context 128
 *     SMALL 6 layers, 6 heads, width 384, d_ff 1536, context 256
 * A 16-token prompt is prefilled in one tf_infer_forward, then `--new` tokens (default 128,
 * at most context - 16: 112 on TINY) are generated greedily by tf_generate, one decode
 * forward (sgemv) per token. tokens/s = generated tokens / wall time of the whole call
 * (prefill included), best of `--reps` runs after one warm-up, at 1 and 2 OpenBLAS threads
 * (tf_infer_set_threads).
 *
 * The peer is bench/peers/generate_torch.py: the same models and loop in PyTorch with a KV
 * cache under torch.inference_mode(), torch.set_num_threads(1 and 2), run by this program after
 * its own measurements with OMP_WAIT_POLICY=PASSIVE unless the caller set it. Then a table of
 * ours / torch ratios (goal >= 2). (Named generate_torch.py, not bench_generate.py, so
 * tools/run_bench.sh does not run it a second time.)
 *
 * Output: the table, then one line `BENCH {"bench":"generate",...}` with every figure.
 */
#include "bench/common/bench_util.h"
#include "core/cli.h"
#include "transformer/generate.h"
#include "transformer/model.h"
#include "transformer/sample.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define GOAL 2.0
#define N_CFG 2
#define N_THR 2
#define PROMPT 16

typedef struct {
    const char *name;
    int L, H, C, F, ctx;
} BenchCfg;

static const BenchCfg cfgs[N_CFG] = {
    {"tiny", 4, 4, 128, 512, 128},
    {"small", 6, 6, 384, 1536, 256},
};

// Best tokens/s of `reps` greedy generations (after one untimed).
static double measure(TfInfer *s, const int32_t *prompt, int new_tokens, int reps)
{
    TfSampler sc = tf_sampler_default();
    sc.temperature = 0.0f;
    int32_t *out = malloc(sizeof(int32_t) * (size_t)new_tokens);
    int n = 0;
    double best = INFINITY;
    for (int r = -1; r < reps; r++) {
        double t0 = bench_now();
        int rc = tf_generate(s, prompt, PROMPT, new_tokens, &sc, NULL, NULL, 0, out, &n);
        double dt = bench_now() - t0;
        if (rc != ERR_OK || n != new_tokens) {
            fprintf(stderr, "bench_generate: generated %d of %d tokens (%s)\n", n, new_tokens,
                    err_msg());
            exit(1);
        }
        if (r >= 0 && dt < best) best = dt;
    }
    free(out);
    return new_tokens / best;
}

// ---------------------------------------------------------------------------
// The peer
// ---------------------------------------------------------------------------

typedef struct {
    bool ok;
    double tps[N_CFG][N_THR]; // NAN when absent
    char omp[32];
} Peer;

// No peer figures yet: every tokens/s is NAN.
static Peer peer_none(void)
{
    Peer pr = {.ok = false};
    for (int c = 0; c < N_CFG; c++)
        for (int t = 0; t < N_THR; t++) pr.tps[c][t] = NAN;
    return pr;
}

// Runs the peer script (bench_run_peer echoes its output) and reads its PEER line, whose
// "tokens_per_s" maps each model name to {"1": tokens/s at 1 thread, "2": at 2}.
static Peer run_peer(const char *script, bool quick, int new_tokens, int reps)
{
    Peer pr = peer_none();
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "OMP_WAIT_POLICY=%.32s /usr/bin/python3 '%.1000s' --threads 1,2 --new %d --reps %d%s",
             bench_omp_wait_policy(), script, new_tokens, reps, quick ? " --quick" : "");
    json_t *o = bench_run_peer(cmd);
    if (!o) return pr;
    pr.ok = true;
    json_t *tps = json_object_get(o, "tokens_per_s");
    for (int c = 0; c < N_CFG; c++)
        for (int t = 0; t < N_THR; t++) {
            char key[16];
            snprintf(key, sizeof key, "%d", t + 1);
            pr.tps[c][t] = bench_json_number(json_object_get(tps, cfgs[c].name), key);
        }
    snprintf(pr.omp, sizeof pr.omp, "%s", bench_json_string(o, "omp_wait_policy", "?"));
    json_decref(o);
    return pr;
}

int main(int argc, char **argv)
{
    int quick = 0, new_tokens = 128, reps = 5, no_peer = 0;
    const char *peer_path = "bench/peers/generate_torch.py";
    CliOpt opts[] = {
        {"--quick", CLI_FLAG, &quick, "1 timed run of 32 tokens (a smoke run)"},
        {"--new", CLI_INT, &new_tokens, "tokens to generate after the 16-token prompt"},
        {"--reps", CLI_INT, &reps, "timed runs per figure (the best counts)"},
        {"--peer", CLI_STR, &peer_path, "the PyTorch peer script"},
        {"--no-peer", CLI_FLAG, &no_peer, "measure this engine only"},
    };
    int rc = cli_parse(argc, argv, opts, 5, "bench_generate: KV-cache greedy generation, tokens/s");
    if (rc >= 0) return rc;
    if (quick) reps = 1, new_tokens = 32;
    if (new_tokens < 1 || reps < 1) {
        fprintf(stderr, "bench_generate: --new and --reps must be >= 1\n");
        return 2;
    }

    double ours[N_CFG][N_THR];
    int news[N_CFG], defaults[N_CFG];
    printf("KV-cache greedy generation, prompt %d tokens, OpenBLAS core %s\n", PROMPT,
           bench_blas_corename());
    for (int c = 0; c < N_CFG; c++) {
        const BenchCfg *b = &cfgs[c];
        TfConfig cfg = tf_config_default(TF_GPT2);
        cfg.vocab = 65;
        cfg.ctx = b->ctx;
        cfg.d_model = b->C;
        cfg.n_layer = b->L;
        cfg.n_head = b->H;
        cfg.n_kv_head = b->H;
        cfg.d_ff = b->F;
        TfModel *m = tf_model_create(&cfg, 1);
        news[c] = new_tokens < b->ctx - PROMPT ? new_tokens : b->ctx - PROMPT;
        TfInfer *s = tf_infer_create(m, PROMPT + news[c]);
        int32_t prompt[PROMPT];
        for (int i = 0; i < PROMPT; i++) prompt[i] = (int32_t)((i * 7 + 3) % cfg.vocab);
        defaults[c] = tf_infer_set_threads(s, 1); // the count tf_infer_create chose
        for (int t = 0; t < N_THR; t++) {
            tf_infer_set_threads(s, t + 1);
            ours[c][t] = measure(s, prompt, news[c], reps);
            printf("ours  %-5s threads %d: %9.1f tokens/s (%d new)\n", b->name, t + 1,
                   ours[c][t], news[c]);
            fflush(stdout);
        }
        tf_infer_free(s);
        tf_model_free(m);
    }

    Peer pr = peer_none();
    if (!no_peer) {
        char path[1024];
        bench_repo_path(path, sizeof path, peer_path);
        pr = run_peer(path, quick, new_tokens, reps);
        if (!pr.ok)
            fprintf(stderr, "bench_generate: no PEER line from %s (hint: is python3-torch "
                            "installed? `make deps`)\n",
                    path);
    }

    printf("\n%-22s %12s %12s %8s\n", "tokens/s", "ours", "torch", "ratio");
    bool met = pr.ok;
    for (int c = 0; c < N_CFG; c++)
        for (int t = 0; t < N_THR; t++) {
            char label[32];
            snprintf(label, sizeof label, "%s, %d thread%s", cfgs[c].name, t + 1, t ? "s" : "");
            double r = ours[c][t] / pr.tps[c][t];
            printf("%-22s %12.1f %12.1f ", label, ours[c][t], pr.tps[c][t]);
            if (isnan(r))
                printf("%8s\n", "n/a");
            else
                printf("%8.2f\n", r);
            met = met && !isnan(r) && r >= GOAL;
        }
    printf("tf_infer's default threads: tiny %d, small %d\n", defaults[0], defaults[1]);
    printf("torch OMP_WAIT_POLICY=%s; goal ours/torch >= %.1f: %s\n", pr.ok ? pr.omp : "-", GOAL,
           !pr.ok ? "n/a" : met ? "met" : "NOT met");
    // The 8 figures in the order the BENCH line names them: ours, then torch's; each model's
    // 1 thread, then 2.
    const double fig[8] = {ours[0][0],   ours[0][1],   ours[1][0],   ours[1][1],
                           pr.tps[0][0], pr.tps[0][1], pr.tps[1][0], pr.tps[1][1]};
    char buf[8][BENCH_NUM_BUF];
    const char *j[8];
    for (int i = 0; i < 8; i++) j[i] = bench_json_num(buf[i], fig[i], 1);
    printf("BENCH {\"bench\":\"generate\",\"corename\":\"%s\",\"prompt\":%d,"
           "\"new_tokens\":{\"tiny\":%d,\"small\":%d},"
           "\"default_threads\":{\"tiny\":%d,\"small\":%d},"
           "\"ours\":{\"tiny\":{\"1\":%s,\"2\":%s},\"small\":{\"1\":%s,\"2\":%s}},"
           "\"torch\":{\"tiny\":{\"1\":%s,\"2\":%s},\"small\":{\"1\":%s,\"2\":%s}}}\n",
           bench_blas_corename(), PROMPT, news[0], news[1], defaults[0], defaults[1], j[0], j[1],
           j[2], j[3], j[4], j[5], j[6], j[7]);
    return 0;
}
