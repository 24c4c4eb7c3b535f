/*
 * softmax_ce.h: softmax cross-entropy and its gradient for one example, written out by hand.
 *
 * A classifier outputs C logits z (unnormalised log-probabilities). Softmax turns them into a
 * distribution, p_j = exp(z_j) / sum_k exp(z_k), and the cross-entropy against the true class
 * y is the surprise of the truth under the model:
 *
 *     L = -log p_y = log(sum_k exp(z_k)) - z_y
 *
 * Its gradient is remarkably simple: dL/dz_j = p_j - [j == y], "what the model believed minus
 * what was true". The components sum to zero (softmax is unchanged when every logit moves by the
 * same amount, so the loss is flat along that direction).
 *
 * Stability. exp(1000) overflows a float (max ~3.4e38 = e^88.7). Since softmax is invariant
 * to a shift, compute with m = max_k z_k subtracted: every exp(z_k - m) is in (0, 1], the sum is
 * in [1, C], and log(sum) never sees 0 or Inf. The same shift gives the log-sum-exp:
 *     log(sum_k exp(z_k)) = m + log(sum_k exp(z_k - m)).
 *
 * tensor_cross_entropy (core/tensor.h) computes the mean of this over a batch, fused, and
 * autograd differentiates it; this function is the one-row version a student writes to see
 * that the gradient is not magic. The week-2 classifier lab checks that both agree.
 *
 * Ownership: both pointers are borrowed for the call. Errors: C < 1 or a target outside
 * [0, C) is a bug (CHECK).
 *
 * Usage:
 *     float logits[3] = {2.0f, 1.0f, 0.1f}, dlogits[3];
 *     float loss = nn_softmax_ce(dlogits, logits, 0, 3);   // 0.417; dlogits = p - onehot(0)
 *     // dlogits[0] = 0.659 - 1 = -0.341, dlogits[1] = 0.242, dlogits[2] = 0.099
 */
#ifndef NN_SOFTMAX_CE_H
#define NN_SOFTMAX_CE_H

#include <stdint.h>

// Cross-entropy -log softmax(logits)[target] of one row of C logits, computed stably (any
// finite logits give a finite loss). Writes (overwrites) dlogits (C,) = softmax(logits) -
// onehot(target), the gradient of the returned loss.
float nn_softmax_ce(float *dlogits, const float *logits, int32_t target, int64_t C);

#endif
