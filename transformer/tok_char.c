/*
 * tok_char.c: the character-level tokenizer (one token per distinct byte of a text).
 *
 * The simplest tokenizer a language model can have, and the one the first labs use: the
 * vocabulary is the set of bytes that occur in the training text, numbered in byte order, so
 * "hello" gives {e: 0, h: 1, l: 2, o: 3}. It works on bytes, not code points: a UTF-8 "é" is
 * two tokens. That keeps it exact for any input (nothing to decode or normalise) at the cost
 * of longer sequences for non-ASCII text; BPE (tok_bpe.c) is the answer to that.
 *
 * File format (JSON, written atomically):
 *     {"format": "tf_tok_char", "version": 1, "bytes": [10, 32, 33, ...]}
 * where bytes[id] is the byte of token id, strictly increasing.
 */
#include "core/err.h"
#include "core/io.h"
#include "transformer/tokenizer.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TOK_CHAR_FORMAT  "tf_tok_char"
#define TOK_CHAR_VERSION 1

void tf_tok_char_init(TfTokChar *t, const void *text, size_t n)
{
    CHECK(t && (text || n == 0), "tf_tok_char_init: NULL argument");
    const uint8_t *s = text;
    bool seen[256] = {false};
    for (size_t i = 0; i < n; i++) seen[s[i]] = true;
    t->n = 0;
    for (int b = 0; b < 256; b++) {
        t->id_of[b] = -1;
        if (seen[b]) {
            t->id_of[b] = (int16_t)t->n;
            t->bytes[t->n++] = (uint8_t)b;
        }
    }
}

int tf_tok_char_encode(const TfTokChar *t, const void *text, size_t n, int32_t *ids)
{
    CHECK(t && (text || n == 0) && (ids || n == 0), "tf_tok_char_encode: NULL argument");
    const uint8_t *s = text;
    for (size_t i = 0; i < n; i++) {
        if (t->id_of[s[i]] < 0)
            return err_set(ERR_INVALID, "tf_tok_char_encode: byte 0x%02X at offset %zu is not "
                           "in the vocabulary of %d bytes; hint: build the vocabulary from a "
                           "text that contains every byte you will encode", s[i], i, t->n);
        ids[i] = t->id_of[s[i]];
    }
    return ERR_OK;
}

int tf_tok_char_decode(const TfTokChar *t, const int32_t *ids, int64_t n, uint8_t *out)
{
    CHECK(t && (ids || n == 0) && (out || n == 0), "tf_tok_char_decode: NULL argument");
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n)
            return err_set(ERR_RANGE, "tf_tok_char_decode: id %d at position %lld is outside "
                           "0..%d; hint: were these ids made with another vocabulary?", ids[i],
                           (long long)i, t->n - 1);
        out[i] = t->bytes[ids[i]];
    }
    return ERR_OK;
}

int tf_tok_char_save(const TfTokChar *t, const char *path)
{
    CHECK(t && path, "tf_tok_char_save: NULL argument");
    json_t *arr = json_array();
    for (int i = 0; i < t->n; i++) json_array_append_new(arr, json_integer(t->bytes[i]));
    json_t *root = json_pack("{s:s, s:i, s:o}", "format", TOK_CHAR_FORMAT, "version",
                             TOK_CHAR_VERSION, "bytes", arr);
    char *js = json_dumps(root, JSON_PRESERVE_ORDER);
    json_decref(root);
    CHECK(js != NULL, "tf_tok_char_save: jansson could not serialise the vocabulary");
    int rc = io_write_atomic(path, js, strlen(js));
    free(js);
    return rc;
}

int tf_tok_char_load(const char *path, TfTokChar *t)
{
    CHECK(path && t, "tf_tok_char_load: NULL argument");
    memset(t, 0, sizeof *t);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return err_set(jerr.line < 0 ? ERR_IO : ERR_FORMAT, "%s: line %d column %d: %s; hint: "
                       "expected a file written by tf_tok_char_save", path, jerr.line,
                       jerr.column, jerr.text);
    int rc = ERR_OK;
    json_t *fmt = json_object_get(root, "format"), *ver = json_object_get(root, "version");
    json_t *arr = json_object_get(root, "bytes");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), TOK_CHAR_FORMAT) != 0) {
        rc = err_set(ERR_FORMAT, "%s: field \"format\" is not \"%s\"; hint: is this a "
                     "character tokenizer file?", path, TOK_CHAR_FORMAT);
    } else if (!json_is_integer(ver) || json_integer_value(ver) != TOK_CHAR_VERSION) {
        rc = err_set(ERR_FORMAT, "%s: field \"version\" is not %d; hint: written by another "
                     "version of the engine?", path, TOK_CHAR_VERSION);
    } else if (!json_is_array(arr) || json_array_size(arr) > 256) {
        rc = err_set(ERR_FORMAT, "%s: field \"bytes\" is not an array of at most 256 bytes; "
                     "hint: expected [10, 32, ...]", path);
    } else {
        for (int b = 0; b < 256; b++) t->id_of[b] = -1;
        for (size_t i = 0; i < json_array_size(arr) && rc == ERR_OK; i++) {
            json_t *v = json_array_get(arr, i);
            json_int_t b = json_is_integer(v) ? json_integer_value(v) : -1;
            if (b < 0 || b > 255 || (i > 0 && b <= t->bytes[i - 1])) {
                rc = err_set(ERR_FORMAT, "%s: field \"bytes\"[%zu] is not a byte above the "
                             "previous one; hint: bytes must be 0..255, strictly increasing",
                             path, i);
                break;
            }
            t->bytes[i] = (uint8_t)b;
            t->id_of[b] = (int16_t)i;
            t->n = (int)i + 1;
        }
    }
    json_decref(root);
    if (rc != ERR_OK) memset(t, 0, sizeof *t);
    return rc;
}
