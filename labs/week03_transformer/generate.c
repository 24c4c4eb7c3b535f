/*
 * Week 3 lab, `generate` mode: load the trained model and tokenizer, and sample text after a
 * prompt with the KV cache: greedy (--temperature 0) or temperature / top-k / top-p, seeded,
 * with an optional stop string.
 */
#include "lab.h"

#include "core/cli.h"
#include "transformer/generate.h"
#include "transformer/model.h"
#include "transformer/sample.h"
#include "transformer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int lab_generate_main(int argc, char **argv)
{
    const char *dir = "out/week03_transformer", *prompt = "Unix is", *stop = "";
    int max_new = 80, top_k = 40;
    float temperature = 0.8f, top_p = 0.95f;
    uint64_t seed = 1;
    CliOpt opts[] = {
        {"--model", CLI_STR, &dir, "folder of a trained run (model.safetensors, encoder.json, "
                                   "vocab.bpe)"},
        {"--prompt", CLI_STR, &prompt, "text to continue"},
        {"--max-new", CLI_INT, &max_new, "tokens to generate at most"},
        {"--temperature", CLI_FLOAT, &temperature, "0 = greedy; higher = more random"},
        {"--top-k", CLI_INT, &top_k, "sample among the k most likely tokens (0 = all)"},
        {"--top-p", CLI_FLOAT, &top_p, "nucleus: the smallest set with this much probability"},
        {"--seed", CLI_U64, &seed, "sampling seed (same seed, same text)"},
        {"--stop", CLI_STR, &stop, "stop when this text is generated"},
    };
    int rc = cli_parse(argc, argv, opts, 8, "week03_transformer generate: sample from a model");
    if (rc >= 0) return rc;
    if (max_new < 1 || max_new > 100000 || temperature < 0 || top_k < 0 || !(top_p > 0) ||
        top_p > 1) {
        fprintf(stderr, "error: need --max-new in 1..100000, --temperature >= 0, --top-k >= 0, "
                        "--top-p in (0, 1]\n");
        return 2;
    }
    char mpath[1024], enc[1024], voc[1024];
    snprintf(mpath, sizeof mpath, "%s/model.safetensors", dir);
    snprintf(enc, sizeof enc, "%s/encoder.json", dir);
    snprintf(voc, sizeof voc, "%s/vocab.bpe", dir);
    TfModel *m = NULL;
    TfBpe *tok = NULL;
    if (tf_model_load(mpath, &m) != ERR_OK || tf_tok_bpe_load(enc, voc, &tok) != ERR_OK) {
        fprintf(stderr, "error: %s\nhint: train first: build/release/labs/week03_transformer "
                        "--out %s\n", err_msg(), dir);
        tf_model_free(m);
        return 1;
    }
    TfSampler sampler = {.temperature = temperature, .top_k = top_k, .top_p = top_p,
                         .seed = seed};
    char *text = NULL;
    rc = lab_generate_text(m, tok, prompt, max_new, &sampler, stop, &text);
    if (rc == ERR_OK)
        printf("%s%s\n", prompt, text);
    else
        fprintf(stderr, "error: %s\n", err_msg());
    free(text);
    tf_tok_bpe_free(tok);
    tf_model_free(m);
    return rc == ERR_OK ? 0 : 1;
}
