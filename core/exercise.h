/*
 * exercise.h: how graded exercises are marked in the reference source.
 *
 * An exercise is a region of library or lab code, between two marker comments:
 *
 *     float nn_cosine(const float *a, const float *b, int64_t n)
 *     {
 *         // EXERCISE(w02.cosine): return dot(a, b) / (|a| |b|), and 0 when either
 *         // vector is all zeros. Accumulate in double.
 *         // STUB: exercise_stub("w02.cosine"); return NAN;
 *         double dot = 0, na = 0, nb = 0;
 *         ...the reference solution...
 *         // END EXERCISE
 *     }
 *
 * `make handout` (tools/handout.c) writes a student copy of the repository in which each
 * region keeps its EXERCISE comment (the instructions) and its STUB line, uncommented, in
 * place of the solution; everything else is copied unchanged. The stub compiles, reports
 * "not implemented" once, and returns a value that makes the graded tests fail.
 * The id is "wNN.name": week NN, so `make handout WEEKS=3` stubs week 3 only.
 *
 * The graded tests (tests/graded/test_weekNN.c) use one Check TCase per exercise id, so
 * `make grade WEEK=N` can print a table of exercise, tests passed and points.
 */
#ifndef CORE_EXERCISE_H
#define CORE_EXERCISE_H

// Called by a handout stub: prints "exercise <id>: not implemented (handout stub)" to stderr
// the first time each id is seen. Never called in the reference build.
void exercise_stub(const char *id);

#endif
