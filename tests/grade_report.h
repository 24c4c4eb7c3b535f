/*
 * grade_report.h: runs a graded test suite and prints the score table (`make grade`).
 *
 * A graded test program (tests/graded/test_weekNN.c) has one Check TCase per exercise, named
 * exactly as the exercise id ("w02.cosine", see core/exercise.h). grade_main runs the suite
 * (forked, unless CK_FORK=no) and:
 *   - without --grade, behaves like test_main: Check's normal output, exit 0 only if every
 *     test passed;
 *   - with --grade, also prints a table of exercise | tests passed | points, where each
 *     exercise is worth 10 points scaled by the fraction of its tests that passed, a total line,
 *     and one machine-readable line for tools/grade.sh and tools/check_handout_honest.sh:
 *       GRADE {"week":2,"points":15.00,"total":20,"exercises":{"w02.cosine":{"passed":3,
 *              "tests":3},"w02.softmax":{"passed":0,"tests":2}}}
 *     (on one line). The exit status is then 0 whenever the report was printed, so a partial
 *     score is not a failed command.
 * The week is read from the exercise ids (wNN), or from the program name test_weekNN when
 * the suite ran no test.
 *
 * Ownership: grade_main takes the suite (the SRunner it makes frees it).
 *
 * Usage (the end of tests/graded/test_week02.c):
 *     static Suite *week02_suite(void)
 *     {
 *         Suite *s = suite_create("week02");
 *         TCase *tc = tcase_create("w02.cosine");     // the exercise id
 *         tcase_add_test(tc, test_cosine_orthogonal);
 *         tcase_add_test(tc, test_cosine_zero_vector);
 *         suite_add_tcase(s, tc);
 *         return s;
 *     }
 *     int main(int argc, char **argv) { return grade_main(week02_suite(), argc, argv); }
 */
#ifndef TESTS_GRADE_REPORT_H
#define TESTS_GRADE_REPORT_H

#include <check.h>

// Points one exercise is worth when all its tests pass.
#define GRADE_POINTS_PER_EXERCISE 10

// Runs the suite; with --grade in argv prints the score table and the GRADE line to stdout.
// Returns the process exit code (see the header comment).
int grade_main(Suite *s, int argc, char **argv);

#endif
