/*
 * test_util.h: helpers shared by every Check suite.
 *
 * Each test program builds one Check Suite and hands it to test_main, which runs it and exits
 * non-zero on any failure. To debug one test in gdb (no fork, one case):
 *     CK_FORK=no CK_RUN_CASE=softmax gdb --args build/debug/tests/core/test_ops
 *
 * check_close compares two float arrays with |a - b| <= atol + rtol * |b| and, on failure,
 * prints the first differing elements and the max difference, so a failing comparison says
 * where and by how much.
 */
#ifndef TESTS_TEST_UTIL_H
#define TESTS_TEST_UTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Runs the suite (CK_NORMAL output) and returns the process exit code (0 when all passed).
int test_main(Suite *s);

// True when every |got[i] - want[i]| <= atol + rtol * |want[i]| (NaN never matches).
// On failure prints `label`, up to 5 offending elements and the max abs difference.
bool check_close(const float *got, const float *want, int64_t n, double atol, double rtol,
                 const char *label);

// Path of a file under the repository's tests/fixtures folder (static buffer).
const char *fixture_path(const char *name);

// Path of a fresh temporary folder for this test process (created on first call).
const char *test_tmpdir(void);

// Path of `name` inside test_tmpdir(). The result lives in one of 4 rotating static buffers,
// so up to 4 paths can be held at once.
const char *test_tmp_path(const char *name);

// Writes n bytes to test_tmp_path(name) (atomically; the test fails if that fails) and
// returns the path.
const char *test_write_file(const char *name, const void *data, size_t n);

// Asserts that rc == code and that err_msg() contains every string of the NULL-terminated
// list `needles` (the file name, the field, the line...).
void test_expect_err(int rc, int code, const char *const *needles);

#endif
