/*
 * rng.c: xoshiro256** seeded by splitmix64, with Lemire bounded ints and Box-Muller normals.
 * See rng.h for the exact algorithm, which is part of the contract.
 */
#include "rng.h"

#include "err.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void rng_init(Rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
    rng->spare = 0.0;
    rng->has_spare = 0;
}

uint64_t rng_u64(Rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float rng_uniform(Rng *rng) { return (float)(rng_u64(rng) >> 40) * (1.0f / 16777216.0f); }

uint32_t rng_below(Rng *rng, uint32_t n)
{
    CHECK(n > 0, "rng_below: n must be positive");
    // Lemire (2019): the high half of x * n is uniform on [0, n) once the low half is outside
    // the short range that would bias it.
    uint64_t m = (rng_u64(rng) >> 32) * (uint64_t)n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (lo < threshold) {
            m = (rng_u64(rng) >> 32) * (uint64_t)n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float rng_normal(Rng *rng)
{
    if (rng->has_spare) {
        rng->has_spare = 0;
        return (float)rng->spare;
    }
    // u1 in (0, 1] so the log is finite; u2 in [0, 1).
    double u1 = ((double)(rng_u64(rng) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
    double r = sqrt(-2.0 * log(u1));
    double theta = 6.283185307179586 * u2;
    rng->spare = r * sin(theta);
    rng->has_spare = 1;
    return (float)(r * cos(theta));
}

void rng_shuffle_i32(Rng *rng, int32_t *a, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        CHECK(i < (int64_t)UINT32_MAX, "rng_shuffle_i32: array too long");
        int64_t j = rng_below(rng, (uint32_t)(i + 1));
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
