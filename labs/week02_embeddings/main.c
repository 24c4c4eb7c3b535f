/*
 * Week 2 lab, embeddings: word vectors trained from scratch by skip-gram with negative sampling
 * on the FOLDOC and Jargon File dictionaries, looked at three ways (nearest neighbours,
 * analogies, WordNet synonyms against a random baseline), drawn in 2-D by PCA, and served as a
 * JSON-lines similarity service. See README.md beside this file.
 *
 *   build/release/labs/week02_embeddings [--quick] [--out out/week02_embeddings] [--seed 1]
 *   build/release/labs/week02_embeddings --serve out/week02_embeddings/embeddings.safetensors
 */
#include "core/cli.h"
#include "core/io.h"
#include "core/plot.h"
#include "core/rng.h"
#include "datasets/datasets.h"
#include "nn/pca.h"
#include "nn/similarity.h"
#include "nn/word2vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The serve loop: one JSON request per stdin line, one JSON reply per stdout line, until EOF.
static int serve(const char *path)
{
    NnW2v m;
    if (nn_w2v_load(&m, path) != ERR_OK) {
        fprintf(stderr, "error: %s\n", err_msg());
        return 1;
    }
    fprintf(stderr, "serving %lld words x %lld dims from %s; one JSON request per line\n",
            (long long)m.vocab, (long long)m.dim, path);
    char *line = NULL, *reply;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) >= 0) {
        nn_w2v_handle_request(&m, line, &reply);
        printf("%s\n", reply);
        fflush(stdout);
        free(reply);
    }
    free(line);
    nn_w2v_deinit(&m);
    return 0;
}

// Words for the neighbour table and the PCA picture, by topic (the colour groups).
static const char *const topics[] = {"operating systems", "languages", "networks", "hardware",
                                     "people"};
static const char *const plot_words[][9] = {
    {"unix", "linux", "windows", "kernel", "msdos", "bsd", "posix", "vms", NULL},
    {"compiler", "lisp", "fortran", "pascal", "cobol", "prolog", "interpreter", "algol", NULL},
    {"network", "internet", "protocol", "tcp", "ethernet", "router", "packet", "host", NULL},
    {"memory", "cpu", "disk", "processor", "cache", "ram", "register", "tape", NULL},
    {"hacker", "wizard", "guru", "luser", "programmer", "user", "newbie", "hackers", NULL},
};

static void pca_plot(const NnW2v *m, const char *out)
{
    const char *labels[64];
    int groups[64];
    float x[64 * NN_W2V_MAX_DIM], xy[64 * 2], xs[64], ys[64], comps[2 * NN_W2V_MAX_DIM], var[2],
        mean[NN_W2V_MAX_DIM];
    int n = 0;
    for (int g = 0; g < 5; g++)
        for (int i = 0; plot_words[g][i]; i++) {
            int64_t id = nn_w2v_find(m, plot_words[g][i]);
            if (id < 0) continue;
            memcpy(x + n * m->dim, m->unit + id * m->dim, sizeof(float) * (size_t)m->dim);
            labels[n] = plot_words[g][i], groups[n++] = g;
        }
    if (n < 3) return;
    double total = nn_pca_fit(comps, var, mean, x, n, m->dim, 2, 1);
    nn_pca_project(xy, x, n, m->dim, mean, comps, 2);
    for (int i = 0; i < n; i++) xs[i] = xy[2 * i], ys[i] = xy[2 * i + 1];
    char path[512], title[160];
    snprintf(path, sizeof path, "%s/pca_words.png", out);
    snprintf(title, sizeof title, "Word vectors by PCA (%.0f%% of variance): OS, languages, "
             "networks, hardware, people", 100 * (var[0] + var[1]) / total);
    PlotOpts po = {.title = title, .xlabel = "PC 1", .ylabel = "PC 2", .width = 1000,
                   .height = 750};
    if (plot_scatter(path, xs, ys, labels, groups, n, &po) != ERR_OK)
        fprintf(stderr, "warning: %s\n", err_msg());
    else
        printf("wrote %s (%d words; colours: %s, %s, %s, %s, %s)\n", path, n, topics[0],
               topics[1], topics[2], topics[3], topics[4]);
}

int main(int argc, char **argv)
{
    int quick = 0, dim = 100, epochs = 5, window = 5, negatives = 5, min_count = 5;
    float lr = 0.025f;
    uint64_t seed = 1;
    const char *out = "out/week02_embeddings", *serve_path = NULL;
    CliOpt opts[] = {
        {"--quick", CLI_FLAG, &quick, "a ~15 s run: dim 50, 3 epochs"},
        {"--dim", CLI_INT, &dim, "vector size D"},
        {"--epochs", CLI_INT, &epochs, "passes over the corpus"},
        {"--window", CLI_INT, &window, "context words on each side (at most)"},
        {"--negatives", CLI_INT, &negatives, "negative samples K per pair"},
        {"--min-count", CLI_INT, &min_count, "rarer words are left out of the vocabulary"},
        {"--lr", CLI_FLOAT, &lr, "starting learning rate (decays linearly)"},
        {"--seed", CLI_U64, &seed, "initialisation, subsampling and negatives"},
        {"--out", CLI_STR, &out, "folder for embeddings, PNG and JSON"},
        {"--serve", CLI_STR, &serve_path, "serve a saved embeddings file on stdin/stdout"},
    };
    int rc = cli_parse(argc, argv, opts, 10, "week02_embeddings: word2vec, PCA, similarity");
    if (rc >= 0) return rc;
    if (serve_path) return serve(serve_path);
    if (quick) dim = 50, epochs = 3;
    if (dim < 2 || dim > NN_W2V_MAX_DIM || epochs < 1 || window < 1 || negatives < 1 ||
        negatives > 64 || min_count < 1 || !(lr > 0)) {
        fprintf(stderr, "error: want 2 <= --dim <= %d, --epochs, --window, --min-count >= 1, "
                "1 <= --negatives <= 64, --lr > 0\n", NN_W2V_MAX_DIM);
        return 2;
    }
    char *text;
    size_t len;
    DsWordNet wn;
    if (io_mkdir_p(out) != ERR_OK || ds_corpus_text("foldoc,jargon", &text, &len) != ERR_OK ||
        ds_wordnet_load(&wn) != ERR_OK) {
        fprintf(stderr, "error: %s\n", err_msg());
        return 1;
    }
    // Vocabulary and training on the whole corpus (0 = no word limit; about 0.9M words).
    int64_t max_tokens = 0;
    NnW2v m;
    if (nn_w2v_init(&m, text, max_tokens, min_count, dim, seed) != ERR_OK) {
        fprintf(stderr, "error: %s\n", err_msg());
        return 1;
    }
    printf("== corpus: FOLDOC + Jargon File, %zu bytes; vocabulary %lld words (count >= %d)\n",
           len, (long long)m.vocab, min_count);
    NnW2vConfig cfg = {.window = window, .negatives = negatives, .epochs = epochs, .lr = lr,
                       .subsample = 1e-3f, .seed = seed, .progress = 1};
    NnW2vStats st;
    nn_w2v_train(&m, text, max_tokens, &cfg, &st);
    printf("trained D=%d, %d epoch(s) in %.1f s: %.0f words/s, final loss %.3f\n", dim, epochs,
           st.seconds, st.words_per_sec, st.final_loss);

    printf("\n== nearest neighbours (cosine)\n");
    const char *queries[] = {"unix", "compiler", "network", "memory", "hacker", "bug"};
    for (int q = 0; q < 6; q++) {
        int64_t id = nn_w2v_find(&m, queries[q]), idx[6];
        float sc[6];
        if (id < 0) continue;
        int64_t k = nn_w2v_neighbors(&m, m.unit + id * m.dim, &id, 1, 6, idx, sc);
        printf("%-9s", queries[q]);
        for (int64_t i = 0; i < k; i++)
            printf(" %s %.2f%s", m.words[idx[i]], sc[i], i + 1 < k ? "," : "");
        printf("\n");
    }
    printf("\n== analogies a : b :: c : ? (3CosAdd)\n");
    const char *an[][3] = {{"compiler", "compilers", "program"}, {"write", "writes", "read"},
                           {"small", "smaller", "large"}, {"cpu", "processor", "ram"}};
    for (int i = 0; i < 4; i++) {
        float s;
        int64_t id = nn_w2v_analogy(&m, an[i][0], an[i][1], an[i][2], &s);
        printf("%s : %s :: %s : %s (%.2f)\n", an[i][0], an[i][1], an[i][2],
               id >= 0 ? m.words[id] : "(unknown word)", id >= 0 ? s : 0);
    }

    // WordNet synonyms: where does the best synonym rank among all words, trained vs random?
    NnW2vEval ev, evr;
    nn_w2v_eval_wordnet(&m, m.unit, &wn, 1000, &ev);
    float *rnd = malloc(sizeof(float) * (size_t)(m.vocab * m.dim));
    Rng rng;
    rng_init(&rng, seed + 1);
    for (int64_t i = 0; i < m.vocab * m.dim; i++) rnd[i] = rng_normal(&rng);
    nn_normalize_rows(rnd, m.vocab, m.dim);
    nn_w2v_eval_wordnet(&m, rnd, &wn, 1000, &evr);
    printf("\n== WordNet synonyms (%lld most frequent words that have one in the vocabulary)\n",
           (long long)ev.n_eval);
    printf("trained vectors: MRR %.4f, recall@10 %.3f\n", ev.mrr, ev.recall10);
    printf("random vectors:  MRR %.4f, recall@10 %.3f\n\n", evr.mrr, evr.recall10);

    pca_plot(&m, out);
    char path[512], json[512];
    snprintf(path, sizeof path, "%s/embeddings.safetensors", out);
    if (nn_w2v_save(&m, path) != ERR_OK) fprintf(stderr, "error: %s\n", err_msg());
    else printf("wrote %s (serve it: --serve %s)\n", path, path);
    int n = snprintf(json, sizeof json,
                     "{\"vocab\":%lld,\"dim\":%d,\"epochs\":%d,\"seconds\":%.2f,"
                     "\"words_per_sec\":%.0f,\"final_loss\":%.4f,\"wordnet_eval_words\":%lld,"
                     "\"mrr\":%.4f,\"recall10\":%.4f,\"mrr_random\":%.4f,"
                     "\"recall10_random\":%.4f}\n",
                     (long long)m.vocab, dim, epochs, st.seconds, st.words_per_sec,
                     st.final_loss, (long long)ev.n_eval, ev.mrr, ev.recall10, evr.mrr,
                     evr.recall10);
    snprintf(path, sizeof path, "%s/summary.json", out);
    if (io_write_atomic(path, json, (size_t)n) != ERR_OK) fprintf(stderr, "error: %s\n", err_msg());
    free(rnd), free(text);
    ds_wordnet_free(&wn);
    nn_w2v_deinit(&m);
    return 0;
}
