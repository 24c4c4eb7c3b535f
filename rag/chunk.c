/*
 * chunk.c: the chunking strategies of chunk.h.
 *
 * Two families share the code below:
 *   - fixed windows over "units" (characters or tokens): a unit table off[0..N] holds the byte
 *     offset where each unit starts (off[N] = len), and fixed_windows cuts it (graded exercise
 *     w05.chunk_overlap);
 *   - structural chunkers: the text is first cut into pieces that tile it exactly and each fit
 *     in `size` (split_recursive, sentences, Markdown sections), then pack() merges runs of
 *     consecutive pieces greedily up to `size`, starts each chunk with the previous chunk's
 *     trailing pieces that fit in `overlap`, and trims whitespace.
 * Offsets are int64_t bytes throughout; nothing is copied out of the text.
 */
#include "rag/chunk.h"

#include "core/err.h"
#include "core/exercise.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Characters
// ---------------------------------------------------------------------------

// Length in bytes of the character at s[i] (i < n): the length of a valid UTF-8 sequence
// (RFC 3629 table: the second byte's range depends on the lead byte, which rules out overlong
// forms, surrogates and code points above U+10FFFF), or 1 for a byte that starts none.
static int64_t utf8_len_at(const uint8_t *s, int64_t n, int64_t i)
{
    uint8_t c = s[i];
    if (c < 0x80) return 1;
    int64_t len;
    uint8_t lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0; // overlong below U+0800
        if (c == 0xED) hi = 0x9F; // surrogates U+D800..U+DFFF
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90; // overlong below U+10000
        if (c == 0xF4) hi = 0x8F; // above U+10FFFF
    } else {
        return 1; // 0x80..0xC1 and 0xF5..0xFF never start a sequence
    }
    if (i + len > n) return 1;
    if (s[i + 1] < lo || s[i + 1] > hi) return 1;
    for (int64_t k = 2; k < len; k++)
        if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 1;
    return len;
}

// Characters in s[a..b), stepping from a.
static int64_t count_chars(const uint8_t *s, int64_t a, int64_t b)
{
    int64_t n = 0;
    for (int64_t i = a; i < b; i += utf8_len_at(s, b, i)) n++;
    return n;
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

// True when c is one of the bytes of set (c = 0 never is).
static bool in_set(uint8_t c, const char *set)
{
    return c != 0 && strchr(set, c) != NULL;
}

// ---------------------------------------------------------------------------
// Growable arrays
// ---------------------------------------------------------------------------

// A piece of a structural split: bytes [a, b), n characters.
typedef struct {
    int64_t a, b, n;
} Piece;

typedef struct {
    Piece *p;
    int64_t n, cap;
} Pieces;

static void pieces_push(Pieces *v, int64_t a, int64_t b, int64_t n)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        v->p = xrealloc(v->p, (size_t)v->cap * sizeof *v->p);
    }
    v->p[v->n++] = (Piece){a, b, n};
}

typedef struct {
    RagChunk *c;
    int64_t n, cap;
} Chunks;

static void chunks_push(Chunks *v, RagChunk c)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        v->c = xrealloc(v->c, (size_t)v->cap * sizeof *v->c);
    }
    v->c[v->n++] = c;
}

// ---------------------------------------------------------------------------
// Fixed windows over units (graded exercise w05.chunk_overlap)
// ---------------------------------------------------------------------------

// The number of windows fixed_windows makes: 0 for no unit, else 1 + ceil((N - size) / step).
static int64_t window_count(int64_t n_units, int64_t size, int64_t overlap)
{
    if (n_units == 0) return 0;
    if (n_units <= size) return 1;
    int64_t step = size - overlap;
    return 1 + (n_units - size + step - 1) / step;
}

// Cuts n units into windows of `size` units that start `size - overlap` units apart.
// Unit u is the bytes [off[u], off[u + 1]) (off has n + 1 entries, off[n] = the text length).
// Writes start and end of each window into out (room for window_count(n, size, overlap)) and
// returns the number written. 0 < size, 0 <= overlap < size.
static int64_t fixed_windows(const int64_t *off, int64_t n, int64_t size, int64_t overlap,
                             RagChunk *out)
{
    // EXERCISE(w05.chunk_overlap): window k covers units [k*step, min(k*step + size, n)),
    // step = size - overlap, i.e. the bytes [off[first unit], off[one past its last unit]).
    // So consecutive windows share exactly `overlap` units, every window but the last has
    // `size` units, and the last one ends at unit n. Stop after the window that reaches n
    // (no window may lie entirely inside the previous one); no window at all when n == 0.
    // Set out[k].start and out[k].end only, and return the number of windows.
    // STUB: exercise_stub("w05.chunk_overlap");
    // STUB: (void)off; (void)n; (void)size; (void)overlap; (void)out; return 0;
    int64_t step = size - overlap, k = 0;
    for (int64_t first = 0; first < n; first += step) {
        int64_t last = first + size < n ? first + size : n; // one past the window's last unit
        out[k].start = off[first];
        out[k].end = off[last];
        k++;
        if (last == n) break; // the text is covered: a further window would repeat the tail
    }
    return k;
    // END EXERCISE
}

// Runs fixed_windows over a unit table and appends the windows to out.
static void chunk_windows(const int64_t *off, int64_t n_units, const RagChunkOpts *o, Chunks *out)
{
    // Room for the windows, plus slack for the classic off-by-one of the exercise (windows
    // that keep going after one reached the end), so a wrong answer fails the tests instead
    // of writing out of bounds.
    int64_t step = o->size - o->overlap;
    int64_t cap = window_count(n_units, o->size, o->overlap) + o->size / step + 2;
    RagChunk *w = xcalloc((size_t)cap, sizeof *w);
    int64_t k = fixed_windows(off, n_units, o->size, o->overlap, w);
    CHECK(k >= 0 && k <= cap, "fixed_windows: %lld windows, room for %lld", (long long)k,
          (long long)cap);
    for (int64_t i = 0; i < k; i++) chunks_push(out, w[i]);
    free(w);
}

static void chunk_chars(const uint8_t *s, int64_t len, const RagChunkOpts *o, Chunks *out)
{
    int64_t n = count_chars(s, 0, len);
    int64_t *off = xmalloc((size_t)(n + 1) * sizeof *off);
    int64_t u = 0;
    for (int64_t i = 0; i < len; i += utf8_len_at(s, len, i)) off[u++] = i;
    off[u] = len;
    chunk_windows(off, n, o, out);
    free(off);
}

// Index of `pos` in the strictly increasing off[0..n] (pos must be one of its values).
static int64_t find_offset(const int64_t *off, int64_t n, int64_t pos)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (off[mid] < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    CHECK(lo <= n && off[lo] == pos, "chunk: offset %lld is not a unit boundary", (long long)pos);
    return lo;
}

// Encodes the whole document once; token t is bytes [off[t], off[t + 1]) because a byte-level
// BPE's tokens concatenate back to the text exactly.
static void chunk_tokens(const uint8_t *s, int64_t len, const RagChunkOpts *o, Chunks *out)
{
    int32_t *ids;
    int64_t n = tf_tok_bpe_encode(o->bpe, s, (size_t)len, &ids);
    int64_t *off = xmalloc((size_t)(n + 1) * sizeof *off);
    off[0] = 0;
    for (int64_t t = 0; t < n; t++) {
        size_t tl;
        tf_tok_bpe_token(o->bpe, ids[t], &tl);
        CHECK(tl > 0, "chunk: token %d has no bytes", ids[t]);
        off[t + 1] = off[t] + (int64_t)tl;
    }
    CHECK(off[n] == len, "chunk: the tokens cover %lld bytes of a %lld-byte text",
          (long long)off[n], (long long)len);
    int64_t first = out->n;
    chunk_windows(off, n, o, out);
    for (int64_t i = first; i < out->n; i++) {
        out->c[i].n_tokens =
            find_offset(off, n, out->c[i].end) - find_offset(off, n, out->c[i].start);
    }
    free(off);
    free(ids);
}

// ---------------------------------------------------------------------------
// Recursive splitting
// ---------------------------------------------------------------------------

// Coarsest first. A separator stays at the end of the piece before it, so pieces tile the text.
static const char *const separators[] = {"\n\n", "\n", ". ", " "};
enum { N_SEPARATORS = sizeof separators / sizeof separators[0] };

// Appends pieces of s[a..b) that each hold at most `size` characters. A span that fits is one
// piece; otherwise it is cut after every occurrence of the first separator (from `level` on)
// that occurs inside it, and each part is split again with the finer separators; a span
// without any separator is cut every `size` characters.
static void split_recursive(const uint8_t *s, int64_t a, int64_t b, int level, int64_t size,
                            Pieces *out)
{
    if (a >= b) return;
    int64_t n = count_chars(s, a, b);
    if (n <= size) {
        pieces_push(out, a, b, n);
        return;
    }
    for (int lv = level; lv < N_SEPARATORS; lv++) {
        const char *sep = separators[lv];
        int64_t sl = (int64_t)strlen(sep), part = a, cuts = 0;
        // A cut at b would leave the span whole, so only occurrences ending before b count.
        for (int64_t i = a; i + sl < b;) {
            if (memcmp(s + i, sep, (size_t)sl) == 0) {
                split_recursive(s, part, i + sl, lv + 1, size, out);
                part = i + sl;
                i += sl;
                cuts++;
            } else {
                i++;
            }
        }
        if (cuts > 0) {
            split_recursive(s, part, b, lv + 1, size, out);
            return;
        }
    }
    // No separator left: cut between characters, `size` at a time.
    int64_t start = a, k = 0;
    for (int64_t i = a; i < b; i += utf8_len_at(s, b, i)) {
        if (k == size) {
            pieces_push(out, start, i, k);
            start = i;
            k = 0;
        }
        k++;
    }
    pieces_push(out, start, b, k);
}

// ---------------------------------------------------------------------------
// Packing pieces into chunks
// ---------------------------------------------------------------------------

// Trims whitespace off [a, b) and appends it as a chunk of section `heading`, unless it is
// empty or lies inside the previous chunk; a previous chunk inside this one is replaced. So
// starts and ends stay strictly increasing (the trimmed ranges of consecutive packs are
// ordered, but trimming can make one contain its neighbour when a piece is only blanks).
static void emit_trimmed(const uint8_t *s, int64_t a, int64_t b, int32_t heading, Chunks *out)
{
    while (a < b && is_ws(s[a])) a++;
    while (b > a && is_ws(s[b - 1])) b--;
    if (a == b) return;
    while (out->n > 0 && a <= out->c[out->n - 1].start && b >= out->c[out->n - 1].end) out->n--;
    if (out->n > 0 && b <= out->c[out->n - 1].end) return;
    chunks_push(out, (RagChunk){.start = a, .end = b, .n_tokens = -1, .heading = heading});
}

// Greedy packing of pieces p[0..m) (each at most `size` characters): a chunk takes pieces
// while their total fits in `size`; the next chunk starts with the longest run of the chunk's
// last pieces whose total is at most `overlap` and leaves room for the next new piece (so each
// chunk adds at least one piece and the loop ends).
static void pack(const uint8_t *s, const Piece *p, int64_t m, int64_t size, int64_t overlap,
                 int32_t heading, Chunks *out)
{
    int64_t i = 0;
    while (i < m) {
        int64_t j = i, total = 0;
        while (j < m && total + p[j].n <= size) total += p[j++].n;
        CHECK(j > i, "chunk: piece of %lld characters > size %lld", (long long)p[i].n,
              (long long)size);
        emit_trimmed(s, p[i].a, p[j - 1].b, heading, out);
        if (j == m) break;
        int64_t k = j, ov = 0;
        while (k - 1 > i && ov + p[k - 1].n <= overlap && ov + p[k - 1].n + p[j].n <= size)
            ov += p[--k].n;
        i = k;
    }
}

static void chunk_recursive(const uint8_t *s, int64_t a, int64_t b, const RagChunkOpts *o,
                            int32_t heading, Chunks *out)
{
    Pieces ps = {0};
    split_recursive(s, a, b, 0, o->size, &ps);
    pack(s, ps.p, ps.n, o->size, o->overlap, heading, out);
    free(ps.p);
}

// ---------------------------------------------------------------------------
// Sentences
// ---------------------------------------------------------------------------

static const char *const abbreviations[] = {"e.g.", "i.e.", "etc.",  "cf.", "vs.", "dr.", "mr.",
                                            "mrs.", "ms.",  "prof.", "st.", "no.", "fig."};

// True when the word that ends with the '.' at s[dot] is an abbreviation or an initial.
static bool is_abbreviation(const uint8_t *s, int64_t from, int64_t dot)
{
    int64_t w = dot;
    while (w > from && !is_ws(s[w - 1])) w--;
    while (w < dot && in_set(s[w], "([{\"'")) w++; // "(e.g." is "e.g."
    int64_t wl = dot + 1 - w;
    if (wl == 2 && s[w] >= 'A' && s[w] <= 'Z') return true; // an initial: "J."
    for (size_t k = 0; k < sizeof abbreviations / sizeof abbreviations[0]; k++) {
        const char *ab = abbreviations[k];
        if ((int64_t)strlen(ab) != wl) continue;
        int64_t c = 0;
        while (c < wl && (s[w + c] | 0x20) == (uint8_t)ab[c]) c++; // '.' | 0x20 == '.'
        if (c == wl) return true;
    }
    return false;
}

int64_t rag_chunk_sentence_next(const char *text, int64_t len, int64_t pos)
{
    CHECK(text && pos >= 0 && pos < len, "rag_chunk_sentence_next: pos %lld outside [0, %lld)",
          (long long)pos, (long long)len);
    const uint8_t *s = (const uint8_t *)text;
    for (int64_t i = pos; i < len; i++) {
        uint8_t c = s[i];
        if (c == '\n') {
            // A blank line ends the sentence after the whole whitespace run.
            int64_t j = i + 1;
            while (j < len && is_blank(s[j])) j++;
            if (j < len && s[j] == '\n') {
                while (j < len && is_ws(s[j])) j++;
                if (j > pos) return j;
            }
            continue;
        }
        if (c != '.' && c != '!' && c != '?') continue;
        int64_t j = i + 1;
        while (j < len && in_set(s[j], ".!?")) j++;
        int64_t run = j - i; // terminators in a row: "?!", "..."
        while (j < len && in_set(s[j], "\"')]")) j++;
        if (j == len) return len;
        if (!is_ws(s[j])) continue;
        int64_t k = j;
        while (k < len && is_ws(s[k])) k++;
        if (k == len) return len;
        bool next_starts = (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9');
        if (!next_starts) {
            i = j - 1;
            continue;
        }
        // Only a lone '.' can end an abbreviation ("etc." yes, "etc.!" and "..." no).
        if (c == '.' && run == 1 && is_abbreviation(s, pos, i)) {
            i = j - 1;
            continue;
        }
        return k;
    }
    return len;
}

static void chunk_sentences(const uint8_t *s, int64_t len, const RagChunkOpts *o, Chunks *out)
{
    Pieces ps = {0};
    for (int64_t a = 0, b; a < len; a = b) {
        b = rag_chunk_sentence_next((const char *)s, len, a);
        int64_t n = count_chars(s, a, b);
        if (n <= o->size)
            pieces_push(&ps, a, b, n);
        else
            split_recursive(s, a, b, 0, o->size, &ps);
    }
    pack(s, ps.p, ps.n, o->size, o->overlap, -1, out);
    free(ps.p);
}

// ---------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------

typedef struct {
    RagHeading *h;
    int64_t n, cap;
} Headings;

// If the line at ls is an ATX heading (up to 3 spaces, 1..6 '#', then a blank or the end of
// the line), appends it (title trimmed, a closing run of '#' removed) and returns true.
static bool parse_heading(const uint8_t *s, int64_t ls, int64_t le, Headings *hs)
{
    int64_t i = ls;
    while (i < le && i - ls < 3 && s[i] == ' ') i++;
    int64_t h = i;
    while (i < le && s[i] == '#') i++;
    int level = (int)(i - h);
    if (level < 1 || level > 6 || (i < le && !is_blank(s[i]))) return false;
    while (i < le && is_blank(s[i])) i++;
    int64_t e = le;
    while (e > i && is_blank(s[e - 1])) e--;
    // A closing sequence "## Title ##": a run of '#' that is the whole title or follows a blank.
    int64_t c = e;
    while (c > i && s[c - 1] == '#') c--;
    if (c < e && (c == i || is_blank(s[c - 1]))) {
        e = c;
        while (e > i && is_blank(s[e - 1])) e--;
    }
    if (hs->n == hs->cap) {
        hs->cap = hs->cap ? 2 * hs->cap : 16;
        hs->h = xrealloc(hs->h, (size_t)hs->cap * sizeof *hs->h);
    }
    int32_t parent = hs->n > 0 ? (int32_t)(hs->n - 1) : -1;
    while (parent >= 0 && hs->h[parent].level >= level) parent = hs->h[parent].parent;
    hs->h[hs->n++] =
        (RagHeading){.line = ls, .start = i, .end = e, .level = level, .parent = parent};
    return true;
}

// The length of a code fence opening the line at ls ("```" or "~~~", 3 or more, after up to 3
// spaces), 0 if none; *ch gets the fence character.
static int64_t fence_at(const uint8_t *s, int64_t ls, int64_t le, uint8_t *ch)
{
    int64_t i = ls;
    while (i < le && i - ls < 3 && s[i] == ' ') i++;
    if (i >= le || (s[i] != '`' && s[i] != '~')) return 0;
    int64_t j = i;
    while (j < le && s[j] == s[i]) j++;
    *ch = s[i];
    return j - i >= 3 ? j - i : 0;
}

// Headings are found line by line, skipping fenced code (where "# comment" is code, not a
// heading). Each section is chunked recursively on its own, so no chunk crosses a heading.
static void chunk_markdown(const uint8_t *s, int64_t len, const RagChunkOpts *o, Chunks *out,
                           Headings *hs)
{
    uint8_t fence_ch = 0;
    int64_t fence_len = 0; // > 0 inside a fenced block
    for (int64_t ls = 0; ls < len;) {
        const uint8_t *nl = memchr(s + ls, '\n', (size_t)(len - ls));
        int64_t le = nl ? nl - s : len;
        uint8_t ch = 0;
        int64_t f = fence_at(s, ls, le, &ch);
        if (fence_len > 0) {
            if (f >= fence_len && ch == fence_ch) fence_len = 0;
        } else if (f > 0) {
            fence_len = f, fence_ch = ch;
        } else {
            parse_heading(s, ls, le, hs);
        }
        ls = le + 1;
    }
    int64_t first = hs->n > 0 ? hs->h[0].line : len;
    chunk_recursive(s, 0, first, o, -1, out);
    for (int64_t h = 0; h < hs->n; h++) {
        int64_t end = h + 1 < hs->n ? hs->h[h + 1].line : len;
        chunk_recursive(s, hs->h[h].line, end, o, (int32_t)h, out);
    }
}

// ---------------------------------------------------------------------------
// The entry point
// ---------------------------------------------------------------------------

static const char *const kind_names[] = {"chars", "tokens", "recursive", "sentences", "markdown"};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == RAG_CHUNK_KIND_COUNT,
               "one name per RagChunkKind");

const char *rag_chunk_kind_name(RagChunkKind kind)
{
    CHECK((int)kind >= 0 && kind < RAG_CHUNK_KIND_COUNT, "rag_chunk_kind_name: kind %d", (int)kind);
    return kind_names[kind];
}

int rag_chunk_kind_parse(const char *name, RagChunkKind *out)
{
    CHECK(name && out, "rag_chunk_kind_parse: NULL argument");
    for (int k = 0; k < RAG_CHUNK_KIND_COUNT; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (RagChunkKind)k;
            return ERR_OK;
        }
    }
    return err_set(ERR_INVALID,
                   "chunk: unknown strategy '%s'; hint: use chars, tokens, recursive, "
                   "sentences or markdown",
                   name);
}

static int check_opts(const RagChunkOpts *o)
{
    if ((int)o->kind < 0 || o->kind >= RAG_CHUNK_KIND_COUNT)
        return err_set(ERR_INVALID,
                       "chunk: kind %d is not a RagChunkKind; hint: use one of "
                       "RAG_CHUNK_CHARS .. RAG_CHUNK_MARKDOWN",
                       (int)o->kind);
    const char *unit = o->kind == RAG_CHUNK_TOKENS ? "tokens" : "characters";
    if (o->size <= 0)
        return err_set(ERR_INVALID,
                       "chunk (%s): size = %lld %s; hint: the size must be > 0, "
                       "e.g. 512",
                       kind_names[o->kind], (long long)o->size, unit);
    if (o->overlap < 0)
        return err_set(ERR_INVALID,
                       "chunk (%s): overlap = %lld %s; hint: the overlap must be "
                       ">= 0 (0 = no overlap)",
                       kind_names[o->kind], (long long)o->overlap, unit);
    if (o->overlap >= o->size)
        return err_set(ERR_INVALID,
                       "chunk (%s): overlap = %lld >= size = %lld %s, so a chunk "
                       "would never move forward; hint: use an overlap below the size, "
                       "typically 10-20%% of it (e.g. %lld)",
                       kind_names[o->kind], (long long)o->overlap, (long long)o->size, unit,
                       (long long)(o->size / 8));
    if (o->kind == RAG_CHUNK_TOKENS && !o->bpe)
        return err_set(ERR_INVALID, "chunk (tokens): opts.bpe is NULL; hint: set it to a "
                                    "tokenizer from tf_tok_bpe_load or tf_tok_bpe_train");
    return ERR_OK;
}

int rag_chunk(const char *text, int64_t len, const RagChunkOpts *o, RagChunks *out)
{
    CHECK(out && o, "rag_chunk: NULL options or output");
    CHECK(len >= 0 && (text || len == 0), "rag_chunk: text %p, len %lld", (const void *)text,
          (long long)len);
    memset(out, 0, sizeof *out);
    int rc = check_opts(o);
    if (rc != ERR_OK) return rc;
    const uint8_t *s = (const uint8_t *)text;
    Chunks cs = {0};
    Headings hs = {0};
    if (len > 0) {
        switch (o->kind) {
        case RAG_CHUNK_CHARS: chunk_chars(s, len, o, &cs); break;
        case RAG_CHUNK_TOKENS: chunk_tokens(s, len, o, &cs); break;
        case RAG_CHUNK_RECURSIVE: chunk_recursive(s, 0, len, o, -1, &cs); break;
        case RAG_CHUNK_SENTENCES: chunk_sentences(s, len, o, &cs); break;
        case RAG_CHUNK_MARKDOWN: chunk_markdown(s, len, o, &cs, &hs); break;
        case RAG_CHUNK_KIND_COUNT: break; // rejected by check_opts
        }
    }
    // Fill the counts every kind shares.
    for (int64_t i = 0; i < cs.n; i++) {
        RagChunk *c = &cs.c[i];
        c->n_chars = count_chars(s, c->start, c->end);
        if (o->kind == RAG_CHUNK_TOKENS) continue; // n_tokens set from the document's tokens
        c->n_tokens = -1;
        if (o->kind != RAG_CHUNK_MARKDOWN) c->heading = -1;
        if (o->bpe) {
            int32_t *ids;
            c->n_tokens =
                tf_tok_bpe_encode(o->bpe, s + c->start, (size_t)(c->end - c->start), &ids);
            free(ids);
        }
    }
    if (o->kind == RAG_CHUNK_TOKENS)
        for (int64_t i = 0; i < cs.n; i++) cs.c[i].heading = -1;
    out->n = cs.n;
    out->chunks = cs.c;
    out->n_headings = hs.n;
    out->headings = hs.h;
    return ERR_OK;
}

void rag_chunks_free(RagChunks *c)
{
    if (!c) return;
    free(c->chunks);
    free(c->headings);
    memset(c, 0, sizeof *c);
}

// ---------------------------------------------------------------------------
// Heading paths and statistics
// ---------------------------------------------------------------------------

int64_t rag_chunk_heading_path(const RagChunks *c, int32_t h, const char *text, char *buf,
                               size_t cap)
{
    CHECK(c && buf && cap > 0 && (h == -1 || (h >= 0 && h < c->n_headings)),
          "rag_chunk_heading_path: heading %d of %lld", (int)h, (long long)c->n_headings);
    // Collect the chain innermost first, then write it outermost first.
    int32_t chain[8];
    int depth = 0;
    for (int32_t k = h; k >= 0; k = c->headings[k].parent) {
        CHECK(depth < 8, "rag_chunk_heading_path: heading chain deeper than 6 levels");
        chain[depth++] = k;
    }
    int64_t total = 0;
    buf[0] = '\0';
    for (int d = depth - 1; d >= 0; d--) {
        const RagHeading *hd = &c->headings[chain[d]];
        const char *parts[2] = {d == depth - 1 ? "" : " > ", text + hd->start};
        int64_t lens[2] = {d == depth - 1 ? 0 : 3, hd->end - hd->start};
        for (int p = 0; p < 2; p++) {
            for (int64_t k = 0; k < lens[p]; k++, total++)
                if ((size_t)total + 1 < cap) buf[total] = parts[p][k];
        }
    }
    buf[(size_t)total + 1 < cap ? (size_t)total : cap - 1] = '\0';
    return total;
}

RagChunkStats rag_chunk_stats(const RagChunks *c, int64_t text_len)
{
    CHECK(c && text_len >= 0, "rag_chunk_stats: NULL chunks or negative length");
    RagChunkStats st = {.max_tokens = -1};
    if (c->n == 0) return st;
    st.n = c->n;
    st.min_chars = c->chunks[0].n_chars;
    double sum = 0, sum2 = 0, tok = 0, bytes = 0;
    bool tokens_known = true;
    int64_t covered = 0, reach = 0; // chunks are sorted by start, so a sweep gives the union
    for (int64_t i = 0; i < c->n; i++) {
        const RagChunk *k = &c->chunks[i];
        double nc = (double)k->n_chars;
        sum += nc, sum2 += nc * nc;
        if (k->n_chars < st.min_chars) st.min_chars = k->n_chars;
        if (k->n_chars > st.max_chars) st.max_chars = k->n_chars;
        if (k->n_tokens < 0) tokens_known = false;
        tok += (double)k->n_tokens;
        if (k->n_tokens > st.max_tokens) st.max_tokens = k->n_tokens;
        bytes += (double)(k->end - k->start);
        int64_t from = k->start > reach ? k->start : reach;
        if (k->end > from) covered += k->end - from;
        if (k->end > reach) reach = k->end;
    }
    st.mean_chars = sum / (double)c->n;
    double var = sum2 / (double)c->n - st.mean_chars * st.mean_chars;
    st.std_chars = var > 0 ? sqrt(var) : 0;
    if (tokens_known)
        st.mean_tokens = tok / (double)c->n;
    else
        st.max_tokens = -1;
    st.coverage = text_len > 0 ? (double)covered / (double)text_len : 0;
    st.redundancy = covered > 0 ? bytes / (double)covered - 1.0 : 0;
    return st;
}
