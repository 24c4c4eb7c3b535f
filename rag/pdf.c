/*
 * pdf.c: the PDF loader (see doc.h), on poppler-glib, the library behind evince and pdftotext.
 *
 * Per page we take poppler_page_get_text, the page's text in reading order, one line per
 * "\n". It differs from pdftotext's in one way that matters for retrieval: where two runs of
 * text on one line are separated only by horizontal space and no space character (a man page's
 * "-e" and the "Preprocess with eqn." beside it, two table columns), get_text glues them
 * ("-ePreprocess") while pdftotext puts a space. We restore the space from the glyph boxes of
 * poppler_page_get_text_layout (one box per character of the text): between two non-space
 * characters on the same line (their boxes overlap vertically), a gap wider than
 * RAG_PDF_GAP x the glyph height is a word break. With it, our text equals pdftotext's up to
 * whitespace and one thing we keep on purpose: pdftotext joins a word hyphenated at the end of
 * a line ("sim-\nplification" -> "simplification"); we keep the page's characters as they are.
 *
 * Pages are joined with "\f" (as pdftotext does) and doc->page_start[i] is where page i+1
 * starts, so rag_doc_page_at maps a chunk's offset to the page to cite.
 *
 * Errors, each naming the file with a hint: no "%PDF-" header (not a PDF at all), poppler's
 * "encrypted" (needs a password), "damaged" or other parse failures (truncated, corrupt), and a
 * PDF whose pages hold no text at all (a scan: needs OCR).
 *
 * Every poppler/glib object is released (g_object_unref, g_free) on every path. Poppler
 * prints nothing to stderr through the glib API.
 */
#include "rag/doc.h"
#include "rag/doc_internal.h"

#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <poppler.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// A gap between two glyphs on one line wider than this many glyph heights is a word break.
// Body text's inter-word space is about 0.25 em and is already a ' ' character in the text;
// glued columns are separated by several em, so 0.3 sits between letter spacing (~0) and the
// gaps that need a space.
#define RAG_PDF_GAP 0.3

// How far into the file the "%PDF-" header may start (the PDF spec lets junk precede it;
// readers accept the first 1024 bytes).
#define RAG_PDF_HEADER_SCAN 1024

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// A growing byte buffer.
typedef struct {
    char *p;
    int64_t n, cap;
} Buf;

static void buf_put(Buf *b, const char *s, int64_t n)
{
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        b->p = xrealloc(b->p, (size_t)b->cap);
    }
    memcpy(b->p + b->n, s, (size_t)n);
    b->n += n;
    b->p[b->n] = '\0';
}

// Checks that the file can be read and starts (within RAG_PDF_HEADER_SCAN bytes) with "%PDF-",
// so a missing, unreadable or non-PDF file gets its own message before poppler sees it.
static int check_header(const char *path)
{
    int fd;
    struct stat st;
    int rc = rag_doc_open_regular(path, "a PDF file", &fd, &st);
    if (rc != ERR_OK) return rc;
    char head[RAG_PDF_HEADER_SCAN];
    ssize_t n = read(fd, head, sizeof head);
    int e = errno;
    close(fd);
    if (n < 0)
        return err_set(ERR_IO,
                       "%s: cannot read: %s; hint: give a PDF file, not a folder or "
                       "device",
                       path, strerror(e));
    for (ssize_t i = 0; i + 5 <= n; i++)
        if (!memcmp(head + i, "%PDF-", 5)) return ERR_OK;
    return err_set(ERR_FORMAT,
                   "%s: not a PDF: no %%PDF- header in its first %zd bytes; hint: `file %s` "
                   "says what it is (a text file named .pdf? an HTML error page?)",
                   path, n, path);
}

// Opens the document, turning poppler's GError into our message.
static int open_document(const char *path, PopplerDocument **out)
{
    *out = NULL;
    GError *gerr = NULL;
    char *abs = realpath(path, NULL);
    if (!abs) {
        int e = errno;
        return err_set(ERR_IO, "%s: %s; hint: check the path", path, strerror(e));
    }
    char *uri = g_filename_to_uri(abs, NULL, &gerr);
    free(abs);
    if (!uri) {
        int rc = err_set(ERR_IO,
                         "%s: no file URI for it (%s); hint: rename it with plain "
                         "characters",
                         path, gerr ? gerr->message : "?");
        if (gerr) g_error_free(gerr);
        return rc;
    }
    PopplerDocument *doc = poppler_document_new_from_file(uri, NULL, &gerr);
    g_free(uri);
    if (doc) {
        *out = doc;
        return ERR_OK;
    }
    int rc;
    const char *why = gerr ? gerr->message : "unknown error";
    if (gerr && gerr->domain == POPPLER_ERROR && gerr->code == POPPLER_ERROR_ENCRYPTED)
        rc = err_set(ERR_FORMAT,
                     "%s: the PDF is encrypted and needs a password (poppler: %s); "
                     "hint: decrypt a copy first, e.g. qpdf --decrypt --password=PW in.pdf "
                     "out.pdf",
                     path, why);
    else
        rc = err_set(ERR_FORMAT,
                     "%s: poppler cannot read the PDF (%s); hint: it is truncated "
                     "or corrupt: `pdfinfo %s` shows the same; re-download or re-export it",
                     path, why, path);
    if (gerr) g_error_free(gerr);
    return rc;
}

// Appends one page's text to b, with a space restored at each wide gap between glyphs (see
// the top of the file).
static void page_text(PopplerPage *page, Buf *b)
{
    char *text = poppler_page_get_text(page);
    if (!text) return;
    PopplerRectangle *box = NULL;
    guint n_box = 0;
    if (!poppler_page_get_text_layout(page, &box, &n_box)) n_box = 0;
    // The boxes are one per character of `text`; if poppler ever disagrees, keep the text as
    // it is rather than guess which box is whose.
    bool use_boxes = n_box > 0 && (glong)n_box == g_utf8_strlen(text, -1);
    const char *p = text;
    for (guint k = 0; *p; k++) {
        const char *next = g_utf8_next_char(p);
        buf_put(b, p, next - p);
        if (use_boxes && k + 1 < n_box && *next && !g_unichar_isspace(g_utf8_get_char(p)) &&
            !g_unichar_isspace(g_utf8_get_char(next))) {
            const PopplerRectangle *a = &box[k], *c = &box[k + 1];
            double h = a->y2 - a->y1;
            if (c->y2 - c->y1 > h) h = c->y2 - c->y1;
            bool same_line = c->y1 < a->y2 && c->y2 > a->y1;
            if (same_line && c->x1 - a->x2 > RAG_PDF_GAP * h) buf_put(b, " ", 1);
        }
        p = next;
    }
    g_free(box);
    g_free(text);
}

// Sets key = value when value is non-empty, then g_frees value.
static void meta_take(RagDoc *d, const char *key, char *value)
{
    if (value && *value) rag_doc_meta_set(d, key, value);
    g_free(value);
}

// ---------------------------------------------------------------------------
// The loader
// ---------------------------------------------------------------------------

int rag_pdf_load(const char *path, RagDoc *out)
{
    CHECK(path && out, "rag_pdf_load: NULL argument");
    memset(out, 0, sizeof *out);
    int rc = check_header(path);
    if (rc != ERR_OK) return rc;
    PopplerDocument *doc;
    rc = open_document(path, &doc);
    if (rc != ERR_OK) return rc;

    int n_pages = poppler_document_get_n_pages(doc);
    out->n_pages = n_pages;
    out->page_start = xcalloc((size_t)(n_pages > 0 ? n_pages : 1), sizeof *out->page_start);
    Buf text = {0}, page = {0};
    int64_t visible = 0; // non-space bytes over all pages
    for (int i = 0; i < n_pages; i++) {
        if (i > 0) buf_put(&text, "\f", 1);
        out->page_start[i] = text.n;
        PopplerPage *pg = poppler_document_get_page(doc, i);
        if (!pg) continue; // a page poppler cannot build stays empty; its number still counts
        page.n = 0;
        page_text(pg, &page);
        g_object_unref(pg);
        if (page.n == 0) continue;
        // Normalise page by page, so page_start stays right.
        page.n = rag_text_normalize(page.p, page.n);
        for (int64_t k = 0; k < page.n; k++) visible += !g_ascii_isspace(page.p[k]);
        buf_put(&text, page.p, page.n);
    }
    free(page.p);
    if (!text.p) buf_put(&text, "", 0);

    if (visible == 0) {
        rc = err_set(ERR_FORMAT,
                     "%s: %d page(s) but no text layer; hint: a scanned PDF needs "
                     "OCR first (e.g. ocrmypdf in.pdf out.pdf)",
                     path, n_pages);
        goto fail;
    }
    int64_t bad = rag_utf8_invalid_at(text.p, text.n);
    if (bad >= 0) { // poppler promises UTF-8; check rather than trust
        int64_t pg = 1;
        for (int64_t k = 0; k < bad; k++) pg += text.p[k] == '\f';
        rc = err_set(ERR_FORMAT,
                     "%s: poppler returned invalid UTF-8 at byte %lld (page %lld); "
                     "hint: report the file; pdftotext -enc UTF-8 may do better",
                     path, (long long)bad, (long long)pg);
        goto fail;
    }

    out->text = text.p;
    out->len = text.n;
    out->id = xstrdup(path);
    out->source = xstrdup(path);
    out->kind = RAG_DOC_PDF;
    char *title = poppler_document_get_title(doc);
    if (title && *title) {
        out->title = xstrdup(title);
        rag_doc_meta_set(out, "pdf_title", title);
    } else {
        const char *s = strrchr(path, '/');
        out->title = xstrdup(s ? s + 1 : path);
    }
    g_free(title);
    char num[32];
    snprintf(num, sizeof num, "%d", n_pages);
    rag_doc_meta_set(out, "page_count", num);
    meta_take(out, "author", poppler_document_get_author(doc));
    meta_take(out, "creator", poppler_document_get_creator(doc));
    meta_take(out, "producer", poppler_document_get_producer(doc));
    // page_start as text too, so a store that keeps only key=value pairs keeps the pages.
    Buf offs = {0};
    for (int i = 0; i < n_pages; i++) {
        snprintf(num, sizeof num, "%s%lld", i ? "," : "", (long long)out->page_start[i]);
        buf_put(&offs, num, (int64_t)strlen(num));
    }
    rag_doc_meta_set(out, "page_offsets", offs.p ? offs.p : "");
    free(offs.p);
    g_object_unref(doc);
    return ERR_OK;

fail:
    free(text.p);
    g_object_unref(doc);
    rag_doc_deinit(out);
    return rc;
}
