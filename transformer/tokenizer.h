/*
 * tokenizer.h: text <-> token ids for the transformer (prefix tf_tok_).
 *
 * Two tokenizers, both byte-level so that any byte string (invalid UTF-8 included) encodes and
 * decodes back to the same bytes:
 *
 *   - TfTokChar, character level: one id per distinct byte of a training text (ids in byte
 *     order). Tiny and transparent, for the first language-model labs.
 *   - TfBpe, byte-level BPE as GPT-2 does it: text is cut into pre-tokens by GPT-2's pattern
 *     (tok_pretok.c), each pre-token's bytes start as one token each, and merges are applied
 *     lowest rank first. A TfBpe is trained here on a corpus (tf_tok_bpe_train), or loaded
 *     from GPT-2's own encoder.json + vocab.bpe (tf_tok_bpe_load), in which case it produces
 *     exactly GPT-2's token ids. Our own tokenizers are saved in that same two-file format.
 *
 * Ids are int32_t. For a trained TfBpe, ids 0..255 are the bytes 0..255 and id 256 + k is the
 * k-th new token made by training; for a loaded one the ids are the file's.
 *
 * Ownership: a TfBpe is created by tf_tok_bpe_load/tf_tok_bpe_train and freed with
 * tf_tok_bpe_free (NULL is fine). Encode/decode return malloc'd buffers the caller frees.
 * A TfBpe keeps a cache of encoded pre-tokens that encode fills, so one TfBpe must not be
 * used by two threads at once. TfTokChar is caller-owned storage with no heap memory.
 *
 * Errors: loading a malformed file returns ERR_IO/ERR_FORMAT with err_msg() naming the file,
 * the line or JSON key and a hint; decoding an id outside the vocabulary is ERR_RANGE;
 * char-level encoding of a byte outside the vocabulary is ERR_INVALID. Bugs (NULL where not
 * allowed, a vocabulary size below 256) are CHECKs.
 *
 * Usage:
 *     TfBpe *bpe;
 *     if (tf_tok_bpe_load("encoder.json", "vocab.bpe", &bpe) != ERR_OK) die(err_msg());
 *     int32_t *ids;
 *     int64_t n = tf_tok_bpe_encode(bpe, "Hello world", 11, &ids);   // {15496, 995}
 *     char *text;
 *     size_t len;
 *     if (tf_tok_bpe_decode(bpe, ids, n, &text, &len) != ERR_OK) die(err_msg());
 *     free(ids), free(text);
 *     tf_tok_bpe_free(bpe);
 *
 *     TfBpe *mine = tf_tok_bpe_train(corpus, corpus_len, 4096);   // 256 bytes + 3840 merges
 *     tf_tok_bpe_save(mine, "out/encoder.json", "out/vocab.bpe");
 */
#ifndef TRANSFORMER_TOKENIZER_H
#define TRANSFORMER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

// ---------------------------------------------------------------------------
// Pre-tokenisation (GPT-2's pattern, by hand over UTF-8)
// ---------------------------------------------------------------------------

// Returns the end offset of the pre-token that starts at `pos` (pos < n), following GPT-2's
// pattern 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ with
// JavaScript's \s and Unicode 17.0 classes (as node 20 runs it). A byte that is not part of
// valid UTF-8 counts as one symbol: neither letter, number nor space.
// Loop: for (size_t p = 0, e; p < n; p = e) e = tf_tok_pretok_next(s, n, p);
size_t tf_tok_pretok_next(const uint8_t *s, size_t n, size_t pos);

// ---------------------------------------------------------------------------
// Byte-level BPE
// ---------------------------------------------------------------------------

typedef struct TfBpe TfBpe;

// Loads GPT-2's format: encoder.json (token string -> id, bytes written through GPT-2's
// bytes_to_unicode map) and vocab.bpe ("#version" line, then one merge "A B" per line, in rank
// order). On success *out is owned by the caller. Errors: ERR_IO (missing file), ERR_FORMAT
// (bad JSON, an unknown token on a merge line, a missing single-byte token...).
int tf_tok_bpe_load(const char *encoder_json, const char *vocab_bpe, TfBpe **out);

// Writes the two files of tf_tok_bpe_load's format, each atomically. ERR_IO on failure.
int tf_tok_bpe_save(const TfBpe *t, const char *encoder_json, const char *vocab_bpe);

// Trains a BPE on `text` until the vocabulary has `vocab_size` tokens (>= 256) or no adjacent
// pair is left. Each step merges the pair of adjacent tokens with the highest count over all
// pre-tokens (counted with their frequency); ties go to the smallest (left id, right id).
// A merge whose bytes equal an existing token reuses that id (so token strings stay unique,
// as GPT-2's encoder.json needs). Deterministic. Returns a new TfBpe (caller frees).
TfBpe *tf_tok_bpe_train(const void *text, size_t n, int vocab_size);

// Frees t and its cache. NULL does nothing.
void tf_tok_bpe_free(TfBpe *t);

// Encodes n bytes of text. *ids is a new malloc'd array (caller frees; non-NULL even when the
// count is 0). Returns the number of ids. Every byte string is encodable.
int64_t tf_tok_bpe_encode(TfBpe *t, const void *text, size_t n, int32_t **ids);

// Decodes ids to bytes: *text is malloc'd (caller frees) and NUL-terminated (not counted in
// *len). ERR_RANGE (and *text = NULL) when an id is outside the vocabulary.
int tf_tok_bpe_decode(const TfBpe *t, const int32_t *ids, int64_t n, char **text, size_t *len);

// Number of tokens (ids are 0 .. size-1) and merges.
int tf_tok_bpe_vocab_size(const TfBpe *t);
int tf_tok_bpe_n_merges(const TfBpe *t);

// The bytes of token `id` (borrowed, valid while t lives); *len gets their count.
const uint8_t *tf_tok_bpe_token(const TfBpe *t, int32_t id, size_t *len);

// One BPE merge step (graded exercise w03.bpe_merge): replaces every adjacent occurrence of the
// pair (a, b) in ids[0..n) by new_id, scanning left to right without overlap ("a a a" with
// pair (a, a) gives "X a"), in place. Returns the new length.
int64_t tf_tok_bpe_merge(int32_t *ids, int64_t n, int32_t a, int32_t b, int32_t new_id);

// ---------------------------------------------------------------------------
// Character level (bytes)
// ---------------------------------------------------------------------------

typedef struct {
    int n;               // vocabulary size, 0..256
    uint8_t bytes[256];  // bytes[id]: the byte of token id, increasing
    int16_t id_of[256];  // id_of[byte]: its id, or -1 when the byte is not in the vocabulary
} TfTokChar;

// Vocabulary = the distinct bytes of text[0..n), in byte order.
void tf_tok_char_init(TfTokChar *t, const void *text, size_t n);

// ids must hold n entries. ERR_INVALID (naming the offset) on a byte outside the vocabulary.
int tf_tok_char_encode(const TfTokChar *t, const void *text, size_t n, int32_t *ids);

// out must hold n bytes. ERR_RANGE on an id outside 0..t->n-1.
int tf_tok_char_decode(const TfTokChar *t, const int32_t *ids, int64_t n, uint8_t *out);

// JSON {"format":"tf_tok_char","version":1,"bytes":[10,32,...]}, written atomically.
int tf_tok_char_save(const TfTokChar *t, const char *path);

// Reads tf_tok_char_save's file. ERR_IO / ERR_FORMAT (naming the field) on a bad file.
int tf_tok_char_load(const char *path, TfTokChar *t);

#endif
