/*
 * hnsw.h: approximate nearest neighbours with HNSW (Malkov & Yashunin, 2016/2018).
 *
 * A Hierarchical Navigable Small World graph is a stack of proximity graphs. Every vector is
 * a node on layer 0; a node also lives on layers 1..l, where l = floor(-ln(u) * mL) for a
 * uniform u and mL = 1/ln(M), so each layer holds about 1/M of the one below. A search starts
 * at the single entry point on the top layer, walks greedily (ef = 1) down to layer 1, then
 * runs a best-first search with a candidate list of `ef` on layer 0 (SEARCH-LAYER, the
 * week-5 exercise, in hnsw.c). Larger ef = better recall, slower queries.
 *
 * Building (INSERT): the new node descends like a query, then on each of its layers runs
 * SEARCH-LAYER with ef_construction and keeps at most M neighbours (2M on layer 0) chosen by
 * the paper's heuristic (SELECT-NEIGHBORS-HEURISTIC without extendCandidates and
 * keepPrunedConnections, as hnswlib does): walking candidates from the nearest, keep one only
 * when it is closer to the new node than to every neighbour kept so far, which spreads the
 * links in all directions. Links are made in both directions; a neighbour whose list
 * overflows re-runs the heuristic on its list plus the new node.
 *
 * Metrics (RagMetric from flat.h): L2 (score = -|q - x|^2), IP (score = <q, x>) and cosine
 * (vectors and queries normalised, then IP). Internally a distance "smaller = closer" is used:
 * |q - x|^2, or -<q, x>; the score is its negation, so hits follow rag.h's convention.
 *
 * Ids are row numbers in insertion order (0, 1, ...), as in flat.h; keep a side table to map
 * them to chunk ids.
 *
 * Deletion marks a node deleted. It stays in the graph and is still walked through (removing
 * it would cut paths and lower recall for its neighbours), but it is never returned: the
 * layer-0 search keeps the ef closest nodes, deleted ones included, and the result drops them;
 * when fewer than k live hits remain, the layer-0 search reruns with ef doubled (up to n), so
 * a search returns min(k, live count) hits whenever the live nodes are reachable.
 *
 * File format (rag_hnsw_save / rag_hnsw_load), little-endian:
 *     [0, 96)   header: "RAGHNSW\0", u32 version (1), u32 metric, u64 dim, u64 n, u32 M,
 *               u32 ef_construction, u32 ef_search, i32 max_level, i64 entry, u64 n_deleted,
 *               4 x u64 RNG state (so adding after a load continues the same level sequence)
 *     vectors   n x dim f32 (as stored: unit length for cosine)
 *     levels    n x u8;  deleted: n x u8 (0 or 1)
 *     layer 0   n x (1 + 2M) i32: a count, then that many neighbour ids, then padding (-1)
 *     upper     for each node with level l > 0, in id order: l x (1 + M) i32, layers 1..l
 *     crc32     u32 (zlib's CRC-32) of every byte before it
 * The load checks all of it: magic, version, each header field's range, the exact size, the
 * checksum, then the structure (counts <= the layer's maximum, every neighbour id in 0..n-1,
 * not the node itself, living on that layer, levels <= max_level, the entry on the top layer,
 * the deleted count, finite vectors). The save is atomic (core/io.h).
 *
 * Threads: a RagHnsw keeps its search scratch (visited tags with a generation counter,
 * heaps, the padded query) inside, so searches and adds on one index must not run at once;
 * use one index per thread, or a lock.
 *
 * Ownership: rag_hnsw_create and rag_hnsw_load give an index owned by the caller (free with
 * rag_hnsw_free, which accepts NULL). Vectors passed in are copied. rag_hnsw_neighbors
 * returns a borrowed pointer valid until the next add.
 *
 * Errors: save/load return ERR_OK or a negative Err code with err_msg() naming the file, the
 * field and its offset, and a hint. Bad arguments (an id out of range, k < 1) are bugs (CHECK).
 *
 * Usage:
 *     RagHnswConfig cfg = {.dim = 784, .metric = RAG_METRIC_L2, .M = 16,
 *                          .ef_construction = 200, .ef_search = 64, .seed = 42};
 *     RagHnsw *h = rag_hnsw_create(&cfg);
 *     rag_hnsw_add(h, base, 60000);                   // ids 0..59999
 *     rag_hnsw_delete(h, 17);                         // never returned again
 *     rag_hnsw_set_ef(h, 128);                        // more recall, slower
 *     RagHit top[10];
 *     int64_t n = rag_hnsw_search(h, query, 10, top); // top[0] is the (approximate) nearest
 *     if (rag_hnsw_save(h, "out/index.hnsw") != ERR_OK) fprintf(stderr, "%s\n", err_msg());
 *     rag_hnsw_free(h);
 *     if (rag_hnsw_load("out/index.hnsw", &h) != ERR_OK) fprintf(stderr, "%s\n", err_msg());
 */
#ifndef RAG_HNSW_H
#define RAG_HNSW_H

#include "rag/flat.h"
#include "rag/rag.h"

#include <stdint.h>

// The highest layer a node may get (levels are drawn with 24-bit uniforms, so with M >= 2
// a level above 24 never occurs; the cap only bounds the file format).
#define RAG_HNSW_MAX_LEVEL 31

typedef struct {
    int64_t dim;         // vector size, >= 1
    RagMetric metric;    // L2, IP or cosine
    int M;               // links per node on layers >= 1 (2M on layer 0); 0 -> 16
    int ef_construction; // candidate list while inserting; 0 -> 200
    int ef_search;       // candidate list while searching (rag_hnsw_set_ef); 0 -> 64
    uint64_t seed;       // seeds the level generator (core/rng.h)
} RagHnswConfig;

typedef struct RagHnsw RagHnsw;

// A new empty index (owned by the caller). M must be in 2..512 (CHECK).
RagHnsw *rag_hnsw_create(const RagHnswConfig *cfg);

// Frees the index. NULL does nothing.
void rag_hnsw_free(RagHnsw *h);

// Inserts n vectors x (n, dim) one by one and returns the id of the first (they get
// first .. first + n - 1). Deterministic: the same seed and inserts give the same graph.
int64_t rag_hnsw_add(RagHnsw *h, const float *x, int64_t n);

// Marks `id` deleted (see the top of this file). Returns 1 if it was live, 0 if already
// deleted. An id outside 0..count-1 is a bug.
int rag_hnsw_delete(RagHnsw *h, int64_t id);

// Sets the layer-0 candidate list size used by rag_hnsw_search (ef >= 1; a search uses
// max(ef, k)).
void rag_hnsw_set_ef(RagHnsw *h, int ef);
int rag_hnsw_ef(const RagHnsw *h);

// The k nearest live vectors to q (dim floats), approximately: out[0 .. returned) sorted by
// score descending, ties by ascending id. Returns min(k, live count) (see deletion above).
int64_t rag_hnsw_search(RagHnsw *h, const float *q, int64_t k, RagHit *out);

// One SEARCH-LAYER call on its own (what rag_hnsw_search runs on every layer): the
// ef-bounded best-first search on `level` from the entry nodes entry[0..n_entry), which
// must live on that level. Writes the (at most ef) nearest nodes found to out, best first,
// deleted ones included, and returns their count. For tests and teaching.
int64_t rag_hnsw_search_layer(RagHnsw *h, const float *q, const int64_t *entry, int n_entry,
                              int level, int ef, RagHit *out);

// Introspection (for tests, labs and the benchmark).
int64_t rag_hnsw_count(const RagHnsw *h);      // vectors added, deleted ones included
int64_t rag_hnsw_live_count(const RagHnsw *h); // count minus deleted
int64_t rag_hnsw_dim(const RagHnsw *h);
RagMetric rag_hnsw_metric(const RagHnsw *h);
int rag_hnsw_M(const RagHnsw *h);
int rag_hnsw_max_level(const RagHnsw *h);      // -1 when empty
int64_t rag_hnsw_entry(const RagHnsw *h);      // -1 when empty
int rag_hnsw_level(const RagHnsw *h, int64_t id);
int rag_hnsw_is_deleted(const RagHnsw *h, int64_t id);
// The neighbours of `id` on `level` (<= its level): returns their count and sets *ids
// (borrowed, valid until the next add).
int rag_hnsw_neighbors(const RagHnsw *h, int64_t id, int level, const int32_t **ids);
// The metric's distance (smaller = closer) between q (dim floats, as a query: normalised
// for cosine) and stored vector id: the negated score.
float rag_hnsw_distance(RagHnsw *h, const float *q, int64_t id);

// Writes the index to `path` atomically (format above). ERR_OK or ERR_IO.
int rag_hnsw_save(const RagHnsw *h, const char *path);

// Reads and validates an index. On success *out is a new index owned by the caller; on
// failure *out is NULL and the code is ERR_IO, ERR_TRUNCATED, ERR_FORMAT or ERR_RANGE with
// err_msg() naming the file, the field and its offset.
int rag_hnsw_load(const char *path, RagHnsw **out);

#endif
