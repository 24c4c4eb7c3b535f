/*
 * bm25.c: BM25 inverted index: tokenising, postings, term-at-a-time scoring (see bm25.h).
 *
 * Layout. Terms are interned in a hash table (open addressing, FNV-1a) mapping the term's bytes
 * to a dense term number; each term owns a postings list of (slot, tf) pairs. A document gets a
 * dense slot number in the order it was added, so appending to a postings list keeps it sorted
 * by slot, which lets delete find a posting by binary search. Each slot also keeps the list of
 * its distinct term numbers (the "forward index"), so delete knows which postings to remove.
 * Slots of deleted documents are never reused; external ids map to slots through a second hash
 * table (int64 -> slot, with tombstones).
 *
 * Scoring is term at a time: one double accumulator per slot plus the list of slots touched by
 * this query (and a flag per slot saying it is on that list), so resetting costs only what the
 * query touched.
 */
#include "rag/bm25.h"

#include "core/err.h"
#include "core/exercise.h"

#include <libstemmer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

typedef struct {
    int32_t *slot; // (n) document slots, ascending
    int32_t *tf;   // (n) occurrences of the term in that document
    int64_t n, cap;
} Postings;

struct RagBm25 {
    RagBm25Config cfg;
    struct sb_stemmer *stemmer; // NULL unless cfg.stem

    // Vocabulary: term number -> bytes (pool offset) and postings; hash of bytes -> term number.
    char *pool;
    int64_t pool_len, pool_cap;
    int64_t *term_off;   // (n_terms) offset of the NUL-terminated term in pool
    Postings *post;      // (n_terms)
    int64_t n_terms, terms_cap;
    int32_t *term_hash;  // (hash_cap) term number, -1 = empty
    int64_t hash_cap;

    // Documents by slot.
    int64_t *doc_id;     // (n_slots) external id
    int32_t *doc_len;    // (n_slots) length in terms
    bool *doc_live;      // (n_slots)
    int64_t *fwd_start;  // (n_slots) its distinct terms are fwd[fwd_start .. + fwd_n)
    int32_t *fwd_n;      // (n_slots)
    int64_t n_slots, slots_cap;
    int32_t *fwd;        // forward index: distinct term numbers of every slot, in slot order
    int64_t fwd_len, fwd_cap;
    int64_t n_live;      // live documents (N)
    int64_t total_len;   // sum of live lengths

    // External id -> slot: open addressing, key state in id_slot (-1 empty, -2 tombstone).
    int64_t *id_key;
    int32_t *id_slot;
    int64_t id_cap, id_used; // id_used counts live keys and tombstones (the load)

    // Scoring scratch (grows with n_slots).
    double *acc;         // (slots_cap) score so far, 0 outside a search
    bool *seen;          // (slots_cap) touched by the current query, false outside a search
    int32_t *touched;    // (slots_cap) the slots touched, in first-touch order
};

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

static uint64_t hash_bytes(const char *s, int64_t n)
{
    uint64_t h = 1469598103934665603ull; // FNV-1a 64
    for (int64_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_id(int64_t id)
{
    uint64_t x = (uint64_t)id; // splitmix64's finaliser: every input bit moves every output bit
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Grows *p (elements of size sz) so it holds at least `need`; capacities double.
static void grow(void **p, int64_t *cap, int64_t need, size_t sz)
{
    if (need <= *cap) return;
    int64_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    *p = xrealloc(*p, (size_t)c * sz);
    *cap = c;
}

// ---------------------------------------------------------------------------
// Stop words: common English function words (pronouns, articles, auxiliaries, prepositions,
// conjunctions). Sorted, for bsearch.
// ---------------------------------------------------------------------------

static const char *const STOP[] = {
    "a",     "about", "above", "after", "again",   "against", "all",   "am",    "an",
    "and",   "any",   "are",   "as",    "at",      "be",      "been",  "before", "being",
    "below", "between", "both", "but",  "by",      "can",     "could", "did",   "do",
    "does",  "doing", "down",  "during", "each",   "few",     "for",   "from",  "further",
    "had",   "has",   "have",  "having", "he",     "her",     "here",  "hers",  "him",
    "his",   "how",   "i",     "if",    "in",      "into",    "is",    "it",    "its",
    "itself", "just", "me",    "more",  "most",    "my",      "no",    "nor",   "not",
    "now",   "of",    "off",   "on",    "once",    "only",    "or",    "other", "our",
    "ours",  "out",   "over",  "own",   "same",    "she",     "should", "so",   "some",
    "such",  "than",  "that",  "the",   "their",   "theirs",  "them",  "then",  "there",
    "these", "they",  "this",  "those", "through", "to",      "too",   "under", "until",
    "up",    "very",  "was",   "we",    "were",    "what",    "when",  "where", "which",
    "while", "who",   "whom",  "why",   "will",    "with",    "would", "you",   "your",
    "yours",
};
#define N_STOP ((int)(sizeof STOP / sizeof STOP[0]))

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_stop(const char *t)
{
    return bsearch(&t, STOP, N_STOP, sizeof STOP[0], cmp_str) != NULL;
}

// ---------------------------------------------------------------------------
// Tokeniser
// ---------------------------------------------------------------------------

// Decodes one UTF-8 character at s (strict: no overlongs, no surrogates, <= U+10FFFF). Returns
// its length in bytes and the code point in *cp, or 0 for an invalid sequence.
static int utf8_decode(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) return *cp = c, 1;
    int n;
    uint32_t v, lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2, v = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        unsigned char d = s[i]; // a NUL stops here: it is not a continuation byte
        if (d < (i == 1 ? lo : 0x80) || d > (i == 1 ? hi : 0xBF)) return 0;
        v = (v << 6) | (d & 0x3F);
    }
    *cp = v;
    return n;
}

static bool is_term_char(uint32_t cp)
{
    if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
                          (cp >= '0' && cp <= '9');
    if (cp <= 0xBF || cp == 0xD7 || cp == 0xF7) return false; // Latin-1 symbols, x, division
    if (cp >= 0x2000 && cp <= 0x206F) return false;           // General Punctuation
    return true;
}

// Finds the next raw term at or after *p: writes it lowercased into buf (RAG_BM25_MAX_TERM + 1
// bytes, NUL-terminated), advances *p past it and returns its length; 0 at the end of the text.
static int next_raw_term(const char **p, char *buf)
{
    const unsigned char *s = (const unsigned char *)*p;
    for (;;) {
        // Skip separators.
        uint32_t cp = 0;
        int n = 0;
        while (*s) {
            n = utf8_decode(s, &cp);
            if (n && is_term_char(cp)) break;
            s += n ? n : 1;
        }
        if (!*s) {
            *p = (const char *)s;
            return 0;
        }
        // Collect the run.
        int len = 0;
        bool too_long = false;
        while (*s && (n = utf8_decode(s, &cp)) && is_term_char(cp)) {
            if (len + n > RAG_BM25_MAX_TERM) too_long = true;
            if (!too_long) {
                if (cp < 0x80) {
                    buf[len++] = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
                } else if (cp >= 0xC0 && cp <= 0xDE) { // Latin-1 capital -> small (+0x20)
                    buf[len++] = (char)0xC3;
                    buf[len++] = (char)(0x80 | ((cp + 0x20) & 0x3F));
                } else {
                    memcpy(buf + len, s, (size_t)n);
                    len += n;
                }
            }
            s += n;
        }
        if (too_long) continue;
        buf[len] = '\0';
        *p = (const char *)s;
        return len;
    }
}

// The next term after stop words and stemming: a pointer to its bytes (buf, or the stemmer's
// buffer, valid until the next call) and *len; NULL at the end of the text.
static const char *next_term(RagBm25 *ix, const char **p, char *buf, int *len)
{
    for (;;) {
        int n = next_raw_term(p, buf);
        if (n == 0) return NULL;
        if (ix->cfg.stopwords && is_stop(buf)) continue;
        if (ix->stemmer) {
            const sb_symbol *st = sb_stemmer_stem(ix->stemmer, (const sb_symbol *)buf, n);
            CHECK(st, "bm25: the Snowball stemmer ran out of memory");
            *len = sb_stemmer_length(ix->stemmer);
            if (*len == 0) continue;
            return (const char *)st;
        }
        *len = n;
        return buf;
    }
}

// ---------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------

static const char *term_str(const RagBm25 *ix, int64_t t) { return ix->pool + ix->term_off[t]; }

// The term number of s[0..n), or -1 when unknown.
static int64_t term_find(const RagBm25 *ix, const char *s, int64_t n)
{
    if (!ix->hash_cap) return -1;
    uint64_t mask = (uint64_t)ix->hash_cap - 1;
    for (uint64_t h = hash_bytes(s, n) & mask;; h = (h + 1) & mask) {
        int32_t t = ix->term_hash[h];
        if (t < 0) return -1;
        const char *ts = term_str(ix, t);
        if (strncmp(ts, s, (size_t)n) == 0 && ts[n] == '\0') return t;
    }
}

static void term_hash_insert(RagBm25 *ix, int64_t t)
{
    const char *s = term_str(ix, t);
    uint64_t mask = (uint64_t)ix->hash_cap - 1;
    uint64_t h = hash_bytes(s, (int64_t)strlen(s)) & mask;
    while (ix->term_hash[h] >= 0) h = (h + 1) & mask;
    ix->term_hash[h] = (int32_t)t;
}

// The term number of s[0..n), interning it when new.
static int64_t term_intern(RagBm25 *ix, const char *s, int64_t n)
{
    int64_t t = term_find(ix, s, n);
    if (t >= 0) return t;
    CHECK(ix->n_terms < INT32_MAX, "bm25: more than 2^31 distinct terms");
    // Keep the table at most half full.
    if (2 * (ix->n_terms + 1) > ix->hash_cap) {
        int64_t cap = ix->hash_cap ? 2 * ix->hash_cap : 1024;
        free(ix->term_hash);
        ix->term_hash = xmalloc((size_t)cap * sizeof *ix->term_hash);
        memset(ix->term_hash, 0xff, (size_t)cap * sizeof *ix->term_hash);
        ix->hash_cap = cap;
        for (int64_t i = 0; i < ix->n_terms; i++) term_hash_insert(ix, i);
    }
    grow((void **)&ix->pool, &ix->pool_cap, ix->pool_len + n + 1, 1);
    memcpy(ix->pool + ix->pool_len, s, (size_t)n);
    ix->pool[ix->pool_len + n] = '\0';
    int64_t cap = ix->terms_cap; // both arrays grow from the same capacity to the same one
    grow((void **)&ix->term_off, &cap, ix->n_terms + 1, sizeof *ix->term_off);
    grow((void **)&ix->post, &ix->terms_cap, ix->n_terms + 1, sizeof *ix->post);
    t = ix->n_terms++;
    ix->term_off[t] = ix->pool_len;
    ix->post[t] = (Postings){0};
    ix->pool_len += n + 1;
    term_hash_insert(ix, t);
    return t;
}

// ---------------------------------------------------------------------------
// External id -> slot
// ---------------------------------------------------------------------------

enum { ID_EMPTY = -1, ID_TOMB = -2 };

// The slot of live id, or -1.
static int64_t id_find(const RagBm25 *ix, int64_t id)
{
    if (!ix->id_cap) return -1;
    uint64_t mask = (uint64_t)ix->id_cap - 1;
    for (uint64_t h = hash_id(id) & mask;; h = (h + 1) & mask) {
        int32_t s = ix->id_slot[h];
        if (s == ID_EMPTY) return -1;
        if (s >= 0 && ix->id_key[h] == id) return s;
    }
}

static void id_put_raw(RagBm25 *ix, int64_t id, int32_t slot)
{
    uint64_t mask = (uint64_t)ix->id_cap - 1;
    uint64_t h = hash_id(id) & mask;
    while (ix->id_slot[h] >= 0) h = (h + 1) & mask;
    if (ix->id_slot[h] == ID_EMPTY) ix->id_used++;
    ix->id_key[h] = id;
    ix->id_slot[h] = slot;
}

static void id_put(RagBm25 *ix, int64_t id, int32_t slot)
{
    if (2 * (ix->id_used + 1) > ix->id_cap) { // rebuild: drops tombstones, maybe doubles
        int64_t old_cap = ix->id_cap;
        int64_t *old_key = ix->id_key;
        int32_t *old_slot = ix->id_slot;
        int64_t cap = 1024;
        while (cap < 4 * (ix->n_live + 1)) cap *= 2;
        ix->id_cap = cap;
        ix->id_used = 0;
        ix->id_key = xmalloc((size_t)cap * sizeof *ix->id_key);
        ix->id_slot = xmalloc((size_t)cap * sizeof *ix->id_slot);
        for (int64_t i = 0; i < cap; i++) ix->id_slot[i] = ID_EMPTY;
        for (int64_t i = 0; i < old_cap; i++)
            if (old_slot[i] >= 0) id_put_raw(ix, old_key[i], old_slot[i]);
        free(old_key);
        free(old_slot);
    }
    id_put_raw(ix, id, slot);
}

static void id_remove(RagBm25 *ix, int64_t id)
{
    uint64_t mask = (uint64_t)ix->id_cap - 1;
    for (uint64_t h = hash_id(id) & mask;; h = (h + 1) & mask) {
        if (ix->id_slot[h] == ID_EMPTY) return;
        if (ix->id_slot[h] >= 0 && ix->id_key[h] == id) {
            ix->id_slot[h] = ID_TOMB;
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// Public: life cycle
// ---------------------------------------------------------------------------

RagBm25Config rag_bm25_default_config(void)
{
    return (RagBm25Config){.k1 = 1.2, .b = 0.75, .stem = false, .stopwords = false,
                           .idf = RAG_BM25_IDF_LUCENE};
}

int rag_bm25_create_ex(const RagBm25Config *cfg, RagBm25 **out)
{
    CHECK(out, "rag_bm25_create_ex: NULL out");
    *out = NULL;
    RagBm25Config c = cfg ? *cfg : rag_bm25_default_config();
    CHECK(c.k1 >= 0 && isfinite(c.k1), "bm25: k1 = %g, expected a finite value >= 0", c.k1);
    CHECK(c.b >= 0 && c.b <= 1, "bm25: b = %g, expected a value in [0, 1]", c.b);
    CHECK(c.idf == RAG_BM25_IDF_LUCENE || c.idf == RAG_BM25_IDF_FTS5, "bm25: idf mode %d",
          (int)c.idf);
    struct sb_stemmer *st = NULL;
    if (c.stem && !(st = sb_stemmer_new("english", NULL)))
        return err_set(ERR_DEPENDENCY, "bm25: libstemmer has no \"english\" stemmer; hint: "
                                       "install libstemmer0d (make deps)");
    RagBm25 *ix = xcalloc(1, sizeof *ix);
    ix->cfg = c;
    ix->stemmer = st;
    *out = ix;
    return ERR_OK;
}

RagBm25 *rag_bm25_create(const RagBm25Config *cfg)
{
    RagBm25 *ix;
    int rc = rag_bm25_create_ex(cfg, &ix);
    CHECK(rc == ERR_OK, "rag_bm25_create: %s", err_msg());
    return ix;
}

void rag_bm25_free(RagBm25 *ix)
{
    if (!ix) return;
    if (ix->stemmer) sb_stemmer_delete(ix->stemmer);
    for (int64_t t = 0; t < ix->n_terms; t++) {
        free(ix->post[t].slot);
        free(ix->post[t].tf);
    }
    free(ix->post);
    free(ix->term_off);
    free(ix->pool);
    free(ix->term_hash);
    free(ix->doc_id);
    free(ix->doc_len);
    free(ix->doc_live);
    free(ix->fwd_start);
    free(ix->fwd_n);
    free(ix->fwd);
    free(ix->id_key);
    free(ix->id_slot);
    free(ix->acc);
    free(ix->seen);
    free(ix->touched);
    free(ix);
}

// ---------------------------------------------------------------------------
// Public: add, delete, statistics
// ---------------------------------------------------------------------------

// Makes room for `need` document slots in every per-slot array (the scratch ones zeroed).
static void ensure_slots(RagBm25 *ix, int64_t need)
{
    if (need <= ix->slots_cap) return;
    int64_t old = ix->slots_cap, cap = old ? old : 64;
    while (cap < need) cap *= 2;
    ix->doc_id = xrealloc(ix->doc_id, (size_t)cap * sizeof *ix->doc_id);
    ix->doc_len = xrealloc(ix->doc_len, (size_t)cap * sizeof *ix->doc_len);
    ix->doc_live = xrealloc(ix->doc_live, (size_t)cap * sizeof *ix->doc_live);
    ix->fwd_start = xrealloc(ix->fwd_start, (size_t)cap * sizeof *ix->fwd_start);
    ix->fwd_n = xrealloc(ix->fwd_n, (size_t)cap * sizeof *ix->fwd_n);
    ix->touched = xrealloc(ix->touched, (size_t)cap * sizeof *ix->touched);
    ix->acc = xrealloc(ix->acc, (size_t)cap * sizeof *ix->acc);
    ix->seen = xrealloc(ix->seen, (size_t)cap * sizeof *ix->seen);
    memset(ix->acc + old, 0, (size_t)(cap - old) * sizeof *ix->acc);
    memset(ix->seen + old, 0, (size_t)(cap - old) * sizeof *ix->seen);
    ix->slots_cap = cap;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int rag_bm25_add(RagBm25 *ix, int64_t id, const char *text)
{
    CHECK(ix && text, "rag_bm25_add: NULL argument");
    if (id_find(ix, id) >= 0)
        return err_set(ERR_INVALID, "bm25: document id %lld is already in the index; hint: "
                                    "rag_bm25_delete it first to replace it", (long long)id);
    CHECK(ix->n_slots < INT32_MAX, "bm25: more than 2^31 documents added");
    int32_t slot = (int32_t)ix->n_slots;

    // Tokenise into the forward index's tail, then sort and count runs: each distinct term once
    // with its frequency.
    char buf[RAG_BM25_MAX_TERM + 1];
    const char *p = text;
    int len;
    const char *t;
    int64_t start = ix->fwd_len, n_tok = 0;
    while ((t = next_term(ix, &p, buf, &len))) {
        grow((void **)&ix->fwd, &ix->fwd_cap, ix->fwd_len + n_tok + 1, sizeof *ix->fwd);
        ix->fwd[start + n_tok++] = (int32_t)term_intern(ix, t, len);
    }
    CHECK(n_tok <= INT32_MAX, "bm25: document %lld has more than 2^31 terms", (long long)id);
    int32_t *terms = ix->fwd + start;
    if (n_tok > 1) qsort(terms, (size_t)n_tok, sizeof *terms, cmp_i32);
    int64_t n_distinct = 0;
    for (int64_t i = 0; i < n_tok;) {
        int64_t j = i;
        while (j < n_tok && terms[j] == terms[i]) j++;
        Postings *pl = &ix->post[terms[i]];
        int64_t cap = pl->cap; // slot and tf share one capacity
        grow((void **)&pl->slot, &cap, pl->n + 1, sizeof *pl->slot);
        grow((void **)&pl->tf, &pl->cap, pl->n + 1, sizeof *pl->tf);
        pl->slot[pl->n] = slot;
        pl->tf[pl->n] = (int32_t)(j - i);
        pl->n++;
        terms[n_distinct++] = terms[i];
        i = j;
    }
    ix->fwd_len = start + n_distinct;

    ensure_slots(ix, ix->n_slots + 1);
    ix->doc_id[slot] = id;
    ix->doc_len[slot] = (int32_t)n_tok;
    ix->doc_live[slot] = true;
    ix->fwd_start[slot] = start;
    ix->fwd_n[slot] = (int32_t)n_distinct;
    ix->n_slots++;
    ix->n_live++;
    ix->total_len += n_tok;
    id_put(ix, id, slot);
    return ERR_OK;
}

int rag_bm25_delete(RagBm25 *ix, int64_t id)
{
    CHECK(ix, "rag_bm25_delete: NULL index");
    int64_t slot = id_find(ix, id);
    if (slot < 0)
        return err_set(ERR_INVALID, "bm25: delete: document id %lld is not in the index; "
                                    "hint: it was never added or was already deleted",
                       (long long)id);
    const int32_t *terms = ix->fwd + ix->fwd_start[slot];
    for (int32_t i = 0; i < ix->fwd_n[slot]; i++) {
        Postings *pl = &ix->post[terms[i]];
        // Binary search for the slot (lists are sorted by slot), then close the gap.
        int64_t lo = 0, hi = pl->n;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (pl->slot[mid] < slot) lo = mid + 1;
            else hi = mid;
        }
        CHECK(lo < pl->n && pl->slot[lo] == slot, "bm25: postings of '%s' lack slot %lld",
              term_str(ix, terms[i]), (long long)slot);
        size_t tail = (size_t)(pl->n - lo - 1);
        memmove(pl->slot + lo, pl->slot + lo + 1, tail * sizeof *pl->slot);
        memmove(pl->tf + lo, pl->tf + lo + 1, tail * sizeof *pl->tf);
        pl->n--;
    }
    ix->doc_live[slot] = false;
    ix->n_live--;
    ix->total_len -= ix->doc_len[slot];
    id_remove(ix, id);
    return ERR_OK;
}

int64_t rag_bm25_count(const RagBm25 *ix) { return ix->n_live; }

int64_t rag_bm25_vocab_size(const RagBm25 *ix) { return ix->n_terms; }

double rag_bm25_avgdl(const RagBm25 *ix)
{
    return ix->n_live ? (double)ix->total_len / (double)ix->n_live : 0.0;
}

int64_t rag_bm25_df(const RagBm25 *ix, const char *term)
{
    CHECK(ix && term, "rag_bm25_df: NULL argument");
    int64_t t = term_find(ix, term, (int64_t)strlen(term));
    return t < 0 ? 0 : ix->post[t].n;
}

char *rag_bm25_terms(RagBm25 *ix, const char *text)
{
    CHECK(ix && text, "rag_bm25_terms: NULL argument");
    size_t cap = strlen(text) + 1, n = 0;
    char *out = xmalloc(cap), buf[RAG_BM25_MAX_TERM + 1];
    const char *p = text, *t;
    int len;
    while ((t = next_term(ix, &p, buf, &len))) {
        // A stemmed term is never longer than the word plus a little; grow to be sure.
        if (n + (size_t)len + 2 > cap) out = xrealloc(out, cap = 2 * cap + (size_t)len + 2);
        if (n) out[n++] = ' ';
        memcpy(out + n, t, (size_t)len);
        n += (size_t)len;
    }
    out[n] = '\0';
    return out;
}

// ---------------------------------------------------------------------------
// Scoring
// ---------------------------------------------------------------------------

double rag_bm25_idf(RagBm25Idf mode, int64_t n_docs, int64_t df)
{
    double r = ((double)n_docs - (double)df + 0.5) / ((double)df + 0.5);
    if (mode == RAG_BM25_IDF_FTS5) {
        double v = log(r);
        return v > 0 ? v : 1e-6; // FTS5 floors non-positive idf (terms in over half the rows)
    }
    return log1p(r);
}

double rag_bm25_term_score(double tf, double dl, double avgdl, double idf, double k1, double b)
{
    // EXERCISE(w05.bm25_score): return BM25's contribution of one term to one document:
    //   idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
    // tf = occurrences of the term in the document, dl = the document's length, avgdl = the
    // mean length (> 0). With b = 0 length does not matter; with k1 = 0 only presence counts.
    // STUB: exercise_stub("w05.bm25_score"); (void)tf; (void)dl; (void)avgdl; (void)idf;
    // STUB: (void)k1; (void)b; return 0.0;
    double norm = k1 * (1.0 - b + b * dl / avgdl);
    return idf * tf * (k1 + 1.0) / (tf + norm);
    // END EXERCISE
}

int64_t rag_bm25_search(RagBm25 *ix, const char *query, int64_t k, RagHit *out)
{
    CHECK(ix && query, "rag_bm25_search: NULL argument");
    CHECK(k >= 0 && (k == 0 || out), "rag_bm25_search: k = %lld with out %p", (long long)k,
          (void *)out);
    if (k == 0 || ix->n_live == 0) return 0;
    const double k1 = ix->cfg.k1, b = ix->cfg.b, avgdl = rag_bm25_avgdl(ix);
    // avgdl is 0 only when every live document is empty; then nothing can match anyway.
    if (avgdl <= 0) return 0;

    // Term at a time: each query term (repeats included) adds to the accumulators of the
    // documents in its postings list.
    char buf[RAG_BM25_MAX_TERM + 1];
    const char *p = query, *t;
    int len;
    int64_t n_touched = 0;
    while ((t = next_term(ix, &p, buf, &len))) {
        int64_t term = term_find(ix, t, len);
        if (term < 0) continue;
        const Postings *pl = &ix->post[term];
        if (pl->n == 0) continue;
        double idf = rag_bm25_idf(ix->cfg.idf, ix->n_live, pl->n);
        for (int64_t i = 0; i < pl->n; i++) {
            int32_t s = pl->slot[i];
            if (!ix->seen[s]) ix->seen[s] = true, ix->touched[n_touched++] = s;
            ix->acc[s] += rag_bm25_term_score((double)pl->tf[i], (double)ix->doc_len[s], avgdl,
                                              idf, k1, b);
        }
    }

    // Top k with a min-heap whose root is the worst of the best k so far; reset as we go.
    RagTopK top = {out, 0, k};
    for (int64_t i = 0; i < n_touched; i++) {
        int32_t s = ix->touched[i];
        rag_topk_push(&top, (RagHit){.id = ix->doc_id[s], .score = (float)ix->acc[s]});
        ix->acc[s] = 0.0;
        ix->seen[s] = false;
    }
    return rag_topk_drain(&top, out, 0.0f);
}
