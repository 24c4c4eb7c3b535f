/*
 * rng.h: the engine's one source of randomness, deterministic everywhere.
 *
 * Algorithm (documented so anyone can reproduce the numbers in any language):
 *   - state: xoshiro256** (Blackman and Vigna, 2018), four 64-bit words;
 *   - seeding: the four words are the first four outputs of splitmix64 started at `seed`;
 *   - rng_u64: the next xoshiro256** output;
 *   - rng_uniform: the top 24 bits of rng_u64 times 2^-24, a float in [0, 1);
 *   - rng_below(n): Lemire's multiply-and-reject on the top 32 bits, unbiased, n < 2^32;
 *   - rng_normal: Box-Muller in double precision on two 53-bit uniforms u1 in (0, 1], u2 in
 *     [0, 1): sqrt(-2 ln u1) cos(2 pi u2); the paired sine value is cached for the next call.
 * Everything is integer arithmetic or correctly-ordered double arithmetic (the build uses
 * -std=c11, which turns off FMA contraction), so a seed gives the same numbers on every
 * machine and in every build mode. tests/core/test_rng.c pins the first outputs.
 *
 * Rng is a plain struct owned by the caller (on the stack or inside a model): rng_init it,
 * no free is needed. Pass a pointer to every function that draws from it; there is no global
 * generator.
 *
 * Usage:
 *     Rng rng;
 *     rng_init(&rng, 42);
 *     float u = rng_uniform(&rng);          // [0, 1)
 *     float z = rng_normal(&rng);           // N(0, 1)
 *     uint32_t i = rng_below(&rng, 10);     // 0..9, unbiased
 *     rng_shuffle_i32(&rng, idx, n);        // Fisher-Yates
 */
#ifndef CORE_RNG_H
#define CORE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];       // xoshiro256** state
    double spare;        // the cached second Box-Muller value
    int has_spare;
} Rng;

// Seeds the generator (any seed, 0 included, is fine).
void rng_init(Rng *rng, uint64_t seed);

uint64_t rng_u64(Rng *rng);
float rng_uniform(Rng *rng);                     // [0, 1)
uint32_t rng_below(Rng *rng, uint32_t n);         // [0, n), n > 0
float rng_normal(Rng *rng);                       // N(0, 1)
void rng_shuffle_i32(Rng *rng, int32_t *a, int64_t n);

#endif
