/*
 * tok_pretok.c: GPT-2's pre-tokenisation, by hand over UTF-8 (no regex library).
 *
 * GPT-2 never lets a BPE merge cross the boundary between a word, a number, a run of
 * punctuation and a run of spaces: the text is first cut into pre-tokens by the pattern
 *
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * taken left to right, first alternative that matches wins, each quantifier greedy. Spelled
 * out for the code point c0 at the cursor (c1 the next one):
 *   1. c0 = ' and the next bytes are s, t, m, d, re, ve or ll: that contraction (ASCII, case
 *      sensitive: "'S" is not one).
 *   2. c0 = U+0020 and c1 is a letter, number or symbol: the space plus the run of c1's class.
 *   3. c0 is a letter, number or symbol: the run of its class ("symbol" = not \s, \p{L}, \p{N}).
 *   4. Otherwise c0 is white space. Take the whole run of white space; if the text ends there,
 *      that is the token. If a non-space follows and the run has two or more characters, give
 *      back its last character (\s+(?!\S) backtracks one step so that the next token can be
 *      " word"); a single white-space character stays a token of its own (the last \s+).
 * \s is JavaScript's: TAB LF VT FF CR, U+FEFF, U+2028, U+2029 and the Zs spaces (U+0020,
 * U+00A0, U+1680, U+2000-200A, U+202F, U+205F, U+3000). \p{L} and \p{N} come from
 * unicode_tables.c (Unicode 17.0, taken from node 20's ICU by tools/gen_unicode_tables.py),
 * so the cuts are exactly those gpt-3-encoder makes on node 20.
 *
 * Bytes that are not valid UTF-8 (a stray continuation byte, a truncated sequence, an overlong
 * form, a surrogate, anything above U+10FFFF) cannot occur in a JavaScript string, so the
 * reference has no opinion on them; here each such byte is one "symbol" code point, which
 * joins the symbol runs of rule 3. That keeps every byte string encodable.
 */
#include "core/err.h"
#include "transformer/tok_internal.h"

enum { CLS_LETTER, CLS_NUMBER, CLS_SYMBOL, CLS_SPACE };

// ---------------------------------------------------------------------------
// UTF-8 and classes
// ---------------------------------------------------------------------------

#define CP_INVALID 0xFFFFFFFFu

// Decodes the code point at s[pos] (pos < n) into *cp and returns its length in bytes.
// Invalid input gives CP_INVALID and length 1.
static size_t utf8_decode(const uint8_t *s, size_t n, size_t pos, uint32_t *cp)
{
    uint8_t b = s[pos];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if (b >= 0xC2 && b <= 0xDF) len = 2, c = b & 0x1F, min = 0x80;
    else if (b >= 0xE0 && b <= 0xEF) len = 3, c = b & 0x0F, min = 0x800;
    else if (b >= 0xF0 && b <= 0xF4) len = 4, c = b & 0x07, min = 0x10000;
    else {
        *cp = CP_INVALID;
        return 1;
    }
    if (pos + len > n) {
        *cp = CP_INVALID;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        uint8_t cb = s[pos + i];
        if ((cb & 0xC0) != 0x80) {
            *cp = CP_INVALID;
            return 1;
        }
        c = (c << 6) | (cb & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (c < min || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) {
        *cp = CP_INVALID;
        return 1;
    }
    *cp = c;
    return len;
}

static bool in_ranges(uint32_t c, const uint32_t (*r)[2], int n)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < r[mid][0]) hi = mid - 1;
        else if (c > r[mid][1]) lo = mid + 1;
        else return true;
    }
    return false;
}

static bool is_js_space(uint32_t c)
{
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return true;
    if (c < 0xA0) return false;
    return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

static int cp_class(uint32_t c)
{
    if (c < 0x80) { // ASCII, the common case, without a search
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return CLS_LETTER;
        if (c >= '0' && c <= '9') return CLS_NUMBER;
        return is_js_space(c) ? CLS_SPACE : CLS_SYMBOL;
    }
    if (c == CP_INVALID) return CLS_SYMBOL;
    if (is_js_space(c)) return CLS_SPACE;
    if (in_ranges(c, tf_tok_letter_ranges, tf_tok_letter_ranges_n)) return CLS_LETTER;
    if (in_ranges(c, tf_tok_number_ranges, tf_tok_number_ranges_n)) return CLS_NUMBER;
    return CLS_SYMBOL;
}

// Class of the code point at pos; *len gets its byte length.
static int class_at(const uint8_t *s, size_t n, size_t pos, size_t *len)
{
    uint32_t c;
    *len = utf8_decode(s, n, pos, &c);
    return cp_class(c);
}

// End of the run of code points of class cls that starts at pos.
static size_t run_end(const uint8_t *s, size_t n, size_t pos, int cls)
{
    size_t len;
    while (pos < n && class_at(s, n, pos, &len) == cls) pos += len;
    return pos;
}

// ---------------------------------------------------------------------------
// The pattern
// ---------------------------------------------------------------------------

size_t tf_tok_pretok_next(const uint8_t *s, size_t n, size_t pos)
{
    CHECK(s != NULL || n == 0, "tf_tok_pretok_next: NULL text");
    CHECK(pos < n, "tf_tok_pretok_next: pos %zu past the end %zu", pos, n);
    // 1. Contractions.
    if (s[pos] == '\'' && pos + 1 < n) {
        uint8_t c = s[pos + 1];
        if (c == 's' || c == 't' || c == 'm' || c == 'd') return pos + 2;
        if (pos + 2 < n) {
            uint8_t d = s[pos + 2];
            if ((c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l'))
                return pos + 3;
        }
    }
    size_t len;
    int cls = class_at(s, n, pos, &len);
    // 2. A single space glued to the word, number or symbol run after it.
    if (s[pos] == ' ' && pos + 1 < n) {
        size_t len1;
        int cls1 = class_at(s, n, pos + 1, &len1);
        if (cls1 != CLS_SPACE) return run_end(s, n, pos + 1 + len1, cls1);
    }
    // 3. A run of letters, numbers or symbols.
    if (cls != CLS_SPACE) return run_end(s, n, pos + len, cls);
    // 4. White space: all of it at the end of the text, else all but its last character.
    size_t end = pos, last = pos;
    int count = 0;
    while (end < n && class_at(s, n, end, &len) == CLS_SPACE) last = end, end += len, count++;
    if (end == n || count == 1) return end;
    return last;
}
