/*
 * llama_util.c: see llama_util.h.
 */
#include "tests/llama_util.h"

#include "tests/model_util.h"
#include "transformer/generate.h"
#include "transformer/sample.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

const char *llama_ref_driver_or_skip(const char *test)
{
    static char path[4096];
    const char *root = getenv("ENGINE_ROOT");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/llama_ref/build.sh'", root ? root : ".");
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "%s: cannot run %s", test, cmd);
    char line[4096];
    path[0] = '\0';
    while (fgets(line, sizeof line, p)) { // the last line is the path or "SKIPPED: why"
        line[strcspn(line, "\n")] = '\0';
        snprintf(path, sizeof path, "%s", line);
    }
    int st = pclose(p);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (rc == 3) {
        const char *req = getenv("REQUIRE_NPM");
        ck_assert_msg(!(req && strcmp(req, "1") == 0), "%s: llama.cpp is not available and "
                      "REQUIRE_NPM=1 (%s); hint: make deps (needs node/npm)", test, path);
        printf("%s: %s\n", test, path);
        return NULL;
    }
    ck_assert_msg(rc == 0, "%s: %s failed (exit status %d)", test, cmd, rc);
    return path;
}

char *llama_ref_run(const char *driver, const char *args)
{
    size_t cl = strlen(driver) + strlen(args) + 16;
    char *cmd = malloc(cl);
    ck_assert(cmd != NULL);
    snprintf(cmd, cl, "'%s' %s", driver, args);
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "cannot run %s", cmd);
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);
    while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 4096) buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    int st = pclose(p);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed (status %d): llama.cpp "
                  "refused a file? rerun with LLAMA_REF_VERBOSE=1", cmd, st);
    free(cmd);
    return buf;
}

int llama_ref_parse_tagged(const char *text, const char *tag, double *out, int cap)
{
    size_t tl = strlen(tag);
    for (const char *ln = text; ln && *ln; ln = strchr(ln, '\n'), ln = ln ? ln + 1 : NULL) {
        if (strncmp(ln, tag, tl) != 0 || ln[tl] != ' ') continue;
        char *end;
        long n = strtol(ln + tl, &end, 10);
        if (n < 0 || n > cap) return -1;
        for (long k = 0; k < n; k++) {
            const char *q = end;
            out[k] = strtod(q, &end);
            if (end == q) return -1;
        }
        return (int)n;
    }
    return -1;
}

void llama_ref_eval(const char *driver, const char *gguf, const char *lora, float scale,
                    const int32_t *ids, int n, int n_gen, int V, float *logits, int32_t *greedy)
{
    char args[16384];
    int w = snprintf(args, sizeof args, "eval '%s' ", gguf);
    for (int i = 0; i < n; i++)
        w += snprintf(args + w, sizeof args - (size_t)w, "%s%d", i ? "," : "", (int)ids[i]);
    w += snprintf(args + w, sizeof args - (size_t)w, " --gen %d --threads 1",
                  greedy ? n_gen : 1);
    if (lora)
        snprintf(args + w, sizeof args - (size_t)w, " --lora '%s' --lora-scale %.9g", lora,
                 (double)scale);
    char *out = llama_ref_run(driver, args);
    int cap = V > n_gen ? V : n_gen;
    double *v = malloc(sizeof(double) * (size_t)cap);
    ck_assert_msg(llama_ref_parse_tagged(out, "LOGITS", v, cap) == V,
                  "no LOGITS line of %d values in:\n%.300s", V, out);
    for (int i = 0; i < V; i++) logits[i] = (float)v[i];
    if (greedy) {
        ck_assert_msg(llama_ref_parse_tagged(out, "GREEDY", v, cap) == n_gen,
                      "no GREEDY line of %d ids in:\n%.300s", n_gen, out);
        for (int i = 0; i < n_gen; i++) greedy[i] = (int32_t)v[i];
    }
    free(v);
    free(out);
}

TfModel *llama_ref_spread_model(int C, int L, int H, int KVH, int F, int V, bool tied,
                                uint64_t seed)
{
    TfConfig c = tf_config_default(TF_LLAMA);
    c.vocab = V, c.ctx = 128, c.d_model = C, c.n_layer = L, c.n_head = H, c.n_kv_head = KVH;
    c.d_ff = F, c.tie_embeddings = tied;
    ck_assert_int_eq(tf_config_check(&c), 0);
    TfModel *m = tf_model_create(&c, seed);
    test_model_redraw(m, seed + 1, 0.3f);
    return m;
}

void llama_ref_engine_eval(const TfModel *m, const int32_t *ids, int n, int n_gen,
                           float *logits, int32_t *greedy)
{
    int V = m->cfg.vocab;
    TfInfer *s = tf_infer_create(m, n + n_gen);
    const float *lg = tf_infer_forward(s, ids, n, 0);
    memcpy(logits, lg, sizeof(float) * (size_t)V);
    for (int g = 0; g < n_gen; g++) {
        greedy[g] = tf_sample_argmax(lg, V);
        lg = tf_infer_forward(s, &greedy[g], 1, n + g);
    }
    tf_infer_free(s);
}

double llama_ref_max_abs_diff(const float *a, const float *b, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}
