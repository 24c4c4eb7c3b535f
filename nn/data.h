/*
 * data.h: a data loader over example indices: seeded shuffling, batching, epochs, and a
 * train/validation split.
 *
 * The loader does not touch the data: it hands out batches of example indices, and the caller
 * gathers the rows it needs (nn_gather_rows for float rows, or its own code for tokens). So
 * one loader serves MNIST images, token windows or embedding pairs alike.
 *
 * Shuffling. Epoch e's order is a Fisher-Yates shuffle (core/rng.h) of the example list by an
 * Rng seeded with a mix of (seed, e), not a continuation of the previous epoch's generator.
 * So every epoch is a fresh permutation, the same seed always gives the same sequence of
 * epochs, and a run resumed at epoch e (nn_loader_set_epoch) sees exactly the batches the
 * uninterrupted run would have seen.
 *
 * Epochs. nn_loader_next returns false once at the end of each epoch (after its last batch)
 * and moves to the next epoch, so `while (nn_loader_next(&l, &b))` is one epoch. With
 * drop_last, a final batch smaller than batch_size is skipped (a constant batch shape).
 *
 * Ownership: NnLoader is caller-owned storage (init/deinit); it copies the index list it is
 * given. NnBatch.idx is borrowed from the loader, valid until the next nn_loader_next.
 * Errors: bad sizes or fractions are bugs (CHECK).
 *
 * Usage:
 *     int64_t n_val = nn_split_count(n, 0.1f);
 *     int32_t *tr = malloc((n - n_val) * 4), *va = malloc(n_val * 4);
 *     nn_split(n, 0.1f, 42, tr, va);
 *     NnLoader l;
 *     nn_loader_init(&l, tr, n - n_val, &(NnLoaderConfig){.batch_size = 64, .shuffle = true,
 *                                                           .seed = 42});
 *     NnBatch b;
 *     for (int epoch = 0; epoch < 3; epoch++)
 *         while (nn_loader_next(&l, &b))
 *             nn_gather_rows(x, images, 784, b.idx, b.size);    // x (b.size, 784)
 *     nn_loader_deinit(&l);
 */
#ifndef NN_DATA_H
#define NN_DATA_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int64_t batch_size; // > 0
    bool shuffle;       // false: the given order every epoch
    bool drop_last;     // skip a final partial batch
    uint64_t seed;      // shuffling seed
} NnLoaderConfig;

typedef struct {
    NnLoaderConfig cfg;
    int64_t n;        // examples
    int32_t *base;    // (n) the example indices given at init, owned
    int32_t *order;   // (n) this epoch's order, owned
    int64_t epoch;    // current epoch, from 0
    int64_t pos;      // next position in order
    int64_t batch;    // batches handed out in this epoch
} NnLoader;

typedef struct {
    const int32_t *idx; // (size) example indices, borrowed from the loader
    int64_t size;       // batch_size, or less for a final partial batch
    int64_t epoch;      // the epoch this batch belongs to
    int64_t index;      // its position in the epoch (0-based)
} NnBatch;

// A loader over the n example indices in `indices` (copied), or over 0..n-1 when NULL.
// Starts at epoch 0.
void nn_loader_init(NnLoader *l, const int32_t *indices, int64_t n, const NnLoaderConfig *cfg);

// Frees the loader's buffers. Safe on a zeroed or already deinit'd loader.
void nn_loader_deinit(NnLoader *l);

// The next batch of the current epoch into *b and true; or, after the epoch's last batch,
// false (b->size = 0) and the loader moves on to the next epoch.
bool nn_loader_next(NnLoader *l, NnBatch *b);

// Jumps to the start of `epoch` (resuming a run).
void nn_loader_set_epoch(NnLoader *l, int64_t epoch);

// Batches per epoch (counting a partial one unless drop_last).
int64_t nn_loader_num_batches(const NnLoader *l);

// How many of n examples nn_split puts in validation: round(n * val_fraction), and at least
// 1 when val_fraction > 0 and n > 1, so a small set still gets a validation example, and at
// most n - 1 when val_fraction < 1.
int64_t nn_split_count(int64_t n, float val_fraction);

// A random split of 0..n-1 (seeded): val_idx gets nn_split_count(n, val_fraction) indices,
// train_idx the rest; each list is sorted ascending. val_fraction in [0, 1].
void nn_split(int64_t n, float val_fraction, uint64_t seed, int32_t *train_idx,
              int32_t *val_idx);

// dst (n, row_len) = src rows idx[0..n): dst[i] = src[idx[i]]. For float data.
void nn_gather_rows(float *dst, const float *src, int64_t row_len, const int32_t *idx, int64_t n);

#endif
