/*
 * dictd.c: dictd dictionaries, .index + .dict.dz (see dictd.h for the format).
 */
#include "datasets/dictd.h"

#include "core/err.h"
#include "core/io.h"
#include "datasets/ds_internal.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

// 10 base64 digits hold 60 bits: more than any dictionary needs and still no int64 overflow.
#define B64_MAX_DIGITS 10

// One parsed index line, before the strings are copied into the dictionary's storage.
typedef struct {
    const char *hw; // headword inside the index buffer (not NUL-terminated)
    size_t hw_len;
    int64_t off, len; // entry text in the dict data
    int64_t text_at;  // where its text lands in storage (shared by aliases)
    bool alias;
} IndexRec;

// ---------------------------------------------------------------------------
// Reading the files
// ---------------------------------------------------------------------------

// Inflates the whole of `path` (gzip, dictzip, or plain bytes, which zlib passes through) into
// a new buffer. The size is not known in advance, so the buffer doubles as it fills.
static int inflate_file(const char *path, char **out, int64_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return err_set(ERR_IO, "dictd: cannot open %s: %s; hint: check the path", path,
                       errno ? strerror(errno) : "zlib could not open it");
    gzbuffer(f, 1 << 17);
    int64_t cap = 1 << 20, n = 0;
    char *buf = xmalloc((size_t)cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = xrealloc(buf, (size_t)cap);
        }
        int64_t room = cap - n;
        int r = gzread(f, buf + n, room > (1 << 30) ? (1u << 30) : (unsigned)room);
        // zlib reports a stream cut short either as -1 or as 0 bytes with an error pending.
        int zerr = Z_OK;
        const char *msg = r <= 0 ? gzerror(f, &zerr) : "";
        if (r < 0 || zerr != Z_OK) {
            int rc = err_set(zerr == Z_BUF_ERROR ? ERR_TRUNCATED : ERR_FORMAT,
                             "dictd: %s: corrupt or truncated gzip data after %lld bytes (%s); "
                             "hint: the file is damaged, reinstall its package",
                             path, (long long)n, msg);
            gzclose(f);
            free(buf);
            return rc;
        }
        if (r == 0) break;
        n += r;
    }
    gzclose(f);
    *out = buf;
    *n_out = n;
    return ERR_OK;
}

// Value of one dictd base64 digit, or -1.
static int b64_digit(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// Decodes s[0..n) (most significant digit first: v = v * 64 + digit). Returns false when the
// field is empty, too long, or holds a character outside the alphabet.
static bool b64_decode(const char *s, size_t n, int64_t *v)
{
    if (n == 0 || n > B64_MAX_DIGITS) return false;
    int64_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        int d = b64_digit(s[i]);
        if (d < 0) return false;
        acc = acc * 64 + d;
    }
    *v = acc;
    return true;
}

static bool is_metadata(const char *hw, size_t n)
{
    return (n >= 12 && memcmp(hw, "00-database-", 12) == 0) ||
           (n >= 10 && memcmp(hw, "00database", 10) == 0);
}

// The metadata key without its prefix ("short", "url", ...), for either spelling.
static bool metadata_is(const char *hw, size_t n, const char *key)
{
    size_t k = strlen(key);
    size_t skip = (hw[2] == '-') ? 12 : 10;
    return n == skip + k && memcmp(hw + skip, key, k) == 0;
}

// Copies a metadata text without its first line (the key repeated) and trimmed, so
// "00-database-short\n     The Free On-line Dictionary of Computing\n" gives the title.
static size_t metadata_copy(char *dst, const char *text, int64_t len)
{
    const char *p = text, *end = text + len;
    if (len >= 2 && p[0] == '0' && p[1] == '0') {
        const char *nl = memchr(p, '\n', (size_t)len);
        p = nl ? nl + 1 : end;
    }
    while (p < end && isspace((unsigned char)*p)) p++;
    while (end > p && isspace((unsigned char)end[-1])) end--;
    memcpy(dst, p, (size_t)(end - p));
    dst[end - p] = '\0';
    return (size_t)(end - p) + 1;
}

// ---------------------------------------------------------------------------
// Parsing the index
// ---------------------------------------------------------------------------

// Orders records by (offset, length, position in the index), so aliases sit together and the
// first of each group is the one that comes first in the index. (qsort_r: no global state.)
static int cmp_rec(const void *a, const void *b, void *base)
{
    const IndexRec *recs = base;
    const IndexRec *x = recs + *(const int64_t *)a, *y = recs + *(const int64_t *)b;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x < y ? -1 : (x > y);
}

// Parses one "headword TAB offset TAB length" line into *r. `lineno` is 1-based.
static int parse_line(const char *line, size_t n, const char *path, int64_t lineno,
                      int64_t data_len, const char *dict_path, IndexRec *r)
{
    const char *t1 = memchr(line, '\t', n);
    const char *t2 = t1 ? memchr(t1 + 1, '\t', n - (size_t)(t1 + 1 - line)) : NULL;
    if (!t1 || !t2)
        return err_set(ERR_FORMAT,
                       "dictd: %s:%lld: expected 3 tab-separated fields "
                       "(headword, offset, length), found %d; hint: the index is corrupt, "
                       "reinstall its package or rebuild it with dictfmt",
                       path, (long long)lineno, t1 ? 2 : 1);
    const char *end = line + n;
    if (memchr(t2 + 1, '\t', (size_t)(end - t2 - 1)))
        return err_set(ERR_FORMAT,
                       "dictd: %s:%lld: more than 3 tab-separated fields; hint: "
                       "the index is corrupt",
                       path, (long long)lineno);
    if (t1 == line)
        return err_set(ERR_FORMAT, "dictd: %s:%lld: empty headword; hint: the index is corrupt",
                       path, (long long)lineno);
    r->hw = line;
    r->hw_len = (size_t)(t1 - line);
    const char *fo = t1 + 1, *fl = t2 + 1;
    size_t no = (size_t)(t2 - fo), nl = (size_t)(end - fl);
    if (!b64_decode(fo, no, &r->off))
        return err_set(ERR_FORMAT,
                       "dictd: %s:%lld: offset field '%.*s' is not dictd base64 "
                       "(1..%d digits of A-Z a-z 0-9 + /); hint: the index is corrupt, "
                       "reinstall its package",
                       path, (long long)lineno, (int)(no > 40 ? 40 : no), fo, B64_MAX_DIGITS);
    if (!b64_decode(fl, nl, &r->len))
        return err_set(ERR_FORMAT,
                       "dictd: %s:%lld: length field '%.*s' is not dictd base64 "
                       "(1..%d digits of A-Z a-z 0-9 + /); hint: the index is corrupt, "
                       "reinstall its package",
                       path, (long long)lineno, (int)(nl > 40 ? 40 : nl), fl, B64_MAX_DIGITS);
    if (r->off > data_len || r->len > data_len - r->off)
        return err_set(ERR_RANGE,
                       "dictd: %s:%lld: entry '%.*s' at offset %lld + length %lld "
                       "runs past the end of %s (%lld bytes); hint: the .index and .dict.dz do "
                       "not belong together or the .dict.dz is truncated",
                       path, (long long)lineno, (int)(r->hw_len > 60 ? 60 : r->hw_len), r->hw,
                       (long long)r->off, (long long)r->len, dict_path, (long long)data_len);
    r->alias = false;
    return ERR_OK;
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

int ds_dict_load_files(const char *index_path, const char *dict_path, DsDict *out)
{
    CHECK(index_path && dict_path && out, "ds_dict_load_files: NULL argument");
    memset(out, 0, sizeof *out);
    unsigned char *idx = NULL;
    size_t idx_len = 0;
    char *data = NULL;
    int64_t data_len = 0;
    IndexRec *recs = NULL;
    int64_t *order = NULL;
    int rc = io_read_all(index_path, &idx, &idx_len);
    if (rc) return rc;
    rc = inflate_file(dict_path, &data, &data_len);
    if (rc) goto done;

    // Pass 1: parse every line. The line count bounds the number of records.
    int64_t n_lines = 1;
    for (size_t i = 0; i < idx_len; i++) n_lines += idx[i] == '\n';
    recs = xmalloc((size_t)n_lines * sizeof *recs);
    int64_t n_recs = 0, lineno = 0;
    IndexRec m_short = {0}, m_url = {0}; // metadata (zero length when absent)
    for (const char *p = (const char *)idx, *end = p + idx_len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        IndexRec r;
        rc = parse_line(p, n, index_path, lineno, data_len, dict_path, &r);
        if (rc) goto done;
        p += n + 1;
        if (is_metadata(r.hw, r.hw_len)) {
            if (metadata_is(r.hw, r.hw_len, "short")) m_short = r;
            if (metadata_is(r.hw, r.hw_len, "url")) m_url = r;
            continue;
        }
        recs[n_recs++] = r;
    }

    // Pass 2: find aliases (same offset and length) so each text is stored once.
    order = xmalloc((size_t)(n_recs ? n_recs : 1) * sizeof *order);
    for (int64_t i = 0; i < n_recs; i++) order[i] = i;
    qsort_r(order, (size_t)n_recs, sizeof *order, cmp_rec, recs);
    int64_t total = 0;
    for (int64_t k = 0; k < n_recs; k++) {
        IndexRec *r = &recs[order[k]];
        const IndexRec *prev = k ? &recs[order[k - 1]] : NULL;
        if (prev && prev->off == r->off && prev->len == r->len) {
            r->alias = true;
            r->text_at = prev->text_at;
        } else {
            r->text_at = total;
            total += r->len + 1;
        }
    }
    int64_t texts_len = total;
    for (int64_t i = 0; i < n_recs; i++) total += (int64_t)recs[i].hw_len + 1;
    total += m_short.len + 1 + m_url.len + 1;

    // Pass 3: copy the strings into one block and point the entries at it.
    char *st = xmalloc((size_t)total);
    out->entries = xmalloc((size_t)(n_recs ? n_recs : 1) * sizeof *out->entries);
    for (int64_t i = 0; i < n_recs; i++) {
        const IndexRec *r = &recs[i];
        if (!r->alias) {
            memcpy(st + r->text_at, data + r->off, (size_t)r->len);
            st[r->text_at + r->len] = '\0';
        }
    }
    int64_t at = texts_len;
    for (int64_t i = 0; i < n_recs; i++) {
        const IndexRec *r = &recs[i];
        memcpy(st + at, r->hw, r->hw_len);
        st[at + (int64_t)r->hw_len] = '\0';
        out->entries[i] = (DsEntry){
            .headword = st + at,
            .definition = st + r->text_at,
            .offset = r->off,
            .length = r->len,
            .alias = r->alias,
        };
        at += (int64_t)r->hw_len + 1;
    }
    out->name = st + at;
    at += (int64_t)metadata_copy(st + at, data + m_short.off, m_short.len);
    out->url = st + at;
    metadata_copy(st + at, data + m_url.off, m_url.len);
    out->n = n_recs;
    out->storage_ = st;
    rc = ERR_OK;
done:
    free(idx);
    free(data);
    free(recs);
    free(order);
    return rc;
}

int ds_dict_load(const char *name, DsDict *out)
{
    CHECK(name && out, "ds_dict_load: NULL argument");
    memset(out, 0, sizeof *out);
    size_t n = strlen(name);
    bool ok = n > 0 && n <= 64;
    for (size_t i = 0; i < n && ok; i++)
        ok = islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) || name[i] == '-' ||
             name[i] == '_';
    if (!ok)
        return err_set(ERR_INVALID,
                       "dictd: '%s' is not a dictionary name; hint: use \"foldoc\", "
                       "\"jargon\" or \"devil\"",
                       name);
    char rel[128], ip[DS_PATH_MAX], dp[DS_PATH_MAX], pkg[80], what[96];
    snprintf(rel, sizeof rel, "dictd/%s.index", name);
    int rc = ds_data_path(ip, sizeof ip, rel);
    if (rc) return rc;
    snprintf(rel, sizeof rel, "dictd/%s.dict.dz", name);
    if ((rc = ds_data_path(dp, sizeof dp, rel))) return rc;
    snprintf(pkg, sizeof pkg, "dict-%s", name);
    snprintf(what, sizeof what, "dictionary '%s'", name);
    if ((rc = ds_require_file(ip, what, pkg))) return rc;
    if ((rc = ds_require_file(dp, what, pkg))) return rc;
    return ds_dict_load_files(ip, dp, out);
}

void ds_dict_free(DsDict *d)
{
    if (!d) return;
    free(d->entries);
    free(d->storage_);
    memset(d, 0, sizeof *d);
}

const DsEntry *ds_dict_find(const DsDict *d, const char *headword)
{
    CHECK(d && headword, "ds_dict_find: NULL argument");
    for (int64_t i = 0; i < d->n; i++)
        if (strcasecmp(d->entries[i].headword, headword) == 0) return &d->entries[i];
    return NULL;
}

// ---------------------------------------------------------------------------
// Cleaned text
// ---------------------------------------------------------------------------

// True when [s, e) with surrounding blanks removed equals `word` ignoring ASCII case.
static bool line_is(const char *s, const char *e, const char *word)
{
    while (s < e && isspace((unsigned char)*s)) s++;
    while (e > s && isspace((unsigned char)e[-1])) e--;
    size_t n = strlen(word);
    return (size_t)(e - s) == n && strncasecmp(s, word, n) == 0;
}

static bool line_blank(const char *s, const char *e)
{
    while (s < e && isspace((unsigned char)*s)) s++;
    return s == e;
}

char *ds_dict_body(const DsEntry *e)
{
    CHECK(e && e->definition && e->headword, "ds_dict_body: NULL entry");
    const char *text = e->definition, *end = text + strlen(text);

    // The headword block: the lines before the first blank line. FOLDOC puts the display form
    // and its synonyms there ("exclamation mark\n!\nexcl\n..."), Jargon the word and its part
    // of speech; we drop it only if one of its lines is the headword, so an entry that starts
    // straight with its text (The Devil's Dictionary: "ABASEMENT, n.  A decent ...") is kept.
    const char *p = text, *body = text;
    bool has_headword = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (line_blank(p, le)) break;
        has_headword = has_headword || line_is(p, le, e->headword);
        p = nl ? nl + 1 : end;
    }
    if (has_headword) body = p;

    // Copy line by line without indentation and braces; the result is never longer.
    char *out = xmalloc((size_t)(end - body) + 1);
    size_t n = 0;
    bool at_line_start = true;
    for (const char *q = body; q < end; q++) {
        char c = *q;
        if (at_line_start && (c == ' ' || c == '\t')) continue;
        at_line_start = c == '\n';
        if (c == '{' || c == '}') continue;
        out[n++] = c;
    }
    // Trim surrounding blank space.
    size_t a = 0;
    while (a < n && isspace((unsigned char)out[a])) a++;
    while (n > a && isspace((unsigned char)out[n - 1])) n--;
    memmove(out, out + a, n - a);
    out[n - a] = '\0';
    return out;
}
