/*
 * wordnet.c: WordNet 3.0 data files -> synsets, words, glosses, hypernyms (see wordnet.h).
 *
 * The four files are read whole and parsed in place: words and glosses are NUL-terminated
 * inside the file buffers, so 117k synsets cost four allocations for their text. The lookup
 * table is an array of (word, synset) pairs sorted case-insensitively and searched by
 * bisection.
 */
#include "datasets/wordnet.h"

#include "core/err.h"
#include "core/io.h"
#include "datasets/ds_internal.h"

#include <string.h>
#include <strings.h>

struct DsWnKey {
    const char *word;
    int64_t synset;
};

static const char *const file_suffix[DS_WN_NFILES] = {"noun", "verb", "adj", "adv"};

// A hypernym pointer waiting to be resolved to a synset index once every file is loaded.
typedef struct {
    int64_t target_offset;
    int file;     // DsWnFile of the target
    int src_file; // where the pointer was read, for the error message
    int64_t line;
} PendingPtr;

// The growing arrays of a load in progress.
typedef struct {
    int64_t n_syn, cap_syn;
    int64_t n_words, cap_words;
    int64_t n_ptr, cap_ptr;
    PendingPtr *ptrs;
    char paths[DS_WN_NFILES][DS_PATH_MAX];
} Builder;

// The cursor of one line being parsed, with what the error messages need.
typedef struct {
    const char *path;
    int64_t line;
    char *q, *le; // next unread character, end of the line
} Cursor;

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

static void *grow(void *p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap) return p;
    int64_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    *cap = c;
    return xrealloc(p, (size_t)c * elem);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Takes the next space-terminated token; NUL-terminates it in place (the line is ours to cut).
// Returns false at the end of the line.
static bool next_tok(Cursor *c, char **tok, size_t *n)
{
    if (c->q >= c->le) return false;
    char *s = c->q, *sp = memchr(s, ' ', (size_t)(c->le - s));
    char *e = sp ? sp : c->le;
    *tok = s;
    *n = (size_t)(e - s);
    c->q = sp ? sp + 1 : c->le;
    if (sp) *sp = '\0';
    return true;
}

static int line_err(const Cursor *c, const char *field, const char *tok, size_t n, const char *want)
{
    if (!tok)
        return err_set(ERR_FORMAT,
                       "wordnet: %s:%lld: line ends before field %s; hint: the line "
                       "is corrupt or a count field (w_cnt, p_cnt, f_cnt) is too large",
                       c->path, (long long)c->line, field);
    if (n == 0)
        return err_set(ERR_FORMAT,
                       "wordnet: %s:%lld: field %s is empty (two spaces in a row, "
                       "or trailing blanks where %s belongs); hint: the line is corrupt or a "
                       "count field (w_cnt, p_cnt, f_cnt) is too large",
                       c->path, (long long)c->line, field, want);
    return err_set(ERR_FORMAT,
                   "wordnet: %s:%lld: field %s is '%.*s', expected %s; hint: the "
                   "line is corrupt or a count field (w_cnt, p_cnt, f_cnt) disagrees with the "
                   "fields that follow",
                   c->path, (long long)c->line, field, (int)(n > 40 ? 40 : n), tok, want);
}

// Reads a field of exactly `width` digits in `base` (10 or 16) into *v.
static int num_field(Cursor *c, const char *field, int width, int base, int64_t *v)
{
    char *tok;
    size_t n;
    if (!next_tok(c, &tok, &n)) return line_err(c, field, NULL, 0, NULL);
    int64_t acc = 0;
    bool ok = n == (size_t)width;
    for (size_t i = 0; i < n && ok; i++) {
        int d = hexval(tok[i]);
        ok = d >= 0 && d < base;
        acc = acc * base + d;
    }
    if (!ok) {
        char want[48];
        snprintf(want, sizeof want, "%d %s digits", width, base == 16 ? "hex" : "decimal");
        return line_err(c, field, tok, n, want);
    }
    *v = acc;
    return ERR_OK;
}

static int pos_file(char pos)
{
    switch (pos) {
    case 'n': return DS_WN_NOUN;
    case 'v': return DS_WN_VERB;
    case 'a':
    case 's': return DS_WN_ADJ;
    case 'r': return DS_WN_ADV;
    }
    return -1;
}

// WordNet marks some adjectives' syntactic position after the lemma: (a) prenominal,
// (p) predicative, (ip) immediately postnominal. The marker is not part of the word.
static void strip_adj_marker(char *w, size_t n)
{
    static const char *const marks[] = {"(a)", "(p)", "(ip)"};
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(marks[i]);
        if (n > k && strcmp(w + n - k, marks[i]) == 0) {
            w[n - k] = '\0';
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// Parsing one synset line
// ---------------------------------------------------------------------------

static int parse_synset(DsWordNet *wn, Builder *b, int file, Cursor *c, int64_t line_offset)
{
    int64_t off, lexfile, wcnt, lexid, pcnt;
    int rc;
    if ((rc = num_field(c, "synset_offset", 8, 10, &off))) return rc;
    if (off != line_offset)
        return err_set(ERR_FORMAT,
                       "wordnet: %s:%lld: synset_offset %08lld is not the line's "
                       "byte offset %lld; hint: the file was edited (line endings?) or "
                       "truncated, reinstall wordnet-base",
                       c->path, (long long)c->line, (long long)off, (long long)line_offset);
    if ((rc = num_field(c, "lex_filenum", 2, 10, &lexfile))) return rc;
    char *tok;
    size_t n;
    if (!next_tok(c, &tok, &n)) return line_err(c, "ss_type", NULL, 0, NULL);
    if (n != 1 || pos_file(tok[0]) != file)
        return line_err(c, "ss_type", tok, n,
                        file == DS_WN_ADJ    ? "'a' or 's' in this file"
                        : file == DS_WN_NOUN ? "'n' in this file"
                        : file == DS_WN_VERB ? "'v' in this file"
                                             : "'r' in this file");
    char pos = tok[0];
    if ((rc = num_field(c, "w_cnt", 2, 16, &wcnt))) return rc;
    if (wcnt == 0) return line_err(c, "w_cnt", "00", 2, "at least one word");

    wn->synsets = grow(wn->synsets, &b->cap_syn, b->n_syn + 1, sizeof *wn->synsets);
    wn->words = grow(wn->words, &b->cap_words, b->n_words + wcnt, sizeof *wn->words);
    DsSynset *s = &wn->synsets[b->n_syn];
    *s = (DsSynset){.offset = off,
                    .pos = pos,
                    .lex_filenum = (int)lexfile,
                    .word0 = b->n_words,
                    .n_words = wcnt,
                    .hyper0 = b->n_ptr};
    for (int64_t w = 0; w < wcnt; w++) {
        if (!next_tok(c, &tok, &n)) return line_err(c, "word", NULL, 0, NULL);
        if (n == 0) return line_err(c, "word", tok, n, "a word");
        for (size_t i = 0; i < n; i++)
            if (tok[i] == '_') tok[i] = ' ';
        if (file == DS_WN_ADJ) strip_adj_marker(tok, n);
        wn->words[b->n_words + w] = tok;
        if ((rc = num_field(c, "lex_id", 1, 16, &lexid))) return rc;
    }

    if ((rc = num_field(c, "p_cnt", 3, 10, &pcnt))) return rc;
    for (int64_t p = 0; p < pcnt; p++) {
        int64_t toff, st;
        if (!next_tok(c, &tok, &n)) return line_err(c, "pointer_symbol", NULL, 0, NULL);
        if (n < 1 || n > 2 || tok[0] == '|')
            return line_err(c, "pointer_symbol", tok, n, "a pointer symbol such as @ ~ + !");
        bool hyper = tok[0] == '@';
        if ((rc = num_field(c, "pointer offset", 8, 10, &toff))) return rc;
        if (!next_tok(c, &tok, &n)) return line_err(c, "pointer pos", NULL, 0, NULL);
        if (n != 1 || pos_file(tok[0]) < 0)
            return line_err(c, "pointer pos", tok, n, "one of n v a s r");
        int tfile = pos_file(tok[0]);
        if ((rc = num_field(c, "pointer source/target", 4, 16, &st))) return rc;
        if (hyper) {
            b->ptrs = grow(b->ptrs, &b->cap_ptr, b->n_ptr + 1, sizeof *b->ptrs);
            b->ptrs[b->n_ptr++] = (PendingPtr){toff, tfile, file, c->line};
        }
    }
    s->n_hypers = b->n_ptr - s->hyper0;

    // Verbs list the sentence frames they fit ("Somebody ----s something"); we check and skip.
    if (file == DS_WN_VERB) {
        int64_t fcnt, fnum, wnum;
        if ((rc = num_field(c, "f_cnt", 2, 10, &fcnt))) return rc;
        for (int64_t f = 0; f < fcnt; f++) {
            if (!next_tok(c, &tok, &n)) return line_err(c, "frame '+'", NULL, 0, NULL);
            if (n != 1 || tok[0] != '+') return line_err(c, "frame '+'", tok, n, "'+'");
            if ((rc = num_field(c, "f_num", 2, 10, &fnum))) return rc;
            if ((rc = num_field(c, "w_num", 2, 16, &wnum))) return rc;
        }
    }

    if (!next_tok(c, &tok, &n) || n == 0) tok = "(end of line)", n = strlen(tok);
    if (n != 1 || tok[0] != '|')
        return err_set(ERR_FORMAT,
                       "wordnet: %s:%lld: expected '|' before the gloss, found "
                       "'%.*s' (after w_cnt=%lld words and p_cnt=%lld pointers); hint: a count "
                       "field disagrees with the fields that follow, the line is corrupt",
                       c->path, (long long)c->line, (int)(n > 40 ? 40 : n), tok, (long long)wcnt,
                       (long long)pcnt);
    // The gloss is the rest of the line; WordNet pads it with trailing spaces.
    char *g = c->q, *ge = c->le;
    while (ge > g && (ge[-1] == ' ' || ge[-1] == '\r')) ge--;
    *ge = '\0';
    s->gloss = g;
    b->n_words += wcnt;
    b->n_syn++;
    return ERR_OK;
}

static int parse_file(DsWordNet *wn, Builder *b, int file)
{
    const char *path = b->paths[file];
    char *text = wn->files_[file];
    size_t len = strlen(text);
    int64_t first = b->n_syn;
    Cursor c = {.path = path};
    for (char *p = text, *end = text + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        c.line++;
        if (le - p >= 2 && p[0] == ' ' && p[1] == ' ') { // license header
            p = nl ? nl + 1 : end;
            continue;
        }
        c.q = p;
        c.le = le;
        int64_t line_offset = p - text;
        p = nl ? nl + 1 : end;
        int rc = parse_synset(wn, b, file, &c, line_offset);
        if (rc) return rc;
    }
    wn->n_file[file] = b->n_syn - first;
    return ERR_OK;
}

// ---------------------------------------------------------------------------
// Hypernyms and the lookup table
// ---------------------------------------------------------------------------

// Index of the synset at `offset` in `file`, or -1. Each file's synsets are in offset order.
static int64_t find_offset(const DsWordNet *wn, const int64_t *file_start, int file, int64_t offset)
{
    int64_t lo = file_start[file], hi = lo + wn->n_file[file];
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (wn->synsets[mid].offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < file_start[file] + wn->n_file[file] && wn->synsets[lo].offset == offset) ? lo : -1;
}

static int cmp_key(const void *a, const void *b)
{
    const DsWnKey *x = a, *y = b;
    int r = strcasecmp(x->word, y->word);
    if (r) return r;
    return (x->synset > y->synset) - (x->synset < y->synset);
}

// Fills wn->hypernyms from the pending pointers and builds the lookup table.
static int finish(DsWordNet *wn, Builder *b)
{
    int64_t file_start[DS_WN_NFILES], at = 0;
    for (int f = 0; f < DS_WN_NFILES; f++) {
        file_start[f] = at;
        at += wn->n_file[f];
    }
    wn->n_hypernyms = b->n_ptr;
    wn->hypernyms = xmalloc((size_t)(b->n_ptr ? b->n_ptr : 1) * sizeof *wn->hypernyms);
    for (int64_t i = 0; i < b->n_ptr; i++) {
        const PendingPtr *p = &b->ptrs[i];
        int64_t s = find_offset(wn, file_start, p->file, p->target_offset);
        if (s < 0)
            return err_set(ERR_FORMAT,
                           "wordnet: %s:%lld: hypernym pointer to %08lld in data.%s "
                           "names no synset; hint: the data files are from different WordNet "
                           "versions or one is truncated",
                           b->paths[p->src_file], (long long)p->line, (long long)p->target_offset,
                           file_suffix[p->file]);
        wn->hypernyms[i] = s;
    }
    wn->keys_ = xmalloc((size_t)(wn->n_words ? wn->n_words : 1) * sizeof *wn->keys_);
    for (int64_t s = 0; s < wn->n_synsets; s++)
        for (int64_t w = 0; w < wn->synsets[s].n_words; w++)
            wn->keys_[wn->synsets[s].word0 + w] = (DsWnKey){wn->words[wn->synsets[s].word0 + w], s};
    qsort(wn->keys_, (size_t)wn->n_words, sizeof *wn->keys_, cmp_key);
    return ERR_OK;
}

// ---------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------

int ds_wordnet_load_dir(const char *dir, DsWordNet *out)
{
    CHECK(dir && out, "ds_wordnet_load_dir: NULL argument");
    memset(out, 0, sizeof *out);
    Builder *b = xcalloc(1, sizeof *b);
    int rc = ERR_OK;
    for (int f = 0; f < DS_WN_NFILES && rc == ERR_OK; f++) {
        int k = snprintf(b->paths[f], DS_PATH_MAX, "%s/data.%s", dir, file_suffix[f]);
        if (k < 0 || k >= DS_PATH_MAX) {
            rc = err_set(ERR_RANGE, "wordnet: folder name too long: %.100s...", dir);
            break;
        }
        unsigned char *text;
        size_t len;
        rc = io_read_all(b->paths[f], &text, &len);
        if (rc) break;
        out->files_[f] = (char *)text;
        if (memchr(text, '\0', len))
            rc = err_set(ERR_FORMAT,
                         "wordnet: %s: NUL byte at offset %lld; hint: not a "
                         "WordNet data file",
                         b->paths[f], (long long)((unsigned char *)memchr(text, '\0', len) - text));
        else
            rc = parse_file(out, b, f);
        out->n_synsets = b->n_syn;
        out->n_words = b->n_words;
    }
    if (rc == ERR_OK) rc = finish(out, b);
    free(b->ptrs);
    free(b);
    if (rc) ds_wordnet_free(out);
    return rc;
}

int ds_wordnet_load(DsWordNet *out)
{
    CHECK(out, "ds_wordnet_load: NULL argument");
    memset(out, 0, sizeof *out);
    char dir[DS_PATH_MAX], probe[DS_PATH_MAX];
    int rc = ds_data_path(dir, sizeof dir, "wordnet");
    if (rc) return rc;
    for (int f = 0; f < DS_WN_NFILES; f++) {
        char rel[64];
        snprintf(rel, sizeof rel, "wordnet/data.%s", file_suffix[f]);
        if ((rc = ds_data_path(probe, sizeof probe, rel))) return rc;
        if ((rc = ds_require_file(probe, "WordNet 3.0", "wordnet-base"))) return rc;
    }
    return ds_wordnet_load_dir(dir, out);
}

void ds_wordnet_free(DsWordNet *wn)
{
    if (!wn) return;
    free(wn->synsets);
    free(wn->words);
    free(wn->hypernyms);
    free(wn->keys_);
    for (int f = 0; f < DS_WN_NFILES; f++) free(wn->files_[f]);
    memset(wn, 0, sizeof *wn);
}

int64_t ds_wordnet_lookup(const DsWordNet *wn, const char *word, int64_t *out, int64_t max)
{
    CHECK(wn && word && (out || max == 0), "ds_wordnet_lookup: NULL argument");
    // The stored words have spaces where WordNet has underscores; accept either spelling.
    size_t n = strlen(word);
    char stack[128];
    char *q = n < sizeof stack ? stack : xmalloc(n + 1);
    for (size_t i = 0; i <= n; i++) q[i] = word[i] == '_' ? ' ' : word[i];

    // Lower bound of q among the sorted keys, then walk the run of equal words.
    int64_t lo = 0, hi = wn->n_words;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (strcasecmp(wn->keys_[mid].word, q) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t count = 0, last = -1;
    for (int64_t i = lo; i < wn->n_words && strcasecmp(wn->keys_[i].word, q) == 0; i++) {
        int64_t s = wn->keys_[i].synset;
        if (s == last) continue; // the same word twice in one synset (case variants)
        if (count < max) out[count] = s;
        count++;
        last = s;
    }
    if (q != stack) free(q);
    return count;
}

const char *ds_wordnet_word(const DsWordNet *wn, int64_t s, int64_t i)
{
    CHECK(wn && s >= 0 && s < wn->n_synsets, "ds_wordnet_word: synset %lld out of range",
          (long long)s);
    CHECK(i >= 0 && i < wn->synsets[s].n_words,
          "ds_wordnet_word: word %lld of synset %lld "
          "(has %lld)",
          (long long)i, (long long)s, (long long)wn->synsets[s].n_words);
    return wn->words[wn->synsets[s].word0 + i];
}

bool ds_wordnet_synonyms(const DsWordNet *wn, const char *a, const char *b)
{
    int64_t na = ds_wordnet_lookup(wn, a, NULL, 0);
    int64_t nb = ds_wordnet_lookup(wn, b, NULL, 0);
    if (na == 0 || nb == 0) return false;
    int64_t *sa = xmalloc((size_t)na * sizeof *sa), *sb = xmalloc((size_t)nb * sizeof *sb);
    ds_wordnet_lookup(wn, a, sa, na);
    ds_wordnet_lookup(wn, b, sb, nb);
    // Both lists are sorted (keys are ordered by synset within a word): merge.
    bool shared = false;
    for (int64_t i = 0, j = 0; i < na && j < nb && !shared;) {
        if (sa[i] == sb[j])
            shared = true;
        else if (sa[i] < sb[j])
            i++;
        else
            j++;
    }
    free(sa);
    free(sb);
    return shared;
}
