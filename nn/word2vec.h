/*
 * word2vec.h: word embeddings trained from scratch (skip-gram with negative sampling).
 *
 * Skip-gram (Mikolov et al., 2013) learns a vector per word so that a word predicts the words
 * around it. Each word w has two vectors: v_w (the "input" vector, the embedding kept at the
 * end) and u_w (the "output" or context vector). For a centre word c, a context word o seen
 * within `window` positions of it, and K "negative" words n_1..n_K drawn at random from the
 * unigram distribution raised to the power 0.75, negative sampling minimises
 *
 *     L = -log s(u_o . v_c) - sum_k log s(-u_nk . v_c),        s(x) = 1 / (1 + e^-x)
 *
 * so that true (centre, context) pairs score high and random pairs score low. The gradient is
 * written out by hand (nn_w2v_sgns_step) and applied by plain SGD on raw float arrays, with a
 * learning rate that decays linearly to zero over the run, as the original word2vec does.
 * Frequent words ("the", "of") are randomly dropped before training (subsampling): a word of
 * corpus frequency f is kept with probability (sqrt(f / t) + 1) t / f, t = cfg.subsample.
 *
 * Words are lowercase runs of [a-z0-9] with inner ' or - ("don't", "x-window"); every other
 * byte separates words. The vocabulary keeps the words seen at least min_count times, sorted by
 * count (most frequent first; ties in byte order), so word id 0 is the most frequent.
 *
 * Dimensions: V = vocabulary size, D = vector size, K = negatives per pair.
 *
 * Files: nn_w2v_save writes one safetensors file holding "embeddings" (V, D) F32 and "counts"
 * (V,) I32, and the vocabulary in the metadata: key "vocab", the V words joined by '\n', in id
 * order (plus "format": "engine-word2vec-1"). One file, so the words can never get out of step
 * with the rows; any safetensors reader sees the matrix.
 *
 * Ownership: an NnW2v is caller-owned storage (nn_w2v_init / nn_w2v_load fill it,
 * nn_w2v_deinit releases everything it owns). Strings and arrays in it are borrowed from it.
 * Errors: bad input text or files are environment errors (negative Err, err_msg()); misuse
 * (NULL, k out of range) is a bug (CHECK).
 *
 * Usage:
 *     NnW2v m;
 *     if (nn_w2v_init(&m, text, 0, 5, 100, 1) != ERR_OK) die(err_msg());   // vocabulary
 *     NnW2vConfig cfg = {.window = 5, .negatives = 5, .epochs = 3, .lr = 0.025f,
 *                        .subsample = 1e-3f, .seed = 1, .progress = 1};
 *     nn_w2v_train(&m, text, 0, &cfg, NULL);
 *     int64_t idx[5]; float sc[5];
 *     int64_t q = nn_w2v_find(&m, "unix");
 *     nn_w2v_neighbors(&m, m.unit + q * m.dim, &q, 1, 5, idx, sc);      // 5 nearest words
 *     nn_w2v_save(&m, "out/embeddings.safetensors");
 *     nn_w2v_deinit(&m);
 */
#ifndef NN_WORD2VEC_H
#define NN_WORD2VEC_H

#include "datasets/wordnet.h"

#include <stdint.h>

#define NN_W2V_MAX_DIM  1024 // largest D (nn_w2v_sgns_step keeps a (D) buffer on the stack)
#define NN_W2V_MAX_WORD 64   // longest word, bytes with the NUL; longer runs are skipped
#define NN_W2V_MAX_K    100  // largest k of nn_w2v_handle_request's "neighbors"

typedef struct {
    int64_t vocab;  // V
    int64_t dim;    // D
    char **words;   // (V) the words, most frequent first (each owned by the model)
    int64_t *counts;// (V) corpus counts
    float *emb;     // (V, D) input vectors v_w: the embeddings
    float *ctx;     // (V, D) output vectors u_w (NULL after nn_w2v_load)
    float *unit;    // (V, D) emb with unit rows, for cosines (nn_w2v_normalize fills it)
    int64_t *hash_; // internal: open-addressing table of word ids (-1 = empty)
    int64_t hash_size_;
} NnW2v;

typedef struct {
    int window;      // the context is up to `window` words on each side (a random 1..window
                     // per centre, which weights near words more, as word2vec does)
    int negatives;   // K, 1..64
    int epochs;      // passes over the text
    float lr;        // starting learning rate; decays linearly to lr * 1e-4
    float subsample; // t of the subsampling formula (1e-3 typical); 0 keeps every word
    uint64_t seed;   // subsampling, windows and negatives
    int progress;    // 1: progress lines on stderr
} NnW2vConfig;

typedef struct {
    int64_t words_trained; // centre words processed over all epochs (after subsampling)
    double seconds;
    double words_per_sec;  // corpus words (before subsampling) per second
    float final_loss;      // mean loss per (centre, context) pair over the last 1% of pairs
} NnW2vStats;

typedef struct {
    int64_t n_eval;   // evaluation words that have at least one synonym in the vocabulary
    double mrr;       // mean over them of 1 / rank of the best-ranked synonym
    double recall10;  // fraction whose best-ranked synonym is in the top 10
} NnW2vEval;

// The gradient step of skip-gram with negative sampling for one centre vector v_center (D), its
// true context vector u_ctx (D) and K negative context vectors u_neg[k] (D each). Returns the
// loss -log s(u_ctx . v) - sum_k log s(-u_neg[k] . v) before the step and updates all K + 2
// vectors in place by -lr * gradient; every gradient is taken at the old values (v's gradient is
// accumulated over the K + 1 terms and applied last). D <= NN_W2V_MAX_DIM.
float nn_w2v_sgns_step(float *v_center, float *u_ctx, float *const *u_neg, int K, int64_t D,
                       float lr);

// Splits text into words (see the top of this file): writes the next word at or after *pos to
// buf (lowercased, NUL-terminated, at most NN_W2V_MAX_WORD - 1 bytes), moves *pos past it and
// returns 1; returns 0 at the end of the text. Words that are too long are skipped.
int nn_w2v_next_word(const char *text, int64_t *pos, char *buf);

// Builds the vocabulary from the first max_tokens words of text (0 = all) keeping words seen
// >= min_count times, and allocates emb (uniform in [-0.5/D, 0.5/D), seeded), ctx (zeros) and
// unit. Returns ERR_OK, or ERR_INVALID when no word qualifies (m is then zeroed).
int nn_w2v_init(NnW2v *m, const char *text, int64_t max_tokens, int min_count, int64_t dim,
                uint64_t seed);

// Frees everything m owns and zeroes it. Safe on a zeroed model.
void nn_w2v_deinit(NnW2v *m);

// The id of word (exact, already lowercase), or -1.
int64_t nn_w2v_find(const NnW2v *m, const char *word);

// Fills table (size entries) with word ids, id i appearing in proportion to counts[i]^0.75:
// a uniform draw from the table is a draw from the negative-sampling distribution.
void nn_w2v_neg_table(int32_t *table, int64_t size, const int64_t *counts, int64_t V);

// Trains on the first max_tokens words of text (0 = all), then refreshes m->unit. stats may be
// NULL. Returns ERR_OK, or ERR_INVALID when the text has no vocabulary word or m->ctx is NULL.
int nn_w2v_train(NnW2v *m, const char *text, int64_t max_tokens, const NnW2vConfig *cfg,
                 NnW2vStats *stats);

// Recomputes m->unit from m->emb.
void nn_w2v_normalize(NnW2v *m);

// The k words whose unit vectors have the largest cosine with q (D; any length), best first,
// skipping the n_exclude ids in exclude. Writes idx (k) and scores (k, may be NULL); returns how
// many were written (less than k when the vocabulary is too small).
int64_t nn_w2v_neighbors(const NnW2v *m, const float *q, const int64_t *exclude, int n_exclude,
                         int64_t k, int64_t *idx, float *scores);

// The analogy a : b :: c : ? by 3CosAdd: the word whose unit vector is closest to
// unit(b) - unit(a) + unit(c), excluding a, b and c. Returns its id (and *score), or -1 when a
// word is not in the vocabulary.
int64_t nn_w2v_analogy(const NnW2v *m, const char *a, const char *b, const char *c,
                       float *score);

// The mean of the unit vectors of the known words of text (out: D). Returns how many words were
// known (0: out is zeros). If unknown is not NULL, the first unknown word is copied there
// (NN_W2V_MAX_WORD bytes; "" when none).
int64_t nn_w2v_text_vector(const NnW2v *m, const char *text, float *out, char *unknown);

// WordNet evaluation of the vectors `unit` (V, D, unit rows: m->unit, or a baseline of the same
// shape). Evaluation words are the most frequent vocabulary words (up to n_words of them, at
// least 3 letters) that have a WordNet synonym in the vocabulary; for each, the synonyms are
// ranked among all other vocabulary words by cosine, and the rank r of the best one gives
// 1 / r (MRR) and r <= 10 (recall@10).
void nn_w2v_eval_wordnet(const NnW2v *m, const float *unit, const DsWordNet *wn, int64_t n_words,
                         NnW2vEval *out);

// Saves words, counts and emb (format at the top of this file), atomically. ERR_OK or ERR_IO.
int nn_w2v_save(const NnW2v *m, const char *path);

// Loads a file written by nn_w2v_save into m (ctx stays NULL; unit is filled). On failure m is
// zeroed and the error names the file and field: ERR_IO, ERR_FORMAT (no "vocab", a word count
// that does not match the rows, a bad or duplicate word), ERR_SHAPE, and st_open's errors.
int nn_w2v_load(NnW2v *m, const char *path);

// The embedding similarity service: handles one request line (JSON) and sets *reply to a new
// one-line JSON reply (caller frees with free()). Requests:
//   {"op":"similarity","a":TEXT,"b":TEXT}     -> {"ok":true,"similarity":0.71}
//   {"op":"neighbors","word":TEXT,"k":5}      -> {"ok":true,"neighbors":[{"word":..,"score":..}]}
//   {"op":"analogy","a":..,"b":..,"c":..}     -> {"ok":true,"word":..,"score":..}
// A TEXT of one word must be in the vocabulary; a longer text is the mean of its known words'
// vectors and needs at least one. k defaults to 10 and must be 1..NN_W2V_MAX_K. Any bad request
// gives {"ok":false,"error":"..."} and returns ERR_INVALID; a good one returns ERR_OK.
int nn_w2v_handle_request(const NnW2v *m, const char *line, char **reply);

#endif
