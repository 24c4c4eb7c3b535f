/*
 * optim.c: SGD, Adam and AdamW, gradient clipping and LR schedules (see optim.h).
 *
 * Reproducing PyTorch to the last few bits. torch.optim (1.13, the for-loop implementation
 * used on CPU) does every tensor op in float32, and every scalar (beta1 ** step, lr /
 * bias_correction1, 1 - lr * weight_decay) in Python's double, rounded to float when it meets
 * a tensor. The loops below do the same, op by op in PyTorch's order, e.g. addcdiv computes
 * p + (value * m) / denom, so the test's 1e-6 relative tolerance only has to absorb torch's
 * fused multiply-adds.
 */
#include "nn/optim.h"

#include "core/err.h"

#include "nn/optim_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const optim_names[NN_OPTIM_COUNT] = {"sgd", "adam", "adamw"};
_Static_assert(sizeof optim_names / sizeof optim_names[0] == NN_OPTIM_COUNT, "optim names");

// ---------------------------------------------------------------------------
// Creation
// ---------------------------------------------------------------------------

NnOptimConfig nn_optim_defaults(NnOptimKind kind, float lr)
{
    CHECK(kind >= 0 && kind < NN_OPTIM_COUNT, "nn_optim_defaults: unknown kind %d", (int)kind);
    NnOptimConfig c = {.kind = kind, .lr = lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    if (kind == NN_OPTIM_ADAMW) c.weight_decay = 0.01f;
    return c;
}

NnOptimizer *nn_optim_create(const NnOptimConfig *cfg)
{
    const NnOptimConfig *c = cfg;
    CHECK(c->kind >= 0 && c->kind < NN_OPTIM_COUNT, "optimizer: unknown kind %d", (int)c->kind);
    CHECK(c->lr >= 0.0f && isfinite(c->lr), "optimizer: lr = %g", c->lr);
    CHECK(c->weight_decay >= 0.0f, "optimizer: weight_decay = %g < 0", c->weight_decay);
    if (c->kind == NN_OPTIM_SGD) {
        CHECK(c->momentum >= 0.0f, "sgd: momentum = %g < 0", c->momentum);
        CHECK(!c->nesterov || (c->momentum > 0.0f && c->dampening == 0.0f),
              "sgd: nesterov needs momentum > 0 and dampening 0 (got %g, %g)", c->momentum,
              c->dampening);
    } else {
        CHECK(c->beta1 >= 0.0f && c->beta1 < 1.0f && c->beta2 >= 0.0f && c->beta2 < 1.0f,
              "%s: betas (%g, %g) must be in [0, 1)", optim_names[c->kind], c->beta1, c->beta2);
        CHECK(c->eps > 0.0f, "%s: eps = %g must be > 0; hint: start from nn_optim_defaults()",
              optim_names[c->kind], c->eps);
    }
    NnOptimizer *opt = xcalloc(1, sizeof *opt);
    opt->cfg = *c;
    opt->arena = arena_create(0);
    return opt;
}

void nn_optim_free(NnOptimizer *opt)
{
    if (!opt) return;
    arena_free(opt->arena);
    free(opt->state);
    free(opt);
}

void nn_optim_set_lr(NnOptimizer *opt, float lr)
{
    CHECK(lr >= 0.0f && isfinite(lr), "nn_optim_set_lr: lr = %g", lr);
    opt->cfg.lr = lr;
}

float nn_optim_lr(const NnOptimizer *opt) { return opt->cfg.lr; }

int64_t nn_optim_steps(const NnOptimizer *opt) { return opt->steps; }

const char *nn_optim_name(NnOptimKind kind)
{
    CHECK(kind >= 0 && kind < NN_OPTIM_COUNT, "nn_optim_name: unknown kind %d", (int)kind);
    return optim_names[kind];
}

// ---------------------------------------------------------------------------
// The update rules, one parameter of n elements each
// ---------------------------------------------------------------------------

static void sgd_update(const NnOptimConfig *c, ParamState *s, float *p, const float *grad,
                       int64_t n)
{
    const float wd = c->weight_decay, mu = c->momentum;
    const float one_minus_damp = (float)(1.0 - (double)c->dampening);
    const float neg_lr = -c->lr;
    const bool first = s->step == 1;
    for (int64_t i = 0; i < n; i++) {
        float d = grad[i];
        if (wd != 0.0f) d = d + wd * p[i]; // d_p = d_p.add(param, alpha=weight_decay)
        if (mu != 0.0f) {
            // buf = clone(d_p) at the first step; buf.mul_(mu).add_(d_p, alpha=1-dampening)
            float b = first ? d : s->buf[i] * mu + one_minus_damp * d;
            s->buf[i] = b;
            d = c->nesterov ? d + mu * b : b; // d_p.add(buf, alpha=momentum) or buf
        }
        p[i] = p[i] + neg_lr * d; // param.add_(d_p, alpha=-lr)
    }
}

static void adam_update(const NnOptimConfig *c, ParamState *s, float *p, const float *grad,
                        int64_t n)
{
    const bool decoupled = c->kind == NN_OPTIM_ADAMW;
    const float b1 = c->beta1, b2 = c->beta2;
    const float one_minus_b1 = (float)(1.0 - (double)b1);
    const float one_minus_b2 = (float)(1.0 - (double)b2);
    // The scalars, in double as Python computes them.
    const double t = (double)s->step;
    const double bc1 = 1.0 - pow((double)b1, t);
    const double bc2 = 1.0 - pow((double)b2, t);
    const float neg_step_size = (float)(-((double)c->lr / bc1));
    const float bc2_sqrt = (float)sqrt(bc2);
    const float eps = c->eps;
    const float wd = c->weight_decay;
    const float decay = (float)(1.0 - (double)c->lr * (double)wd); // AdamW's factor
    float *restrict m = s->buf, *restrict v = s->v, *restrict pp = p;
    const float *restrict gg = grad;
    // Weight decay first, in its own pass, so the main loop has no branch and vectorises
    // (gcc needs -fno-math-errno, set in the Makefile, to vectorise sqrtf).
    if (decoupled && wd != 0.0f)
        for (int64_t i = 0; i < n; i++) pp[i] = pp[i] * decay; // param.mul_(1 - lr * wd)
    const float cwd = decoupled ? 0.0f : wd; // Adam: grad = grad.add(param, alpha=wd)
    for (int64_t i = 0; i < n; i++) {
        float g = gg[i] + cwd * pp[i];
        m[i] = m[i] * b1 + one_minus_b1 * g;        // exp_avg.mul_(b1).add_(g, alpha=1-b1)
        v[i] = v[i] * b2 + one_minus_b2 * g * g;    // exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2)
        float denom = sqrtf(v[i]) / bc2_sqrt + eps; // (v.sqrt() / sqrt(bc2)).add_(eps)
        pp[i] = pp[i] + neg_step_size * m[i] / denom; // addcdiv_(m, denom, value=-step_size)
    }
}

// ---------------------------------------------------------------------------
// Stepping
// ---------------------------------------------------------------------------

ParamState *nn_optim_slot(NnOptimizer *opt, int i)
{
    if (i >= opt->n_state) {
        int grown = opt->n_state ? opt->n_state : 8;
        while (grown <= i) grown *= 2;
        opt->state = xrealloc(opt->state, (size_t)grown * sizeof *opt->state);
        memset(opt->state + opt->n_state, 0, (size_t)(grown - opt->n_state) * sizeof(ParamState));
        opt->n_state = grown;
    }
    return &opt->state[i];
}

static ParamState *state_for(NnOptimizer *opt, int i, int64_t n)
{
    ParamState *s = nn_optim_slot(opt, i);
    if (!s->ready) {
        // Zeroed buffers: Adam's m and v start at 0; SGD's buffer is overwritten at step 1.
        size_t bytes = (size_t)n * sizeof(float);
        bool sgd = opt->cfg.kind == NN_OPTIM_SGD;
        if (!sgd || opt->cfg.momentum != 0.0f) s->buf = arena_calloc(opt->arena, bytes);
        if (!sgd) s->v = arena_calloc(opt->arena, bytes);
        s->ready = true;
    }
    return s;
}

void nn_optim_step(NnOptimizer *opt, NnParams *params)
{
    if (!opt->params) opt->params = params;
    CHECK(opt->params == params, "nn_optim_step: this optimizer was stepped with another "
          "registry; hint: one optimizer per NnParams");
    int n = nn_params_count(params);
    for (int i = 0; i < n; i++) {
        const NnParam *e = nn_params_at(params, i);
        // PyTorch skips parameters whose .grad is None: here, frozen ones.
        if (!e->trainable || !e->t->grad) continue;
        Tensor *t = e->t;
        CHECK(tensor_is_contiguous(t) && !t->base, "optimizer: %s is not a contiguous leaf",
              e->name);
        int64_t numel = tensor_numel(t);
        ParamState *s = state_for(opt, i, numel);
        s->step++;
        switch (opt->cfg.kind) {
        case NN_OPTIM_SGD: sgd_update(&opt->cfg, s, t->data, t->grad, numel); break;
        case NN_OPTIM_ADAM:
        case NN_OPTIM_ADAMW: adam_update(&opt->cfg, s, t->data, t->grad, numel); break;
        case NN_OPTIM_COUNT: CHECK(0, "optimizer: invalid kind"); break;
        }
    }
    opt->steps++;
}

// ---------------------------------------------------------------------------
// Gradient clipping and schedules
// ---------------------------------------------------------------------------

float nn_clip_grad_norm(NnParams *params, float max_norm)
{
    CHECK(max_norm > 0.0f, "nn_clip_grad_norm: max_norm = %g must be > 0", max_norm);
    double ss = 0.0;
    int n = nn_params_count(params);
    for (int i = 0; i < n; i++) {
        const NnParam *e = nn_params_at(params, i);
        if (!e->trainable || !e->t->grad) continue;
        const float *gr = e->t->grad;
        int64_t k = tensor_numel(e->t);
        for (int64_t j = 0; j < k; j++) ss += (double)gr[j] * gr[j];
    }
    double total = sqrt(ss);
    if (!isfinite(total)) return (float)total;
    // clip_coef = max_norm / (total_norm + 1e-6), clamped to at most 1 (then a no-op).
    double coef = (double)max_norm / (total + 1e-6);
    if (coef < 1.0) {
        float cf = (float)coef;
        for (int i = 0; i < n; i++) {
            const NnParam *e = nn_params_at(params, i);
            if (!e->trainable || !e->t->grad) continue;
            float *gr = e->t->grad;
            int64_t k = tensor_numel(e->t);
            for (int64_t j = 0; j < k; j++) gr[j] *= cf;
        }
    }
    return (float)total;
}

float nn_lr_schedule(NnLrSchedule kind, int64_t step, int64_t total, int64_t warmup,
                     float lr_max, float lr_min)
{
    CHECK(kind >= 0 && kind < NN_LR_COUNT, "nn_lr_schedule: unknown kind %d", (int)kind);
    CHECK(step >= 0 && warmup >= 0 && total >= warmup, "nn_lr_schedule: step %lld, warmup "
          "%lld, total %lld", (long long)step, (long long)warmup, (long long)total);
    if (step < warmup) return (float)((double)lr_max * (double)(step + 1) / (double)warmup);
    switch (kind) {
    case NN_LR_CONSTANT: return lr_max;
    case NN_LR_WARMUP_COSINE: {
        if (step >= total) return lr_min;
        double r = (double)(step - warmup) / (double)(total - warmup);
        const double pi = 3.14159265358979323846;
        return (float)(lr_min + ((double)lr_max - lr_min) * 0.5 * (1.0 + cos(pi * r)));
    }
    case NN_LR_COUNT: break;
    }
    return lr_max;
}
