/*
 * softmax_ce.c: one row of softmax cross-entropy and its gradient, by hand (see softmax_ce.h).
 */
#include "nn/softmax_ce.h"

#include "core/err.h"
#include "core/exercise.h"

#include <math.h>

float nn_softmax_ce(float *dlogits, const float *logits, int32_t target, int64_t C)
{
    CHECK(C >= 1 && target >= 0 && target < C, "nn_softmax_ce: target %d with C = %lld",
          (int)target, (long long)C);
    // EXERCISE(w02.softmax_ce_grad): return L = -log softmax(logits)[target] and write
    //   dlogits[j] = softmax(logits)[j] - (j == target ? 1 : 0)  for j < C (overwrite).
    //   Compute stably: subtract m = max_j logits[j] before exp, so nothing overflows, and use
    //   L = log(sum_j exp(logits[j] - m)) - (logits[target] - m). Sum in double.
    //   It must stay finite and right for logits like {1000, -1000}.
    // STUB: (void)dlogits, (void)logits, (void)target, (void)C;
    // STUB: exercise_stub("w02.softmax_ce_grad"); return NAN;
    float m = logits[0];
    for (int64_t j = 1; j < C; j++) m = fmaxf(m, logits[j]);
    // sum of exp(z - m) is in [1, C]: the largest term is exactly 1.
    double sum = 0.0;
    for (int64_t j = 0; j < C; j++) sum += exp((double)logits[j] - m);
    double lse = log(sum); // log-sum-exp minus m
    for (int64_t j = 0; j < C; j++)
        dlogits[j] = (float)(exp((double)logits[j] - m - lse) - (j == target ? 1.0 : 0.0));
    return (float)(lse - ((double)logits[target] - m));
    // END EXERCISE
}
