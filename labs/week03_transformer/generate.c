/*
 * Week 3 lab, `generate` mode: load a model and its tokenizer, and sample text after a prompt
 * with the KV cache: greedy (--temperature 0) or temperature / top-k / top-p, seeded, with an
 * optional stop string. The model is either this lab's trained run (--model DIR) or a llama
 * GGUF file (--gguf FILE: e.g. a SmolLM2-135M you downloaded, or one written by
 * tf_gguf_export) with the tokenizer inside it. --tokens gives the prompt as token ids
 * instead (for a file whose tokenizer the engine cannot read); the output is then ids too.
 * Both load inference-only models (no gradient buffers: half the memory).
 */
#include "lab.h"

#include "core/cli.h"
#include "transformer/generate.h"
#include "transformer/gguf.h"
#include "transformer/model.h"
#include "transformer/sample.h"
#include "transformer/tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int lab_generate_text(TfModel *m, TfBpe *tok, const char *prompt, int max_new,
                      const TfSampler *sampler, const char *stop, char **text)
{
    *text = NULL;
    int32_t *ids = NULL, *stop_ids = NULL;
    int64_t n = tf_tok_bpe_encode(tok, prompt, strlen(prompt), &ids);
    int rc = ERR_OK;
    if (n < 1 || n >= m->cfg.ctx) {
        free(ids);
        return err_set(ERR_INVALID, "the prompt is %lld tokens; it needs 1 to %d",
                       (long long)n, m->cfg.ctx - 1);
    }
    int n_stop = 0;
    if (stop && *stop) n_stop = (int)tf_tok_bpe_encode(tok, stop, strlen(stop), &stop_ids);
    const int32_t *stops[1] = {stop_ids};
    int stop_lens[1] = {n_stop};
    TfInfer *s = tf_infer_create(m, m->cfg.ctx);
    int32_t *out = malloc(sizeof(int32_t) * (size_t)(max_new > 0 ? max_new : 1));
    int n_out = 0;
    rc = tf_generate(s, ids, (int)n, max_new, sampler, stops, stop_lens, n_stop ? 1 : 0, out,
                     &n_out);
    size_t len;
    if (rc == ERR_OK) rc = tf_tok_bpe_decode(tok, out, n_out, text, &len);
    tf_infer_free(s);
    free(out), free(ids), free(stop_ids);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// "12, 7 300" -> ids (malloc'd), each in [0, vocab). Returns the count, or -1 (message set).
static int64_t parse_ids(const char *s, int64_t vocab, int32_t **ids)
{
    int64_t n = 0;
    *ids = malloc((strlen(s) / 2 + 1) * sizeof **ids); // at most one id per two characters
    for (;;) {
        while (*s == ' ' || *s == ',') s++;
        if (!*s) return n;
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v >= vocab) {
            free(*ids);
            *ids = NULL;
            if (vocab == INT32_MAX)
                err_set(ERR_INVALID, "--tokens: \"%.20s\" is not a token id (a whole number "
                        ">= 0)", s);
            else
                err_set(ERR_INVALID, "--tokens: \"%.20s\" is not a token id in [0, %lld)", s,
                        (long long)vocab);
            return -1;
        }
        (*ids)[n++] = (int32_t)v;
        s = end;
    }
}

// The model (and, unless ids_only, its tokenizer and end-of-text id) from a GGUF file.
// *tok_failed tells that the model loaded but the tokenizer did not.
static int load_gguf(const char *path, bool ids_only, TfModel **m, TfBpe **tok, int32_t *eos,
                     bool *tok_failed)
{
    TfGguf *g;
    int rc = tf_gguf_open(path, &g);
    if (rc != ERR_OK) return rc;
    rc = tf_gguf_model_from(g, m); // the architecture first: a gpt2/mistral file says so here
    if (rc == ERR_OK && !ids_only) {
        rc = tf_gguf_tok_from(g, tok);
        *tok_failed = rc != ERR_OK;
    }
    uint32_t id;
    if (rc == ERR_OK && tf_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &id) == ERR_OK &&
        id < (uint32_t)(*m)->cfg.vocab)
        *eos = (int32_t)id;
    tf_gguf_close(g);
    return rc;
}

int lab_generate_main(int argc, char **argv)
{
    const char *dir = "out/week03_transformer", *gguf = "", *prompt = "Unix is", *stop = "";
    const char *tokens = "";
    int max_new = 80, top_k = 40;
    float temperature = 0.8f, top_p = 0.95f;
    uint64_t seed = 1;
    CliOpt opts[] = {
        {"--model", CLI_STR, &dir, "folder of a trained run (model.safetensors, encoder.json, "
                                   "vocab.bpe)"},
        {"--gguf", CLI_STR, &gguf, "a llama GGUF file (F32/F16/Q8_0) with its tokenizer, "
                                   "instead of --model"},
        {"--prompt", CLI_STR, &prompt, "text to continue"},
        {"--tokens", CLI_STR, &tokens, "the prompt as token ids (\"1 2 3\"), without the "
                                       "tokenizer; prints ids"},
        {"--max-new", CLI_INT, &max_new, "tokens to generate at most"},
        {"--temperature", CLI_FLOAT, &temperature, "0 = greedy; higher = more random"},
        {"--top-k", CLI_INT, &top_k, "sample among the k most likely tokens (0 = all)"},
        {"--top-p", CLI_FLOAT, &top_p, "nucleus: the smallest set with this much probability"},
        {"--seed", CLI_U64, &seed, "sampling seed (same seed, same text)"},
        {"--stop", CLI_STR, &stop, "stop when this text is generated"},
    };
    int rc = cli_parse(argc, argv, opts, 10, "week03_transformer generate: sample from a model");
    if (rc >= 0) return rc;
    bool ids_only = *tokens != '\0';
    if (max_new < 1 || max_new > 100000 || temperature < 0 || top_k < 0 || !(top_p > 0) ||
        top_p > 1 || (ids_only && *stop)) {
        fprintf(stderr, "error: need --max-new in 1..100000, --temperature >= 0, --top-k >= 0, "
                        "--top-p in (0, 1], and no --stop with --tokens\n");
        return 2;
    }
    int32_t *ids = NULL, *out = NULL, *stop_ids = NULL;
    int64_t n = 0;
    if (ids_only && (n = parse_ids(tokens, INT32_MAX, &ids)) < 0) { // the ranges after loading
        fprintf(stderr, "error: %s\n", err_msg());
        return 2;
    }
    TfModel *m = NULL;
    TfBpe *tok = NULL;
    int32_t eos = -1;
    bool tok_failed = false;
    const char *hint = NULL; // printed after the error
    double t0 = now_s();
    if (*gguf) {
        rc = load_gguf(gguf, ids_only, &m, &tok, &eos, &tok_failed);
        if (tok_failed)
            hint = "without the tokenizer, give the prompt as token ids: --tokens \"1 2 3\" "
                   "(the output is then ids too)";
    } else {
        char mpath[1024], enc[1024], voc[1024];
        snprintf(mpath, sizeof mpath, "%s/model.safetensors", dir);
        snprintf(enc, sizeof enc, "%s/encoder.json", dir);
        snprintf(voc, sizeof voc, "%s/vocab.bpe", dir);
        rc = tf_model_load_no_grad(mpath, &m);
        if (rc == ERR_OK && !ids_only) rc = tf_tok_bpe_load(enc, voc, &tok);
        if (rc != ERR_OK)
            hint = "train first (build/release/labs/week03_transformer --out DIR), or run a "
                   "GGUF file with --gguf";
    }
    int n_stop = 0, n_out = 0;
    if (rc == ERR_OK) {
        const TfConfig *c = &m->cfg;
        fprintf(stderr, "loaded %s: %s, %d layers, width %d, %d heads (%d kv), vocab %d, "
                "%lld parameters, in %.2f s\n", *gguf ? gguf : dir, tf_arch_name(c->arch),
                c->n_layer, c->d_model, c->n_head, c->n_kv_head, c->vocab,
                (long long)nn_params_numel(m->params, false), now_s() - t0);
        if (ids_only) {
            free(ids);
            n = parse_ids(tokens, c->vocab, &ids);
        } else {
            n = tf_tok_bpe_encode(tok, prompt, strlen(prompt), &ids);
        }
        if (n < 0)
            rc = ERR_INVALID;
        else if (n < 1 || n >= c->ctx)
            rc = err_set(ERR_INVALID, "the prompt is %lld tokens; the model takes 1 to %d",
                         (long long)n, c->ctx - 1);
    }
    if (rc == ERR_OK) {
        // Stop at the stop string, and at the file's end-of-text token.
        if (*stop) n_stop = (int)tf_tok_bpe_encode(tok, stop, strlen(stop), &stop_ids);
        const int32_t *stops[2];
        int stop_lens[2], n_stops = 0;
        if (n_stop) stops[n_stops] = stop_ids, stop_lens[n_stops++] = n_stop;
        if (eos >= 0) stops[n_stops] = &eos, stop_lens[n_stops++] = 1;
        // The cache holds what this run needs, not the whole context (8192 positions of a
        // SmolLM2 would be 377 MB).
        int max_T = n + max_new < m->cfg.ctx ? (int)n + max_new : m->cfg.ctx;
        TfInfer *s = tf_infer_create(m, max_T);
        TfSampler sampler = {.temperature = temperature, .top_k = top_k, .top_p = top_p,
                             .seed = seed};
        out = malloc(sizeof(int32_t) * (size_t)max_new);
        double t1 = now_s();
        rc = tf_generate(s, ids, (int)n, max_new, &sampler, stops, stop_lens, n_stops, out,
                         &n_out);
        double dt = now_s() - t1;
        tf_infer_free(s);
        if (rc == ERR_OK)
            fprintf(stderr, "generated %d tokens after a %lld-token prompt in %.2f s: %.1f "
                    "tokens/s\n", n_out, (long long)n, dt, dt > 0 ? n_out / dt : 0.0);
    }
    if (rc == ERR_OK && ids_only) {
        for (int i = 0; i < n_out; i++) printf(i ? " %d" : "%d", out[i]);
        printf("\n");
    } else if (rc == ERR_OK) {
        char *text = NULL;
        size_t len;
        rc = tf_tok_bpe_decode(tok, out, n_out, &text, &len);
        if (rc == ERR_OK) printf("%s%s\n", prompt, text);
        free(text);
    }
    if (rc != ERR_OK) fprintf(stderr, "error: %s\n", err_msg());
    if (hint) fprintf(stderr, "hint: %s\n", hint);
    free(ids), free(out), free(stop_ids);
    tf_tok_bpe_free(tok);
    tf_model_free(m);
    return rc == ERR_OK ? 0 : 1;
}
