/*
 * train.c: the training loop of train.h: windows, accumulation, AdamW, validation, logs and
 * resumable checkpoints.
 *
 * Glossary: B = batch (windows per micro-batch), T = seq_len, A = grad_accum.
 */
#include "transformer/train.h"

#include "nn/dist.h"

#include "core/err.h"
#include "core/io.h"
#include "nn/metrics.h"
#include "nn/optim.h"
#include "nn/optim_state.h"
#include "nn/progress.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct TfTrain {
    TfTrainConfig cfg;
    TfModel *m;             // borrowed
    const int32_t *tokens;  // borrowed, the whole stream
    int64_t n_train;        // tokens[0, n_train) is the training split
    int64_t n_val;          // tokens[n_train, n_train + n_val) the validation split
    NnOptimizer *opt;       // owned
    Graph *g;               // owned, reset after every micro-batch
    Rng rng;                // window offsets and dropout
    int64_t step;           // next step to take
    int32_t *x, *y;         // (B, T) staging buffers, owned
    char *out_dir;          // owned copy or NULL
};

TfTrainConfig tf_train_defaults(void)
{
    return (TfTrainConfig){
        .batch = 16,
        .seq_len = 128,
        .steps = 1000,
        .lr = 1e-3f,
        .min_lr = 1e-4f,
        .warmup = 100,
        .weight_decay = 0.1f,
        .beta1 = 0.9f,
        .beta2 = 0.95f,
        .grad_clip = 1.0f,
        .grad_accum = 1,
        .val_fraction = 0.1f,
        .val_every = 100,
        .val_batches = 8,
        .ckpt_every = 500,
        .seed = 1337,
        .progress = true,
        .sample_every = 0,
    };
}

// ---------------------------------------------------------------------------
// Creation
// ---------------------------------------------------------------------------

TfTrain *tf_train_create(TfModel *m, const int32_t *tokens, int64_t n, const TfTrainConfig *cfg)
{
    const TfTrainConfig *c = cfg;
    CHECK(c->batch >= 1 && c->seq_len >= 1 && c->steps >= 1 && c->grad_accum >= 1,
          "tf_train: batch %lld, seq_len %lld, steps %lld, grad_accum %d must be >= 1",
          (long long)c->batch, (long long)c->seq_len, (long long)c->steps, c->grad_accum);
    CHECK(c->seq_len <= m->cfg.ctx, "tf_train: seq_len %lld > the model's ctx %d",
          (long long)c->seq_len, m->cfg.ctx);
    CHECK(c->warmup >= 0 && c->warmup <= c->steps, "tf_train: warmup %lld not in [0, steps]",
          (long long)c->warmup);
    CHECK(c->lr > 0.0f && c->min_lr >= 0.0f && c->grad_clip >= 0.0f,
          "tf_train: lr %g, min_lr %g, grad_clip %g", c->lr, c->min_lr, c->grad_clip);
    CHECK(c->val_fraction >= 0.0f && c->val_fraction < 1.0f, "tf_train: val_fraction %g",
          c->val_fraction);
    CHECK(c->val_every >= 0 && c->val_batches >= 0 && c->ckpt_every >= 0 &&
              c->sample_every >= 0,
          "tf_train: negative val_every / val_batches / ckpt_every / sample_every");
    int64_t n_val = (int64_t)llround((double)n * (double)c->val_fraction);
    int64_t n_train = n - n_val;
    // A window needs T + 1 tokens, and at least 2 offsets to be random at all.
    CHECK(n_train >= c->seq_len + 2, "tf_train: the training split has %lld tokens, a window "
          "needs seq_len + 1 = %lld; hint: more data or a shorter seq_len", (long long)n_train,
          (long long)(c->seq_len + 1));
    CHECK(n_val == 0 || n_val >= c->seq_len + 1, "tf_train: the validation split has %lld "
          "tokens, fewer than seq_len + 1 = %lld; hint: raise val_fraction or set it to 0",
          (long long)n_val, (long long)(c->seq_len + 1));
    for (int64_t i = 0; i < n; i++)
        CHECK(tokens[i] >= 0 && tokens[i] < m->cfg.vocab, "tf_train: token %lld = %d outside "
              "the vocab [0, %d)", (long long)i, tokens[i], m->cfg.vocab);

    TfTrain *t = xcalloc(1, sizeof *t);
    t->cfg = *c;
    t->m = m;
    t->tokens = tokens;
    t->n_train = n_train;
    t->n_val = n_val;
    NnOptimConfig oc = nn_optim_defaults(NN_OPTIM_ADAMW, c->lr);
    oc.weight_decay = c->weight_decay;
    oc.beta1 = c->beta1;
    oc.beta2 = c->beta2;
    t->opt = nn_optim_create(&oc);
    t->g = graph_create(0);
    rng_init(&t->rng, c->seed);
    size_t bt = (size_t)(c->batch * c->seq_len);
    t->x = xmalloc(bt * sizeof(int32_t));
    t->y = xmalloc(bt * sizeof(int32_t));
    t->out_dir = c->out_dir ? xstrdup(c->out_dir) : NULL;
    t->cfg.out_dir = t->out_dir;
    return t;
}

void tf_train_free(TfTrain *t)
{
    if (!t) return;
    nn_optim_free(t->opt);
    graph_free(t->g);
    free(t->x);
    free(t->y);
    free(t->out_dir);
    free(t);
}

int64_t tf_train_next_step(const TfTrain *t) { return t->step; }

// ---------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------

// Copies the window at offset s (T + 1 tokens) into row b of x and y.
static void put_window(TfTrain *t, int64_t b, int64_t s)
{
    int64_t T = t->cfg.seq_len;
    memcpy(t->x + b * T, t->tokens + s, (size_t)T * sizeof(int32_t));
    memcpy(t->y + b * T, t->tokens + s + 1, (size_t)T * sizeof(int32_t));
}

// Loss of the first `rows` windows of x, y on the graph (scalar tensor).
static Tensor *batch_loss(TfTrain *t, int64_t rows, bool train)
{
    int64_t shape[2] = {rows, t->cfg.seq_len};
    Tensor *tok = tensor_from_i32(graph_arena(t->g), 2, shape, t->x);
    Tensor *tgt = tensor_from_i32(graph_arena(t->g), 2, shape, t->y);
    return tf_model_loss(t->g, t->m, tok, tgt, train, &t->rng);
}

float tf_train_step(TfTrain *t, TfTrainStats *stats)
{
    const TfTrainConfig *c = &t->cfg;
    // Offsets in [0, n_train - T - 1]: the window's last target is tokens[s + T].
    uint32_t n_off = (uint32_t)(t->n_train - c->seq_len);
    // Data parallel (nn/dist.h): every rank draws the whole micro-batch's offsets from the same
    // Rng, so they agree on it, and keeps its own slice of `local` windows. The mean of the
    // ranks' gradients (all-reduced below) is then the gradient of the whole micro-batch.
    int size = nn_dist_size();
    CHECK(c->batch % size == 0, "tf_train: batch %lld does not split over %d ranks; hint: "
          "make the global batch a multiple of mpirun's -np", (long long)c->batch, size);
    int64_t local = c->batch / size, first = nn_dist_rank() * local;
    double sum = 0.0;
    for (int a = 0; a < c->grad_accum; a++) {
        for (int64_t b = 0; b < c->batch; b++) {
            uint32_t off = rng_below(&t->rng, n_off);
            if (b >= first && b < first + local) put_window(t, b - first, off);
        }
        Tensor *loss = batch_loss(t, local, true);
        sum += tensor_item(loss);
        // Scaled so that the accumulated gradient is that of the mean over all A micro-batches.
        if (c->grad_accum > 1) loss = tensor_mul_scalar(t->g, loss, 1.0f / (float)c->grad_accum);
        graph_backward(t->g, loss);
        graph_reset(t->g);
    }
    if (size > 1) {
        nn_dist_allreduce_grads(t->m->params);
        float s32 = (float)sum;
        nn_dist_allreduce_mean(&s32, 1);
        sum = s32;
    }
    float norm = c->grad_clip > 0.0f ? nn_clip_grad_norm(t->m->params, c->grad_clip)
                                     : nn_clip_grad_norm(t->m->params, INFINITY);
    float lr = nn_lr_schedule(NN_LR_WARMUP_COSINE, t->step, c->steps, c->warmup, c->lr,
                              c->min_lr);
    nn_optim_set_lr(t->opt, lr);
    nn_optim_step(t->opt, t->m->params);
    nn_params_zero_grad(t->m->params);
    float loss = (float)(sum / c->grad_accum);
    if (stats) *stats = (TfTrainStats){.step = t->step, .loss = loss, .lr = lr, .grad_norm = norm};
    t->step++;
    return loss;
}

float tf_train_eval(TfTrain *t)
{
    const TfTrainConfig *c = &t->cfg;
    if (t->n_val == 0 || c->val_batches == 0) return NAN;
    int64_t count = c->val_batches * c->batch;
    int64_t last = t->n_val - c->seq_len - 1; // largest offset inside the split
    bool prev = graph_set_grad_enabled(t->g, false);
    double sum = 0.0;
    for (int64_t k = 0; k < c->val_batches; k++) {
        for (int64_t b = 0; b < c->batch; b++) {
            int64_t i = k * c->batch + b;
            int64_t off = count > 1 ? i * last / (count - 1) : 0;
            put_window(t, b, t->n_train + off);
        }
        sum += tensor_item(batch_loss(t, c->batch, false));
        graph_reset(t->g);
    }
    graph_set_grad_enabled(t->g, prev);
    return (float)(sum / (double)c->val_batches);
}

// ---------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------

#define RNG_HEX_LEN (5 * 17 + 2) // 5 words of 16 hex digits + separators + has_spare digit

int tf_train_save(const TfTrain *t, const char *path)
{
    NnParams *p = t->m->params;
    int n = nn_params_count(p);
    Arena *a = arena_create(0);
    StEntry *e = xmalloc((size_t)(2 * n + 1) * sizeof *e);
    char (*names)[NN_NAME_MAX + 16] = xmalloc((size_t)(2 * n) * sizeof *names);
    Tensor *steps = tensor_new(a, DT_I32, 1, (int64_t[]){n});
    int k = 0;
    for (int i = 0; i < n; i++) {
        const NnParam *q = nn_params_at(p, i);
        int64_t st;
        const float *mm, *vv;
        steps->idata[i] = 0;
        if (!nn_optim_state_get(t->opt, i, &st, &mm, &vv)) continue;
        CHECK(st <= INT32_MAX, "tf_train_save: step count %lld", (long long)st);
        steps->idata[i] = (int32_t)st;
        // Views of the optimizer's buffers in the parameter's shape (written, not copied).
        Tensor *tm = tensor_new(a, DT_F32, 0, NULL), *tv = tensor_new(a, DT_F32, 0, NULL);
        *tm = *q->t;
        *tv = *q->t;
        tm->data = (float *)mm;
        tv->data = (float *)vv;
        tm->grad = tv->grad = NULL;
        snprintf(names[2 * i], sizeof names[0], "train.m.%s", q->name);
        snprintf(names[2 * i + 1], sizeof names[0], "train.v.%s", q->name);
        e[k++] = (StEntry){names[2 * i], tm};
        e[k++] = (StEntry){names[2 * i + 1], tv};
    }
    e[k++] = (StEntry){"train.param_steps", steps};
    char step_s[32], osteps_s[32], rng_s[RNG_HEX_LEN + 8];
    snprintf(step_s, sizeof step_s, "%lld", (long long)t->step);
    snprintf(osteps_s, sizeof osteps_s, "%lld", (long long)nn_optim_steps(t->opt));
    uint64_t spare;
    memcpy(&spare, &t->rng.spare, sizeof spare);
    snprintf(rng_s, sizeof rng_s, "%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64
             ":%016" PRIx64 ":%d", t->rng.s[0], t->rng.s[1], t->rng.s[2], t->rng.s[3], spare,
             t->rng.has_spare ? 1 : 0);
    const char *meta[] = {"train.step", step_s, "train.optim_steps", osteps_s, "train.rng", rng_s};
    int rc = tf_model_save_ext(t->m, path, e, k, meta, 3);
    free(names);
    free(e);
    arena_free(a);
    return rc;
}

static int parse_i64(const StFile *f, const char *key, int64_t *out)
{
    const char *s = st_meta(f, key);
    if (!s)
        return err_set(ERR_FORMAT, "%s: metadata '%s' is missing; hint: a model file, not a "
                       "training checkpoint (tf_train_save)?", st_path(f), key);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return err_set(ERR_FORMAT, "%s: metadata '%s' = \"%s\" is not a count", st_path(f), key,
                       s);
    *out = v;
    return ERR_OK;
}

static int parse_rng(const StFile *f, Rng *out)
{
    const char *s = st_meta(f, "train.rng");
    if (!s)
        return err_set(ERR_FORMAT, "%s: metadata 'train.rng' is missing; hint: a model file, "
                       "not a training checkpoint (tf_train_save)?", st_path(f));
    uint64_t w[5];
    int has, used = 0;
    if (sscanf(s, "%16" SCNx64 ":%16" SCNx64 ":%16" SCNx64 ":%16" SCNx64 ":%16" SCNx64 ":%d%n",
               &w[0], &w[1], &w[2], &w[3], &w[4], &has, &used) != 6 ||
        s[used] != '\0' || (has != 0 && has != 1))
        return err_set(ERR_FORMAT, "%s: metadata 'train.rng' = \"%s\" is not 5 hex words and a "
                       "flag", st_path(f), s);
    Rng r = {.s = {w[0], w[1], w[2], w[3]}, .has_spare = has};
    memcpy(&r.spare, &w[4], sizeof r.spare);
    *out = r;
    return ERR_OK;
}

int tf_train_load(TfTrain *t, const char *path)
{
    StFile *f;
    int rc = st_open(path, &f);
    if (rc != ERR_OK) return rc;
    TfConfig c;
    int64_t step = 0, osteps = 0;
    Rng rng;
    if ((rc = tf_config_from_meta(f, &c)) == ERR_OK && !tf_config_equal(&c, &t->m->cfg))
        rc = err_set(ERR_FORMAT, "%s: the checkpoint's model config differs from the model's "
                     "(%s, C = %d, L = %d vs %s, C = %d, L = %d); hint: build the model from the "
                     "checkpoint (tf_model_load) first", path, tf_arch_name(c.arch), c.d_model,
                     c.n_layer, tf_arch_name(t->m->cfg.arch), t->m->cfg.d_model,
                     t->m->cfg.n_layer);
    if (rc == ERR_OK) rc = parse_i64(f, "train.step", &step);
    if (rc == ERR_OK) rc = parse_i64(f, "train.optim_steps", &osteps);
    if (rc == ERR_OK) rc = parse_rng(f, &rng);
    if (rc == ERR_OK && step > t->cfg.steps)
        rc = err_set(ERR_FORMAT, "%s: train.step = %lld is past this run's %lld steps; hint: "
                     "raise steps", path, (long long)step, (long long)t->cfg.steps);
    NnParams *p = t->m->params;
    int n = nn_params_count(p);
    Tensor *psteps = NULL;
    Arena *a = arena_create(0);
    if (rc == ERR_OK) rc = st_read(f, "train.param_steps", a, &psteps);
    if (rc == ERR_OK && (psteps->dtype != DT_I32 || psteps->ndim != 1 || psteps->shape[0] != n))
        rc = err_set(ERR_SHAPE, "%s: 'train.param_steps' must be int32 (%d,)", path, n);
    // Weights (shapes checked by nn_params_load's two passes), then the optimizer's moments
    // into scratch tensors first, so a bad file leaves the optimizer alone.
    if (rc == ERR_OK) rc = nn_params_load(p, path);
    Tensor **mv = xcalloc((size_t)(2 * n + 1), sizeof *mv);
    for (int i = 0; i < n && rc == ERR_OK; i++) {
        if (psteps->idata[i] == 0) continue;
        const NnParam *q = nn_params_at(p, i);
        char name[NN_NAME_MAX + 16];
        for (int j = 0; j < 2 && rc == ERR_OK; j++) {
            snprintf(name, sizeof name, "train.%c.%s", j ? 'v' : 'm', q->name);
            mv[2 * i + j] = tensor_new(a, DT_F32, q->t->ndim, q->t->shape);
            rc = st_read_into(f, name, mv[2 * i + j]);
        }
    }
    if (rc == ERR_OK) {
        for (int i = 0; i < n; i++)
            if (psteps->idata[i] > 0)
                nn_optim_state_set(t->opt, p, i, psteps->idata[i], mv[2 * i]->data,
                                   mv[2 * i + 1]->data);
        nn_optim_set_steps(t->opt, osteps);
        t->rng = rng;
        t->step = step;
    }
    free(mv);
    arena_free(a);
    st_close(f);
    return rc;
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

static const char *out_path(const TfTrain *t, const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", t->out_dir, name);
    return buf;
}

int tf_train_run(TfTrain *t)
{
    const TfTrainConfig *c = &t->cfg;
    char pbuf[4096];
    NnLog *log = NULL;
    int rc = ERR_OK;
    // Under MPI only rank 0 logs, samples, checkpoints and draws; every rank trains.
    bool lead = nn_dist_rank() == 0;
    if (t->out_dir && lead) {
        if ((rc = io_mkdir_p(t->out_dir)) != ERR_OK) return rc;
        // A resumed run continues its log.
        rc = nn_log_open(out_path(t, "metrics.jsonl", pbuf, sizeof pbuf), t->step > 0, &log);
        if (rc != ERR_OK) return rc;
    }
    int64_t start = t->step, todo = c->steps - start;
    NnProgress *pb = NULL;
    if (c->progress && todo > 0 && lead) {
        NnProgressOpts po = {.items_per_step = c->batch * c->seq_len * c->grad_accum,
                             .items_name = "tok"};
        pb = nn_progress_start_opts(todo, "train", &po);
    }
    float val = NAN;
    while (t->step < c->steps && rc == ERR_OK) {
        TfTrainStats s;
        tf_train_step(t, &s);
        int64_t done = t->step; // steps completed
        bool last = done == c->steps;
        if (log)
            rc = nn_log_metrics(log, done, NULL, 3,
                                (const char *[]){"train_loss", "lr", "grad_norm"},
                                (double[]){s.loss, s.lr, s.grad_norm});
        if (rc == ERR_OK && c->val_every > 0 && (done % c->val_every == 0 || last)) {
            val = tf_train_eval(t);
            if (log && isfinite(val))
                rc = nn_log_metrics(log, done, "val", 1, (const char *[]){"val_loss"},
                                    (double[]){val});
        }
        if (pb) nn_progress_update(pb, done - start, s.loss, "lr %.2e | val %.4f", s.lr, val);
        if (lead && c->sample && ((c->sample_every > 0 && done % c->sample_every == 0) || last))
            c->sample(c->sample_ctx, t->m, done);
        bool ckpt = (c->ckpt_every > 0 && done % c->ckpt_every == 0) || last;
        if (rc == ERR_OK && lead && t->out_dir && ckpt)
            rc = tf_train_save(t, out_path(t, "ckpt.safetensors", pbuf, sizeof pbuf));
    }
    nn_progress_finish(pb);
    int rc2 = nn_log_close(log);
    if (rc == ERR_OK) rc = rc2;
    if (rc == ERR_OK && lead && t->out_dir) {
        char lbuf[4096];
        int n_keys = c->val_every > 0 && t->n_val > 0 ? 2 : 1;
        rc = nn_curves_plot_jsonl(out_path(t, "loss.png", pbuf, sizeof pbuf),
                                  out_path(t, "metrics.jsonl", lbuf, sizeof lbuf), "step",
                                  (const char *[]){"train_loss", "val_loss"}, n_keys, NULL,
                                  "Loss", true);
    }
    return rc;
}
