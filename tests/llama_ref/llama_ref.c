/*
 * llama_ref.c: a small command-line driver over REAL llama.cpp, the reference that the
 * engine's GGUF export and KV-cache generation are checked and timed against.
 *
 * It is linked against the prebuilt libllama that npm's node-llama-cpp ships (pinned in
 * tools/npm, installed by tools/deps.sh into build/npm) and compiled against the llama.h of
 * the source bundle that ships in the same package, by tests/llama_ref/build.sh. It is not
 * part of the Makefile's programs: without node/npm there is nothing to link it with, and the
 * callers (tests/transformer/test_llama_agree.c, bench/bench_llama.c) then skip.
 *
 * Commands (every result is one line starting with an upper-case tag, numbers separated by
 * spaces, so callers parse it with sscanf/strtod):
 *
 *   llama_ref tokenize MODEL TEXT
 *       TOKENS n id_0 ... id_{n-1}          llama_tokenize with add_special = false (no BOS)
 *   llama_ref eval MODEL ID,ID,... [--gen G] [--threads T] [--lora FILE [--lora-scale S]]
 *       LOGITS V l_0 ... l_{V-1}            raw logits of the LAST prompt position (%.9g)
 *       GREEDY G id_0 ... id_{G-1}          then G greedy tokens (argmax, ties: lowest id),
 *                                           each decoded one at a time through the KV cache
 *   llama_ref bench MODEL [--threads T] [--prefill P] [--gen G] [--reps R] [--lora FILE
 *                   [--lora-scale S]]
 *       PREFILL_TPS x                       P tokens in one batch, median of R runs
 *       GEN_TPS y                           1 token, then G greedy decodes, median of R runs
 *       PEER {"threads":T,...,"prefill_tps":x,"gen_tps":y}   the same, as JSON (bench_util.h)
 *   llama_ref quantize IN OUT               OUT = IN with every matrix in Q8_0 (information)
 *       QUANTIZED OUT
 *
 * --lora FILE loads a GGUF LoRA adapter (general.type = "adapter") with
 * llama_adapter_lora_init and applies it to the context with llama_set_adapters_lora at user
 * scale S (default 1.0): each adapted matmul then adds S * alpha / r * B (A x). A file that
 * llama.cpp refuses exits with status 1 (LLAMA_REF_VERBOSE=1 shows its reason).
 *
 * The context is what the agreement needs: n_ctx 256 (or more when P + G needs it), one
 * sequence, an F32 KV cache, flash attention off, CPU only. Threads: --threads sets both the
 * generation and the batch count (default 1).
 *
 * Errors: a model that fails to load or a decode that fails prints "llama_ref: ..." on stderr
 * and exits with status 1; bad usage exits 2. llama.cpp's own log is dropped unless
 * LLAMA_REF_VERBOSE=1.
 */
#include <llama.h>
#include <ggml-backend.h>

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef LLAMA_REF_BINS
#error "build with -DLLAMA_REF_BINS=\"<dir of libggml-cpu-*.so>\" (tests/llama_ref/build.sh)"
#endif

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

static void die(const char *what)
{
    fprintf(stderr, "llama_ref: %s\n", what);
    exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: llama_ref tokenize MODEL TEXT\n"
                    "       llama_ref eval MODEL ID,ID,... [--gen G] [--threads T] "
                    "[--lora FILE [--lora-scale S]]\n"
                    "       llama_ref bench MODEL [--threads T] [--prefill P] [--gen G] "
                    "[--reps R] [--lora FILE [--lora-scale S]]\n"
                    "       llama_ref quantize IN OUT\n");
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void quiet_log(enum ggml_log_level level, const char *text, void *user)
{
    (void)level, (void)text, (void)user;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Parses a positive integer option value; exits with usage on garbage.
static int parse_pos(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 1000000) usage();
    return (int)v;
}

// Parses a finite float option value; exits with usage on garbage.
static float parse_float(const char *s)
{
    char *end;
    float v = strtof(s, &end);
    if (*s == '\0' || *end != '\0' || !isfinite(v)) usage();
    return v;
}

// The argmax of logits (V,), ties to the lowest id: the engine's tf_sample_argmax rule.
static llama_token argmax(const float *logits, int V)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    return (llama_token)best;
}

// ---------------------------------------------------------------------------
// Model and context
// ---------------------------------------------------------------------------

static struct llama_model *load_model(const char *path)
{
    const char *verbose = getenv("LLAMA_REF_VERBOSE");
    if (!(verbose && strcmp(verbose, "1") == 0)) llama_log_set(quiet_log, NULL);
    // The prebuilt CPU backends are separate libraries (one per instruction set); load them
    // from the package's folder, which picks the best one this CPU runs.
    ggml_backend_load_all_from_path(LLAMA_REF_BINS);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) {
        fprintf(stderr, "llama_ref: llama.cpp could not load %s (rerun with "
                        "LLAMA_REF_VERBOSE=1 for its log)\n", path);
        exit(1);
    }
    return model;
}

static struct llama_context *new_context(struct llama_model *model, int n_ctx, int threads)
{
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n_ctx < 256 ? 256 : n_ctx);
    cp.n_batch = cp.n_ctx;
    cp.n_ubatch = cp.n_ctx;
    cp.n_seq_max = 1;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) die("llama_init_from_model failed");
    return ctx;
}

// A LoRA adapter to apply (path NULL: none) and llama.cpp's user scale for it.
typedef struct {
    const char *path;
    float scale;
} LoraOpt;

// Loads the adapter file (it then belongs to the model, which frees it) and applies it to ctx.
static void apply_lora(struct llama_model *model, struct llama_context *ctx, LoraOpt lora)
{
    if (!lora.path) return;
    struct llama_adapter_lora *ad = llama_adapter_lora_init(model, lora.path);
    if (!ad) {
        fprintf(stderr, "llama_ref: llama.cpp refused the LoRA adapter %s (rerun with "
                        "LLAMA_REF_VERBOSE=1 for its log)\n", lora.path);
        exit(1);
    }
    if (llama_set_adapters_lora(ctx, &ad, 1, &lora.scale) != 0)
        die("llama_set_adapters_lora failed");
}

// Decodes n tokens as the next positions of sequence 0 (logits of the last one only).
static void decode(struct llama_context *ctx, llama_token *tokens, int n)
{
    struct llama_batch b = llama_batch_get_one(tokens, n);
    int rc = llama_decode(ctx, b);
    if (rc != 0) {
        fprintf(stderr, "llama_ref: llama_decode of %d tokens returned %d\n", n, rc);
        exit(1);
    }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

static int cmd_tokenize(const char *path, const char *text)
{
    struct llama_model *model = load_model(path);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int32_t len = (int32_t)strlen(text);
    int32_t cap = len + 16;
    llama_token *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) die("out of memory");
    int32_t n = llama_tokenize(vocab, text, len, ids, cap, false, false);
    if (n < 0) die("llama_tokenize failed");
    printf("TOKENS %d", (int)n);
    for (int i = 0; i < n; i++) printf(" %d", (int)ids[i]);
    printf("\n");
    free(ids);
    llama_model_free(model);
    return 0;
}

// Parses "1,2,3" into a new array; *n gets the count.
static llama_token *parse_ids(const char *s, int *n)
{
    int cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    llama_token *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) die("out of memory");
    int k = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX) usage();
        ids[k++] = (llama_token)v;
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0') usage();
    }
    if (k == 0) usage();
    *n = k;
    return ids;
}

static int cmd_eval(const char *path, const char *id_list, int gen, int threads, LoraOpt lora)
{
    int n;
    llama_token *ids = parse_ids(id_list, &n);
    struct llama_model *model = load_model(path);
    int V = llama_vocab_n_tokens(llama_model_get_vocab(model));
    for (int i = 0; i < n; i++)
        if (ids[i] >= V) die("a token id is outside the model's vocabulary");
    struct llama_context *ctx = new_context(model, n + gen + 1, threads);
    apply_lora(model, ctx, lora);

    decode(ctx, ids, n);
    const float *logits = llama_get_logits_ith(ctx, -1);
    if (!logits) die("no logits for the last position");
    printf("LOGITS %d", V);
    for (int i = 0; i < V; i++) printf(" %.9g", (double)logits[i]);
    printf("\n");

    printf("GREEDY %d", gen);
    for (int g = 0; g < gen; g++) {
        llama_token next = argmax(logits, V);
        printf(" %d", (int)next);
        decode(ctx, &next, 1);
        logits = llama_get_logits_ith(ctx, -1);
        if (!logits) die("no logits while generating");
    }
    printf("\n");
    llama_free(ctx);
    llama_model_free(model);
    free(ids);
    return 0;
}

static int cmd_bench(const char *path, int threads, int prefill, int gen, int reps,
                     LoraOpt lora)
{
    struct llama_model *model = load_model(path);
    int V = llama_vocab_n_tokens(llama_model_get_vocab(model));
    int n_ctx = (prefill > gen + 1 ? prefill : gen + 1) + 1;
    struct llama_context *ctx = new_context(model, n_ctx, threads);
    apply_lora(model, ctx, lora);
    llama_memory_t mem = llama_get_memory(ctx);

    // A fixed pseudo-random prompt (LCG), the same on every run.
    llama_token *prompt = malloc((size_t)prefill * sizeof *prompt);
    if (!prompt) die("out of memory");
    uint32_t st = 12345u;
    for (int i = 0; i < prefill; i++) {
        st = st * 1664525u + 1013904223u;
        prompt[i] = (llama_token)((st >> 8) % (uint32_t)V);
    }

    double *tp = malloc((size_t)(reps + 1) * sizeof *tp);
    double *tg = malloc((size_t)(reps + 1) * sizeof *tg);
    if (!tp || !tg) die("out of memory");
    // One warm-up round (r = 0, not counted), then reps timed ones.
    for (int r = 0; r <= reps; r++) {
        llama_memory_clear(mem, true);
        double t0 = now_s();
        decode(ctx, prompt, prefill);
        tp[r] = now_s() - t0;

        llama_memory_clear(mem, true);
        llama_token tok = prompt[0];
        decode(ctx, &tok, 1);
        t0 = now_s();
        for (int g = 0; g < gen; g++) {
            tok = argmax(llama_get_logits_ith(ctx, -1), V);
            decode(ctx, &tok, 1);
        }
        tg[r] = now_s() - t0;
    }
    double ptps = (double)prefill / median(tp + 1, reps);
    double gtps = (double)gen / median(tg + 1, reps);
    printf("PREFILL_TPS %.1f\n", ptps);
    printf("GEN_TPS %.1f\n", gtps);
    // The same figures as the one JSON line bench/common's bench_run_peer reads.
    printf("PEER {\"threads\":%d,\"prefill\":%d,\"gen\":%d,\"prefill_tps\":%.1f,"
           "\"gen_tps\":%.1f}\n", threads, prefill, gen, ptps, gtps);
    free(tp);
    free(tg);
    free(prompt);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

static int cmd_quantize(const char *in, const char *out)
{
    const char *verbose = getenv("LLAMA_REF_VERBOSE");
    if (!(verbose && strcmp(verbose, "1") == 0)) llama_log_set(quiet_log, NULL);
    ggml_backend_load_all_from_path(LLAMA_REF_BINS);
    llama_backend_init();
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.nthread = 1;
    qp.ftype = LLAMA_FTYPE_MOSTLY_Q8_0;
    if (llama_model_quantize(in, out, &qp) != 0) die("llama_model_quantize failed");
    printf("QUANTIZED %s\n", out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) usage();
    const char *cmd = argv[1], *path = argv[2];
    if (strcmp(cmd, "tokenize") == 0) {
        if (argc != 4) usage();
        return cmd_tokenize(path, argv[3]);
    }
    if (strcmp(cmd, "quantize") == 0) {
        if (argc != 4) usage();
        return cmd_quantize(path, argv[3]);
    }
    int first_opt = strcmp(cmd, "eval") == 0 ? 4 : 3;
    if (strcmp(cmd, "eval") == 0 && argc < 4) usage();
    int gen = strcmp(cmd, "eval") == 0 ? 0 : 128, threads = 1, prefill = 128, reps = 5;
    LoraOpt lora = {.path = NULL, .scale = 1.0f};
    bool lora_scale_set = false;
    for (int i = first_opt; i < argc; i++) {
        if (i + 1 >= argc) usage();
        if (strcmp(argv[i], "--gen") == 0)
            gen = parse_pos(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = parse_pos(argv[++i]);
        else if (strcmp(argv[i], "--prefill") == 0)
            prefill = parse_pos(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0)
            reps = parse_pos(argv[++i]);
        else if (strcmp(argv[i], "--lora") == 0)
            lora.path = argv[++i];
        else if (strcmp(argv[i], "--lora-scale") == 0)
            lora.scale = parse_float(argv[++i]), lora_scale_set = true;
        else
            usage();
    }
    if (lora_scale_set && !lora.path) usage(); // a scale without an adapter is a mistake
    if (strcmp(cmd, "eval") == 0) return cmd_eval(path, argv[3], gen, threads, lora);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(path, threads, prefill, gen, reps, lora);
    usage();
    return 2;
}
