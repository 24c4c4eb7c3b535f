/*
 * doc.c: documents and batches (see doc.h): text and Markdown files, dictd entries, the
 * directory walk and the per-file error list. The PDF loader is in pdf.c.
 */
#include "rag/doc.h"
#include "rag/doc_internal.h"

#include "core/err.h"
#include "datasets/dictd.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

// A file larger than this is refused (ERR_RANGE): the loaders hold a whole file in memory.
#define RAG_MAX_FILE_BYTES ((int64_t)1 << 30)
// Deepest folder nesting the walk enters (symlinked folders are not followed, so only a
// pathological tree reaches it).
#define RAG_MAX_DEPTH 64

// ---------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------

int64_t rag_text_normalize(char *text, int64_t len)
{
    CHECK(text && len >= 0, "rag_text_normalize: text %p len %lld", (void *)text, (long long)len);
    int64_t w = 0;
    for (int64_t r = 0; r < len; r++) {
        char c = text[r];
        if (c == '\0') continue;
        if (c == '\r' && r + 1 < len && text[r + 1] == '\n') continue; // the '\n' is kept
        text[w++] = c;
    }
    text[w] = '\0';
    return w;
}

int64_t rag_utf8_invalid_at(const char *text, int64_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    int64_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        // Lead byte -> sequence length and the smallest code point it may encode (anything
        // smaller is an overlong form, which UTF-8 forbids).
        int n;
        unsigned cp, min;
        if (c >= 0xC2 && c <= 0xDF)
            n = 2, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 3, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 4, cp = c & 0x07, min = 0x10000;
        else
            return i; // continuation byte out of place, C0/C1 overlong leads, F5..FF
        if (len - i < n) return i;
        for (int k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n;
    }
    return -1;
}

// ERR_FORMAT naming `what` (a path or id), the byte offset and line of the first bad byte.
static int utf8_error(const char *what, const char *text, int64_t len, int64_t at)
{
    int64_t line = 1;
    for (int64_t i = 0; i < at && i < len; i++) line += text[i] == '\n';
    const unsigned char *u = (const unsigned char *)text;
    bool utf16 = len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF));
    return err_set(ERR_FORMAT, "%s: invalid UTF-8 at byte %lld (line %lld, byte 0x%02X); hint: %s",
                   what, (long long)at, (long long)line, u[at],
                   utf16 ? "it starts with a UTF-16 byte-order mark: convert it with "
                           "iconv -f UTF-16 -t UTF-8"
                         : "convert it to UTF-8 first, e.g. iconv -f LATIN1 -t UTF-8 "
                           "(file -i shows the encoding)");
}

// The part of a path after its last '/'.
static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

// ---------------------------------------------------------------------------
// One document
// ---------------------------------------------------------------------------

const char *rag_doc_kind_name(RagDocKind kind)
{
    static const char *names[RAG_DOC_KIND_COUNT] = {"text", "markdown", "dict", "pdf"};
    _Static_assert(sizeof names / sizeof names[0] == RAG_DOC_KIND_COUNT, "kind names");
    CHECK(kind >= 0 && kind < RAG_DOC_KIND_COUNT, "rag_doc_kind_name: kind %d", (int)kind);
    return names[kind];
}

int rag_doc_kind_for_path(const char *path)
{
    const char *b = base_name(path);
    const char *dot = strrchr(b, '.');
    if (!dot || dot == b) return -1;
    if (!strcasecmp(dot, ".txt")) return RAG_DOC_TEXT;
    if (!strcasecmp(dot, ".md") || !strcasecmp(dot, ".markdown")) return RAG_DOC_MARKDOWN;
    if (!strcasecmp(dot, ".pdf")) return RAG_DOC_PDF;
    return -1;
}

void rag_doc_deinit(RagDoc *d)
{
    if (!d) return;
    free(d->id);
    free(d->source);
    free(d->title);
    free(d->text);
    for (int64_t i = 0; i < d->n_meta; i++) {
        free(d->meta[i].key);
        free(d->meta[i].value);
    }
    free(d->meta);
    free(d->page_start);
    memset(d, 0, sizeof *d);
}

const char *rag_doc_meta(const RagDoc *d, const char *key)
{
    CHECK(d && key, "rag_doc_meta: NULL argument");
    for (int64_t i = 0; i < d->n_meta; i++)
        if (!strcmp(d->meta[i].key, key)) return d->meta[i].value;
    return NULL;
}

void rag_doc_meta_set(RagDoc *d, const char *key, const char *value)
{
    CHECK(d && key && value, "rag_doc_meta_set: NULL argument");
    for (int64_t i = 0; i < d->n_meta; i++) {
        if (!strcmp(d->meta[i].key, key)) {
            free(d->meta[i].value);
            d->meta[i].value = xstrdup(value);
            return;
        }
    }
    d->meta = xrealloc(d->meta, (size_t)(d->n_meta + 1) * sizeof *d->meta);
    d->meta[d->n_meta++] = (RagMeta){.key = xstrdup(key), .value = xstrdup(value)};
}

int64_t rag_doc_page_at(const RagDoc *d, int64_t offset)
{
    CHECK(d, "rag_doc_page_at: NULL doc");
    if (d->n_pages <= 0) return 0;
    if (offset < 0) offset = 0;
    if (offset > d->len) offset = d->len;
    // The last page whose first byte is at or before offset (page_start is increasing).
    int64_t lo = 0, hi = d->n_pages - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (d->page_start[mid] <= offset)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo + 1;
}

int rag_doc_open_regular(const char *path, const char *what, int *fd, struct stat *st)
{
    // O_NONBLOCK: a FIFO named .txt or .pdf must not hang the batch (no effect on regular
    // files).
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (*fd < 0) {
        int e = errno;
        const char *hint = e == ENOENT   ? "check the path (ls -l)"
                           : e == EACCES ? "the file's permissions do not let this user read "
                                           "it (ls -l; chmod a+r)"
                                         : "check the file and the disk";
        return err_set(ERR_IO, "%s: cannot open: %s; hint: %s", path, strerror(e), hint);
    }
    if (fstat(*fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(*fd);
        *fd = -1;
        return err_set(ERR_IO, "%s: not a regular file; hint: give %s or a folder", path, what);
    }
    return ERR_OK;
}

// Reads a whole regular file, appending a NUL. Errors name the path and the system's reason
// with a hint for the common cases.
static int read_file(const char *path, char **data, int64_t *n)
{
    *data = NULL;
    *n = 0;
    int fd;
    struct stat st;
    int rc = rag_doc_open_regular(path, "a file", &fd, &st);
    if (rc != ERR_OK) return rc;
    if ((int64_t)st.st_size > RAG_MAX_FILE_BYTES) {
        close(fd);
        return err_set(ERR_RANGE, "%s: %lld bytes, over the 1 GiB limit; hint: split it", path,
                       (long long)st.st_size);
    }
    // st_size is a hint only (the file may change while we read): read until EOF.
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (len == cap) buf = xrealloc(buf, (cap *= 2) + 1);
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return err_set(ERR_IO, "%s: read failed at byte %zu: %s; hint: check the disk", path,
                           len, strerror(e));
        }
        if (got == 0) break;
        len += (size_t)got;
        if ((int64_t)len > RAG_MAX_FILE_BYTES) {
            close(fd);
            free(buf);
            return err_set(ERR_RANGE, "%s: over the 1 GiB limit; hint: split it", path);
        }
    }
    close(fd);
    buf[len] = '\0';
    *data = buf;
    *n = (int64_t)len;
    return ERR_OK;
}

// Title of a Markdown text: the first ATX level-1 heading ("# Title", up to 3 spaces before
// the '#', an optional closing run of '#'), skipping fenced code blocks, whose "# comment"
// lines are not headings. A new string, or NULL when there is none.
static char *markdown_title(const char *text, int64_t len)
{
    const char *p = text, *end = text + len;
    char fence = 0; // '`' or '~' while inside a fenced block
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *s = p;
        int indent = 0;
        while (s < eol && *s == ' ' && indent < 4) s++, indent++;
        if (indent < 4 && eol - s >= 3 && (*s == '`' || *s == '~') && s[1] == *s && s[2] == *s) {
            if (!fence)
                fence = *s;
            else if (fence == *s)
                fence = 0;
        } else if (!fence && indent < 4 && s < eol && *s == '#' &&
                   (s + 1 == eol || s[1] == ' ' || s[1] == '\t')) {
            const char *a = s + 1, *b = eol;
            while (a < b && (*a == ' ' || *a == '\t')) a++;
            while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
            // A closing sequence of '#'s counts only after a space ("# C#" keeps its '#').
            const char *c = b;
            while (c > a && c[-1] == '#') c--;
            if (c < b && (c == a || c[-1] == ' ' || c[-1] == '\t')) {
                b = c;
                while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
            }
            if (b > a) return strndup(a, (size_t)(b - a));
        }
        p = eol + 1;
    }
    return NULL;
}

// Fills d with the text of a .txt or .md file.
static int load_text_file(const char *path, RagDocKind kind, RagDoc *d)
{
    char *buf;
    int64_t n;
    int rc = read_file(path, &buf, &n);
    if (rc != ERR_OK) return rc;
    int64_t bad = rag_utf8_invalid_at(buf, n);
    if (bad >= 0) {
        rc = utf8_error(path, buf, n, bad);
        free(buf);
        return rc;
    }
    n = rag_text_normalize(buf, n);
    d->text = buf;
    d->len = n;
    d->title = kind == RAG_DOC_MARKDOWN ? markdown_title(buf, n) : NULL;
    if (!d->title) d->title = xstrdup(base_name(path));
    return ERR_OK;
}

int rag_doc_load(const char *path, RagDocKind kind, RagDoc *out)
{
    CHECK(path && out, "rag_doc_load: NULL argument");
    CHECK(kind == RAG_DOC_TEXT || kind == RAG_DOC_MARKDOWN || kind == RAG_DOC_PDF,
          "rag_doc_load: kind %d is not a file loader (use rag_docs_add_dict for DICT)", (int)kind);
    if (kind == RAG_DOC_PDF) return rag_pdf_load(path, out);
    memset(out, 0, sizeof *out);
    int rc = load_text_file(path, kind, out);
    if (rc != ERR_OK) {
        rag_doc_deinit(out);
        return rc;
    }
    out->id = xstrdup(path);
    out->source = xstrdup(path);
    out->kind = kind;
    return ERR_OK;
}

// ---------------------------------------------------------------------------
// The batch: id hash table
// ---------------------------------------------------------------------------

// FNV-1a, 64-bit.
static uint64_t hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

// Open addressing with linear probing; n_slots_ is a power of two kept at least twice the
// number of documents, so a probe sequence ends at an empty slot after a few steps.
static int64_t *slot_for(const RagDocs *docs, const char *id)
{
    uint64_t mask = (uint64_t)docs->n_slots_ - 1;
    for (uint64_t i = hash_str(id) & mask;; i = (i + 1) & mask) {
        int64_t *s = &docs->slots_[i];
        if (*s == 0 || !strcmp(docs->docs[*s - 1].id, id)) return s;
    }
}

static void rehash(RagDocs *docs, int64_t n_slots)
{
    free(docs->slots_);
    docs->slots_ = xcalloc((size_t)n_slots, sizeof *docs->slots_);
    docs->n_slots_ = n_slots;
    for (int64_t i = 0; i < docs->n; i++) *slot_for(docs, docs->docs[i].id) = i + 1;
}

const RagDoc *rag_docs_find(const RagDocs *docs, const char *id)
{
    CHECK(docs && id, "rag_docs_find: NULL argument");
    if (docs->n_slots_ == 0) return NULL;
    int64_t s = *slot_for(docs, id);
    return s ? &docs->docs[s - 1] : NULL;
}

// Moves *d into the batch (d is zeroed) and returns its index, or ERR_INVALID when its id is
// taken (d is left as it was, still owned by the caller).
static int64_t docs_push(RagDocs *docs, RagDoc *d)
{
    if (rag_docs_find(docs, d->id))
        return err_set(ERR_INVALID,
                       "%s: the id is already in the batch; hint: each file is added once "
                       "(the same path given twice, or a folder and a file inside it)",
                       d->id);
    if (docs->n == docs->cap_) {
        docs->cap_ = docs->cap_ ? 2 * docs->cap_ : 16;
        docs->docs = xrealloc(docs->docs, (size_t)docs->cap_ * sizeof *docs->docs);
    }
    if (2 * (docs->n + 1) > docs->n_slots_) rehash(docs, docs->n_slots_ ? 2 * docs->n_slots_ : 64);
    int64_t i = docs->n++;
    docs->docs[i] = *d;
    memset(d, 0, sizeof *d);
    *slot_for(docs, docs->docs[i].id) = i + 1;
    return i;
}

// Records the current err_msg() as the failure of `path`; returns code.
static int record_error(RagDocs *docs, const char *path, int code)
{
    if (docs->n_errors == docs->err_cap_) {
        docs->err_cap_ = docs->err_cap_ ? 2 * docs->err_cap_ : 8;
        docs->errors = xrealloc(docs->errors, (size_t)docs->err_cap_ * sizeof *docs->errors);
    }
    docs->errors[docs->n_errors++] =
        (RagDocError){.path = xstrdup(path), .code = code, .msg = xstrdup(err_msg())};
    return code;
}

RagDocs *rag_docs_create(void)
{
    return xcalloc(1, sizeof(RagDocs));
}

void rag_docs_free(RagDocs *docs)
{
    if (!docs) return;
    for (int64_t i = 0; i < docs->n; i++) rag_doc_deinit(&docs->docs[i]);
    for (int64_t i = 0; i < docs->n_errors; i++) {
        free(docs->errors[i].path);
        free(docs->errors[i].msg);
    }
    free(docs->docs);
    free(docs->errors);
    free(docs->slots_);
    free(docs);
}

int64_t rag_docs_add_text(RagDocs *docs, const char *id, const char *source, const char *title,
                          const char *text, int64_t len, RagDocKind kind)
{
    CHECK(docs && id && (text || len == 0) && len >= 0, "rag_docs_add_text: bad argument");
    CHECK(kind >= 0 && kind < RAG_DOC_KIND_COUNT, "rag_docs_add_text: kind %d", (int)kind);
    int64_t bad = rag_utf8_invalid_at(text, len);
    if (bad >= 0) return utf8_error(id, text, len, bad);
    if (rag_docs_find(docs, id))
        return err_set(ERR_INVALID, "%s: the id is already in the batch; hint: ids are unique", id);
    RagDoc d = {.kind = kind};
    d.text = xmalloc((size_t)len + 1);
    if (len) memcpy(d.text, text, (size_t)len);
    d.len = rag_text_normalize(d.text, len);
    d.id = xstrdup(id);
    d.source = xstrdup(source ? source : "");
    d.title = xstrdup(title ? title : id);
    return docs_push(docs, &d);
}

int rag_docs_add_file(RagDocs *docs, const char *path, RagDocKind kind)
{
    CHECK(docs && path, "rag_docs_add_file: NULL argument");
    RagDoc d;
    int rc = rag_doc_load(path, kind, &d);
    if (rc != ERR_OK) return record_error(docs, path, rc);
    int64_t at = docs_push(docs, &d);
    if (at < 0) {
        rag_doc_deinit(&d);
        return record_error(docs, path, (int)at);
    }
    return ERR_OK;
}

// ---------------------------------------------------------------------------
// The batch: files and folders
// ---------------------------------------------------------------------------

static int add_tree(RagDocs *docs, const char *dir, int depth)
{
    if (depth > RAG_MAX_DEPTH) {
        err_set(ERR_RANGE, "%s: folders nested over %d deep; hint: point at a shallower folder",
                dir, RAG_MAX_DEPTH);
        record_error(docs, dir, ERR_RANGE);
        return 1;
    }
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    if (n < 0) {
        int e = errno;
        err_set(ERR_IO, "%s: cannot list the folder: %s; hint: check its permissions (ls -ld)", dir,
                strerror(e));
        record_error(docs, dir, ERR_IO);
        return 1;
    }
    int failures = 0;
    size_t dlen = strlen(dir);
    bool slash = dlen > 0 && dir[dlen - 1] == '/';
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        if (name[0] == '.') { // ".", ".." and hidden files (.git, editor backups)
            docs->n_skipped += strcmp(name, ".") && strcmp(name, "..");
            free(list[i]);
            continue;
        }
        size_t plen = dlen + 1 + strlen(name) + 1;
        char *p = xmalloc(plen);
        snprintf(p, plen, "%s%s%s", dir, slash ? "" : "/", name);
        struct stat lst, st;
        if (lstat(p, &lst) != 0) { // removed while we walk
            int e = errno;
            err_set(ERR_IO, "%s: %s; hint: was it removed during the walk?", p, strerror(e));
            record_error(docs, p, ERR_IO);
            failures++;
        } else if (S_ISDIR(lst.st_mode)) {
            failures += add_tree(docs, p, depth + 1);
        } else if (S_ISLNK(lst.st_mode) && stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            docs->n_skipped++; // a symlinked folder may lead back up: not followed
        } else {
            int kind = rag_doc_kind_for_path(p);
            if (kind < 0)
                docs->n_skipped++;
            else
                failures += rag_docs_add_file(docs, p, (RagDocKind)kind) != ERR_OK;
        }
        free(p);
        free(list[i]);
    }
    free(list);
    return failures;
}

int rag_docs_add_path(RagDocs *docs, const char *path)
{
    CHECK(docs && path, "rag_docs_add_path: NULL argument");
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        err_set(ERR_IO, "%s: %s; hint: check the path (ls -l)", path, strerror(e));
        record_error(docs, path, ERR_IO);
        return 1;
    }
    if (S_ISDIR(st.st_mode)) return add_tree(docs, path, 0);
    int kind = rag_doc_kind_for_path(path);
    if (kind < 0) {
        err_set(ERR_INVALID,
                "%s: unknown extension; hint: the loaders take .txt, .md, .markdown and .pdf "
                "(rename it, or call rag_docs_add_file with a kind)",
                path);
        record_error(docs, path, ERR_INVALID);
        return 1;
    }
    return rag_docs_add_file(docs, path, (RagDocKind)kind) != ERR_OK;
}

// ---------------------------------------------------------------------------
// The batch: dictd entries
// ---------------------------------------------------------------------------

// The display form of an entry's headword: a line of the headword block (the lines before the
// first blank one) equal to the headword ignoring ASCII case, trimmed. A new string, or NULL.
static char *dict_display_title(const DsEntry *e)
{
    size_t hl = strlen(e->headword);
    const char *p = e->definition;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        const char *a = p, *b = eol;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
        if (a == b) break; // the blank line that ends the block
        if ((size_t)(b - a) == hl && !strncasecmp(a, e->headword, hl)) return strndup(a, hl);
        if (!*eol) break;
        p = eol + 1;
    }
    return NULL;
}

typedef struct {
    int64_t offset, length; // the text's place in the .dict data
    int64_t doc;            // index in the batch
} DictText;

static int dict_text_cmp(const void *pa, const void *pb)
{
    const DictText *a = pa, *b = pb;
    if (a->offset != b->offset) return a->offset < b->offset ? -1 : 1;
    return (a->length > b->length) - (a->length < b->length);
}

// Appends `hw` to the doc's "aliases" list ("; "-separated).
static void add_alias(RagDoc *d, const char *hw)
{
    const char *old = rag_doc_meta(d, "aliases");
    if (!old) {
        rag_doc_meta_set(d, "aliases", hw);
        return;
    }
    size_t n = strlen(old) + 2 + strlen(hw) + 1;
    char *v = xmalloc(n);
    snprintf(v, n, "%s; %s", old, hw);
    rag_doc_meta_set(d, "aliases", v);
    free(v);
}

int64_t rag_docs_add_dict(RagDocs *docs, const char *name, int64_t max_entries)
{
    CHECK(docs && name, "rag_docs_add_dict: NULL argument");
    size_t srclen = strlen(name) + 6;
    char *source = xmalloc(srclen);
    snprintf(source, srclen, "dict:%s", name);
    DsDict dict;
    int rc = ds_dict_load(name, &dict);
    if (rc != ERR_OK) {
        record_error(docs, source, rc);
        free(source);
        return rc;
    }
    DictText *texts = xmalloc((size_t)(dict.n > 0 ? dict.n : 1) * sizeof *texts);
    int64_t n_texts = 0, added = 0;
    // Pass 1: one document per text, in index order (an entry's first headword comes before
    // its aliases there, see dictd.h).
    for (int64_t i = 0; i < dict.n && (max_entries <= 0 || added < max_entries); i++) {
        const DsEntry *e = &dict.entries[i];
        if (e->alias) continue;
        RagDoc d = {.kind = RAG_DOC_DICT};
        d.title = dict_display_title(e);
        if (!d.title) d.title = xstrdup(e->headword);
        char *body = ds_dict_body(e);
        size_t tl = strlen(d.title), bl = strlen(body);
        if (bl >= tl && !strncasecmp(body, d.title, tl)) {
            d.text = body;
        } else {
            d.text = xmalloc(tl + 2 + bl + 1);
            memcpy(d.text, d.title, tl);
            memcpy(d.text + tl, "\n\n", 2);
            memcpy(d.text + tl + 2, body, bl + 1);
            free(body);
            bl += tl + 2;
        }
        d.len = (int64_t)bl;
        int64_t bad = rag_utf8_invalid_at(d.text, d.len);
        // The id: NAME:TITLE, made unique with "#2", "#3"... (headwords differing in case
        // only, or one display form for two headwords).
        size_t idcap = strlen(name) + 1 + tl + 24;
        d.id = xmalloc(idcap);
        snprintf(d.id, idcap, "%s:%s", name, d.title);
        for (int k = 2; rag_docs_find(docs, d.id); k++)
            snprintf(d.id, idcap, "%s:%s#%d", name, d.title, k);
        if (bad >= 0) {
            utf8_error(d.id, d.text, d.len, bad);
            size_t pl = srclen + strlen(e->headword) + 1;
            char *p = xmalloc(pl);
            snprintf(p, pl, "%s:%s", source, e->headword);
            record_error(docs, p, ERR_FORMAT);
            free(p);
            rag_doc_deinit(&d);
            continue;
        }
        d.len = rag_text_normalize(d.text, d.len);
        d.source = xstrdup(source);
        rag_doc_meta_set(&d, "dictionary", name);
        rag_doc_meta_set(&d, "headword", e->headword);
        int64_t at = docs_push(docs, &d);
        CHECK(at >= 0, "rag_docs_add_dict: id made unique above");
        texts[n_texts++] = (DictText){.offset = e->offset, .length = e->length, .doc = at};
        added++;
    }
    // Pass 2: aliases of the documents made above join their "aliases" metadata.
    qsort(texts, (size_t)n_texts, sizeof *texts, dict_text_cmp);
    for (int64_t i = 0; i < dict.n; i++) {
        const DsEntry *e = &dict.entries[i];
        if (!e->alias) continue;
        DictText key = {.offset = e->offset, .length = e->length};
        const DictText *t = bsearch(&key, texts, (size_t)n_texts, sizeof *texts, dict_text_cmp);
        if (t) add_alias(&docs->docs[t->doc], e->headword);
    }
    free(texts);
    free(source);
    ds_dict_free(&dict);
    return added;
}
