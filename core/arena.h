/*
 * arena.h: bump allocation, freed all at once.
 *
 * The engine's memory model has two lifetimes, and an arena for each:
 *   - a params arena holds a model's parameters (and their gradients and optimizer state):
 *     it lives as long as the model and is freed with it;
 *   - a scratch arena (inside a Graph, see graph.h) holds one step's activations, the graph's
 *     nodes and the activation gradients: arena_reset() releases them all in one call.
 * Nothing allocated from an arena is freed on its own: there is no per-tensor free.
 *
 * After a reset the arena keeps one block as large as the most it ever held (the high-water
 * mark), so a training loop that does the same work each step allocates from the OS only in
 * its first step and then runs at flat memory.
 *
 * Every allocation is 64-byte aligned (a cache line, and an AVX-512 register) and is NOT
 * zeroed unless you call arena_calloc.
 *
 * Ownership: an Arena is owned by whoever created it; memory from it is borrowed and valid
 * until the next arena_reset() or arena_free() of that arena.
 *
 * Usage:
 *     Arena *a = arena_create(1 << 20);          // first block of 1 MiB; grows as needed
 *     for (int step = 0; step < n; step++) {
 *         float *buf = arena_alloc(a, 4096 * sizeof(float));
 *         ...                                     // use buf for this step only
 *         arena_reset(a);                         // everything from this step is gone
 *     }
 *     arena_stats(a);                             // print use, blocks and high-water (gdb too)
 *     arena_free(a);
 */
#ifndef CORE_ARENA_H
#define CORE_ARENA_H

#include <stddef.h>

typedef struct Arena Arena;

// A new arena whose first block holds `initial_bytes` (0 picks a default of 1 MiB).
Arena *arena_create(size_t initial_bytes);

// Frees the arena and everything in it. arena_free(NULL) does nothing.
void arena_free(Arena *a);

// `n` bytes, 64-byte aligned, uninitialised. Aborts on out-of-memory.
void *arena_alloc(Arena *a, size_t n);

// `n` bytes, 64-byte aligned, zeroed.
void *arena_calloc(Arena *a, size_t n);

// Releases everything allocated since creation; keeps one block of the high-water size.
void arena_reset(Arena *a);

// Bytes handed out since the last reset.
size_t arena_used(const Arena *a);

// Bytes reserved from the OS now (all blocks).
size_t arena_reserved(const Arena *a);

// The most bytes ever handed out between two resets.
size_t arena_high_water(const Arena *a);

// Prints used/reserved/high-water and the block count to stderr. Callable from gdb.
void arena_stats(const Arena *a);

#endif
