/*
 * lab.h: the parts of the week-3 lab (one function per file).
 */
#ifndef LAB_WEEK03_H
#define LAB_WEEK03_H

#include "transformer/model.h"
#include "transformer/sample.h"
#include "transformer/tokenizer.h"

#include <stdint.h>

// Part 1 (attention.c): attention step by step on a tiny example; writes
// OUT/attention_steps.png.
int lab_attention_steps(const char *out_dir, uint64_t seed);

// Part 3 (attention.c): the causal attention weights of layer 0, head `head`, of a trained
// model over ids[0..T), as a heatmap with the tokens as labels.
int lab_attention_map(TfModel *m, const int32_t *ids, int T, int head,
                      const char *const *labels, const char *path);

// generate.c: samples up to max_new tokens after `prompt` (stopping at `stop` when not empty)
// and returns the new text in *text (malloc'd, caller frees).
int lab_generate_text(TfModel *m, TfBpe *tok, const char *prompt, int max_new,
                      const TfSampler *sampler, const char *stop, char **text);

// The `generate` subcommand (argv[0] is "generate").
int lab_generate_main(int argc, char **argv);

#endif
