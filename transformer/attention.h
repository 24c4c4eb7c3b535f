/*
 * attention.h: scaled dot-product attention composed from tensor ops, "the NumPy way".
 *
 * The engine's models use the fused op tensor_attention (core/ops_attention.c): one node,
 * one backward. This file builds the same function from the basic ops, so every step is a
 * tensor you can print, and autograd differentiates it op by op:
 *     scores  = q k^T / sqrt(D)          (B, H, T, T)
 *     masked  = causal ? scores with -inf above the diagonal : scores
 *     weights = softmax(masked, dim = -1)
 *     out     = weights v                 (B, H, T, D)
 * It is the week-3 exercise w03.attention_forward; tests/graded/test_week03.c checks it
 * against the fused op, values and gradients.
 *
 * Shapes: q, k, v (B, H, T, D), the same number of heads (no grouped-query here). The result
 * lives in g's arena (borrowed).
 *
 * Usage:
 *     Tensor *o = tf_attention_composed(g, q, k, v, true);   // == tensor_attention(g, q, k, v, true)
 */
#ifndef TRANSFORMER_ATTENTION_H
#define TRANSFORMER_ATTENTION_H

#include "core/tensor.h"

#include <stdbool.h>

Tensor *tf_attention_composed(Graph *g, Tensor *q, Tensor *k, Tensor *v, bool causal);

#endif
