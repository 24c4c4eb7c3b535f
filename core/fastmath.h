/*
 * fastmath.h: exp and tanh in plain C that the compiler can vectorise.
 *
 * libm's expf/tanhf are function calls, so a loop over a million activations (GELU in a
 * transformer MLP) runs one element at a time and cost more than the matmul beside it. These
 * inline versions use only +, *, comparisons and bit moves, so gcc turns such loops into
 * AVX-512 code.
 *
 * exp(x) = 2^n * exp(r), with n = round(x / ln 2) and r = x - n ln 2 in [-ln2/2, ln2/2]:
 * ln 2 is split in a high and a low part so r is exact, exp(r) is a degree-7 polynomial
 * (1 + r + r^2/2 + r^2 (c3 r + ... + c7 r^5), the classic minimax coefficients for float),
 * and 2^n is built directly in the exponent bits. Relative error below 1e-7 (about 1 ulp)
 * for |x| < 87; below -87.3 the result is 2^-126 * exp(r) (no subnormals: tiny, not 0),
 * above 88.73 it is +inf; NaN stays
 * NaN, so the engine's NaN hunting still works.
 *
 * tanh(x) = 1 - 2 / (1 + exp(2x)): absolute error below 2e-7; exact +-1 in the tails.
 * (Both measured against double-precision libm over the whole range.)
 */
#ifndef CORE_FASTMATH_H
#define CORE_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float fm_expf(float x)
{
    // Clamp with comparisons that keep NaN (a NaN compares false and passes through).
    x = x > 89.0f ? 89.0f : x;
    x = x < -87.33f ? -87.33f : x;
    // n = round(x log2 e) with the 1.5 * 2^23 trick: the sum's low mantissa bits hold n.
    const float shifter = 12582912.0f;
    float fn = x * 1.44269504088896341f + shifter;
    uint32_t fbits;
    memcpy(&fbits, &fn, sizeof fbits);
    fn -= shifter;
    float r = x - fn * 0.693359375f;  // ln 2, high part (exact in float)
    r = r - fn * -2.12194440e-4f;     // ln 2, low part
    float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    // 2^n as two factors 2^(n/2) 2^(n - n/2), each built in the exponent field, so n = 128
    // (x just under the overflow bound) still gives a finite or correctly infinite result.
    // n comes from the low bits of fbits (two's complement, so negative n works).
    int32_t n = (int32_t)(fbits - 0x4B400000u);
    int32_t h = n >> 1;
    uint32_t b1 = (uint32_t)(h + 127) << 23, b2 = (uint32_t)(n - h + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return p * s1 * s2;
}

static inline float fm_tanhf(float x)
{
    float e = fm_expf(2.0f * x);
    return 1.0f - 2.0f / (1.0f + e);
}

// GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
static inline float fm_gelu(float x)
{
    const float k = 0.7978845608028654f; // sqrt(2 / pi)
    return 0.5f * x * (1.0f + fm_tanhf(k * (x + 0.044715f * x * x * x)));
}

static inline float fm_sigmoid(float x) { return 1.0f / (1.0f + fm_expf(-x)); }

// SiLU (swish): x sigmoid(x).
static inline float fm_silu(float x) { return x * fm_sigmoid(x); }

#endif
