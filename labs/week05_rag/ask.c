/*
 * ask.c: `week05_rag ask`, the query pipeline as a command-line tool over what a lab run left
 * in its folder: the store (corpus.db), the word vectors (vectors.safetensors) and the fitted
 * reranker (reranker.json); the week-3 model picks the quote when there is one.
 *
 *   build/release/labs/week05_rag ask "What is a daemon?"           JSON on stdout
 *   build/release/labs/week05_rag ask --out DIR --mode bm25 --k 3 "..."
 */
#include "lab.h"

#include "core/cli.h"
#include "core/err.h"
#include "rag/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lab_ask_main(int argc, char **argv)
{
    const char *out = "out/week05_rag", *model_dir = "out/week03_transformer", *mode = "rerank";
    int k = 5, budget = 512;
    CliOpt opts[] = {
        {"--out", CLI_STR, &out, "folder of a lab run (corpus.db, vectors, reranker)"},
        {"--model", CLI_STR, &model_dir, "week-3 run folder (model + tokenizer)"},
        {"--mode", CLI_STR, &mode, "bm25, dense, hybrid or rerank"},
        {"--k", CLI_INT, &k, "chunks retrieved"},
        {"--budget", CLI_INT, &budget, "context budget in tokens"},
    };
    // The question is the last argument; the flags come before it.
    if (argc < 2 || argv[argc - 1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[argc - 1], "--help") == 0 ||
                          strcmp(argv[argc - 1], "-h") == 0))
            return cli_parse(argc, argv, opts, 5, "week05_rag ask [flags] QUESTION");
        fprintf(stderr, "usage: week05_rag ask [--out DIR] [--mode M] [--k N] QUESTION\n");
        return 2;
    }
    const char *question = argv[argc - 1];
    int rc = cli_parse(argc - 1, argv, opts, 5, "week05_rag ask [flags] QUESTION");
    if (rc >= 0) return rc;
    RagSearchMode m = RAG_SEARCH_MODE_COUNT;
    for (int i = 0; i < RAG_SEARCH_MODE_COUNT; i++)
        if (strcmp(mode, rag_search_mode_name(i)) == 0 ||
            (i == RAG_SEARCH_RERANK && strcmp(mode, "rerank") == 0))
            m = (RagSearchMode)i;
    if (m == RAG_SEARCH_MODE_COUNT || k < 1 || budget < 1) {
        fprintf(stderr, "error: --mode must be bm25, dense, hybrid or rerank; --k, --budget >= 1"
                "\n");
        return 2;
    }
    char path[1024];
    NnW2v w2v;
    snprintf(path, sizeof path, "%s/vectors.safetensors", out);
    if (nn_w2v_load(&w2v, path) != ERR_OK) {
        fprintf(stderr, "error: %s\nhint: run build/release/labs/week05_rag --quick first, or "
                "pass --out\n", err_msg());
        return 1;
    }
    RagEmbedder emb = rag_embedder_w2v(&w2v, 1e-3f);
    TfModel *model = NULL;
    TfBpe *bpe = NULL;
    if (lab_load_model(model_dir, &model, &bpe) != ERR_OK) return 1;
    RagRetrieverConfig cfg = rag_retriever_defaults();
    cfg.chunk.bpe = bpe;
    RagRetriever *r = NULL;
    snprintf(path, sizeof path, "%s/corpus.db", out);
    rc = lab_store_load(path, &cfg, &emb, &w2v, &r);
    RagRerankModel rm;
    snprintf(path, sizeof path, "%s/reranker.json", out);
    if (rc == ERR_OK && m == RAG_SEARCH_RERANK) {
        rc = rag_rerank_load(path, &rm);
        if (rc == ERR_OK) rag_retriever_set_reranker(r, &rm);
    }
    char *json = NULL;
    if (rc == ERR_OK) {
        RagPipelineConfig pc = rag_pipeline_defaults();
        pc.mode = m, pc.k = k, pc.token_budget = budget, pc.model = model, pc.bpe = bpe;
        rc = rag_answer(r, &pc, question, &json);
    }
    if (rc == ERR_OK) printf("%s\n", json);
    else fprintf(stderr, "error: %s\n", err_msg());
    free(json);
    rag_retriever_free(r);
    rag_embedder_deinit(&emb);
    tf_model_free(model);
    tf_tok_bpe_free(bpe);
    nn_w2v_deinit(&w2v);
    return rc == ERR_OK ? 0 : 1;
}
