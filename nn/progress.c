/*
 * progress.c: the progress bar (see progress.h).
 *
 * Each update formats the whole line into a buffer and writes it with one fputs + fflush, so
 * lines from a bar never interleave half-way with other output on the same stream.
 */
#include "nn/progress.h"

#include "core/err.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_CHARS 512
#define TTY_MIN_INTERVAL 0.1 // seconds between two redraws: at most 10 a second

struct NnProgress {
    FILE *out;
    bool tty;
    int64_t total;
    int64_t every;
    double interval;
    int64_t items_per_step;
    char items_name[16];
    char label[48];
    double t_start;     // seconds (monotonic) at start
    double t_last;      // when the last line was written
    int64_t last_step;  // step of the last line written (0: none yet)
    int64_t step;       // latest step reported
    float loss;         // latest loss
    char extra[160];    // latest caller tail
    bool pending;       // the latest update has not been drawn (TTY throttling)
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// 11500 -> "11.5k", 2.3e6 -> "2.30M": rates stay short whatever their scale.
static void format_rate(char *buf, size_t len, double r)
{
    if (r >= 1e6) snprintf(buf, len, "%.2fM", r / 1e6);
    else if (r >= 1e4) snprintf(buf, len, "%.1fk", r / 1e3);
    else if (r >= 100) snprintf(buf, len, "%.0f", r);
    else snprintf(buf, len, "%.2f", r);
}

const char *nn_format_duration(double seconds, char *buf, size_t len)
{
    if (!isfinite(seconds) || seconds < 0 || seconds > 1e9) {
        snprintf(buf, len, "?");
        return buf;
    }
    long long s = (long long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, len, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, len, "%lld:%02lld", s / 60, s % 60);
    return buf;
}

// The report line for the current state, without "\r" or "\n".
static void format_line(const NnProgress *p, double now, char *line, size_t len)
{
    double el = now - p->t_start;
    // The rate over the whole run so far; until time is measurable there is none.
    double rate = el > 1e-6 ? (double)p->step / el : NAN;
    char rs[32] = "?", items[80] = "", eta[24];
    if (isfinite(rate)) format_rate(rs, sizeof rs, rate);
    if (p->items_per_step > 0 && isfinite(rate)) {
        char is[32];
        format_rate(is, sizeof is, rate * (double)p->items_per_step);
        snprintf(items, sizeof items, " | %s %s/s", is, p->items_name);
    }
    nn_format_duration(isfinite(rate) && rate > 0 ? (double)(p->total - p->step) / rate : NAN,
                       eta, sizeof eta);
    int pct = (int)(100.0 * (double)p->step / (double)p->total);
    snprintf(line, len, "%s%sstep %lld/%lld %3d%% | loss %.4f | %s steps/s%s | ETA %s%s%s",
             p->label, p->label[0] ? "  " : "", (long long)p->step, (long long)p->total, pct,
             (double)p->loss, rs, items, eta, p->extra[0] ? " | " : "", p->extra);
}

static void draw(NnProgress *p, double now)
{
    char line[LINE_MAX_CHARS];
    format_line(p, now, line, sizeof line);
    if (p->tty) fprintf(p->out, "\r%s\x1b[K", line); // carriage return, erase to end of line
    else fprintf(p->out, "%s\n", line);
    fflush(p->out);
    p->t_last = now;
    p->last_step = p->step;
    p->pending = false;
}

// ---------------------------------------------------------------------------
// Public
// ---------------------------------------------------------------------------

NnProgress *nn_progress_start_opts(int64_t total_steps, const char *label,
                                   const NnProgressOpts *opts)
{
    CHECK(total_steps >= 1, "nn_progress_start: total_steps = %lld must be >= 1",
          (long long)total_steps);
    NnProgressOpts o = opts ? *opts : (NnProgressOpts){0};
    NnProgress *p = xcalloc(1, sizeof *p);
    p->out = o.out ? o.out : stderr;
    p->tty = o.tty == NN_PROGRESS_TTY ||
             (o.tty == NN_PROGRESS_AUTO && isatty(fileno(p->out)) == 1);
    p->total = total_steps;
    p->every = o.every > 0 ? o.every : (total_steps / 20 > 0 ? total_steps / 20 : 1);
    p->interval = o.interval > 0 ? o.interval : 10.0;
    p->items_per_step = o.items_per_step;
    snprintf(p->items_name, sizeof p->items_name, "%s", o.items_name ? o.items_name : "items");
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->t_start = p->t_last = now_seconds();
    p->loss = NAN;
    return p;
}

NnProgress *nn_progress_start(int64_t total_steps, const char *label)
{
    return nn_progress_start_opts(total_steps, label, NULL);
}

void nn_progress_update(NnProgress *p, int64_t step, float loss, const char *extra_fmt, ...)
{
    CHECK(step >= 0, "nn_progress_update: step %lld", (long long)step);
    p->step = step;
    p->loss = loss;
    p->extra[0] = '\0';
    if (extra_fmt) {
        va_list ap;
        va_start(ap, extra_fmt);
        vsnprintf(p->extra, sizeof p->extra, extra_fmt, ap);
        va_end(ap);
    }
    p->pending = true;
    double now = now_seconds();
    bool first = p->last_step == 0, last = step >= p->total;
    bool due;
    if (p->tty) due = first || last || now - p->t_last >= TTY_MIN_INTERVAL;
    else // crossing a multiple of `every` (steps 25, 50, ... whatever the first step was)
        due = first || last || step / p->every > p->last_step / p->every ||
              now - p->t_last >= p->interval;
    if (due) draw(p, now);
}

void nn_progress_finish(NnProgress *p)
{
    if (!p) return;
    double now = now_seconds();
    if (p->pending) draw(p, now);
    if (p->tty && p->last_step > 0) fputc('\n', p->out);
    double el = now - p->t_start;
    char dur[24], rs[32] = "?";
    if (el > 1e-6) format_rate(rs, sizeof rs, (double)p->step / el);
    fprintf(p->out, "%s%sdone: %lld steps in %s (%.1f s, %s steps/s)\n", p->label,
            p->label[0] ? "  " : "", (long long)p->step, nn_format_duration(el, dur, sizeof dur),
            el, rs);
    fflush(p->out);
    free(p);
}
