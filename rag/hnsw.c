/*
 * hnsw.c: HNSW approximate nearest-neighbour search (see hnsw.h for the algorithm, the
 * deletion policy and the file format).
 *
 * n = nodes, d = dimension, ds = d rounded up to 16 (the stored row stride; the padding is
 * zero, so it adds nothing to a distance and the kernels need no remainder loop),
 * M = links per node on layers >= 1, M0 = 2M on layer 0, ef = candidate list size.
 *
 * Memory layout, chosen for the search's access pattern:
 *   vec      (cap, ds) floats, 64-byte aligned: one row = whole cache lines;
 *   links0   (cap, 1 + M0) int32: [count, id_1 .. id_count, unused], one flat array, so the
 *            layer-0 list of a node is one or two cache lines at a computable address;
 *   links_up per node with level l > 0: (l, 1 + M) int32, layers 1..l (few nodes have any);
 *   visited  (cap) uint16 tags: a node is visited in this search when its tag equals the
 *            current generation, so starting a search is one increment, not a memset of n
 *            (the memset happens once every 65,535 searches, when the counter wraps).
 */
#include "rag/hnsw.h"

#include "core/err.h"
#include "core/exercise.h"
#include "core/io.h"
#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define HNSW_MAGIC "RAGHNSW"  // + the terminating NUL: 8 bytes
#define HNSW_VERSION 1u
#define HNSW_HEADER 96
#define HNSW_MAX_DIM (1 << 20)
// Software prefetch in SEARCH-LAYER: a neighbour's row is requested a few neighbours before
// its distance is computed, at most HNSW_PREFETCH_LINES cache lines of it (64 lines = 1024
// floats: the whole row for d <= 1024). How many neighbours ahead: enough to keep about
// HNSW_PREFETCH_INFLIGHT lines requested, and at least 2 (2 rows of 49 lines at d = 784,
// chosen by measurement on Fashion-MNIST; 16 rows of 2 lines at d = 32, where a distance is
// a few cycles and one row ahead would arrive too late).
#define HNSW_PREFETCH_LINES 64
#define HNSW_PREFETCH_INFLIGHT 32
// rag_hnsw_search takes the k best of the ef found by one pass (best_live) for k up to this,
// and sorts all ef (drain_sorted) above it.
#define HNSW_SMALL_K 32
// The inner loops' helpers: always inlined, whatever gcc's size heuristics say.
#define HNSW_INLINE static inline __attribute__((always_inline))

// A node and its distance to the current query.
typedef struct {
    float d;
    int32_t id;
} HnswItem;

// A binary heap of items; hmin_* keeps the nearest on top, hmax_* the farthest.
typedef struct {
    HnswItem *a;
    int n, cap;
} HnswHeap;

struct RagHnsw {
    int64_t dim, ds;
    RagMetric metric;
    int M, M0, efc, ef;
    double mL; // 1 / ln(M)
    Rng rng;
    int32_t n, cap;
    int32_t entry;  // -1 when empty
    int max_level;  // -1 when empty
    int64_t n_deleted;
    float *vec;          // (cap, ds)
    int32_t *links0;     // (cap, 1 + M0)
    int32_t **links_up;  // (cap): NULL or (level, 1 + M)
    uint8_t *level;      // (cap)
    uint8_t *deleted;    // (cap)
    uint16_t *visited;   // (cap) tags
    uint16_t gen;        // the current search's tag
    HnswHeap cand, top;  // search scratch
    HnswItem *sel;       // (efc + M0 + 1) scratch for neighbour selection and results
    int sel_cap;
    float *qbuf;         // (ds) the padded, normalised query
    int pf_ahead;        // rows prefetched ahead in SEARCH-LAYER (see HNSW_PREFETCH_INFLIGHT)
};

// ---------------------------------------------------------------------------
// Distance kernels
// ---------------------------------------------------------------------------

// Both kernels work on 16-float steps (ds is a multiple of 16) with 32 independent partial
// sums, so gcc turns each inner j-loop into two 16-wide AVX-512 operations per step with no
// reassociation of any single sum (-ffast-math is not needed); the partial sums are added
// pairwise at the end. Two accumulator registers hide the latency of the adds.
HNSW_INLINE float kernel_l2(const float *restrict a, const float *restrict b, int64_t ds)
{
    float acc[32] = {0};
    int64_t i = 0;
    for (; i + 32 <= ds; i += 32) {
        for (int j = 0; j < 32; j++) {
            float t = a[i + j] - b[i + j];
            acc[j] += t * t;
        }
    }
    for (; i < ds; i += 16) {
        for (int j = 0; j < 16; j++) {
            float t = a[i + j] - b[i + j];
            acc[j] += t * t;
        }
    }
    for (int j = 0; j < 16; j++) acc[j] += acc[j + 16];
    for (int j = 0; j < 8; j++) acc[j] += acc[j + 8];
    for (int j = 0; j < 4; j++) acc[j] += acc[j + 4];
    return (acc[0] + acc[2]) + (acc[1] + acc[3]);
}

HNSW_INLINE float kernel_dot(const float *restrict a, const float *restrict b, int64_t ds)
{
    float acc[32] = {0};
    int64_t i = 0;
    for (; i + 32 <= ds; i += 32)
        for (int j = 0; j < 32; j++) acc[j] += a[i + j] * b[i + j];
    for (; i < ds; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * b[i + j];
    for (int j = 0; j < 16; j++) acc[j] += acc[j + 16];
    for (int j = 0; j < 8; j++) acc[j] += acc[j + 8];
    for (int j = 0; j < 4; j++) acc[j] += acc[j + 4];
    return (acc[0] + acc[2]) + (acc[1] + acc[3]);
}

static inline const float *node_vec(const RagHnsw *h, int32_t id)
{
    return h->vec + (size_t)id * (size_t)h->ds;
}

// The metric's distance for a row stride ds; with ds a constant (below) the kernel is unrolled
// completely and its partial sums stay in registers.
HNSW_INLINE float dist_ds(RagMetric metric, const float *a, const float *b, int64_t ds)
{
    return metric == RAG_METRIC_L2 ? kernel_l2(a, b, ds) : -kernel_dot(a, b, ds);
}

// The distance, smaller = closer: |a - b|^2 for L2, -<a, b> for IP and cosine. Inlined into
// every caller: at small d a call, the loop control and the spilled partial sums cost as
// much as the arithmetic, so the common short strides get a kernel of their own (the
// branches always go the same way within an index). The arithmetic is the same in every
// case, so the distances do not depend on which one runs.
HNSW_INLINE float hnsw_dist(const RagHnsw *h, const float *a, const float *b)
{
    switch (h->ds) {
    case 16: return dist_ds(h->metric, a, b, 16);
    case 32: return dist_ds(h->metric, a, b, 32);
    case 48: return dist_ds(h->metric, a, b, 48);
    case 64: return dist_ds(h->metric, a, b, 64);
    default: return dist_ds(h->metric, a, b, h->ds);
    }
}

// Requests node id's row (up to HNSW_PREFETCH_LINES cache lines) into the cache, so it is
// there when its distance is computed two neighbours later.
static inline void prefetch_vec(const RagHnsw *h, int32_t id)
{
    const char *p = (const char *)node_vec(h, id);
    int64_t lines = HNSW_PREFETCH_LINES < h->ds / 16 ? HNSW_PREFETCH_LINES : h->ds / 16;
    for (int64_t i = 0; i < lines; i++) __builtin_prefetch(p + 64 * i, 0, 3);
}

// ---------------------------------------------------------------------------
// Heaps and the visited set
// ---------------------------------------------------------------------------

// Total order on items: by distance, then by id, so every search is deterministic.
static inline int item_less(HnswItem a, HnswItem b)
{
    // The same as a.d < b.d || (a.d == b.d && a.id < b.id), NaN included, in a form gcc
    // compiles to fewer branches.
    return a.d != b.d ? a.d < b.d : a.id < b.id;
}

static void heap_reserve(HnswHeap *hp, int n)
{
    if (n <= hp->cap) return;
    int cap = hp->cap ? hp->cap : 64;
    while (cap < n) cap *= 2;
    hp->a = xrealloc(hp->a, (size_t)cap * sizeof *hp->a);
    hp->cap = cap;
}

// Min-heap: a[0] is the nearest.
static inline void hmin_push(HnswHeap *hp, HnswItem x)
{
    if (hp->n == hp->cap) heap_reserve(hp, hp->n + 1);
    int i = hp->n++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!item_less(x, hp->a[p])) break;
        hp->a[i] = hp->a[p];
        i = p;
    }
    hp->a[i] = x;
}

static inline HnswItem hmin_pop(HnswHeap *hp)
{
    HnswItem top = hp->a[0], x = hp->a[--hp->n];
    int i = 0, n = hp->n;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && item_less(hp->a[c + 1], hp->a[c])) c++;
        if (!item_less(hp->a[c], x)) break;
        hp->a[i] = hp->a[c];
        i = c;
    }
    if (n > 0) hp->a[i] = x;
    return top;
}

// Max-heap: a[0] is the farthest.
static inline void hmax_push(HnswHeap *hp, HnswItem x)
{
    if (hp->n == hp->cap) heap_reserve(hp, hp->n + 1);
    int i = hp->n++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!item_less(hp->a[p], x)) break;
        hp->a[i] = hp->a[p];
        i = p;
    }
    hp->a[i] = x;
}

static inline HnswItem hmax_pop(HnswHeap *hp)
{
    HnswItem top = hp->a[0], x = hp->a[--hp->n];
    int i = 0, n = hp->n;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && item_less(hp->a[c], hp->a[c + 1])) c++;
        if (!item_less(x, hp->a[c])) break;
        hp->a[i] = hp->a[c];
        i = c;
    }
    if (n > 0) hp->a[i] = x;
    return top;
}

// A new visited set: bump the generation; on wrap-around clear the tags once.
static inline void visited_reset(RagHnsw *h)
{
    if (++h->gen == 0) {
        memset(h->visited, 0, (size_t)h->cap * sizeof *h->visited);
        h->gen = 1;
    }
}

// Marks id visited; returns whether it already was.
static inline int visited_test_set(RagHnsw *h, int32_t id)
{
    if (h->visited[id] == h->gen) return 1;
    h->visited[id] = h->gen;
    return 0;
}

// The link list of node id on `level`: l[0] = count, l[1..count] = neighbour ids.
static inline int32_t *node_links(const RagHnsw *h, int32_t id, int level)
{
    if (level == 0) return h->links0 + (size_t)id * (size_t)(h->M0 + 1);
    return h->links_up[id] + (size_t)(level - 1) * (size_t)(h->M + 1);
}

// Requests the link list of node id on `level` (the count and all the slots) into the cache.
// SEARCH-LAYER calls it for every node it pushes on `cand`: most of them are expanded later,
// and without it each expansion starts with a cache miss on the list, which at small d costs
// more than the distances to the whole list.
static inline void prefetch_links(const RagHnsw *h, int32_t id, int level)
{
    const char *p = (const char *)node_links(h, id, level);
    int64_t bytes = (int64_t)((level == 0 ? h->M0 : h->M) + 1) * (int64_t)sizeof(int32_t);
    for (int64_t i = 0; i < bytes; i += 64) __builtin_prefetch(p + i, 0, 3);
}

// ---------------------------------------------------------------------------
// SEARCH-LAYER
// ---------------------------------------------------------------------------

// The ef-bounded best-first search of one layer (the paper's Algorithm 2). q is the padded
// query; entry[0..n_entry) are nodes on `level` with their distances to q. On return `top`
// (a max-heap) holds the at most ef nearest nodes found, deleted ones included.
static void search_layer(RagHnsw *h, const float *q, const HnswItem *entry, int n_entry,
                         int level, int ef, HnswHeap *top)
{
    HnswHeap *cand = &h->cand;
    visited_reset(h);
    cand->n = 0;
    top->n = 0;
    // EXERCISE(w05.hnsw_search_layer): the best-first search of SEARCH-LAYER.
    // Two heaps: `cand` (a min-heap, hmin_push/hmin_pop: the nearest unexpanded node on top)
    // and `top` (a max-heap, hmax_push/hmax_pop: the farthest of the best ef found on top,
    // top->a[0]). Compare items with item_less (distance, then id).
    //   1. Mark each entry visited (visited_test_set) and push it on both heaps; keep top at
    //      most ef items (pop the farthest when it grows past ef).
    //   2. While cand is not empty: pop its nearest c. If c is farther than top's farthest,
    //      stop: nothing left can improve the result. Otherwise, for each neighbour e of c on
    //      this level (node_links(h, c.id, level): l[0] is the count, l[1..] the ids) that is
    //      not yet visited: mark it, compute d = hnsw_dist(h, q, node_vec(h, e)); if top
    //      holds fewer than ef items or {d, e} is nearer than top's farthest, push it on both
    //      heaps and pop top's farthest if top now holds more than ef.
    // Deleted nodes are searched like any other (rag_hnsw_search filters them afterwards).
    // Speed (optional): prefetch_vec(h, id) asks for a row before its distance is needed
    // (h->pf_ahead neighbours ahead), prefetch_links(h, id, level) for the link list of a
    // node pushed on cand, so it is in the cache when that node is expanded.
    // STUB: exercise_stub("w05.hnsw_search_layer"); (void)q; (void)level; (void)ef;
    // STUB: if (n_entry > 0) hmax_push(top, entry[0]); // the entry alone: no search at all
    for (int i = 0; i < n_entry; i++) {
        if (visited_test_set(h, entry[i].id)) continue;
        hmin_push(cand, entry[i]);
        hmax_push(top, entry[i]);
        if (top->n > ef) hmax_pop(top);
    }
    while (cand->n > 0) {
        HnswItem c = hmin_pop(cand);
        if (item_less(top->a[0], c)) break; // c is farther than the farthest kept
        const int32_t *l = node_links(h, c.id, level);
        int cnt = l[0], nu = 0;
        int32_t u[2 * 512]; // the unvisited neighbours (at most M0 <= 1024)
        for (int j = 1; j <= cnt; j++)
            if (!visited_test_set(h, l[j])) u[nu++] = l[j];
        // Each row is fetched from memory a few neighbours ahead of its distance, so the
        // loads overlap the arithmetic (a row is 49 cache lines at d = 784).
        for (int j = 0; j < nu && j < h->pf_ahead; j++) prefetch_vec(h, u[j]);
        for (int j = 0; j < nu; j++) {
            int32_t e = u[j];
            if (j + h->pf_ahead < nu) prefetch_vec(h, u[j + h->pf_ahead]);
            HnswItem x = {hnsw_dist(h, q, node_vec(h, e)), e};
            if (top->n < ef || item_less(x, top->a[0])) {
                hmin_push(cand, x);
                prefetch_links(h, e, level);
                hmax_push(top, x);
                if (top->n > ef) hmax_pop(top);
            }
        }
    }
    // END EXERCISE
}

// SEARCH-LAYER with ef = 1 from one entry, as the descent through the upper layers runs it,
// written as the greedy walk it amounts to: scan the current node's neighbours, keep the
// nearest (by item_less), move there while it is nearer than where the walk stands. It returns
// the node search_layer(h, q, &ep, 1, level, 1, ...) returns: with ef = 1 every expansion is
// of the best node so far, and a node that search skips as visited was already no nearer
// than the best, so here it is not taken either. Without the heaps and the visited tags this
// costs little more than its distances.
static HnswItem greedy_search(const RagHnsw *h, const float *q, HnswItem ep, int level)
{
    for (;;) {
        const int32_t *l = node_links(h, ep.id, level);
        HnswItem best = ep;
        for (int j = 1; j <= l[0]; j++) {
            HnswItem x = {hnsw_dist(h, q, node_vec(h, l[j])), l[j]};
            if (item_less(x, best)) best = x;
        }
        if (best.id == ep.id) return ep;
        ep = best;
    }
}

// Empties the max-heap `top` into h->sel[0..n), nearest first. Returns n.
static int drain_sorted(RagHnsw *h, HnswHeap *top)
{
    int n = top->n;
    if (n > h->sel_cap) {
        h->sel_cap = n;
        h->sel = xrealloc(h->sel, (size_t)n * sizeof *h->sel);
    }
    for (int i = n - 1; i >= 0; i--) h->sel[i] = hmax_pop(top);
    return n;
}

// ---------------------------------------------------------------------------
// Index lifecycle
// ---------------------------------------------------------------------------

static int64_t round16(int64_t d) { return (d + 15) / 16 * 16; }

static RagHnsw *hnsw_alloc(int64_t dim, RagMetric metric, int M, int efc, int ef)
{
    RagHnsw *h = xcalloc(1, sizeof *h);
    h->dim = dim;
    h->ds = round16(dim);
    h->metric = metric;
    h->M = M;
    h->M0 = 2 * M;
    h->efc = efc;
    h->ef = ef;
    h->mL = 1.0 / log((double)M);
    int64_t lines = h->ds / 16; // 64-byte lines per row
    h->pf_ahead = lines * 2 >= HNSW_PREFETCH_INFLIGHT ? 2 : (int)(HNSW_PREFETCH_INFLIGHT / lines);
    h->entry = -1;
    h->max_level = -1;
    h->qbuf = aligned_alloc(64, (size_t)h->ds * sizeof(float));
    CHECK(h->qbuf, "rag_hnsw: out of memory");
    memset(h->qbuf, 0, (size_t)h->ds * sizeof(float));
    return h;
}

RagHnsw *rag_hnsw_create(const RagHnswConfig *cfg)
{
    CHECK(cfg && cfg->dim >= 1 && cfg->dim <= HNSW_MAX_DIM, "rag_hnsw_create: dim must be in "
          "1..%d", HNSW_MAX_DIM);
    CHECK(cfg->metric >= 0 && cfg->metric < RAG_METRIC_COUNT, "rag_hnsw_create: bad metric %d",
          (int)cfg->metric);
    int M = cfg->M ? cfg->M : 16;
    int efc = cfg->ef_construction ? cfg->ef_construction : 200;
    int ef = cfg->ef_search ? cfg->ef_search : 64;
    CHECK(M >= 2 && M <= 512, "rag_hnsw_create: M %d not in 2..512", M);
    CHECK(efc >= 1 && ef >= 1, "rag_hnsw_create: ef_construction %d and ef_search %d must be "
          ">= 1", efc, ef);
    RagHnsw *h = hnsw_alloc(cfg->dim, cfg->metric, M, efc, ef);
    rng_init(&h->rng, cfg->seed);
    return h;
}

void rag_hnsw_free(RagHnsw *h)
{
    if (!h) return;
    for (int32_t i = 0; i < h->n; i++) free(h->links_up[i]);
    free(h->links_up);
    free(h->vec);
    free(h->links0);
    free(h->level);
    free(h->deleted);
    free(h->visited);
    free(h->cand.a);
    free(h->top.a);
    free(h->sel);
    free(h->qbuf);
    free(h);
}

// Grows every per-node array to hold at least `need` nodes.
static void hnsw_reserve(RagHnsw *h, int64_t need)
{
    if (need <= h->cap) return;
    CHECK(need < INT32_MAX, "rag_hnsw: more than 2^31 - 1 vectors");
    int64_t cap = h->cap ? h->cap : 1024;
    while (cap < need) cap *= 2;
    if (cap >= INT32_MAX) cap = INT32_MAX - 1;
    size_t row = (size_t)h->ds * sizeof(float);
    float *v = aligned_alloc(64, (size_t)cap * row);
    CHECK(v, "rag_hnsw: out of memory for %lld vectors", (long long)cap);
    if (h->n) memcpy(v, h->vec, (size_t)h->n * row);
    free(h->vec);
    h->vec = v;
    h->links0 = xrealloc(h->links0, (size_t)cap * (size_t)(h->M0 + 1) * sizeof(int32_t));
    h->links_up = xrealloc(h->links_up, (size_t)cap * sizeof *h->links_up);
    h->level = xrealloc(h->level, (size_t)cap);
    h->deleted = xrealloc(h->deleted, (size_t)cap);
    // New tags start at 0, which no live generation uses (gen wraps from 65535 to 1).
    h->visited = xrealloc(h->visited, (size_t)cap * sizeof *h->visited);
    memset(h->visited + h->cap, 0, (size_t)(cap - h->cap) * sizeof *h->visited);
    h->cap = (int32_t)cap;
}

// Copies a query into the padded buffer (zero tail), normalised for cosine.
static const float *prepare_query(RagHnsw *h, const float *q)
{
    memcpy(h->qbuf, q, (size_t)h->dim * sizeof(float));
    if (h->metric == RAG_METRIC_COSINE) {
        double s = 0;
        for (int64_t i = 0; i < h->dim; i++) s += (double)h->qbuf[i] * h->qbuf[i];
        if (s > 0) {
            float inv = (float)(1.0 / sqrt(s));
            for (int64_t i = 0; i < h->dim; i++) h->qbuf[i] *= inv;
        }
    }
    return h->qbuf;
}

// ---------------------------------------------------------------------------
// INSERT
// ---------------------------------------------------------------------------

// The paper's level generator: floor(-ln(u) mL), u uniform in (0, 1].
static int random_level(RagHnsw *h)
{
    double u = 1.0 - (double)rng_uniform(&h->rng);
    int l = (int)floor(-log(u) * h->mL);
    return l > RAG_HNSW_MAX_LEVEL ? RAG_HNSW_MAX_LEVEL : l;
}

// SELECT-NEIGHBORS-HEURISTIC: c[0..n) sorted nearest first (distances to the base node);
// keeps, in place, at most m of them, each nearer to the base than to any kept before it.
static int select_heuristic(const RagHnsw *h, HnswItem *c, int n, int m)
{
    if (n <= m) return n;
    int kept = 0;
    for (int i = 0; i < n && kept < m; i++) {
        const float *vi = node_vec(h, c[i].id);
        int good = 1;
        for (int j = 0; j < kept; j++) {
            if (hnsw_dist(h, vi, node_vec(h, c[j].id)) < c[i].d) {
                good = 0;
                break;
            }
        }
        if (good) c[kept++] = c[i];
    }
    return kept;
}

// Adds `id` to the list of `e` on `level`; a full list is re-chosen by the heuristic from its
// links plus id, by distance to e.
static void link_back(RagHnsw *h, int32_t e, int32_t id, int level)
{
    int32_t *l = node_links(h, e, level);
    int mmax = level == 0 ? h->M0 : h->M;
    if (l[0] < mmax) {
        l[++l[0]] = id;
        return;
    }
    HnswItem c[2 * 512 + 1]; // mmax + 1 <= 2 * 512 + 1
    const float *ve = node_vec(h, e);
    int n = 0;
    for (int j = 1; j <= l[0]; j++) c[n++] = (HnswItem){hnsw_dist(h, ve, node_vec(h, l[j])), l[j]};
    c[n++] = (HnswItem){hnsw_dist(h, ve, node_vec(h, id)), id};
    // Insertion sort: n <= 2M + 1 items.
    for (int i = 1; i < n; i++) {
        HnswItem x = c[i];
        int j = i - 1;
        while (j >= 0 && item_less(x, c[j])) {
            c[j + 1] = c[j];
            j--;
        }
        c[j + 1] = x;
    }
    int kept = select_heuristic(h, c, n, mmax);
    l[0] = kept;
    for (int j = 0; j < kept; j++) l[1 + j] = c[j].id;
}

static void insert_node(RagHnsw *h, int32_t id)
{
    const float *q = node_vec(h, id);
    int lvl = random_level(h);
    h->level[id] = (uint8_t)lvl;
    h->deleted[id] = 0;
    h->links0[(size_t)id * (size_t)(h->M0 + 1)] = 0;
    h->links_up[id] = NULL;
    if (lvl > 0) h->links_up[id] = xcalloc((size_t)lvl * (size_t)(h->M + 1), sizeof(int32_t));
    if (h->entry < 0) {
        h->entry = id;
        h->max_level = lvl;
        return;
    }
    HnswItem ep = {hnsw_dist(h, q, node_vec(h, h->entry)), h->entry};
    // Greedy descent through the layers above the new node's top.
    for (int lc = h->max_level; lc > lvl; lc--) ep = greedy_search(h, q, ep, lc);
    for (int lc = (lvl < h->max_level ? lvl : h->max_level); lc >= 0; lc--) {
        search_layer(h, q, &ep, 1, lc, h->efc, &h->top);
        int n = drain_sorted(h, &h->top);
        ep = h->sel[0];
        int m = select_heuristic(h, h->sel, n, h->M);
        int32_t *l = node_links(h, id, lc);
        l[0] = m;
        for (int j = 0; j < m; j++) l[1 + j] = h->sel[j].id;
        for (int j = 0; j < m; j++) link_back(h, h->sel[j].id, id, lc);
    }
    if (lvl > h->max_level) {
        h->max_level = lvl;
        h->entry = id;
    }
}

int64_t rag_hnsw_add(RagHnsw *h, const float *x, int64_t n)
{
    CHECK(h && (x || n == 0) && n >= 0, "rag_hnsw_add: NULL index/vectors or n %lld < 0",
          (long long)n);
    hnsw_reserve(h, (int64_t)h->n + n);
    int64_t first = h->n;
    for (int64_t i = 0; i < n; i++) {
        int32_t id = h->n;
        float *v = h->vec + (size_t)id * (size_t)h->ds;
        prepare_query(h, x + (size_t)i * (size_t)h->dim);
        memcpy(v, h->qbuf, (size_t)h->ds * sizeof(float));
        h->n++;
        insert_node(h, id);
    }
    return first;
}

int rag_hnsw_delete(RagHnsw *h, int64_t id)
{
    CHECK(h && id >= 0 && id < h->n, "rag_hnsw_delete: id %lld not in 0..%lld", (long long)id,
          h ? (long long)h->n - 1 : -1LL);
    if (h->deleted[id]) return 0;
    h->deleted[id] = 1;
    h->n_deleted++;
    return 1;
}

// ---------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------

// The k nearest live items of the heap `top` into h->sel[0..returned), nearest first: the
// first k live items of drain_sorted's order, without sorting all ef of them. One pass keeps
// a sorted list of the best k so far; an item nearer than its last is inserted in place. Most
// items are farther and cost one comparison (for k up to HNSW_SMALL_K, where it is used); a
// full drain pops all ef, each pop a heap sift of log2(ef) unpredictable steps.
static int best_live(RagHnsw *h, const HnswHeap *top, int k)
{
    if (k > h->sel_cap) {
        h->sel_cap = k;
        h->sel = xrealloc(h->sel, (size_t)k * sizeof *h->sel);
    }
    HnswItem *s = h->sel;
    int m = 0;
    for (int i = 0; i < top->n; i++) {
        HnswItem x = top->a[i];
        if (h->deleted[x.id] || (m == k && !item_less(x, s[k - 1]))) continue;
        int j = m < k ? m++ : k - 1;
        for (; j > 0 && item_less(x, s[j - 1]); j--) s[j] = s[j - 1];
        s[j] = x;
    }
    return m;
}

void rag_hnsw_set_ef(RagHnsw *h, int ef)
{
    CHECK(ef >= 1, "rag_hnsw_set_ef: ef %d must be >= 1", ef);
    h->ef = ef;
}

int rag_hnsw_ef(const RagHnsw *h) { return h->ef; }

int64_t rag_hnsw_search(RagHnsw *h, const float *q, int64_t k, RagHit *out)
{
    CHECK(h && q && out && k >= 1, "rag_hnsw_search: NULL argument or k %lld < 1",
          (long long)k);
    int64_t live = (int64_t)h->n - h->n_deleted;
    if (live == 0) return 0;
    const float *qq = prepare_query(h, q);
    HnswItem ep = {hnsw_dist(h, qq, node_vec(h, h->entry)), h->entry};
    for (int lc = h->max_level; lc > 0; lc--) ep = greedy_search(h, qq, ep, lc);
    int64_t want = k < live ? k : live;
    int64_t ef = h->ef > k ? h->ef : k;
    if (ef > h->n) ef = h->n;
    for (;;) {
        search_layer(h, qq, &ep, 1, 0, (int)ef, &h->top);
        int64_t got = 0;
        if (k <= HNSW_SMALL_K) {
            got = best_live(h, &h->top, (int)k);
        } else {
            int n = drain_sorted(h, &h->top);
            for (int i = 0; i < n && got < k; i++)
                if (!h->deleted[h->sel[i].id]) h->sel[got++] = h->sel[i];
        }
        for (int64_t i = 0; i < got; i++) out[i] = (RagHit){h->sel[i].id, -h->sel[i].d};
        // Enough live hits, or nothing more to widen: done (see deletion in hnsw.h).
        if (got >= want || ef >= h->n) return got;
        ef = ef * 2 < h->n ? ef * 2 : h->n;
    }
}

int64_t rag_hnsw_search_layer(RagHnsw *h, const float *q, const int64_t *entry, int n_entry,
                              int level, int ef, RagHit *out)
{
    CHECK(h && q && out && ef >= 1 && n_entry >= 1 && entry,
          "rag_hnsw_search_layer: NULL argument, ef %d or n_entry %d < 1", ef, n_entry);
    CHECK(level >= 0 && level <= h->max_level, "rag_hnsw_search_layer: level %d not in 0..%d",
          level, h->max_level);
    const float *qq = prepare_query(h, q);
    HnswItem *ep = xmalloc((size_t)n_entry * sizeof *ep);
    for (int i = 0; i < n_entry; i++) {
        CHECK(entry[i] >= 0 && entry[i] < h->n && h->level[entry[i]] >= level,
              "rag_hnsw_search_layer: entry %lld is not a node on level %d",
              (long long)entry[i], level);
        ep[i] = (HnswItem){hnsw_dist(h, qq, node_vec(h, (int32_t)entry[i])), (int32_t)entry[i]};
    }
    search_layer(h, qq, ep, n_entry, level, ef, &h->top);
    free(ep);
    int n = drain_sorted(h, &h->top);
    for (int i = 0; i < n; i++) out[i] = (RagHit){h->sel[i].id, -h->sel[i].d};
    return n;
}

// ---------------------------------------------------------------------------
// Introspection
// ---------------------------------------------------------------------------

int64_t rag_hnsw_count(const RagHnsw *h) { return h->n; }
int64_t rag_hnsw_live_count(const RagHnsw *h) { return (int64_t)h->n - h->n_deleted; }
int64_t rag_hnsw_dim(const RagHnsw *h) { return h->dim; }
RagMetric rag_hnsw_metric(const RagHnsw *h) { return h->metric; }
int rag_hnsw_M(const RagHnsw *h) { return h->M; }
int rag_hnsw_max_level(const RagHnsw *h) { return h->max_level; }
int64_t rag_hnsw_entry(const RagHnsw *h) { return h->entry; }

int rag_hnsw_level(const RagHnsw *h, int64_t id)
{
    CHECK(id >= 0 && id < h->n, "rag_hnsw_level: id %lld out of range", (long long)id);
    return h->level[id];
}

int rag_hnsw_is_deleted(const RagHnsw *h, int64_t id)
{
    CHECK(id >= 0 && id < h->n, "rag_hnsw_is_deleted: id %lld out of range", (long long)id);
    return h->deleted[id];
}

int rag_hnsw_neighbors(const RagHnsw *h, int64_t id, int level, const int32_t **ids)
{
    CHECK(id >= 0 && id < h->n && level >= 0 && level <= h->level[id],
          "rag_hnsw_neighbors: id %lld / level %d out of range", (long long)id, level);
    const int32_t *l = node_links(h, (int32_t)id, level);
    *ids = l + 1;
    return l[0];
}

float rag_hnsw_distance(RagHnsw *h, const float *q, int64_t id)
{
    CHECK(id >= 0 && id < h->n, "rag_hnsw_distance: id %lld out of range", (long long)id);
    return hnsw_dist(h, prepare_query(h, q), node_vec(h, (int32_t)id));
}

// ---------------------------------------------------------------------------
// Save / load
// ---------------------------------------------------------------------------

// Header field offsets (see the format in hnsw.h).
enum {
    OFF_MAGIC = 0, OFF_VERSION = 8, OFF_METRIC = 12, OFF_DIM = 16, OFF_N = 24, OFF_M = 32,
    OFF_EFC = 36, OFF_EF = 40, OFF_MAXLEVEL = 44, OFF_ENTRY = 48, OFF_NDEL = 56, OFF_RNG = 64,
};

typedef struct {
    IoAtomic *f;
    uLong crc;
    int failed;
} Writer;

static void w_bytes(Writer *w, const void *p, size_t n)
{
    if (n == 0 || w->failed) return;
    if (fwrite(p, 1, n, io_atomic_fp(w->f)) != n) w->failed = 1;
    w->crc = crc32(w->crc, p, (uInt)n);
}

// Writes big arrays in pieces: zlib's crc32 takes a 32-bit length.
static void w_big(Writer *w, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        size_t c = n < (1u << 30) ? n : (1u << 30);
        w_bytes(w, b, c);
        b += c;
        n -= c;
    }
}

int rag_hnsw_save(const RagHnsw *h, const char *path)
{
    CHECK(h && path, "rag_hnsw_save: NULL argument");
    unsigned char hdr[HNSW_HEADER] = {0};
    memcpy(hdr + OFF_MAGIC, HNSW_MAGIC, 8);
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    int64_t i64;
    u32 = HNSW_VERSION, memcpy(hdr + OFF_VERSION, &u32, 4);
    u32 = (uint32_t)h->metric, memcpy(hdr + OFF_METRIC, &u32, 4);
    u64 = (uint64_t)h->dim, memcpy(hdr + OFF_DIM, &u64, 8);
    u64 = (uint64_t)h->n, memcpy(hdr + OFF_N, &u64, 8);
    u32 = (uint32_t)h->M, memcpy(hdr + OFF_M, &u32, 4);
    u32 = (uint32_t)h->efc, memcpy(hdr + OFF_EFC, &u32, 4);
    u32 = (uint32_t)h->ef, memcpy(hdr + OFF_EF, &u32, 4);
    i32 = h->max_level, memcpy(hdr + OFF_MAXLEVEL, &i32, 4);
    i64 = h->entry, memcpy(hdr + OFF_ENTRY, &i64, 8);
    u64 = (uint64_t)h->n_deleted, memcpy(hdr + OFF_NDEL, &u64, 8);
    memcpy(hdr + OFF_RNG, h->rng.s, 32);

    Writer w = {.crc = crc32(0L, Z_NULL, 0)};
    int rc = io_atomic_open(path, &w.f);
    if (rc != ERR_OK) return rc;
    w_bytes(&w, hdr, sizeof hdr);
    for (int32_t i = 0; i < h->n; i++) w_bytes(&w, node_vec(h, i), (size_t)h->dim * 4);
    w_big(&w, h->level, (size_t)h->n);
    w_big(&w, h->deleted, (size_t)h->n);
    // Unused tail slots are written as -1 so the file does not depend on stale memory.
    int32_t *row = xmalloc((size_t)(h->M0 + 1) * sizeof(int32_t));
    for (int32_t i = 0; i < h->n; i++) {
        const int32_t *l = node_links(h, i, 0);
        for (int j = 0; j <= h->M0; j++) row[j] = j <= l[0] ? l[j] : -1;
        w_bytes(&w, row, (size_t)(h->M0 + 1) * 4);
    }
    for (int32_t i = 0; i < h->n; i++) {
        for (int lc = 1; lc <= h->level[i]; lc++) {
            const int32_t *l = node_links(h, i, lc);
            for (int j = 0; j <= h->M; j++) row[j] = j <= l[0] ? l[j] : -1;
            w_bytes(&w, row, (size_t)(h->M + 1) * 4);
        }
    }
    free(row);
    uint32_t crc = (uint32_t)w.crc;
    if (!w.failed && fwrite(&crc, 1, 4, io_atomic_fp(w.f)) != 4) w.failed = 1;
    if (w.failed) {
        io_atomic_abort(w.f);
        return err_set(ERR_IO, "rag_hnsw_save: %s: write failed; hint: is the disk full?", path);
    }
    return io_atomic_commit(w.f);
}

static uint32_t rd_u32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd_u64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

#define LOAD_HINT "hint: the file is damaged or not written by rag_hnsw_save; rebuild the index"

// Checks the graph of a loaded index. Returns ERR_OK or ERR_FORMAT naming the node.
static int validate_graph(const RagHnsw *h, const char *path)
{
    int64_t ndel = 0;
    for (int32_t i = 0; i < h->n; i++) {
        if (h->deleted[i] > 1)
            return err_set(ERR_FORMAT, "rag_hnsw_load: %s: deleted flag of node %d is %d, "
                           "expected 0 or 1; %s", path, i, h->deleted[i], LOAD_HINT);
        ndel += h->deleted[i];
        const float *v = node_vec(h, i);
        for (int64_t j = 0; j < h->dim; j++)
            if (!isfinite(v[j]))
                return err_set(ERR_FORMAT, "rag_hnsw_load: %s: vector %d has a non-finite value "
                               "at column %lld; %s", path, i, (long long)j, LOAD_HINT);
        for (int lc = 0; lc <= h->level[i]; lc++) {
            const int32_t *l = node_links(h, i, lc);
            int mmax = lc == 0 ? h->M0 : h->M;
            if (l[0] < 0 || l[0] > mmax)
                return err_set(ERR_FORMAT, "rag_hnsw_load: %s: node %d has %d neighbours on "
                               "level %d, expected 0..%d; %s", path, i, l[0], lc, mmax, LOAD_HINT);
            for (int j = 1; j <= l[0]; j++) {
                int32_t e = l[j];
                if (e < 0 || e >= h->n || e == i || h->level[e] < lc)
                    return err_set(ERR_FORMAT, "rag_hnsw_load: %s: neighbour %d of node %d on "
                                   "level %d is %d, not another node of that level (0..%d); %s",
                                   path, j - 1, i, lc, e, h->n - 1, LOAD_HINT);
            }
        }
    }
    if (ndel != h->n_deleted)
        return err_set(ERR_FORMAT, "rag_hnsw_load: %s: header says %lld deleted (offset %d), the "
                       "flags say %lld; %s", path, (long long)h->n_deleted, OFF_NDEL,
                       (long long)ndel, LOAD_HINT);
    if (h->n > 0 && h->level[h->entry] != h->max_level)
        return err_set(ERR_FORMAT, "rag_hnsw_load: %s: entry node %d is on level %d, not on the "
                       "top level %d; %s", path, h->entry, h->level[h->entry], h->max_level,
                       LOAD_HINT);
    return ERR_OK;
}

static int load_bytes(const char *path, const unsigned char *b, size_t size, RagHnsw **out)
{
    if (size < HNSW_HEADER + 4)
        return err_set(ERR_TRUNCATED, "rag_hnsw_load: %s: %zu bytes, shorter than the %d-byte "
                       "header and checksum; %s", path, size, HNSW_HEADER + 4, LOAD_HINT);
    if (memcmp(b, HNSW_MAGIC, 8) != 0)
        return err_set(ERR_FORMAT, "rag_hnsw_load: %s: bad magic at offset 0 (expected "
                       "\"RAGHNSW\\0\"); hint: this is not an HNSW index file", path);
    uint32_t version = rd_u32(b + OFF_VERSION), metric = rd_u32(b + OFF_METRIC);
    uint64_t dim = rd_u64(b + OFF_DIM), n = rd_u64(b + OFF_N), ndel = rd_u64(b + OFF_NDEL);
    uint32_t M = rd_u32(b + OFF_M), efc = rd_u32(b + OFF_EFC), ef = rd_u32(b + OFF_EF);
    int32_t max_level = (int32_t)rd_u32(b + OFF_MAXLEVEL);
    int64_t entry = (int64_t)rd_u64(b + OFF_ENTRY);
    if (version != HNSW_VERSION)
        return err_set(ERR_FORMAT, "rag_hnsw_load: %s: field 'version' (offset %d) is %u, this "
                       "build reads %u; hint: rebuild the index with this version", path,
                       OFF_VERSION, version, HNSW_VERSION);
#define FIELD_CHECK(cond, name, off, fmt, val)                                                  \
    if (!(cond))                                                                               \
        return err_set(ERR_RANGE, "rag_hnsw_load: %s: field '%s' (offset %d) is " fmt          \
                       ", out of range; %s", path, name, off, val, LOAD_HINT)
    FIELD_CHECK(metric < RAG_METRIC_COUNT, "metric", OFF_METRIC, "%u", metric);
    FIELD_CHECK(dim >= 1 && dim <= HNSW_MAX_DIM, "dim", OFF_DIM, "%llu", (unsigned long long)dim);
    FIELD_CHECK(n < INT32_MAX, "n", OFF_N, "%llu", (unsigned long long)n);
    FIELD_CHECK(M >= 2 && M <= 512, "M", OFF_M, "%u", M);
    FIELD_CHECK(efc >= 1 && efc <= INT32_MAX, "ef_construction", OFF_EFC, "%u", efc);
    FIELD_CHECK(ef >= 1 && ef <= INT32_MAX, "ef_search", OFF_EF, "%u", ef);
    FIELD_CHECK(n == 0 ? max_level == -1 : (max_level >= 0 && max_level <= RAG_HNSW_MAX_LEVEL),
                "max_level", OFF_MAXLEVEL, "%d", max_level);
    FIELD_CHECK(n == 0 ? entry == -1 : (entry >= 0 && (uint64_t)entry < n), "entry", OFF_ENTRY,
                "%lld", (long long)entry);
    FIELD_CHECK(ndel <= n, "n_deleted", OFF_NDEL, "%llu", (unsigned long long)ndel);
#undef FIELD_CHECK
    // Sizes: n < 2^31 and dim <= 2^20, so nothing below overflows 64 bits.
    uint64_t off_vec = HNSW_HEADER, off_lvl = off_vec + n * dim * 4, off_del = off_lvl + n;
    uint64_t off_l0 = off_del + n, off_up = off_l0 + n * (2ull * M + 1) * 4;
    if (size < off_up + 4)
        return err_set(ERR_TRUNCATED, "rag_hnsw_load: %s: %zu bytes, but %llu nodes of dim %llu "
                       "need at least %llu; %s", path, size, (unsigned long long)n,
                       (unsigned long long)dim, (unsigned long long)(off_up + 4), LOAD_HINT);
    uint64_t up_words = 0;
    for (uint64_t i = 0; i < n; i++) {
        int l = b[off_lvl + i];
        if (l > max_level)
            return err_set(ERR_FORMAT, "rag_hnsw_load: %s: level of node %llu (offset %llu) is "
                           "%d, above max_level %d; %s", path, (unsigned long long)i,
                           (unsigned long long)(off_lvl + i), l, max_level, LOAD_HINT);
        up_words += (uint64_t)l * (M + 1);
    }
    uint64_t total = off_up + up_words * 4 + 4;
    if (size < total)
        return err_set(ERR_TRUNCATED, "rag_hnsw_load: %s: %zu bytes, the header and levels say "
                       "%llu; %s", path, size, (unsigned long long)total, LOAD_HINT);
    if (size > total)
        return err_set(ERR_FORMAT, "rag_hnsw_load: %s: %zu bytes, %llu more than the %llu the "
                       "header and levels say; %s", path, size,
                       (unsigned long long)(size - total), (unsigned long long)total, LOAD_HINT);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t o = 0; o < total - 4;) {
        uint64_t c = total - 4 - o < (1u << 30) ? total - 4 - o : (1u << 30);
        crc = crc32(crc, b + o, (uInt)c);
        o += c;
    }
    if ((uint32_t)crc != rd_u32(b + total - 4))
        return err_set(ERR_FORMAT, "rag_hnsw_load: %s: checksum mismatch (crc32 at offset %llu "
                       "is %08x, the data gives %08x); %s", path, (unsigned long long)(total - 4),
                       rd_u32(b + total - 4), (uint32_t)crc, LOAD_HINT);

    RagHnsw *h = hnsw_alloc((int64_t)dim, (RagMetric)metric, (int)M, (int)efc, (int)ef);
    memcpy(h->rng.s, b + OFF_RNG, 32);
    hnsw_reserve(h, (int64_t)n > 0 ? (int64_t)n : 1);
    h->n = (int32_t)n;
    h->n_deleted = (int64_t)ndel;
    h->entry = (int32_t)entry;
    h->max_level = max_level;
    for (uint64_t i = 0; i < n; i++) {
        float *v = h->vec + i * (uint64_t)h->ds;
        memcpy(v, b + off_vec + i * dim * 4, dim * 4);
        memset(v + dim, 0, (size_t)(h->ds - (int64_t)dim) * sizeof(float));
    }
    memcpy(h->level, b + off_lvl, n);
    memcpy(h->deleted, b + off_del, n);
    memcpy(h->links0, b + off_l0, n * (2ull * M + 1) * 4);
    const unsigned char *up = b + off_up;
    for (uint64_t i = 0; i < n; i++) {
        h->links_up[i] = NULL;
        size_t words = (size_t)h->level[i] * (M + 1);
        if (words == 0) continue;
        h->links_up[i] = xmalloc(words * sizeof(int32_t));
        memcpy(h->links_up[i], up, words * 4);
        up += words * 4;
    }
    int rc = validate_graph(h, path);
    if (rc != ERR_OK) {
        rag_hnsw_free(h);
        return rc;
    }
    *out = h;
    return ERR_OK;
}

int rag_hnsw_load(const char *path, RagHnsw **out)
{
    CHECK(path && out, "rag_hnsw_load: NULL argument");
    *out = NULL;
    unsigned char *b;
    size_t size;
    int rc = io_read_all(path, &b, &size);
    if (rc != ERR_OK) return rc;
    rc = load_bytes(path, b, size, out);
    free(b);
    return rc;
}
