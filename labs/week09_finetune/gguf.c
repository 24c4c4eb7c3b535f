/*
 * gguf.c: the adapted model leaves the engine. Export to GGUF (F32, with the BPE), then, when
 * the repo's llama.cpp driver is built (tests/llama_ref), run real llama.cpp on the file and
 * check that its greedy continuation is the engine's, token for token.
 */
#include "lab.h"

#include "core/err.h"
#include "transformer/gguf.h"
#include "transformer/sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define N_GEN 24

// Runs cmd and returns its last stdout line starting with `tag` (in line), or its exit status
// when there is none (3 = llama_ref/build.sh's "skipped"). Returns 0 when found.
static int run_tagged(const char *cmd, const char *tag, char *line, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char buf[65536];
    int found = 0;
    while (fgets(buf, sizeof buf, p))
        if (!tag[0] || strncmp(buf, tag, strlen(tag)) == 0) {
            buf[strcspn(buf, "\n")] = '\0';
            snprintf(line, cap, "%s", buf), found = 1;
        }
    int st = pclose(p), rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return rc == 0 && found ? 0 : rc ? rc : -1;
}

int lab_gguf_check(const TfModel *m, TfBpe *tok, const char *path, const char *prompt)
{
    int rc = tf_gguf_export(m, tok, TF_GGUF_F32, path);
    if (rc != ERR_OK) return rc;
    printf("wrote %s (F32, %d tokens + the tokenizer)\nrun it with llama.cpp:\n"
           "  llama-cli -m %s -p \"", path, m->cfg.vocab, path);
    for (const char *c = prompt; *c; c++) fputs(*c == '\n' ? "\\n" : (char[2]){*c, 0}, stdout);
    printf("\" -e -n 40 --temp 0 --no-warmup\n");

    // The engine's greedy continuation, through the KV cache of the merged weights.
    int32_t *ids, out[N_GEN];
    int n_out = 0, np = (int)tf_tok_bpe_encode(tok, prompt, strlen(prompt), &ids);
    TfInfer *s = tf_infer_create(m, np + N_GEN);
    TfSampler greedy = {.temperature = 0, .top_p = 1};
    rc = tf_generate(s, ids, np, N_GEN, &greedy, NULL, NULL, 0, out, &n_out);
    tf_infer_free(s);
    char *mine = NULL, *theirs = NULL;
    size_t len;
    if (rc == ERR_OK) rc = tf_tok_bpe_decode(tok, out, n_out, &mine, &len);

    const char *root = getenv("ENGINE_ROOT");
    char cmd[8192], line[65536];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/llama_ref/build.sh' 2>/dev/null", root ? root : ".");
    int st = rc == ERR_OK ? run_tagged(cmd, "", line, sizeof line) : -1;
    if (rc == ERR_OK && st != 0) {
        printf("llama.cpp check skipped (%s); hint: make deps, then sh tests/llama_ref/build.sh "
               "builds build/llama_ref/llama_ref\n", st == 3 ? line : "the driver did not build");
    } else if (rc == ERR_OK) {
        char exe[4096];
        snprintf(exe, sizeof exe, "%.4000s", line);
        int k = snprintf(cmd, sizeof cmd, "'%s' eval '%s' ", exe, path);
        for (int i = 0; i < np && k < (int)sizeof cmd - 32; i++)
            k += snprintf(cmd + k, sizeof cmd - (size_t)k, "%s%d", i ? "," : "", ids[i]);
        snprintf(cmd + k, sizeof cmd - (size_t)k, " --gen %d", n_out);
        int32_t ref[N_GEN];
        int n_ref = 0;
        if (run_tagged(cmd, "GREEDY ", line, sizeof line) == 0) {
            char *p = line + 7, *e;
            long g = strtol(p, &e, 10);
            for (p = e; n_ref < g && n_ref < N_GEN; p = e) ref[n_ref++] = (int32_t)strtol(p, &e, 10);
        }
        bool same = n_ref == n_out && memcmp(ref, out, sizeof *out * (size_t)n_out) == 0;
        if (n_ref > 0) tf_tok_bpe_decode(tok, ref, n_ref, &theirs, &len);
        printf("engine    (%d greedy tokens): %s|\nllama.cpp (%d greedy tokens): %s|\n%s\n", n_out,
               mine, n_ref, theirs ? theirs : "(no output)",
               same ? "identical token ids: llama.cpp runs the adapted model as the engine does"
                    : "MISMATCH between llama.cpp and the engine");
        if (!same) rc = err_set(ERR_FORMAT, "lab_gguf_check: llama.cpp's greedy tokens differ "
                                "from the engine's on %s", path);
    }
    free(ids), free(mine), free(theirs);
    return rc;
}
