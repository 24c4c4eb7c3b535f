/*
 * model_util.h: transformer models and token sequences for the tests.
 *
 * GPT-2's init (N(0, 0.02), residual projections scaled down) makes a fresh model nearly an
 * identity with flat logits, where a wrong KV cache or a swapped head hides inside the
 * tolerance and greedy decoding is a coin toss. Tests that compare two paths redraw every
 * weight at a size that gives logits of O(1) or more.
 */
#ifndef TESTS_MODEL_UTIL_H
#define TESTS_MODEL_UTIL_H

#include "transformer/model.h"

#include <stdint.h>

// Redraws every parameter of m, seeded: norm gains N(1, 0.2), biases N(0, 0.1), every other
// weight N(0, w_std).
void test_model_redraw(TfModel *m, uint64_t seed, float w_std);

// n token ids uniform in [0, V), seeded.
void test_random_tokens(int32_t *tok, int n, int V, uint64_t seed);

#endif
