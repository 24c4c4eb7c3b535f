/*
 * bench_util.h: the helpers every side-by-side benchmark in bench/ shares.
 *
 * Each benchmark is one program (bench/bench_<name>.c) that times this engine, then runs its
 * peer (a PyTorch or JavaScript script doing the same work) and prints a table of ratios. The
 * parts they have in common live here: a monotonic clock, the median of samples, running the
 * peer and reading its one `PEER {...}` line of JSON, the OpenMP wait policy handed to the
 * peer, paths under the repository and JSON number formatting. The Makefile links
 * bench/common/bench_util.o into every benchmark; nothing under bench/common is a program.
 *
 * Ownership: bench_run_peer returns a new JSON object owned by the caller (json_decref).
 * bench_omp_wait_policy, bench_blas_corename and bench_json_string return borrowed strings
 * (the environment's, OpenBLAS's or the object's: valid while those are). bench_repo_path and
 * bench_json_num write into the caller's buffer and return it (or a string literal).
 *
 * Errors: a peer that cannot be started or exits non-zero is an environment failure, not a
 * bug: bench_run_peer says so on stderr and returns NULL, and the benchmark goes on without
 * the peer's figures. NULL arguments and empty sample sets are bugs (CHECK).
 *
 * Usage:
 *     double t0 = bench_now();
 *     work();
 *     double dt = bench_now() - t0;
 *     char path[1024], cmd[1200];
 *     bench_repo_path(path, sizeof path, "bench/peers/mlp_torch.py");
 *     snprintf(cmd, sizeof cmd, "OMP_WAIT_POLICY=%s /usr/bin/python3 '%s' --quick",
 *              bench_omp_wait_policy(), path);
 *     json_t *peer = bench_run_peer(cmd);       // echoes the peer's output as it comes
 *     double theirs = bench_json_number(peer, "s_per_epoch");   // NAN when absent
 *     char buf[BENCH_NUM_BUF];
 *     printf("BENCH {\"ratio\":%s}\n", bench_json_num(buf, dt / theirs, 3));
 *     json_decref(peer);                        // NULL is fine
 */
#ifndef BENCH_COMMON_BENCH_UTIL_H
#define BENCH_COMMON_BENCH_UTIL_H

#include <jansson.h>
#include <stddef.h>

// Size of the buffer bench_json_num writes into (a benchmark's figures fit with room to spare).
#define BENCH_NUM_BUF 32

// Seconds on the monotonic clock (CLOCK_MONOTONIC) since an arbitrary start: for intervals.
double bench_now(void);

// The median of v[0..n), n >= 1 (the mean of the two middle values when n is even). Sorts v
// in place, ascending, so afterwards v[0] is the minimum.
double bench_median(double *v, int n);

// Runs the shell command `cmd` (popen) after printing "peer: <cmd>", echoes every line it
// writes to stdout as it comes (its stderr goes straight to ours), and returns the JSON object
// of the last line that starts with `PEER {` (the text after "PEER "), or NULL when there is
// none. Also NULL, with a message on stderr, when the command cannot be started or exits with
// a non-zero status or a signal; a `PEER {` line that is not valid JSON is reported on
// stderr and skipped. The result is owned by the caller: json_decref it.
json_t *bench_run_peer(const char *cmd);

// $OMP_WAIT_POLICY when it is set and non-empty, else "PASSIVE": what a peer using OpenMP
// (Debian's torch) gets, so its idle threads sleep instead of spinning on the core we share.
const char *bench_omp_wait_policy(void);

// OpenBLAS's name for the core type it runs kernels for ("Haswell", ...), or "?" when unknown.
const char *bench_blas_corename(void);

// Writes into buf (size bytes, truncating) the path of `path` in the repository: prefixed with
// "$ENGINE_ROOT/" when that is set and non-empty and path is relative, else path unchanged
// (relative to the current folder, which `make bench` sets to the repository). Returns buf.
const char *bench_repo_path(char *buf, size_t size, const char *path);

// The number under `key` in the JSON object o, or NAN when o is NULL, has no such key, or the
// value is not a number.
double bench_json_number(const json_t *o, const char *key);

// The string under `key` in o, or `fallback` when o is NULL or the value is not a string.
const char *bench_json_string(const json_t *o, const char *key, const char *fallback);

// v as a JSON number with `decimals` digits after the point, written into buf; or the literal
// "null" when v is NaN (a figure that was not measured). Returns buf or "null".
const char *bench_json_num(char buf[static BENCH_NUM_BUF], double v, int decimals);

#endif
