/*
 * test_chunk.c: the chunking strategies of rag/chunk.h against their documented invariants.
 *
 * Every invariant of chunk.h (I1-I3, F1-F3, T1, S1-S4, M1) is checked by an independent
 * computation: characters are counted by a separate UTF-8 decoder written here (decode the
 * code point, then reject overlong forms, surrogates and values above U+10FFFF), token
 * windows are compared with the decoded ids of a separate encoding of the document, and the
 * coverage and overlap properties are measured on the byte ranges. The texts are random
 * (valid UTF-8 with 1- to 4-byte characters, whitespace runs, punctuation, abbreviations,
 * headings; and a variant with stray bytes) and real (FOLDOC and the Jargon File, when the
 * dict-foldoc / dict-jargon packages are installed).
 */
#include "core/err.h"
#include "core/rng.h"
#include "datasets/datasets.h"
#include "rag/chunk.h"
#include "tests/test_util.h"
#include "transformer/tokenizer.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Assertions for loops over every chunk and byte: Check's ck_assert records each passing
// assertion through its pipe (a system call each), so the hot loops only call Check on failure.
#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) ck_abort_msg(__VA_ARGS__);                                                    \
    } while (0)
#define EXPECT1(cond) EXPECT(cond, "failed: %s", #cond)
#define EXPECT_EQ(x, y)                                                                            \
    do {                                                                                           \
        long long x_ = (long long)(x), y_ = (long long)(y);                                        \
        if (x_ != y_) ck_abort_msg("%s == %lld but %s == %lld", #x, x_, #y, y_);                   \
    } while (0)

// ---------------------------------------------------------------------------
// An independent UTF-8 reader
// ---------------------------------------------------------------------------

// Length of the character at s[i]: decode by the lead byte's pattern, then validate the value
// (a sequence of length L must encode a value that needs L bytes, no surrogate, <= 0x10FFFF).
// Anything else is one stray byte.
static int64_t ref_char_len(const uint8_t *s, int64_t n, int64_t i)
{
    uint8_t c = s[i];
    int64_t len;
    uint32_t v;
    if ((c & 0x80) == 0) return 1;
    if ((c & 0xE0) == 0xC0)
        len = 2, v = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        len = 3, v = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        len = 4, v = c & 0x07;
    else
        return 1;
    if (i + len > n) return 1;
    for (int64_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80) return 1;
        v = (v << 6) | (s[i + k] & 0x3F);
    }
    static const uint32_t min_value[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_value[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 1;
    return len;
}

// starts[i] = true when a character starts at byte i (starts[len] = true). Caller frees.
static bool *ref_char_starts(const uint8_t *s, int64_t len, int64_t *n_chars)
{
    bool *st = calloc((size_t)len + 1, 1);
    int64_t n = 0;
    for (int64_t i = 0; i < len; i += ref_char_len(s, len, i)) st[i] = true, n++;
    st[len] = true;
    if (n_chars) *n_chars = n;
    return st;
}

static int64_t ref_count(const bool *starts, int64_t a, int64_t b)
{
    int64_t n = 0;
    for (int64_t i = a; i < b; i++) n += starts[i];
    return n;
}

static bool ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// ---------------------------------------------------------------------------
// Random text
// ---------------------------------------------------------------------------

typedef struct {
    char *s;
    int64_t n, cap;
} Buf;

static void put(Buf *b, const char *t, int64_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = 2 * (b->n + n + 1);
        b->s = realloc(b->s, (size_t)b->cap);
    }
    memcpy(b->s + b->n, t, (size_t)n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void puts_(Buf *b, const char *t)
{
    put(b, t, (int64_t)strlen(t));
}

// Random text of about `target` bytes: words of ASCII and 2/3/4-byte characters, whitespace
// runs, sentence punctuation, abbreviations, ATX headings at line starts; with `stray`, also
// bytes that are not UTF-8.
static Buf random_text(Rng *r, int64_t target, bool stray)
{
    static const char *const multi[] = {"\xC3\xA9",     "\xC3\x9F",         "\xE2\x82\xAC",
                                        "\xE6\x97\xA5", "\xF0\x9F\x98\x80", "\xF0\x90\x8D\x88"};
    static const char *const punct[] = {". ",  "! ",      "? ",    ", ",     "; ",  ".\n",
                                        "...", " (e.g. ", " Dr. ", " etc. ", "?! ", ".\" "};
    static const char *const space[] = {" ", " ", " ", "\n", "\n\n", "\t", "  ", "\n \n", "\r\n"};
    static const char *const bad[] = {"\xFF", "\x80", "\xC3", "\xED\xA0\x80", "\xF4\x90\x80"};
    Buf b = {0};
    puts_(&b, "");
    while (b.n < target) {
        uint32_t k = rng_below(r, 20);
        if (k < 9) {
            // a word: maybe capitalised or a number, mixing in multi-byte characters
            int len = 1 + (int)rng_below(r, 9);
            for (int i = 0; i < len; i++) {
                uint32_t c = rng_below(r, 10);
                char ch[2] = {0, 0};
                if (c < 6)
                    ch[0] = (char)('a' + rng_below(r, 26));
                else if (c < 7)
                    ch[0] = (char)('A' + rng_below(r, 26));
                else if (c < 8)
                    ch[0] = (char)('0' + rng_below(r, 10));
                if (ch[0])
                    puts_(&b, ch);
                else
                    puts_(&b, multi[rng_below(r, 6)]);
            }
        } else if (k < 14) {
            puts_(&b, space[rng_below(r, 9)]);
        } else if (k < 17) {
            puts_(&b, punct[rng_below(r, 12)]);
        } else if (k < 18) {
            char h[16] = "\n";
            int level = 1 + (int)rng_below(r, 6);
            for (int i = 0; i < level; i++) h[1 + i] = '#';
            h[1 + level] = ' ';
            puts_(&b, h);
            puts_(&b, rng_below(r, 2) ? "Title "
                                      : "S\xC3\xA9"
                                        "ction ");
            char d[2] = {(char)('A' + rng_below(r, 26)), 0};
            puts_(&b, d);
            puts_(&b, "\n");
        } else if (k < 19) {
            puts_(&b, " A");
        } else if (stray) {
            puts_(&b, bad[rng_below(r, 5)]);
        } else {
            puts_(&b, "\xC3\xA9t\xC3\xA9");
        }
    }
    return b;
}

// ---------------------------------------------------------------------------
// Invariant checks
// ---------------------------------------------------------------------------

// I1 and I3 (for every kind but TOKENS), and n_chars.
static void check_common(const char *text, int64_t len, const RagChunks *cs, RagChunkKind kind,
                         const bool *starts)
{
    for (int64_t i = 0; i < cs->n; i++) {
        const RagChunk *c = &cs->chunks[i];
        EXPECT(c->start >= 0 && c->start < c->end && c->end <= len,
               "chunk %lld [%lld, %lld) outside [0, %lld)", (long long)i, (long long)c->start,
               (long long)c->end, (long long)len);
        if (i > 0) {
            EXPECT(c->start > cs->chunks[i - 1].start && c->end > cs->chunks[i - 1].end,
                   "chunk %lld is not after chunk %lld", (long long)i, (long long)i - 1);
        }
        if (kind != RAG_CHUNK_TOKENS) {
            EXPECT(starts[c->start] && starts[c->end], "chunk %lld [%lld, %lld) cuts a character",
                   (long long)i, (long long)c->start, (long long)c->end);
            EXPECT_EQ(c->n_chars, ref_count(starts, c->start, c->end));
        }
        if (kind != RAG_CHUNK_MARKDOWN) EXPECT_EQ(c->heading, -1);
    }
    (void)text;
}

// F1-F3 for a unit table: unit u starts at byte off[u]; off[n_units] = len.
static void check_fixed(const char *text, int64_t len, const RagChunks *cs, const int64_t *off,
                        int64_t n_units, int64_t size, int64_t overlap)
{
    int64_t step = size - overlap;
    int64_t want_n = 0;
    if (n_units > 0) want_n = 1 + (n_units > size ? (n_units - size + step - 1) / step : 0);
    EXPECT_EQ(cs->n, want_n);
    // Unit index of a byte offset (the offsets must be unit boundaries).
    int64_t u = 0;
    char *rebuilt = malloc((size_t)len + 1);
    int64_t rn = 0;
    for (int64_t i = 0; i < cs->n; i++) {
        const RagChunk *c = &cs->chunks[i];
        while (u < n_units && off[u] < c->start) u++;
        EXPECT(off[u] == c->start, "chunk %lld starts at byte %lld, not a unit boundary",
               (long long)i, (long long)c->start);
        int64_t first = u, last = u;
        while (last < n_units && off[last] < c->end) last++;
        EXPECT(off[last] == c->end, "chunk %lld ends inside a unit", (long long)i);
        EXPECT_EQ(first, i * step);
        int64_t units = last - first;
        if (i + 1 < cs->n)
            EXPECT_EQ(units, size);
        else
            EXPECT1(units >= 1 && units <= size && last == n_units);
        if (i > 0) {
            // F2: the previous chunk ends exactly `overlap` units into this one.
            const RagChunk *p = &cs->chunks[i - 1];
            int64_t shared = 0;
            while (first + shared < n_units && off[first + shared] < p->end) shared++;
            EXPECT_EQ(shared, overlap);
            EXPECT1(off[first + overlap] == p->end);
        }
        // F3: chunk 0, then each later chunk without its first `overlap` units.
        int64_t from = i == 0 ? c->start : off[first + overlap];
        memcpy(rebuilt + rn, text + from, (size_t)(c->end - from));
        rn += c->end - from;
    }
    EXPECT_EQ(rn, len);
    EXPECT1(memcmp(rebuilt, text, (size_t)len) == 0);
    if (cs->n > 0) EXPECT1(cs->chunks[0].start == 0 && cs->chunks[cs->n - 1].end == len);
    free(rebuilt);
}

// S1-S3 (and the section part of M1 when `sections` is given: chunk i must lie in one).
static void check_structural(const char *text, int64_t len, const RagChunks *cs, int64_t size,
                             int64_t overlap, const bool *starts)
{
    const uint8_t *s = (const uint8_t *)text;
    char *covered = calloc((size_t)len + 1, 1);
    for (int64_t i = 0; i < cs->n; i++) {
        const RagChunk *c = &cs->chunks[i];
        EXPECT(c->n_chars <= size, "chunk %lld has %lld characters > size %lld", (long long)i,
               (long long)c->n_chars, (long long)size);
        EXPECT(!ws(s[c->start]) && !ws(s[c->end - 1]), "chunk %lld is not trimmed", (long long)i);
        memset(covered + c->start, 1, (size_t)(c->end - c->start));
        if (i > 0) {
            const RagChunk *p = &cs->chunks[i - 1];
            int64_t shared = p->end > c->start ? ref_count(starts, c->start, p->end) : 0;
            EXPECT(shared <= overlap, "chunks %lld and %lld share %lld > %lld characters",
                   (long long)i - 1, (long long)i, (long long)shared, (long long)overlap);
        }
    }
    for (int64_t b = 0; b < len; b++) {
        EXPECT(covered[b] || ws(s[b]), "byte %lld (0x%02x) is in no chunk", (long long)b, s[b]);
    }
    free(covered);
}

// Field by field (the structs have padding, which memcmp would compare too).
static bool same_chunks(const RagChunks *a, const RagChunks *b)
{
    if (a->n != b->n || a->n_headings != b->n_headings) return false;
    for (int64_t i = 0; i < a->n; i++) {
        const RagChunk *x = &a->chunks[i], *y = &b->chunks[i];
        if (x->start != y->start || x->end != y->end || x->n_chars != y->n_chars ||
            x->n_tokens != y->n_tokens || x->heading != y->heading)
            return false;
    }
    for (int64_t i = 0; i < a->n_headings; i++) {
        const RagHeading *x = &a->headings[i], *y = &b->headings[i];
        if (x->line != y->line || x->start != y->start || x->end != y->end ||
            x->level != y->level || x->parent != y->parent)
            return false;
    }
    return true;
}

// The byte offset of every character start, plus len (n + 1 entries). Caller frees.
static int64_t *char_offsets(const bool *starts, int64_t len, int64_t n)
{
    int64_t *off = malloc((size_t)(n + 1) * sizeof *off), u = 0;
    for (int64_t i = 0; i <= len; i++)
        if (starts[i]) off[u++] = i;
    EXPECT_EQ(u, n + 1);
    return off;
}

// The line offsets of the ATX headings of t, by a plain line scan (no code fences: the random
// texts have none). Caller frees.
static int64_t *ref_headings(const char *t, int64_t len, int64_t *count)
{
    int64_t *lines = malloc(((size_t)len / 2 + 1) * sizeof *lines), n = 0;
    for (int64_t ls = 0; ls < len;) {
        int64_t i = ls;
        while (i < len && t[i] == ' ' && i - ls < 3) i++;
        int64_t h = i;
        while (i < len && t[i] == '#') i++;
        if (i - h >= 1 && i - h <= 6 &&
            (i == len || t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
            lines[n++] = ls;
        const char *nl = memchr(t + ls, '\n', (size_t)(len - ls));
        if (!nl) break;
        ls = nl - t + 1;
    }
    *count = n;
    return lines;
}

// Runs one kind on a text and checks every invariant that applies.
static void check_kind(const char *text, int64_t len, const RagChunkOpts *o, const bool *starts,
                       int64_t n_chars)
{
    RagChunks cs, again;
    ck_assert_int_eq(rag_chunk(text, len, o, &cs), ERR_OK);
    ck_assert_int_eq(rag_chunk(text, len, o, &again), ERR_OK);
    EXPECT(same_chunks(&cs, &again), "%s: two runs differ", rag_chunk_kind_name(o->kind));
    rag_chunks_free(&again);
    check_common(text, len, &cs, o->kind, starts);
    if (o->kind == RAG_CHUNK_CHARS) {
        int64_t *off = char_offsets(starts, len, n_chars);
        check_fixed(text, len, &cs, off, n_chars, o->size, o->overlap);
        free(off);
    } else if (o->kind != RAG_CHUNK_TOKENS) {
        check_structural(text, len, &cs, o->size, o->overlap, starts);
        if (o->kind == RAG_CHUNK_MARKDOWN) {
            int64_t nh;
            int64_t *lines = ref_headings(text, len, &nh);
            EXPECT_EQ(cs.n_headings, nh);
            for (int64_t h = 0; h < nh; h++) EXPECT_EQ(cs.headings[h].line, lines[h]);
            for (int64_t i = 0, h = -1; i < cs.n; i++) {
                // M1: the last heading line at or before the chunk's start is its heading, and
                // the chunk ends before the next heading line.
                while (h + 1 < nh && lines[h + 1] <= cs.chunks[i].start) h++;
                EXPECT_EQ(cs.chunks[i].heading, h);
                if (h + 1 < nh) EXPECT1(cs.chunks[i].end <= lines[h + 1]);
                if (i > 0 && cs.chunks[i - 1].heading != h)
                    EXPECT1(cs.chunks[i - 1].end <= cs.chunks[i].start);
            }
            free(lines);
        }
    }
    rag_chunks_free(&cs);
}

// ---------------------------------------------------------------------------
// Fixed size in characters
// ---------------------------------------------------------------------------

START_TEST(test_chunk_chars_small_ascii)
{
    // "abcdefghij", size 4, overlap 1: starts 0, 3, 6; the third reaches the end.
    const char *t = "abcdefghij";
    RagChunkOpts o = {.kind = RAG_CHUNK_CHARS, .size = 4, .overlap = 1};
    RagChunks cs;
    ck_assert_int_eq(rag_chunk(t, 10, &o, &cs), ERR_OK);
    ck_assert_int_eq(cs.n, 3);
    const int64_t want[3][2] = {{0, 4}, {3, 7}, {6, 10}};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(cs.chunks[i].start, want[i][0]);
        ck_assert_int_eq(cs.chunks[i].end, want[i][1]);
        ck_assert_int_eq(cs.chunks[i].n_chars, 4);
        ck_assert_int_eq(cs.chunks[i].n_tokens, -1);
    }
    rag_chunks_free(&cs);
    // A text shorter than size is one chunk; an empty text none.
    ck_assert_int_eq(rag_chunk(t, 3, &o, &cs), ERR_OK);
    ck_assert_int_eq(cs.n, 1);
    ck_assert_int_eq(cs.chunks[0].end, 3);
    rag_chunks_free(&cs);
    ck_assert_int_eq(rag_chunk("", 0, &o, &cs), ERR_OK);
    ck_assert_int_eq(cs.n, 0);
    rag_chunks_free(&cs);
    rag_chunks_free(&cs); // twice is fine
}
END_TEST

START_TEST(test_chunk_chars_never_split_a_code_point)
{
    // 2-, 3- and 4-byte characters: sizes count code points, boundaries fall between them.
    // é t € 😀 日 é !
    const char *t = "\xC3\xA9t\xE2\x82\xAC\xF0\x9F\x98\x80\xE6\x97\xA5\xC3\xA9!";
    int64_t len = (int64_t)strlen(t);
    RagChunkOpts o = {.kind = RAG_CHUNK_CHARS, .size = 3, .overlap = 2};
    RagChunks cs;
    ck_assert_int_eq(rag_chunk(t, len, &o, &cs), ERR_OK);
    ck_assert_int_eq(cs.n, 5); // 7 characters, step 1: windows start at characters 0..4
    const int64_t starts[5] = {0, 2, 3, 6, 10}, ends[5] = {6, 10, 13, 15, 16};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(cs.chunks[i].start, starts[i]);
        ck_assert_int_eq(cs.chunks[i].end, ends[i]);
        ck_assert_int_eq(cs.chunks[i].n_chars, 3);
    }
    rag_chunks_free(&cs);
}
END_TEST

START_TEST(test_chunk_chars_random_properties)
{
    Rng r;
    rng_init(&r, 51);
    for (int trial = 0; trial < 60; trial++) {
        Buf b = random_text(&r, 1 + rng_below(&r, 3000), trial % 3 == 0);
        int64_t n;
        bool *st = ref_char_starts((const uint8_t *)b.s, b.n, &n);
        int64_t size = 1 + rng_below(&r, 200);
        int64_t overlap = rng_below(&r, (uint32_t)size);
        RagChunkOpts o = {.kind = RAG_CHUNK_CHARS, .size = size, .overlap = overlap};
        check_kind(b.s, b.n, &o, st, n);
        o.overlap = 0; // and the disjoint case
        check_kind(b.s, b.n, &o, st, n);
        free(st);
        free(b.s);
    }
}
END_TEST

// ---------------------------------------------------------------------------
// Fixed size in tokens
// ---------------------------------------------------------------------------

static TfBpe *small_bpe(void)
{
    Rng r;
    rng_init(&r, 7);
    Buf b = random_text(&r, 20000, false);
    TfBpe *t = tf_tok_bpe_train(b.s, (size_t)b.n, 400);
    free(b.s);
    return t;
}

// T1 and F1-F3 in tokens, checked against a separate encoding of the text.
static void check_tokens(TfBpe *bpe, const char *text, int64_t len, int64_t size, int64_t overlap)
{
    RagChunkOpts o = {.kind = RAG_CHUNK_TOKENS, .size = size, .overlap = overlap, .bpe = bpe};
    RagChunks cs;
    ck_assert_int_eq(rag_chunk(text, len, &o, &cs), ERR_OK);
    int32_t *ids;
    int64_t n = tf_tok_bpe_encode(bpe, text, (size_t)len, &ids);
    int64_t *off = malloc((size_t)(n + 1) * sizeof *off);
    off[0] = 0;
    for (int64_t t = 0; t < n; t++) {
        size_t tl;
        tf_tok_bpe_token(bpe, ids[t], &tl);
        off[t + 1] = off[t] + (int64_t)tl;
    }
    check_fixed(text, len, &cs, off, n, size, overlap);
    bool *st = ref_char_starts((const uint8_t *)text, len, NULL);
    check_common(text, len, &cs, RAG_CHUNK_TOKENS, st);
    int64_t step = size - overlap;
    for (int64_t i = 0; i < cs.n; i++) {
        const RagChunk *c = &cs.chunks[i];
        char *dec;
        size_t dl;
        int64_t first = i * step, cnt = c->n_tokens;
        EXPECT1(cnt >= 1 && cnt <= size && first + cnt <= n);
        ck_assert_int_eq(tf_tok_bpe_decode(bpe, ids + first, cnt, &dec, &dl), ERR_OK);
        EXPECT_EQ((int64_t)dl, c->end - c->start);
        EXPECT1(memcmp(dec, text + c->start, dl) == 0);
        free(dec);
    }
    free(st);
    free(off);
    free(ids);
    rag_chunks_free(&cs);
}

START_TEST(test_chunk_tokens_random_properties)
{
    TfBpe *bpe = small_bpe();
    Rng r;
    rng_init(&r, 52);
    for (int trial = 0; trial < 25; trial++) {
        Buf b = random_text(&r, 1 + rng_below(&r, 4000), trial % 4 == 0);
        int64_t size = 1 + rng_below(&r, 100);
        check_tokens(bpe, b.s, b.n, size, rng_below(&r, (uint32_t)size));
        check_tokens(bpe, b.s, b.n, size, 0);
        free(b.s);
    }
    tf_tok_bpe_free(bpe);
}
END_TEST

START_TEST(test_chunk_tokens_fill_counts_for_other_kinds)
{
    // With a tokenizer, a structural kind records each chunk's own token count.
    TfBpe *bpe = small_bpe();
    const char *t = "One sentence here. Another one follows! And a third?\n\nA new paragraph.";
    RagChunkOpts o = {.kind = RAG_CHUNK_SENTENCES, .size = 40, .overlap = 0, .bpe = bpe};
    RagChunks cs;
    ck_assert_int_eq(rag_chunk(t, (int64_t)strlen(t), &o, &cs), ERR_OK);
    ck_assert_int_gt(cs.n, 1);
    for (int64_t i = 0; i < cs.n; i++) {
        int32_t *ids;
        int64_t n = tf_tok_bpe_encode(bpe, t + cs.chunks[i].start,
                                      (size_t)(cs.chunks[i].end - cs.chunks[i].start), &ids);
        ck_assert_int_eq(cs.chunks[i].n_tokens, n);
        free(ids);
    }
    RagChunkStats st = rag_chunk_stats(&cs, (int64_t)strlen(t));
    ck_assert_int_ge(st.max_tokens, 1);
    ck_assert(st.mean_tokens > 0);
    rag_chunks_free(&cs);
    tf_tok_bpe_free(bpe);
}
END_TEST

// ---------------------------------------------------------------------------
// Structural kinds
// ---------------------------------------------------------------------------

START_TEST(test_chunk_structural_random_properties)
{
    Rng r;
    rng_init(&r, 53);
    const RagChunkKind kinds[3] = {RAG_CHUNK_RECURSIVE, RAG_CHUNK_SENTENCES, RAG_CHUNK_MARKDOWN};
    for (int trial = 0; trial < 90; trial++) {
        Buf b = random_text(&r, 1 + rng_below(&r, 4000), trial % 3 == 0);
        int64_t n;
        bool *st = ref_char_starts((const uint8_t *)b.s, b.n, &n);
        int64_t size = 1 + rng_below(&r, 300);
        RagChunkOpts o = {
            .kind = kinds[trial % 3], .size = size, .overlap = rng_below(&r, (uint32_t)size)};
        check_kind(b.s, b.n, &o, st, n);
        o.overlap = 0;
        check_kind(b.s, b.n, &o, st, n);
        free(st);
        free(b.s);
    }
}
END_TEST

START_TEST(test_chunk_recursive_prefers_paragraphs)
{
    // Two paragraphs that fit separately but not together: the cut is at the blank line, not
    // at the ". " or a space that would fill the first chunk further.
    const char *t = "alpha beta gamma. delta epsilon.\n\nzeta eta theta. iota kappa lambda.";
    RagChunkOpts o = {.kind = RAG_CHUNK_RECURSIVE, .size = 40, .overlap = 0};
    RagChunks cs;
    ck_assert_int_eq(rag_chunk(t, (int64_t)strlen(t), &o, &cs), ERR_OK);
    ck_assert_int_eq(cs.n, 2);
    ck_assert_int_eq(cs.chunks[0].start, 0);
    ck_assert_int_eq(cs.chunks[0].end, (int64_t)(strstr(t, "\n\n") - t));
    ck_assert_int_eq(cs.chunks[1].start, (int64_t)(strstr(t, "zeta") - t));
    ck_assert_int_eq(cs.chunks[1].end, (int64_t)strlen(t));
    rag_chunks_free(&cs);
    // A word longer than the size is cut between characters (never above the size).
    const char *w = "supercalifragilistic";
    o.size = 6;
    ck_assert_int_eq(rag_chunk(w, 20, &o, &cs), ERR_OK);
    ck_assert_int_eq(cs.n, 4);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(cs.chunks[i].n_chars, 6);
    ck_assert_int_eq(cs.chunks[3].n_chars, 2);
    rag_chunks_free(&cs);
}
END_TEST

START_TEST(test_chunk_recursive_overlap_is_whole_pieces)
{
    // Pieces are a 4-letter word + a space (5 characters): with size 15 a chunk holds 3 pieces
    // and an overlap of 5 fits exactly one, so each chunk repeats the previous one's last word.
    const char *t = "aaaa bbbb cccc dddd eeee ffff gggg";
    RagChunkOpts o = {.kind = RAG_CHUNK_RECURSIVE, .size = 15, .overlap = 5};
    RagChunks cs;
    ck_assert_int_eq(rag_chunk(t, (int64_t)strlen(t), &o, &cs), ERR_OK);
    ck_assert_int_ge(cs.n, 2);
    for (int64_t i = 1; i < cs.n; i++) {
        const RagChunk *p = &cs.chunks[i - 1], *c = &cs.chunks[i];
        // The next chunk begins with the previous chunk's last word.
        ck_assert_int_eq(c->start, p->end - 4);
        ck_assert(memcmp(t + c->start, t + p->end - 4, 4) == 0);
    }
    ck_assert_int_eq(cs.chunks[cs.n - 1].end, (int64_t)strlen(t));
    rag_chunks_free(&cs);
}
END_TEST

START_TEST(test_chunk_sentence_boundaries)
{
    const char *t = "Dr. Smith came, e.g. on Monday. He left! Did he? Yes... 3 cats slept. "
                    "J. Doe wrote \"Hi.\" Then left.\n\nnew paragraph here. x.y is fine.";
    int64_t len = (int64_t)strlen(t);
    const char *want[] = {"Dr. Smith came, e.g. on Monday. ",
                          "He left! ",
                          "Did he? ",
                          "Yes... ",
                          "3 cats slept. ",
                          "J. Doe wrote \"Hi.\" ",
                          "Then left.\n\n",
                          "new paragraph here. x.y is fine."};
    int64_t pos = 0;
    for (int k = 0; k < 8; k++) {
        int64_t e = rag_chunk_sentence_next(t, len, pos);
        ck_assert_msg(e - pos == (int64_t)strlen(want[k]) &&
                          memcmp(t + pos, want[k], strlen(want[k])) == 0,
                      "sentence %d: got '%.*s'", k, (int)(e - pos), t + pos);
        pos = e;
    }
    ck_assert_int_eq(pos, len);
}
END_TEST

START_TEST(test_chunk_sentences_pack_whole_sentences)
{
    // S4: without overlap, a chunk boundary is always a sentence boundary.
    Rng r;
    rng_init(&r, 54);
    for (int trial = 0; trial < 30; trial++) {
        Buf b = random_text(&r, 200 + rng_below(&r, 3000), false);
        // The size is the longest sentence, so every sentence fits.
        int64_t size = 1;
        bool *ends = calloc((size_t)b.n + 1, 1);
        bool *st = ref_char_starts((const uint8_t *)b.s, b.n, NULL);
        for (int64_t a = 0, e; a < b.n; a = e) {
            e = rag_chunk_sentence_next(b.s, b.n, a);
            ck_assert_int_gt(e, a);
            ends[e] = true;
            int64_t n = ref_count(st, a, e);
            if (n > size) size = n;
        }
        size += rng_below(&r, 200);
        RagChunkOpts o = {.kind = RAG_CHUNK_SENTENCES, .size = size, .overlap = 0};
        RagChunks cs;
        ck_assert_int_eq(rag_chunk(b.s, b.n, &o, &cs), ERR_OK);
        for (int64_t i = 0; i < cs.n; i++) {
            int64_t e = cs.chunks[i].end;
            while (e < b.n && ws((uint8_t)b.s[e])) e++; // the trimmed whitespace
            int64_t e2 = cs.chunks[i].end;
            bool ok = false;
            for (int64_t k = e2; k <= e; k++) ok = ok || ends[k];
            EXPECT(ok, "chunk %lld ends mid-sentence at %lld", (long long)i,
                   (long long)cs.chunks[i].end);
        }
        rag_chunks_free(&cs);
        free(st);
        free(ends);
        free(b.s);
    }
}
END_TEST

START_TEST(test_chunk_markdown_headings_and_fences)
{
    const char *t = "Intro text.\n"
                    "# Guide\n"
                    "Welcome.\n"
                    "## Install ##\n"
                    "Run make.\n"
                    "```sh\n"
                    "# not a heading\n"
                    "~~~\n" // another fence character does not close it
                    "# still code\n"
                    "make test\n"
                    "```\n"
                    "#### Deep\n"
                    "deep text\n"
                    "## Use\n"
                    "Call it.\n"
                    "#nohashtag heading\n"
                    "# Other\n"
                    "x\n";
    int64_t len = (int64_t)strlen(t);
    RagChunkOpts o = {.kind = RAG_CHUNK_MARKDOWN, .size = 200, .overlap = 0};
    RagChunks cs;
    ck_assert_int_eq(rag_chunk(t, len, &o, &cs), ERR_OK);
    ck_assert_int_eq(cs.n_headings, 5); // Guide, Install, Deep, Use, Other
    ck_assert_int_eq(cs.n, 6);          // the intro + one per section
    const char *paths[6] = {
        "", "Guide", "Guide > Install", "Guide > Install > Deep", "Guide > Use", "Other"};
    const int levels[5] = {1, 2, 4, 2, 1};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(cs.headings[i].level, levels[i]);
    for (int i = 0; i < 6; i++) {
        char buf[64];
        int64_t n = rag_chunk_heading_path(&cs, cs.chunks[i].heading, t, buf, sizeof buf);
        ck_assert_str_eq(buf, paths[i]);
        ck_assert_int_eq(n, (int64_t)strlen(paths[i]));
    }
    // The fenced "# not a heading" belongs to the Install section's chunk.
    const char *fence = strstr(t, "# not");
    ck_assert(cs.chunks[2].start < fence - t && cs.chunks[2].end > fence - t);
    ck_assert_int_eq(cs.chunks[2].start, (int64_t)(strstr(t, "## Install") - t));
    // A truncated path keeps the NUL and returns the full length.
    char small[8];
    ck_assert_int_eq(rag_chunk_heading_path(&cs, 1, t, small, sizeof small), 15);
    ck_assert_str_eq(small, "Guide >");
    rag_chunks_free(&cs);
}
END_TEST

START_TEST(test_chunk_markdown_long_section_is_split)
{
    // A long section is cut recursively; every piece keeps the section's heading.
    Buf b = {0};
    puts_(&b, "# Top\n## Long\n");
    for (int i = 0; i < 40; i++) puts_(&b, "This sentence is in the long section. ");
    puts_(&b, "\n# Next\nshort\n");
    // Pieces are 38-character sentences: an overlap of 40 repeats one of them.
    RagChunkOpts o = {.kind = RAG_CHUNK_MARKDOWN, .size = 100, .overlap = 40};
    RagChunks cs;
    ck_assert_int_eq(rag_chunk(b.s, b.n, &o, &cs), ERR_OK);
    int64_t in_long = 0, overlapping = 0;
    for (int64_t i = 0; i < cs.n; i++) {
        if (cs.chunks[i].heading == 1) in_long++;
        if (i > 0 && cs.chunks[i].start < cs.chunks[i - 1].end) {
            overlapping++;
            ck_assert_int_eq(cs.chunks[i].heading, cs.chunks[i - 1].heading);
        }
    }
    ck_assert_int_ge(in_long, 15); // ~1520 characters in chunks of <= 100
    ck_assert_int_gt(overlapping, 0);
    char buf[64];
    rag_chunk_heading_path(&cs, 1, b.s, buf, sizeof buf);
    ck_assert_str_eq(buf, "Top > Long");
    rag_chunks_free(&cs);
    free(b.s);
}
END_TEST

// ---------------------------------------------------------------------------
// Errors, names, statistics
// ---------------------------------------------------------------------------

START_TEST(test_chunk_bad_options)
{
    RagChunks cs = {.n = 99};
    RagChunkOpts o = {.kind = RAG_CHUNK_CHARS, .size = 10, .overlap = 10};
    test_expect_err(rag_chunk("abc", 3, &o, &cs), ERR_INVALID,
                    (const char *[]){"overlap = 10 >= size = 10", "hint", NULL});
    ck_assert_int_eq(cs.n, 0);
    ck_assert_ptr_null(cs.chunks);
    o.overlap = 11;
    test_expect_err(rag_chunk("abc", 3, &o, &cs), ERR_INVALID, (const char *[]){"overlap", NULL});
    o.size = 0, o.overlap = 0;
    test_expect_err(rag_chunk("abc", 3, &o, &cs), ERR_INVALID,
                    (const char *[]){"size = 0", "hint", NULL});
    o.size = -5;
    test_expect_err(rag_chunk("abc", 3, &o, &cs), ERR_INVALID, (const char *[]){"size", NULL});
    o.size = 10, o.overlap = -1;
    test_expect_err(rag_chunk("abc", 3, &o, &cs), ERR_INVALID,
                    (const char *[]){"overlap = -1", NULL});
    o.overlap = 0, o.kind = RAG_CHUNK_TOKENS;
    test_expect_err(rag_chunk("abc", 3, &o, &cs), ERR_INVALID,
                    (const char *[]){"bpe", "tf_tok_bpe_load", NULL});
    o.kind = (RagChunkKind)42;
    test_expect_err(rag_chunk("abc", 3, &o, &cs), ERR_INVALID, (const char *[]){"42", NULL});
    RagChunkKind k;
    for (int i = 0; i < RAG_CHUNK_KIND_COUNT; i++) {
        ck_assert_int_eq(rag_chunk_kind_parse(rag_chunk_kind_name((RagChunkKind)i), &k), ERR_OK);
        ck_assert_int_eq(k, i);
    }
    test_expect_err(rag_chunk_kind_parse("words", &k), ERR_INVALID,
                    (const char *[]){"words", "recursive", NULL});
}
END_TEST

START_TEST(test_chunk_stats)
{
    // Hand-made chunks over a 20-byte text: [0,8) [5,12) [15,18): covered 12 + 3 = 15 bytes,
    // 8 + 7 + 3 = 18 bytes in chunks.
    RagChunk c[3] = {{.start = 0, .end = 8, .n_chars = 8, .n_tokens = 2, .heading = -1},
                     {.start = 5, .end = 12, .n_chars = 7, .n_tokens = 3, .heading = -1},
                     {.start = 15, .end = 18, .n_chars = 3, .n_tokens = 1, .heading = -1}};
    RagChunks cs = {.n = 3, .chunks = c};
    RagChunkStats st = rag_chunk_stats(&cs, 20);
    ck_assert_int_eq(st.n, 3);
    ck_assert_double_eq_tol(st.mean_chars, 6.0, 1e-12);
    double var = ((8 - 6.0) * (8 - 6.0) + 1.0 + 9.0) / 3.0;
    ck_assert_double_eq_tol(st.std_chars, sqrt(var), 1e-12);
    ck_assert_int_eq(st.min_chars, 3);
    ck_assert_int_eq(st.max_chars, 8);
    ck_assert_double_eq_tol(st.mean_tokens, 2.0, 1e-12);
    ck_assert_int_eq(st.max_tokens, 3);
    ck_assert_double_eq_tol(st.coverage, 15.0 / 20.0, 1e-12);
    ck_assert_double_eq_tol(st.redundancy, 18.0 / 15.0 - 1.0, 1e-12);
    c[1].n_tokens = -1; // one unknown count: no token statistics
    st = rag_chunk_stats(&cs, 20);
    ck_assert_int_eq(st.max_tokens, -1);
    ck_assert_double_eq(st.mean_tokens, 0.0);
    RagChunks none = {0};
    st = rag_chunk_stats(&none, 20);
    ck_assert_int_eq(st.n, 0);
    ck_assert_double_eq(st.coverage, 0.0);
}
END_TEST

// ---------------------------------------------------------------------------
// Real text: FOLDOC and the Jargon File
// ---------------------------------------------------------------------------

START_TEST(test_chunk_real_text)
{
    char *text;
    size_t len;
    int rc = ds_corpus_text("foldoc,jargon", &text, &len);
    if (rc == ERR_DEPENDENCY) {
        fprintf(stderr, "test_chunk_real_text: skipped (%s)\n", err_msg());
        return;
    }
    ck_assert_int_eq(rc, ERR_OK);
    int64_t n;
    bool *st = ref_char_starts((const uint8_t *)text, (int64_t)len, &n);
    const RagChunkOpts opts[] = {
        {.kind = RAG_CHUNK_CHARS, .size = 1000, .overlap = 150},
        {.kind = RAG_CHUNK_RECURSIVE, .size = 800, .overlap = 100},
        {.kind = RAG_CHUNK_SENTENCES, .size = 600, .overlap = 120},
        {.kind = RAG_CHUNK_MARKDOWN, .size = 800, .overlap = 0},
    };
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        check_kind(text, (int64_t)len, &opts[k], st, n);
        RagChunks cs;
        ck_assert_int_eq(rag_chunk(text, (int64_t)len, &opts[k], &cs), ERR_OK);
        RagChunkStats s = rag_chunk_stats(&cs, (int64_t)len);
        ck_assert_int_gt(s.n, 1000);
        ck_assert(s.max_chars <= opts[k].size);
        ck_assert(s.coverage > 0.9);
        // The overlap is actually used on real text when asked for.
        if (opts[k].overlap > 0) ck_assert(s.redundancy > 0.01);
        rag_chunks_free(&cs);
    }
    free(st);
    // Tokens on a prefix, with a BPE trained on the text itself.
    int64_t plen = len < 300000 ? (int64_t)len : 300000;
    TfBpe *bpe = tf_tok_bpe_train(text, 100000 < len ? 100000 : len, 600);
    check_tokens(bpe, text, plen, 256, 32);
    tf_tok_bpe_free(bpe);
    free(text);
}
END_TEST

static Suite *chunk_suite(void)
{
    Suite *s = suite_create("chunk");
    TCase *tc = tcase_create("chunk");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_chunk_chars_small_ascii);
    tcase_add_test(tc, test_chunk_chars_never_split_a_code_point);
    tcase_add_test(tc, test_chunk_chars_random_properties);
    tcase_add_test(tc, test_chunk_tokens_random_properties);
    tcase_add_test(tc, test_chunk_tokens_fill_counts_for_other_kinds);
    tcase_add_test(tc, test_chunk_structural_random_properties);
    tcase_add_test(tc, test_chunk_recursive_prefers_paragraphs);
    tcase_add_test(tc, test_chunk_recursive_overlap_is_whole_pieces);
    tcase_add_test(tc, test_chunk_sentence_boundaries);
    tcase_add_test(tc, test_chunk_sentences_pack_whole_sentences);
    tcase_add_test(tc, test_chunk_markdown_headings_and_fences);
    tcase_add_test(tc, test_chunk_markdown_long_section_is_split);
    tcase_add_test(tc, test_chunk_bad_options);
    tcase_add_test(tc, test_chunk_stats);
    tcase_add_test(tc, test_chunk_real_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_main(chunk_suite());
}
