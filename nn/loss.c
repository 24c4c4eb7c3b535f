/*
 * loss.c: losses composed from core ops (see loss.h for the math).
 *
 * Nothing here has a hand-written backward: each loss is a short chain of differentiable ops,
 * and tests/nn/test_loss.c checks the composed gradients against finite differences and the
 * values against PyTorch.
 */
#include "nn/loss.h"

#include "core/err.h"
#include "core/exercise.h"

#include <stdint.h>
#include <stdio.h>

// "(3, 4)" into buf, for error messages.
static const char *shape_of(const Tensor *t, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < t->ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (k < len) snprintf(buf + k, len - k, ")");
    return buf;
}

// ---------------------------------------------------------------------------
// Regression and classification
// ---------------------------------------------------------------------------

Tensor *nn_mse_loss(Graph *g, Tensor *pred, Tensor *target)
{
    char a[64], b[64];
    CHECK(tensor_same_shape(pred, target), "mse: pred %s and target %s differ; hint: a target "
          "of shape (N,) against pred (N, 1) would broadcast to (N, N)", shape_of(pred, a, 64),
          shape_of(target, b, 64));
    Tensor *d = tensor_sub(g, pred, target);
    return tensor_mean_all(g, tensor_mul(g, d, d));
}

Tensor *nn_cross_entropy_loss(Graph *g, Tensor *logits, Tensor *targets, int ignore_index)
{
    char a[64], b[64];
    CHECK(logits->ndim == targets->ndim + 1 && (logits->ndim == 2 || logits->ndim == 3),
          "cross_entropy: logits %s and targets %s; hint: logits (N, C) with targets (N,), or "
          "(B, T, C) with (B, T)", shape_of(logits, a, 64), shape_of(targets, b, 64));
    if (logits->ndim == 3) {
        int64_t C = logits->shape[2];
        logits = tensor_reshape(g, logits, 2, (int64_t[]){-1, C});
        targets = tensor_reshape(g, targets, 1, (int64_t[]){-1});
    }
    return tensor_cross_entropy(g, logits, targets, ignore_index);
}

Tensor *nn_bce_with_logits_loss(Graph *g, Tensor *logits, Tensor *targets)
{
    char a[64], b[64];
    CHECK(tensor_same_shape(logits, targets) && targets->dtype == DT_F32,
          "bce: logits %s and float targets %s must have one shape", shape_of(logits, a, 64),
          shape_of(targets, b, 64));
    // The sign mask picks the branch of max(x, 0) and -|x|; it is data, not differentiated.
    // At x = 0 exactly: relu'(0) = 0 and d(-|x|)/dx = +1 (the x <= 0 branch), which adds up
    // to the true derivative sigmoid(0) - y = 0.5 - y.
    int64_t n = tensor_numel(logits);
    Tensor *x = tensor_contiguous(g, logits);
    Tensor *pos = tensor_new(graph_arena(g), DT_F32, x->ndim, x->shape);
    for (int64_t i = 0; i < n; i++) pos->data[i] = x->data[i] > 0.0f ? 1.0f : 0.0f;
    Tensor *neg_abs = tensor_where(g, pos, tensor_neg(g, x), x);            // -|x|
    Tensor *softplus_tail = tensor_log(g, tensor_add_scalar(g, tensor_exp(g, neg_abs), 1.0f));
    Tensor *l = tensor_sub(g, tensor_relu(g, x), tensor_mul(g, x, targets)); // max(x,0) - x y
    return tensor_mean_all(g, tensor_add(g, l, softplus_tail));
}

// ---------------------------------------------------------------------------
// Contrastive
// ---------------------------------------------------------------------------

Tensor *nn_l2_normalize(Graph *g, Tensor *x, float eps)
{
    CHECK(x->ndim >= 1 && eps >= 0.0f, "l2_normalize: %d dims, eps %g", x->ndim, eps);
    Tensor *ss = tensor_sum(g, tensor_mul(g, x, x), -1, true); // (..., 1)
    return tensor_div(g, x, tensor_sqrt(g, tensor_add_scalar(g, ss, eps)));
}

Tensor *nn_info_nce_loss(Graph *g, Tensor *q, Tensor *k, float tau, bool symmetric)
{
    char a[64], b[64];
    CHECK(q->ndim == 2 && tensor_same_shape(q, k), "info_nce: q %s and k %s must both be "
          "(B, D)", shape_of(q, a, 64), shape_of(k, b, 64));
    CHECK(tau > 0.0f, "info_nce: temperature %g must be > 0", tau);
    int64_t B = q->shape[0];
    CHECK(B <= INT32_MAX, "info_nce: batch %lld too large", (long long)B);
    // EXERCISE(w09.infonce): the InfoNCE loss with in-batch negatives (see loss.h). Make the
    //   int32 targets 0, 1, ..., B-1 (row i's positive is column i), the similarities
    //   S = q k^T / tau (B, B) with tensor_matmul on a transposed view of k and
    //   tensor_mul_scalar, and the loss tensor_cross_entropy(S, targets). When symmetric, also
    //   take the cross-entropy of S^T (keys -> queries) and return the mean of the two.
    // STUB: exercise_stub("w09.infonce"); (void)symmetric;
    // STUB: return tensor_sum_all(g, tensor_mul_scalar(g, q, 0.0f));
    // The positive of row i is column i: targets 0, 1, ..., B-1.
    Tensor *targets = tensor_new(graph_arena(g), DT_I32, 1, (int64_t[]){B});
    for (int64_t i = 0; i < B; i++) targets->idata[i] = (int32_t)i;
    // S = q k^T / tau (B, B); k^T is a transposed view, sgemm's transpose flag.
    Tensor *s = tensor_mul_scalar(g, tensor_matmul(g, q, tensor_transpose(g, k, 0, 1)),
                                  1.0f / tau);
    Tensor *loss = tensor_cross_entropy(g, s, targets, -1);
    if (!symmetric) return loss;
    // Columns: each key against every query (cross_entropy makes the view contiguous).
    Tensor *loss_t = tensor_cross_entropy(g, tensor_transpose(g, s, 0, 1), targets, -1);
    return tensor_mul_scalar(g, tensor_add(g, loss, loss_t), 0.5f);
    // END EXERCISE
}
