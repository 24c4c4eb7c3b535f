/*
 * generate.c: the KV-cache forward pass (see generate.h for the contract).
 *
 * One forward over n new rows at positions pos..pos+n-1, x (n, C):
 *     x = tok_emb[tokens] (+ pos_emb[pos + i], gpt2)
 *     per layer l:
 *         z = n1(x);  q = z Wq^T (+bq),  k = z Wk^T (+bk),  v = z Wv^T (+bv)
 *         llama: rotate every head of q and k at its position (tf_rope_rotate's angles,
 *                computed once per row: rope_table)
 *         kcache[l][g][pos + i] = k row i, head g; same for v
 *         per head h, g = h / (H / KVH), t = pos + n keys:
 *             S = q_h K_g^T / sqrt(hd)      (n, t)
 *             row i: causal softmax over keys 0..pos+i (tf_attn_softmax_causal)
 *             o_h = S V_g                    (n, hd)
 *         x += o Wo^T (+bo)
 *         z = n2(x);  x += Wdown gelu(Wup z + bup) + bdown      (gpt2)
 *                     x += Wdown (silu(Wgate z) * Wup z)         (llama)
 *     logits = n_f(x[n-1]) E^T   (E = tok_emb when tied, else lm_head)
 * Only the last row goes through the final norm and the vocabulary projection: the caller
 * wants one distribution.
 *
 * Kernels. Prefill (n > 1) multiplies with sgemm. Decode (n == 1) reads every weight once per
 * token for one row, so it is bound by memory bandwidth, and runs this file's own matvec: four
 * rows at a time, 16 partial sums per row that gcc keeps in vector registers (no -ffast-math:
 * nothing is reassociated, the partial sums ARE the order of the sum). It matches cblas_sgemv
 * on one thread and, unlike a BLAS call, can be split between threads at any row. The cache
 * is laid out (L, KVH, max_T, hd), so the keys of one (layer, kv head) are a contiguous
 * (t, hd) matrix; the k and v projections write straight into it.
 *
 * Work split. Each step of a layer is a set of independent CHUNKS, numbered the same way
 * whatever the thread count:
 *     QKV     one per head of q, k and v (H + 2 KVH): the head's rows of the projection, its
 *             bias, RoPE; k and v land in the cache at positions pos..pos+n-1
 *     ATT     one per query head: scores, causal softmax, weighted sum of the values
 *     WO      blocks of rows of Wo (output columns), bias, residual add
 *     FF1     blocks of rows of Wup (and Wgate), bias, activation
 *     FF2     blocks of rows of Wdown, bias, residual add
 *     LOGITS  blocks of rows of the vocabulary projection
 * The norms (C floats per row) run on the calling thread between steps. A chunk computes the
 * same bits whichever thread runs it, so the logits do not depend on the thread count.
 *
 * Threads. With tf_infer_set_threads(s, n > 1) the state owns n - 1 persistent workers
 * (pthreads). For each step the caller publishes the job (an odd generation number), then
 * every thread, the caller included, claims chunks from one atomic counter until none is
 * left, and the caller waits for the chunk count to be complete. Claiming instead of a fixed
 * split matters on a shared machine: a worker the OS has not scheduled simply gets no
 * chunks, and the caller does its share. Waiting spins first (a decode step lasts a few tens
 * of microseconds; a futex wake-up costs about as much, which makes sleeping pools slower
 * than one thread), yields the core after a while, and sleeps on a futex after about a
 * millisecond, so idle workers cost nothing and an oversubscribed machine is not burned.
 * OpenBLAS runs with 1 thread inside a forward (its own pool would fight the workers for
 * the cores); each sgemm of prefill is split by output columns like the matvecs.
 *
 * The job protocol, for a job published as generation g (odd), then closed as g + 1:
 *     caller: wait busy == 0; write the job; next = done = 0; gen = g; wake sleepers;
 *             claim chunks; wait done == chunks; gen = g + 1
 *     worker: wait gen != seen (odd); busy++; if gen is still g claim chunks, done += count;
 *             busy--
 * busy (sequentially consistent with gen) guarantees no worker reads the job while the
 * caller rewrites it: a worker that saw g before the close is counted in busy; one that
 * increments busy after the close sees gen != g and claims nothing.
 */
#include "transformer/generate.h"

#include "core/fastmath.h"

#include "core/err.h"
#include "core/exercise.h"

#include <cblas.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// The steps of a layer (see the top of the file).
typedef enum { PH_QKV, PH_ATT, PH_WO, PH_FF1, PH_FF2, PH_LOGITS } Phase;

// One step's parameters, written by the calling thread while no worker reads them.
typedef struct {
    Phase phase;
    int layer;  // 0..L-1 (unused by PH_LOGITS)
    int n, pos; // rows and their first position
    int rows;   // rows of the weight per chunk (the row-block steps)
    int chunks; // how many chunks the step has
} Job;

typedef struct {
    TfInfer *s;
    int tid;            // 1..threads-1 (0 is the calling thread)
    uint32_t start_gen; // gen when the worker was started
    pthread_t th;
    bool started;
} Worker;

struct TfInfer {
    const TfModel *m; // borrowed
    int max_T;        // cache capacity (positions)
    int len;          // positions cached
    int threads;      // threads of tf_infer_forward (the caller + workers)
    int cap_rows;     // rows the scratch buffers hold
    int cap_thr;      // threads the per-thread score buffers serve
    float *kc, *vc;   // (L, KVH, max_T, hd)
    // scratch, cap_rows rows each
    float *x;      // (n, C) the residual stream
    float *z;      // (n, C) normalised input of a sublayer
    float *q;      // (n, H*hd)
    float *o;      // (n, H*hd) attention output before Wo
    float *y;      // (n, C) sublayer output before the residual add
    float *f1, *f2;// (n, F) MLP hidden (f2: llama's gate)
    float *s;      // (cap_thr, n, max_T) attention scores of one head, per thread
    float *rope;   // (n, hd) RoPE's (cos, sin) pairs of each row's position
    float *logits; // (V,)

    // The worker pool (empty while threads == 1). See the job protocol at the top.
    Worker *wk;    // (threads - 1), owned
    int n_wk;      // length of wk
    int wk_live;   // workers running
    int stalls;    // steps of this forward that waited long for a worker (see pool_run)
    int solo_left; // forwards still to run on the calling thread alone after a stall
    int solo_span; // the last such run of solo forwards (doubles while stalls repeat)
    Job job;
    // The counters below are written for every chunk: padding keeps them off the cache lines
    // of the read-mostly fields above, which every chunk reads.
    char pad[64];
    _Atomic uint32_t gen;    // odd: a job is open; futex word of sleeping workers
    _Atomic uint32_t done;   // chunks finished; futex word of the sleeping caller
    _Atomic int next;        // next chunk to claim
    _Atomic int busy;        // workers inside a job
    _Atomic int wk_sleeping; // workers asleep on gen
    _Atomic int caller_sleeping;
    _Atomic bool quit;
};

// ---------------------------------------------------------------------------
// Kernels: norms, matvec, linear layers
// ---------------------------------------------------------------------------

static void norm_rows(const TfModel *m, float *y, const float *x, const Tensor *w, const Tensor *b,
                      int n)
{
    const TfConfig *c = &m->cfg;
    if (c->arch == TF_GPT2)
        tensor_layernorm_rows(y, NULL, NULL, x, w ? w->data : NULL, b ? b->data : NULL, n,
                              c->d_model, c->norm_eps);
    else
        tensor_rmsnorm_rows(y, NULL, x, w ? w->data : NULL, n, c->d_model, c->norm_eps);
}

#define MV_LANES 16

// The 16 partial sums folded pairwise (lane k + w into lane k): a fixed order.
static float lanes_sum(float *a)
{
    for (int w = MV_LANES / 2; w >= 1; w /= 2)
        for (int k = 0; k < w; k++) a[k] += a[k + w];
    return a[0];
}

// Rows ahead of the current group of four that matvec prefetches (measured on 2 cores:
// software prefetch makes the kernel ~1.3x faster than without and ~1.1x faster than
// cblas_sgemv when the weights come from L3; equal when they stream from memory).
#define MV_PREFETCH_ROWS 8

// y[r] = W[r] . x for the rows r < rows of W (row-major, `in` columns); rows up to
// avail >= rows exist and may be prefetched. Lane k of a row's partial sums accumulates the
// elements i = k (mod 16) in increasing i, and the lanes fold pairwise, so a row gives the same
// bits whether it runs in a group of four or alone. While a group of four rows is summed, the
// rows MV_PREFETCH_ROWS further on are prefetched, one cache line per row and iteration.
static void matvec(float *restrict y, const float *restrict W, const float *restrict x, int rows,
                   int in, int avail)
{
    int body = in - in % MV_LANES, tail = in - body;
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const float *w0 = W + (size_t)r * in, *w1 = w0 + in, *w2 = w1 + in, *w3 = w2 + in;
        float a0[MV_LANES] = {0}, a1[MV_LANES] = {0}, a2[MV_LANES] = {0}, a3[MV_LANES] = {0};
        bool ahead = r + 4 + MV_PREFETCH_ROWS <= avail;
        const char *pf = (const char *)(ahead ? w0 + (size_t)MV_PREFETCH_ROWS * in : w0);
        for (int i = 0; i < body; i += MV_LANES) {
            if (ahead) {
                // The four rows ahead are 4 * in contiguous floats: 4 lines per 16 columns.
                __builtin_prefetch(pf);
                __builtin_prefetch(pf + 64);
                __builtin_prefetch(pf + 128);
                __builtin_prefetch(pf + 192);
                pf += 256;
            }
            for (int k = 0; k < MV_LANES; k++) {
                float xv = x[i + k];
                a0[k] += w0[i + k] * xv;
                a1[k] += w1[i + k] * xv;
                a2[k] += w2[i + k] * xv;
                a3[k] += w3[i + k] * xv;
            }
        }
        for (int k = 0; k < tail; k++) {
            float xv = x[body + k];
            a0[k] += w0[body + k] * xv;
            a1[k] += w1[body + k] * xv;
            a2[k] += w2[body + k] * xv;
            a3[k] += w3[body + k] * xv;
        }
        y[r] = lanes_sum(a0);
        y[r + 1] = lanes_sum(a1);
        y[r + 2] = lanes_sum(a2);
        y[r + 3] = lanes_sum(a3);
    }
    for (; r < rows; r++) {
        const float *w0 = W + (size_t)r * in;
        float a0[MV_LANES] = {0};
        for (int i = 0; i < body; i += MV_LANES)
            for (int k = 0; k < MV_LANES; k++) a0[k] += w0[i + k] * x[i + k];
        for (int k = 0; k < tail; k++) a0[k] += w0[body + k] * x[body + k];
        y[r] = lanes_sum(a0);
    }
}

// Output columns r0..r1-1 of x (n, in) W^T (+ b), W (out, in), i.e. the rows r0..r1-1 of W,
// into y: y points at column r0 of row 0 and rows are ldy apart. The bias is added after the
// product, as the graph adds it (tensor_add after tensor_matmul).
static void linear_cols(float *y, int ldy, const float *x, const Tensor *W, const Tensor *b,
                        int n, int in, int r0, int r1)
{
    const float *Wr = W->data + (size_t)r0 * in;
    int out = (int)(tensor_numel(W) / in);
    if (n == 1)
        matvec(y, Wr, x, r1 - r0, in, out - r0);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, r1 - r0, in, 1.0f, x, in, Wr,
                    in, 0.0f, y, ldy);
    if (b)
        for (int i = 0; i < n; i++)
            for (int j = r0; j < r1; j++) y[(size_t)i * ldy + (j - r0)] += b->data[j];
}

// ---------------------------------------------------------------------------
// RoPE and the causal softmax (exercises)
// ---------------------------------------------------------------------------

void tf_rope_rotate(float *x, int hd, int pos, float base)
{
    // EXERCISE(w03.rope): rotate each adjacent pair (x[2i], x[2i+1]) of the head vector by the
    // angle pos * base^(-2i/hd). Compute the frequency, the angle, cos and sin in double, round
    // cos and sin to float, then x[2i] <- x0 cos - x1 sin, x[2i+1] <- x0 sin + x1 cos (read
    // both x0 and x1 before writing).
    // STUB: exercise_stub("w03.rope"); (void)pos; (void)base;
    // STUB: for (int i = 0; i < hd; i++) x[i] = NAN;
    for (int i = 0; i < hd / 2; i++) {
        double freq = pow((double)base, -2.0 * (double)i / (double)hd);
        double ang = (double)pos * freq;
        float c = (float)cos(ang), s = (float)sin(ang);
        float x0 = x[2 * i], x1 = x[2 * i + 1];
        x[2 * i] = x0 * c - x1 * s;
        x[2 * i + 1] = x0 * s + x1 * c;
    }
    // END EXERCISE
}

void tf_attn_softmax_causal(float *scores, int n_visible, int n_total)
{
    CHECK(n_visible >= 1 && n_visible <= n_total, "attn_softmax_causal: n_visible %d of %d",
          n_visible, n_total);
    // EXERCISE(w03.causal_mask): softmax over scores[0..n_visible) only (the keys the query may
    // see), stably: subtract the max, exponentiate, sum in double, multiply by 1/sum. Then set
    // scores[n_visible..n_total) to exactly 0 (the future gets no weight).
    // STUB: exercise_stub("w03.causal_mask");
    // STUB: for (int j = 0; j < n_total; j++) scores[j] = NAN;
    float mx = -INFINITY;
    for (int j = 0; j < n_visible; j++) mx = scores[j] > mx ? scores[j] : mx;
    double sum = 0.0;
    for (int j = 0; j < n_visible; j++) {
        scores[j] = expf(scores[j] - mx);
        sum += scores[j];
    }
    float r = (float)(1.0 / sum);
    for (int j = 0; j < n_visible; j++) scores[j] *= r;
    for (int j = n_visible; j < n_total; j++) scores[j] = 0.0f;
    // END EXERCISE
}

// The (cos, sin) of every pair of a head at position pos, as cs[2i] = cos, cs[2i+1] = sin:
// exactly what tf_rope_rotate makes of the unit pairs (1, 0) (1 cos - 0 sin = cos and
// 1 sin + 0 cos = sin, with no rounding), so the table is the exercise's own angles.
static void rope_table(float *cs, int hd, int pos, float base)
{
    for (int i = 0; i < hd; i += 2) cs[i] = 1.0f, cs[i + 1] = 0.0f;
    tf_rope_rotate(cs, hd, pos, base);
}

// tf_rope_rotate with the angles of rope_table: the same products and sums, so the same bits.
static void rope_apply(float *x, const float *cs, int hd)
{
    for (int i = 0; i < hd; i += 2) {
        float c = cs[i], s = cs[i + 1];
        float x0 = x[i], x1 = x[i + 1];
        x[i] = x0 * c - x1 * s;
        x[i + 1] = x0 * s + x1 * c;
    }
}

// ---------------------------------------------------------------------------
// The worker pool: spin, then yield, then sleep
// ---------------------------------------------------------------------------

// How long a waiting thread spins (pause instruction) before it starts yielding its core,
// and how long it keeps checking before it sleeps on a futex. A decode step hands out work
// every few microseconds, so waits inside a token end while spinning; the idle time between
// calls ends asleep. Measured on 2 cores shared with other users' jobs (load average 3-6,
// 288x6 decode, 2 threads against 1): spinning 1 ms without yielding, 0.3x; sleeping at once
// (futex only), 0.8x; spinning 5 to 200 us then yielding, 1.0x (no core to gain, none lost).
// On idle cores the same 2 threads run 1.8x faster than 1.
#ifndef TF_INFER_SPIN_NS
#define TF_INFER_SPIN_NS 50000
#endif
#ifndef TF_INFER_YIELD_NS
#define TF_INFER_YIELD_NS 1000000
#endif

// A step STALLS when the caller, done with its own chunks, waits longer than its own work
// plus this for a worker's: the worker was preempted holding a chunk, which happens when
// other programs want the cores. Every step then pays a scheduler time slice, so after a
// forward with a stall the next TF_INFER_SOLO_MIN forwards run on the calling thread alone,
// doubling up to TF_INFER_SOLO_MAX while stalls persist; the first forward after that tries
// the workers again. (Measured, 288x6 decode at load average ~5: without this, 2 threads
// sometimes ran 4x slower than 1.)
#define TF_INFER_STALL_NS 200000
#define TF_INFER_SOLO_MIN 8
#define TF_INFER_SOLO_MAX 256

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// futex(2) on a 32-bit atomic word (private to the process). glibc has no wrapper.
static void futex_wait(_Atomic uint32_t *w, uint32_t expected)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w, int count)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

// Waits until *w != val (until_equal false) or *w == val (true) and returns *w. Spins, yields,
// then sleeps with *sleeping counted, so the waker only makes the futex system call when
// someone sleeps: the waker stores *w then reads *sleeping, the sleeper increments *sleeping
// then lets the kernel compare *w (all sequentially consistent), so one of them sees the other.
static uint32_t wait_word(_Atomic uint32_t *w, uint32_t val, bool until_equal,
                          _Atomic int *sleeping)
{
    int64_t t0 = 0;
    for (uint32_t i = 0;; i++) {
        uint32_t v = atomic_load_explicit(w, memory_order_acquire);
        if ((v == val) == until_equal) return v;
        if ((i & 63) == 63) {
            int64_t t = now_ns();
            if (t0 == 0) t0 = t;
            if (t - t0 > TF_INFER_YIELD_NS) break;
            if (t - t0 > TF_INFER_SPIN_NS) sched_yield();
        }
        cpu_relax();
    }
    for (;;) {
        uint32_t v = atomic_load(w);
        if ((v == val) == until_equal) return v;
        atomic_fetch_add(sleeping, 1);
        futex_wait(w, v); // returns at once if *w is no longer v
        atomic_fetch_sub(sleeping, 1);
    }
}

static void run_chunk(TfInfer *s, int c, int tid);

// Claims chunks of the open job until none is left; adds the count to done.
static void claim_chunks(TfInfer *s, int tid)
{
    int total = s->job.chunks;
    uint32_t mine = 0;
    for (;;) {
        int c = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
        if (c >= total) break;
        run_chunk(s, c, tid);
        mine++;
    }
    if (mine && tid != 0) {
        atomic_fetch_add(&s->done, mine);
        if (atomic_load(&s->caller_sleeping)) futex_wake(&s->done, 1);
    } else if (mine) {
        atomic_fetch_add_explicit(&s->done, mine, memory_order_relaxed);
    }
}

static void *worker_main(void *arg)
{
    Worker *wk = arg;
    TfInfer *s = wk->s;
    uint32_t seen = wk->start_gen;
    for (;;) {
        uint32_t g = wait_word(&s->gen, seen, false, &s->wk_sleeping);
        seen = g;
        if (atomic_load(&s->quit)) break;
        if (!(g & 1u)) continue; // a close: wait for the next job
        atomic_fetch_add(&s->busy, 1);
        if (atomic_load(&s->gen) == g) claim_chunks(s, wk->tid);
        atomic_fetch_sub(&s->busy, 1);
    }
    return NULL;
}

static void pool_stop(TfInfer *s)
{
    if (!s->wk) return;
    atomic_store(&s->quit, true);
    atomic_fetch_add(&s->gen, 2); // parity kept: even (closed)
    futex_wake(&s->gen, INT_MAX);
    for (int i = 0; i < s->n_wk; i++)
        if (s->wk[i].started) pthread_join(s->wk[i].th, NULL);
    free(s->wk);
    s->wk = NULL;
    s->n_wk = s->wk_live = 0;
    atomic_store(&s->quit, false);
}

// Starts threads - 1 workers. A worker that cannot be created is simply missing: the chunks
// are claimed by whoever runs, so the results are the same.
static void pool_start(TfInfer *s)
{
    int n = s->threads - 1;
    s->wk = xcalloc((size_t)n, sizeof *s->wk);
    s->n_wk = n;
    uint32_t g = atomic_load(&s->gen);
    for (int i = 0; i < n; i++) {
        Worker *wk = &s->wk[i];
        wk->s = s;
        wk->tid = i + 1;
        wk->start_gen = g;
        wk->started = pthread_create(&wk->th, NULL, worker_main, wk) == 0;
        s->wk_live += wk->started;
    }
}

// Runs every chunk of job j on the calling thread and the workers; returns when all are done.
static void pool_run(TfInfer *s, Job j)
{
    if (s->wk_live == 0 || s->solo_left > 0) {
        s->job = j;
        for (int c = 0; c < j.chunks; c++) run_chunk(s, c, 0);
        return;
    }
    // A worker may still be inside the previous job (it found no chunk left): wait it out
    // before rewriting the job. The window is a few instructions, unless it was preempted.
    for (uint32_t i = 0; atomic_load(&s->busy) != 0; i++) {
        if ((i & 1023) == 1023) sched_yield();
        cpu_relax();
    }
    s->job = j;
    atomic_store_explicit(&s->next, 0, memory_order_relaxed);
    atomic_store_explicit(&s->done, 0, memory_order_relaxed);
    uint32_t g = atomic_load_explicit(&s->gen, memory_order_relaxed) + 1; // odd: open
    atomic_store(&s->gen, g);
    if (atomic_load(&s->wk_sleeping)) futex_wake(&s->gen, INT_MAX);
    int64_t t0 = now_ns();
    claim_chunks(s, 0);
    int64_t t1 = now_ns();
    wait_word(&s->done, (uint32_t)j.chunks, true, &s->caller_sleeping);
    if (now_ns() - t1 > t1 - t0 + TF_INFER_STALL_NS) s->stalls++;
    atomic_store(&s->gen, g + 1); // even: closed
}

// Before a forward: whether it runs solo (see TF_INFER_STALL_NS).
static void solo_begin(TfInfer *s)
{
    if (s->solo_left > 0) s->solo_left--;
    s->stalls = 0;
}

// After a forward that used the workers: back off after a stall, else trust them again.
static void solo_end(TfInfer *s, bool used_workers)
{
    if (!used_workers) return;
    if (s->stalls > 0) {
        int span = s->solo_span ? 2 * s->solo_span : TF_INFER_SOLO_MIN;
        s->solo_span = span < TF_INFER_SOLO_MAX ? span : TF_INFER_SOLO_MAX;
        s->solo_left = s->solo_span;
    } else {
        s->solo_span = 0;
    }
}

// ---------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------

static void check_weight(const Tensor *t, int64_t rows, int64_t cols, const char *what)
{
    CHECK(t && t->dtype == DT_F32 && tensor_is_contiguous(t), "tf_infer: %s missing or strided",
          what);
    int64_t n = tensor_numel(t);
    CHECK(n == rows * cols, "tf_infer: %s has %lld elements, want %lld x %lld", what,
          (long long)n, (long long)rows, (long long)cols);
}

// Decoding reads every weight once per token. Above 8 MiB of weights (bench_llama's 288x6,
// 24 MB, and 512x8, 101 MB) decode is bound by cache or memory bandwidth and the second
// core's bandwidth pays: 2 threads ~1.8x faster than 1 on idle cores, equal on an
// oversubscribed machine. Below (TINY, 3 MB) a token's steps last a few microseconds, the
// hand-offs weigh more, and 1 thread stays the default (the pool never made it slower under
// load, but it was not measured on idle cores). The pool size is the one OpenBLAS had at the
// first call (OPENBLAS_NUM_THREADS or the core count).
#define TF_INFER_MT_BYTES (8u << 20)

static int default_threads(const TfModel *m)
{
    static int pool = 0;
    if (pool == 0) pool = openblas_get_num_threads();
    size_t bytes = 0;
    for (int i = 0; i < nn_params_count(m->params); i++)
        bytes += (size_t)tensor_numel(nn_params_at(m->params, i)->t) * sizeof(float);
    return bytes > TF_INFER_MT_BYTES && pool > 1 ? pool : 1;
}

TfInfer *tf_infer_create(const TfModel *m, int max_T)
{
    const TfConfig *c = &m->cfg;
    CHECK(max_T >= 1, "tf_infer_create: max_T = %d", max_T);
    CHECK(c->arch != TF_GPT2 || max_T <= c->ctx,
          "tf_infer_create: max_T %d exceeds the gpt2 position table (ctx %d)", max_T, c->ctx);
    CHECK(c->n_layer >= 1 && c->n_layer <= TF_MAX_LAYERS && c->n_head >= 1 &&
              c->d_model % c->n_head == 0 && c->n_kv_head >= 1 && c->n_head % c->n_kv_head == 0,
          "tf_infer_create: inconsistent config (L %d, C %d, H %d, KVH %d)", c->n_layer,
          c->d_model, c->n_head, c->n_kv_head);
    int C = c->d_model, hd = C / c->n_head, F = c->d_ff;
    CHECK(c->arch != TF_LLAMA || hd % 2 == 0, "tf_infer_create: RoPE needs an even head size");
    // Every weight the forward reads must be a contiguous matrix of the documented shape.
    check_weight(m->tok_emb, c->vocab, C, "token_embd");
    if (c->arch == TF_GPT2) check_weight(m->pos_emb, c->ctx, C, "pos_embd");
    if (!c->tie_embeddings && m->lm_head) check_weight(m->lm_head, c->vocab, C, "output");
    for (int l = 0; l < c->n_layer; l++) {
        const TfLayer *ly = &m->layer[l];
        check_weight(ly->wq, (int64_t)c->n_head * hd, C, "attn_q");
        check_weight(ly->wk, (int64_t)c->n_kv_head * hd, C, "attn_k");
        check_weight(ly->wv, (int64_t)c->n_kv_head * hd, C, "attn_v");
        check_weight(ly->wo, C, (int64_t)c->n_head * hd, "attn_output");
        check_weight(ly->w_up, F, C, "ffn_up");
        check_weight(ly->w_down, C, F, "ffn_down");
        if (c->arch == TF_LLAMA) check_weight(ly->w_gate, F, C, "ffn_gate");
    }
    TfInfer *s = xcalloc(1, sizeof *s);
    s->m = m;
    s->max_T = max_T;
    s->threads = default_threads(m);
    size_t cache = (size_t)c->n_layer * c->n_kv_head * max_T * hd;
    s->kc = xcalloc(cache, sizeof(float));
    s->vc = xcalloc(cache, sizeof(float));
    s->logits = xcalloc((size_t)c->vocab, sizeof(float));
    return s;
}

void tf_infer_free(TfInfer *s)
{
    if (!s) return;
    pool_stop(s);
    free(s->kc);
    free(s->vc);
    free(s->x);
    free(s->z);
    free(s->q);
    free(s->o);
    free(s->y);
    free(s->f1);
    free(s->f2);
    free(s->s);
    free(s->rope);
    free(s->logits);
    free(s);
}

void tf_infer_reset(TfInfer *s) { s->len = 0; }

int tf_infer_len(const TfInfer *s) { return s->len; }

int tf_infer_max_T(const TfInfer *s) { return s->max_T; }

const TfModel *tf_infer_model(const TfInfer *s) { return s->m; }

int tf_infer_set_threads(TfInfer *s, int n)
{
    CHECK(n >= 1, "tf_infer_set_threads: n = %d", n);
    int old = s->threads;
    if (n != old) pool_stop(s); // the next forward starts n - 1 workers
    s->threads = n;
    return old;
}

// Grows the scratch buffers to hold n rows and the score buffers to serve every thread
// (prefill sizes them once; decode reuses them).
static void ensure_scratch(TfInfer *s, int n)
{
    if (n <= s->cap_rows && s->threads <= s->cap_thr) return;
    n = n > s->cap_rows ? n : s->cap_rows;
    int thr = s->threads > s->cap_thr ? s->threads : s->cap_thr;
    const TfConfig *c = &s->m->cfg;
    size_t C = (size_t)c->d_model, hd = C / (size_t)c->n_head;
    size_t qd = (size_t)c->n_head * hd, F = (size_t)c->d_ff;
    size_t r = (size_t)n;
    s->x = xrealloc(s->x, r * C * sizeof(float));
    s->z = xrealloc(s->z, r * C * sizeof(float));
    s->q = xrealloc(s->q, r * qd * sizeof(float));
    s->o = xrealloc(s->o, r * qd * sizeof(float));
    s->y = xrealloc(s->y, r * C * sizeof(float));
    s->f1 = xrealloc(s->f1, r * F * sizeof(float));
    s->f2 = xrealloc(s->f2, r * F * sizeof(float));
    s->s = xrealloc(s->s, (size_t)thr * r * (size_t)s->max_T * sizeof(float));
    s->rope = xrealloc(s->rope, r * hd * sizeof(float));
    s->cap_rows = n;
    s->cap_thr = thr;
}

// ---------------------------------------------------------------------------
// The chunks of each step
// ---------------------------------------------------------------------------

// Rows of the weight per chunk of a row-block step: about 32 KiB of weights in decode (small
// enough to balance two threads, large enough that claiming costs little), at least 64 rows
// in prefill (an sgemm with few columns is slow). A multiple of 16 (whole cache lines of the
// output), independent of the thread count.
static Job row_job(Phase ph, int l, int n, int pos, int out, int in)
{
    int r = n == 1 ? 8192 / in : 64;
    r = r < 16 ? 16 : (r + 15) / 16 * 16;
    r = r < out ? r : out;
    return (Job){ph, l, n, pos, r, (out + r - 1) / r};
}

// q head c (c < H), else k or v head of kv group g: the head's rows of the projection, bias,
// RoPE. k and v are written straight into the cache (rows pos..pos+n-1 of (layer, g)).
static void chunk_qkv(TfInfer *s, int c)
{
    const TfConfig *cf = &s->m->cfg;
    const Job *j = &s->job;
    const TfLayer *ly = &s->m->layer[j->layer];
    int C = cf->d_model, H = cf->n_head, KVH = cf->n_kv_head, hd = C / H, n = j->n;
    bool llama = cf->arch == TF_LLAMA;
    if (c < H) {
        int qd = H * hd;
        float *q = s->q + (size_t)c * hd;
        linear_cols(q, qd, s->z, ly->wq, ly->bq, n, C, c * hd, (c + 1) * hd);
        if (llama)
            for (int i = 0; i < n; i++) rope_apply(q + (size_t)i * qd, s->rope + (size_t)i * hd, hd);
        return;
    }
    bool is_k = c < H + KVH;
    int g = is_k ? c - H : c - H - KVH;
    float *dst = (is_k ? s->kc : s->vc) +
                 (((size_t)j->layer * KVH + g) * s->max_T + (size_t)j->pos) * hd;
    linear_cols(dst, hd, s->z, is_k ? ly->wk : ly->wv, is_k ? ly->bk : ly->bv, n, C, g * hd,
                (g + 1) * hd);
    if (llama && is_k)
        for (int i = 0; i < n; i++) rope_apply(dst + (size_t)i * hd, s->rope + (size_t)i * hd, hd);
}

// Attention of query head h for the job's n rows against the cache, whose rows 0..pos+n-1
// hold this call's keys and values. Writes head h's columns of s->o.
static void chunk_att(TfInfer *s, int h, int tid)
{
    const TfConfig *c = &s->m->cfg;
    const Job *j = &s->job;
    int H = c->n_head, KVH = c->n_kv_head, hd = c->d_model / H, group = H / KVH;
    int n = j->n, pos = j->pos, t = pos + n, qd = H * hd;
    float scale = 1.0f / sqrtf((float)hd);
    size_t at = ((size_t)j->layer * KVH + h / group) * s->max_T * hd;
    const float *K = s->kc + at, *V = s->vc + at; // (t, hd) each
    const float *Q = s->q + (size_t)h * hd;        // n rows at stride qd
    float *O = s->o + (size_t)h * hd;              // n rows at stride qd
    float *S = s->s + (size_t)tid * s->cap_rows * s->max_T; // (n, t), this thread's
    if (n == 1) {
        // S = scale K q (t,), o = V^T p (hd,)
        matvec(S, K, Q, t, hd, t);
        for (int i = 0; i < t; i++) S[i] *= scale;
        tf_attn_softmax_causal(S, t, t);
        for (int k = 0; k < hd; k++) O[k] = 0.0f;
        for (int i = 0; i < t; i++) {
            float p = S[i];
            const float *v = V + (size_t)i * hd;
            for (int k = 0; k < hd; k++) O[k] += p * v[k];
        }
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, t, hd, scale, Q, qd, K, hd, 0.0f,
                    S, t);
        for (int i = 0; i < n; i++) tf_attn_softmax_causal(S + (size_t)i * t, pos + i + 1, t);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, t, 1.0f, S, t, V, hd, 0.0f,
                    O, qd);
    }
}

// Row block c of a row-block step: output columns r0..r1 of every row.
static void chunk_rows(TfInfer *s, int c)
{
    const TfModel *m = s->m;
    const TfConfig *cf = &m->cfg;
    const Job *j = &s->job;
    const TfLayer *ly = &m->layer[j->layer];
    int C = cf->d_model, qd = cf->n_head * (C / cf->n_head), F = cf->d_ff, n = j->n;
    int r0 = c * j->rows, r1 = r0 + j->rows;
    switch (j->phase) {
    case PH_WO:
    case PH_FF2: {
        r1 = r1 < C ? r1 : C;
        if (j->phase == PH_WO)
            linear_cols(s->y + r0, C, s->o, ly->wo, ly->bo, n, qd, r0, r1);
        else
            linear_cols(s->y + r0, C, s->f1, ly->w_down, ly->b_down, n, F, r0, r1);
        for (int i = 0; i < n; i++) {
            float *x = s->x + (size_t)i * C;
            const float *y = s->y + (size_t)i * C;
            for (int k = r0; k < r1; k++) x[k] += y[k];
        }
        break;
    }
    case PH_FF1:
        r1 = r1 < F ? r1 : F;
        linear_cols(s->f1 + r0, F, s->z, ly->w_up, ly->b_up, n, C, r0, r1);
        if (cf->arch == TF_LLAMA) {
            linear_cols(s->f2 + r0, F, s->z, ly->w_gate, NULL, n, C, r0, r1);
            for (int i = 0; i < n; i++) {
                float *f1 = s->f1 + (size_t)i * F;
                const float *f2 = s->f2 + (size_t)i * F;
                for (int k = r0; k < r1; k++) f1[k] = fm_silu(f2[k]) * f1[k];
            }
        } else {
            for (int i = 0; i < n; i++) {
                float *f1 = s->f1 + (size_t)i * F;
                for (int k = r0; k < r1; k++) f1[k] = fm_gelu(f1[k]);
            }
        }
        break;
    case PH_LOGITS: {
        const Tensor *E = m->lm_head && !cf->tie_embeddings ? m->lm_head : m->tok_emb;
        r1 = r1 < cf->vocab ? r1 : cf->vocab;
        linear_cols(s->logits + r0, cf->vocab, s->z, E, NULL, 1, C, r0, r1);
        break;
    }
    default:
        CHECK(false, "tf_infer: step %d is not a row-block step", (int)j->phase);
    }
}

static void run_chunk(TfInfer *s, int c, int tid)
{
    if (s->job.phase == PH_QKV)
        chunk_qkv(s, c);
    else if (s->job.phase == PH_ATT)
        chunk_att(s, c, tid);
    else
        chunk_rows(s, c);
}

// ---------------------------------------------------------------------------
// The forward pass
// ---------------------------------------------------------------------------

const float *tf_infer_forward(TfInfer *s, const int32_t *tokens, int n, int pos)
{
    const TfModel *m = s->m;
    const TfConfig *c = &m->cfg;
    CHECK(n >= 1 && pos >= 0 && pos <= s->len && pos + n <= s->max_T,
          "tf_infer_forward: %d tokens at pos %d with %d cached, capacity %d", n, pos, s->len,
          s->max_T);
    for (int i = 0; i < n; i++)
        CHECK(tokens[i] >= 0 && tokens[i] < c->vocab, "tf_infer_forward: token %d = %d, vocab %d",
              i, (int)tokens[i], c->vocab);
    // OpenBLAS on 1 thread while the chunks run (restored on return): the workers are the
    // second core.
    int blas_prev = openblas_get_num_threads();
    if (blas_prev != 1) openblas_set_num_threads(1);
    if (s->threads > 1 && !s->wk) pool_start(s);
    solo_begin(s);
    bool used_workers = s->wk_live > 0 && s->solo_left == 0;
    ensure_scratch(s, n);
    int C = c->d_model, H = c->n_head, KVH = c->n_kv_head, hd = C / H, F = c->d_ff;
    int qd = H * hd;
    bool llama = c->arch == TF_LLAMA;

    // RoPE's angles depend on the position only: one (cos, sin) table per row serves every
    // head of every layer (pow, cos and sin per pair would otherwise run L * (H + KVH) times).
    if (llama)
        for (int i = 0; i < n; i++) rope_table(s->rope + (size_t)i * hd, hd, pos + i, c->rope_base);

    // Embeddings.
    for (int i = 0; i < n; i++) {
        float *xi = s->x + (size_t)i * C;
        memcpy(xi, m->tok_emb->data + (size_t)tokens[i] * C, (size_t)C * sizeof(float));
        if (!llama) {
            const float *p = m->pos_emb->data + (size_t)(pos + i) * C;
            for (int j = 0; j < C; j++) xi[j] += p[j];
        }
    }

    for (int l = 0; l < c->n_layer; l++) {
        const TfLayer *ly = &m->layer[l];
        // Attention sublayer.
        norm_rows(m, s->z, s->x, ly->attn_norm_w, ly->attn_norm_b, n);
        pool_run(s, (Job){PH_QKV, l, n, pos, 0, H + 2 * KVH});
        pool_run(s, (Job){PH_ATT, l, n, pos, 0, H});
        pool_run(s, row_job(PH_WO, l, n, pos, C, qd));
        // MLP sublayer.
        norm_rows(m, s->z, s->x, ly->ffn_norm_w, ly->ffn_norm_b, n);
        pool_run(s, row_job(PH_FF1, l, n, pos, F, C));
        pool_run(s, row_job(PH_FF2, l, n, pos, C, F));
    }
    s->len = pos + n;

    // Final norm and vocabulary projection of the last row only.
    norm_rows(m, s->z, s->x + (size_t)(n - 1) * C, m->norm_w, m->norm_b, 1);
    pool_run(s, row_job(PH_LOGITS, 0, 1, pos, c->vocab, C));
    solo_end(s, used_workers);
    if (blas_prev != 1) openblas_set_num_threads(blas_prev);
    return s->logits;
}
