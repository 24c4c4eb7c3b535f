/*
 * bench_util.c: the helpers the benchmarks share (see bench_util.h for the contract).
 */
#include "bench/common/bench_util.h"

#include "core/err.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

// ---------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    CHECK(v != NULL && n >= 1, "bench_median: need at least one value (n = %d)", n);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// ---------------------------------------------------------------------------
// The peer
// ---------------------------------------------------------------------------

json_t *bench_run_peer(const char *cmd)
{
    CHECK(cmd != NULL, "bench_run_peer: cmd is NULL");
    const char *me = program_invocation_short_name; // "bench_mlp": who is speaking on stderr
    printf("peer: %s\n", cmd);
    fflush(stdout); // our lines first: the peer's output reaches stdout only through the echo
    FILE *f = popen(cmd, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot start the peer (%s): %s\n", me, strerror(errno), cmd);
        return NULL;
    }
    json_t *last = NULL;
    char *line = NULL; // getline grows it: a PEER line can be long (arrays of timings)
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        // Flushed line by line, so a peer that runs for minutes shows its progress live.
        fwrite(line, 1, (size_t)len, stdout);
        fflush(stdout);
        if (strncmp(line, "PEER {", 6) != 0) continue;
        // The text starts with '{', so what parses is an object.
        json_error_t jerr;
        json_t *o = json_loads(line + 5, 0, &jerr);
        if (!o) {
            fprintf(stderr, "%s: the peer's PEER line is not valid JSON (column %d: %s); ignored\n",
                    me, jerr.column, jerr.text);
            continue;
        }
        json_decref(last); // a later PEER line supersedes an earlier one
        last = o;
    }
    free(line);
    int status = pclose(f);
    if (status == 0) return last;
    json_decref(last);
    if (status == -1)
        fprintf(stderr, "%s: waiting for the peer failed (%s): %s\n", me, strerror(errno), cmd);
    else if (WIFSIGNALED(status))
        fprintf(stderr, "%s: the peer was killed by signal %d: %s\n", me, WTERMSIG(status), cmd);
    else
        fprintf(stderr, "%s: the peer exited with status %d: %s\n", me, WEXITSTATUS(status), cmd);
    return NULL;
}

const char *bench_omp_wait_policy(void)
{
    const char *wp = getenv("OMP_WAIT_POLICY");
    return wp && *wp ? wp : "PASSIVE";
}

const char *bench_blas_corename(void)
{
    const char *core = openblas_get_corename();
    return core ? core : "?";
}

const char *bench_repo_path(char *buf, size_t size, const char *path)
{
    CHECK(buf != NULL && size > 0 && path != NULL, "bench_repo_path: NULL buffer or path");
    const char *root = getenv("ENGINE_ROOT");
    bool prefix = root && *root && path[0] != '/';
    snprintf(buf, size, "%s%s%s", prefix ? root : "", prefix ? "/" : "", path);
    return buf;
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

double bench_json_number(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

const char *bench_json_string(const json_t *o, const char *key, const char *fallback)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : fallback;
}

const char *bench_json_num(char buf[static BENCH_NUM_BUF], double v, int decimals)
{
    if (isnan(v)) return "null";
    snprintf(buf, BENCH_NUM_BUF, "%.*f", decimals, v);
    return buf;
}
