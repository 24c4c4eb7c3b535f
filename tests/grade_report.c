/*
 * grade_report.c: see grade_report.h.
 *
 * Check does not expose a suite's list of TCases, so the table is built from the results of
 * the run: every result carries the name of its TCase (tr_tcname) and whether it passed
 * (tr_rtype). An exercise's test count is the number of results with its name; rows keep the
 * order in which the suite ran them.
 */
#include "tests/grade_report.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *id; // borrowed from the TestResult (valid until srunner_free)
    int passed, tests;
} GradeRow;

// The NN of an id "wNN.name", or -1 when the name is not an exercise id.
static int week_of_id(const char *id)
{
    if (id[0] != 'w' || !isdigit((unsigned char)id[1]) || !isdigit((unsigned char)id[2]) ||
        id[3] != '.' || id[4] == '\0')
        return -1;
    return (id[1] - '0') * 10 + (id[2] - '0');
}

// The NN of a program named ".../test_weekNN", or -1.
static int week_of_program(const char *argv0)
{
    const char *p = argv0 ? strstr(argv0, "test_week") : NULL;
    if (!p) return -1;
    int w = atoi(p + 9);
    return isdigit((unsigned char)p[9]) ? w : -1;
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", (unsigned char)*s);
        else putchar(*s);
    }
    putchar('"');
}

static void rule(int w)
{
    printf("|");
    for (int i = 0; i < w + 2; i++) putchar('-');
    printf("|--------------|-------------|\n");
}

static void print_report(const GradeRow *rows, int n, int week)
{
    int w = (int)strlen("exercise");
    for (int i = 0; i < n; i++)
        if ((int)strlen(rows[i].id) > w) w = (int)strlen(rows[i].id);
    int passed = 0, tests = 0, total = n * GRADE_POINTS_PER_EXERCISE;
    double points = 0;

    printf("\nweek %02d: graded exercises\n", week < 0 ? 0 : week);
    printf("| %-*s | tests passed | points      |\n", w, "exercise");
    rule(w);
    for (int i = 0; i < n; i++) {
        double p = GRADE_POINTS_PER_EXERCISE * (double)rows[i].passed / rows[i].tests;
        printf("| %-*s | %5d / %-4d | %5.1f / %-3d |\n", w, rows[i].id, rows[i].passed,
               rows[i].tests, p, GRADE_POINTS_PER_EXERCISE);
        passed += rows[i].passed;
        tests += rows[i].tests;
        points += p;
    }
    rule(w);
    printf("| %-*s | %5d / %-4d | %5.1f / %-3d |\n", w, "total", passed, tests, points, total);

    printf("GRADE {\"week\":%d,\"points\":%.2f,\"total\":%d,\"exercises\":{", week, points, total);
    for (int i = 0; i < n; i++) {
        if (i) putchar(',');
        json_string(rows[i].id);
        printf(":{\"passed\":%d,\"tests\":%d}", rows[i].passed, rows[i].tests);
    }
    printf("}}\n");
    fflush(stdout);
}

int grade_main(Suite *s, int argc, char **argv)
{
    bool grade = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--grade") == 0) {
            grade = true;
        } else {
            fprintf(stderr, "usage: %s [--grade]\n", argv[0]);
            srunner_free(srunner_create(s)); // Check frees a suite through its runner
            return 2;
        }
    }
    // With --grade the table is the output: Check stays silent and each failure is listed
    // on stderr as file:line: exercise: message.
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, grade ? CK_SILENT : CK_NORMAL);
    int n_run = srunner_ntests_run(sr);
    int failed = srunner_ntests_failed(sr);
    if (!grade) {
        srunner_free(sr);
        return failed == 0 ? 0 : 1;
    }

    if (getenv("CK_RUN_CASE") || getenv("CK_RUN_SUITE") || getenv("CK_INCLUDE_TAGS") ||
        getenv("CK_EXCLUDE_TAGS"))
        fprintf(stderr, "grade: warning: a CK_RUN_*/CK_*_TAGS filter is set, so this score "
                        "covers only the tests it selected\n");

    // One row per TCase name, in the order the results came.
    TestResult **res = srunner_results(sr);
    GradeRow *rows = calloc((size_t)(n_run > 0 ? n_run : 1), sizeof *rows);
    if (!rows) {
        fprintf(stderr, "grade: out of memory\n");
        abort();
    }
    int n = 0, week = -1;
    for (int i = 0; i < n_run; i++) {
        const char *id = tr_tcname(res[i]);
        int r = 0;
        while (r < n && strcmp(rows[r].id, id) != 0) r++;
        if (r == n) {
            rows[n++].id = id;
            int w = week_of_id(id);
            if (w < 0)
                fprintf(stderr, "grade: warning: TCase \"%s\" is not an exercise id (wNN.name); "
                                "hint: name each graded TCase after its exercise\n", id);
            else if (week < 0)
                week = w;
            else if (w != week)
                fprintf(stderr, "grade: warning: TCase \"%s\" is not of week %02d\n", id, week);
        }
        rows[r].tests++;
        if (tr_rtype(res[i]) == CK_PASS)
            rows[r].passed++;
        else
            fprintf(stderr, "%s:%d: %s: %s\n", tr_lfile(res[i]), tr_lno(res[i]), id,
                    tr_msg(res[i]));
    }
    if (week < 0) week = week_of_program(argv[0]);
    print_report(rows, n, week);
    free(rows);
    free(res);
    srunner_free(sr);
    return 0;
}
