/*
 * doc.h: documents for retrieval, the first stage of the week-5 pipeline.
 *
 * Everything the pipeline retrieves from starts as a RagDoc: an id, where it came from, a title
 * and its text as one UTF-8 string. Four loaders make them:
 *
 *   RAG_DOC_TEXT      a .txt file; title = the file name.
 *   RAG_DOC_MARKDOWN  a .md/.markdown file; title = its first "# " heading (outside ``` / ~~~
 *                     code fences), else the file name. The text is kept verbatim, markup and all,
 *                     so chunk offsets into it point at the bytes of the file (less any CRs
 *                     and NULs, see below).
 *   RAG_DOC_DICT      one document per entry of a dictd dictionary (FOLDOC, Jargon, Devil's; see
 *                     datasets/dictd.h). Aliases (several headwords, one text) become one
 *                     document whose "aliases" metadata lists the other headwords.
 *   RAG_DOC_PDF       a PDF through poppler-glib (rag/pdf.c): the pages' text joined with "\f",
 *                     page_start[] giving each page's first byte, so a chunk can cite its page.
 *
 * Normalisation, for every loader: "\r\n" becomes "\n" and NUL bytes are dropped; every other
 * byte is kept as it is (a lone "\r", tabs, a byte-order mark). Text must be valid UTF-8: a file
 * that is not is an error naming the file, the byte offset and line, with an iconv hint. (We
 * chose an error over replacing bytes with U+FFFD: a Latin-1 file silently turned into
 * replacement characters retrieves badly and nobody notices; the fix is one iconv call.)
 *
 * A batch (RagDocs) collects documents from many files. A file that fails (missing, unreadable,
 * not UTF-8, a corrupt or encrypted PDF, a duplicate id) does not stop the batch: its path and
 * message (what, where, "hint: ...") are recorded in docs->errors and the other files go on.
 *
 * Ownership: a RagDocs owns every document, string and error in it; rag_docs_free releases all
 * (NULL is a no-op). The fields are for reading; change them only through these functions.
 * docs->docs may move when a document is added, so a RagDoc pointer taken from a batch is
 * borrowed until the next rag_docs_add_* call or rag_docs_free. A RagDoc filled by
 * rag_doc_load is owned by the caller and released with rag_doc_deinit.
 *
 * Usage:
 *     RagDocs *docs = rag_docs_create();
 *     int bad = rag_docs_add_path(docs, "notes/");          // .txt .md .pdf, recursively
 *     for (int64_t i = 0; i < docs->n_errors; i++)           // bad == docs->n_errors here
 *         fprintf(stderr, "skipped %s\n", docs->errors[i].msg);
 *     if (rag_docs_add_dict(docs, "foldoc", 1000) < 0) fprintf(stderr, "%s\n", err_msg());
 *     for (int64_t i = 0; i < docs->n; i++) {
 *         const RagDoc *d = &docs->docs[i];
 *         printf("%s  %-40s %lld bytes\n", d->id, d->title, (long long)d->len);
 *     }
 *     const RagDoc *pdf = rag_docs_find(docs, "notes/paper.pdf");
 *     if (pdf) printf("byte 5000 is on page %lld\n", (long long)rag_doc_page_at(pdf, 5000));
 *     rag_docs_free(docs);
 */
#ifndef RAG_DOC_H
#define RAG_DOC_H

#include <stdint.h>

typedef enum {
    RAG_DOC_TEXT = 0,
    RAG_DOC_MARKDOWN,
    RAG_DOC_DICT,
    RAG_DOC_PDF,
    RAG_DOC_KIND_COUNT
} RagDocKind;

typedef struct {
    char *key;   // e.g. "page_count", "author", "headword" (owned)
    char *value; // (owned)
} RagMeta;

// Metadata keys the loaders set (values are strings):
//   PDF:  "page_count" (decimal), "page_offsets" (page_start[] as "0,1834,3902"), and when the
//         document info has them "author", "creator", "producer", "pdf_title".
//   DICT: "dictionary" (the name given, "foldoc"), "headword" (as in the .index: "tcp"),
//         "aliases" (other headwords with the same text, "; "-separated) when there are any.
typedef struct {
    char *id;     // unique in its batch: the path for files, "foldoc:TCP" for entries
    char *source; // the file's path, or "dict:foldoc"
    char *title;  // never NULL (falls back to the file name / headword)
    char *text;   // (len) bytes of UTF-8 plus a terminating NUL; normalised (see above)
    int64_t len;  // bytes in text, without the NUL
    RagDocKind kind;
    int64_t n_meta;
    RagMeta *meta;       // (n_meta) key/value pairs, keys unique
    int64_t n_pages;     // PDF: number of pages; 0 for other kinds
    int64_t *page_start; // (n_pages) byte offset in text of each page's first byte; the "\f"
                         // separating page p-1 from page p sits at page_start[p] - 1
} RagDoc;

typedef struct {
    char *path; // the file (or "dict:NAME") that failed (owned)
    int code;   // its Err code (ERR_IO, ERR_FORMAT, ...)
    char *msg;  // what failed, where, and a "hint: ..." (owned)
} RagDocError;

typedef struct {
    int64_t n;
    RagDoc *docs; // (n) in the order they were added
    int64_t n_errors;
    RagDocError *errors;    // (n_errors) per-file failures, in the order they happened
    int64_t n_skipped;      // files a directory walk passed over (other extensions, dot files)
    int64_t cap_, err_cap_; // internal: allocated sizes
    int64_t *slots_;        // internal: id hash table, (n_slots_) doc index + 1, 0 = empty
    int64_t n_slots_;
} RagDocs;

// ---------------------------------------------------------------------------
// The batch
// ---------------------------------------------------------------------------

// A new, empty batch owned by the caller; free with rag_docs_free.
RagDocs *rag_docs_create(void);

// Frees the batch, its documents and errors. rag_docs_free(NULL) does nothing.
void rag_docs_free(RagDocs *docs);

// Adds a file or, for a directory, every .txt/.md/.markdown/.pdf file under it (extensions in
// any case; names starting with "." are skipped; subfolders in name order, symlinked folders
// not followed). The loader is picked by extension. Each file that fails is recorded in
// docs->errors and the walk goes on. A file given directly whose extension is unknown, or a
// path that does not exist, is one failure. Returns the number of failures of this call (>= 0);
// err_msg() then holds the last one's message.
int rag_docs_add_path(RagDocs *docs, const char *path);

// Loads one file with the given loader (RAG_DOC_TEXT, RAG_DOC_MARKDOWN or RAG_DOC_PDF) whatever
// its extension and adds it with id = source = path. On failure the error is recorded in
// docs->errors and returned: ERR_IO (missing, unreadable, not a regular file), ERR_FORMAT
// (invalid UTF-8, not a PDF, corrupt or encrypted PDF, PDF without text), ERR_RANGE (over
// 1 GiB), ERR_INVALID (the id is already in the batch). ERR_OK on success.
int rag_docs_add_file(RagDocs *docs, const char *path, RagDocKind kind);

// Adds the entries of the dictd dictionary `name` (ds_dict_load: "foldoc", "jargon", "devil"),
// one document per text in index order, at most max_entries documents (<= 0: all). Title: the
// line of the entry's headword block equal to the headword ignoring case ("TCP" for "tcp"),
// else the headword; id "NAME:TITLE" (a "#2", "#3" suffix if taken); text = ds_dict_body of
// the entry, preceded by the title and a blank line unless it already starts with the title.
// Returns the number of documents added, or a negative Err from ds_dict_load (ERR_DEPENDENCY
// naming the package when it is not installed), also recorded in docs->errors as "dict:NAME".
// An entry with invalid UTF-8 is recorded as "dict:NAME:HEADWORD" and skipped.
int64_t rag_docs_add_dict(RagDocs *docs, const char *name, int64_t max_entries);

// Adds an in-memory document: copies `len` bytes of `text` (normalised), id, source (NULL: "")
// and title (NULL: the id). Returns the new document's index (>= 0), or ERR_INVALID for an id
// already in the batch, ERR_FORMAT for invalid UTF-8 (err_msg names the id and byte offset).
// Failures here are returned only, not recorded in docs->errors (the caller has the text).
int64_t rag_docs_add_text(RagDocs *docs, const char *id, const char *source, const char *title,
                          const char *text, int64_t len, RagDocKind kind);

// The document with this id, or NULL (hash lookup). Borrowed, see the ownership note above.
const RagDoc *rag_docs_find(const RagDocs *docs, const char *id);

// ---------------------------------------------------------------------------
// One document
// ---------------------------------------------------------------------------

// Loads one file into *out (caller-owned; release with rag_doc_deinit) with the loader of
// `kind` (TEXT, MARKDOWN or PDF; DICT is a bug), id = source = path. Errors as
// rag_docs_add_file, minus the duplicate id; on failure *out is zeroed.
int rag_doc_load(const char *path, RagDocKind kind, RagDoc *out);

// The PDF loader behind rag_doc_load (rag/pdf.c), same contract. Title: the document info's
// title, else the file name.
int rag_pdf_load(const char *path, RagDoc *out);

// Frees what d owns and zeroes it. NULL and zeroed docs are no-ops.
void rag_doc_deinit(RagDoc *d);

// The value of `key` in d's metadata (borrowed from d), or NULL.
const char *rag_doc_meta(const RagDoc *d, const char *key);

// Sets key = value (both copied), replacing an existing value of that key.
void rag_doc_meta_set(RagDoc *d, const char *key, const char *value);

// The 1-based page holding byte `offset` of d->text (a "\f" counts with the page it ends), or
// 0 when d has no pages (not a PDF). offset is clamped to [0, len].
int64_t rag_doc_page_at(const RagDoc *d, int64_t offset);

// "text", "markdown", "dict", "pdf".
const char *rag_doc_kind_name(RagDocKind kind);

// The loader for a path by its extension (.txt; .md, .markdown; .pdf; any case), or -1.
int rag_doc_kind_for_path(const char *path);

// ---------------------------------------------------------------------------
// Text helpers (used by the loaders; public so other stages can share the rules)
// ---------------------------------------------------------------------------

// Normalises text in place: "\r\n" -> "\n", NUL bytes dropped, all else kept. Returns the new
// length and writes a NUL at text[new length] (text must have room for len + 1 bytes).
int64_t rag_text_normalize(char *text, int64_t len);

// The offset of the first byte that is not part of a valid UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF are invalid), or -1 when all len bytes are valid.
int64_t rag_utf8_invalid_at(const char *text, int64_t len);

#endif
