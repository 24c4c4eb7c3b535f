/*
 * test_dictd.c: dictd dictionaries and the text corpus (datasets/dictd.c, datasets/corpus.c).
 *
 * The real-data tests load FOLDOC, the Jargon File and The Devil's Dictionary as the packages
 * dict-foldoc, dict-jargon and dict-devil ship them and look for entries any edition has. The
 * fixture tests write small .index/.dict pairs whose base64 offsets are computed here by an
 * encoder (the loader only decodes), including corrupt lines, and check the Err code and that
 * err_msg() names the file, the line and the field.
 */
#include "core/io.h"
#include "datasets/datasets.h"
#include "tests/test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

static const char *write_text(const char *name, const char *text)
{
    return test_write_file(name, text, strlen(text));
}

static const char *write_gz_text(const char *name, const char *text)
{
    const char *p = test_tmp_path(name);
    gzFile f = gzopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(gzwrite(f, text, (unsigned)strlen(text)), (int)strlen(text));
    ck_assert_int_eq(gzclose(f), Z_OK);
    return p;
}

// dictd base64 of v, most significant digit first ("A" for 0).
static const char *b64(int64_t v, char *out)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = digits[v % 64];
        v /= 64;
    } while (v > 0);
    for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return out;
}

// Appends "headword TAB b64(off) TAB b64(len)\n" to idx, with off/len of `needle` in `data`.
static void index_line(char *idx, const char *hw, const char *data, const char *needle)
{
    const char *at = strstr(data, needle);
    ck_assert_ptr_nonnull(at);
    char o[16], l[16];
    sprintf(idx + strlen(idx), "%s\t%s\t%s\n", hw, b64(at - data, o),
            b64((int64_t)strlen(needle), l));
}

// The tiny dictionary the fixture tests use: metadata, two entries, and an alias.
static const char tiny_data[] =
    "00-database-short\n     Tiny Test Dictionary\n"
    "00-database-url\n     http://example.org/tiny\n"
    "Widget\nwidget thing\n\n   <gadget> A small {device}; see {Gizmo}.\n\n"
    "gizmo\n\n   A {gadget} whose name you forgot.\n";

static void tiny_index(char *idx)
{
    idx[0] = '\0';
    index_line(idx, "00-database-short", tiny_data,
               "00-database-short\n     Tiny Test Dictionary\n");
    index_line(idx, "00-database-url", tiny_data,
               "00-database-url\n     http://example.org/tiny\n");
    index_line(idx, "gizmo", tiny_data, "gizmo\n\n   A {gadget} whose name you forgot.\n");
    const char *w = "Widget\nwidget thing\n\n   <gadget> A small {device}; see {Gizmo}.\n\n";
    index_line(idx, "widget", tiny_data, w);
    index_line(idx, "widget thing", tiny_data, w);
}

// ---------------------------------------------------------------------------
// The real dictionaries
// ---------------------------------------------------------------------------

START_TEST(test_dict_foldoc)
{
    DsDict d;
    int rc = ds_dict_load("foldoc", &d);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    ck_assert_msg(d.n > 10000, "FOLDOC has %lld entries", (long long)d.n);
    ck_assert_msg(strstr(d.name, "Free On-line Dictionary of Computing"), "name '%s'", d.name);
    ck_assert_msg(strstr(d.url, "foldoc"), "url '%s'", d.url);
    for (int64_t i = 0; i < d.n; i++) // the metadata stayed out of the entries
        ck_assert_msg(strncmp(d.entries[i].headword, "00-database", 11) != 0, "%s",
                      d.entries[i].headword);

    const DsEntry *e = ds_dict_find(&d, "Lisp");
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_eq(e, ds_dict_find(&d, "LISP"));
    ck_assert_msg(strncmp(e->definition, "Lisp\n", 5) == 0, "%.40s", e->definition);
    ck_assert_ptr_nonnull(strstr(e->definition, "LISt Processing"));
    ck_assert_ptr_nonnull(strstr(e->definition, "{functional}"));
    ck_assert_int_eq((int64_t)strlen(e->definition), e->length);
    char *body = ds_dict_body(e);
    ck_assert_msg(strncmp(body, "<language> LISt Processing", 26) == 0, "body: %.60s", body);
    ck_assert_ptr_null(strchr(body, '{'));
    ck_assert_ptr_null(strchr(body, '}'));
    ck_assert_ptr_nonnull(strstr(body, "functional"));
    free(body);
    ck_assert_ptr_null(ds_dict_find(&d, "no such headword, surely"));

    // FOLDOC lists one text under several headwords: those are aliases of the first.
    int64_t aliases = 0;
    for (int64_t i = 0; i < d.n; i++) {
        if (!d.entries[i].alias) continue;
        aliases++;
        int64_t j = 0;
        while (j < i && !(d.entries[j].offset == d.entries[i].offset &&
                          d.entries[j].length == d.entries[i].length && !d.entries[j].alias))
            j++;
        ck_assert_msg(j < i, "alias %s has no earlier original", d.entries[i].headword);
        ck_assert_ptr_eq(d.entries[i].definition, d.entries[j].definition);
    }
    ck_assert_msg(aliases > 100 && aliases < d.n / 2, "%lld aliases", (long long)aliases);
    ds_dict_free(&d);
    ck_assert_ptr_null(d.entries);
    ds_dict_free(&d);
    ds_dict_free(NULL);
}
END_TEST

START_TEST(test_dict_jargon_and_devil)
{
    DsDict j;
    ck_assert_msg(ds_dict_load("jargon", &j) == ERR_OK, "%s", err_msg());
    ck_assert_msg(j.n > 2000, "%lld", (long long)j.n);
    ck_assert_ptr_nonnull(strstr(j.name, "Jargon File"));
    const DsEntry *e = ds_dict_find(&j, "hacker");
    ck_assert_ptr_nonnull(e);
    char *body = ds_dict_body(e);
    ck_assert_ptr_nonnull(strstr(body, "A person who enjoys exploring the details"));
    ck_assert_msg(strncmp(body, "hacker", 6) != 0, "headword line kept: %.40s", body);
    free(body);
    ds_dict_free(&j);

    // The Devil's Dictionary uses the old "00databaseshort" keys and starts each entry with its
    // text, which the body keeps.
    DsDict d;
    ck_assert_msg(ds_dict_load("devil", &d) == ERR_OK, "%s", err_msg());
    ck_assert_msg(d.n > 900, "%lld", (long long)d.n);
    ck_assert_ptr_nonnull(strstr(d.name, "Devil's Dictionary"));
    e = ds_dict_find(&d, "abasement");
    ck_assert_ptr_nonnull(e);
    body = ds_dict_body(e);
    ck_assert_msg(strncmp(body, "ABASEMENT, n.", 13) == 0, "%.40s", body);
    free(body);
    ds_dict_free(&d);
}
END_TEST

START_TEST(test_dict_missing_package)
{
    const char *root = test_tmp_path("empty_root");
    ck_assert_int_eq(io_mkdir_p(root), ERR_OK);
    setenv("ENGINE_DATA_ROOT", root, 1);
    DsDict d;
    test_expect_err(ds_dict_load("foldoc", &d), ERR_DEPENDENCY,
               (const char *[]){"dict-foldoc", "apt-get install", "empty_root", NULL});
    ck_assert_ptr_null(d.entries);
    char *text = (char *)"x";
    size_t n = 1;
    int rc = ds_corpus_text("jargon", &text, &n);
    unsetenv("ENGINE_DATA_ROOT");
    test_expect_err(rc, ERR_DEPENDENCY, (const char *[]){"dict-jargon", NULL});
    ck_assert_ptr_null(text);
    test_expect_err(ds_dict_load("../../etc/passwd", &d), ERR_INVALID,
               (const char *[]){"passwd", "hint:", NULL});
}
END_TEST

// ---------------------------------------------------------------------------
// Small files
// ---------------------------------------------------------------------------

START_TEST(test_dict_tiny_fixture)
{
    char idx[1024];
    tiny_index(idx);
    const char *ip = write_text("tiny.index", idx);
    const char *dps[2] = {write_gz_text("tiny.dict.dz", tiny_data),
                          write_text("tiny.dict", tiny_data)};
    for (int k = 0; k < 2; k++) {
        DsDict d;
        ck_assert_msg(ds_dict_load_files(ip, dps[k], &d) == ERR_OK, "%s", err_msg());
        ck_assert_int_eq(d.n, 3);
        ck_assert_str_eq(d.name, "Tiny Test Dictionary");
        ck_assert_str_eq(d.url, "http://example.org/tiny");
        ck_assert_str_eq(d.entries[0].headword, "gizmo");
        ck_assert_str_eq(d.entries[0].definition,
                         "gizmo\n\n   A {gadget} whose name you forgot.\n");
        ck_assert_str_eq(d.entries[2].headword, "widget thing");
        ck_assert(!d.entries[0].alias && !d.entries[1].alias && d.entries[2].alias);
        ck_assert_ptr_eq(d.entries[1].definition, d.entries[2].definition);
        ck_assert_int_eq(d.entries[0].offset, strstr(tiny_data, "gizmo\n") - tiny_data);

        char *body = ds_dict_body(&d.entries[1]);
        ck_assert_str_eq(body, "<gadget> A small device; see Gizmo.");
        free(body);
        body = ds_dict_body(ds_dict_find(&d, "GIZMO"));
        ck_assert_str_eq(body, "A gadget whose name you forgot.");
        free(body);
        ds_dict_free(&d);
    }
    // An entry whose first line is not its headword is kept whole.
    DsEntry e = {.headword = "abc", .definition = "ABC, n.  The {letters}.\n  More.\n\n"};
    char *body = ds_dict_body(&e);
    ck_assert_str_eq(body, "ABC, n.  The letters.\nMore.");
    free(body);
}
END_TEST

START_TEST(test_dict_bad_base64)
{
    char idx[1024];
    tiny_index(idx);
    // Line 4 gets an offset with '*' (not in the alphabet).
    char *line4 = strstr(idx, "widget\t");
    char *tab = strchr(line4, '\t');
    tab[1] = '*';
    const char *ip = write_text("b64.index", idx);
    const char *dp = write_gz_text("b64.dict.dz", tiny_data);
    DsDict d;
    test_expect_err(ds_dict_load_files(ip, dp, &d), ERR_FORMAT,
               (const char *[]){"b64.index:4:", "offset", "base64", "hint:", NULL});
    ck_assert_ptr_null(d.entries);

    // The length field of line 3 empty; an 11-digit offset on line 1.
    tiny_index(idx);
    char *l3 = strstr(idx, "gizmo\t");
    char *t2 = strchr(strchr(l3, '\t') + 1, '\t');
    memmove(t2 + 1, strchr(t2, '\n'), strlen(strchr(t2, '\n')) + 1);
    ip = write_text("len.index", idx);
    test_expect_err(ds_dict_load_files(ip, dp, &d), ERR_FORMAT,
               (const char *[]){"len.index:3:", "length", NULL});
    ip = write_text("long.index", "word\tBBBBBBBBBBB\tB\n");
    test_expect_err(ds_dict_load_files(ip, dp, &d), ERR_FORMAT,
               (const char *[]){"long.index:1:", "offset", NULL});
    // Two fields only, and a blank line in the middle.
    ip = write_text("fields.index", "word\tB\tB\nother\tB\n");
    test_expect_err(ds_dict_load_files(ip, dp, &d), ERR_FORMAT,
               (const char *[]){"fields.index:2:", "3 tab-separated", NULL});
    ip = write_text("blank.index", "word\tB\tB\n\nother\tB\tB\n");
    test_expect_err(ds_dict_load_files(ip, dp, &d), ERR_FORMAT,
               (const char *[]){"blank.index:2:", NULL});
}
END_TEST

START_TEST(test_dict_offset_out_of_range)
{
    char idx[256], o[16], l[16];
    int64_t n = (int64_t)strlen(tiny_data);
    // Ends one byte past the data.
    snprintf(idx, sizeof idx, "fine\tA\tB\nbeyond\t%s\t%s\n", b64(n - 10, o), b64(11, l));
    const char *ip = write_text("range.index", idx);
    const char *dp = write_gz_text("range.dict.dz", tiny_data);
    DsDict d;
    test_expect_err(ds_dict_load_files(ip, dp, &d), ERR_RANGE,
               (const char *[]){"range.index:2:", "beyond", "range.dict.dz", "hint:", NULL});
    // Exactly to the end is fine.
    snprintf(idx, sizeof idx, "fine\tA\tB\nedge\t%s\t%s\n", b64(n - 10, o), b64(10, l));
    ip = write_text("edge.index", idx);
    ck_assert_msg(ds_dict_load_files(ip, dp, &d) == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(d.n, 2);
    ck_assert_str_eq(d.entries[1].definition, tiny_data + n - 10);
    ds_dict_free(&d);
    // A corrupt .dict.dz, and a missing one.
    const char *bad = write_text("bad.dict.dz", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03zzzzzzzz");
    int rc = ds_dict_load_files(ip, bad, &d);
    ck_assert_msg(rc == ERR_FORMAT || rc == ERR_TRUNCATED, "%d %s", rc, err_msg());
    ck_assert_ptr_nonnull(strstr(err_msg(), "bad.dict.dz"));
    test_expect_err(ds_dict_load_files(ip, test_tmp_path("none.dict.dz"), &d), ERR_IO,
               (const char *[]){"none.dict.dz", NULL});
}
END_TEST

// ---------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------

START_TEST(test_corpus_text)
{
    char *one, *two;
    size_t n1, n2;
    ck_assert_msg(ds_corpus_text("devil", &one, &n1) == ERR_OK, "%s", err_msg());
    ck_assert_msg(n1 > 100000, "%zu bytes", n1);
    ck_assert_int_eq(strlen(one), n1);
    ck_assert_msg(strncmp(one, "ABASEMENT, n.", 13) == 0, "%.30s", one);
    ck_assert_ptr_null(strstr(one, "00-database"));
    // Two copies are the single text twice with one blank line between.
    ck_assert_msg(ds_corpus_text("devil,devil", &two, &n2) == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(n2, 2 * n1 + 2);
    ck_assert_int_eq(memcmp(two, one, n1), 0);
    ck_assert_int_eq(memcmp(two + n1, "\n\n", 2), 0);
    ck_assert_int_eq(memcmp(two + n1 + 2, one, n1), 0);
    free(one);
    free(two);

    ck_assert_msg(ds_corpus_text("foldoc,jargon", &one, &n1) == ERR_OK, "%s", err_msg());
    ck_assert_msg(n1 > 5000000, "%zu bytes", n1);
    ck_assert_ptr_nonnull(strstr(one, "LISt Processing"));
    ck_assert_ptr_nonnull(strstr(one, "A person who enjoys exploring"));
    ck_assert_ptr_null(strchr(one, '{'));
    free(one);

    test_expect_err(ds_corpus_text("", &one, &n1), ERR_INVALID, (const char *[]){"hint:", NULL});
    ck_assert_ptr_null(one);
    test_expect_err(ds_corpus_text("devil,,jargon", &one, &n1), ERR_INVALID,
               (const char *[]){"devil,,jargon", NULL});
}
END_TEST

static Suite *dictd_suite(void)
{
    Suite *s = suite_create("dictd");
    TCase *real = tcase_create("real");
    tcase_set_timeout(real, 60);
    tcase_add_test(real, test_dict_foldoc);
    tcase_add_test(real, test_dict_jargon_and_devil);
    tcase_add_test(real, test_dict_missing_package);
    tcase_add_test(real, test_corpus_text);
    suite_add_tcase(s, real);
    TCase *files = tcase_create("files");
    tcase_add_test(files, test_dict_tiny_fixture);
    tcase_add_test(files, test_dict_bad_base64);
    tcase_add_test(files, test_dict_offset_out_of_range);
    suite_add_tcase(s, files);
    return s;
}

int main(void)
{
    return test_main(dictd_suite());
}
