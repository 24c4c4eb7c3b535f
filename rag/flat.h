/*
 * flat.h: exact (brute-force) top-k vector search, batched through cblas_sgemm.
 *
 * A RagFlat holds n vectors of dimension d as one row-major (n, d) float matrix and answers
 * "which k rows score highest against this query" exactly, for three metrics:
 *
 *     RAG_METRIC_IP      score = <q, x>
 *     RAG_METRIC_COSINE  score = <q/|q|, x/|x|>   (rows are normalised once, at add time;
 *                        the query at search time; a zero vector stays zero and scores 0)
 *     RAG_METRIC_L2      score = -|q - x|^2       (negated, so larger = better, see rag.h)
 *
 * All three are one matrix product. For a block of queries Q (qb, d) and a block of rows
 * X (nb, d), S = Q X^T is one sgemm; L2 then uses |q - x|^2 = |q|^2 - 2<q, x> + |x|^2 with
 * the row norms |x|^2 precomputed at add time, so S = 2 Q X^T - |x|^2 - |q|^2. The blocks are
 * sized so the score block (qb x nb = 256 x 1024 floats, 1 MiB) stays in the L2 cache while the
 * top-k pass reads it. A single query goes through sgemv instead (a 1-row sgemm is ~6x slower).
 *
 * Top-k: per query a k-element min-heap ordered by (score, then larger id = worse), so the
 * result is exactly the k best with ties broken by ascending id, the order rag_hits_sort gives.
 * Note the L2 expansion above rounds differently from summing (q_i - x_i)^2: two rows whose
 * distances differ by less than ~1e-6 relative may swap places against a double-precision
 * brute force (ties that close are a coin toss in float anyway).
 *
 * Ids are row numbers in insertion order: the first rag_flat_add gets 0..n-1, the next one
 * continues from n.
 *
 * Ownership: rag_flat_create returns an index owned by the caller (free with rag_flat_free,
 * which accepts NULL). rag_flat_add copies the vectors. rag_flat_row returns a borrowed pointer
 * valid until the next rag_flat_add. Search functions only read the index, so several threads
 * may search one index at once (not while another adds).
 *
 * Errors: none from the environment; wrong sizes or NULL pointers are bugs (CHECK).
 *
 * Usage:
 *     RagFlat *f = rag_flat_create(784, RAG_METRIC_L2);
 *     rag_flat_add(f, base, 60000);                  // base: (60000, 784) floats
 *     RagHit top[10];
 *     int64_t n = rag_flat_search(f, query, 10, top); // top[0] is the nearest row
 *     RagHit *all = xmalloc(nq * 10 * sizeof *all);
 *     rag_flat_search_batch(f, queries, nq, 10, all); // row i of all: query i's top 10
 *     printf("row %lld at squared distance %g\n", (long long)top[0].id, -top[0].score);
 *     free(all);
 *     rag_flat_free(f);
 */
#ifndef RAG_FLAT_H
#define RAG_FLAT_H

#include "rag/rag.h"

#include <stdint.h>

// The similarity a vector index ranks by (shared by flat.h and hnsw.h).
typedef enum {
    RAG_METRIC_IP = 0,     // inner product
    RAG_METRIC_COSINE = 1, // inner product of unit vectors
    RAG_METRIC_L2 = 2,     // negated squared Euclidean distance
    RAG_METRIC_COUNT
} RagMetric;

// "ip", "cosine", "l2".
const char *rag_metric_name(RagMetric m);

typedef struct RagFlat RagFlat;

// A new empty index for vectors of `dim` floats (dim >= 1). Owned by the caller.
RagFlat *rag_flat_create(int64_t dim, RagMetric metric);

// Frees the index. NULL does nothing.
void rag_flat_free(RagFlat *f);

// Copies n rows x (n, dim) into the index (normalised for cosine) and returns the id of the
// first; the rows get ids first .. first + n - 1.
int64_t rag_flat_add(RagFlat *f, const float *x, int64_t n);

int64_t rag_flat_count(const RagFlat *f);
int64_t rag_flat_dim(const RagFlat *f);
RagMetric rag_flat_metric(const RagFlat *f);

// Row `id` as stored (unit length for cosine): borrowed, dim floats, valid until the next add.
const float *rag_flat_row(const RagFlat *f, int64_t id);

// The k best rows for one query q (dim floats), written to out[0 .. min(k, n)) sorted by score
// descending, ties by ascending id. Returns min(k, n). k >= 1.
int64_t rag_flat_search(const RagFlat *f, const float *q, int64_t k, RagHit *out);

// The same for nq queries Q (nq, dim): out is (nq, k); row i holds query i's hits. When
// k > n the slots past n hold {id -1, score -INFINITY}. Returns min(k, n).
int64_t rag_flat_search_batch(const RagFlat *f, const float *Q, int64_t nq, int64_t k,
                              RagHit *out);

#endif
