/*
 * lab.h: the parts of the week-9 lab (fine-tuning vs retrieval), one concern per file.
 */
#ifndef LAB_WEEK09_H
#define LAB_WEEK09_H

#include "nn/lora.h"
#include "transformer/model.h"
#include "transformer/tokenizer.h"

#include <stdbool.h>
#include <stdint.h>

// One FOLDOC fact as a question and its short answer.
typedef struct {
    char *title;    // display headword, "Lisp"
    char *prompt;   // "Q: What is Lisp?\nA:"
    char *answer;   // the first sentence of the definition, no newline
    int split;      // LAB_TRAIN, LAB_VAL (seen, for early stopping) or LAB_HELD (never trained)
} LabQa;

enum { LAB_TRAIN = 0, LAB_VAL = 1, LAB_HELD = 2 };

typedef struct {
    int64_t n;
    LabQa *qa;        // (n) owned
    char *pretrain;   // Jargon + the FOLDOC entries that are NOT held out, owned
    size_t pretrain_len;
} LabData;

// Token examples for fine-tuning: row i is x = ids[0..T), y = ids[1..T], with the targets of
// the prompt and of the padding set to -1 (the loss is on the answer tokens only).
typedef struct {
    int64_t n, T;
    int32_t *x, *y;   // (n, T) owned
    int64_t *src;     // (n) owned: the LabQa index of each row
} LabExamples;

// data.c: the question/answer pairs of FOLDOC (cleaned, short answers) split by a hash of the
// headword: ~20% held out, 10% of the rest for validation. ERR_DEPENDENCY without dict-foldoc.
int lab_data_load(LabData *d);
void lab_data_free(LabData *d);
// The examples of split `split`, at most max_n of them (0 = all), each at most T tokens + 1.
void lab_examples_make(const LabData *d, int split, int64_t max_n, TfBpe *tok, int64_t T,
                       LabExamples *out);
void lab_examples_free(LabExamples *e);
// Exact match and token F1 of a predicted answer against the reference (normalised:
// lowercase, <category> tags and punctuation removed, whitespace collapsed).
void lab_score(const char *pred, const char *ref, double *em, double *f1);
// The model's greedy answer (KV cache, merged weights only) to prompt: up to max_new tokens,
// cut at the first newline. Returns a new string.
char *lab_greedy_answer(const TfModel *m, TfBpe *tok, const char *prompt, int max_new);

// finetune.c: fine-tuning on answer tokens with AdamW, one validation loss per epoch, early
// stopping with patience; the best-validation weights are kept aside (lab_ft_restore).
typedef struct {
    int max_epochs, patience;
    int64_t batch;
    float lr;
    uint64_t seed;
    const char *label; // progress-bar label
} LabFtConfig;

typedef struct {
    int epochs;              // epochs run
    int best_epoch;          // 0 = the start was best
    float *train_loss;       // (epochs + 1) [0] = before training (= val of nothing: NaN)
    float *val_loss;         // (epochs + 1)
    int64_t trainable;       // parameters the optimizer updated
    int64_t state_bytes;     // AdamW's m and v, measured
    int64_t param_bytes;     // every weight (+ adapters) + the trainable gradients
    double seconds;          // wall time of the training
    NnParams *reg_;          // internal: the registry trained (borrowed)
    float *best_;            // internal: snapshot of the best weights
} LabFtResult;

// Trains m (lora NULL: every weight; else only the adapters, which must be attached).
int lab_finetune(TfModel *m, NnLora *lora, const LabExamples *train, const LabExamples *val,
                 const LabFtConfig *c, LabFtResult *r);
float lab_val_loss(TfModel *m, const LabExamples *val);
void lab_ft_restore(LabFtResult *r); // copies the best weights back
void lab_ft_free(LabFtResult *r);

// gguf.c: exports the adapted model (F32 GGUF + tokenizer) and checks llama.cpp's greedy
// continuation of `prompt` against the engine's when tests/llama_ref is built.
int lab_gguf_check(const TfModel *m, TfBpe *tok, const char *path, const char *prompt);

// retrieve.c: answers the questions idx[s][0..n[s]) (s = 0 seen, 1 held out) through the
// week-5 pipeline (rag_answer over every FOLDOC entry, the base model choosing the sentence);
// em[s], f1[s] get the means.
int lab_rag_eval(const LabData *d, TfModel *base, TfBpe *tok, bool quick,
                 const int64_t *const idx[2], const int64_t n[2], double em[2], double f1[2],
                 double *seconds);

#endif
