/*
 * bench_lora.c: what LoRA saves against full fine-tuning, in parameters, optimizer state and
 * step time, on the week-3 model (labs/week03_transformer, --arch llama):
 *     TF_LLAMA, vocab 2048, ctx 128, 4 layers, C = 128, 4 heads, 2 kv heads, d_ff 336,
 *     batch 16 x 128 tokens, AdamW.
 *
 * Rows: full fine-tuning (every weight trainable), then LoRA at ranks 1, 2, 4, 8, 16, 32, 64 on
 * the targets of --targets (default all seven linear layers of a block), alpha = 2 r. For each:
 *   - trainable parameters and their share of the model;
 *   - Adam's state: 2 floats per trainable parameter, computed, and measured by summing the
 *     m and v buffers the optimizer really holds after its steps (nn/optim_state.h);
 *   - the median step time (forward + backward, AdamW step, zero grads) and its two parts, and
 *     the ratio LoRA / full.
 * The comparison is within this engine (there is no peer to run): all rows share one model and
 * one Graph, and their steps are interleaved (row 1, row 2, ..., row 8, then again), so load
 * from the neighbours on a shared machine hits every row alike. For a full-fine-tuning step the
 * base is unfrozen and no adapter is attached; for a LoRA step the base is frozen (no dW is
 * computed, no base optimizer state is touched) and that rank's adapters are attached. The
 * data are random tokens: the work does not depend on them.
 *
 * Where the time goes: a LoRA step still runs the whole forward and the backward to every
 * activation (dx through each frozen W), and adds two thin matmuls per adapted layer; it saves
 * the dW products (a third of a linear layer's backward) and the optimizer's pass over every
 * weight. So the ratio stays well above trainable / total.
 *
 * Output: the table, then one line `BENCH {"bench":"lora",...}` with every figure.
 */
#include "bench/common/bench_util.h"
#include "core/cli.h"
#include "core/err.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "nn/lora.h"
#include "nn/optim.h"
#include "nn/optim_state.h"
#include "transformer/model.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_RANKS 7
#define N_ROWS (N_RANKS + 1) // full, then the ranks
static const int RANKS[N_RANKS] = {1, 2, 4, 8, 16, 32, 64};

typedef struct {
    char name[16];
    NnLora *set;        // NULL for full fine-tuning
    NnOptimizer *opt;
    int64_t trainable;
    int64_t adam_bytes; // 2 * 4 * trainable
    int64_t state_bytes; // measured after the steps
    double *fb, *op;    // per timed step: forward + backward, optimizer (seconds)
} Row;

static TfConfig week3_llama(void)
{
    TfConfig c = tf_config_default(TF_LLAMA);
    c.vocab = 2048, c.ctx = 128, c.d_model = 128, c.n_layer = 4, c.n_head = 4, c.n_kv_head = 2;
    c.d_ff = 128 * 8 / 3 / 16 * 16; // 336, as the lab computes it
    return c;
}

// Bytes of optimizer state the optimizer holds for the registry's entries.
static int64_t state_bytes(const NnOptimizer *opt, const NnParams *p)
{
    int64_t total = 0;
    for (int i = 0; i < nn_params_count(p); i++) {
        int64_t step;
        const float *m, *v;
        if (!nn_optim_state_get(opt, i, &step, &m, &v)) continue;
        int64_t n = tensor_numel(nn_params_at(p, i)->t);
        total += (m ? n : 0) * 4 + (v ? n : 0) * 4;
    }
    return total;
}

// One training step of row r on tokens x (B * T + 1 ids); adds its two times to fb, op.
static void step(TfModel *m, Row *r, Graph *g, const int32_t *x, int64_t B, int64_t T,
                 double *fb, double *op)
{
    NnParams *train;
    if (r->set) {
        nn_lora_freeze_base(m->params, nn_lora_params(r->set));
        tf_model_attach_lora(m, r->set);
        train = nn_lora_params(r->set);
    } else {
        tf_model_detach_lora(m);
        nn_params_unfreeze(m->params, "");
        train = m->params;
    }
    double t0 = bench_now();
    Tensor *tok = tensor_from_i32(graph_arena(g), 2, (int64_t[]){B, T}, x);
    Tensor *tgt = tensor_from_i32(graph_arena(g), 2, (int64_t[]){B, T}, x + 1);
    graph_backward(g, tf_model_loss(g, m, tok, tgt, true, NULL));
    graph_reset(g);
    double t1 = bench_now();
    nn_optim_step(r->opt, train);
    nn_params_zero_grad(train);
    double t2 = bench_now();
    *fb = t1 - t0;
    *op = t2 - t1;
}

int main(int argc, char **argv)
{
    int quick = 0, steps = 0, warmup = -1, batch = 16;
    uint64_t seed = 1;
    const char *targets = "all";
    CliOpt opts[] = {
        {"--quick", CLI_FLAG, &quick, "a smoke run: 1 warm-up and 2 timed steps per row"},
        {"--steps", CLI_INT, &steps, "timed steps per row (default 8)"},
        {"--warmup", CLI_INT, &warmup, "untimed steps per row first (default 2)"},
        {"--batch", CLI_INT, &batch, "sequences of 128 tokens per step (default 16)"},
        {"--targets", CLI_STR, &targets, "LoRA targets, e.g. q,v (default all)"},
        {"--seed", CLI_U64, &seed, "model, adapter and token seed"},
    };
    int rc = cli_parse(argc, argv, opts, 6, "bench_lora: LoRA vs full fine-tuning, week-3 llama");
    if (rc >= 0) return rc;
    if (steps == 0) steps = quick ? 2 : 8;
    if (warmup < 0) warmup = quick ? 1 : 2;
    if (steps < 1 || batch < 1) {
        fprintf(stderr, "bench_lora: --steps and --batch must be >= 1\n");
        return 2;
    }
    unsigned mask;
    if (nn_lora_targets_parse(targets, &mask) != ERR_OK) {
        fprintf(stderr, "bench_lora: %s\n", err_msg());
        return 2;
    }
    char tbuf[64];
    nn_lora_targets_str(mask, tbuf, sizeof tbuf);

    TfConfig cfg = week3_llama();
    TfModel *m = tf_model_create(&cfg, seed);
    const int64_t total = nn_params_numel(m->params, false), B = batch, T = cfg.ctx;
    printf("bench_lora: llama, vocab %d, ctx %d, %d layers, C = %d, %d/%d heads, d_ff %d "
           "(%lld parameters); batch %lld x %lld; AdamW; targets %s, alpha = 2 r; %d warm-up + "
           "%d timed steps per row, interleaved; OpenBLAS core %s, %d thread(s)\n", cfg.vocab,
           cfg.ctx, cfg.n_layer, cfg.d_model, cfg.n_head, cfg.n_kv_head, cfg.d_ff,
           (long long)total, (long long)B, (long long)T, tbuf, warmup, steps,
           bench_blas_corename(), openblas_get_num_threads());
    fflush(stdout);

    NnOptimConfig oc = nn_optim_defaults(NN_OPTIM_ADAMW, 1e-4f);
    Row rows[N_ROWS];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < N_ROWS; i++) {
        Row *r = &rows[i];
        r->opt = nn_optim_create(&oc);
        r->fb = xcalloc((size_t)steps, sizeof(double));
        r->op = xcalloc((size_t)steps, sizeof(double));
        if (i == 0) {
            snprintf(r->name, sizeof r->name, "full");
            r->trainable = total;
        } else {
            int rank = RANKS[i - 1];
            snprintf(r->name, sizeof r->name, "lora r=%d", rank);
            NnLoraConfig lc = {.targets = mask, .rank = rank, .alpha = 2.0f * (float)rank,
                               .seed = seed + (uint64_t)i};
            if (nn_lora_create(m->params, &lc, &r->set) != ERR_OK) {
                fprintf(stderr, "bench_lora: %s\n", err_msg());
                return 1;
            }
            r->trainable = nn_lora_count(r->set).trainable;
        }
        r->adam_bytes = 2 * (int64_t)sizeof(float) * r->trainable;
    }

    Graph *g = graph_create(0);
    int32_t *x = xmalloc(sizeof(int32_t) * (size_t)(B * T + 1));
    Rng rng;
    rng_init(&rng, seed + 100);
    for (int s = 0; s < warmup + steps; s++) {
        for (int64_t j = 0; j <= B * T; j++) x[j] = (int32_t)rng_below(&rng, (uint32_t)cfg.vocab);
        for (int i = 0; i < N_ROWS; i++) {
            double fb, op;
            step(m, &rows[i], g, x, B, T, &fb, &op);
            if (s >= warmup) rows[i].fb[s - warmup] = fb, rows[i].op[s - warmup] = op;
        }
    }
    tf_model_detach_lora(m);

    // Medians; the step time is the median of the per-step sums.
    double med[N_ROWS], med_fb[N_ROWS], med_op[N_ROWS];
    double *sum = xmalloc(sizeof(double) * (size_t)steps);
    for (int i = 0; i < N_ROWS; i++) {
        Row *r = &rows[i];
        r->state_bytes = state_bytes(r->opt, r->set ? nn_lora_params(r->set) : m->params);
        for (int s = 0; s < steps; s++) sum[s] = r->fb[s] + r->op[s];
        med[i] = bench_median(sum, steps);
        med_fb[i] = bench_median(r->fb, steps);
        med_op[i] = bench_median(r->op, steps);
    }
    free(sum);

    printf("\n%-10s %12s %8s %14s %14s %10s %10s %10s %7s\n", "row", "trainable", "share",
           "Adam (2 x 4B)", "Adam measured", "fwd+bwd", "optimizer", "step", "ratio");
    json_t *jrows = json_array();
    for (int i = 0; i < N_ROWS; i++) {
        const Row *r = &rows[i];
        double ratio = med[i] / med[0];
        printf("%-10s %12lld %7.3f%% %11.3f MB %11.3f MB %7.1f ms %7.2f ms %7.1f ms %7.3f\n",
               r->name, (long long)r->trainable, 100.0 * (double)r->trainable / (double)total,
               (double)r->adam_bytes / 1e6, (double)r->state_bytes / 1e6, med_fb[i] * 1e3,
               med_op[i] * 1e3, med[i] * 1e3, ratio);
        json_t *o = json_object();
        json_object_set_new(o, "row", json_string(r->name));
        json_object_set_new(o, "rank", json_integer(i == 0 ? 0 : RANKS[i - 1]));
        json_object_set_new(o, "trainable", json_integer(r->trainable));
        json_object_set_new(o, "adam_bytes", json_integer(r->adam_bytes));
        json_object_set_new(o, "state_bytes_measured", json_integer(r->state_bytes));
        json_object_set_new(o, "ms_fwd_bwd", json_real(med_fb[i] * 1e3));
        json_object_set_new(o, "ms_optim", json_real(med_op[i] * 1e3));
        json_object_set_new(o, "ms_step", json_real(med[i] * 1e3));
        json_object_set_new(o, "ratio_to_full", json_real(ratio));
        json_array_append_new(jrows, o);
    }
    printf("(ratio = LoRA step time / full fine-tuning step time, medians; share = trainable / "
           "all %lld parameters)\n", (long long)total);
    json_t *j = json_object();
    json_object_set_new(j, "bench", json_string("lora"));
    json_object_set_new(j, "targets", json_string(tbuf));
    json_object_set_new(j, "batch", json_integer(B));
    json_object_set_new(j, "seq", json_integer(T));
    json_object_set_new(j, "params", json_integer(total));
    json_object_set_new(j, "steps", json_integer(steps));
    json_object_set_new(j, "rows", jrows);
    char *js = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("BENCH %s\n", js);
    free(js);
    json_decref(j);

    free(x);
    graph_free(g);
    for (int i = 0; i < N_ROWS; i++) {
        nn_optim_free(rows[i].opt);
        nn_lora_free(rows[i].set);
        free(rows[i].fb);
        free(rows[i].op);
    }
    tf_model_free(m);
    return 0;
}
