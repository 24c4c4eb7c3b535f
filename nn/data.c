/*
 * data.c: the index data loader and the train/validation split (see data.h).
 */
#include "nn/data.h"

#include "core/err.h"
#include "core/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------

// splitmix64's finaliser: a bijection of 64-bit words that scatters nearby inputs, so the
// seeds of epochs 0, 1, 2... (and of nearby user seeds) give unrelated generators.
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Epoch e's order: the base list, shuffled by a generator that depends only on (seed, e).
static void make_order(NnLoader *l)
{
    memcpy(l->order, l->base, (size_t)l->n * sizeof(int32_t));
    if (!l->cfg.shuffle) return;
    Rng rng;
    rng_init(&rng, mix64(l->cfg.seed ^ mix64((uint64_t)l->epoch + 0x9e3779b97f4a7c15ULL)));
    rng_shuffle_i32(&rng, l->order, l->n);
}

// ---------------------------------------------------------------------------
// Loader
// ---------------------------------------------------------------------------

void nn_loader_init(NnLoader *l, const int32_t *indices, int64_t n, const NnLoaderConfig *cfg)
{
    CHECK(n >= 0 && n <= INT32_MAX, "nn_loader_init: n = %lld", (long long)n);
    CHECK(cfg->batch_size > 0, "nn_loader_init: batch_size = %lld must be > 0",
          (long long)cfg->batch_size);
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    l->n = n;
    size_t bytes = (size_t)(n ? n : 1) * sizeof(int32_t);
    l->base = xmalloc(bytes);
    l->order = xmalloc(bytes);
    for (int64_t i = 0; i < n; i++) l->base[i] = indices ? indices[i] : (int32_t)i;
    make_order(l);
}

void nn_loader_deinit(NnLoader *l)
{
    free(l->base);
    free(l->order);
    l->base = l->order = NULL;
    l->n = 0;
}

void nn_loader_set_epoch(NnLoader *l, int64_t epoch)
{
    CHECK(epoch >= 0, "nn_loader_set_epoch: epoch %lld", (long long)epoch);
    l->epoch = epoch;
    l->pos = 0;
    l->batch = 0;
    make_order(l);
}

bool nn_loader_next(NnLoader *l, NnBatch *b)
{
    int64_t left = l->n - l->pos;
    int64_t size = left < l->cfg.batch_size ? left : l->cfg.batch_size;
    if (size == 0 || (l->cfg.drop_last && size < l->cfg.batch_size)) {
        *b = (NnBatch){.idx = NULL, .size = 0, .epoch = l->epoch, .index = l->batch};
        nn_loader_set_epoch(l, l->epoch + 1);
        return false;
    }
    *b = (NnBatch){.idx = l->order + l->pos, .size = size, .epoch = l->epoch, .index = l->batch};
    l->pos += size;
    l->batch++;
    return true;
}

int64_t nn_loader_num_batches(const NnLoader *l)
{
    int64_t bs = l->cfg.batch_size;
    return l->cfg.drop_last ? l->n / bs : (l->n + bs - 1) / bs;
}

// ---------------------------------------------------------------------------
// Split and gather
// ---------------------------------------------------------------------------

int64_t nn_split_count(int64_t n, float val_fraction)
{
    CHECK(n >= 0 && val_fraction >= 0.0f && val_fraction <= 1.0f,
          "nn_split: n = %lld, val_fraction = %g (must be in [0, 1])", (long long)n,
          val_fraction);
    int64_t k = (int64_t)llround((double)n * (double)val_fraction);
    if (val_fraction > 0.0f && n > 1 && k < 1) k = 1;
    if (val_fraction < 1.0f && n > 1 && k > n - 1) k = n - 1;
    return k;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void nn_split(int64_t n, float val_fraction, uint64_t seed, int32_t *train_idx,
              int32_t *val_idx)
{
    int64_t n_val = nn_split_count(n, val_fraction);
    CHECK(n <= INT32_MAX, "nn_split: n = %lld too large", (long long)n);
    int32_t *perm = xmalloc((size_t)(n ? n : 1) * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) perm[i] = (int32_t)i;
    Rng rng;
    rng_init(&rng, mix64(seed));
    rng_shuffle_i32(&rng, perm, n);
    // The first n_val of a random permutation are a uniformly random subset.
    if (n_val) memcpy(val_idx, perm, (size_t)n_val * sizeof(int32_t));
    if (n - n_val) memcpy(train_idx, perm + n_val, (size_t)(n - n_val) * sizeof(int32_t));
    free(perm);
    if (n_val > 1) qsort(val_idx, (size_t)n_val, sizeof(int32_t), cmp_i32);
    if (n - n_val > 1) qsort(train_idx, (size_t)(n - n_val), sizeof(int32_t), cmp_i32);
}

void nn_gather_rows(float *dst, const float *src, int64_t row_len, const int32_t *idx, int64_t n)
{
    CHECK(row_len >= 0 && n >= 0, "nn_gather_rows: row_len %lld, n %lld", (long long)row_len,
          (long long)n);
    for (int64_t i = 0; i < n; i++) {
        CHECK(idx[i] >= 0, "nn_gather_rows: index %d at %lld", idx[i], (long long)i);
        memcpy(dst + i * row_len, src + (int64_t)idx[i] * row_len, (size_t)row_len * sizeof(float));
    }
}
