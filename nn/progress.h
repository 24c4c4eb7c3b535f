/*
 * progress.h: the training progress bar every lab prints on stderr.
 *
 * One line per report:
 *     train  step 120/1000  12% | loss 2.3456 | 45.1 steps/s | 11.5k tok/s | ETA 0:19 | acc 0.91
 * with the rate averaged since the start (stable, and honest about a slow first step), the
 * items rate when the caller says how many items (tokens, examples) a step processes, the ETA
 * as (total - step) / rate, and an optional caller-formatted tail.
 *
 * Two modes, chosen by whether the stream is a terminal (or forced through NnProgressOpts):
 *   - TTY: the line is redrawn in place ("\r" + line + erase-to-end), at most 10 times a
 *     second, so a fast loop does not spend its time printing;
 *   - not a TTY (a pipe, a log file, CI): plain lines, one every `every` steps (default: 20
 *     lines per run) or every `interval` seconds (default 10), plus the first and the last
 *     step, so a log has a readable history and no carriage returns.
 * nn_progress_finish ends the line and prints a summary: steps, seconds, steps/s.
 *
 * Ownership: nn_progress_start returns a new object owned by the caller; nn_progress_finish
 * frees it. The stream in opts is borrowed. Errors: none (printing failures are ignored; a
 * progress bar must never stop training). Misuse (total < 1) is a bug (CHECK).
 *
 * Usage:
 *     NnProgress *pb = nn_progress_start(steps, "train");
 *     for (int64_t s = 0; s < steps; s++) {
 *         float loss = ...;
 *         nn_progress_update(pb, s + 1, loss, "lr %.2e", lr);   // extra_fmt may be NULL
 *     }
 *     nn_progress_finish(pb);
 */
#ifndef NN_PROGRESS_H
#define NN_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *out;              // NULL: stderr
    int tty;                // NN_PROGRESS_AUTO (0, by isatty), _PLAIN or _TTY
    int64_t every;          // plain mode: a line every `every` steps; 0: total / 20 (>= 1)
    double interval;        // plain mode: or after this many seconds; 0: 10 s
    int64_t items_per_step; // > 0: also print items/s (tokens, examples)
    const char *items_name; // unit of items ("tok", "ex"); NULL: "items"
} NnProgressOpts;

// Values for NnProgressOpts.tty.
#define NN_PROGRESS_AUTO 0  // isatty(fileno(out))
#define NN_PROGRESS_PLAIN 1 // plain lines
#define NN_PROGRESS_TTY 2   // redraw one line

typedef struct NnProgress NnProgress;

// Starts a bar for total_steps steps on stderr, mode chosen by isatty. label (copied) heads
// each line; NULL for none.
NnProgress *nn_progress_start(int64_t total_steps, const char *label);

// The same with options (opts may be NULL for the defaults).
NnProgress *nn_progress_start_opts(int64_t total_steps, const char *label,
                                   const NnProgressOpts *opts);

// Reports that `step` steps (1..total) are done, with the latest loss (NaN shows as "nan").
// extra_fmt (printf format, may be NULL) is appended to the line after " | ".
void nn_progress_update(NnProgress *p, int64_t step, float loss, const char *extra_fmt, ...)
    __attribute__((format(printf, 4, 5)));

// Prints the last state and a summary line, and frees p. nn_progress_finish(NULL) does nothing.
void nn_progress_finish(NnProgress *p);

// "1:02:03" or "2:03" for a number of seconds (buf of at least 16 chars); "?" if not finite.
const char *nn_format_duration(double seconds, char *buf, size_t len);

#endif
