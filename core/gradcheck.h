/*
 * gradcheck.h: checks an op's backward against central finite differences.
 *
 * Given a function f that builds an output from input tensors, the checker draws a random
 * upstream gradient r (seeded) and compares, for every element x_i of every float input:
 *     analytic:  d/dx_i sum(f(x) * r)   from graph_backward_with(out, r)
 *     numeric:   (L(x + h e_i) - L(x - h e_i)) / 2h,   L(x) = sum(f(x) * r) accumulated in double
 * A pair passes when |analytic - numeric| <= atol + rtol * |numeric|.
 *
 * Kinks. At a point where f is not differentiable (relu at 0, max at a tie) the two one-sided
 * slopes (L(x+h) - L(x))/h and (L(x) - L(x-h))/h disagree by far more than curvature explains.
 * Such elements are skipped and counted in `kinks`; a test should assert that few are.
 *
 * Inputs must be leaf tensors in a memory the function does not reset (their data is perturbed
 * in place and restored); their grads are overwritten. f must be deterministic (a dropout must
 * re-seed its Rng inside f).
 *
 * Usage:
 *     static Tensor *f(Graph *g, Tensor **in, void *ctx) { return tensor_tanh(g, in[0]); }
 *     Tensor *x = tensor_zeros(arena, 2, (int64_t[]){3, 4});
 *     tensor_fill_normal(x, &rng, 0, 1);
 *     GradCheckResult r = gradcheck(f, NULL, &x, 1, NULL);   // NULL: default options
 *     if (!r.ok) printf("%s\n", r.worst);
 */
#ifndef CORE_GRADCHECK_H
#define CORE_GRADCHECK_H

#include "tensor.h"

typedef Tensor *(*GradCheckFn)(Graph *g, Tensor **inputs, void *ctx);

typedef struct {
    double eps;      // step h (default 1e-2: float32 forward, so not too small)
    double atol;     // default 1e-3
    double rtol;     // default 1e-2
    double kink_tol; // one-sided slopes differing by more than this (relative) = kink; default 0.1
    uint64_t seed;   // for the upstream gradient; default 1
} GradCheckOpts;

typedef struct {
    bool ok;              // every checked element passed
    int64_t checked;      // elements compared
    int64_t kinks;        // elements skipped as non-differentiable points
    double max_abs_err;   // worst |analytic - numeric|
    char worst[160];      // description of the worst element
} GradCheckResult;

// Checks every element of every float input with requires_grad. opts may be NULL.
GradCheckResult gradcheck(GradCheckFn f, void *ctx, Tensor **inputs, int n_inputs,
                          const GradCheckOpts *opts);

#endif
