/*
 * Week 9 lab: fine-tuning vs prompting vs retrieval on FOLDOC facts. See README.md beside
 * this file.
 *
 *   build/release/labs/week09_finetune [--quick] [--out DIR] [--base DIR] [--rank R]
 *                                      [--targets q,v|all] [--seed S]
 *
 * 1. a base model (Llama recipe) pre-trained on FOLDOC (held-out entries removed) + Jargon
 * 2. the task: "Q: What is X?\nA: <first sentence>" pairs, seen / held-out by headword hash
 * 3. prompting, full fine-tuning, LoRA, RAG on the same questions: EM, F1, cost (table + JSON)
 * 4. overfitting: loss curves with early stopping; LoRA rank and data size vs validation loss
 * 5. the adapted model (LoRA merged) as GGUF + the adapter alone; llama.cpp agrees
 * 6. tuning the retriever instead: InfoNCE on the embedder, retrieval before / after
 */
#include "lab.h"

#include "core/cli.h"
#include "core/err.h"
#include "core/io.h"
#include "core/plot.h"
#include "datasets/datasets.h"
#include "nn/progress.h"
#include "transformer/train.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct {
    char name[48];
    int64_t trainable, state_bytes, mem_bytes;
    double seconds;
    int epochs, best_epoch;
    double em[3], f1[3]; // [0] seen, [1] seen entries paraphrased, [2] held out
} Row;

static int fail(const char *what)
{
    fprintf(stderr, "error: %s: %s\n", what, err_msg());
    return 1;
}

// Greedy answers to the seen questions (as trained, then paraphrased) and to the held-out
// ones, scored; prints one of each.
static void eval_model(const TfModel *m, TfBpe *tok, const LabData *d,
                       const int64_t *const idx[2], const int64_t n[2], Row *row)
{
    static const char *const set_name[3] = {"seen", "paraphrased", "held out"};
    NnProgress *pb = nn_progress_start(2 * n[0] + n[1], row->name);
    int64_t done = 0;
    for (int s = 0; s < 3; s++) {
        int set = s == 2;
        row->em[s] = row->f1[s] = 0;
        for (int64_t i = 0; i < n[set]; i++) {
            const LabQa *q = &d->qa[idx[set][i]];
            const char *prompt = s == 1 ? q->paraphrase : q->prompt;
            char *a = lab_greedy_answer(m, tok, prompt, 32);
            double em, f1;
            lab_score(a, q->answer, &em, &f1);
            row->em[s] += em / (double)n[set], row->f1[s] += f1 / (double)n[set];
            if (i == 0) printf("  [%s, %s] %s %s\n", row->name, set_name[s], prompt, a);
            free(a);
            nn_progress_update(pb, ++done, NAN, NULL);
        }
    }
    nn_progress_finish(pb);
}

// The base model: loaded from dir (the week-3 lab's files) or pre-trained here into dir.
static int base_model(const char *dir, bool load, bool quick, const LabData *d, TfModel **m,
                      TfBpe **tok)
{
    char mp[2048], enc[2048], voc[2048];
    snprintf(mp, sizeof mp, "%s/model.safetensors", dir);
    snprintf(enc, sizeof enc, "%s/encoder.json", dir);
    snprintf(voc, sizeof voc, "%s/vocab.bpe", dir);
    if (load) {
        int rc = tf_tok_bpe_load(enc, voc, tok);
        if (rc == ERR_OK) rc = tf_model_load(mp, m);
        if (rc == ERR_OK && (*m)->cfg.arch != TF_LLAMA)
            rc = err_set(ERR_INVALID, "%s is a %s model; hint: GGUF export needs the llama recipe "
                         "(week03_transformer --arch llama)", mp, tf_arch_name((*m)->cfg.arch));
        if (rc == ERR_OK && tf_tok_bpe_vocab_size(*tok) > (*m)->cfg.vocab)
            rc = err_set(ERR_SHAPE, "%s has more tokens than %s's vocab", enc, mp);
        if (rc == ERR_OK)
            printf("base model loaded from %s (note: it may have read the held-out entries)\n", dir);
        return rc;
    }
    size_t n = quick && d->pretrain_len > 1500000 ? 1500000 : d->pretrain_len;
    *tok = tf_tok_bpe_train(d->pretrain, n, quick ? 512 : 2048);
    int32_t *ids;
    int64_t n_ids = tf_tok_bpe_encode(*tok, d->pretrain, n, &ids);
    TfConfig cfg = tf_config_default(TF_LLAMA);
    int width = quick ? 64 : 128;
    cfg.vocab = tf_tok_bpe_vocab_size(*tok), cfg.ctx = quick ? 64 : 128, cfg.d_model = width;
    cfg.n_layer = quick ? 2 : 4, cfg.n_head = 4, cfg.n_kv_head = 2, cfg.d_ff = width * 8 / 3 / 16 * 16;
    *m = tf_model_create(&cfg, 1);
    TfTrainConfig tc = tf_train_defaults();
    tc.batch = 16, tc.seq_len = cfg.ctx, tc.steps = quick ? 400 : 2000, tc.warmup = tc.steps / 10;
    tc.lr = 2e-3f, tc.min_lr = 2e-4f, tc.val_every = tc.steps / 4, tc.val_batches = 4;
    tc.out_dir = dir, tc.ckpt_every = 0;
    printf("pre-training a llama (%d layers, width %d, %lld parameters) on %zu bytes = %lld tokens"
           " of FOLDOC (held-out entries removed) + Jargon, %lld steps\n", cfg.n_layer, width,
           (long long)nn_params_numel((*m)->params, false), n, (long long)n_ids,
           (long long)tc.steps);
    TfTrain *tr = tf_train_create(*m, ids, n_ids, &tc);
    int rc = tf_train_run(tr);
    printf("base validation loss %.3f (ln V = %.3f)\n", tf_train_eval(tr), log(cfg.vocab));
    tf_train_free(tr);
    free(ids);
    if (rc == ERR_OK) rc = tf_tok_bpe_save(*tok, enc, voc);
    if (rc == ERR_OK) rc = tf_model_save(*m, mp);
    return rc;
}

// One fine-tuning run on a fresh copy of the base; lora_rank 0 = full fine-tuning. The model
// (and adapter) are returned when wanted, else freed.
static int run(const char *base_path, const LabExamples *tr, const LabExamples *va,
               const LabExamples *probe, int rank, unsigned targets, int epochs,
               uint64_t seed, const char *label, LabFtResult *res, TfModel **keep,
               NnLora **keep_lora)
{
    TfModel *m;
    NnLora *lora = NULL;
    int rc = tf_model_load(base_path, &m);
    if (rc != ERR_OK) return rc;
    if (rank > 0) {
        NnLoraConfig lc = {.targets = targets, .rank = rank, .alpha = 2.0f * (float)rank,
                           .seed = seed};
        if ((rc = nn_lora_create(m->params, &lc, &lora)) != ERR_OK) {
            tf_model_free(m);
            return rc;
        }
        tf_model_attach_lora(m, lora);
    }
    // The main runs (keep) train to the end so the curves show overfitting, the sweeps stop
    // 6 epochs past their best; both keep the best-validation weights aside.
    // LoRA's learning rate is ~7x full fine-tuning's: B starts at zero and the update is
    // confined to rank r (swept in README.md: 3e-3 learns too slowly, 2e-2 is fastest at
    // r = 8). With alpha = 2r the update s B A sums r rank-one terms that Adam each moves by
    // ~lr, so the rate falls as 1/sqrt(r) above r = 8 (r = 32 at 2e-2 diverges).
    float lr = rank == 0 ? 3e-3f : rank <= 8 ? 2e-2f : 2e-2f * sqrtf(8.0f / (float)rank);
    // The main runs (keep) train to the end so the curves show what happens; the sweeps stop
    // 10 epochs past their best. Both keep the best-validation weights aside.
    LabFtConfig fc = {.max_epochs = epochs, .patience = keep ? epochs : 10, .batch = 16,
                      .lr = lr, .seed = seed, .label = label};
    rc = lab_finetune(m, lora, tr, va, probe, &fc, res);
    if (keep && rc == ERR_OK) {
        *keep = m, *keep_lora = lora;
        return ERR_OK;
    }
    tf_model_detach_lora(m);
    nn_lora_free(lora);
    tf_model_free(m);
    return rc;
}

// Skip-gram word vectors of FOLDOC (week 2): the dense half of RAG's hybrid search and the
// input of the embedding tuning of part 6.
static int word_vectors(bool quick, NnW2v *w2v)
{
    char *text;
    size_t len;
    int rc = ds_corpus_text("foldoc", &text, &len);
    if (rc != ERR_OK) return rc;
    int dim = quick ? 48 : 100, epochs = quick ? 1 : 3;
    rc = nn_w2v_init(w2v, text, 0, 3, dim, 1);
    NnW2vConfig wc = {.window = 5, .negatives = 5, .epochs = epochs, .lr = 0.025f,
                      .subsample = 1e-3f, .seed = 1, .progress = 1};
    if (rc == ERR_OK) {
        printf("word vectors: %lld words x %d dims, %d epoch(s) over FOLDOC\n",
               (long long)w2v->vocab, dim, epochs);
        if ((rc = nn_w2v_train(w2v, text, 0, &wc, NULL)) == ERR_OK) nn_w2v_normalize(w2v);
        else nn_w2v_deinit(w2v);
    }
    free(text);
    return rc;
}

static void fill_row(Row *row, const char *name, const LabFtResult *r)
{
    snprintf(row->name, sizeof row->name, "%s", name);
    row->trainable = r->trainable, row->state_bytes = r->state_bytes;
    row->mem_bytes = r->param_bytes + r->state_bytes, row->seconds = r->seconds;
    row->epochs = r->epochs, row->best_epoch = r->best_epoch;
}

static json_t *row_json(const Row *r)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:f, s:i, s:i, s:f, s:f, s:f, s:f}", "method", r->name,
                     "trainable", (json_int_t)r->trainable, "optimizer_state_bytes",
                     (json_int_t)r->state_bytes, "train_memory_bytes", (json_int_t)r->mem_bytes,
                     "train_seconds", r->seconds, "epochs", r->epochs, "best_epoch",
                     r->best_epoch, "seen_em", r->em[0], "seen_f1", r->f1[0], "held_em",
                     r->em[1], "held_f1", r->f1[1]);
}

int main(int argc, char **argv)
{
    int quick = 0, rank = 8;
    uint64_t seed = 1;
    const char *out = "out/week09_finetune", *base_dir = NULL, *targets_s = "all";
    CliOpt opts[] = {
        {"--quick", CLI_FLAG, &quick, "a small base model and task, about 2 minutes"},
        {"--out", CLI_STR, &out, "output folder"},
        {"--base", CLI_STR, &base_dir, "a llama model folder (model.safetensors, encoder.json, "
                                       "vocab.bpe) instead of pre-training one here"},
        {"--rank", CLI_INT, &rank, "LoRA rank of the main run"},
        {"--targets", CLI_STR, &targets_s, "LoRA targets: q,k,v,o,gate,up,down or all"},
        {"--seed", CLI_U64, &seed, "seed of the adapters and the batch order"},
    };
    int rc = cli_parse(argc, argv, opts, 6, "week09_finetune: fine-tuning vs prompting vs RAG");
    if (rc >= 0) return rc;
    unsigned targets;
    if (nn_lora_targets_parse(targets_s, &targets) != ERR_OK || rank < 1 || rank > 256) {
        fprintf(stderr, "error: --targets must name q,k,v,o,gate,up,down or all, --rank 1..256\n");
        return 2;
    }
    char path[1024], base_path[2048], bdir[1024];
    if (io_mkdir_p(out) != ERR_OK) return fail("output folder");

    printf("== 1-2. the task: FOLDOC facts as questions\n");
    LabData d;
    if (lab_data_load(&d) != ERR_OK) return fail("FOLDOC");
    int64_t cnt[2] = {0, 0};
    for (int64_t i = 0; i < d.n; i++) cnt[d.qa[i].split]++;
    printf("%lld question/answer pairs: %lld may be trained on, %lld held out (by headword)\n",
           (long long)d.n, (long long)cnt[LAB_TRAIN], (long long)cnt[LAB_HELD]);
    snprintf(bdir, sizeof bdir, "%s/base", out);
    if (!base_dir && io_mkdir_p(bdir) != ERR_OK) return fail("base folder");
    TfModel *base;
    TfBpe *tok;
    if (base_model(base_dir ? base_dir : bdir, base_dir != NULL, quick, &d, &base, &tok) != ERR_OK)
        return fail("base model");
    snprintf(base_path, sizeof base_path, "%s/model.safetensors", base_dir ? base_dir : bdir);
    int64_t T = base->cfg.ctx < 64 ? base->cfg.ctx : 64, E = quick ? 64 : 300;
    LabExamples tr, va, ho;
    lab_examples_make(&d, LAB_TRAIN, quick ? 64 : 512, tok, T, &tr);
    lab_examples_rephrase(&d, &tr, tok, &va);
    lab_examples_make(&d, LAB_HELD, E, tok, T, &ho);
    const int64_t *idx[2] = {tr.src, ho.src};
    int64_t n_eval[2] = {tr.n < E ? tr.n : E, ho.n};
    const LabQa *ex = &d.qa[tr.src[0]];
    printf("fine-tuning set: %lld examples of <= %lld tokens, e.g.\n%s %s\nvalidation (early "
           "stopping): the same %lld facts asked another way, e.g. \"%s\"\nevaluated on %lld "
           "seen questions (as trained and paraphrased) and %lld held-out questions\n",
           (long long)tr.n, (long long)T, ex->prompt, ex->answer, (long long)va.n,
           ex->paraphrase, (long long)n_eval[0], (long long)n_eval[1]);

    printf("\n== 3. four ways to answer\n");
    Row rows[6];
    memset(rows, 0, sizeof rows);
    snprintf(rows[0].name, sizeof rows[0].name, "prompting (base)");
    rows[0].mem_bytes = 4 * nn_params_numel(base->params, false);
    eval_model(base, tok, &d, idx, n_eval, &rows[0]);

    LabFtResult full, lr;
    TfModel *fm, *lm;
    NnLora *unused, *lora;
    if (run(base_path, &tr, &va, &ho, 0, targets, 40, seed, "full FT", &full, &fm, &unused) !=
        ERR_OK)
        return fail("full fine-tuning");
    fill_row(&rows[1], "full FT, last epoch", &full);
    eval_model(fm, tok, &d, idx, n_eval, &rows[1]);
    lab_ft_restore(&full);
    fill_row(&rows[2], "full FT, early-stopped", &full);
    eval_model(fm, tok, &d, idx, n_eval, &rows[2]);
    tf_model_free(fm);

    char lname[16], tbuf[64];
    snprintf(lname, sizeof lname, "LoRA r=%d", rank);
    if (run(base_path, &tr, &va, &ho, rank, targets, 40, seed, lname, &lr, &lm, &lora) !=
        ERR_OK)
        return fail("LoRA");
    if (nn_lora_merge(lora) != ERR_OK) return fail("merge"); // the KV cache reads W only
    fill_row(&rows[3], "", &lr);
    snprintf(rows[3].name, sizeof rows[3].name, "%s, last epoch", lname);
    eval_model(lm, tok, &d, idx, n_eval, &rows[3]);
    nn_lora_unmerge(lora);
    lab_ft_restore(&lr);
    snprintf(path, sizeof path, "%s/adapter.safetensors", out);
    if (nn_lora_save(lora, path) != ERR_OK) return fail("adapter");
    nn_lora_merge(lora);
    fill_row(&rows[4], "", &lr);
    snprintf(rows[4].name, sizeof rows[4].name, "%s, early-stopped", lname);
    eval_model(lm, tok, &d, idx, n_eval, &rows[4]);

    snprintf(rows[5].name, sizeof rows[5].name, "RAG (base + FOLDOC)");
    rows[5].mem_bytes = rows[0].mem_bytes;
    NnW2v w2v;
    if (word_vectors(quick, &w2v) != ERR_OK) return fail("word vectors");
    printf("RAG: the FOLDOC index and %lld + %lld + %lld cited answers\n", (long long)n_eval[0],
           (long long)n_eval[0], (long long)n_eval[1]);
    if (lab_rag_eval(&d, base, tok, &w2v, idx, n_eval, rows[5].em, rows[5].f1,
                     &rows[5].seconds) != ERR_OK)
        return fail("RAG");

    int64_t total = nn_params_numel(base->params, false);
    printf("\n%-24s %9s %7s %7s %8s %6s %6s | %6s %6s | %6s %6s | %6s %6s\n", "method",
           "trainable", "share", "Adam MB", "train MB", "time s", "epochs", "seenEM", "seenF1",
           "paraEM", "paraF1", "heldEM", "heldF1");
    json_t *jrows = json_array();
    for (int i = 0; i < 6; i++) {
        const Row *r = &rows[i];
        char ep[16] = "-";
        if (r->epochs) snprintf(ep, sizeof ep, "%d/%d", r->best_epoch, r->epochs);
        printf("%-24s %9lld %6.2f%% %7.3f %8.2f %6.1f %6s | %6.3f %6.3f | %6.3f %6.3f | %6.3f "
               "%6.3f\n", r->name, (long long)r->trainable,
               100.0 * (double)r->trainable / (double)total, (double)r->state_bytes / 1e6,
               (double)r->mem_bytes / 1e6, r->seconds, ep, r->em[0], r->f1[0], r->em[1],
               r->f1[1], r->em[2], r->f1[2]);
        json_array_append_new(jrows, row_json(r));
    }
    printf("(%lld base parameters; epochs = best/run; train MB = weights + trainable gradients + "
           "Adam state; seen = trained wording, para = the same facts as \"What does X mean?\", "
           "held = entries never trained on; RAG's time = index + answering)\n",
           (long long)total);

    printf("\n== 4. overfitting: early stopping, LoRA rank, data size\n");
    float ep_x[128];
    for (int i = 0; i < 128; i++) ep_x[i] = (float)i;
    PlotSeries s1[6] = {
        {.label = "full FT train", .x = ep_x + 1, .y = full.train_loss + 1, .n = full.epochs},
        {.label = "full FT val (paraphrased)", .x = ep_x, .y = full.val_loss, .n = full.epochs + 1},
        {.label = "full FT held-out facts", .x = ep_x, .y = full.probe_loss, .n = full.epochs + 1},
        {.label = "LoRA train", .x = ep_x + 1, .y = lr.train_loss + 1, .n = lr.epochs},
        {.label = "LoRA val (paraphrased)", .x = ep_x, .y = lr.val_loss, .n = lr.epochs + 1},
        {.label = "LoRA held-out facts", .x = ep_x, .y = lr.probe_loss, .n = lr.epochs + 1},
    };
    snprintf(path, sizeof path, "%s/loss.png", out);
    if (plot_lines(path, s1, 6, &(PlotOpts){.title = "Fine-tuning on FOLDOC answers (early "
                   "stopping keeps the val minimum)", .xlabel = "epoch", .ylabel = "loss "
                   "(answer tokens)"}) != ERR_OK)
        return fail("plot");
    printf("wrote %s\n%-8s %12s %12s %14s %16s\n", path, "run", "train loss", "best val",
           "at epoch", "held-out facts");
    for (int i = 0; i < 2; i++) {
        const LabFtResult *r = i ? &lr : &full;
        printf("%-8s %5.3f->%5.3f %5.3f->%5.3f %8d of %2d %7.3f->%7.3f\n", i ? "LoRA" : "full FT",
               (double)r->train_loss[1], (double)r->train_loss[r->epochs],
               (double)r->val_loss[0], (double)r->val_loss[r->best_epoch], r->best_epoch,
               r->epochs, (double)r->probe_loss[0], (double)r->probe_loss[r->epochs]);
    }
    LabExamples quarter = tr;
    quarter.n = tr.n / 4;
    struct { const char *name; int rank; const LabExamples *data; } sw[5] = {
        {"LoRA r=1", 1, &tr}, {"LoRA r=32", 32, &tr}, {"LoRA r=8, 25% data", 8, &quarter},
        {NULL, 0, NULL}};
    LabFtResult sr[3];
    PlotSeries s2[5];
    json_t *jsweep = json_array();
    printf("%-22s %9s %9s %10s %10s %8s\n", "run", "trainable", "examples", "train loss",
           "best val", "epoch");
    for (int i = 0; i < 5; i++) {
        const LabFtResult *r = i == 0 ? &lr : i == 1 ? &full : &sr[i - 2];
        const char *name = i == 0 ? lname : i == 1 ? "full FT" : sw[i - 2].name;
        // 20 epochs of the whole set, and as many steps (more epochs) on a quarter of it.
        int ep = i >= 2 ? (int)(20 * tr.n / sw[i - 2].data->n) : 0;
        if (i >= 2 && run(base_path, sw[i - 2].data, &va, NULL, sw[i - 2].rank, targets, ep,
                          seed, name, &sr[i - 2], NULL, NULL) != ERR_OK)
            return fail("sweep");
        s2[i] = (PlotSeries){.label = name, .x = ep_x, .y = r->val_loss, .n = r->epochs + 1};
        int64_t n_ex = i >= 2 ? sw[i - 2].data->n : tr.n;
        printf("%-22s %9lld %9lld %10.3f %10.3f %5d/%d\n", name, (long long)r->trainable,
               (long long)n_ex, (double)r->train_loss[r->best_epoch > 0 ? r->best_epoch : 1],
               (double)r->val_loss[r->best_epoch], r->best_epoch, r->epochs);
        json_array_append_new(jsweep, json_pack("{s:s, s:I, s:I, s:f, s:i, s:i}", "run", name,
                              "trainable", (json_int_t)r->trainable, "examples",
                              (json_int_t)n_ex, "best_val_loss",
                              (double)r->val_loss[r->best_epoch], "best_epoch", r->best_epoch,
                              "epochs", r->epochs));
    }
    snprintf(path, sizeof path, "%s/sweep.png", out);
    if (plot_lines(path, s2, 5, &(PlotOpts){.title = "Validation loss: LoRA rank and data size",
                   .xlabel = "epoch", .ylabel = "val loss"}) != ERR_OK)
        return fail("plot");
    printf("wrote %s\n", path);

    printf("\n== 5. the adapted model leaves the engine\n");
    nn_lora_targets_str(targets, tbuf, sizeof tbuf);
    printf("adapter alone (rank %d, targets %s, %lld parameters): %s/adapter.safetensors\n", rank,
           tbuf, (long long)lr.trainable, out);
    snprintf(path, sizeof path, "%s/adapted.gguf", out);
    if (lab_gguf_check(lm, tok, path, ex->prompt) != ERR_OK) return fail("GGUF");

    printf("\n== 6. tuning the retriever instead: contrastive embedding tuning\n");
    json_t *jtune = json_object();
    if (lab_embed_tune(&w2v, quick ? 300 : 0, out, jtune) != ERR_OK) return fail("tuning");

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    json_t *j = json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:s, s:i, s:I}", "methods", jrows,
                          "sweep", jsweep, "base_parameters", (json_int_t)total, "n_seen_eval",
                          (json_int_t)n_eval[0], "n_held_eval", (json_int_t)n_eval[1],
                          "n_train", (json_int_t)tr.n, "lora_targets", tbuf, "lora_rank", rank,
                          "peak_rss_kb", (json_int_t)ru.ru_maxrss);
    json_object_update(j, jtune);
    json_decref(jtune);
    char *js = json_dumps(j, JSON_INDENT(1) | JSON_REAL_PRECISION(5));
    snprintf(path, sizeof path, "%s/results.json", out);
    if (io_write_atomic(path, js, strlen(js)) != ERR_OK) return fail("results");
    printf("wrote %s; peak RSS of the whole run %.0f MB\n", path, (double)ru.ru_maxrss / 1024);
    free(js);
    json_decref(j);

    for (int i = 0; i < 3; i++) lab_ft_free(&sr[i]);
    lab_ft_free(&full), lab_ft_free(&lr);
    tf_model_detach_lora(lm);
    nn_lora_free(lora);
    tf_model_free(lm);
    nn_w2v_deinit(&w2v);
    lab_examples_free(&tr), lab_examples_free(&va), lab_examples_free(&ho);
    tf_model_free(base);
    tf_tok_bpe_free(tok);
    lab_data_free(&d);
    return 0;
}
