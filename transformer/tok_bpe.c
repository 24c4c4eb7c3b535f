/*
 * tok_bpe.c: byte-level BPE encode and decode (GPT-2's algorithm), and the pieces the loader
 * and the trainer share: the hash map, the model builder and the merge step.
 *
 * Encoding one pre-token (tok_pretok.c cuts the text into them):
 *   1. start from one token per byte (the byte's single-byte token);
 *   2. among the adjacent pairs, find the one whose merge has the lowest rank (the earliest
 *      line of vocab.bpe); if no pair has a merge, stop;
 *   3. replace every occurrence of that pair, left to right without overlap, by the merged
 *      token (tf_tok_bpe_merge) and go to 2.
 * This is GPT-2's loop exactly. Each rank can fire at most once per pre-token (a merged pair
 * cannot reappear: merging creates only the new token), so a word of L bytes costs
 * O(L * rounds), rounds being a handful for real words; pre-tokens are short except for
 * white-space runs, which the same bound covers.
 *
 * Speed comes from a cache: natural text repeats its words, so the ids of every pre-token
 * already seen are kept (keyed by a 64-bit hash of its bytes, the bytes compared on a hit)
 * and copied instead of merged again. The cache holds at most TOK_CACHE_MAX pre-tokens of at
 * most TOK_CACHE_MAX_LEN bytes; past that, new words are encoded without being stored.
 */
#include "core/err.h"
#include "core/exercise.h"
#include "transformer/tok_internal.h"

#include <stdlib.h>
#include <string.h>

#define TOK_CACHE_MAX     (1 << 20)
#define TOK_CACHE_MAX_LEN 64

// ---------------------------------------------------------------------------
// Hash map
// ---------------------------------------------------------------------------

static uint64_t mix64(uint64_t x)
{
    // splitmix64's finaliser: every input bit moves every output bit.
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t tok_hash_bytes(const uint8_t *s, size_t n)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001B3ull;
    return mix64(h ^ n);
}

void tok_map_init(TokMap *m, size_t cap_hint)
{
    size_t cap = 16;
    while (cap < 2 * cap_hint) cap *= 2;
    m->keys = xcalloc(cap, sizeof *m->keys);
    m->vals = xmalloc(cap * sizeof *m->vals);
    m->cap = cap;
    m->len = 0;
}

void tok_map_deinit(TokMap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

int64_t tok_map_get(const TokMap *m, uint64_t key)
{
    size_t mask = m->cap - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == 0) return -1;
        if (m->keys[i] == key + 1) return m->vals[i];
    }
}

static void map_grow(TokMap *m)
{
    TokMap big;
    tok_map_init(&big, m->cap); // twice the slots
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) tok_map_put(&big, m->keys[i] - 1, m->vals[i]);
    tok_map_deinit(m);
    *m = big;
}

void tok_map_put(TokMap *m, uint64_t key, int64_t val)
{
    CHECK(key != UINT64_MAX, "tok_map_put: key UINT64_MAX is reserved");
    if (2 * (m->len + 1) > m->cap) map_grow(m); // load factor <= 1/2
    size_t mask = m->cap - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == 0) {
            m->keys[i] = key + 1;
            m->vals[i] = val;
            m->len++;
            return;
        }
        if (m->keys[i] == key + 1) {
            m->vals[i] = val;
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// The merge step (graded exercise w03.bpe_merge)
// ---------------------------------------------------------------------------

int64_t tf_tok_bpe_merge(int32_t *ids, int64_t n, int32_t a, int32_t b, int32_t new_id)
{
    // EXERCISE(w03.bpe_merge): replace every adjacent pair ids[i] == a, ids[i + 1] == b by the
    // single id new_id, in place, scanning left to right; after a replacement continue after
    // the pair (no overlap: with a == b, "a a a" becomes "new a"). Return the new length.
    // STUB: exercise_stub("w03.bpe_merge");
    // STUB: (void)ids; (void)a; (void)b; (void)new_id; return n;
    int64_t w = 0;
    for (int64_t r = 0; r < n; r++) {
        if (ids[r] == a && r + 1 < n && ids[r + 1] == b) {
            ids[w++] = new_id;
            r++; // the pair's right half is consumed too
        } else {
            ids[w++] = ids[r];
        }
    }
    return w;
    // END EXERCISE
}

// ---------------------------------------------------------------------------
// Building and freeing
// ---------------------------------------------------------------------------

TfBpe *tok_bpe_build(int n, const uint8_t *bytes, const int64_t *off, int n_merges,
                     const int32_t (*merges)[3])
{
    CHECK(n >= 256 && n_merges >= 0, "tok_bpe_build: %d tokens, %d merges", n, n_merges);
    TfBpe *t = xcalloc(1, sizeof *t);
    t->n_vocab = n;
    t->tok_off = xmalloc((size_t)(n + 1) * sizeof *t->tok_off);
    memcpy(t->tok_off, off, (size_t)(n + 1) * sizeof *off);
    t->tok_bytes = xmalloc((size_t)off[n] + 1);
    memcpy(t->tok_bytes, bytes, (size_t)off[n]);
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    for (int id = 0; id < n; id++)
        if (off[id + 1] - off[id] == 1 && t->byte_id[bytes[off[id]]] < 0)
            t->byte_id[bytes[off[id]]] = id;
    for (int b = 0; b < 256; b++)
        CHECK(t->byte_id[b] >= 0, "tok_bpe_build: byte %d has no token", b);
    t->n_merges = n_merges;
    t->merges = xmalloc((size_t)(n_merges + 1) * sizeof *t->merges);
    if (n_merges) memcpy(t->merges, merges, (size_t)n_merges * sizeof *merges);
    tok_map_init(&t->merge_rank, (size_t)n_merges);
    // A pair listed twice keeps its first (lowest) rank, as a lowest-rank search would.
    for (int r = n_merges - 1; r >= 0; r--)
        tok_map_put(&t->merge_rank, tok_pair_key(merges[r][0], merges[r][1]), r);
    tok_map_init(&t->cache, 1024);
    return t;
}

void tf_tok_bpe_free(TfBpe *t)
{
    if (!t) return;
    free(t->tok_bytes);
    free(t->tok_off);
    free(t->merges);
    tok_map_deinit(&t->merge_rank);
    tok_map_deinit(&t->cache);
    free(t->cache_ids);
    free(t->cache_text);
    free(t->cache_entries);
    free(t);
}

int tf_tok_bpe_vocab_size(const TfBpe *t) { return t->n_vocab; }

int tf_tok_bpe_n_merges(const TfBpe *t) { return t->n_merges; }

const uint8_t *tf_tok_bpe_token(const TfBpe *t, int32_t id, size_t *len)
{
    CHECK(id >= 0 && id < t->n_vocab, "tf_tok_bpe_token: id %d outside 0..%d", id,
          t->n_vocab - 1);
    *len = (size_t)(t->tok_off[id + 1] - t->tok_off[id]);
    return t->tok_bytes + t->tok_off[id];
}

// ---------------------------------------------------------------------------
// Encode
// ---------------------------------------------------------------------------

typedef struct {
    int32_t *ids;
    int64_t len, cap;
} IdBuf;

static void idbuf_reserve(IdBuf *b, int64_t more)
{
    if (b->len + more <= b->cap) return;
    while (b->cap < b->len + more) b->cap = b->cap ? 2 * b->cap : 64;
    b->ids = xrealloc(b->ids, (size_t)b->cap * sizeof *b->ids);
}

// BPE of one pre-token: appends its ids to out.
static void bpe_word(const TfBpe *t, const uint8_t *s, size_t n, IdBuf *out)
{
    idbuf_reserve(out, (int64_t)n);
    int32_t *w = out->ids + out->len;
    int64_t len = (int64_t)n;
    for (size_t i = 0; i < n; i++) w[i] = t->byte_id[s[i]];
    while (len > 1) {
        int64_t best = -1;
        for (int64_t i = 0; i + 1 < len; i++) {
            int64_t r = tok_map_get(&t->merge_rank, tok_pair_key(w[i], w[i + 1]));
            if (r >= 0 && (best < 0 || r < best)) best = r;
        }
        if (best < 0) break;
        const int32_t *m = t->merges[best];
        int64_t merged = tf_tok_bpe_merge(w, len, m[0], m[1], m[2]);
        if (merged >= len) break; // cannot happen with a working merge step; never loop
        len = merged;
    }
    out->len += len;
}

// Looks the pre-token up in the cache; on a miss encodes it and stores it.
static void encode_piece(TfBpe *t, const uint8_t *s, size_t n, IdBuf *out)
{
    uint64_t h = tok_hash_bytes(s, n);
    int64_t e = tok_map_get(&t->cache, h);
    if (e >= 0) {
        const int64_t *ent = t->cache_entries[e];
        if ((size_t)ent[1] == n && memcmp(t->cache_text + ent[0], s, n) == 0) {
            idbuf_reserve(out, ent[3]);
            memcpy(out->ids + out->len, t->cache_ids + ent[2], (size_t)ent[3] * sizeof(int32_t));
            out->len += ent[3];
            return;
        }
    }
    int64_t start = out->len;
    bpe_word(t, s, n, out);
    if (e >= 0 || n > TOK_CACHE_MAX_LEN || t->cache_n >= TOK_CACHE_MAX) return;
    int64_t k = out->len - start;
    if (t->cache_n == t->cache_cap) {
        t->cache_cap = t->cache_cap ? 2 * t->cache_cap : 1024;
        t->cache_entries = xrealloc(t->cache_entries,
                                    (size_t)t->cache_cap * sizeof *t->cache_entries);
    }
    if (t->cache_text_len + (int64_t)n > t->cache_text_cap) {
        while (t->cache_text_len + (int64_t)n > t->cache_text_cap)
            t->cache_text_cap = t->cache_text_cap ? 2 * t->cache_text_cap : 16384;
        t->cache_text = xrealloc(t->cache_text, (size_t)t->cache_text_cap);
    }
    if (t->cache_ids_len + k > t->cache_ids_cap) {
        while (t->cache_ids_len + k > t->cache_ids_cap)
            t->cache_ids_cap = t->cache_ids_cap ? 2 * t->cache_ids_cap : 16384;
        t->cache_ids = xrealloc(t->cache_ids, (size_t)t->cache_ids_cap * sizeof(int32_t));
    }
    int64_t *ent = t->cache_entries[t->cache_n];
    ent[0] = t->cache_text_len, ent[1] = (int64_t)n, ent[2] = t->cache_ids_len, ent[3] = k;
    memcpy(t->cache_text + t->cache_text_len, s, n);
    memcpy(t->cache_ids + t->cache_ids_len, out->ids + start, (size_t)k * sizeof(int32_t));
    t->cache_text_len += (int64_t)n;
    t->cache_ids_len += k;
    tok_map_put(&t->cache, h, t->cache_n++);
}

int64_t tf_tok_bpe_encode(TfBpe *t, const void *text, size_t n, int32_t **ids)
{
    CHECK(t && ids && (text || n == 0), "tf_tok_bpe_encode: NULL argument");
    const uint8_t *s = text;
    IdBuf out = {0};
    idbuf_reserve(&out, (int64_t)(n / 3) + 16);
    for (size_t p = 0, e; p < n; p = e) {
        e = tf_tok_pretok_next(s, n, p);
        encode_piece(t, s + p, e - p, &out);
    }
    *ids = out.ids;
    return out.len;
}

// ---------------------------------------------------------------------------
// Decode
// ---------------------------------------------------------------------------

int tf_tok_bpe_decode(const TfBpe *t, const int32_t *ids, int64_t n, char **text, size_t *len)
{
    CHECK(t && text && len && (ids || n == 0), "tf_tok_bpe_decode: NULL argument");
    *text = NULL;
    *len = 0;
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return err_set(ERR_RANGE, "tf_tok_bpe_decode: id %d at position %lld is outside "
                           "the vocabulary 0..%d; hint: were these ids made by another "
                           "tokenizer?", ids[i], (long long)i, t->n_vocab - 1);
        total += (size_t)(t->tok_off[ids[i] + 1] - t->tok_off[ids[i]]);
    }
    char *out = xmalloc(total + 1);
    size_t w = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t k = (size_t)(t->tok_off[ids[i] + 1] - t->tok_off[ids[i]]);
        memcpy(out + w, t->tok_bytes + t->tok_off[ids[i]], k);
        w += k;
    }
    out[w] = 0;
    *text = out;
    *len = w;
    return ERR_OK;
}
