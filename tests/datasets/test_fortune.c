/*
 * test_fortune.c: the fortune file loader (datasets/fortune.c).
 *
 * The real-data test loads the package fortunes and checks the count against the one strfile
 * wrote into each NAME.dat (a big-endian uint32 at byte 4: the number of strings), read here
 * independently of the loader. The fixture tests write small files with the edge cases of
 * the "%" separator, and a data root laid out like the package to check which files count.
 */
#include "core/io.h"
#include "datasets/datasets.h"
#include "tests/test_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The number of strings strfile recorded in every NAME.dat of `dir` that has its NAME.
static int64_t strfile_total(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int64_t total = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (n <= 4 || strcmp(e->d_name + n - 4, ".dat") != 0) continue;
        char dat[2048], txt[2048];
        snprintf(dat, sizeof dat, "%s/%s", dir, e->d_name);
        snprintf(txt, sizeof txt, "%s/%.*s", dir, (int)(n - 4), e->d_name);
        FILE *f = fopen(txt, "rb");
        if (!f) continue;
        fclose(f);
        unsigned char *b;
        size_t len;
        ck_assert_int_eq(io_read_all(dat, &b, &len), ERR_OK);
        ck_assert(len >= 8);
        total += (int64_t)b[4] << 24 | (int64_t)b[5] << 16 | (int64_t)b[6] << 8 | b[7];
        free(b);
    }
    closedir(d);
    return total;
}

START_TEST(test_fortunes_real)
{
    DsTextList f;
    int rc = ds_fortunes_load(&f);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    ck_assert_msg(f.n > 1000, "%lld fortunes", (long long)f.n);
    const char *root = getenv("ENGINE_DATA_ROOT");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/games/fortunes", root && root[0] ? root : "/usr/share");
    ck_assert_int_eq(f.n, strfile_total(dir));
    for (int64_t i = 0; i < f.n; i++) {
        ck_assert_msg(f.texts[i][0] != '\0', "empty fortune %lld", (long long)i);
        ck_assert_msg(strstr(f.texts[i], "\n%\n") == NULL, "separator kept in %lld", (long long)i);
        size_t n = strlen(f.texts[i]);
        ck_assert_msg(f.texts[i][n - 1] != '\n', "final newline kept in %lld", (long long)i);
        if (i) ck_assert(strcmp(f.sources[i - 1], f.sources[i]) <= 0); // name order
    }
    ck_assert_str_eq(f.sources[0], "art");
    ds_text_list_free(&f);
    ck_assert_ptr_null(f.texts);
    ds_text_list_free(&f);
    ds_text_list_free(NULL);
}
END_TEST

START_TEST(test_fortunes_separators)
{
    // A leading "%", a blank entry, CRLF line ends, a "%" inside a line (not a separator) and
    // no final newline.
    const char a[] = "%\nfirst\nline two\n%\n\n%\n100% sure\r\n%\r\nlast";
    const char b[] = "only one\n\n";
    const char *paths[2] = {test_write_file("fa", a, sizeof a - 1), test_write_file("fb", b, sizeof b - 1)};
    DsTextList f;
    ck_assert_msg(ds_fortunes_load_files(paths, 2, &f) == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(f.n, 4);
    ck_assert_str_eq(f.texts[0], "first\nline two");
    ck_assert_str_eq(f.texts[1], "100% sure");
    ck_assert_str_eq(f.texts[2], "last");
    ck_assert_str_eq(f.texts[3], "only one");
    ck_assert_str_eq(f.sources[0], "fa");
    ck_assert_str_eq(f.sources[3], "fb");
    ds_text_list_free(&f);

    ck_assert_int_eq(ds_fortunes_load_files(NULL, 0, &f), ERR_OK);
    ck_assert_int_eq(f.n, 0);
    ds_text_list_free(&f);
}
END_TEST

START_TEST(test_fortunes_bad_files)
{
    const char bin[] = "fine\n%\nbin\0ary\n";
    const char *paths[2] = {test_write_file("ok", "fine\n", 5), test_write_file("bin", bin, sizeof bin - 1)};
    DsTextList f;
    test_expect_err(ds_fortunes_load_files(paths, 2, &f), ERR_FORMAT,
               (const char *[]){"/bin", "offset 10", "hint:", NULL});
    ck_assert_ptr_null(f.texts);
    paths[1] = test_tmp_path("missing");
    test_expect_err(ds_fortunes_load_files(paths, 2, &f), ERR_IO, (const char *[]){"missing", NULL});
}
END_TEST

START_TEST(test_fortunes_data_root)
{
    // A root laid out like the package: only files with a .dat sibling are fortune files.
    const char *root = test_tmp_path("root");
    char dir[600], p[700];
    snprintf(dir, sizeof dir, "%s/games/fortunes", root);
    ck_assert_int_eq(io_mkdir_p(dir), ERR_OK);
    setenv("ENGINE_DATA_ROOT", root, 1);
    DsTextList f;
    int rc = ds_fortunes_load(&f); // the folder exists but holds no fortune file
    test_expect_err(rc, ERR_DEPENDENCY, (const char *[]){"fortunes", "apt-get install", NULL});

    snprintf(p, sizeof p, "%s/zeta", dir);
    ck_assert_int_eq(io_write_atomic(p, "z1\n%\nz2\n", 8), ERR_OK);
    snprintf(p, sizeof p, "%s/zeta.dat", dir);
    ck_assert_int_eq(io_write_atomic(p, "\0\0\0\2", 4), ERR_OK);
    snprintf(p, sizeof p, "%s/alpha", dir);
    ck_assert_int_eq(io_write_atomic(p, "a1\n", 3), ERR_OK);
    snprintf(p, sizeof p, "%s/alpha.dat", dir);
    ck_assert_int_eq(io_write_atomic(p, "\0\0\0\1", 4), ERR_OK);
    snprintf(p, sizeof p, "%s/notes", dir); // no notes.dat: not a fortune file
    ck_assert_int_eq(io_write_atomic(p, "skip me\n", 8), ERR_OK);
    rc = ds_fortunes_load(&f);
    unsetenv("ENGINE_DATA_ROOT");
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(f.n, 3);
    ck_assert_str_eq(f.texts[0], "a1");
    ck_assert_str_eq(f.sources[0], "alpha");
    ck_assert_str_eq(f.texts[2], "z2");
    ds_text_list_free(&f);

    setenv("ENGINE_DATA_ROOT", test_tmp_path("nothing_here"), 1);
    rc = ds_fortunes_load(&f);
    unsetenv("ENGINE_DATA_ROOT");
    test_expect_err(rc, ERR_DEPENDENCY, (const char *[]){"fortunes", "make deps", NULL});
}
END_TEST

static Suite *fortune_suite(void)
{
    Suite *s = suite_create("fortune");
    TCase *tc = tcase_create("fortune");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fortunes_real);
    tcase_add_test(tc, test_fortunes_separators);
    tcase_add_test(tc, test_fortunes_bad_files);
    tcase_add_test(tc, test_fortunes_data_root);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_main(fortune_suite());
}
