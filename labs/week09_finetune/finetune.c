/*
 * finetune.c: supervised fine-tuning on question -> answer examples, full or LoRA, with a
 * validation loss after every epoch and early stopping that keeps the best weights.
 */
#include "lab.h"

#include "core/err.h"
#include "core/rng.h"
#include "nn/optim.h"
#include "nn/optim_state.h"
#include "nn/progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// The loss of rows[0..B) of e on g (mean cross-entropy over their answer tokens). *n_tgt gets
// the number of answer tokens, to weight batches in a mean.
static Tensor *batch_loss(Graph *g, TfModel *m, const LabExamples *e, const int64_t *rows,
                          int64_t B, bool train, Rng *rng, int64_t *n_tgt)
{
    int64_t T = e->T;
    int32_t *x = malloc(sizeof(int32_t) * (size_t)(B * T)), *y = malloc(sizeof *y * (size_t)(B * T));
    CHECK(x && y, "batch_loss: out of memory");
    *n_tgt = 0;
    for (int64_t b = 0; b < B; b++) {
        memcpy(x + b * T, e->x + rows[b] * T, sizeof *x * (size_t)T);
        memcpy(y + b * T, e->y + rows[b] * T, sizeof *y * (size_t)T);
        for (int64_t t = 0; t < T; t++) *n_tgt += y[b * T + t] >= 0;
    }
    Tensor *tok = tensor_from_i32(graph_arena(g), 2, (int64_t[]){B, T}, x);
    Tensor *tgt = tensor_from_i32(graph_arena(g), 2, (int64_t[]){B, T}, y);
    free(x), free(y);
    return tf_model_loss(g, m, tok, tgt, train, rng);
}

float lab_val_loss(TfModel *m, const LabExamples *val)
{
    Graph *g = graph_create(0);
    double sum = 0, count = 0;
    int64_t rows[32];
    for (int64_t i = 0; i < val->n; i += 32) {
        int64_t B = val->n - i < 32 ? val->n - i : 32, n_tgt;
        for (int64_t b = 0; b < B; b++) rows[b] = i + b;
        float l = tensor_item(batch_loss(g, m, val, rows, B, false, NULL, &n_tgt));
        sum += (double)l * (double)n_tgt, count += (double)n_tgt;
        graph_reset(g);
    }
    graph_free(g);
    return count > 0 ? (float)(sum / count) : NAN;
}

// Copies the registry's trainable weights to or from buf.
static void snapshot(NnParams *p, float *buf, bool save)
{
    for (int i = 0; i < nn_params_count(p); i++) {
        const NnParam *e = nn_params_at(p, i);
        if (!e->trainable) continue;
        size_t n = (size_t)tensor_numel(e->t);
        if (save) memcpy(buf, e->t->data, n * sizeof *buf);
        else memcpy(e->t->data, buf, n * sizeof *buf);
        buf += n;
    }
}

int lab_finetune(TfModel *m, NnLora *lora, const LabExamples *train, const LabExamples *val,
                 const LabExamples *probe, const LabFtConfig *c, LabFtResult *r)
{
    memset(r, 0, sizeof *r);
    if (train->n < 1 || val->n < 1)
        return err_set(ERR_INVALID, "lab_finetune: %lld training and %lld validation examples; "
                       "hint: both splits need examples", (long long)train->n, (long long)val->n);
    NnParams *reg = lora ? nn_lora_params(lora) : m->params;
    r->reg_ = reg;
    r->trainable = nn_params_numel(reg, true);
    r->best_ = malloc(sizeof(float) * (size_t)r->trainable);
    r->train_loss = malloc(sizeof(float) * (size_t)(c->max_epochs + 1));
    r->val_loss = malloc(sizeof(float) * (size_t)(c->max_epochs + 1));
    r->probe_loss = malloc(sizeof(float) * (size_t)(c->max_epochs + 1));
    int64_t *order = malloc(sizeof(int64_t) * (size_t)train->n);
    CHECK(r->best_ && r->train_loss && r->val_loss && r->probe_loss && order,
          "lab_finetune: out of memory");
    NnOptimConfig oc = nn_optim_defaults(NN_OPTIM_ADAMW, c->lr);
    NnOptimizer *opt = nn_optim_create(&oc);
    Graph *g = graph_create(0);
    Rng rng;
    rng_init(&rng, c->seed);
    int64_t per_epoch = (train->n + c->batch - 1) / c->batch, total = per_epoch * c->max_epochs;
    double t0 = now();
    r->train_loss[0] = NAN;
    r->val_loss[0] = lab_val_loss(m, val);
    r->probe_loss[0] = probe ? lab_val_loss(m, probe) : NAN;
    float best = r->val_loss[0];
    snapshot(reg, r->best_, true);
    for (int64_t i = 0; i < train->n; i++) order[i] = i;
    NnProgress *pb = nn_progress_start(total, c->label);
    int64_t step = 0;
    for (int ep = 1; ep <= c->max_epochs; ep++) {
        for (int64_t i = train->n - 1; i > 0; i--) { // a fresh shuffle every epoch
            int64_t j = (int64_t)rng_below(&rng, (uint32_t)(i + 1)), t = order[i];
            order[i] = order[j], order[j] = t;
        }
        double sum = 0;
        for (int64_t i = 0; i < train->n; i += c->batch, step++) {
            int64_t B = train->n - i < c->batch ? train->n - i : c->batch, n_tgt;
            Tensor *loss = batch_loss(g, m, train, order + i, B, true, &rng, &n_tgt);
            graph_backward(g, loss);
            float l = tensor_item(loss);
            graph_reset(g);
            nn_clip_grad_norm(reg, 1.0f);
            nn_optim_set_lr(opt, nn_lr_schedule(NN_LR_WARMUP_COSINE, step, total, per_epoch,
                                                c->lr, c->lr / 10));
            nn_optim_step(opt, reg);
            nn_params_zero_grad(reg);
            sum += l;
            nn_progress_update(pb, step + 1, l, "epoch %d | val %.3f (best %.3f)", ep,
                               r->val_loss[ep - 1], best);
        }
        r->train_loss[ep] = (float)(sum / (double)per_epoch);
        r->val_loss[ep] = lab_val_loss(m, val);
        r->probe_loss[ep] = probe ? lab_val_loss(m, probe) : NAN;
        r->epochs = ep;
        if (r->val_loss[ep] < best) {
            best = r->val_loss[ep], r->best_epoch = ep;
            snapshot(reg, r->best_, true);
        } else if (ep - r->best_epoch >= c->patience) {
            break; // early stopping: no better validation loss for `patience` epochs
        }
    }
    nn_progress_finish(pb);
    r->seconds = now() - t0;
    for (int i = 0; i < nn_params_count(reg); i++) { // what AdamW really holds
        int64_t st;
        const float *mo, *v;
        if (!nn_optim_state_get(opt, i, &st, &mo, &v)) continue;
        int64_t n = tensor_numel(nn_params_at(reg, i)->t);
        r->state_bytes += (mo ? n : 0) * 4 + (v ? n : 0) * 4;
    }
    int64_t weights = nn_params_numel(m->params, false) + (lora ? r->trainable : 0);
    r->param_bytes = 4 * (weights + r->trainable);
    nn_optim_free(opt);
    graph_free(g);
    free(order);
    return ERR_OK;
}

void lab_ft_restore(LabFtResult *r)
{
    snapshot(r->reg_, r->best_, false);
}

void lab_ft_free(LabFtResult *r)
{
    free(r->best_), free(r->train_loss), free(r->val_loss), free(r->probe_loss);
    memset(r, 0, sizeof *r);
}
