/*
 * Week 5 lab: RAG, from documents to cited answers. See README.md beside this file.
 *
 *   build/release/labs/week05_rag [--quick] [--out DIR] [--model out/week03_transformer]
 *                                 [--hnsw] [--ask "question"]
 *   build/release/labs/week05_rag ask [--out DIR] [--mode rerank] "question"   (ask.c)
 *
 * 1. word vectors for the dense retriever (week 2's skip-gram, trained here on FOLDOC+Jargon)
 * 2. ingestion: the FOLDOC dictionary + PDFs made from man pages (+ one broken PDF)
 * 3. the SQLite store: documents, chunks, vectors; the retriever rebuilt from it
 * 4. the retrieval benchmark (FOLDOC reverse dictionary): chunking x retrieval mode table,
 *    TREC run files, a heatmap
 * 5. questions answered with citations by the week-3 model (JSON)
 */
#include "lab.h"

#include "core/cli.h"
#include "core/err.h"
#include "core/io.h"
#include "core/plot.h"
#include "datasets/datasets.h"
#include "rag/experiment.h"
#include "rag/pipeline.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_STRATEGIES 4

static int fail(const char *what)
{
    fprintf(stderr, "error: %s: %s\n", what, err_msg());
    return 1;
}

// Loads the week-3 model and tokenizer from dir; *model stays NULL when there is none.
int lab_load_model(const char *dir, TfModel **model, TfBpe **bpe)
{
    char mpath[1024], enc[1024], voc[1024];
    snprintf(mpath, sizeof mpath, "%s/model.safetensors", dir);
    snprintf(enc, sizeof enc, "%s/encoder.json", dir);
    snprintf(voc, sizeof voc, "%s/vocab.bpe", dir);
    *model = NULL;
    if (tf_tok_bpe_load(enc, voc, bpe) != ERR_OK || tf_model_load_no_grad(mpath, model) != ERR_OK) {
        fprintf(stderr, "note: no week-3 model in %s (%s); answers will be chosen by MaxSim "
                "alone. hint: run build/release/labs/week03_transformer --quick first\n", dir,
                err_msg());
        tf_tok_bpe_free(*bpe);
        // A tokenizer is still needed for token chunks and the context budget.
        char *text;
        size_t len;
        if (ds_corpus_text("foldoc", &text, &len) != ERR_OK) return ERR_IO;
        *bpe = tf_tok_bpe_train(text, len < 300000 ? len : 300000, 512);
        free(text);
    }
    return ERR_OK;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "ask") == 0) return lab_ask_main(argc - 1, argv + 1);
    int quick = 0, hnsw = 0, dim = 100, epochs = 4;
    const char *out = "out/week05_rag", *model_dir = "out/week03_transformer", *ask = NULL;
    CliOpt opts[] = {
        {"--quick", CLI_FLAG, &quick, "a ~1-2 minute run: smaller vectors, 300 test queries"},
        {"--out", CLI_STR, &out, "output folder"},
        {"--model", CLI_STR, &model_dir, "week-3 run folder (model + tokenizer) for answers"},
        {"--hnsw", CLI_FLAG, &hnsw, "dense search through HNSW instead of exact cosine"},
        {"--dim", CLI_INT, &dim, "word-vector size"},
        {"--epochs", CLI_INT, &epochs, "word2vec passes over the corpus"},
        {"--ask", CLI_STR, &ask, "answer this question too"},
    };
    int rc = cli_parse(argc, argv, opts, 7, "week05_rag: documents -> retrieval -> cited answers");
    if (rc >= 0) return rc;
    if (quick) dim = 50, epochs = 2;
    if (io_mkdir_p(out) != ERR_OK) return fail("output folder");
    char path[1024];

    // 1. Word vectors.
    char *text;
    size_t len;
    if (ds_corpus_text("foldoc,jargon", &text, &len) != ERR_OK) return fail("corpus");
    NnW2v w2v;
    if (nn_w2v_init(&w2v, text, 0, 3, dim, 1) != ERR_OK) return fail("word2vec");
    NnW2vConfig wc = {.window = 5, .negatives = 5, .epochs = epochs, .lr = 0.025f,
                      .subsample = 1e-3f, .seed = 1, .progress = 1};
    printf("== 1. word vectors: %lld words x %d dims, %d epochs over FOLDOC+Jargon\n",
           (long long)w2v.vocab, dim, epochs);
    nn_w2v_train(&w2v, text, 0, &wc, NULL);
    nn_w2v_normalize(&w2v);
    free(text);
    snprintf(path, sizeof path, "%s/vectors.safetensors", out); // for `week05_rag ask`
    if (nn_w2v_save(&w2v, path) != ERR_OK) return fail("word vectors");
    RagEmbedder emb = rag_embedder_w2v(&w2v, 1e-3f);
    TfModel *model;
    TfBpe *bpe;
    if (lab_load_model(model_dir, &model, &bpe) != ERR_OK) return fail("tokenizer");

    // 2. Ingestion.
    printf("\n== 2. ingestion\n");
    snprintf(path, sizeof path, "%s/pdf", out);
    if (io_mkdir_p(path) != ERR_OK) return fail("pdf folder");
    int n_pdf = lab_make_pdfs(path, quick ? 2 : 5);
    RagDocs *docs = rag_docs_create();
    int64_t n_dict = rag_docs_add_dict(docs, "foldoc", 0);
    if (n_dict < 0) return fail("foldoc");
    rag_docs_add_path(docs, path);
    printf("%lld FOLDOC entries + %d man-page PDFs ingested; %lld file(s) refused:\n",
           (long long)n_dict, n_pdf, (long long)docs->n_errors);
    for (int64_t i = 0; i < docs->n_errors; i++)
        printf("  %s\n", docs->errors[i].msg);

    // 3. The store, and the retriever rebuilt from it.
    printf("\n== 3. the SQLite store\n");
    RagRetrieverConfig rc_cfg = rag_retriever_defaults();
    rc_cfg.use_hnsw = hnsw;
    rc_cfg.chunk.bpe = bpe;
    snprintf(path, sizeof path, "%s/corpus.db", out);
    if (lab_store_ingest(docs, &rc_cfg.chunk, &emb, path) != ERR_OK) return fail("store");
    RagRetriever *r;
    if (lab_store_load(path, &rc_cfg, &emb, &w2v, &r) != ERR_OK) return fail("store load");

    // 4. The retrieval benchmark: each chunking strategy x each mode.
    printf("\n== 4. retrieval benchmark: FOLDOC reverse dictionary (definition -> entry)\n");
    RagBenchmark bm;
    if (rag_benchmark_foldoc(NULL, &bm) != ERR_OK) return fail("benchmark");
    RagChunkOpts strat[N_STRATEGIES] = {
        {.kind = RAG_CHUNK_CHARS, .size = 400, .overlap = 50, .bpe = bpe},
        {.kind = RAG_CHUNK_TOKENS, .size = 128, .overlap = 16, .bpe = bpe},
        {.kind = RAG_CHUNK_RECURSIVE, .size = 800, .overlap = 100, .bpe = bpe},
        {.kind = RAG_CHUNK_SENTENCES, .size = 600, .overlap = 0, .bpe = bpe},
    };
    const char *names[N_STRATEGIES] = {"chars-400-50", "tokens-128-16", "recursive-800-100",
                                       "sentences-600"};
    RagExpResult res[N_STRATEGIES];
    snprintf(path, sizeof path, "%s/runs", out);
    if (io_mkdir_p(path) != ERR_OK) return fail("runs folder");
    RagExpConfig ec = rag_exp_defaults();
    ec.max_test = quick ? 300 : 0;
    ec.max_train = quick ? 500 : 2000;
    ec.run_dir = path;
    for (int s = 0; s < N_STRATEGIES; s++) {
        RagRetrieverConfig c = rc_cfg;
        c.chunk = strat[s];
        RagRetriever *er;
        if (rag_retriever_create(&c, &emb, &w2v, &er) != ERR_OK) return fail("retriever");
        ec.tag = names[s];
        printf("-- %s\n", names[s]);
        fflush(stdout);
        if (rag_experiment_run(er, &bm, &ec, &res[s]) != ERR_OK) return fail("experiment");
        printf("   %lld chunks (%.1f per entry) indexed in %.1f s; reranker fitted on %lld "
               "pairs\n", (long long)res[s].n_chunks,
               (double)res[s].n_chunks / (double)res[s].n_docs, res[s].index_seconds,
               (long long)res[s].n_train_pairs);
        rag_retriever_free(er);
    }
    printf("\n%lld test queries (entries never used to fit the reranker):\n",
           (long long)res[0].n_test);
    rag_exp_print(stdout, res, N_STRATEGIES, names);
    float heat[N_STRATEGIES * RAG_SEARCH_MODE_COUNT];
    const char *modes[RAG_SEARCH_MODE_COUNT];
    for (int m = 0; m < RAG_SEARCH_MODE_COUNT; m++) modes[m] = rag_search_mode_name(m);
    for (int s = 0; s < N_STRATEGIES; s++)
        for (int m = 0; m < RAG_SEARCH_MODE_COUNT; m++)
            heat[s * RAG_SEARCH_MODE_COUNT + m] = (float)res[s].values[m][2];
    snprintf(path, sizeof path, "%s/ndcg_heatmap.png", out);
    if (plot_heatmap(path, heat, N_STRATEGIES, RAG_SEARCH_MODE_COUNT, names, modes,
                     &(PlotOpts){.title = "nDCG@10: chunking (rows) x retrieval (columns)",
                                 .width = 900, .height = 420}) != ERR_OK)
        return fail("plot");
    printf("wrote %s and TREC run files in %s/runs\n", path, out);

    // 5. Questions answered with citations, from the store-backed retriever.
    printf("\n== 5. questions -> cited answers (%s)\n",
           model ? "the week-3 model chooses the quote" : "MaxSim chooses the quote");
    // The store-backed retriever borrows the reranker fitted above (recursive chunks, the
    // same chunker and features as the store's).
    RagRetriever *fit;
    RagRetrieverConfig fc = rc_cfg;
    if (rag_retriever_create(&fc, &emb, &w2v, &fit) != ERR_OK) return fail("retriever");
    RagExpConfig fit_cfg = ec;
    fit_cfg.run_dir = NULL, fit_cfg.max_test = 1;
    RagExpResult fit_res;
    if (rag_experiment_run(fit, &bm, &fit_cfg, &fit_res) != ERR_OK) return fail("reranker");
    rag_retriever_set_reranker(r, rag_retriever_reranker(fit));
    snprintf(path, sizeof path, "%s/reranker.json", out); // for `week05_rag ask`
    if (rag_rerank_save(rag_retriever_reranker(fit), path) != ERR_OK) return fail("reranker");
    rag_retriever_free(fit);
    RagPipelineConfig pc = rag_pipeline_defaults();
    pc.model = model, pc.bpe = bpe;
    const char *questions[] = {
        "Which protocol is used to send electronic mail between servers?",
        "What does a compiler translate source code into?",
        "How do I list the contents of a tar archive?",
        "Who won the football world cup in 1966?",
        ask,
    };
    snprintf(path, sizeof path, "%s/answers.jsonl", out);
    IoAtomic *af;
    if (io_atomic_open(path, &af) != ERR_OK) return fail("answers file");
    FILE *jf = io_atomic_fp(af);
    for (size_t i = 0; i < sizeof questions / sizeof *questions; i++) {
        if (!questions[i]) continue;
        char *json;
        if (rag_answer(r, &pc, questions[i], &json) != ERR_OK) return fail("answer");
        json_error_t je;
        json_t *o = json_loads(json, 0, &je);
        printf("Q: %s\nA: %s\n", questions[i], json_string_value(json_object_get(o, "answer")));
        json_t *cites = json_object_get(o, "citations");
        for (size_t k = 0; json_is_true(json_object_get(o, "found")) && k < json_array_size(cites)
                           && k < 3; k++) {
            json_t *c = json_array_get(cites, k);
            json_t *pg = json_object_get(c, "page");
            char page[32] = "";
            if (json_is_integer(pg))
                snprintf(page, sizeof page, ", page %lld", (long long)json_integer_value(pg));
            printf("   [%lld] %s (%s)%s, bytes %lld-%lld, relevance %.2f\n",
                   (long long)json_integer_value(json_object_get(c, "n")),
                   json_string_value(json_object_get(c, "title")),
                   json_string_value(json_object_get(c, "source")), page,
                   (long long)json_integer_value(json_object_get(c, "start")),
                   (long long)json_integer_value(json_object_get(c, "end")),
                   json_real_value(json_object_get(c, "relevance")));
        }
        char *line = json_dumps(o, JSON_COMPACT);
        fprintf(jf, "%s\n", line);
        free(line);
        json_decref(o);
        free(json);
    }
    if (io_atomic_commit(af) != ERR_OK) return fail("answers file");
    printf("full JSON (citations, sentence scores, timings): %s\n", path);

    rag_benchmark_free(&bm);
    rag_retriever_free(r);
    rag_docs_free(docs);
    rag_embedder_deinit(&emb);
    tf_model_free(model);
    tf_tok_bpe_free(bpe);
    nn_w2v_deinit(&w2v);
    return 0;
}
