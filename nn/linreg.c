/*
 * linreg.c: the MSE gradient of linear regression and the SGD step, by hand (see linreg.h).
 */
#include "nn/linreg.h"

#include "core/err.h"
#include "core/exercise.h"

#include <math.h>
#include <string.h>

float nn_linreg_mse_grad(float *dw, float *db, const float *w, float b, const float *X,
                         const float *y, int64_t n, int64_t d)
{
    CHECK(n > 0 && d >= 0, "nn_linreg_mse_grad: n = %lld, d = %lld", (long long)n, (long long)d);
    // EXERCISE(w02.mse_grad): compute, for the model y_hat = X w + b (X is (n, d) row-major),
    //   the loss  L = (1/n) sum_i (y_hat_i - y_i)^2              (return it)
    //   and its gradient  dw = (2/n) X^T r,  *db = (2/n) sum_i r_i,  with r = y_hat - y.
    //   Overwrite dw and *db (do not accumulate). Sum in double.
    // STUB: (void)dw, (void)db, (void)w, (void)b, (void)X, (void)y;
    // STUB: exercise_stub("w02.mse_grad"); return NAN;
    memset(dw, 0, (size_t)d * sizeof(float));
    double loss = 0.0, gb = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = X + i * d;
        double yhat = b;
        for (int64_t j = 0; j < d; j++) yhat += (double)xi[j] * w[j];
        double r = yhat - y[i];
        loss += r * r;
        gb += r;
        for (int64_t j = 0; j < d; j++) dw[j] += (float)(2.0 * r / (double)n) * xi[j];
    }
    *db = (float)(2.0 * gb / (double)n);
    return (float)(loss / (double)n);
    // END EXERCISE
}

void nn_sgd_step(float *p, const float *grad, int64_t n, float lr)
{
    // EXERCISE(w02.sgd_step): one plain gradient-descent step: p[i] -= lr * grad[i], i < n.
    // STUB: (void)p, (void)grad, (void)n, (void)lr; exercise_stub("w02.sgd_step"); return;
    for (int64_t i = 0; i < n; i++) p[i] -= lr * grad[i];
    // END EXERCISE
}
