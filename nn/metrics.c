/*
 * metrics.c: the JSONL metric log and curve plots (see metrics.h).
 *
 * Records are built with jansson, so keys and strings are escaped correctly and reals are
 * printed with a fixed precision; reading a log back also uses jansson.
 */
#include "nn/metrics.h"

#include "core/err.h"
#include "core/io.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct NnLog {
    FILE *fp;
    char *path; // owned copy, for error messages
    int64_t lines;
};

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

// The folder part of path ("out" for "out/m.jsonl"), created if missing.
static int make_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return ERR_OK;
    size_t n = (size_t)(slash - path);
    char *dir = xmalloc(n + 1);
    memcpy(dir, path, n);
    dir[n] = '\0';
    int rc = io_mkdir_p(dir);
    free(dir);
    return rc;
}

int nn_log_open(const char *path, bool append, NnLog **out)
{
    *out = NULL;
    int rc = make_parent(path);
    if (rc != ERR_OK) return rc;
    FILE *fp = fopen(path, append ? "a" : "w");
    if (!fp)
        return err_set(ERR_IO, "nn_log_open %s: %s; hint: is the folder writable?", path,
                       strerror(errno));
    NnLog *log = xcalloc(1, sizeof *log);
    log->fp = fp;
    log->path = xstrdup(path);
    *out = log;
    return ERR_OK;
}

// One whole line with one fwrite and a flush (see "Durability" in metrics.h).
static int write_line(NnLog *log, const char *s, size_t n)
{
    if (fwrite(s, 1, n, log->fp) != n || fputc('\n', log->fp) == EOF || fflush(log->fp) != 0)
        return err_set(ERR_IO, "%s: write of line %lld failed: %s; hint: is the disk full?",
                       log->path, (long long)log->lines + 1, strerror(errno));
    log->lines++;
    return ERR_OK;
}

int nn_log_write(NnLog *log, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    CHECK(n >= 0, "nn_log_write: out of memory formatting a line");
    int rc;
    if (n < 2 || s[0] != '{' || s[n - 1] != '}' || strchr(s, '\n'))
        rc = err_set(ERR_INVALID, "%s: record '%.60s' is not one JSON object on one line; "
                     "hint: the format must start with '{' and end with '}'", log->path, s);
    else
        rc = write_line(log, s, (size_t)n);
    free(s);
    return rc;
}

int nn_log_metrics(NnLog *log, int64_t step, const char *split, int n, const char *const *keys,
                   const double *values)
{
    CHECK(n >= 0 && (n == 0 || (keys && values)), "nn_log_metrics: %d keys", n);
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer((json_int_t)step));
    if (split) json_object_set_new(o, "split", json_string(split));
    for (int i = 0; i < n; i++) {
        // json_real refuses NaN and Inf; JSON has no spelling for them, so they become null.
        json_t *v = isfinite(values[i]) ? json_real(values[i]) : json_null();
        if (!keys[i] || json_object_set_new(o, keys[i], v) != 0) {
            json_decref(o);
            return err_set(ERR_INVALID, "%s: metric key %d is NULL or not valid UTF-8", log->path,
                           i);
        }
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
    json_decref(o);
    if (!s) return err_set(ERR_INVALID, "%s: cannot encode a metrics record", log->path);
    int rc = write_line(log, s, strlen(s));
    free(s);
    return rc;
}

int64_t nn_log_lines(const NnLog *log) { return log->lines; }

int nn_log_close(NnLog *log)
{
    if (!log) return ERR_OK;
    int rc = ERR_OK;
    if (fflush(log->fp) != 0 || fsync(fileno(log->fp)) != 0)
        rc = err_set(ERR_IO, "%s: flush at close: %s", log->path, strerror(errno));
    if (fclose(log->fp) != 0 && rc == ERR_OK)
        rc = err_set(ERR_IO, "%s: close: %s", log->path, strerror(errno));
    free(log->path);
    free(log);
    return rc;
}

// ---------------------------------------------------------------------------
// Curves
// ---------------------------------------------------------------------------

int nn_curves_plot(const char *png_path, const char *title, const char *ylabel,
                   const PlotSeries *series, int n, bool log_y)
{
    PlotOpts o = {.title = title, .xlabel = "step", .ylabel = ylabel, .log_y = log_y};
    return plot_lines(png_path, series, n, &o);
}

// A growable list of (x, y) points for one key.
typedef struct {
    float *x, *y;
    int64_t n, cap;
} Points;

static void points_push(Points *p, float x, float y)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 256;
        p->x = xrealloc(p->x, (size_t)p->cap * sizeof(float));
        p->y = xrealloc(p->y, (size_t)p->cap * sizeof(float));
    }
    p->x[p->n] = x;
    p->y[p->n] = y;
    p->n++;
}

// Reads every line of the log into pts[0..n) (one list per key).
static int read_points(const char *jsonl_path, const char *x_key, const char *const *keys,
                       int n, const char *split, Points *pts)
{
    unsigned char *data;
    size_t len;
    int rc = io_read_all(jsonl_path, &data, &len);
    if (rc != ERR_OK) return rc;
    char *line = (char *)data;
    for (int64_t lineno = 1; rc == ERR_OK && line < (char *)data + len; lineno++) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        char *next = nl ? nl + 1 : (char *)data + len;
        if (strspn(line, " \t\r") == strlen(line)) { // a blank line (or the trailing one)
            line = next;
            continue;
        }
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o || !json_is_object(o)) {
            rc = err_set(ERR_FORMAT, "%s:%lld: not a JSON object (%s); hint: each line of a "
                         "JSONL log must be one object", jsonl_path, (long long)lineno,
                         o ? "another JSON type" : je.text);
        } else {
            json_t *xv = json_object_get(o, x_key);
            json_t *sv = json_object_get(o, "split");
            bool keep = json_is_number(xv) &&
                        (!split || (json_is_string(sv) && !strcmp(json_string_value(sv), split)));
            for (int k = 0; keep && k < n; k++) {
                json_t *yv = json_object_get(o, keys[k]);
                if (json_is_number(yv))
                    points_push(&pts[k], (float)json_number_value(xv),
                                (float)json_number_value(yv));
            }
        }
        json_decref(o);
        line = next;
    }
    free(data);
    return rc;
}

int nn_curves_plot_jsonl(const char *png_path, const char *jsonl_path, const char *x_key,
                         const char *const *keys, int n, const char *split, const char *title,
                         bool log_y)
{
    CHECK(n >= 1 && keys && x_key, "nn_curves_plot_jsonl: %d keys", n);
    Points *pts = xcalloc((size_t)n, sizeof *pts);
    int rc = read_points(jsonl_path, x_key, keys, n, split, pts);
    if (rc == ERR_OK) {
        PlotSeries *s = xcalloc((size_t)n, sizeof *s);
        int n_s = 0; // keys that never appear are left out of the chart
        for (int k = 0; k < n; k++)
            if (pts[k].n > 0)
                s[n_s++] = (PlotSeries){.label = keys[k], .x = pts[k].x, .y = pts[k].y,
                                        .n = pts[k].n};
        if (n_s == 0)
            rc = err_set(ERR_INVALID, "%s: no line has \"%s\" and the keys asked for%s%s; hint: "
                         "check the key names", jsonl_path, x_key, split ? " with split " : "",
                         split ? split : "");
        else
            rc = plot_lines(png_path, s, n_s,
                            &(PlotOpts){.title = title, .xlabel = x_key, .log_y = log_y});
        free(s);
    }
    for (int k = 0; k < n; k++) {
        free(pts[k].x);
        free(pts[k].y);
    }
    free(pts);
    return rc;
}
