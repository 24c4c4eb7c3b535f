/*
 * Week 3 lab: attention, a BPE tokenizer and a tiny transformer trained on real text.
 * See README.md beside this file.
 *
 *   build/release/labs/week03_transformer [--quick] [--arch gpt2|llama] [--out DIR]
 *   build/release/labs/week03_transformer generate --model DIR --prompt "Unix is"
 *   mpirun -np 2 build/release/labs/week03_transformer ...     (data parallel)
 */
#include "lab.h"

#include "core/cli.h"
#include "core/io.h"
#include "datasets/datasets.h"
#include "nn/dist.h"
#include "transformer/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    TfBpe *tok;
} SampleCtx;

// Called by the trainer every few hundred steps: greedy text after a fixed prompt.
static void print_sample(void *ctx, TfModel *m, int64_t step)
{
    const SampleCtx *sc = ctx;
    TfSampler greedy = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f};
    char *text = NULL;
    if (lab_generate_text(m, sc->tok, "A compiler is", 40, &greedy, "\n\n", &text) == ERR_OK)
        fprintf(stderr, "\n[step %lld] A compiler is%s\n", (long long)step, text);
    free(text);
}

// Token strings of ids, printable, for heatmap labels (buf holds n labels of 16 bytes).
static void token_labels(const TfBpe *tok, const int32_t *ids, int n, char (*buf)[16],
                         const char **labels)
{
    for (int i = 0; i < n; i++) {
        size_t len;
        const uint8_t *s = tf_tok_bpe_token(tok, ids[i], &len);
        int k = 0;
        for (size_t j = 0; j < len && k < 15; j++) buf[i][k++] = s[j] >= 32 && s[j] < 127 ? (char)s[j] : '.';
        buf[i][k] = '\0';
        labels[i] = buf[i];
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "generate") == 0) return lab_generate_main(argc - 1, argv + 1);
    nn_dist_init(&argc, &argv);
    int quick = 0, steps = 0, vocab = 0, layers = 0, width = 0;
    uint64_t seed = 1;
    const char *out = "out/week03_transformer", *arch = "gpt2";
    CliOpt opts[] = {
        {"--quick", CLI_FLAG, &quick, "a small model and corpus slice, under a minute"},
        {"--arch", CLI_STR, &arch, "gpt2 (LayerNorm, GELU, learned positions) or llama (RMSNorm, "
                                   "SwiGLU, RoPE)"},
        {"--steps", CLI_INT, &steps, "training steps (default: 300 quick, 2000 full)"},
        {"--vocab", CLI_INT, &vocab, "BPE vocabulary size (default: 512 quick, 2048 full)"},
        {"--layers", CLI_INT, &layers, "transformer blocks (default: 2 quick, 4 full)"},
        {"--width", CLI_INT, &width, "model width d_model (default: 64 quick, 128 full)"},
        {"--seed", CLI_U64, &seed, "seed of the weights and the batches"},
        {"--out", CLI_STR, &out, "folder for the tokenizer, model, logs and PNGs"},
    };
    int rc = cli_parse(argc, argv, opts, 8, "week03_transformer: attention, BPE and a tiny "
                                            "transformer (or: generate --help)");
    if (rc >= 0) return rc;
    TfArch a = strcmp(arch, "llama") == 0 ? TF_LLAMA : TF_GPT2;
    if (strcmp(arch, "gpt2") != 0 && a != TF_LLAMA) {
        fprintf(stderr, "error: --arch must be gpt2 or llama, not '%s'\n", arch);
        return 2;
    }
    if (!steps) steps = quick ? 300 : 2000;
    if (!vocab) vocab = quick ? 512 : 2048;
    if (!layers) layers = quick ? 2 : 4;
    if (!width) width = quick ? 64 : 128;
    if (steps < 1 || vocab < 257 || vocab > 65536 || layers < 1 || layers > TF_MAX_LAYERS ||
        width < 16 || width % 16) {
        fprintf(stderr, "error: need --steps >= 1, --vocab in 257..65536, --layers in 1..%d, "
                        "--width a multiple of 16\n", TF_MAX_LAYERS);
        return 2;
    }
    if (io_mkdir_p(out) != ERR_OK) return fprintf(stderr, "error: %s\n", err_msg()), 1;
    bool lead = nn_dist_rank() == 0;

    if (lead) printf("== Part 1: attention, step by step\n");
    if (lead && lab_attention_steps(out, seed) != ERR_OK) fprintf(stderr, "warning: %s\n", err_msg());

    // Part 2: a BPE tokenizer trained on the corpus, then the model.
    char *corpus;
    size_t n_bytes;
    if (ds_corpus_text("foldoc,jargon", &corpus, &n_bytes) != ERR_OK)
        return fprintf(stderr, "error: %s\n", err_msg()), 1;
    if (quick && n_bytes > 1500000) n_bytes = 1500000;
    TfBpe *tok = tf_tok_bpe_train(corpus, n_bytes, vocab);
    int32_t *ids;
    int64_t n_ids = tf_tok_bpe_encode(tok, corpus, n_bytes, &ids);
    char enc[1024], voc[1024], mpath[1024];
    snprintf(enc, sizeof enc, "%s/encoder.json", out);
    snprintf(voc, sizeof voc, "%s/vocab.bpe", out);
    snprintf(mpath, sizeof mpath, "%s/model.safetensors", out);
    if (lead) {
        printf("\n== Part 2: BPE on FOLDOC + Jargon: %zu bytes -> %lld tokens (%.2f bytes/token),"
               " vocab %d\n", n_bytes, (long long)n_ids, (double)n_bytes / (double)n_ids, vocab);
        if (tf_tok_bpe_save(tok, enc, voc) != ERR_OK) fprintf(stderr, "error: %s\n", err_msg());
    }
    TfConfig cfg = tf_config_default(a);
    cfg.vocab = tf_tok_bpe_vocab_size(tok), cfg.ctx = quick ? 64 : 128, cfg.d_model = width;
    cfg.n_layer = layers, cfg.n_head = 4, cfg.n_kv_head = a == TF_LLAMA ? 2 : 4;
    cfg.d_ff = a == TF_LLAMA ? width * 8 / 3 / 16 * 16 : 4 * width;
    TfModel *m = tf_model_create(&cfg, seed);
    TfTrainConfig tc = tf_train_defaults();
    tc.batch = 16, tc.seq_len = cfg.ctx, tc.steps = steps, tc.warmup = steps / 10;
    tc.lr = 2e-3f, tc.min_lr = 2e-4f, tc.val_every = quick ? 50 : 250, tc.val_batches = 4;
    tc.seed = seed, tc.out_dir = out, tc.ckpt_every = quick ? 0 : 500;
    SampleCtx sc = {.tok = tok};
    tc.sample = print_sample, tc.sample_ctx = &sc, tc.sample_every = quick ? 100 : 500;
    if (lead)
        printf("model: %s, %d layers, width %d, %d heads (%d kv), ctx %d, %lld parameters; "
               "%d steps of batch %lld\n", tf_arch_name(a), layers, width, cfg.n_head,
               cfg.n_kv_head, cfg.ctx, (long long)nn_params_numel(m->params, true), steps,
               (long long)tc.batch);
    TfTrain *tr = tf_train_create(m, ids, n_ids, &tc);
    float val0 = tf_train_eval(tr);
    rc = tf_train_run(tr);
    float val = tf_train_eval(tr);
    if (rc != ERR_OK) fprintf(stderr, "error: %s\n", err_msg());
    if (lead) {
        printf("validation loss: %.4f at the start (ln V = %.4f), %.4f after %d steps\n", val0,
               logf((float)cfg.vocab), val, steps);
        if (tf_model_save(m, mpath) == ERR_OK) printf("wrote %s, %s, %s\n", mpath, enc, voc);

        printf("\n== Part 3: what the model learned\n");
        const char *prompt = "The kernel schedules processes";
        int32_t *pids;
        int np = (int)tf_tok_bpe_encode(tok, prompt, strlen(prompt), &pids);
        char lb[64][16];
        const char *labels[64];
        if (np > 64) np = 64;
        token_labels(tok, pids, np, lb, labels);
        char hpath[1024];
        snprintf(hpath, sizeof hpath, "%s/attention_trained.png", out);
        if (lab_attention_map(m, pids, np, 0, labels, hpath) == ERR_OK) printf("wrote %s\n", hpath);
        free(pids);
        const TfSampler samplers[3] = {{.temperature = 0, .top_p = 1},
                                       {.temperature = 0.8f, .top_k = 40, .top_p = 1, .seed = seed},
                                       {.temperature = 1.0f, .top_p = 0.9f, .seed = seed}};
        const char *names[3] = {"greedy", "T=0.8, top-k 40", "T=1, top-p 0.9"};
        for (int i = 0; i < 3; i++) {
            char *text = NULL;
            if (lab_generate_text(m, tok, "Unix is", 50, &samplers[i], "", &text) == ERR_OK)
                printf("[%s] Unix is%s\n", names[i], text);
            free(text);
        }
        char json[256], jpath[1024];
        int jn = snprintf(json, sizeof json, "{\"arch\":\"%s\",\"steps\":%d,\"val_loss_start\":"
                          "%.4f,\"val_loss\":%.4f}\n", tf_arch_name(a), steps, val0, val);
        snprintf(jpath, sizeof jpath, "%s/summary.json", out);
        if (io_write_atomic(jpath, json, (size_t)jn) != ERR_OK) fprintf(stderr, "%s\n", err_msg());
    }
    tf_train_free(tr);
    tf_model_free(m);
    tf_tok_bpe_free(tok);
    free(ids);
    free(corpus);
    nn_dist_finalize();
    return rc == ERR_OK ? 0 : 1;
}
