/*
 * linreg.h: linear regression trained by gradient descent written out by hand.
 *
 * The model is y_hat = X w + b with X (n, d), w (d,), b a scalar, and the loss is the mean
 * squared error
 *     L = (1/n) sum_i (y_hat_i - y_i)^2.
 * Its gradient follows from the chain rule with r_i = y_hat_i - y_i (the residual):
 *     dL/dw = (2/n) X^T r,     dL/db = (2/n) sum_i r_i.
 * One step of stochastic gradient descent moves every parameter against its gradient:
 *     p <- p - lr * dL/dp.
 * This is what autograd automates; the week-2 lab runs both and shows they agree.
 *
 * Shapes: X (n, d) row-major, y (n,), w and dw (d,). Pointers are borrowed.
 *
 * Usage:
 *     float w[8] = {0}, b = 0, dw[8], db;
 *     for (int step = 0; step < 500; step++) {
 *         float loss = nn_linreg_mse_grad(dw, &db, w, b, X, y, n, 8);
 *         nn_sgd_step(w, dw, 8, 0.05f);
 *         nn_sgd_step(&b, &db, 1, 0.05f);
 *     }
 */
#ifndef NN_LINREG_H
#define NN_LINREG_H

#include <stdint.h>

// Returns the MSE of the model (w, b) on (X, y) and writes its gradient to dw (d,) and *db
// (overwritten, not accumulated).
float nn_linreg_mse_grad(float *dw, float *db, const float *w, float b, const float *X,
                         const float *y, int64_t n, int64_t d);

// Plain SGD: p[i] -= lr * grad[i] for i < n.
void nn_sgd_step(float *p, const float *grad, int64_t n, float lr);

#endif
