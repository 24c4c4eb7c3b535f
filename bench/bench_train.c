/*
 * bench_train.c: GPT training, this engine against PyTorch, side by side in one run.
 *
 * Two configs of the gpt2 recipe (transformer/model.h), vocab 65, d_ff = 4C, AdamW:
 *     TINY   4 layers, 4 heads, C = 128, T = 128, batch 16
 *     SMALL  6 layers, 6 heads, C = 384, T = 256, batch 8
 * Five parts:
 *
 *   1. sgemm peak: a 1024^3 cblas_sgemm on 1 and 2 threads (best of 5; measured again just
 *      before part 3, keeping the higher), the yardstick of part 3.
 *   2. Step time and peak memory: for each config and 1 and 2 threads, one fresh process per
 *      side: this program re-executes itself with --child (tf_train_step, OpenBLAS set to the
 *      thread count), then bench/peers/train_torch.py (torch.set_num_threads). Each untimed
 *      warm-up steps, then the median of the timed steps, on a stream of 100,000 random tokens
 *      (the data does not change the work), and its peak RSS (getrusage ru_maxrss: the
 *      process's whole life, so torch's includes `import torch`, which it also reports alone).
 *      Goal: ours <= 0.5 x torch's step time on TINY, <= 0.9 x on SMALL, and less memory.
 *      --quick times 3 TINY steps and 1 SMALL step, and SMALL on 2 threads only.
 *   3. Profile: a few TINY steps (--profile-config small: SMALL steps) under
 *      graph_profile_enable (tf_model_loss, graph_backward, clip, AdamW on our own graph); the
 *      per-op table, and matmul's achieved GFLOP/s against the measured peak.
 *   4. Quality at equal steps: TINY trained on the same tokens by both sides for --quality-steps
 *      steps (warmup 10%, lr 1e-3 cosine to 1e-4, betas (0.9, 0.95), weight decay 0.1, clip
 *      1.0). The text is FOLDOC + the Jargon File (ds_corpus_text): its 64 most frequent bytes
 *      get ids 0..63 by rank, every other byte id 64. The ids go to a temporary file (int32
 *      little-endian) that the peer reads. The last 10% is the validation split; both sides
 *      evaluate the same 32 windows (tf_train_eval's evenly spaced offsets). Training windows
 *      are drawn by each side's own RNG, and the initial weights too: the runs differ by
 *      sampling noise, not only by arithmetic. Goal: |ours - torch| <= 0.02.
 *   5. Quality at equal time: if ours was faster, our run continues (at the schedule's final
 *      lr, as tf_train_step does past its last step) until its training time equals torch's,
 *      and is evaluated again. Goal: lower than torch's. (Evaluation is never timed.)
 *
 * The peer gets the thread count and OMP_WAIT_POLICY=PASSIVE unless the caller set it (Debian's
 * torch uses OpenMP, whose idle threads would spin on the core we share). The child prints its
 * figures as a `PEER {...}` line too, so bench_run_peer reads both sides the same way. The peer
 * is named train_torch.py, not bench_train.py, so tools/run_bench.sh does not run it again.
 *
 * Output: the tables, then one line `BENCH {"bench":"train",...}` with every figure.
 */
#include "bench/common/bench_util.h"
#include "core/cli.h"
#include "core/io.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "datasets/datasets.h"
#include "nn/optim.h"
#include "transformer/model.h"
#include "transformer/train.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define VOCAB 65          // 64 frequent bytes + "other"
#define VAL_WINDOWS 32    // fixed validation windows, both sides
#define TIME_TOKENS 100000
#define GOAL_TINY 0.5
#define GOAL_SMALL 0.9
#define GOAL_VAL_DIFF 0.02

typedef struct {
    const char *name;
    int n_layer, n_head, d_model, ctx, batch; // T = ctx
    double goal;                              // step-time ratio to reach
} Shape;

static const Shape SHAPES[2] = {
    {"tiny", 4, 4, 128, 128, 16, GOAL_TINY},
    {"small", 6, 6, 384, 256, 8, GOAL_SMALL},
};

static TfConfig model_config(const Shape *s)
{
    TfConfig c = tf_config_default(TF_GPT2);
    c.vocab = VOCAB;
    c.ctx = s->ctx;
    c.d_model = s->d_model;
    c.n_layer = s->n_layer;
    c.n_head = s->n_head;
    c.n_kv_head = s->n_head;
    c.d_ff = 4 * s->d_model;
    return c;
}

// The training recipe both sides use (bench/peers/train_torch.py has the same constants).
static TfTrainConfig train_config(const Shape *s, int64_t steps, uint64_t seed)
{
    TfTrainConfig tc = tf_train_defaults();
    tc.batch = s->batch;
    tc.seq_len = s->ctx;
    tc.steps = steps;
    tc.warmup = steps / 10 > 0 ? steps / 10 : 1;
    tc.lr = 1e-3f;
    tc.min_lr = 1e-4f;
    tc.weight_decay = 0.1f;
    tc.beta1 = 0.9f;
    tc.beta2 = 0.95f;
    tc.grad_clip = 1.0f;
    tc.val_fraction = 0.1f;
    tc.val_every = 0;
    tc.val_batches = VAL_WINDOWS / s->batch;
    tc.ckpt_every = 0;
    tc.out_dir = NULL;
    tc.progress = false;
    tc.seed = seed;
    return tc;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; // kilobytes on Linux
}

// ---------------------------------------------------------------------------
// Part 2, the child: one config, one thread count, in a fresh process
// ---------------------------------------------------------------------------

static int run_child(const Shape *s, int threads, int warmup, int steps, uint64_t seed)
{
    openblas_set_num_threads(threads);
    int32_t *tok = xmalloc(sizeof(int32_t) * TIME_TOKENS);
    Rng rng;
    rng_init(&rng, seed + 1);
    for (int i = 0; i < TIME_TOKENS; i++) tok[i] = (int32_t)rng_below(&rng, VOCAB);
    TfConfig cfg = model_config(s);
    TfModel *m = tf_model_create(&cfg, seed);
    TfTrainConfig tc = train_config(s, warmup + steps, seed);
    tc.val_fraction = 0.0f; // timing only: every token is training data
    TfTrain *tr = tf_train_create(m, tok, TIME_TOKENS, &tc);
    double *dt = xmalloc(sizeof(double) * (size_t)steps);
    for (int i = 0; i < warmup + steps; i++) {
        double t0 = bench_now();
        tf_train_step(tr, NULL);
        if (i >= warmup) dt[i - warmup] = bench_now() - t0;
    }
    double med = bench_median(dt, steps); // sorts: dt[0] is the minimum
    printf("PEER {\"side\":\"ours\",\"config\":\"%s\",\"threads\":%d,\"ms_step\":%.3f,"
           "\"ms_step_min\":%.3f,\"steps_timed\":%d,\"peak_rss_mb\":%.1f}\n", s->name,
           openblas_get_num_threads(), med * 1e3, dt[0] * 1e3, steps, peak_rss_mb());
    free(dt);
    tf_train_free(tr);
    tf_model_free(m);
    free(tok);
    return 0;
}

// ---------------------------------------------------------------------------
// Part 1: sgemm peak
// ---------------------------------------------------------------------------

// Best GFLOP/s of 5 calls of a 1024^3 sgemm on `threads` threads (after one untimed call).
static double sgemm_peak(int threads)
{
    const int n = 1024;
    size_t nn = (size_t)n * (size_t)n;
    float *a = xmalloc(sizeof(float) * nn), *b = xmalloc(sizeof(float) * nn);
    float *c = xmalloc(sizeof(float) * nn);
    Rng rng;
    rng_init(&rng, 7);
    for (size_t i = 0; i < nn; i++) a[i] = rng_uniform(&rng) - 0.5f, b[i] = rng_uniform(&rng);
    int prev = openblas_get_num_threads();
    openblas_set_num_threads(threads);
    double best = INFINITY;
    for (int r = 0; r < 6; r++) {
        double t0 = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                    c, n);
        double dt = bench_now() - t0;
        if (r > 0 && dt < best) best = dt;
    }
    openblas_set_num_threads(prev);
    free(a);
    free(b);
    free(c);
    return 2.0 * n * (double)n * n / best * 1e-9;
}

// ---------------------------------------------------------------------------
// Part 3: per-op profile of TINY steps
// ---------------------------------------------------------------------------

typedef struct {
    double ms_fwdbwd, ms_opt;  // per step: forward + backward wall time; clip + AdamW + zero
    double ms_profiled;        // per step: the profiler's total over all ops
    double matmul_gflops;      // achieved, from the profiler's matmul row
    double matmul_share;       // % of the profiled time
    double attn_gflops, attn_share;
} Profile;

// Reads the row of op `name` from graph_profile_report's table: share (%) and GFLOP/s.
static void profile_row(const char *table, const char *name, double *share, double *gflops)
{
    *share = NAN, *gflops = NAN;
    size_t len = strlen(name);
    for (const char *l = table; l && *l; l = strchr(l, '\n')) {
        if (*l == '\n') l++;
        if (strncmp(l, name, len) != 0 || l[len] != ' ') continue;
        long long calls;
        double fwd, bwd;
        int k = sscanf(l + len, "%lld %lf %lf %lf%% %lf", &calls, &fwd, &bwd, share, gflops);
        if (k < 5) *gflops = NAN;
        return;
    }
}

static Profile run_profile(const Shape *s, int warmup, int steps, uint64_t seed)
{
    TfConfig cfg = model_config(s);
    TfModel *m = tf_model_create(&cfg, seed);
    NnOptimConfig oc = nn_optim_defaults(NN_OPTIM_ADAMW, 1e-3f);
    oc.weight_decay = 0.1f, oc.beta1 = 0.9f, oc.beta2 = 0.95f;
    NnOptimizer *opt = nn_optim_create(&oc);
    Graph *g = graph_create(0);
    int64_t bt = (int64_t)s->batch * s->ctx;
    int32_t *x = xmalloc(sizeof(int32_t) * (size_t)(bt + 1));
    Rng rng;
    rng_init(&rng, seed + 2);
    Profile p = {0};
    for (int i = 0; i < warmup + steps; i++) {
        if (i == warmup) graph_profile_enable(g, true);
        for (int64_t j = 0; j <= bt; j++) x[j] = (int32_t)rng_below(&rng, VOCAB);
        double t0 = bench_now();
        int64_t shape[2] = {s->batch, s->ctx};
        Tensor *tok = tensor_from_i32(graph_arena(g), 2, shape, x);
        Tensor *tgt = tensor_from_i32(graph_arena(g), 2, shape, x + 1);
        graph_backward(g, tf_model_loss(g, m, tok, tgt, true, NULL));
        graph_reset(g);
        double t1 = bench_now();
        nn_clip_grad_norm(m->params, 1.0f);
        nn_optim_step(opt, m->params);
        nn_params_zero_grad(m->params);
        double t2 = bench_now();
        if (i >= warmup) {
            p.ms_fwdbwd += (t1 - t0) * 1e3 / steps;
            p.ms_opt += (t2 - t1) * 1e3 / steps;
        }
    }
    char *table = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&table, &len);
    CHECK(f, "open_memstream failed");
    graph_profile_report(g, f);
    fclose(f);
    printf("\nper-op profile, %s, %d steps, %d OpenBLAS thread(s) (times summed over the "
           "steps):\n%s", s->name, steps, openblas_get_num_threads(), table);
    profile_row(table, op_name(OP_MATMUL), &p.matmul_share, &p.matmul_gflops);
    profile_row(table, op_name(OP_ATTENTION), &p.attn_share, &p.attn_gflops);
    const char *tl = strstr(table, "\ntotal");
    if (tl) p.ms_profiled = strtod(tl + 6, NULL) / steps;
    free(table);
    free(x);
    graph_free(g);
    nn_optim_free(opt);
    tf_model_free(m);
    return p;
}

// ---------------------------------------------------------------------------
// Part 4 and 5: quality
// ---------------------------------------------------------------------------

// The corpus as ids: the 64 most frequent bytes get 0..63 by rank (ties: lower byte first),
// every other byte 64. Returns a new array (free) of *n ids, or NULL with err_msg() set.
static int32_t *corpus_ids(int64_t *n)
{
    char *text;
    size_t len;
    if (ds_corpus_text("foldoc,jargon", &text, &len) != ERR_OK) return NULL;
    int64_t count[256] = {0};
    for (size_t i = 0; i < len; i++) count[(unsigned char)text[i]]++;
    int rank[256], id[256];
    for (int b = 0; b < 256; b++) rank[b] = b;
    for (int i = 1; i < 256; i++) { // insertion sort by count, descending, stable
        int b = rank[i], j = i;
        while (j > 0 && count[rank[j - 1]] < count[b]) rank[j] = rank[j - 1], j--;
        rank[j] = b;
    }
    for (int b = 0; b < 256; b++) id[b] = VOCAB - 1;
    for (int r = 0; r < VOCAB - 1; r++) id[rank[r]] = r;
    int32_t *ids = xmalloc(sizeof(int32_t) * (len ? len : 1));
    for (size_t i = 0; i < len; i++) ids[i] = id[(unsigned char)text[i]];
    free(text);
    *n = (int64_t)len;
    return ids;
}

// Writes ids as int32 little-endian (whatever this machine's order), atomically.
static int write_ids(const char *path, const int32_t *ids, int64_t n)
{
    unsigned char *buf = xmalloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int k = 0; k < 4; k++) buf[4 * i + k] = (unsigned char)(v >> (8 * k));
    }
    int rc = io_write_atomic(path, buf, (size_t)n * 4);
    free(buf);
    return rc;
}

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

typedef struct {
    double ms, ms_min, rss_mb, rss_import_mb; // NAN when not measured
} Side;

static Side side_from(json_t *o)
{
    Side s = {bench_json_number(o, "ms_step"), bench_json_number(o, "ms_step_min"),
              bench_json_number(o, "peak_rss_mb"), bench_json_number(o, "rss_import_mb")};
    return s;
}

static json_t *jnum(double v)
{
    return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static const char *verdict(double ratio, double goal)
{
    return isnan(ratio) ? "n/a" : ratio <= goal ? "met" : "NOT met";
}

int main(int argc, char **argv)
{
    int quick = 0, no_peer = 0, steps = 0, warmup = -1, qsteps = 0, threads = 0, prof_steps = 0;
    const char *child = NULL, *prof_config = "tiny", *peer_path = "bench/peers/train_torch.py";
    uint64_t seed = 1;
    CliOpt opts[] = {
        {"--quick", CLI_FLAG, &quick, "a smoke run: 3 / 1 timed steps, SMALL on 2 threads only, "
         "30 quality steps"},
        {"--steps", CLI_INT, &steps, "timed steps per measurement (default 20 TINY, 8 SMALL)"},
        {"--warmup", CLI_INT, &warmup, "untimed steps before them (default 3 TINY, 2 SMALL)"},
        {"--quality-steps", CLI_INT, &qsteps, "steps of the quality comparison (default 300)"},
        {"--profile-steps", CLI_INT, &prof_steps, "profiled steps (default 5)"},
        {"--profile-config", CLI_STR, &prof_config, "config of the profile: tiny or small"},
        {"--seed", CLI_U64, &seed, "model init and window sampling seed"},
        {"--peer", CLI_STR, &peer_path, "the PyTorch peer script"},
        {"--no-peer", CLI_FLAG, &no_peer, "measure this engine only"},
        {"--child", CLI_STR, &child, "internal: time one config (tiny/small) in this process"},
        {"--threads", CLI_INT, &threads, "internal, with --child: OpenBLAS threads"},
    };
    int rc = cli_parse(argc, argv, opts, 11, "bench_train: GPT training vs PyTorch");
    if (rc >= 0) return rc;
    if (child) {
        for (int i = 0; i < 2; i++)
            if (strcmp(child, SHAPES[i].name) == 0)
                return run_child(&SHAPES[i], threads > 0 ? threads : 1, warmup < 0 ? 2 : warmup,
                                 steps > 0 ? steps : 5, seed);
        fprintf(stderr, "bench_train: --child must be tiny or small, not '%s'\n", child);
        return 2;
    }
    if (steps < 0 || qsteps < 0 || prof_steps < 0) {
        fprintf(stderr, "bench_train: --steps, --quality-steps, --profile-steps must be >= 0\n");
        return 2;
    }
    if (qsteps == 0) qsteps = quick ? 30 : 300;
    if (prof_steps == 0) prof_steps = quick ? 2 : 5;
    int nthreads = openblas_get_num_threads();
    int pk = nthreads >= 2 ? 2 : 1; // the peak the profile (run at nthreads) is judged against
    const char *omp = bench_omp_wait_policy();
    char self[1024], script[1024];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) {
        fprintf(stderr, "bench_train: cannot read /proc/self/exe (hint: Linux only)\n");
        return 1;
    }
    self[sl] = '\0';
    bench_repo_path(script, sizeof script, peer_path);
    printf("bench_train: gpt2 recipe, vocab %d, AdamW; OpenBLAS core %s, %d thread(s) by "
           "default; peer with OMP_WAIT_POLICY=%s\n", VOCAB, bench_blas_corename(), nthreads,
           omp);

    // 1. sgemm peak.
    double peak[3] = {NAN, sgemm_peak(1), sgemm_peak(2)};
    printf("sgemm 1024^3 peak: %.1f GFLOP/s (1 thread), %.1f GFLOP/s (2 threads)\n", peak[1],
           peak[2]);
    fflush(stdout);

    // 2. Step time and peak RSS, one fresh process per side, config and thread count.
    Side ours[2][3], torch[2][3];
    for (int c = 0; c < 2; c++)
        for (int th = 1; th <= 2; th++) {
            const Shape *s = &SHAPES[c];
            ours[c][th] = torch[c][th] = (Side){NAN, NAN, NAN, NAN};
            if (quick && c == 1 && th == 1) continue; // --quick: SMALL on 2 threads only
            int st = steps > 0 ? steps : quick ? (c == 0 ? 3 : 1) : (c == 0 ? 20 : 8);
            int wu = warmup >= 0 ? warmup : quick ? 1 : (c == 0 ? 3 : 2);
            char cmd[2400];
            snprintf(cmd, sizeof cmd, "'%s' --child %s --threads %d --steps %d --warmup %d "
                     "--seed %llu", self, s->name, th, st, wu, (unsigned long long)seed);
            json_t *o = bench_run_peer(cmd);
            ours[c][th] = side_from(o);
            json_decref(o);
            if (!no_peer) {
                snprintf(cmd, sizeof cmd, "OMP_WAIT_POLICY=%.32s /usr/bin/python3 '%s' --mode "
                         "time --config %s --threads %d --steps %d --warmup %d --seed %llu", omp,
                         script, s->name, th, st, wu, (unsigned long long)seed);
                o = bench_run_peer(cmd);
                if (!o) fprintf(stderr, "bench_train: no PEER line from %s (hint: is "
                                "python3-torch installed? `make deps`)\n", script);
                torch[c][th] = side_from(o);
                json_decref(o);
            }
            fflush(stdout);
        }

    // 3. Profile.
    // The peak again, keeping the better one: a busy neighbour during part 1 would otherwise
    // make the matmul look faster than the peak.
    peak[pk] = fmax(peak[pk], sgemm_peak(pk));
    const Shape *ps = &SHAPES[strcmp(prof_config, "small") == 0];
    Profile prof = run_profile(ps, 2, prof_steps, seed);
    printf("forward+backward %.1f ms/step wall (profiled ops %.1f ms), clip+AdamW+zero_grad "
           "%.1f ms/step\n", prof.ms_fwdbwd, prof.ms_profiled, prof.ms_opt);
    printf("matmul: %.1f GFLOP/s achieved = %.0f%% of the %d-thread sgemm peak (%.1f); "
           "%.1f%% of the op time\n", prof.matmul_gflops,
           100.0 * prof.matmul_gflops / peak[pk], pk, peak[pk], prof.matmul_share);
    fflush(stdout);

    // 4. Quality at equal steps.
    double val0 = NAN, val = NAN, val_time = NAN, train_s = NAN, extra_s = 0.0;
    int64_t steps_time = 0, n_ids = 0, n_val = 0;
    json_t *pq = NULL;
    int32_t *ids = corpus_ids(&n_ids);
    if (!ids) {
        fprintf(stderr, "bench_train: %s\n", err_msg());
    } else {
        const Shape *s = &SHAPES[0];
        TfConfig cfg = model_config(s);
        TfModel *m = tf_model_create(&cfg, seed);
        TfTrainConfig tc = train_config(s, qsteps, seed);
        // As tf_train_create splits (the peer is given the same count).
        n_val = (int64_t)llround((double)n_ids * (double)tc.val_fraction);
        TfTrain *tr = tf_train_create(m, ids, n_ids, &tc);
        val0 = tf_train_eval(tr);
        double t0 = bench_now();
        for (int i = 0; i < qsteps; i++) tf_train_step(tr, NULL);
        train_s = bench_now() - t0;
        val = tf_train_eval(tr);
        printf("\nquality, TINY, %lld tokens (%lld validation): ours %d steps in %.2f s, val "
               "loss %.4f -> %.4f\n", (long long)n_ids, (long long)n_val, qsteps, train_s, val0,
               val);
        fflush(stdout);
        char path[1200];
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/bench_train_tokens_%d.i32", tmp && *tmp ? tmp : "/tmp",
                 (int)getpid());
        if (!no_peer && write_ids(path, ids, n_ids) == ERR_OK) {
            char cmd[2600];
            snprintf(cmd, sizeof cmd, "OMP_WAIT_POLICY=%.32s /usr/bin/python3 '%s' --mode "
                     "quality --config tiny --threads %d --steps %d --tokens '%s' --n-val %lld "
                     "--seed %llu", omp, script, nthreads, qsteps, path, (long long)n_val,
                     (unsigned long long)seed);
            pq = bench_run_peer(cmd);
            unlink(path);
        } else if (!no_peer) {
            fprintf(stderr, "bench_train: %s\n", err_msg());
        }
        // 5. Quality at torch's training time.
        double their_s = bench_json_number(pq, "train_s");
        if (!isnan(their_s) && train_s < their_s) {
            while (train_s + extra_s < their_s) {
                double t1 = bench_now();
                tf_train_step(tr, NULL);
                extra_s += bench_now() - t1;
                steps_time++;
            }
            val_time = tf_train_eval(tr);
            printf("ours continued %lld more steps (at lr 1e-4) to %.2f s = torch's %.2f s: val "
                   "loss %.4f\n", (long long)steps_time, train_s + extra_s, their_s, val_time);
        }
        tf_train_free(tr);
        tf_model_free(m);
        free(ids);
    }

    // Tables.
    printf("\nstep time, median ms/step (peer: torch %s, OMP_WAIT_POLICY=%s)\n",
           pq ? bench_json_string(pq, "torch", "?") : "", omp);
    printf("%-16s %10s %10s %7s %6s %9s | %9s %9s %7s\n", "config", "ours", "torch", "ratio",
           "goal", "", "RSS ours", "RSS torch", "ratio");
    json_t *speed = json_array();
    for (int c = 0; c < 2; c++)
        for (int th = 1; th <= 2; th++) {
            const Side *a = &ours[c][th], *b = &torch[c][th];
            double r = a->ms / b->ms, rr = a->rss_mb / b->rss_mb;
            char label[32];
            snprintf(label, sizeof label, "%s %d thr", SHAPES[c].name, th);
            printf("%-16s %10.1f %10.1f %7.2f %6.2f %9s | %6.0f MB %6.0f MB %7.2f\n", label,
                   a->ms, b->ms, r, SHAPES[c].goal, verdict(r, SHAPES[c].goal), a->rss_mb,
                   b->rss_mb, rr);
            json_t *row = json_object();
            json_object_set_new(row, "config", json_string(SHAPES[c].name));
            json_object_set_new(row, "threads", json_integer(th));
            json_object_set_new(row, "ms_ours", jnum(a->ms));
            json_object_set_new(row, "ms_torch", jnum(b->ms));
            json_object_set_new(row, "ms_min_ours", jnum(a->ms_min));
            json_object_set_new(row, "ms_min_torch", jnum(b->ms_min));
            json_object_set_new(row, "ratio", jnum(r));
            json_object_set_new(row, "goal", json_real(SHAPES[c].goal));
            json_object_set_new(row, "met",
                                isnan(r) ? json_null() : json_boolean(r <= SHAPES[c].goal));
            json_object_set_new(row, "rss_mb_ours", jnum(a->rss_mb));
            json_object_set_new(row, "rss_mb_torch", jnum(b->rss_mb));
            json_object_set_new(row, "rss_mb_torch_import", jnum(b->rss_import_mb));
            json_array_append_new(speed, row);
        }
    printf("(RSS: peak of the whole process; torch's `import torch` alone: %.0f MB)\n",
           torch[0][2].rss_import_mb);

    double tv = bench_json_number(pq, "val_loss"), ts = bench_json_number(pq, "train_s");
    double diff = val - tv;
    printf("\nquality, TINY, %d steps, %d threads    %10s %10s\n", qsteps, nthreads, "ours",
           "torch");
    printf("%-36s %10.4f %10.4f\n", "val loss before training", val0,
           bench_json_number(pq, "val_loss_init"));
    printf("%-36s %10.4f %10.4f   diff %+.4f (goal |diff| <= %.2f: %s)\n",
           "val loss after equal steps", val, tv, diff, GOAL_VAL_DIFF,
           isnan(diff) ? "n/a" : fabs(diff) <= GOAL_VAL_DIFF ? "met" : "NOT met");
    printf("%-36s %10.2f %10.2f   ratio %.2f\n", "training wall time (s)", train_s, ts,
           train_s / ts);
    printf("%-36s %10.4f %10.4f   (%lld extra steps; goal lower: %s)\n",
           "val loss after torch's wall time", val_time, tv, (long long)steps_time,
           isnan(val_time) ? "n/a" : val_time < tv ? "met" : "NOT met");

    json_t *out = json_object();
    json_object_set_new(out, "bench", json_string("train"));
    json_object_set_new(out, "corename", json_string(bench_blas_corename()));
    json_object_set_new(out, "threads_default", json_integer(nthreads));
    json_object_set_new(out, "omp_wait_policy", json_string(omp));
    json_object_set_new(out, "quick", json_boolean(quick));
    json_object_set_new(out, "sgemm_peak_gflops_1t", jnum(peak[1]));
    json_object_set_new(out, "sgemm_peak_gflops_2t", jnum(peak[2]));
    json_object_set_new(out, "speed", speed);
    json_t *pj = json_object();
    json_object_set_new(pj, "config", json_string(ps->name));
    json_object_set_new(pj, "steps", json_integer(prof_steps));
    json_object_set_new(pj, "ms_fwdbwd", jnum(prof.ms_fwdbwd));
    json_object_set_new(pj, "ms_profiled", jnum(prof.ms_profiled));
    json_object_set_new(pj, "ms_optim", jnum(prof.ms_opt));
    json_object_set_new(pj, "matmul_gflops", jnum(prof.matmul_gflops));
    json_object_set_new(pj, "matmul_share_pct", jnum(prof.matmul_share));
    json_object_set_new(pj, "matmul_of_peak", jnum(prof.matmul_gflops / peak[pk]));
    json_object_set_new(pj, "attention_gflops", jnum(prof.attn_gflops));
    json_object_set_new(pj, "attention_share_pct", jnum(prof.attn_share));
    json_object_set_new(out, "profile", pj);
    json_t *qj = json_object();
    json_object_set_new(qj, "steps", json_integer(qsteps));
    json_object_set_new(qj, "tokens", json_integer(n_ids));
    json_object_set_new(qj, "val_tokens", json_integer(n_val));
    json_object_set_new(qj, "val_loss_ours", jnum(val));
    json_object_set_new(qj, "val_loss_torch", jnum(tv));
    json_object_set_new(qj, "val_diff", jnum(diff));
    json_object_set_new(qj, "train_s_ours", jnum(train_s));
    json_object_set_new(qj, "train_s_torch", jnum(ts));
    json_object_set_new(qj, "val_loss_ours_at_torch_time", jnum(val_time));
    json_object_set_new(qj, "extra_steps", json_integer(steps_time));
    json_object_set_new(out, "quality", qj);
    char *js = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("BENCH %s\n", js);
    free(js);
    json_decref(out);
    json_decref(pq);
    return 0;
}
