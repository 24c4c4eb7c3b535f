/*
 * test_w2v_service.c: the embedding similarity service (nn_w2v_handle_request) driven with good
 * and bad request lines. Every reply must be one line of valid JSON with "ok" matching the
 * return code, and bad requests must get a clear error, never a crash.
 */
#include "core/err.h"
#include "nn/similarity.h"
#include "nn/word2vec.h"
#include "tests/test_util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

// A tiny model with hand-made vectors: ids by count order unix 0, linux 1, compiler 2, c 3.
static void make_model(NnW2v *m)
{
    ck_assert_int_eq(nn_w2v_init(m, "unix unix unix unix linux linux linux compiler compiler c",
                                 0, 1, 3, 1), ERR_OK);
    float v[4][3] = {{1, 0.2f, 0}, {1, 0.4f, 0}, {0, 1, 0.3f}, {0.1f, 1, 0}};
    memcpy(m->emb, v, sizeof v);
    nn_w2v_normalize(m);
}

// Runs one request; checks the reply is one line of JSON whose "ok" matches rc; returns it.
static json_t *ask(const NnW2v *m, const char *line, int want_ok)
{
    char *reply = NULL;
    int rc = nn_w2v_handle_request(m, line, &reply);
    ck_assert_ptr_nonnull(reply);
    ck_assert_ptr_null(strchr(reply, '\n'));
    json_error_t e;
    json_t *j = json_loads(reply, 0, &e);
    ck_assert_msg(j != NULL, "reply is not JSON: %s", reply);
    json_t *ok = json_object_get(j, "ok");
    ck_assert_msg(json_is_boolean(ok), "no ok in %s", reply);
    ck_assert_msg(json_is_true(ok) == want_ok, "request %s -> %s", line, reply);
    ck_assert_int_eq(rc, want_ok ? ERR_OK : ERR_INVALID);
    if (!want_ok) {
        const char *msg = json_string_value(json_object_get(j, "error"));
        ck_assert_msg(msg && strlen(msg) > 5, "no error text in %s", reply);
    }
    free(reply);
    return j;
}

// The error text of a bad request contains `needle`.
static void ask_bad(const NnW2v *m, const char *line, const char *needle)
{
    json_t *j = ask(m, line, 0);
    const char *msg = json_string_value(json_object_get(j, "error"));
    ck_assert_msg(strstr(msg, needle), "error for %s is \"%s\", want \"%s\"", line, msg, needle);
    json_decref(j);
}

START_TEST(test_service_good_requests)
{
    NnW2v m;
    make_model(&m);
    json_t *j = ask(&m, "{\"op\":\"similarity\",\"a\":\"unix\",\"b\":\"Linux\"}", 1);
    double want = nn_cosine(m.emb, m.emb + 3, 3);
    ck_assert_double_eq_tol(json_real_value(json_object_get(j, "similarity")), want, 1e-5);
    json_decref(j);
    // Texts: the mean of the known words' unit vectors ("for" is unknown and ignored).
    j = ask(&m, "{\"op\":\"similarity\",\"a\":\"a compiler for c\",\"b\":\"unix linux\"}", 1);
    float ta[3], tb[3];
    for (int i = 0; i < 3; i++)
        ta[i] = 0.5f * (m.unit[6 + i] + m.unit[9 + i]), tb[i] = 0.5f * (m.unit[i] + m.unit[3 + i]);
    ck_assert_double_eq_tol(json_real_value(json_object_get(j, "similarity")),
                            nn_cosine(ta, tb, 3), 1e-5);
    json_decref(j);
    j = ask(&m, "{\"op\":\"neighbors\",\"word\":\"unix\",\"k\":2}", 1);
    json_t *nb = json_object_get(j, "neighbors");
    ck_assert_int_eq(json_array_size(nb), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(nb, 0), "word")), "linux");
    ck_assert(json_is_number(json_object_get(json_array_get(nb, 0), "score")));
    json_decref(j);
    // k larger than the vocabulary minus the query: all 3 others.
    j = ask(&m, "{\"op\":\"neighbors\",\"word\":\"unix\",\"k\":50}", 1);
    ck_assert_int_eq(json_array_size(json_object_get(j, "neighbors")), 3);
    json_decref(j);
    j = ask(&m, "{\"op\":\"analogy\",\"a\":\"unix\",\"b\":\"linux\",\"c\":\"compiler\"}", 1);
    ck_assert_str_eq(json_string_value(json_object_get(j, "word")), "c");
    json_decref(j);
    nn_w2v_deinit(&m);
}
END_TEST

START_TEST(test_service_bad_requests)
{
    NnW2v m;
    make_model(&m);
    ask_bad(&m, "", "malformed JSON");
    ask_bad(&m, "{\"op\":\"similarity\",", "malformed JSON");
    ask_bad(&m, "not json at all", "malformed JSON");
    ask_bad(&m, "[1,2,3]", "object");
    ask_bad(&m, "null", "");
    ask_bad(&m, "{}", "missing field \"op\"");
    ask_bad(&m, "{\"op\":7}", "missing field \"op\"");
    ask_bad(&m, "{\"op\":\"delete\"}", "unknown op");
    ask_bad(&m, "{\"op\":\"similarity\",\"a\":\"unix\"}", "missing field \"b\"");
    ask_bad(&m, "{\"op\":\"similarity\",\"a\":5,\"b\":\"unix\"}", "\"a\" must be a string");
    ask_bad(&m, "{\"op\":\"similarity\",\"a\":\"unix\",\"b\":\"qwerty\"}", "unknown word");
    ask_bad(&m, "{\"op\":\"similarity\",\"a\":\"unix\",\"b\":\"\"}", "no words");
    ask_bad(&m, "{\"op\":\"similarity\",\"a\":\"!!! ???\",\"b\":\"unix\"}", "no words");
    ask_bad(&m, "{\"op\":\"similarity\",\"a\":\"foo bar\",\"b\":\"unix\"}", "no known word");
    ask_bad(&m, "{\"op\":\"neighbors\",\"word\":\"unix\",\"k\":0}", "\"k\"");
    ask_bad(&m, "{\"op\":\"neighbors\",\"word\":\"unix\",\"k\":-3}", "\"k\"");
    ask_bad(&m, "{\"op\":\"neighbors\",\"word\":\"unix\",\"k\":99999999999999}", "\"k\"");
    ask_bad(&m, "{\"op\":\"neighbors\",\"word\":\"unix\",\"k\":\"5\"}", "integer");
    ask_bad(&m, "{\"op\":\"neighbors\",\"word\":\"unix\",\"k\":2.5}", "integer");
    ask_bad(&m, "{\"op\":\"neighbors\",\"word\":[\"unix\"]}", "must be a string");
    ask_bad(&m, "{\"op\":\"neighbors\"}", "missing field \"word\"");
    ask_bad(&m, "{\"op\":\"analogy\",\"a\":\"unix\",\"b\":\"zzz\",\"c\":\"c\"}", "unknown word");
    ask_bad(&m, "{\"op\":\"similarity\",\"a\":\"unix\",\"a\":\"linux\",\"b\":\"c\"}", "JSON");
    // Bytes that are not UTF-8, inside and outside strings.
    ask_bad(&m, "{\"op\":\"similarity\",\"a\":\"\xff\xfe\",\"b\":\"unix\"}", "");
    ask_bad(&m, "\xc3\x28\x80\xff", "");
    // A very long word and a long line.
    size_t n = 100000;
    char *big = malloc(n + 64);
    int off = snprintf(big, 64, "{\"op\":\"neighbors\",\"word\":\"");
    memset(big + off, 'a', n);
    strcpy(big + off + n, "\"}");
    ask_bad(&m, big, "no words");
    free(big);
    // The service keeps answering after all that.
    json_decref(ask(&m, "{\"op\":\"similarity\",\"a\":\"unix\",\"b\":\"c\"}", 1));
    nn_w2v_deinit(&m);
}
END_TEST

static Suite *service_suite(void)
{
    Suite *s = suite_create("w2v_service");
    TCase *tc = tcase_create("service");
    tcase_add_test(tc, test_service_good_requests);
    tcase_add_test(tc, test_service_bad_requests);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(service_suite()); }
