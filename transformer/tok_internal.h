/*
 * tok_internal.h: what the tokenizer files share inside transformer/ (not a public API).
 *
 *   - the Unicode class tables (unicode_tables.c, generated) and the class test;
 *   - the TfBpe struct, filled by tok_bpe_io.c (load) and tok_bpe_train.c (train), used by
 *     tok_bpe.c (encode/decode);
 *   - a small open-addressing hash map from uint64 keys to int64 values (pairs, caches);
 *   - GPT-2's bytes_to_unicode map.
 */
#ifndef TRANSFORMER_TOK_INTERNAL_H
#define TRANSFORMER_TOK_INTERNAL_H

#include "transformer/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern const uint32_t tf_tok_letter_ranges[][2];
extern const int tf_tok_letter_ranges_n;
extern const uint32_t tf_tok_number_ranges[][2];
extern const int tf_tok_number_ranges_n;

// ---------------------------------------------------------------------------
// U64 -> I64 hash map (open addressing, linear probing, never shrinks, no delete)
// ---------------------------------------------------------------------------

typedef struct {
    uint64_t *keys;  // (cap) key + 1; 0 marks an empty slot
    int64_t *vals;   // (cap)
    size_t cap;      // power of two
    size_t len;
} TokMap;

void tok_map_init(TokMap *m, size_t cap_hint);
void tok_map_deinit(TokMap *m);
// The value of key, or -1 when absent.
int64_t tok_map_get(const TokMap *m, uint64_t key);
// Inserts or overwrites.
void tok_map_put(TokMap *m, uint64_t key, int64_t val);
// 64-bit hash of a byte string (FNV-1a folded through a mixer).
uint64_t tok_hash_bytes(const uint8_t *s, size_t n);

static inline uint64_t tok_pair_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

// ---------------------------------------------------------------------------
// The BPE model
// ---------------------------------------------------------------------------

struct TfBpe {
    int n_vocab;
    uint8_t *tok_bytes;    // all token bytes, concatenated
    int64_t *tok_off;      // (n_vocab + 1) token id's bytes are tok_bytes[tok_off[id] ..
                           // tok_off[id + 1])
    int32_t byte_id[256];  // the single-byte token of each byte
    int n_merges;
    int32_t (*merges)[3];  // (n_merges, 3) left id, right id, merged id; index = rank
    TokMap merge_rank;     // pair key -> rank
    // The encode cache: hash of a pre-token's bytes -> index into cache_entries.
    TokMap cache;
    int32_t *cache_ids;     // ids of cached pre-tokens, concatenated
    int64_t cache_ids_len, cache_ids_cap;
    uint8_t *cache_text;    // the pre-token bytes (to tell hash collisions apart)
    int64_t cache_text_len, cache_text_cap;
    int64_t (*cache_entries)[4]; // text offset, text len, ids offset, ids len
    int64_t cache_n, cache_cap;
};

// Builds an empty model with the given token byte strings (count n, concatenated in bytes
// with offsets off[0..n]) and merges (n_merges x {a, b, merged}); copies everything.
// Every single byte must be a token; CHECKs it.
TfBpe *tok_bpe_build(int n, const uint8_t *bytes, const int64_t *off, int n_merges,
                     const int32_t (*merges)[3]);

// GPT-2's bytes_to_unicode: byte -> code point. Bytes 33-126, 161-172 and 174-255 map to
// themselves; the other 68 bytes to 256, 257, ... in increasing byte order.
uint32_t tok_byte_to_unicode(uint8_t b);
// Inverse table of tok_byte_to_unicode: code point (0..323) -> byte, -1 where none.
void tok_unicode_to_byte_table(int16_t inv[324]);
// Decodes a UTF-8 token string written through bytes_to_unicode into raw bytes (out must hold
// n bytes). Returns the byte count, or -1 when a character is outside the map.
int64_t tok_token_from_unicode(const int16_t inv[324], const char *s, size_t n, uint8_t *out);
// Writes token bytes in bytes_to_unicode notation (UTF-8, NUL-terminated) to out, which holds
// 2 n + 1 bytes; returns the length without the NUL.
size_t tok_token_to_unicode(const uint8_t *s, size_t n, char *out);

#endif
