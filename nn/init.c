/*
 * init.c: weight initialisers (see init.h for the formulas).
 *
 * The scales are computed in double and only the final bound or std is rounded to float, so
 * they agree with PyTorch's (Python float) computation to the last bit of a float.
 */
#include "nn/init.h"

#include "core/err.h"

#include <math.h>

static const char *const gain_names[NN_GAIN_COUNT] = {"linear", "sigmoid", "tanh", "relu",
                                                      "leaky_relu", "selu"};
_Static_assert(sizeof gain_names / sizeof gain_names[0] == NN_GAIN_COUNT, "gain name table");

// ---------------------------------------------------------------------------
// Gains and fans
// ---------------------------------------------------------------------------

float nn_init_gain(NnGain kind, float param)
{
    CHECK(kind >= 0 && kind < NN_GAIN_COUNT, "nn_init_gain: unknown kind %d", (int)kind);
    switch (kind) {
    case NN_GAIN_LINEAR:
    case NN_GAIN_SIGMOID: return 1.0f;
    case NN_GAIN_TANH: return (float)(5.0 / 3.0);
    case NN_GAIN_RELU: return (float)sqrt(2.0);
    case NN_GAIN_LEAKY_RELU: return (float)sqrt(2.0 / (1.0 + (double)param * param));
    case NN_GAIN_SELU: return 0.75f;
    case NN_GAIN_COUNT: break;
    }
    CHECK(0, "nn_init_gain: unhandled kind %s", gain_names[kind]);
    return 0.0f;
}

void nn_init_fans(const Tensor *w, int64_t *fan_in, int64_t *fan_out)
{
    CHECK(w->ndim >= 2, "fan in and fan out need a weight of at least 2 dims, %s has %d; hint: "
          "initialise a bias with nn_init_uniform or nn_init_linear_default", w->name, w->ndim);
    int64_t receptive = 1;
    for (int i = 2; i < w->ndim; i++) receptive *= w->shape[i];
    *fan_in = w->shape[1] * receptive;
    *fan_out = w->shape[0] * receptive;
}

static int64_t pick_fan(const Tensor *w, NnFanMode mode)
{
    int64_t fi, fo;
    nn_init_fans(w, &fi, &fo);
    int64_t fan = mode == NN_FAN_OUT ? fo : fi;
    CHECK(fan > 0, "kaiming init of %s: fan is 0 (an empty weight)", w->name);
    return fan;
}

// ---------------------------------------------------------------------------
// Initialisers
// ---------------------------------------------------------------------------

void nn_init_normal(Tensor *w, Rng *rng, float mean, float std)
{
    CHECK(std >= 0.0f, "nn_init_normal: std = %g < 0", std);
    tensor_fill_normal(w, rng, mean, std);
}

void nn_init_uniform(Tensor *w, Rng *rng, float lo, float hi)
{
    CHECK(lo <= hi, "nn_init_uniform: lo = %g > hi = %g", lo, hi);
    tensor_fill_uniform(w, rng, lo, hi);
}

void nn_init_xavier_uniform(Tensor *w, Rng *rng, float gain)
{
    int64_t fi, fo;
    nn_init_fans(w, &fi, &fo);
    CHECK(fi + fo > 0, "xavier init of %s: empty weight", w->name);
    // Var(U(-a, a)) = a^2 / 3 = gain^2 * 2 / (fan_in + fan_out)  =>  a = gain sqrt(6 / sum).
    float a = (float)((double)gain * sqrt(6.0 / (double)(fi + fo)));
    tensor_fill_uniform(w, rng, -a, a);
}

void nn_init_xavier_normal(Tensor *w, Rng *rng, float gain)
{
    int64_t fi, fo;
    nn_init_fans(w, &fi, &fo);
    CHECK(fi + fo > 0, "xavier init of %s: empty weight", w->name);
    float std = (float)((double)gain * sqrt(2.0 / (double)(fi + fo)));
    tensor_fill_normal(w, rng, 0.0f, std);
}

void nn_init_kaiming_uniform(Tensor *w, Rng *rng, float gain, NnFanMode mode)
{
    // std = gain / sqrt(fan); a uniform of that std has bound sqrt(3) * std.
    double std = (double)gain / sqrt((double)pick_fan(w, mode));
    float b = (float)(sqrt(3.0) * std);
    tensor_fill_uniform(w, rng, -b, b);
}

void nn_init_kaiming_normal(Tensor *w, Rng *rng, float gain, NnFanMode mode)
{
    float std = (float)((double)gain / sqrt((double)pick_fan(w, mode)));
    tensor_fill_normal(w, rng, 0.0f, std);
}

void nn_init_linear_default(Tensor *weight, Tensor *bias, Rng *rng)
{
    int64_t fi, fo;
    nn_init_fans(weight, &fi, &fo);
    CHECK(fi > 0, "nn_init_linear_default: %s has fan_in 0", weight->name);
    float bound = (float)(1.0 / sqrt((double)fi));
    tensor_fill_uniform(weight, rng, -bound, bound);
    if (bias) {
        CHECK(bias->ndim == 1 && bias->shape[0] == weight->shape[0],
              "nn_init_linear_default: bias of %lld for %lld outputs", (long long)bias->shape[0],
              (long long)weight->shape[0]);
        tensor_fill_uniform(bias, rng, -bound, bound);
    }
}
