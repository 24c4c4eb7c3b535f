/*
 * rag.c: helpers shared by every retrieval stage (see rag.h).
 */
#include "rag/rag.h"

#include <stdlib.h>

static int hit_cmp(const void *pa, const void *pb)
{
    const RagHit *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

void rag_hits_sort(RagHit *hits, int64_t n)
{
    if (n > 1) qsort(hits, (size_t)n, sizeof *hits, hit_cmp);
}

static void topk_sift_down(RagTopK *t, int64_t i)
{
    RagHit *h = t->h;
    for (;;) {
        int64_t l = 2 * i + 1, m = i;
        if (l < t->n && rag_hit_worse(h[l], h[m])) m = l;
        if (l + 1 < t->n && rag_hit_worse(h[l + 1], h[m])) m = l + 1;
        if (m == i) return;
        RagHit tmp = h[i];
        h[i] = h[m];
        h[m] = tmp;
        i = m;
    }
}

void rag_topk_push(RagTopK *t, RagHit x)
{
    if (t->n < t->k) {
        int64_t i = t->n++;
        t->h[i] = x;
        while (i > 0) { // sift up
            int64_t p = (i - 1) / 2;
            if (!rag_hit_worse(t->h[i], t->h[p])) break;
            RagHit tmp = t->h[i];
            t->h[i] = t->h[p];
            t->h[p] = tmp;
            i = p;
        }
    } else if (t->k > 0 && rag_hit_worse(t->h[0], x)) {
        t->h[0] = x;
        topk_sift_down(t, 0);
    }
}

int64_t rag_topk_drain(RagTopK *t, RagHit *out, float add)
{
    // Repeatedly move the worst (the root) to the back: the array ends sorted best first.
    // Writing out[i] for i >= t->n never touches the live heap, so out may alias t->h.
    int64_t n = t->n;
    for (int64_t i = n - 1; i >= 0; i--) {
        RagHit worst = t->h[0];
        t->h[0] = t->h[--t->n];
        topk_sift_down(t, 0);
        out[i] = worst;
        out[i].score += add;
    }
    return n;
}
