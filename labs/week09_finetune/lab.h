/*
 * lab.h: the parts of the week-9 lab (fine-tuning vs retrieval), one concern per file.
 */
#ifndef LAB_WEEK09_H
#define LAB_WEEK09_H

#include "nn/lora.h"
#include "nn/word2vec.h"
#include "transformer/model.h"
#include "transformer/tokenizer.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

// One FOLDOC fact as a question and its short answer.
typedef struct {
    char *title;    // display headword, "Lisp"
    char *prompt;   // "Q: What is Lisp?\nA:" (the wording trained on)
    char *paraphrase; // "Q: What does Lisp mean?\nA:" (the same fact asked another way)
    char *answer;   // the first sentence of the definition, no newline
    int split;      // LAB_TRAIN (may be fine-tuned on) or LAB_HELD (never trained on)
} LabQa;

enum { LAB_TRAIN = 0, LAB_HELD = 1 };

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
// headword: ~20% held out. ERR_DEPENDENCY without dict-foldoc.
int lab_data_load(LabData *d);
void lab_data_free(LabData *d);
// The examples of split `split`, at most max_n of them (0 = all), each at most T tokens + 1.
void lab_examples_make(const LabData *d, int split, int64_t max_n, TfBpe *tok, int64_t T,
                       LabExamples *out);
// The same facts as src, row by row, asked in the paraphrased wording ("What does X mean?");
// a row whose paraphrase does not fit in T + 1 tokens is left out.
void lab_examples_rephrase(const LabData *d, const LabExamples *src, TfBpe *tok,
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
    float *val_loss;         // (epochs + 1) what early stopping watches
    float *probe_loss;       // (epochs + 1) the loss on `probe` (NaN without one): watched only
    int64_t trainable;       // parameters the optimizer updated
    int64_t state_bytes;     // AdamW's m and v, measured
    int64_t param_bytes;     // every weight (+ adapters) + the trainable gradients
    double seconds;          // wall time of the training
    NnParams *reg_;          // internal: the registry trained (borrowed)
    float *best_;            // internal: snapshot of the best weights
} LabFtResult;

// Trains m (lora NULL: every weight; else only the adapters, which must be attached). Early
// stopping watches the loss on val; the loss on probe (may be NULL) is only recorded.
int lab_finetune(TfModel *m, NnLora *lora, const LabExamples *train, const LabExamples *val,
                 const LabExamples *probe, const LabFtConfig *c, LabFtResult *r);
float lab_val_loss(TfModel *m, const LabExamples *val);
void lab_ft_restore(LabFtResult *r); // copies the best weights back
void lab_ft_free(LabFtResult *r);

// gguf.c: exports the adapted model (F32 GGUF + tokenizer) and checks llama.cpp's greedy
// continuation of `prompt` against the engine's when tests/llama_ref is built.
int lab_gguf_check(const TfModel *m, TfBpe *tok, const char *path, const char *prompt);

// retrieve.c: answers the questions idx[s][0..n[s]) (s = 0 seen, 1 held out) through the
// week-5 pipeline (rag_answer over every FOLDOC entry, the base model choosing the sentence,
// w2v the word vectors of dense search, borrowed); em[k], f1[k] get the means for k = 0 the
// seen questions, 1 the same entries paraphrased, 2 the held-out questions.
int lab_rag_eval(const LabData *d, TfModel *base, TfBpe *tok, const NnW2v *w2v,
                 const int64_t *const idx[2], const int64_t n[2], double em[3], double f1[3],
                 double *seconds);

// tune.c: part 6, contrastive tuning of the word-vector embedder (rag/tune.h) on the TRAIN
// split of the FOLDOC retrieval benchmark, and the retrieval table before / after on its TEST
// split (max_test queries, 0 = all). Writes <out>/embed_tune.png (the InfoNCE curves) and
// adds "embedding_tuning" to json. w2v is borrowed.
int lab_embed_tune(const NnW2v *w2v, int64_t max_test, const char *out, json_t *json);

#endif
