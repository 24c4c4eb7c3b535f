/*
 * init.h: weight initialisers (normal, uniform, Xavier/Glorot, Kaiming/He), seeded.
 *
 * Why the scale matters: a layer y = W x with x of unit variance gives Var(y_i) =
 * fan_in * Var(W) * Var(x). Keeping activations from exploding or vanishing through depth
 * asks for Var(W) ~ 1 / fan.
 *   - Xavier (Glorot & Bengio, 2010) balances the forward and backward passes of a linear or
 *     tanh layer: Var(W) = gain^2 * 2 / (fan_in + fan_out).
 *       uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))
 *       normal:  N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))
 *   - Kaiming (He et al., 2015) accounts for ReLU zeroing half its inputs:
 *     Var(W) = gain^2 / fan, with gain = sqrt(2) for ReLU, fan = fan_in (forward) or fan_out.
 *       uniform: U(-b, b), b = gain * sqrt(3 / fan)
 *       normal:  N(0, std^2), std = gain / sqrt(fan)
 * The fans are computed as PyTorch does for a weight stored (out, in, k...): fan_in =
 * shape[1] * receptive, fan_out = shape[0] * receptive, receptive = product of shape[2:]
 * (1 for a Linear). Gains follow torch.nn.init.calculate_gain (nn_init_gain).
 *
 * Every initialiser draws from the caller's Rng (core/rng.h), so a seed reproduces a model
 * bit for bit. Tensors are filled in logical order; they may be views.
 *
 * Errors: a weight with fewer than 2 dims given to a fan-based initialiser, or a negative
 * std/bound, is a bug (CHECK), as in PyTorch.
 *
 * Usage:
 *     Rng rng;
 *     rng_init(&rng, 1234);
 *     nn_init_kaiming_normal(W1, &rng, nn_init_gain(NN_GAIN_RELU, 0), NN_FAN_IN); // (H, D)
 *     nn_init_xavier_uniform(W2, &rng, 1.0f);                                     // (C, H)
 *     nn_init_normal(emb, &rng, 0.0f, 0.02f);                                      // GPT-2
 */
#ifndef NN_INIT_H
#define NN_INIT_H

#include "core/rng.h"
#include "core/tensor.h"

#include <stdint.h>

typedef enum { NN_FAN_IN = 0, NN_FAN_OUT = 1 } NnFanMode;

// The nonlinearities torch.nn.init.calculate_gain knows.
typedef enum {
    NN_GAIN_LINEAR = 0, // 1 (also conv, sigmoid)
    NN_GAIN_SIGMOID,    // 1
    NN_GAIN_TANH,       // 5/3
    NN_GAIN_RELU,       // sqrt(2)
    NN_GAIN_LEAKY_RELU, // sqrt(2 / (1 + slope^2)), slope = param (PyTorch's default 0.01)
    NN_GAIN_SELU,       // 3/4
    NN_GAIN_COUNT
} NnGain;

// The recommended gain for a nonlinearity; `param` is the leaky-ReLU slope, else ignored.
float nn_init_gain(NnGain kind, float param);

// fan_in and fan_out of a weight (ndim >= 2) as PyTorch computes them (see top of file).
void nn_init_fans(const Tensor *w, int64_t *fan_in, int64_t *fan_out);

// N(mean, std^2) and U[lo, hi) (any shape).
void nn_init_normal(Tensor *w, Rng *rng, float mean, float std);
void nn_init_uniform(Tensor *w, Rng *rng, float lo, float hi);

// Xavier/Glorot (ndim >= 2).
void nn_init_xavier_uniform(Tensor *w, Rng *rng, float gain);
void nn_init_xavier_normal(Tensor *w, Rng *rng, float gain);

// Kaiming/He (ndim >= 2), fan chosen by mode.
void nn_init_kaiming_uniform(Tensor *w, Rng *rng, float gain, NnFanMode mode);
void nn_init_kaiming_normal(Tensor *w, Rng *rng, float gain, NnFanMode mode);

// PyTorch's default for nn.Linear(in, out): weight (out, in) and bias (out,) (bias may be
// NULL) both U(-1/sqrt(in), 1/sqrt(in)). (It is kaiming_uniform with a = sqrt(5):
// gain = sqrt(2 / (1 + 5)) = sqrt(1/3), bound = gain * sqrt(3 / in) = 1 / sqrt(in).)
void nn_init_linear_default(Tensor *weight, Tensor *bias, Rng *rng);

#endif
