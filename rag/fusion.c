/*
 * fusion.c: reciprocal rank fusion (see fusion.h).
 *
 * Every (id, list, rank) triple goes into one array, sorted by id (then list, then rank), so
 * the triples of one document are adjacent; each document then gets a ranks vector (0 = absent)
 * scored by rag_rrf_score, and a k-element selection keeps the best. The cost is sorting the
 * total length of the lists, which for retrieval (a few hundred hits) is microseconds.
 */
#include "rag/fusion.h"

#include "core/err.h"
#include "core/exercise.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t id;
    int64_t list;
    int64_t rank; // 1-based position in its list
} Entry;

static int entry_cmp(const void *pa, const void *pb)
{
    const Entry *a = pa, *b = pb;
    if (a->id != b->id) return (a->id > b->id) - (a->id < b->id);
    if (a->list != b->list) return (a->list > b->list) - (a->list < b->list);
    return (a->rank > b->rank) - (a->rank < b->rank);
}

double rag_rrf_score(const int64_t *ranks, const float *weights, int64_t n_lists, double k)
{
    CHECK(ranks || n_lists == 0, "rag_rrf_score: NULL ranks");
    // EXERCISE(w05.rrf): return the reciprocal-rank-fusion score of one document:
    //   the sum over lists i (0 <= i < n_lists) where ranks[i] >= 1 of w_i / (k + ranks[i]),
    // with w_i = weights[i], or 1 when weights is NULL. ranks[i] == 0 means the document is
    // not in list i and adds nothing. Sum in double, in list order.
    // STUB: exercise_stub("w05.rrf"); (void)weights; (void)k; return -1.0;
    double s = 0.0;
    for (int64_t i = 0; i < n_lists; i++) {
        if (ranks[i] < 1) continue;
        double w = weights ? (double)weights[i] : 1.0;
        s += w / (k + (double)ranks[i]);
    }
    return s;
    // END EXERCISE
}

int64_t rag_rrf(const RagHit *const *lists, const int64_t *lens, const float *weights,
                int64_t n_lists, double k, int64_t top_k, RagHit *out)
{
    CHECK(n_lists >= 0 && (n_lists == 0 || (lists && lens)), "rag_rrf: bad lists");
    CHECK(k > 0, "rag_rrf: k = %g, expected > 0", k);
    CHECK(top_k >= 0 && (top_k == 0 || out), "rag_rrf: top_k = %lld with out %p",
          (long long)top_k, (void *)out);
    int64_t total = 0;
    for (int64_t i = 0; i < n_lists; i++) {
        CHECK(lens[i] >= 0 && (lens[i] == 0 || lists[i]), "rag_rrf: list %lld: length %lld",
              (long long)i, (long long)lens[i]);
        CHECK(!weights || weights[i] >= 0, "rag_rrf: weight %lld is %g, expected >= 0",
              (long long)i, (double)weights[i]);
        total += lens[i];
    }
    if (top_k == 0 || total == 0) return 0;

    Entry *e = xmalloc((size_t)total * sizeof *e);
    int64_t m = 0;
    for (int64_t i = 0; i < n_lists; i++)
        for (int64_t r = 0; r < lens[i]; r++)
            e[m++] = (Entry){.id = lists[i][r].id, .list = i, .rank = r + 1};
    qsort(e, (size_t)m, sizeof *e, entry_cmp);

    // One pass over the groups: score each document, keep all (distinct ids <= total), then
    // sort and cut. A heap would save little at these sizes.
    int64_t *ranks = xcalloc((size_t)n_lists, sizeof *ranks);
    RagHit *all = xmalloc((size_t)m * sizeof *all);
    int64_t n = 0;
    for (int64_t i = 0; i < m;) {
        int64_t j = i;
        memset(ranks, 0, (size_t)n_lists * sizeof *ranks);
        for (; j < m && e[j].id == e[i].id; j++)
            if (ranks[e[j].list] == 0) ranks[e[j].list] = e[j].rank; // first = best position
        all[n++] = (RagHit){.id = e[i].id,
                            .score = (float)rag_rrf_score(ranks, weights, n_lists, k)};
        i = j;
    }
    rag_hits_sort(all, n);
    if (n > top_k) n = top_k;
    memcpy(out, all, (size_t)n * sizeof *out);
    free(all);
    free(ranks);
    free(e);
    return n;
}
