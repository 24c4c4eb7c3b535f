/*
 * bench_llama.c: KV-cache generation and prefill speed, this engine against REAL llama.cpp,
 * on the SAME GGUF file.
 *
 * Two llama-recipe models with random weights, vocab 512, context 256, d_ff by llama2.c's
 * rule (4C, times 2/3, rounded up to a multiple of 32), tied embeddings:
 *     288x6   width 288, 6 layers, 6 heads, d_ff 768
 *     512x8   width 512, 8 layers, 8 heads, d_ff 1376
 * Each is exported with tf_gguf_export as F32; the engine runs the model it reads back from
 * that file (tf_gguf_import), llama.cpp runs the file itself through tests/llama_ref/llama_ref
 * (the prebuilt libllama of npm's node-llama-cpp, F32 KV cache, flash attention off; built by
 * tests/llama_ref/build.sh). Both sides do the same work, timed the same way:
 *     prefill: 128 fixed tokens in one forward, from an empty cache;
 *     generation: 1 token, then `--gen` greedy tokens (argmax), one decode forward each;
 * each after its own warm-up, at 1 and 2 threads (tf_infer_set_threads; the driver's
 * --threads). The machine is shared, so the two sides are measured in `--reps` interleaved
 * rounds (ours, then llama.cpp, then ours again...) and each figure is the median over the
 * rounds: a burst of load from other users hits both sides, not one. The load average is
 * printed before and after. A llama.cpp run that takes over PEER_TIMEOUT seconds (its spinning
 * thread pool collapses on an oversubscribed machine) is stopped and counted as missing. Then
 * llama.cpp's Q8_0 speed for information (llama_model_quantize of the F32 file, generation
 * only, one run; skipped by --quick). Ratios ours / llama.cpp (goal >= 1 at F32).
 *
 * Run time: about 30 s on 2 idle cores with the defaults, 5 s with --quick.
 *
 * Without node-llama-cpp (tools/deps.sh installs it when node/npm are present) the engine's
 * figures are still printed and the ratios are n/a.
 *
 * Output: the table, then one line `BENCH {"bench":"llama",...}` with every figure.
 */
#include "bench/common/bench_util.h"
#include "core/cli.h"
#include "core/err.h"
#include "transformer/generate.h"
#include "transformer/gguf.h"
#include "transformer/model.h"
#include "transformer/sample.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define GOAL 1.0
#define N_CFG 2
#define N_THR 2
#define VOCAB 512
#define CTX 256
#define PEER_TIMEOUT 30
#define MAX_REPS 64

typedef struct {
    const char *name;
    int C, L, H;
} BenchCfg;

static const BenchCfg cfgs[N_CFG] = {
    {"288x6", 288, 6, 6},
    {"512x8", 512, 8, 8},
};

// llama2.c's hidden size: 2/3 of 4C, rounded up to a multiple of 32.
static int llama2c_ff(int C)
{
    int f = 2 * (4 * C) / 3;
    return 32 * ((f + 31) / 32);
}

// Tokens/s figures of one side: [config][threads - 1].
typedef struct {
    double prefill[N_CFG][N_THR], gen[N_CFG][N_THR], gen_q8[N_CFG][N_THR];
} Figures;

static void figures_nan(Figures *f)
{
    for (int c = 0; c < N_CFG; c++)
        for (int t = 0; t < N_THR; t++)
            f->prefill[c][t] = f->gen[c][t] = f->gen_q8[c][t] = NAN;
}

// ---------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------

static double median_of(double *v, int n) { return bench_median(v, n); }

// The median of the finite entries (a peer run that failed or timed out is NaN); NaN if none.
static double median_finite(const double *v, int n)
{
    double ok[MAX_REPS];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) ok[k++] = v[i];
    return k ? bench_median(ok, k) : NAN;
}

// Prefill and generation tokens/s of the engine: same prompt and protocol as llama_ref.
static void measure_ours(const TfModel *m, int threads, int prefill, int gen, int reps,
                         double *prefill_tps, double *gen_tps)
{
    TfInfer *s = tf_infer_create(m, CTX);
    tf_infer_set_threads(s, threads);
    int V = m->cfg.vocab;
    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)prefill);
    uint32_t st = 12345u; // the driver's LCG, so both sides see the same prompt
    for (int i = 0; i < prefill; i++) {
        st = st * 1664525u + 1013904223u;
        prompt[i] = (int32_t)((st >> 8) % (uint32_t)V);
    }
    double *tp = malloc(sizeof(double) * (size_t)(reps + 1));
    double *tg = malloc(sizeof(double) * (size_t)(reps + 1));
    for (int r = 0; r <= reps; r++) { // r = 0 is the warm-up
        double t0 = bench_now();
        tf_infer_forward(s, prompt, prefill, 0);
        tp[r] = bench_now() - t0;

        const float *lg = tf_infer_forward(s, prompt, 1, 0);
        t0 = bench_now();
        for (int g = 0; g < gen; g++) {
            int32_t tok = tf_sample_argmax(lg, V);
            lg = tf_infer_forward(s, &tok, 1, g + 1);
        }
        tg[r] = bench_now() - t0;
    }
    *prefill_tps = prefill / median_of(tp + 1, reps);
    *gen_tps = gen / median_of(tg + 1, reps);
    free(tp);
    free(tg);
    free(prompt);
    tf_infer_free(s);
}

// ---------------------------------------------------------------------------
// llama.cpp
// ---------------------------------------------------------------------------

// Builds the driver; returns false (saying why) when llama.cpp is not available.
static bool build_driver(char *path, size_t size)
{
    char script[1024], cmd[1100];
    bench_repo_path(script, sizeof script, "tests/llama_ref/build.sh");
    snprintf(cmd, sizeof cmd, "sh '%s'", script);
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    char line[4096];
    path[0] = '\0';
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(path, size, "%s", line);
    }
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_llama: no llama.cpp driver: %s (hint: make deps installs "
                        "node-llama-cpp when node/npm are present)\n",
                path[0] ? path : "build.sh failed");
        return false;
    }
    return true;
}

static void measure_theirs(const char *driver, const char *gguf, int threads, int prefill,
                           int gen, int reps, double *prefill_tps, double *gen_tps)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "timeout %d '%s' bench '%s' --threads %d --prefill %d --gen %d --reps %d",
             PEER_TIMEOUT, driver, gguf, threads, prefill, gen, reps);
    json_t *o = bench_run_peer(cmd);
    *prefill_tps = bench_json_number(o, "prefill_tps");
    *gen_tps = bench_json_number(o, "gen_tps");
    json_decref(o);
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

// The 1-minute load average (NaN when unknown): how busy the shared machine was.
static double load1(void)
{
    double l[1];
    return getloadavg(l, 1) == 1 ? l[0] : NAN;
}

static void row(const char *label, double ours, double theirs)
{
    double r = ours / theirs;
    printf("%-26s %10.1f %10.1f ", label, ours, theirs);
    if (isnan(r))
        printf("%8s\n", "n/a");
    else
        printf("%8.2f\n", r);
}

static const char *num(char buf[static BENCH_NUM_BUF], double v)
{
    return bench_json_num(buf, v, 1);
}

// {"288x6":{"1":x,"2":y},"512x8":{...}} into out.
static void json_table(char *out, size_t size, double v[N_CFG][N_THR])
{
    char a[BENCH_NUM_BUF], b[BENCH_NUM_BUF], c[BENCH_NUM_BUF], d[BENCH_NUM_BUF];
    snprintf(out, size, "{\"%s\":{\"1\":%s,\"2\":%s},\"%s\":{\"1\":%s,\"2\":%s}}", cfgs[0].name,
             num(a, v[0][0]), num(b, v[0][1]), cfgs[1].name, num(c, v[1][0]), num(d, v[1][1]));
}

int main(int argc, char **argv)
{
    int quick = 0, gen = 128, prefill = 128, reps = 3, no_peer = 0;
    CliOpt opts[] = {
        {"--quick", CLI_FLAG, &quick, "1 round of 32 tokens, no Q8_0 runs (a smoke run)"},
        {"--gen", CLI_INT, &gen, "greedy tokens generated after 1 prompt token"},
        {"--prefill", CLI_INT, &prefill, "prompt tokens of the prefill figure"},
        {"--reps", CLI_INT, &reps, "interleaved rounds per figure (the median counts)"},
        {"--no-peer", CLI_FLAG, &no_peer, "measure this engine only"},
    };
    int rc = cli_parse(argc, argv, opts, 5, "bench_llama: generation and prefill tokens/s, "
                                            "this engine vs llama.cpp on the same GGUF");
    if (rc >= 0) return rc;
    if (quick) reps = 1, gen = 32;
    if (gen < 1 || prefill < 1 || reps < 1 || reps > MAX_REPS || gen + 2 > CTX || prefill > CTX) {
        fprintf(stderr, "bench_llama: need 1 <= --gen <= %d, 1 <= --prefill <= %d, "
                        "1 <= --reps <= %d\n", CTX - 2, CTX, MAX_REPS);
        return 2;
    }

    char driver[4096] = "";
    bool peer = !no_peer && build_driver(driver, sizeof driver);
    const char *tmp = getenv("TMPDIR");
    char dirbuf[1024];
    snprintf(dirbuf, sizeof dirbuf, "%s/bench_llama_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dirbuf)) {
        fprintf(stderr, "bench_llama: cannot create the folder %s\n", dirbuf);
        return 1;
    }

    Figures ours, theirs;
    figures_nan(&ours);
    figures_nan(&theirs);
    double load_before = load1();
    printf("KV-cache generation and prefill, F32, vocab %d, context %d, OpenBLAS core %s, "
           "load average %.2f\n", VOCAB, CTX, bench_blas_corename(), load_before);
    char files[N_CFG][2][1200];
    for (int c = 0; c < N_CFG; c++) {
        const BenchCfg *b = &cfgs[c];
        TfConfig cfg = tf_config_default(TF_LLAMA);
        cfg.vocab = VOCAB;
        cfg.ctx = CTX;
        cfg.d_model = b->C;
        cfg.n_layer = b->L;
        cfg.n_head = b->H;
        cfg.n_kv_head = b->H;
        cfg.d_ff = llama2c_ff(b->C);
        cfg.tie_embeddings = true;
        TfModel *orig = tf_model_create(&cfg, 1);
        snprintf(files[c][0], sizeof files[c][0], "%s/%s-f32.gguf", dirbuf, b->name);
        snprintf(files[c][1], sizeof files[c][1], "%s/%s-q8_0.gguf", dirbuf, b->name);
        TfModel *m = NULL;
        if (tf_gguf_export(orig, NULL, TF_GGUF_F32, files[c][0]) != ERR_OK ||
            tf_gguf_import(files[c][0], &m, NULL) != ERR_OK) {
            fprintf(stderr, "bench_llama: %s\n", err_msg());
            return 1;
        }
        tf_model_free(orig);
        for (int t = 0; t < N_THR; t++) {
            // Interleaved rounds: one timed run of each side per round.
            double op[MAX_REPS], og[MAX_REPS], tp[MAX_REPS], tg[MAX_REPS];
            for (int r = 0; r < reps; r++) {
                measure_ours(m, t + 1, prefill, gen, 1, &op[r], &og[r]);
                printf("ours  %s threads %d round %d: prefill %8.1f tokens/s, generation "
                       "%8.1f tokens/s\n", b->name, t + 1, r + 1, op[r], og[r]);
                fflush(stdout);
                tp[r] = tg[r] = NAN;
                if (peer)
                    measure_theirs(driver, files[c][0], t + 1, prefill, gen, 1, &tp[r], &tg[r]);
            }
            ours.prefill[c][t] = median_of(op, reps);
            ours.gen[c][t] = median_of(og, reps);
            theirs.prefill[c][t] = median_finite(tp, reps);
            theirs.gen[c][t] = median_finite(tg, reps);
        }
        tf_model_free(m);
        if (peer && !quick) {
            char cmd[8192];
            snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' >/dev/null", driver,
                     files[c][0], files[c][1]);
            if (system(cmd) == 0) {
                for (int t = 0; t < N_THR; t++) {
                    double unused;
                    measure_theirs(driver, files[c][1], t + 1, 1, gen, 1, &unused,
                                   &theirs.gen_q8[c][t]);
                }
            }
        }
        unlink(files[c][0]);
        unlink(files[c][1]);
    }
    rmdir(dirbuf);

    printf("\n%-26s %10s %10s %8s\n", "tokens/s", "ours", "llama.cpp", "ratio");
    bool met = peer;
    for (int c = 0; c < N_CFG; c++)
        for (int t = 0; t < N_THR; t++) {
            char label[64];
            snprintf(label, sizeof label, "%s gen, %d thread%s", cfgs[c].name, t + 1,
                     t ? "s" : "");
            row(label, ours.gen[c][t], theirs.gen[c][t]);
            double r = ours.gen[c][t] / theirs.gen[c][t];
            met = met && !isnan(r) && r >= GOAL;
        }
    for (int c = 0; c < N_CFG; c++)
        for (int t = 0; t < N_THR; t++) {
            char label[64];
            snprintf(label, sizeof label, "%s prefill %d, %d thr", cfgs[c].name, prefill, t + 1);
            row(label, ours.prefill[c][t], theirs.prefill[c][t]);
        }
    for (int c = 0; c < N_CFG; c++)
        for (int t = 0; t < N_THR; t++) {
            char label[64];
            if (isnan(theirs.gen_q8[c][t])) continue; // --quick runs no Q8_0
            snprintf(label, sizeof label, "%s gen Q8_0 (llama), %d thr", cfgs[c].name, t + 1);
            row(label, ours.gen[c][t], theirs.gen_q8[c][t]);
        }
    double load_after = load1();
    printf("goal ours/llama.cpp >= %.1f for F32 generation: %s (%d interleaved rounds, load "
           "average %.2f before, %.2f after)\n", GOAL, !peer ? "n/a" : met ? "met" : "NOT met",
           reps, load_before, load_after);

    char j[6][256];
    json_table(j[0], sizeof j[0], ours.gen);
    json_table(j[1], sizeof j[1], ours.prefill);
    json_table(j[2], sizeof j[2], theirs.gen);
    json_table(j[3], sizeof j[3], theirs.prefill);
    json_table(j[4], sizeof j[4], theirs.gen_q8);
    char la[BENCH_NUM_BUF], lb[BENCH_NUM_BUF];
    printf("BENCH {\"bench\":\"llama\",\"corename\":\"%s\",\"gen\":%d,\"prefill\":%d,"
           "\"reps\":%d,\"load_before\":%s,\"load_after\":%s,"
           "\"ours\":{\"gen\":%s,\"prefill\":%s},"
           "\"llama_cpp\":{\"gen\":%s,\"prefill\":%s,\"gen_q8_0\":%s}}\n",
           bench_blas_corename(), gen, prefill, reps, bench_json_num(la, load_before, 2),
           bench_json_num(lb, load_after, 2), j[0], j[1], j[2], j[3], j[4]);
    return 0;
}
