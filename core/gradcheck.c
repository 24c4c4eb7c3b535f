/*
 * gradcheck.c: finite-difference gradient checking (see gradcheck.h for the method).
 */
#include "gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// L = sum(out * r), accumulated in double, with grad recording off.
static double loss_at(Graph *g, GradCheckFn f, void *ctx, Tensor **inputs, const float *r)
{
    graph_reset(g);
    bool was = graph_set_grad_enabled(g, false);
    Tensor *out = f(g, inputs, ctx);
    graph_set_grad_enabled(g, was);
    int64_t n = tensor_numel(out);
    float *v = malloc((size_t)(n ? n : 1) * sizeof(float));
    tensor_copy_to(out, v);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)v[i] * (double)r[i];
    free(v);
    return s;
}

GradCheckResult gradcheck(GradCheckFn f, void *ctx, Tensor **inputs, int n_inputs,
                          const GradCheckOpts *opts)
{
    GradCheckOpts o = {.eps = 1e-2, .atol = 1e-3, .rtol = 1e-2, .kink_tol = 0.1, .seed = 1};
    if (opts) {
        if (opts->eps > 0) o.eps = opts->eps;
        if (opts->atol > 0) o.atol = opts->atol;
        if (opts->rtol > 0) o.rtol = opts->rtol;
        if (opts->kink_tol > 0) o.kink_tol = opts->kink_tol;
        if (opts->seed) o.seed = opts->seed;
    }
    GradCheckResult res = {.ok = true};
    Graph *g = graph_create(0);

    // Analytic gradients with a random upstream gradient r.
    for (int k = 0; k < n_inputs; k++) tensor_zero_grad(inputs[k]);
    Tensor *out = f(g, inputs, ctx);
    int64_t n_out = tensor_numel(out);
    float *r = malloc((size_t)(n_out ? n_out : 1) * sizeof(float));
    Rng rng;
    rng_init(&rng, o.seed);
    for (int64_t i = 0; i < n_out; i++) r[i] = rng_normal(&rng);
    if (out->requires_grad) graph_backward_with(g, out, r);

    for (int k = 0; k < n_inputs; k++) {
        Tensor *x = inputs[k];
        if (x->dtype != DT_F32 || !x->requires_grad) continue;
        CHECK(tensor_is_contiguous(x) && !x->base, "gradcheck: input %d must be a contiguous leaf",
              k);
        int64_t n = tensor_numel(x);
        // Copy the analytic gradient before the numeric passes reset the graph.
        float *ana = malloc((size_t)(n ? n : 1) * sizeof(float));
        memcpy(ana, x->grad, (size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) {
            float x0 = x->data[i];
            double h = o.eps * (fabs(x0) > 1.0 ? fabs(x0) : 1.0);
            x->data[i] = (float)(x0 + h);
            double hp = (double)x->data[i] - x0; // the step actually taken in float
            double lp = loss_at(g, f, ctx, inputs, r);
            x->data[i] = (float)(x0 - h);
            double hm = x0 - (double)x->data[i];
            double lm = loss_at(g, f, ctx, inputs, r);
            x->data[i] = x0;
            double l0 = loss_at(g, f, ctx, inputs, r);
            double num = (lp - lm) / (hp + hm);
            double sp = (lp - l0) / hp, sm = (l0 - lm) / hm;
            if (fabs(sp - sm) > o.kink_tol * (1.0 + fabs(sp) + fabs(sm))) {
                res.kinks++;
                continue;
            }
            double err = fabs((double)ana[i] - num);
            res.checked++;
            bool pass = err <= o.atol + o.rtol * fabs(num);
            if (err > res.max_abs_err || (!pass && res.ok)) {
                res.max_abs_err = err > res.max_abs_err ? err : res.max_abs_err;
                snprintf(res.worst, sizeof res.worst,
                         "input %d element %lld: analytic %.6g numeric %.6g (diff %.3g)%s", k,
                         (long long)i, ana[i], num, err, pass ? "" : " FAIL");
            }
            if (!pass) res.ok = false;
        }
        free(ana);
    }
    free(r);
    graph_free(g);
    return res;
}
