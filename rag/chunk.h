/*
 * chunk.h: cutting a document's text into chunks for retrieval (prefix rag_chunk_).
 *
 * A chunk is a byte range [start, end) of its document's text: no text is copied, so a chunk
 * is always an exact substring of its document and can be shown, embedded or stored by offset.
 * Five strategies, one entry point (rag_chunk), dispatched by a switch on RagChunkOpts.kind:
 *
 *   RAG_CHUNK_CHARS      fixed windows of `size` characters, each starting size - overlap
 *                        characters after the previous one.
 *   RAG_CHUNK_TOKENS     the same over the BPE tokens of the whole document (opts.bpe): the
 *                        document is encoded once and windows are cut at token boundaries.
 *   RAG_CHUNK_RECURSIVE  split on "\n\n", then "\n", then ". ", then " ", then between
 *                        characters, each level only inside pieces still longer than `size`;
 *                        then merge consecutive pieces greedily up to `size` characters.
 *   RAG_CHUNK_SENTENCES  sentences (rag_chunk_sentence_next) packed whole, greedily, up to
 *                        `size` characters; a sentence longer than `size` is cut recursively.
 *   RAG_CHUNK_MARKDOWN   one section per ATX heading (# .. ######, outside ``` / ~~~ fences),
 *                        a section longer than `size` cut as RAG_CHUNK_RECURSIVE; every chunk
 *                        records its section's heading, whose parents give the heading path.
 *
 * A "character" is a UTF-8 code point; a byte that does not belong to a valid UTF-8 sequence
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) counts as one
 * character, so every byte string can be chunked. "Whitespace" is ASCII: space \t \n \v \f \r.
 *
 * Invariants (tests/rag/test_chunk.c checks each on random UTF-8 text and on FOLDOC/Jargon):
 *   All kinds:
 *     I1  0 <= start < end <= len for every chunk; starts and ends are both strictly
 *         increasing, so no chunk contains another.
 *     I2  deterministic: the same text and options give the same chunks.
 *     I3  no chunk starts or ends inside a valid UTF-8 sequence (except RAG_CHUNK_TOKENS, see
 *         below), and n_chars is its character count.
 *   Fixed (CHARS, TOKENS), with N units (characters / tokens) in the text and step = size -
 *   overlap:
 *     F1  chunk k covers units [k*step, min(k*step + size, N)): every chunk has exactly `size`
 *         units except the last, which has 1..size; the count is 0 for an empty text, else
 *         1 + ceil(max(0, N - size) / step).
 *     F2  consecutive chunks share exactly `overlap` units (the last `overlap` units of one are
 *         the first `overlap` of the next).
 *     F3  the chunks cover the whole text: the first starts at 0, the last ends at len, and
 *         chunk[0] followed by each later chunk minus its first `overlap` units is the text.
 *     T1  (TOKENS) boundaries are the document's token boundaries: the bytes of chunk k are
 *         exactly the decoded ids[k*step .. k*step + n_tokens). Byte-level BPE may split a
 *         rare character into byte tokens, so a TOKENS chunk can start or end inside a
 *         multi-byte character (I3 does not hold for it; n_chars then counts the stray bytes
 *         as characters).
 *   Structural (RECURSIVE, SENTENCES, MARKDOWN):
 *     S1  n_chars <= size for every chunk: there is no unsplittable unit, since the last
 *         resort cuts between characters and one character is <= size.
 *     S2  chunks are trimmed of leading and trailing whitespace, and chunks that are only
 *         whitespace are dropped: every byte outside all chunks is whitespace (nothing else
 *         is ever dropped), and no chunk begins or ends with whitespace.
 *     S3  consecutive chunks share at most `overlap` characters (0 when overlap is 0), and
 *         what they share is whole pieces (whole sentences for SENTENCES) of the split: the
 *         next chunk starts with the longest run of the previous chunk's last pieces that
 *         fits in `overlap` characters and still leaves room for one new piece.
 *     S4  (SENTENCES) without overlap and when every sentence fits in `size`, every chunk
 *         boundary is a sentence boundary (a chunk never ends mid-sentence).
 *     M1  (MARKDOWN) a chunk never crosses a section boundary (it lies inside
 *         [headings[h].line, start of the next heading line)), chunks of different sections
 *         never overlap, and chunk.heading is the last heading line at or before its start.
 *
 * Sizes are in characters for every kind except TOKENS (tokens). When opts.bpe is set for a
 * structural kind, each chunk's n_tokens is also filled (the chunk encoded on its own), for
 * comparisons; sizes are still enforced in characters.
 *
 * Ownership: rag_chunk fills a caller-owned RagChunks whose arrays it owns; free them with
 * rag_chunks_free (safe on a zeroed or already freed RagChunks). The text and the tokenizer
 * are borrowed for the duration of the call only (the TfBpe's cache is written, so one TfBpe
 * must not be shared by two threads at once). Heading titles are offsets into the text.
 *
 * Errors: ERR_INVALID (err_msg() names the option and gives a hint) for size <= 0, overlap < 0,
 * overlap >= size, an unknown kind, or TOKENS without a tokenizer. NULL pointers are bugs.
 *
 * Usage:
 *     RagChunkOpts o = { .kind = RAG_CHUNK_MARKDOWN, .size = 800, .overlap = 100 };
 *     RagChunks cs;
 *     if (rag_chunk(text, len, &o, &cs) != ERR_OK) die(err_msg());
 *     for (int64_t i = 0; i < cs.n; i++) {
 *         char path[256];
 *         rag_chunk_heading_path(&cs, cs.chunks[i].heading, text, path, sizeof path);
 *         printf("[%s] %.*s\n", path, (int)(cs.chunks[i].end - cs.chunks[i].start),
 *                text + cs.chunks[i].start);
 *     }
 *     RagChunkStats st = rag_chunk_stats(&cs, len);   // count, mean/max size, coverage
 *     rag_chunks_free(&cs);
 */
#ifndef RAG_CHUNK_H
#define RAG_CHUNK_H

#include "transformer/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    RAG_CHUNK_CHARS = 0,
    RAG_CHUNK_TOKENS,
    RAG_CHUNK_RECURSIVE,
    RAG_CHUNK_SENTENCES,
    RAG_CHUNK_MARKDOWN,
    RAG_CHUNK_KIND_COUNT
} RagChunkKind;

typedef struct {
    RagChunkKind kind;
    int64_t size;    // max chunk size: characters, or tokens for RAG_CHUNK_TOKENS; > 0
    int64_t overlap; // 0 <= overlap < size, same unit: exact for CHARS/TOKENS, a maximum else
    TfBpe *bpe;      // borrowed; required for TOKENS, optional for the others (fills n_tokens)
} RagChunkOpts;

typedef struct {
    int64_t start, end; // bytes [start, end) of the document's text
    int64_t n_chars;    // characters in [start, end)
    int64_t n_tokens;   // TOKENS: the document's tokens in the window; other kinds: tokens of
                        // the chunk encoded alone when opts.bpe is set; -1 without a tokenizer
    int32_t heading;    // MARKDOWN: index into RagChunks.headings of the chunk's section
                        // heading, -1 before the first heading; -1 for every other kind
} RagChunk;

typedef struct {
    int64_t line;       // byte offset where the heading line starts (its section starts here)
    int64_t start, end; // the title's bytes, without the #s, blanks and a closing # run
    int32_t level;      // 1..6 (the number of #)
    int32_t parent;     // index of the enclosing heading (nearest earlier one of a lower
                        // level), -1 for a top-level heading
} RagHeading;

typedef struct {
    int64_t n;            // number of chunks
    RagChunk *chunks;     // (n) in text order, owned
    int64_t n_headings;   // MARKDOWN only, else 0
    RagHeading *headings; // (n_headings) in text order, owned (NULL when none)
} RagChunks;

// Cuts text[0..len) (not necessarily NUL-terminated) into chunks as `o` says and fills *out
// (caller-owned struct; its arrays are owned by it). Returns ERR_OK, or ERR_INVALID for bad
// options, in which case *out is zeroed. An empty text gives 0 chunks.
int rag_chunk(const char *text, int64_t len, const RagChunkOpts *o, RagChunks *out);

// Frees the arrays of c and zeroes it. NULL and zeroed structs are fine.
void rag_chunks_free(RagChunks *c);

// The end of the sentence that starts at pos (pos < len): the sentence includes its
// terminator and the whitespace after it, so consecutive calls tile the text. A sentence ends
// after '.', '!' or '?' (a run of them, then any closing " ' ) ] characters) followed by
// whitespace and then an ASCII capital letter or a digit, or the end of the text; not after
// an abbreviation ("e.g.", "i.e.", "etc.", "cf.", "vs.", "Dr.", "Mr.", "Mrs.", "Ms.",
// "Prof.", "St.", "No.", "Fig." compared ignoring case) nor after one capital letter (an
// initial, "J. Smith"). A blank line (two newlines with only blanks between) always ends a
// sentence, after the whitespace run. Returns len when no boundary follows.
int64_t rag_chunk_sentence_next(const char *text, int64_t len, int64_t pos);

// Writes the heading path of heading index h, "Top > Section > Subsection" (outermost first,
// titles taken from text), NUL-terminated and truncated to fit cap bytes (cap > 0), into buf.
// h = -1 gives "". Returns the full length the path has (like snprintf).
int64_t rag_chunk_heading_path(const RagChunks *c, int32_t h, const char *text, char *buf,
                               size_t cap);

// "chars", "tokens", "recursive", "sentences", "markdown".
const char *rag_chunk_kind_name(RagChunkKind kind);

// The kind named `name` (as rag_chunk_kind_name spells it). ERR_INVALID listing the names.
int rag_chunk_kind_parse(const char *name, RagChunkKind *out);

// Chunk statistics, for comparing strategies in the week-5 lab.
typedef struct {
    int64_t n;                    // chunks
    double mean_chars, std_chars; // mean and (population) standard deviation of n_chars
    int64_t min_chars, max_chars; // 0, 0 when n = 0
    double mean_tokens;           // mean n_tokens; 0 when the tokens are unknown (-1)
    int64_t max_tokens;           // -1 when unknown
    double coverage;              // fraction of the text's bytes inside at least one chunk
    double redundancy;            // sum of chunk bytes / covered bytes - 1 (what overlap
                                  // costs in index size); 0 without overlap
} RagChunkStats;

// Computes the statistics of c over a text of text_len bytes. n = 0 gives all zeros (and
// max_tokens = -1).
RagChunkStats rag_chunk_stats(const RagChunks *c, int64_t text_len);

#endif
