/*
 * test_util.c: see test_util.h.
 */
#include "tests/test_util.h"

#include "core/err.h"
#include "core/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

int test_main(Suite *s)
{
    test_tmpdir(); // made here, in the parent, so forked tests share it and it is removed once
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

bool check_close(const float *got, const float *want, int64_t n, double atol, double rtol,
                 const char *label)
{
    int64_t bad = 0;
    double maxdiff = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        bool ok = d <= atol + rtol * fabs((double)want[i]);
        if (isnan(got[i]) != isnan(want[i])) ok = false;
        if (isnan(got[i]) && isnan(want[i])) ok = true, d = 0;
        if (isinf(want[i]) && got[i] == want[i]) ok = true, d = 0;
        if (d > maxdiff || isnan(d)) maxdiff = d;
        if (!ok) {
            if (bad < 5)
                fprintf(stderr, "%s[%lld]: got %.8g want %.8g (diff %.3g) NOT OK\n", label,
                        (long long)i, got[i], want[i], d);
            bad++;
        }
    }
    if (bad)
        fprintf(stderr, "%s: %lld of %lld elements differ, max diff %.3g (atol %.1g rtol %.1g)\n",
                label, (long long)bad, (long long)n, maxdiff, atol, rtol);
    return bad == 0;
}

const char *fixture_path(const char *name)
{
    static char buf[4096];
    const char *root = getenv("ENGINE_ROOT");
    snprintf(buf, sizeof buf, "%s/tests/fixtures/%s", root ? root : ".", name);
    return buf;
}

static char tmp_dir[256];
static pid_t tmp_owner;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

// Removes the folder at exit, only in the process that made it (Check forks a child per test;
// a child that inherited the path must not delete it under its parent).
static void tmpdir_cleanup(void)
{
    if (tmp_dir[0] && getpid() == tmp_owner) nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *test_tmpdir(void)
{
    if (!tmp_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof tmp_dir, "%s/engine-test-XXXXXX", t ? t : "/tmp");
        if (!mkdtemp(tmp_dir)) {
            perror("mkdtemp");
            abort();
        }
        tmp_owner = getpid();
        atexit(tmpdir_cleanup);
    }
    return tmp_dir;
}

const char *test_tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", test_tmpdir(), name);
    return buf[k];
}

const char *test_write_file(const char *name, const void *data, size_t n)
{
    const char *p = test_tmp_path(name);
    ck_assert_int_eq(io_write_atomic(p, data, n), ERR_OK);
    return p;
}

void test_expect_err(int rc, int code, const char *const *needles)
{
    ck_assert_msg(rc == code, "rc %d (%s), expected %d (%s); msg: %s", rc, err_name(rc), code,
                  err_name(code), err_msg());
    for (; *needles; needles++)
        ck_assert_msg(strstr(err_msg(), *needles) != NULL, "err_msg lacks '%s': %s", *needles,
                      err_msg());
}
