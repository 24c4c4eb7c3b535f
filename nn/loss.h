/*
 * loss.h: the training objectives: MSE, cross-entropy, binary cross-entropy with logits and
 * InfoNCE (contrastive, in-batch negatives).
 *
 * Every loss is composed from core ops on a Graph, so autograd differentiates it; each returns
 * a scalar tensor (shape ()) from the graph's arena, ready for graph_backward. All are means
 * over the examples (PyTorch's reduction='mean').
 *
 *   MSE:  L = mean((pred - target)^2)
 *   CE:   L = mean_i -log softmax(logits_i)[y_i]   (fused, stable; core/ops_nn.c)
 *   BCE:  L = mean(-y log s(x) - (1 - y) log(1 - s(x))), s = sigmoid, written in the stable
 *         form  max(x, 0) - x y + log(1 + exp(-|x|))  which never takes the log of 0 nor
 *         exponentiates a large positive number. Its gradient is s(x) - y (over N).
 *   InfoNCE (van den Oord et al. 2018; CLIP, SimCLR): queries q (B, D) and keys k (B, D), row i
 *         of k the positive for row i of q and every other row a negative ("in-batch
 *         negatives"). The logits are the similarities S = q k^T / tau (B, B), and the loss is
 *         the cross-entropy of each row against its diagonal:
 *             L = mean_i -log( exp(S_ii) / sum_j exp(S_ij) ).
 *         Symmetric (CLIP) averages it with the same loss over the columns (keys -> queries).
 *         tau (temperature) sharpens (small) or flattens (large) the softmax. Normalise q and
 *         k to unit rows first (nn_l2_normalize) for cosine similarities.
 *
 * Errors: shape and dtype mismatches are bugs (CHECK).
 *
 * Usage:
 *     Tensor *loss = nn_cross_entropy_loss(g, logits, targets, -1);  // (N, C), (N,) i32
 *     Tensor *l2 = nn_bce_with_logits_loss(g, scores, labels01);     // same shapes, float
 *     Tensor *qn = nn_l2_normalize(g, q, 1e-12f), *kn = nn_l2_normalize(g, k, 1e-12f);
 *     Tensor *l3 = nn_info_nce_loss(g, qn, kn, 0.07f, true);          // (B, D) each
 *     graph_backward(g, loss);
 */
#ifndef NN_LOSS_H
#define NN_LOSS_H

#include "core/tensor.h"

#include <stdbool.h>

// Mean squared error between pred and target (same shape; target need not require grad).
Tensor *nn_mse_loss(Graph *g, Tensor *pred, Tensor *target);

// Mean cross-entropy of logits (N, C) or (B, T, C) against int32 targets (N,) or (B, T),
// skipping targets equal to ignore_index (-1: none ignored). (B, T, C) is flattened to
// (B*T, C) first, as a language model needs.
Tensor *nn_cross_entropy_loss(Graph *g, Tensor *logits, Tensor *targets, int ignore_index);

// Mean binary cross-entropy of logits x against float targets y in [0, 1] (same shape), in the
// stable form above (torch.nn.functional.binary_cross_entropy_with_logits).
Tensor *nn_bce_with_logits_loss(Graph *g, Tensor *logits, Tensor *targets);

// x / sqrt(sum(x^2 over the last dim) + eps): unit rows (for cosine similarities).
Tensor *nn_l2_normalize(Graph *g, Tensor *x, float eps);

// InfoNCE with in-batch negatives: q, k (B, D), temperature tau > 0. `symmetric` averages the
// query->key and key->query losses (CLIP).
Tensor *nn_info_nce_loss(Graph *g, Tensor *q, Tensor *k, float tau, bool symmetric);

#endif
