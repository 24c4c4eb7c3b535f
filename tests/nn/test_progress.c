/*
 * test_progress.c: the training-loop helpers: nn/progress.c (the progress bar in plain and TTY
 * modes, read back from a file) and nn/metrics.c (JSONL lines parsed with jansson, append,
 * bad records, curves plotted from a log).
 */
#include "nn/metrics.h"
#include "nn/progress.h"
#include "tests/test_util.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *tmp(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", test_tmpdir(), name);
    return buf;
}

// The whole content of a FILE * written so far (malloc'd).
static char *slurp(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    char *s = malloc((size_t)n + 1);
    rewind(f);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    return s;
}

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

// ---------------------------------------------------------------------------
// Progress bar
// ---------------------------------------------------------------------------

START_TEST(test_progress_plain_lines)
{
    FILE *f = tmpfile();
    NnProgressOpts o = {.out = f, .tty = NN_PROGRESS_PLAIN, .every = 25, .interval = 1e6,
                        .items_per_step = 64, .items_name = "ex"};
    NnProgress *p = nn_progress_start_opts(100, "train", &o);
    for (int s = 1; s <= 100; s++) nn_progress_update(p, s, 2.0f / (float)s, "acc %.2f", 0.5);
    nn_progress_finish(p);
    char *out = slurp(f);
    fclose(f);
    ck_assert_msg(!strchr(out, '\r') && !strchr(out, '\x1b'), "control characters in a log");
    // Lines at steps 1, 25, 50, 75, 100, then the summary.
    ck_assert_int_eq(count_char(out, '\n'), 6);
    const int steps[5] = {1, 25, 50, 75, 100};
    char *line = out;
    for (int i = 0; i < 5; i++) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        long long st, tot;
        float loss;
        ck_assert_msg(sscanf(line, "train  step %lld/%lld", &st, &tot) == 2, "line: %s", line);
        ck_assert(st == steps[i] && tot == 100);
        char *l = strstr(line, "| loss ");
        ck_assert(l && sscanf(l, "| loss %f", &loss) == 1);
        ck_assert(fabsf(loss - 2.0f / (float)steps[i]) < 1e-4f);
        ck_assert_msg(strstr(line, " steps/s") && strstr(line, " ex/s") && strstr(line, "| ETA "),
                      "line: %s", line);
        ck_assert(strstr(line, "| acc 0.50"));
        line = nl + 1;
    }
    ck_assert_msg(strstr(line, "train  done: 100 steps in "), "summary: %s", line);
    free(out);
}
END_TEST

START_TEST(test_progress_tty_redraws_one_line)
{
    FILE *f = tmpfile();
    NnProgress *p = nn_progress_start_opts(
        500, NULL, &(NnProgressOpts){.out = f, .tty = NN_PROGRESS_TTY});
    for (int s = 1; s <= 500; s++) nn_progress_update(p, s, 1.0f, NULL);
    nn_progress_finish(p);
    char *out = slurp(f);
    fclose(f);
    // Redrawn in place: carriage returns, throttled to far fewer than 500 updates, and one
    // line ending from the finish before the summary.
    int cr = count_char(out, '\r');
    ck_assert_msg(cr >= 2 && cr < 100, "%d redraws", cr);
    ck_assert_int_eq(count_char(out, '\n'), 2);
    ck_assert(strstr(out, "\x1b[K"));
    ck_assert(strstr(out, "step 500/500 100%"));
    ck_assert(strstr(out, "done: 500 steps"));
    free(out);
}
END_TEST

START_TEST(test_format_duration)
{
    char b[16];
    ck_assert_str_eq(nn_format_duration(0, b, sizeof b), "0:00");
    ck_assert_str_eq(nn_format_duration(125.4, b, sizeof b), "2:05");
    ck_assert_str_eq(nn_format_duration(3723, b, sizeof b), "1:02:03");
    ck_assert_str_eq(nn_format_duration(NAN, b, sizeof b), "?");
}
END_TEST

// ---------------------------------------------------------------------------
// Metrics log
// ---------------------------------------------------------------------------

START_TEST(test_log_jsonl_parses)
{
    const char *path = tmp("logs/metrics.jsonl"); // the folder is created
    NnLog *log;
    ck_assert_msg(nn_log_open(path, false, &log) == ERR_OK, "%s", err_msg());
    for (int s = 0; s < 3; s++)
        ck_assert(nn_log_metrics(log, s * 10, NULL, 2, (const char *[]){"loss", "lr"},
                                 (double[]){1.0 / (s + 1), 3e-4}) == ERR_OK);
    ck_assert(nn_log_metrics(log, 30, "val", 2, (const char *[]){"loss", "we\"ird"},
                             (double[]){NAN, 0.25}) == ERR_OK);
    ck_assert(nn_log_write(log, "{\"step\":%d,\"note\":\"%s\"}", 40, "ok") == ERR_OK);
    // Not an object, or two lines: rejected, nothing written.
    ck_assert_int_eq(nn_log_write(log, "step=%d", 50), ERR_INVALID);
    ck_assert_int_eq(nn_log_write(log, "{\"a\":1}\n{\"b\":2}"), ERR_INVALID);
    ck_assert_int_eq(nn_log_lines(log), 5);
    ck_assert(nn_log_close(log) == ERR_OK);

    FILE *f = fopen(path, "r");
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        ck_assert_msg(o && json_is_object(o), "line %d does not parse: %s", n + 1, je.text);
        ck_assert(json_is_integer(json_object_get(o, "step")));
        if (n < 3) {
            ck_assert(fabs(json_number_value(json_object_get(o, "loss")) - 1.0 / (n + 1)) < 1e-7);
            ck_assert(fabs(json_number_value(json_object_get(o, "lr")) - 3e-4) < 1e-12);
        } else if (n == 3) {
            ck_assert_str_eq(json_string_value(json_object_get(o, "split")), "val");
            ck_assert(json_is_null(json_object_get(o, "loss"))); // NaN -> null
            ck_assert(json_number_value(json_object_get(o, "we\"ird")) == 0.25);
        }
        json_decref(o);
        n++;
    }
    fclose(f);
    ck_assert_int_eq(n, 5);

    // Append keeps the earlier lines.
    ck_assert(nn_log_open(path, true, &log) == ERR_OK);
    ck_assert(nn_log_write(log, "{\"step\":60}") == ERR_OK);
    ck_assert(nn_log_close(log) == ERR_OK);
    f = fopen(path, "r");
    n = 0;
    while (fgets(line, sizeof line, f)) n++;
    fclose(f);
    ck_assert_int_eq(n, 6);
    ck_assert(nn_log_close(NULL) == ERR_OK);
}
END_TEST

START_TEST(test_log_open_fails_cleanly)
{
    NnLog *log = (NnLog *)1;
    ck_assert(nn_log_open("/proc/nonexistent-dir/x.jsonl", false, &log) < 0);
    ck_assert(log == NULL);
}
END_TEST

static bool is_png(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    unsigned char m[8] = {0};
    size_t n = fread(m, 1, 8, f);
    fclose(f);
    return n == 8 && memcmp(m, "\x89PNG\r\n\x1a\n", 8) == 0;
}

START_TEST(test_curves_from_log)
{
    char log_path[512]; // tmp() returns a static buffer: keep a copy
    snprintf(log_path, sizeof log_path, "%s", tmp("curves.jsonl"));
    NnLog *log;
    ck_assert(nn_log_open(log_path, false, &log) == ERR_OK);
    for (int s = 0; s < 50; s++) {
        nn_log_metrics(log, s, "train", 1, (const char *[]){"loss"}, (double[]){exp(-s / 10.0)});
        if (s % 10 == 0)
            nn_log_metrics(log, s, "val", 2, (const char *[]){"loss", "acc"},
                           (double[]){exp(-s / 12.0), s / 50.0});
    }
    ck_assert(nn_log_close(log) == ERR_OK);
    char png[512];
    snprintf(png, sizeof png, "%s", tmp("loss.png"));
    int rc = nn_curves_plot_jsonl(png, log_path, "step", (const char *[]){"loss", "acc"}, 2,
                                  "val", "Validation", false);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    ck_assert(is_png(png));
    // A key nobody logged: nothing to draw.
    ck_assert_int_eq(nn_curves_plot_jsonl(png, log_path, "step", (const char *[]){"bleu"}, 1,
                                          NULL, "x", false), ERR_INVALID);
    // The thin wrapper.
    float y[3] = {3, 2, 1};
    snprintf(png, sizeof png, "%s", tmp("direct.png"));
    ck_assert(nn_curves_plot(png, "t", "loss", &(PlotSeries){.label = "a", .y = y, .n = 3}, 1,
                             true) == ERR_OK);
    ck_assert(is_png(png));
    // A corrupt line is reported with its number.
    FILE *f = fopen(log_path, "a");
    fputs("{\"step\": 51, \"loss\": 0.1\n", f);
    fclose(f);
    ck_assert_int_eq(nn_curves_plot_jsonl(png, log_path, "step", (const char *[]){"loss"}, 1,
                                          NULL, "x", false), ERR_FORMAT);
    ck_assert_msg(strstr(err_msg(), ":56:"), "message: %s", err_msg());
}
END_TEST

static Suite *progress_suite(void)
{
    Suite *s = suite_create("nn_progress");
    TCase *tc = tcase_create("progress");
    tcase_add_test(tc, test_progress_plain_lines);
    tcase_add_test(tc, test_progress_tty_redraws_one_line);
    tcase_add_test(tc, test_format_duration);
    tcase_add_test(tc, test_log_jsonl_parses);
    tcase_add_test(tc, test_log_open_fails_cleanly);
    tcase_add_test(tc, test_curves_from_log);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(progress_suite()); }
