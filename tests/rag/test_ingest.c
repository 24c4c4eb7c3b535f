/*
 * test_ingest.c: document ingestion (rag/doc.c, rag/pdf.c).
 *
 * The PDFs are made here, by real tools, from real text: a man page of this machine typeset by
 * `groff -man -Tpdf` and by `groff -man -Tps | ps2pdf`, and a troff page written from FOLDOC
 * entries (with a pdfmark giving it a title and an author) through `groff -Tps | ps2pdf`. The
 * reference for the extracted text is poppler-utils' pdftotext on the same file. Both sides are
 * compared after two normalisations, each for a documented reason:
 *   - whitespace runs (spaces, newlines, form feeds) become one space: pdftotext and
 *     poppler_page_get_text lay lines out differently;
 *   - on our side "-\n" is removed: pdftotext joins words hyphenated at the end of a line
 *     ("sim-\nplification" -> "simplification"), our loader keeps the page's characters.
 * After that the texts must be equal, byte for byte. Pages are checked the same way against
 * `pdftotext -f P -l P`, and the page count against pdfinfo.
 *
 * The failure tests build one folder holding good files and bad ones (a truncated PDF, random
 * bytes, random bytes after a PDF header, a text file named .pdf, an encrypted PDF made by
 * ghostscript (and qpdf when installed), invalid UTF-8, an unreadable file) and check that each
 * bad file gives one error naming it, with a hint, while the good files are all ingested.
 */
#include "core/err.h"
#include "core/io.h"
#include "datasets/dictd.h"
#include "rag/doc.h"
#include "tests/test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

static bool have_tool(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

// Runs a shell command; the test fails (showing the command) if it does not exit 0.
static void sh(const char *cmd)
{
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "command failed (status %d): %s", rc, cmd);
}

static char *read_text(const char *path, size_t *n)
{
    unsigned char *data;
    size_t len;
    ck_assert_msg(io_read_all(path, &data, &len) == ERR_OK, "%s", err_msg());
    if (n) *n = len;
    return (char *)data;
}

static const char *write_text(const char *name, const char *text)
{
    return test_write_file(name, text, strlen(text));
}

// Whitespace runs -> one space, trimmed; with dehyphen, "-\n" is removed first (see the top).
static char *squash(const char *s, int64_t n, bool dehyphen)
{
    char *out = malloc((size_t)n + 1);
    int64_t w = 0;
    bool space = false;
    for (int64_t i = 0; i < n; i++) {
        if (dehyphen && s[i] == '-' && i + 1 < n && s[i + 1] == '\n') {
            i++;
            continue;
        }
        if (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\f' || s[i] == '\r') {
            space = w > 0;
            continue;
        }
        if (space) out[w++] = ' ';
        space = false;
        out[w++] = s[i];
    }
    out[w] = '\0';
    return out;
}

// Asserts a == b, showing where they first differ.
static void expect_same_text(const char *ours, const char *ref, const char *label)
{
    size_t i = 0;
    while (ours[i] && ours[i] == ref[i]) i++;
    if (ours[i] == ref[i]) return;
    size_t from = i > 40 ? i - 40 : 0;
    ck_abort_msg("%s: texts differ at char %zu of %zu/%zu:\n ours: ...%.80s\n  ref: ...%.80s",
                 label, i, strlen(ours), strlen(ref), ours + from, ref + from);
}

// pdftotext of pages [first, last] (0 = all) of pdf, as a new string.
static char *pdftotext(const char *pdf, int first, int last)
{
    char txt[600], cmd[2048];
    snprintf(txt, sizeof txt, "%s", test_tmp_path("pdftotext.out"));
    if (first > 0)
        snprintf(cmd, sizeof cmd, "pdftotext -enc UTF-8 -f %d -l %d '%s' '%s'", first, last, pdf,
                 txt);
    else
        snprintf(cmd, sizeof cmd, "pdftotext -enc UTF-8 '%s' '%s'", pdf, txt);
    sh(cmd);
    return read_text(txt, NULL);
}

// The page count pdfinfo reports.
static int pdfinfo_pages(const char *pdf)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "pdfinfo '%s' 2>/dev/null | sed -n 's/^Pages: *//p'", pdf);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    int pages = -1;
    ck_assert_int_eq(fscanf(f, "%d", &pages), 1);
    pclose(f);
    return pages;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

// A real man page of this machine (groff's own when present), or NULL on a minimal system.
static const char *find_man_page(void)
{
    static char found[512];
    if (found[0]) return found;
    if (exists("/usr/share/man/man1/groff.1.gz")) {
        snprintf(found, sizeof found, "/usr/share/man/man1/groff.1.gz");
        return found;
    }
    FILE *f = popen("ls /usr/share/man/man1/*.1.gz 2>/dev/null | head -n 1", "r");
    if (!f) return NULL;
    if (!fgets(found, sizeof found, f)) found[0] = '\0';
    pclose(f);
    found[strcspn(found, "\n")] = '\0';
    return found[0] ? found : NULL;
}

// Writes a troff page of FOLDOC entries (escaped for troff) with a pdfmark setting the PDF's
// title and author; returns its path. 60 entries make several pages.
static const char *write_foldoc_troff(void)
{
    const char *path = test_tmp_path("foldoc.7");
    if (exists(path)) return path;
    DsDict d;
    ck_assert_msg(ds_dict_load("foldoc", &d) == ERR_OK, "%s", err_msg());
    size_t cap = 1 << 20, n = 0;
    char *out = malloc(cap);
    n += (size_t)snprintf(out, cap,
                          ".TH FOLDOC 7 \"2024\" \"engine tests\"\n"
                          "\\X'ps: exec [/Title (FOLDOC sample) /Author (Engine Tests) "
                          "/DOCINFO pdfmark'\n.SH NAME\nfoldoc \\- entries from FOLDOC\n");
    int taken = 0;
    for (int64_t i = 0; i < d.n && taken < 60; i += 97) {
        if (d.entries[i].alias) continue;
        char *body = ds_dict_body(&d.entries[i]);
        if (strchr(d.entries[i].headword, '"')) continue; // would end the .SH argument
        n += (size_t)snprintf(out + n, cap - n, ".SH \"%s\"\n", d.entries[i].headword);
        // Each line is protected with \& (a leading '.' or '\'' would be a request) and each
        // backslash is written as \e (troff's printable backslash).
        for (const char *p = body; *p && n + 16 < cap;) {
            out[n++] = '\\', out[n++] = '&';
            for (; *p && *p != '\n' && n + 8 < cap; p++) {
                if (*p == '\\')
                    out[n++] = '\\', out[n++] = 'e';
                else
                    out[n++] = *p;
            }
            out[n++] = '\n';
            if (*p == '\n') p++;
        }
        free(body);
        taken++;
    }
    ds_dict_free(&d);
    ck_assert_int_eq(io_write_atomic(path, out, n), ERR_OK);
    free(out);
    return path;
}

// The test PDFs, made once per test process folder (each forked test reuses them):
//   man_pdf.pdf   the man page through groff -man -Tpdf
//   man_ps.pdf    the man page through groff -man -Tps | ps2pdf
//   foldoc.pdf    the FOLDOC page through groff -man -Tps | ps2pdf, titled by pdfmark
// Without a man page on this machine the first two are made from the FOLDOC page too.
static void make_pdfs(void)
{
    ck_assert_msg(have_tool("groff") && have_tool("ps2pdf") && have_tool("pdftotext") &&
                      have_tool("pdfinfo"),
                  "groff, ghostscript and poppler-utils are needed (hint: make deps)");
    const char *man = find_man_page();
    char troff[600], src[1024], cmd[4096];
    snprintf(troff, sizeof troff, "%s", write_foldoc_troff());
    if (man) {
        snprintf(src, sizeof src, "zcat '%s'", man);
    } else {
        printf("NOTE: no man page in /usr/share/man/man1; using the FOLDOC troff page\n");
        snprintf(src, sizeof src, "cat '%s'", troff);
    }
    const char *p1 = test_tmp_path("man_pdf.pdf");
    if (!exists(p1)) {
        snprintf(cmd, sizeof cmd,
                 "%s | groff -k -man -Tpdf > '%s.tmp' 2>/dev/null && mv '%s.tmp' '%s'", src, p1, p1,
                 p1);
        sh(cmd);
    }
    const char *p2 = test_tmp_path("man_ps.pdf");
    if (!exists(p2)) {
        snprintf(cmd, sizeof cmd,
                 "%s | groff -k -man -Tps 2>/dev/null | ps2pdf - '%s.tmp' && mv '%s.tmp' '%s'", src,
                 p2, p2, p2);
        sh(cmd);
    }
    const char *p3 = test_tmp_path("foldoc.pdf");
    if (!exists(p3)) {
        snprintf(cmd, sizeof cmd,
                 "groff -k -man -Tps '%s' 2>/dev/null | ps2pdf - '%s.tmp' && mv '%s.tmp' '%s'",
                 troff, p3, p3, p3);
        sh(cmd);
    }
}

// Loads pdf and checks its text, as a whole and for a few pages, against pdftotext and its page
// count against pdfinfo.
static void check_pdf_against_poppler_utils(const char *pdf_path)
{
    char pdf[600]; // test_tmp_path's buffers rotate: keep our own copy
    snprintf(pdf, sizeof pdf, "%s", pdf_path);
    RagDoc d;
    int rc = rag_pdf_load(pdf, &d);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(d.kind, RAG_DOC_PDF);
    ck_assert_int_eq(d.n_pages, pdfinfo_pages(pdf));
    ck_assert_int_eq((int64_t)strlen(d.text), d.len); // no NUL inside
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)d.n_pages);
    ck_assert_str_eq(rag_doc_meta(&d, "page_count"), num);

    char *ref = pdftotext(pdf, 0, 0);
    char *a = squash(d.text, d.len, true), *b = squash(ref, (int64_t)strlen(ref), false);
    ck_assert_msg(strlen(a) > 1000, "%s: only %zu characters extracted", pdf, strlen(a));
    expect_same_text(a, b, pdf);
    free(a), free(b), free(ref);

    // Pages: the first, one in the middle, the last; each slice of d.text between page_start
    // values must be that page's text, and the "\f" before a page belongs to the page before.
    int64_t pages[3] = {1, (d.n_pages + 1) / 2, d.n_pages};
    for (int k = 0; k < 3; k++) {
        int64_t p = pages[k];
        int64_t from = d.page_start[p - 1], to = p < d.n_pages ? d.page_start[p] - 1 : d.len;
        if (p > 1) ck_assert_int_eq(d.text[from - 1], '\f');
        ck_assert_int_eq(rag_doc_page_at(&d, from), p);
        ck_assert_int_eq(rag_doc_page_at(&d, to > from ? to - 1 : from), p);
        if (p < d.n_pages) ck_assert_int_eq(rag_doc_page_at(&d, to), p); // the '\f'
        char *pref = pdftotext(pdf, (int)p, (int)p);
        char *pa = squash(d.text + from, to - from, true);
        char *pb = squash(pref, (int64_t)strlen(pref), false);
        char label[700];
        snprintf(label, sizeof label, "%s page %lld", pdf, (long long)p);
        expect_same_text(pa, pb, label);
        free(pa), free(pb), free(pref);
    }
    rag_doc_deinit(&d);
}

// ---------------------------------------------------------------------------
// PDF
// ---------------------------------------------------------------------------

START_TEST(test_pdf_groff_pdf_matches_pdftotext)
{
    make_pdfs();
    check_pdf_against_poppler_utils(test_tmp_path("man_pdf.pdf"));
}
END_TEST

START_TEST(test_pdf_ps2pdf_matches_pdftotext)
{
    make_pdfs();
    check_pdf_against_poppler_utils(test_tmp_path("man_ps.pdf"));
}
END_TEST

START_TEST(test_pdf_foldoc_pages_title_author)
{
    make_pdfs();
    char pdf[600];
    snprintf(pdf, sizeof pdf, "%s", test_tmp_path("foldoc.pdf"));
    check_pdf_against_poppler_utils(pdf);
    RagDoc d;
    ck_assert_int_eq(rag_pdf_load(pdf, &d), ERR_OK);
    ck_assert_int_ge(d.n_pages, 2); // a multi-page PDF
    ck_assert_str_eq(d.title, "FOLDOC sample");
    ck_assert_str_eq(rag_doc_meta(&d, "author"), "Engine Tests");
    ck_assert_str_eq(d.id, pdf);
    ck_assert_str_eq(d.source, pdf);
    // page_offsets holds page_start as text.
    const char *offs = rag_doc_meta(&d, "page_offsets");
    ck_assert_ptr_nonnull(offs);
    char *end;
    for (int64_t i = 0; i < d.n_pages; i++) {
        ck_assert_int_eq(strtoll(offs, &end, 10), d.page_start[i]);
        offs = *end == ',' ? end + 1 : end;
    }
    ck_assert_int_eq(*offs, '\0');
    ck_assert_int_eq(rag_doc_page_at(&d, -5), 1);
    ck_assert_int_eq(rag_doc_page_at(&d, d.len + 100), d.n_pages);
    rag_doc_deinit(&d);
}
END_TEST

START_TEST(test_pdf_man_page_title_falls_back_to_file_name)
{
    make_pdfs();
    // groff -Tpdf writes no /Title, so the file name is the title.
    RagDoc d;
    ck_assert_int_eq(rag_doc_load(test_tmp_path("man_pdf.pdf"), RAG_DOC_PDF, &d), ERR_OK);
    ck_assert_str_eq(d.title, "man_pdf.pdf");
    ck_assert_ptr_null(rag_doc_meta(&d, "pdf_title"));
    ck_assert_ptr_nonnull(strstr(rag_doc_meta(&d, "creator"), "groff"));
    rag_doc_deinit(&d);
}
END_TEST

// ---------------------------------------------------------------------------
// Failures in a batch
// ---------------------------------------------------------------------------

// Fills buf with n pseudo-random bytes (xorshift; no "%PDF-" can appear by chance in 4 KiB at
// 2^-40 per position).
static void random_bytes(unsigned char *buf, size_t n, uint64_t seed)
{
    uint64_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (unsigned char)(x >> 24);
    }
}

// The error recorded for path, or NULL.
static const RagDocError *error_for(const RagDocs *docs, const char *path)
{
    for (int64_t i = 0; i < docs->n_errors; i++)
        if (!strcmp(docs->errors[i].path, path)) return &docs->errors[i];
    return NULL;
}

static void expect_file_error(const RagDocs *docs, const char *path, int code, const char *what)
{
    const RagDocError *e = error_for(docs, path);
    ck_assert_msg(e != NULL, "no error recorded for %s", path);
    ck_assert_msg(e->code == code, "%s: code %d, expected %d: %s", path, e->code, code, e->msg);
    ck_assert_msg(strstr(e->msg, path) != NULL, "message does not name the file: %s", e->msg);
    ck_assert_msg(strstr(e->msg, "hint:") != NULL, "message has no hint: %s", e->msg);
    ck_assert_msg(strstr(e->msg, what) != NULL, "message lacks '%s': %s", what, e->msg);
    ck_assert_ptr_null(rag_docs_find(docs, path));
}

START_TEST(test_batch_bad_files_recorded_rest_ingested)
{
    make_pdfs();
    char dir[600], foldoc_pdf[600];
    snprintf(dir, sizeof dir, "%s", test_tmp_path("batch"));
    snprintf(foldoc_pdf, sizeof foldoc_pdf, "%s", test_tmp_path("foldoc.pdf"));
    ck_assert_int_eq(io_mkdir_p(dir), ERR_OK);
    char path[1024], cmd[4096];
    int bad = 0;

    // Good files: the two PDFs, a text file, a Markdown file in a subfolder, a skipped .c file
    // and a hidden file.
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/sub' && cp '%s' '%s/good.pdf' && cp '%s' '%s/sub/'",
             dir, test_tmp_path("man_ps.pdf"), dir, foldoc_pdf, dir);
    sh(cmd);
    write_text("batch/notes.txt", "plain notes\n");
    write_text("batch/sub/readme.md", "intro\n# Sub Title\nbody\n");
    write_text("batch/code.c", "int main(void) { return 0; }\n");
    write_text("batch/.hidden.txt", "not ingested\n");

    // Truncated: the first half of a real PDF.
    size_t n;
    char *whole = read_text(test_tmp_path("man_ps.pdf"), &n);
    test_write_file("batch/truncated.pdf", whole, n / 2);
    free(whole);
    bad++;
    // Random bytes, and random bytes after a PDF header.
    unsigned char rnd[4096];
    random_bytes(rnd, sizeof rnd, 0x9E3779B97F4A7C15ull);
    test_write_file("batch/random.pdf", rnd, sizeof rnd);
    memcpy(rnd, "%PDF-1.4\n", 9);
    test_write_file("batch/header_then_noise.pdf", rnd, sizeof rnd);
    bad += 2;
    // A text file named .pdf.
    write_text("batch/text_named.pdf", "This is not a PDF, just text.\n");
    bad++;
    // Encrypted with a user password, by ghostscript (and by qpdf if it is here).
    snprintf(cmd, sizeof cmd,
             "gs -q -dNOPAUSE -dBATCH -sDEVICE=pdfwrite -sOwnerPassword=owner "
             "-sUserPassword=secret -sOutputFile='%s/encrypted_gs.pdf' '%s' >/dev/null 2>&1",
             dir, foldoc_pdf);
    sh(cmd);
    bad++;
    bool qpdf = have_tool("qpdf");
    if (qpdf) {
        snprintf(cmd, sizeof cmd, "qpdf --encrypt secret owner 256 -- '%s' '%s/encrypted_qpdf.pdf'",
                 foldoc_pdf, dir);
        sh(cmd);
        bad++;
    } else {
        printf("NOTE: qpdf not installed; the encrypted PDF is made by ghostscript only\n");
    }
    // A FIFO named .txt: opening it for reading must not wait for a writer.
    snprintf(cmd, sizeof cmd, "mkfifo '%s/pipe.txt'", dir);
    sh(cmd);
    bad++;
    // Invalid UTF-8 (Latin-1 "café").
    write_text("batch/latin1.txt", "un caf\xe9 au lait\n");
    bad++;
    // Unreadable (only meaningful when not root: root reads any file).
    bool root = geteuid() == 0;
    char locked[600];
    snprintf(locked, sizeof locked, "%s", write_text("batch/locked.md", "# Secret\n"));
    if (root) {
        printf("SKIPPED: unreadable-file check: running as root, which can read a chmod 000 "
               "file\n");
        remove(locked);
    } else {
        ck_assert_int_eq(chmod(locked, 0), 0);
        bad++;
    }

    RagDocs *docs = rag_docs_create();
    int failures = rag_docs_add_path(docs, dir);
    for (int64_t i = 0; i < docs->n_errors; i++) printf("  recorded: %s\n", docs->errors[i].msg);
    ck_assert_int_eq(failures, bad);
    ck_assert_int_eq(docs->n_errors, bad);

    // Every good file is there, and nothing else.
    ck_assert_int_eq(docs->n, 4);
    snprintf(path, sizeof path, "%s/good.pdf", dir);
    const RagDoc *g = rag_docs_find(docs, path);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->kind, RAG_DOC_PDF);
    snprintf(path, sizeof path, "%s/sub/foldoc.pdf", dir);
    ck_assert_ptr_nonnull(rag_docs_find(docs, path));
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    g = rag_docs_find(docs, path);
    ck_assert_ptr_nonnull(g);
    ck_assert_str_eq(g->text, "plain notes\n");
    ck_assert_str_eq(g->title, "notes.txt");
    snprintf(path, sizeof path, "%s/sub/readme.md", dir);
    g = rag_docs_find(docs, path);
    ck_assert_ptr_nonnull(g);
    ck_assert_str_eq(g->title, "Sub Title");
    ck_assert_int_eq(g->kind, RAG_DOC_MARKDOWN);
    ck_assert_int_eq(docs->n_skipped, 2); // code.c and .hidden.txt

    snprintf(path, sizeof path, "%s/truncated.pdf", dir);
    expect_file_error(docs, path, ERR_FORMAT, "corrupt");
    snprintf(path, sizeof path, "%s/random.pdf", dir);
    expect_file_error(docs, path, ERR_FORMAT, "not a PDF");
    snprintf(path, sizeof path, "%s/header_then_noise.pdf", dir);
    expect_file_error(docs, path, ERR_FORMAT, "corrupt");
    snprintf(path, sizeof path, "%s/text_named.pdf", dir);
    expect_file_error(docs, path, ERR_FORMAT, "not a PDF");
    snprintf(path, sizeof path, "%s/encrypted_gs.pdf", dir);
    expect_file_error(docs, path, ERR_FORMAT, "encrypted");
    if (qpdf) {
        snprintf(path, sizeof path, "%s/encrypted_qpdf.pdf", dir);
        expect_file_error(docs, path, ERR_FORMAT, "encrypted");
    }
    snprintf(path, sizeof path, "%s/pipe.txt", dir);
    expect_file_error(docs, path, ERR_IO, "not a regular file");
    snprintf(path, sizeof path, "%s/latin1.txt", dir);
    expect_file_error(docs, path, ERR_FORMAT, "byte 6"); // "un caf" is 6 bytes
    expect_file_error(docs, path, ERR_FORMAT, "iconv");
    if (!root) expect_file_error(docs, locked, ERR_IO, "Permission denied");

    // The same folder again: every file is now a duplicate id or the same failure.
    int again = rag_docs_add_path(docs, dir);
    ck_assert_int_eq(again, bad + 4);
    ck_assert_int_eq(docs->n, 4);
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    bool saw_dup = false;
    for (int64_t i = bad; i < docs->n_errors; i++)
        if (!strcmp(docs->errors[i].path, path)) {
            saw_dup = true;
            ck_assert_int_eq(docs->errors[i].code, ERR_INVALID);
            ck_assert_ptr_nonnull(strstr(docs->errors[i].msg, "already in the batch"));
        }
    ck_assert(saw_dup);
    if (!root) chmod(locked, 0600);
    rag_docs_free(docs);
}
END_TEST

START_TEST(test_batch_missing_path_and_unknown_extension)
{
    RagDocs *docs = rag_docs_create();
    const char *missing = test_tmp_path("no/such/file.txt");
    ck_assert_int_eq(rag_docs_add_path(docs, missing), 1);
    ck_assert_int_eq(docs->n_errors, 1);
    ck_assert_str_eq(docs->errors[0].path, missing);
    ck_assert_ptr_nonnull(strstr(docs->errors[0].msg, "hint:"));
    const char *odd = write_text("data.csv", "a,b\n");
    ck_assert_int_eq(rag_docs_add_path(docs, odd), 1);
    ck_assert_int_eq(docs->errors[1].code, ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(docs->errors[1].msg, ".txt"));
    // ... but a kind given explicitly loads it whatever the extension.
    ck_assert_int_eq(rag_docs_add_file(docs, odd, RAG_DOC_TEXT), ERR_OK);
    ck_assert_int_eq(docs->n, 1);
    ck_assert_str_eq(docs->docs[0].text, "a,b\n");
    // An empty folder is no failure.
    const char *empty = test_tmp_path("empty_dir");
    ck_assert_int_eq(io_mkdir_p(empty), ERR_OK);
    ck_assert_int_eq(rag_docs_add_path(docs, empty), 0);
    ck_assert_int_eq(docs->n_errors, 2);
    rag_docs_free(docs);
    rag_docs_free(NULL);
}
END_TEST

// ---------------------------------------------------------------------------
// Text, Markdown, normalisation
// ---------------------------------------------------------------------------

START_TEST(test_text_crlf_and_nul)
{
    static const char raw[] = "line one\r\nline two\r\n\0tab\there\rlone cr\r\r\n";
    const char *p = test_write_file("crlf.txt", raw, sizeof raw - 1);
    RagDoc d;
    ck_assert_int_eq(rag_doc_load(p, RAG_DOC_TEXT, &d), ERR_OK);
    const char *want = "line one\nline two\ntab\there\rlone cr\r\n";
    ck_assert_str_eq(d.text, want);
    ck_assert_int_eq(d.len, (int64_t)strlen(want));
    ck_assert_int_eq(d.n_pages, 0);
    ck_assert_int_eq(rag_doc_page_at(&d, 3), 0);
    rag_doc_deinit(&d);
    rag_doc_deinit(&d); // zeroed: a no-op
    rag_doc_deinit(NULL);

    // In place, on a buffer with the room for the NUL.
    char buf[] = "a\r\n\r\nb\0c\r";
    int64_t n = rag_text_normalize(buf, (int64_t)sizeof buf - 1);
    ck_assert_int_eq(n, 6);
    ck_assert_mem_eq(buf, "a\n\nbc\r", 7);
}
END_TEST

START_TEST(test_markdown_title)
{
    const char *md = "Some front text.\n"
                     "```sh\n"
                     "# a shell comment, not a heading\n"
                     "```\n"
                     "#hashtag is not a heading either\n"
                     "## A second-level heading\n"
                     "   #   The Real Title  ##  \r\n"
                     "# Another\n";
    const char *p = write_text("guide.md", md);
    RagDoc d;
    ck_assert_int_eq(rag_doc_load(p, RAG_DOC_MARKDOWN, &d), ERR_OK);
    ck_assert_str_eq(d.title, "The Real Title");
    ck_assert_int_eq(d.kind, RAG_DOC_MARKDOWN);
    // Verbatim apart from the CRLF: the text at an offset is the file's bytes.
    ck_assert_int_eq(d.len, (int64_t)strlen(md) - 1);
    ck_assert_ptr_nonnull(strstr(d.text, "```sh\n# a shell comment"));
    rag_doc_deinit(&d);

    p = write_text("C#.md", "# C#\n");
    ck_assert_int_eq(rag_doc_load(p, RAG_DOC_MARKDOWN, &d), ERR_OK);
    ck_assert_str_eq(d.title, "C#"); // a closing '#' run needs a space before it
    rag_doc_deinit(&d);

    p = write_text("untitled.md", "no heading here\n~~~\n# in a tilde fence\n~~~\n");
    ck_assert_int_eq(rag_doc_load(p, RAG_DOC_MARKDOWN, &d), ERR_OK);
    ck_assert_str_eq(d.title, "untitled.md");
    rag_doc_deinit(&d);
}
END_TEST

START_TEST(test_utf8_validation)
{
    struct {
        const char *s;
        int64_t bad;
    } cases[] = {
        {"plain ascii", -1},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", -1}, // é € U+1F600
        {"ab\xc0\xaf", 2},                                 // overlong '/'
        {"\xe0\x80\xaf", 0},                               // overlong, 3 bytes
        {"x\xed\xa0\x80", 1},                              // a UTF-16 surrogate
        {"\xf4\x90\x80\x80", 0},                           // above U+10FFFF
        {"ok\xe2\x82", 2},                                 // cut short
        {"\x80", 0},                                       // a lone continuation byte
        {"\xff\xfeh\0i\0", 0},                             // UTF-16LE with its BOM
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(rag_utf8_invalid_at(cases[i].s, (int64_t)strlen(cases[i].s)) == cases[i].bad,
                      "case %zu", i);

    // A UTF-16 file gets its own hint.
    const char *p = test_write_file("utf16.txt", "\xff\xfeh\0i\0", 6);
    RagDoc d;
    test_expect_err(rag_doc_load(p, RAG_DOC_TEXT, &d), ERR_FORMAT,
                    (const char *const[]){p, "byte 0", "UTF-16", "hint:", NULL});
    ck_assert_ptr_null(d.text);
}
END_TEST

START_TEST(test_add_text_and_ids)
{
    RagDocs *docs = rag_docs_create();
    ck_assert_int_eq(rag_docs_add_text(docs, "a", NULL, NULL, "x\r\ny", 4, RAG_DOC_TEXT), 0);
    ck_assert_str_eq(docs->docs[0].text, "x\ny");
    ck_assert_str_eq(docs->docs[0].title, "a");
    ck_assert_str_eq(docs->docs[0].source, "");
    test_expect_err((int)rag_docs_add_text(docs, "a", "s", "t", "z", 1, RAG_DOC_TEXT), ERR_INVALID,
                    (const char *const[]){"a", "already", NULL});
    test_expect_err((int)rag_docs_add_text(docs, "b", "s", "t", "\xff", 1, RAG_DOC_TEXT),
                    ERR_FORMAT, (const char *const[]){"b", "UTF-8", NULL});
    ck_assert_int_eq(docs->n_errors, 0); // in-memory failures are returned, not recorded
    // Many ids: the hash table grows and every id still finds its own document.
    char id[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "doc-%d", i);
        ck_assert_int_eq(
            rag_docs_add_text(docs, id, "mem", id, id, (int64_t)strlen(id), RAG_DOC_MARKDOWN),
            i + 1);
    }
    for (int64_t i = 0; i < docs->n; i++)
        ck_assert_ptr_eq(rag_docs_find(docs, docs->docs[i].id), &docs->docs[i]);
    ck_assert_ptr_null(rag_docs_find(docs, "doc-3000"));
    RagDoc *d = &docs->docs[5];
    rag_doc_meta_set(d, "k", "1");
    rag_doc_meta_set(d, "k", "2");
    rag_doc_meta_set(d, "j", "3");
    ck_assert_int_eq(d->n_meta, 2);
    ck_assert_str_eq(rag_doc_meta(d, "k"), "2");
    ck_assert_ptr_null(rag_doc_meta(d, "nope"));
    ck_assert_str_eq(rag_doc_kind_name(RAG_DOC_PDF), "pdf");
    ck_assert_int_eq(rag_doc_kind_for_path("a/B.PDF"), RAG_DOC_PDF);
    ck_assert_int_eq(rag_doc_kind_for_path("x.markdown"), RAG_DOC_MARKDOWN);
    ck_assert_int_eq(rag_doc_kind_for_path(".txt"), -1);
    ck_assert_int_eq(rag_doc_kind_for_path("dir.txt/file"), -1);
    rag_docs_free(docs);
}
END_TEST

// ---------------------------------------------------------------------------
// dictd
// ---------------------------------------------------------------------------

START_TEST(test_dict_foldoc)
{
    // The reference: FOLDOC loaded directly, its texts counted once each.
    DsDict d;
    ck_assert_msg(ds_dict_load("foldoc", &d) == ERR_OK, "%s", err_msg());
    int64_t texts = 0;
    for (int64_t i = 0; i < d.n; i++) texts += !d.entries[i].alias;
    const DsEntry *tcp = ds_dict_find(&d, "tcp");
    ck_assert_ptr_nonnull(tcp);

    RagDocs *docs = rag_docs_create();
    int64_t added = rag_docs_add_dict(docs, "foldoc", 0);
    ck_assert_msg(added > 0, "%s", err_msg());
    ck_assert_int_eq(added, texts);
    ck_assert_int_eq(docs->n, texts);
    ck_assert_int_gt(docs->n, 5000); // thousands of entries
    ck_assert_int_eq(docs->n_errors, 0);

    const RagDoc *doc = rag_docs_find(docs, "foldoc:TCP");
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(doc->title, "TCP");
    ck_assert_str_eq(doc->source, "dict:foldoc");
    ck_assert_int_eq(doc->kind, RAG_DOC_DICT);
    ck_assert_str_eq(rag_doc_meta(doc, "headword"), "tcp");
    ck_assert_str_eq(rag_doc_meta(doc, "dictionary"), "foldoc");
    // Its text is the entry's body (from ds_dict_body, independently), after the title.
    char *body = ds_dict_body(tcp);
    ck_assert_ptr_nonnull(strstr(doc->text, body));
    ck_assert_int_eq(strncmp(doc->text, "TCP\n\n", 5), 0);
    free(body);
    // Aliases of the same text are listed, not separate documents.
    for (int64_t i = 0; i < d.n; i++) {
        const DsEntry *e = &d.entries[i];
        if (e->alias && e->offset == tcp->offset && e->length == tcp->length)
            ck_assert_msg(strstr(rag_doc_meta(doc, "aliases"), e->headword) != NULL,
                          "alias %s missing from '%s'", e->headword, rag_doc_meta(doc, "aliases"));
    }
    // Every id unique and found, every text valid and NUL-free.
    for (int64_t i = 0; i < docs->n; i++) {
        ck_assert_ptr_eq(rag_docs_find(docs, docs->docs[i].id), &docs->docs[i]);
        ck_assert_int_eq((int64_t)strlen(docs->docs[i].text), docs->docs[i].len);
    }
    rag_docs_free(docs);

    // A cap on the number of documents.
    docs = rag_docs_create();
    ck_assert_int_eq(rag_docs_add_dict(docs, "foldoc", 100), 100);
    ck_assert_int_eq(docs->n, 100);
    rag_docs_free(docs);
    ds_dict_free(&d);
}
END_TEST

START_TEST(test_dict_missing_is_recorded)
{
    RagDocs *docs = rag_docs_create();
    int64_t rc = rag_docs_add_dict(docs, "no-such-dictionary", 0);
    ck_assert_int_lt(rc, 0);
    ck_assert_int_eq(docs->n_errors, 1);
    ck_assert_str_eq(docs->errors[0].path, "dict:no-such-dictionary");
    ck_assert_ptr_nonnull(strstr(docs->errors[0].msg, "no-such-dictionary"));
    rag_docs_free(docs);
}
END_TEST

static Suite *ingest_suite(void)
{
    Suite *s = suite_create("ingest");
    TCase *tc = tcase_create("ingest");
    tcase_set_timeout(tc, 300); // groff + ghostscript + poppler, under ASan too
    tcase_add_test(tc, test_pdf_groff_pdf_matches_pdftotext);
    tcase_add_test(tc, test_pdf_ps2pdf_matches_pdftotext);
    tcase_add_test(tc, test_pdf_foldoc_pages_title_author);
    tcase_add_test(tc, test_pdf_man_page_title_falls_back_to_file_name);
    tcase_add_test(tc, test_batch_bad_files_recorded_rest_ingested);
    tcase_add_test(tc, test_batch_missing_path_and_unknown_extension);
    tcase_add_test(tc, test_text_crlf_and_nul);
    tcase_add_test(tc, test_markdown_title);
    tcase_add_test(tc, test_utf8_validation);
    tcase_add_test(tc, test_add_text_and_ids);
    tcase_add_test(tc, test_dict_foldoc);
    tcase_add_test(tc, test_dict_missing_is_recorded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_main(ingest_suite());
}
