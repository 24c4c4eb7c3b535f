/*
 * attention.c: attention from tensor ops (see attention.h for the math).
 */
#include "transformer/attention.h"

#include "core/exercise.h"

#include <math.h>

Tensor *tf_attention_composed(Graph *g, Tensor *q, Tensor *k, Tensor *v, bool causal)
{
    CHECK(q->ndim == 4 && tensor_same_shape(q, k) && tensor_same_shape(q, v),
          "tf_attention_composed: q, k, v must be (B, H, T, D) of one shape");
    int64_t T = q->shape[2], D = q->shape[3];
    // EXERCISE(w03.attention_forward): build causal (or full) scaled dot-product attention
    //   from tensor ops: scores = q k^T / sqrt(D) (tensor_matmul with tensor_transpose(g, k, 2,
    //   3), tensor_mul_scalar); when causal, hide key j > query i with tensor_masked_fill(...,
    //   -INFINITY) using a (T, T) float mask (1 = hidden) that broadcasts over (B, H); then
    //   tensor_softmax over the last dim and tensor_matmul with v. Return the (B, H, T, D) result.
    // STUB: (void)g, (void)q, (void)k, (void)v, (void)causal, (void)T, (void)D;
    // STUB: exercise_stub("w03.attention_forward"); return tensor_zeros(graph_arena(g), 4, q->shape);
    Tensor *scores = tensor_matmul(g, q, tensor_transpose(g, k, 2, 3)); // (B, H, T, T)
    scores = tensor_mul_scalar(g, scores, 1.0f / sqrtf((float)D));
    if (causal) {
        Tensor *mask = tensor_zeros(graph_arena(g), 2, (int64_t[]){T, T});
        for (int64_t i = 0; i < T; i++)
            for (int64_t j = i + 1; j < T; j++) mask->data[i * T + j] = 1.0f;
        scores = tensor_masked_fill(g, scores, mask, -INFINITY);
    }
    return tensor_matmul(g, tensor_softmax(g, scores, -1), v);
    // END EXERCISE
}
