/*
 * metrics.h: metric logging to a JSONL file, and loss/accuracy curves as PNG.
 *
 * A training run appends one JSON object per line to its log:
 *     {"step":100,"loss":2.3456,"lr":0.0003}
 *     {"step":100,"split":"val","loss":2.5012,"acc":0.4125}
 * JSON Lines because every tool reads it (jq, pandas.read_json(lines=True), a text editor),
 * and because appending a line is the natural durable write for a long run.
 *
 * Durability (a deliberate exception to core/io.h's write-to-temp-then-rename): a log grows
 * while the run goes on, and an atomic write at close would lose every line if the run
 * crashed. So each line is formatted whole and written with one fwrite and a fflush: after a
 * crash of the program the file holds every line written before it, and at most the last line
 * can be cut (on a power loss). nn_log_close fsyncs. Opening with append = true continues an
 * existing log (a resumed run); append = false truncates it.
 *
 * Values that JSON cannot hold (NaN, Inf) are written as null, so every line stays valid JSON.
 *
 * Curves. nn_curves_plot draws series as a PNG (a thin wrapper over core/plot.h's plot_lines),
 * and nn_curves_plot_jsonl reads them back from a log: for each wanted key, the (x_key, key)
 * pairs of every line that has both (filtered by an optional "split" value), so a lab logs
 * during training and plots at the end, or a student re-plots an old run.
 *
 * Ownership: NnLog is owned by the caller of nn_log_open and freed by nn_log_close. Strings are
 * borrowed for the call. Errors: environment errors (ERR_IO, ERR_FORMAT for a malformed log
 * line, ERR_INVALID for a bad record or nothing to plot) with err_msg() set.
 *
 * Usage:
 *     NnLog *log;
 *     if (nn_log_open("out/metrics.jsonl", false, &log) != ERR_OK) die(err_msg());
 *     nn_log_metrics(log, step, NULL, 2, (const char *[]){"loss", "lr"},
 *                    (double[]){loss, lr});
 *     nn_log_write(log, "{\"step\":%lld,\"split\":\"val\",\"acc\":%.4f}", (long long)step, acc);
 *     nn_log_close(log);
 *     nn_curves_plot_jsonl("out/loss.png", "out/metrics.jsonl", "step",
 *                          (const char *[]){"loss"}, 1, NULL, "Training loss", true);
 */
#ifndef NN_METRICS_H
#define NN_METRICS_H

#include "core/err.h"
#include "core/plot.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct NnLog NnLog;

// Opens (creating it and its folder if needed) a JSONL log. On success *out is owned by the
// caller (nn_log_close). Returns ERR_OK or ERR_IO.
int nn_log_open(const char *path, bool append, NnLog **out);

// Writes one line from a printf format that must produce one JSON object: it must start with
// '{', end with '}' and contain no newline, else ERR_INVALID and nothing is written. Returns
// ERR_OK or ERR_IO / ERR_INVALID.
int nn_log_write(NnLog *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Writes {"step":step,"split":split,"k0":v0,...}: split may be NULL (left out); keys are
// written as JSON strings (escaped), values with 8 significant digits, NaN/Inf as null.
int nn_log_metrics(NnLog *log, int64_t step, const char *split, int n, const char *const *keys,
                   const double *values);

// Lines written through this handle.
int64_t nn_log_lines(const NnLog *log);

// Flushes, fsyncs and closes; frees log. Returns ERR_OK or ERR_IO (the log is freed anyway).
// nn_log_close(NULL) returns ERR_OK.
int nn_log_close(NnLog *log);

// Line chart of n series into a PNG (plot_lines with x label "step"); log_y for a loss that
// falls over decades. Returns ERR_OK, ERR_INVALID (nothing to draw) or ERR_IO.
int nn_curves_plot(const char *png_path, const char *title, const char *ylabel,
                   const PlotSeries *series, int n, bool log_y);

// Reads a JSONL log and plots, for each of the n keys, the points (x_key, key) of the lines
// that hold both as numbers (null values skipped), and, when split is not NULL, whose "split"
// equals it. Lines that are not JSON objects are ERR_FORMAT naming the file and line.
int nn_curves_plot_jsonl(const char *png_path, const char *jsonl_path, const char *x_key,
                         const char *const *keys, int n, const char *split, const char *title,
                         bool log_y);

#endif
