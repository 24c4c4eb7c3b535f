/*
 * bench_core.c: what the tensor engine costs on top of the raw math.
 *
 * Two questions, each answered side by side in one run:
 *
 *   1. Matmul. Is tensor_matmul as fast as calling cblas_sgemm by hand on the same shapes?
 *      For every shape we time (a) raw cblas_sgemm on preallocated buffers and (b)
 *      tensor_matmul inside a Graph, reset every iteration, first forward only (grad recording
 *      off), then forward + backward (both operands require grad) against the three sgemm
 *      calls that math needs: C = A B, dA += dC B^T, dB += A^T dC. We report GFLOP/s for
 *      both sides and ratio = tensor / raw throughput. Goal: ratio >= 0.95 for every product
 *      of 256^3 multiply-adds or more per sgemm call (smaller ones are shown, not judged).
 *
 *   2. Graph overhead. What does one small op cost when it goes through the graph? A chain of
 *      1,000 elementwise ops (tanh, mul_scalar, add_scalar in turn) on a tiny tensor, forward
 *      and then backward from tensor_sum_all, against the same chain written as plain C loops.
 *      engine - plain = what the engine adds per op (node allocation, naming, broadcasting
 *      setup, the backward walk).
 *
 * Method. clock_gettime(CLOCK_MONOTONIC). Each sample runs a side `inner` times (calibrated so
 * a sample lasts ~2 ms), samples of the two sides alternate and swap order every time, so
 * frequency drift and a noisy neighbour hit both sides alike. We keep sampling until each side
 * has spent its time budget (0.2 s; less in --quick) and report the median per-call time.
 * The ratio is the median over sample pairs of raw time / tensor time: the two samples of a
 * pair ran back to back, so a burst of load from another process spoils one pair, not the
 * figure. (So it can differ slightly from the quotient of the two GFLOP/s columns.) We also
 * print how many cores other processes kept busy meanwhile (/proc/stat minus our own CPU
 * time): on a busy machine, rerun.
 * Both sides read the very same input buffers (64-byte aligned arena memory); before timing a
 * shape we check that the engine's output and gradients equal the raw ones.
 *
 * Threads: OpenBLAS reads OPENBLAS_NUM_THREADS itself (default: all cores); we only print what
 * it uses and its core type (OPENBLAS_CORETYPE is set by the environment and never touched).
 *
 * Output: an aligned table on stdout, then one line `BENCH {"bench":"core",...}` with every
 * figure, for scripts.
 *
 * Glossary: M, K, N = rows, inner, columns of a product; batch = independent products.
 */
#include "bench/common/bench_util.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/rng.h"
#include "core/tensor.h"

#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GOAL_RATIO 0.95
#define GOAL_WORK  (256.0 * 256.0 * 256.0) // multiply-adds per sgemm call where the goal applies
#define CHAIN_OPS  1000

// ---------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------

typedef struct {
    double budget_s; // time each side spends sampling one measurement
    double sample_s; // target length of one sample (calibrates the inner repeat count)
    int min_samples; // at least this many samples per side, whatever the budget
    int max_samples; // and at most this many
} Timing;

// Seconds of CPU time the whole machine has spent busy (all cores, including time stolen by
// the hypervisor) since boot, from /proc/stat; -1 when it cannot be read.
static double machine_busy_s(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n != 8) return -1;
    // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static double process_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// ---------------------------------------------------------------------------
// Matmul cases
// ---------------------------------------------------------------------------

typedef struct {
    const char *name;
    int64_t batch, M, K, N;
    bool b_trans; // B is stored as (N, K) and used transposed: x @ W^T
} Shape;

static const Shape shapes[] = {
    {"square 64", 1, 64, 64, 64, false},
    {"square 128", 1, 128, 128, 128, false},
    {"square 256", 1, 256, 256, 256, false},
    {"square 512", 1, 512, 512, 512, false},
    {"square 1024", 1, 1024, 1024, 1024, false},
    // One step of the TINY GPT: B*T = 16*128 = 2048 rows, C = 128, 4 heads of 32, vocab 65.
    {"gpt qkv", 1, 2048, 128, 384, false},
    {"gpt attn-proj", 1, 2048, 128, 128, false},
    {"gpt fc", 1, 2048, 128, 512, false},
    {"gpt fc-proj", 1, 2048, 512, 128, false},
    {"gpt lm-head W^T", 1, 2048, 128, 65, true},
    {"gpt attn q@k^T", 64, 128, 32, 128, true},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

// Everything one shape needs. The tensors A, B live in a persistent arena; the raw side reads
// their data directly, so both sides multiply the same bytes.
typedef struct {
    const Shape *s;
    Tensor *A;           // (batch?, M, K), requires grad
    Tensor *B;           // (batch?, K, N), or (batch?, N, K) when b_trans; requires grad
    float *C;            // raw output (batch, M, N)
    float *dA, *dB;      // raw gradients, same layouts as A, B
    float *dC;           // upstream gradient of C (batch, M, N), shared by both sides
    Graph *g_fwd, *g_fb; // forward-only graph (recording off) and forward+backward graph
    Tensor *out;         // the last tensor output (for the correctness check)
} Case;

typedef enum { RAW_FWD, TENSOR_FWD, RAW_FWDBWD, TENSOR_FWDBWD } Side;

static void raw_forward(Case *c)
{
    const Shape *s = c->s;
    int M = (int)s->M, K = (int)s->K, N = (int)s->N;
    for (int64_t b = 0; b < s->batch; b++) {
        const float *a = c->A->data + b * s->M * s->K, *w = c->B->data + b * s->K * s->N;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, s->b_trans ? CblasTrans : CblasNoTrans, M, N, K,
                    1.0f, a, K, w, s->b_trans ? K : N, 0.0f, c->C + b * s->M * s->N, N);
    }
}

// The two gradient products that backward needs, accumulating (beta = 1) as the engine does.
static void raw_backward(Case *c)
{
    const Shape *s = c->s;
    int M = (int)s->M, K = (int)s->K, N = (int)s->N;
    for (int64_t b = 0; b < s->batch; b++) {
        int64_t oa = b * s->M * s->K, ob = b * s->K * s->N, oc = b * s->M * s->N;
        const float *a = c->A->data + oa, *w = c->B->data + ob, *dc = c->dC + oc;
        // dA (M, K) += dC (M, N) op(B)^T (N, K); op(B)^T is W itself when B = W^T.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, s->b_trans ? CblasNoTrans : CblasTrans, M, K, N,
                    1.0f, dc, N, w, s->b_trans ? K : N, 1.0f, c->dA + oa, K);
        if (!s->b_trans) // dB (K, N) += A^T (K, M) dC (M, N)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, a, K, dc, N, 1.0f,
                        c->dB + ob, N);
        else // dW (N, K) += dC^T (N, M) A (M, K), the transpose of the line above
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dc, N, a, K, 1.0f,
                        c->dB + ob, K);
    }
}

// The engine's version: a fresh graph step each call, as a training loop does it.
static Tensor *tensor_step(Case *c, Graph *g, bool backward)
{
    graph_reset(g);
    Tensor *b = c->s->b_trans ? tensor_transpose(g, c->B, -2, -1) : c->B;
    Tensor *out = tensor_matmul(g, c->A, b);
    if (backward) graph_backward_with(g, out, c->dC);
    return out;
}

static void run_side(Case *c, Side side, int64_t inner)
{
    for (int64_t r = 0; r < inner; r++) {
        switch (side) {
        case RAW_FWD: raw_forward(c); break;
        case TENSOR_FWD: c->out = tensor_step(c, c->g_fwd, false); break;
        case RAW_FWDBWD:
            raw_forward(c);
            raw_backward(c);
            break;
        case TENSOR_FWDBWD: c->out = tensor_step(c, c->g_fb, true); break;
        }
    }
}

// ---------------------------------------------------------------------------
// Interleaved measurement of two sides (any pair: matmul sides or chain sides)
// ---------------------------------------------------------------------------

typedef struct {
    double med_s[2];  // median seconds per call of side 0 and side 1
    double min_s[2];  // fastest sample of each side (the least disturbed one)
    double med_ratio; // median over sample pairs of time(side 0) / time(side 1)
    int samples;
} Pair;

// run(ctx, which, inner) runs side `which` (0 or 1) `inner` times. A callback, because this one
// loop serves both benchmarks; the timed work itself holds no indirection.
typedef void (*RunFn)(void *ctx, int which, int64_t inner);

static Pair measure_pair(const Timing *tm, RunFn run, void *ctx)
{
    // Warm up both sides (page faults, arena high-water, OpenBLAS's thread pool), then
    // calibrate the repeat count from the slower side so one sample lasts ~sample_s.
    double per[2];
    for (int w = 0; w < 2; w++) {
        run(ctx, w, 1);
        double t0 = bench_now();
        run(ctx, w, 1);
        per[w] = bench_now() - t0;
    }
    double slow = per[0] > per[1] ? per[0] : per[1];
    int64_t inner = slow > 0 ? (int64_t)(tm->sample_s / slow) : 1;
    if (inner < 1) inner = 1;

    double *v[2], *ratio = xmalloc(sizeof(double) * (size_t)tm->max_samples);
    for (int w = 0; w < 2; w++) v[w] = xmalloc(sizeof(double) * (size_t)tm->max_samples);
    double spent[2] = {0, 0};
    int n = 0;
    while (n < tm->max_samples &&
           (n < tm->min_samples || spent[0] < tm->budget_s || spent[1] < tm->budget_s)) {
        for (int k = 0; k < 2; k++) {
            int w = (n + k) % 2; // alternate which side goes first
            double t0 = bench_now();
            run(ctx, w, inner);
            double dt = bench_now() - t0;
            spent[w] += dt;
            v[w][n] = dt / (double)inner;
        }
        // The two samples of a pair ran back to back, so they saw the same machine: a burst
        // of load from another process spoils one pair, and the median drops it.
        ratio[n] = v[0][n] / v[1][n];
        n++;
    }
    Pair p = {.samples = n, .med_ratio = bench_median(ratio, n)};
    free(ratio);
    for (int w = 0; w < 2; w++) {
        p.med_s[w] = bench_median(v[w], n); // sorts v[w]
        p.min_s[w] = v[w][0];
        free(v[w]);
    }
    return p;
}

typedef struct {
    Case *c;
    bool backward;
} MatmulCtx;

static void run_matmul(void *ctx, int which, int64_t inner)
{
    MatmulCtx *m = ctx;
    Side side = m->backward ? (which ? TENSOR_FWDBWD : RAW_FWDBWD) : (which ? TENSOR_FWD : RAW_FWD);
    run_side(m->c, side, inner);
}

// ---------------------------------------------------------------------------
// Correctness: the engine must compute what the raw calls compute
// ---------------------------------------------------------------------------

static double max_rel_diff(const float *x, const float *y, int64_t n)
{
    double worst = 0, scale = 1e-6;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)y[i]));
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)x[i] - (double)y[i]));
    return worst / scale;
}

// Runs each side once from zeroed gradients and compares C, dA, dB. sgemm may sum in a
// different order for different transpose flags, so allow float rounding (1e-5 relative).
static bool case_verify(Case *c)
{
    const Shape *s = c->s;
    int64_t na = tensor_numel(c->A), nb = tensor_numel(c->B), nc = s->batch * s->M * s->N;
    tensor_zero_grad(c->A);
    tensor_zero_grad(c->B);
    memset(c->dA, 0, (size_t)na * sizeof(float));
    memset(c->dB, 0, (size_t)nb * sizeof(float));
    run_side(c, RAW_FWDBWD, 1);
    run_side(c, TENSOR_FWDBWD, 1);
    double e[3] = {max_rel_diff(c->out->data, c->C, nc), max_rel_diff(c->A->grad, c->dA, na),
                   max_rel_diff(c->B->grad, c->dB, nb)};
    run_side(c, TENSOR_FWD, 1);
    double e_fwd = max_rel_diff(c->out->data, c->C, nc);
    if (e[0] > 1e-5 || e[1] > 1e-5 || e[2] > 1e-5 || e_fwd > 1e-5) {
        fprintf(stderr,
                "bench_core: %s: engine and raw sgemm disagree (rel. diff C %.2g, dA "
                "%.2g, dB %.2g, C without grad %.2g)\n",
                s->name, e[0], e[1], e[2], e_fwd);
        return false;
    }
    return true;
}

static void case_init(Case *c, const Shape *s, Arena *arena, Rng *rng)
{
    memset(c, 0, sizeof *c);
    c->s = s;
    int64_t sa[3] = {s->batch, s->M, s->K};
    int64_t sb[3] = {s->batch, s->b_trans ? s->N : s->K, s->b_trans ? s->K : s->N};
    int nd = s->batch > 1 ? 3 : 2, off = s->batch > 1 ? 0 : 1;
    c->A = tensor_new(arena, DT_F32, nd, sa + off);
    c->B = tensor_new(arena, DT_F32, nd, sb + off);
    tensor_fill_normal(c->A, rng, 0.0f, 1.0f);
    tensor_fill_normal(c->B, rng, 0.0f, 1.0f);
    tensor_set_requires_grad(c->A, arena);
    tensor_set_requires_grad(c->B, arena);
    int64_t nc = s->batch * s->M * s->N;
    c->C = arena_alloc(arena, (size_t)nc * sizeof(float));
    c->dC = arena_alloc(arena, (size_t)nc * sizeof(float));
    for (int64_t i = 0; i < nc; i++) c->dC[i] = rng_normal(rng);
    c->dA = arena_calloc(arena, (size_t)tensor_numel(c->A) * sizeof(float));
    c->dB = arena_calloc(arena, (size_t)tensor_numel(c->B) * sizeof(float));
    c->g_fwd = graph_create(0);
    graph_set_grad_enabled(c->g_fwd, false);
    c->g_fb = graph_create(0);
}

static void case_deinit(Case *c)
{
    graph_free(c->g_fwd);
    graph_free(c->g_fb);
}

// ---------------------------------------------------------------------------
// Graph overhead: a chain of small elementwise ops
// ---------------------------------------------------------------------------

typedef struct {
    int64_t numel;
    Tensor *x; // the leaf (numel,), requires grad
    Graph *g;
    float *act;            // plain side: (CHAIN_OPS + 1, numel) activations
    float *dx;             // plain side: (numel,) gradient of x
    double *t_fwd, *t_bwd; // engine: seconds of forward / backward of every call so far
    int64_t n_calls, cap_calls;
    volatile float sink;
} Chain;

static const float chain_mul = 0.9f, chain_add = 0.1f;

// Op i of the chain: tanh, *0.9, +0.1, tanh, ... Values stay in (-1.1, 1.1).
static void chain_engine(Chain *ch)
{
    graph_reset(ch->g);
    if (ch->n_calls == ch->cap_calls) {
        ch->cap_calls = ch->cap_calls ? 2 * ch->cap_calls : 1024;
        ch->t_fwd = xrealloc(ch->t_fwd, sizeof(double) * (size_t)ch->cap_calls);
        ch->t_bwd = xrealloc(ch->t_bwd, sizeof(double) * (size_t)ch->cap_calls);
    }
    double t0 = bench_now();
    Tensor *y = ch->x;
    for (int i = 0; i < CHAIN_OPS; i++) {
        switch (i % 3) {
        case 0: y = tensor_tanh(ch->g, y); break;
        case 1: y = tensor_mul_scalar(ch->g, y, chain_mul); break;
        default: y = tensor_add_scalar(ch->g, y, chain_add); break;
        }
    }
    Tensor *loss = tensor_sum_all(ch->g, y);
    double t1 = bench_now();
    graph_backward(ch->g, loss);
    ch->t_fwd[ch->n_calls] = t1 - t0;
    ch->t_bwd[ch->n_calls++] = bench_now() - t1;
}

// The same math with nothing around it: keep every activation (tanh's backward needs its
// output), then walk back multiplying the local derivatives, as backprop does.
static void chain_plain(Chain *ch)
{
    int64_t n = ch->numel;
    float *act = ch->act;
    for (int i = 0; i < CHAIN_OPS; i++) {
        const float *in = act + (int64_t)i * n;
        float *out = act + (int64_t)(i + 1) * n;
        switch (i % 3) {
        case 0:
            for (int64_t j = 0; j < n; j++) out[j] = tanhf(in[j]);
            break;
        case 1:
            for (int64_t j = 0; j < n; j++) out[j] = in[j] * chain_mul;
            break;
        default:
            for (int64_t j = 0; j < n; j++) out[j] = in[j] + chain_add;
            break;
        }
    }
    float *d = ch->dx;
    for (int64_t j = 0; j < n; j++) d[j] = 1.0f; // d(sum)/d(y)
    for (int i = CHAIN_OPS - 1; i >= 0; i--) {
        const float *out = act + (int64_t)(i + 1) * n;
        switch (i % 3) {
        case 0:
            for (int64_t j = 0; j < n; j++) d[j] *= 1.0f - out[j] * out[j];
            break;
        case 1:
            for (int64_t j = 0; j < n; j++) d[j] *= chain_mul;
            break;
        default: break; // d(y + s)/dy = 1
        }
    }
    float s = 0;
    for (int64_t j = 0; j < n; j++) s += d[j];
    ch->sink = s; // keeps the compiler from dropping the work
}

static void run_chain(void *ctx, int which, int64_t inner)
{
    Chain *ch = ctx;
    for (int64_t r = 0; r < inner; r++) {
        if (which)
            chain_engine(ch);
        else
            chain_plain(ch);
    }
}

typedef struct {
    int64_t numel;
    double engine_ns, fwd_ns, bwd_ns, plain_ns; // per op, forward + backward unless named
    int samples;
} ChainResult;

static bool chain_measure(int64_t numel, const Timing *tm, Rng *rng, ChainResult *res)
{
    Arena *arena = arena_create(0);
    Chain ch = {.numel = numel, .g = graph_create(0)};
    ch.x = tensor_new(arena, DT_F32, 1, (int64_t[]){numel});
    tensor_fill_uniform(ch.x, rng, -1.0f, 1.0f);
    tensor_set_requires_grad(ch.x, arena);
    ch.act = arena_alloc(arena, (size_t)(CHAIN_OPS + 1) * (size_t)numel * sizeof(float));
    ch.dx = arena_alloc(arena, (size_t)numel * sizeof(float));
    memcpy(ch.act, ch.x->data, (size_t)numel * sizeof(float));

    // Both sides must agree on d(sum)/dx before their speed means anything.
    tensor_zero_grad(ch.x);
    chain_engine(&ch);
    chain_plain(&ch);
    double e = max_rel_diff(ch.x->grad, ch.dx, numel);
    bool ok = e <= 1e-5;
    if (!ok)
        fprintf(stderr,
                "bench_core: op chain at %lld element(s): engine and plain C gradients "
                "disagree (rel. diff %.2g)\n",
                (long long)numel, e);

    ch.n_calls = 0; // forget the check above; the split is over the timed calls (+2 warm-ups)
    Pair p = measure_pair(tm, run_chain, &ch);
    *res = (ChainResult){
        .numel = numel,
        .plain_ns = p.med_s[0] * 1e9 / CHAIN_OPS,
        .engine_ns = p.med_s[1] * 1e9 / CHAIN_OPS,
        .fwd_ns = bench_median(ch.t_fwd, (int)ch.n_calls) * 1e9 / CHAIN_OPS,
        .bwd_ns = bench_median(ch.t_bwd, (int)ch.n_calls) * 1e9 / CHAIN_OPS,
        .samples = p.samples,
    };
    free(ch.t_fwd);
    free(ch.t_bwd);
    graph_free(ch.g);
    arena_free(arena);
    return ok;
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

typedef struct {
    double raw_gflops, tensor_gflops, ratio;
    double ratio_best; // fastest tensor sample against fastest raw sample: a cross-check
    int samples;
} Speed;

typedef struct {
    const Shape *s;
    Speed fwd, fb;
    bool in_goal; // per-sgemm work >= 256^3: the >= 0.95 goal applies
} MatmulResult;

typedef struct {
    MatmulResult mm[N_SHAPES];
    int n_mm;
    ChainResult chain[2];
    int n_chain;
    double min_fwd, min_fb; // lowest ratios among the shapes the goal applies to (NAN: none)
    const char *min_fwd_at;
    bool ok; // every correctness check passed
} Results;

static Speed speed_of(Pair p, double flop)
{
    Speed sp = {.samples = p.samples};
    sp.raw_gflops = flop / p.med_s[0] * 1e-9;
    sp.tensor_gflops = flop / p.med_s[1] * 1e-9;
    sp.ratio = p.med_ratio; // raw time / tensor time = tensor throughput / raw throughput
    sp.ratio_best = p.min_s[0] / p.min_s[1];
    return sp;
}

// True when `name` is selected by --only (a substring; NULL selects everything).
static bool selected(const char *name, const char *only)
{
    return !only || strstr(name, only);
}

static void matmul_table(const Timing *tm, const char *only, Rng *rng, Results *res)
{
    printf("\nmatmul: tensor_matmul vs raw cblas_sgemm, GFLOP/s (median), ratio = tensor/raw "
           "(median of pairs)\n");
    printf("%-17s %5s %5s %5s %5s | %8s %8s %6s | %8s %8s %6s | %s\n", "shape", "batch", "M", "K",
           "N", "fwd raw", "tensor", "ratio", "f+b raw", "tensor", "ratio", "goal");
    res->min_fwd = res->min_fb = NAN;
    res->min_fwd_at = "-";
    for (int i = 0; i < N_SHAPES; i++) {
        const Shape *s = &shapes[i];
        if (!selected(s->name, only)) continue;
        Arena *arena = arena_create(0);
        Case c;
        case_init(&c, s, arena, rng);
        res->ok &= case_verify(&c);
        double flop = 2.0 * (double)s->batch * (double)s->M * (double)s->K * (double)s->N;
        MatmulCtx fwd = {.c = &c, .backward = false}, fb = {.c = &c, .backward = true};
        MatmulResult *r = &res->mm[res->n_mm++];
        r->s = s;
        r->fwd = speed_of(measure_pair(tm, run_matmul, &fwd), flop);
        r->fb = speed_of(measure_pair(tm, run_matmul, &fb), 3.0 * flop);
        r->in_goal = (double)s->M * (double)s->K * (double)s->N >= GOAL_WORK;
        const char *goal = !r->in_goal ? "-" : r->fwd.ratio >= GOAL_RATIO ? "ok" : "LOW";
        printf("%-17s %5lld %5lld %5lld %5lld | %8.1f %8.1f %6.3f | %8.1f %8.1f %6.3f | %s\n",
               s->name, (long long)s->batch, (long long)s->M, (long long)s->K, (long long)s->N,
               r->fwd.raw_gflops, r->fwd.tensor_gflops, r->fwd.ratio, r->fb.raw_gflops,
               r->fb.tensor_gflops, r->fb.ratio, goal);
        fflush(stdout);
        case_deinit(&c);
        arena_free(arena);
        if (!r->in_goal) continue;
        if (isnan(res->min_fwd) || r->fwd.ratio < res->min_fwd)
            res->min_fwd = r->fwd.ratio, res->min_fwd_at = s->name;
        if (isnan(res->min_fb) || r->fb.ratio < res->min_fb) res->min_fb = r->fb.ratio;
    }
    if (!isnan(res->min_fwd))
        printf("goal: forward ratio >= %.2f on every product of >= 256^3 multiply-adds per "
               "sgemm: %s (lowest %.3f, %s; fwd+bwd lowest %.3f)\n",
               GOAL_RATIO, res->min_fwd >= GOAL_RATIO ? "met" : "NOT met", res->min_fwd,
               res->min_fwd_at, res->min_fb);
}

static void chain_table(const Timing *tm, const char *only, Rng *rng, Results *res)
{
    static const int64_t numel[2] = {16, 1};
    printf("\ngraph overhead: chain of %d elementwise ops (tanh, mul_scalar, add_scalar), "
           "forward + backward, ns per op (median)\n",
           CHAIN_OPS);
    printf("%7s | %9s %7s %7s | %9s | %9s\n", "numel", "engine", "(fwd", "bwd)", "plain C",
           "overhead");
    for (int i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "chain %lld", (long long)numel[i]);
        if (!selected(name, only)) continue;
        ChainResult *r = &res->chain[res->n_chain++];
        res->ok &= chain_measure(numel[i], tm, rng, r);
        printf("%7lld | %9.1f %7.1f %7.1f | %9.1f | %9.1f\n", (long long)r->numel, r->engine_ns,
               r->fwd_ns, r->bwd_ns, r->plain_ns, r->engine_ns - r->plain_ns);
        fflush(stdout);
    }
    printf("(engine and plain C: median per call of interleaved samples; fwd and bwd: medians\n"
           " of single calls, so they need not add up exactly)\n");
}

static void json_speed(const char *key, Speed sp)
{
    printf("\"%s\":{\"gflops_raw\":%.2f,\"gflops_tensor\":%.2f,\"ratio\":%.4f,"
           "\"ratio_best\":%.4f,\"samples\":%d}",
           key, sp.raw_gflops, sp.tensor_gflops, sp.ratio, sp.ratio_best, sp.samples);
}

// A ratio for JSON: a number, or null when no shape of the goal ran (--only).
static void json_ratio(const char *key, double v)
{
    if (isnan(v))
        printf("\"%s\":null", key);
    else
        printf("\"%s\":%.4f", key, v);
}

// The one machine-readable line. Shape names are fixed strings without quotes or backslashes.
static void json_line(const char *core, int threads, bool quick, const Timing *tm, double elapsed,
                      double others, const Results *res)
{
    printf("BENCH {\"bench\":\"core\",\"corename\":\"%s\",\"threads\":%d,\"quick\":%s,"
           "\"budget_s\":%.3f,\"elapsed_s\":%.2f,\"other_cores\":%.2f,\"matmul\":[",
           core, threads, quick ? "true" : "false", tm->budget_s, elapsed, others);
    for (int i = 0; i < res->n_mm; i++) {
        const MatmulResult *r = &res->mm[i];
        printf("%s{\"shape\":\"%s\",\"batch\":%lld,\"m\":%lld,\"k\":%lld,\"n\":%lld,"
               "\"b_trans\":%s,\"in_goal\":%s,",
               i ? "," : "", r->s->name, (long long)r->s->batch, (long long)r->s->M,
               (long long)r->s->K, (long long)r->s->N, r->s->b_trans ? "true" : "false",
               r->in_goal ? "true" : "false");
        json_speed("fwd", r->fwd);
        printf(",");
        json_speed("fwdbwd", r->fb);
        printf("}");
    }
    printf("],\"goal\":{\"ratio\":%.2f,", GOAL_RATIO);
    json_ratio("min_fwd_ratio", res->min_fwd);
    printf(",");
    json_ratio("min_fwdbwd_ratio", res->min_fb);
    printf(",\"met\":%s},\"graph\":[", isnan(res->min_fwd)          ? "null"
                                       : res->min_fwd >= GOAL_RATIO ? "true"
                                                                    : "false");
    for (int i = 0; i < res->n_chain; i++) {
        const ChainResult *r = &res->chain[i];
        printf("%s{\"numel\":%lld,\"ops\":%d,\"ns_per_op\":%.1f,\"fwd_ns_per_op\":%.1f,"
               "\"bwd_ns_per_op\":%.1f,\"plain_ns_per_op\":%.1f,\"overhead_ns_per_op\":%.1f,"
               "\"samples\":%d}",
               i ? "," : "", (long long)r->numel, CHAIN_OPS, r->engine_ns, r->fwd_ns, r->bwd_ns,
               r->plain_ns, r->engine_ns - r->plain_ns, r->samples);
    }
    printf("],\"ok\":%s}\n", res->ok ? "true" : "false");
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: bench_core [--quick] [--only SUBSTR] [--help]\n"
        "  Times tensor_matmul against raw cblas_sgemm (forward, and forward+backward) on\n"
        "  square and TINY-GPT shapes, and the graph's per-op overhead on a chain of %d\n"
        "  small elementwise ops. Prints a table, then one line BENCH {\"bench\":\"core\",...}.\n"
        "  --quick        tiny time budget: a smoke run (seconds); figures are rough\n"
        "  --only SUBSTR  run only the rows whose name contains SUBSTR (\"square 256\",\n"
        "                 \"gpt\", \"chain 16\"), e.g. to profile one of them under perf\n"
        "  Threads: set OPENBLAS_NUM_THREADS (default: all cores). Run all with `make bench`.\n"
        "  Exit status: 0, or 1 when the engine's results differ from the raw ones.\n",
        CHAIN_OPS);
}

int main(int argc, char **argv)
{
    Timing tm = {.budget_s = 0.2, .sample_s = 2e-3, .min_samples = 5, .max_samples = 2000};
    bool quick = false;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = true;
            tm = (Timing){.budget_s = 0.01, .sample_s = 5e-4, .min_samples = 3, .max_samples = 200};
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "bench_core: unknown or incomplete argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    const char *core = bench_blas_corename();
    int threads = openblas_get_num_threads();
    const char *env_threads = getenv("OPENBLAS_NUM_THREADS");
    const char *env_core = getenv("OPENBLAS_CORETYPE");
    printf("bench_core: OpenBLAS core %s (OPENBLAS_CORETYPE=%s), %d thread(s) "
           "(OPENBLAS_NUM_THREADS=%s), %d core(s), budget %.2f s per side%s\n",
           core, env_core ? env_core : "unset", threads, env_threads ? env_threads : "unset",
           openblas_get_num_procs(), tm.budget_s, quick ? " (--quick)" : "");

    double t_start = bench_now(), busy_start = machine_busy_s(), cpu_start = process_cpu_s();
    Results res = {.ok = true};
    Rng rng;
    rng_init(&rng, 1234);
    matmul_table(&tm, only, &rng, &res);
    chain_table(&tm, only, &rng, &res);
    double elapsed = bench_now() - t_start;
    // CPU time the machine spent busy that was not ours: other processes (or the hypervisor)
    // competed for the cores, in cores on average over the run.
    double others = (machine_busy_s() - busy_start - (process_cpu_s() - cpu_start)) / elapsed;
    if (busy_start < 0 || !(others > 0)) others = 0;
    printf("\n%.1f s in all; other processes used %.2f core(s) meanwhile%s\n", elapsed, others,
           others > 0.2 ? " (a busy machine: figures are noisy, rerun when it is quiet)" : "");
    json_line(core, threads, quick, &tm, elapsed, others, &res);
    return res.ok ? 0 : 1;
}
