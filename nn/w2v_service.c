/*
 * w2v_service.c: the embedding similarity service, one JSON request line -> one JSON reply line
 * (nn_w2v_handle_request in word2vec.h). The lab's `--serve` loop reads stdin and calls it; the
 * tests drive it directly.
 *
 * Every request is untrusted input: the JSON is parsed by jansson (which also rejects invalid
 * UTF-8), each field's presence and type is checked, and any problem becomes an
 * {"ok":false,"error":...} reply, never a crash or an abort.
 */
#include "nn/word2vec.h"

#include "core/err.h"
#include "nn/similarity.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Replaces *reply with {"ok":false,"error":<message>} and returns ERR_INVALID.
static int fail(char **reply, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char **reply, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_false());
    // The message may quote user bytes; json_stringn_nocheck would emit them raw, so build it
    // through json_string and fall back to a fixed text when it is not valid UTF-8.
    json_t *s = json_string(msg);
    json_object_set_new(o, "error", s ? s : json_string("invalid request"));
    *reply = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return ERR_INVALID;
}

// A new reply object that starts with "ok": true (jansson keeps insertion order).
static json_t *ok_object(void)
{
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_true());
    return o;
}

static int succeed(char **reply, json_t *o)
{
    *reply = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    return ERR_OK;
}

// The string field `key` of req, or NULL after setting the error reply.
static const char *get_text(const json_t *req, const char *key, char **reply)
{
    json_t *v = json_object_get(req, key);
    if (!v) {
        fail(reply, "missing field \"%s\" (a string)", key);
        return NULL;
    }
    if (!json_is_string(v)) {
        fail(reply, "field \"%s\" must be a string", key);
        return NULL;
    }
    return json_string_value(v);
}

// The query vector of a text (out: D): a single word must be known; a longer text needs one
// known word. ids gets the ids of its known words (up to max_ids) for exclusion. Returns the
// count of known words, or -1 after setting the error reply.
static int64_t text_query(const NnW2v *m, const char *key, const char *text, float *out,
                          int64_t *ids, int *n_ids, int max_ids, char **reply)
{
    char unknown[NN_W2V_MAX_WORD], buf[NN_W2V_MAX_WORD];
    int64_t pos = 0, words = 0;
    *n_ids = 0;
    while (nn_w2v_next_word(text, &pos, buf)) {
        words++;
        int64_t id = nn_w2v_find(m, buf);
        if (id >= 0 && *n_ids < max_ids) ids[(*n_ids)++] = id;
    }
    if (words == 0) {
        fail(reply, "field \"%s\" has no words (letters or digits)", key);
        return -1;
    }
    int64_t known = nn_w2v_text_vector(m, text, out, unknown);
    if (words == 1 && known == 0) {
        fail(reply, "unknown word \"%s\" in field \"%s\" (not in the %lld-word vocabulary)",
             unknown, key, (long long)m->vocab);
        return -1;
    }
    if (known == 0) {
        fail(reply, "no known word in field \"%s\" (first unknown: \"%s\")", key, unknown);
        return -1;
    }
    return known;
}

static int op_similarity(const NnW2v *m, const json_t *req, char **reply)
{
    const char *a = get_text(req, "a", reply);
    if (!a) return ERR_INVALID;
    const char *b = get_text(req, "b", reply);
    if (!b) return ERR_INVALID;
    float *va = xmalloc(sizeof(float) * (size_t)m->dim);
    float *vb = xmalloc(sizeof(float) * (size_t)m->dim);
    int64_t ids[1];
    int n;
    int rc = ERR_INVALID;
    if (text_query(m, "a", a, va, ids, &n, 0, reply) >= 0 &&
        text_query(m, "b", b, vb, ids, &n, 0, reply) >= 0) {
        json_t *o = ok_object();
        json_object_set_new(o, "similarity", json_real(nn_cosine(va, vb, m->dim)));
        rc = succeed(reply, o);
    }
    free(va), free(vb);
    return rc;
}

static int op_neighbors(const NnW2v *m, const json_t *req, char **reply)
{
    const char *w = get_text(req, "word", reply);
    if (!w) return ERR_INVALID;
    json_int_t k = 10;
    json_t *jk = json_object_get(req, "k");
    if (jk) {
        if (!json_is_integer(jk)) return fail(reply, "field \"k\" must be an integer");
        k = json_integer_value(jk);
        if (k < 1 || k > NN_W2V_MAX_K)
            return fail(reply, "field \"k\" is %lld, must be 1..%d", (long long)k, NN_W2V_MAX_K);
    }
    float *q = xmalloc(sizeof(float) * (size_t)m->dim);
    int64_t ex[64], idx[NN_W2V_MAX_K];
    float sc[NN_W2V_MAX_K];
    int n_ex;
    int rc = ERR_INVALID;
    if (text_query(m, "word", w, q, ex, &n_ex, 64, reply) >= 0) {
        // Distinct ids only: nn_w2v_neighbors counts the exclusions.
        int nd = 0;
        for (int i = 0; i < n_ex; i++) {
            int dup = 0;
            for (int j = 0; j < nd; j++) dup |= ex[j] == ex[i];
            if (!dup) ex[nd++] = ex[i];
        }
        int64_t got = nn_w2v_neighbors(m, q, ex, nd, (int64_t)k, idx, sc);
        json_t *arr = json_array();
        for (int64_t i = 0; i < got; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "word", json_string(m->words[idx[i]]));
            json_object_set_new(e, "score", json_real(sc[i]));
            json_array_append_new(arr, e);
        }
        json_t *o = ok_object();
        json_object_set_new(o, "neighbors", arr);
        rc = succeed(reply, o);
    }
    free(q);
    return rc;
}

static int op_analogy(const NnW2v *m, const json_t *req, char **reply)
{
    const char *w[3];
    const char *keys[3] = {"a", "b", "c"};
    char lc[3][NN_W2V_MAX_WORD];
    for (int i = 0; i < 3; i++) {
        if (!(w[i] = get_text(req, keys[i], reply))) return ERR_INVALID;
        int64_t pos = 0;
        if (!nn_w2v_next_word(w[i], &pos, lc[i]))
            return fail(reply, "field \"%s\" has no word", keys[i]);
        if (nn_w2v_find(m, lc[i]) < 0)
            return fail(reply, "unknown word \"%s\" in field \"%s\"", lc[i], keys[i]);
    }
    float s;
    int64_t id = nn_w2v_analogy(m, lc[0], lc[1], lc[2], &s);
    if (id < 0) return fail(reply, "no answer: the vocabulary is too small");
    json_t *o = ok_object();
    json_object_set_new(o, "word", json_string(m->words[id]));
    json_object_set_new(o, "score", json_real(s));
    return succeed(reply, o);
}

int nn_w2v_handle_request(const NnW2v *m, const char *line, char **reply)
{
    CHECK(m && line && reply, "nn_w2v_handle_request: NULL argument");
    *reply = NULL;
    json_error_t jerr;
    json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    if (!req)
        return fail(reply, "malformed JSON at column %d: %s", jerr.column, jerr.text);
    int rc;
    const json_t *op = json_object_get(req, "op");
    if (!json_is_object(req))
        rc = fail(reply, "the request must be a JSON object");
    else if (!op || !json_is_string(op))
        rc = fail(reply, "missing field \"op\" (\"similarity\", \"neighbors\" or \"analogy\")");
    else if (strcmp(json_string_value(op), "similarity") == 0)
        rc = op_similarity(m, req, reply);
    else if (strcmp(json_string_value(op), "neighbors") == 0)
        rc = op_neighbors(m, req, reply);
    else if (strcmp(json_string_value(op), "analogy") == 0)
        rc = op_analogy(m, req, reply);
    else
        rc = fail(reply, "unknown op (want \"similarity\", \"neighbors\" or \"analogy\")");
    json_decref(req);
    return rc;
}
