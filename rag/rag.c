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
