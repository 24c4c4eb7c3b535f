/*
 * arena.c: a chunked bump allocator (see arena.h for the memory model).
 *
 * Blocks form a singly linked list, newest first. An allocation takes from the newest block;
 * when it does not fit, a new block of max(2 x last block, request) is added. A reset frees
 * all blocks and, when there was more than one, allocates a single block of the high-water
 * size, so a steady-state loop touches malloc only in its first step.
 */
#include "arena.h"

#include "err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64
#define ARENA_DEFAULT (1u << 20)

typedef struct Block {
    struct Block *next; // older block
    size_t size;        // usable bytes in data
    size_t used;        // bytes handed out from data
    unsigned char *data;
} Block;

struct Arena {
    Block *head;       // newest block; allocations come from here
    size_t used;       // bytes handed out since the last reset (with alignment padding)
    size_t reserved;   // bytes of all blocks
    size_t high_water; // max of used over the arena's life
};

static Block *block_new(size_t size)
{
    Block *b = xmalloc(sizeof *b);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    b->data = aligned_alloc(ARENA_ALIGN, (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
    CHECK(b->data != NULL, "arena: out of memory reserving a block of %zu bytes", size);
    return b;
}

static void blocks_free(Block *b)
{
    while (b) {
        Block *next = b->next;
        free(b->data);
        free(b);
        b = next;
    }
}

Arena *arena_create(size_t initial_bytes)
{
    Arena *a = xcalloc(1, sizeof *a);
    a->head = block_new(initial_bytes ? initial_bytes : ARENA_DEFAULT);
    a->reserved = a->head->size;
    return a;
}

void arena_free(Arena *a)
{
    if (!a) return;
    blocks_free(a->head);
    free(a);
}

void *arena_alloc(Arena *a, size_t n)
{
    CHECK(a != NULL, "arena_alloc: NULL arena");
    size_t need = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (need == 0) need = ARENA_ALIGN;
    Block *b = a->head;
    if (b->used + need > b->size) {
        size_t size = b->size * 2 > need ? b->size * 2 : need;
        Block *nb = block_new(size);
        nb->next = b;
        a->head = nb;
        a->reserved += size;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used += need;
    if (a->used > a->high_water) a->high_water = a->used;
    return p;
}

void *arena_calloc(Arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

void arena_reset(Arena *a)
{
    if (!a) return;
    if (a->head->next) {
        // More than one block: replace them all by one block of the high-water size.
        blocks_free(a->head);
        a->head = block_new(a->high_water);
        a->reserved = a->head->size;
    }
    a->head->used = 0;
    a->used = 0;
}

size_t arena_used(const Arena *a) { return a->used; }
size_t arena_reserved(const Arena *a) { return a->reserved; }
size_t arena_high_water(const Arena *a) { return a->high_water; }

void arena_stats(const Arena *a)
{
    int blocks = 0;
    for (const Block *b = a->head; b; b = b->next) blocks++;
    fprintf(stderr, "arena %p: used %zu B, reserved %zu B in %d block(s), high-water %zu B\n",
            (const void *)a, a->used, a->reserved, blocks, a->high_water);
}
