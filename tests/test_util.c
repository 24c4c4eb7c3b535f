/*
 * test_util.c: see test_util.h.
 */
#include "tests/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int test_main(Suite *s)
{
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

const char *test_tmpdir(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/engine-test-XXXXXX", t ? t : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            abort();
        }
    }
    return dir;
}
