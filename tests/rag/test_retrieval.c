/*
 * test_retrieval.c: the retrieval table on real data, and the query pipeline end to end.
 *
 * Word vectors are trained here (small and quick) on FOLDOC; the FOLDOC reverse-dictionary
 * benchmark (rag/qrels.h) is scored for BM25, dense, hybrid and hybrid+rerank on test entries
 * never used to fit the reranker. The thresholds are floors well under what was measured
 * (BM25 recall@10 ~0.40 on 300 queries, dense ~0.04 = 50x chance, rerank ~0.39 vs hybrid
 * ~0.30), so they catch a broken stage, not noise. The table is printed for the log.
 */
#include "core/err.h"
#include "core/io.h"
#include "datasets/datasets.h"
#include "rag/experiment.h"
#include "rag/pipeline.h"
#include "tests/test_util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static NnW2v W2V;
static char *TEXT;

static void setup(void)
{
    size_t len;
    ck_assert_int_eq(ds_corpus_text("foldoc", &TEXT, &len), ERR_OK);
    ck_assert_int_eq(nn_w2v_init(&W2V, TEXT, 0, 3, 48, 1), ERR_OK);
    NnW2vConfig wc = {.window = 5, .negatives = 5, .epochs = 2, .lr = 0.025f,
                      .subsample = 1e-3f, .seed = 1};
    nn_w2v_train(&W2V, TEXT, 0, &wc, NULL);
    nn_w2v_normalize(&W2V);
}

static void teardown(void)
{
    nn_w2v_deinit(&W2V);
    free(TEXT);
}

static int64_t count_lines(const char *path)
{
    unsigned char *data;
    size_t n;
    ck_assert_int_eq(io_read_all(path, &data, &n), ERR_OK);
    int64_t lines = 0;
    for (size_t i = 0; i < n; i++) lines += data[i] == '\n';
    free(data);
    return lines;
}

START_TEST(test_retrieval_table)
{
    RagBenchmark bm;
    ck_assert_int_eq(rag_benchmark_foldoc(NULL, &bm), ERR_OK);
    RagEmbedder emb = rag_embedder_w2v(&W2V, 1e-3f);
    RagRetrieverConfig cfg = rag_retriever_defaults();
    RagRetriever *r;
    ck_assert_int_eq(rag_retriever_create(&cfg, &emb, &W2V, &r), ERR_OK);
    RagExpConfig ec = rag_exp_defaults();
    ec.max_test = 300, ec.max_train = 300, ec.run_dir = test_tmpdir(), ec.tag = "t";
    RagExpResult res;
    ck_assert_int_eq(rag_experiment_run(r, &bm, &ec, &res), ERR_OK);
    rag_exp_print(stdout, &res, 1, (const char *[]){"recursive-800-100"});
    ck_assert_int_eq(res.n_test, 300);
    ck_assert_int_eq(res.n_docs, bm.n_docs);
    ck_assert_int_ge(res.n_chunks, res.n_docs);
    double bm25 = res.values[RAG_SEARCH_BM25][0], dense = res.values[RAG_SEARCH_DENSE][0];
    double hybrid = res.values[RAG_SEARCH_HYBRID][0], rerank = res.values[RAG_SEARCH_RERANK][0];
    ck_assert_double_gt(bm25, 0.30);
    ck_assert_double_gt(dense, 10.0 * 10.0 / (double)bm.n_docs); // 10x chance
    ck_assert_double_gt(hybrid, dense);
    ck_assert_double_gt(rerank, hybrid);
    for (int m = 0; m < RAG_SEARCH_MODE_COUNT; m++) {
        // MRR@10 <= recall@10 for one relevant document, nDCG@10 between them.
        ck_assert_double_le(res.values[m][1], res.values[m][0] + 1e-12);
        ck_assert_double_le(res.values[m][2], res.values[m][0] + 1e-12);
        ck_assert_double_ge(res.values[m][2], res.values[m][1] - 1e-12);
    }
    // The run files: 10 lines per test query (every query retrieves at least 10 entries).
    ck_assert_int_eq(count_lines(test_tmp_path("t.bm25.run")), 3000);
    ck_assert_int_eq(count_lines(test_tmp_path("t.hybrid_rerank.run")), 3000);
    RagQrels back;
    int qrc = rag_eval_read_qrels(test_tmp_path("t.qrels"),
                                  (const char *const *)bm.doc_names, bm.n_docs, &back);
    if (qrc != ERR_OK) fprintf(stderr, "%s\n", err_msg());
    ck_assert_int_eq(qrc,
                     ERR_OK);
    ck_assert_int_eq(back.n_queries, bm.qrels.n_queries);
    rag_qrels_free(&back);
    rag_retriever_free(r);
    rag_embedder_deinit(&emb);
    rag_benchmark_free(&bm);
}
END_TEST

START_TEST(test_pipeline_answers_with_citations)
{
    RagDocs *docs = rag_docs_create();
    ck_assert_int_gt(rag_docs_add_dict(docs, "foldoc", 0), 1000);
    RagEmbedder emb = rag_embedder_w2v(&W2V, 1e-3f);
    RagRetrieverConfig cfg = rag_retriever_defaults();
    RagRetriever *r;
    ck_assert_int_eq(rag_retriever_create(&cfg, &emb, &W2V, &r), ERR_OK);
    for (int64_t i = 0; i < docs->n; i++) ck_assert_int_ge(rag_retriever_add_doc(r, &docs->docs[i]), 0);
    TfBpe *bpe = tf_tok_bpe_train(TEXT, 200000, 300);
    TfConfig mc = tf_config_default(TF_LLAMA);
    mc.vocab = 300, mc.ctx = 64, mc.d_model = 32, mc.n_layer = 1, mc.n_head = 2, mc.n_kv_head = 2;
    mc.d_ff = 64;
    TfModel *model = tf_model_create(&mc, 1);
    RagPipelineConfig pc = rag_pipeline_defaults();
    pc.mode = RAG_SEARCH_BM25, pc.model = model, pc.bpe = bpe, pc.token_budget = 4096;

    char *js;
    const char *q = "Which protocol transfers electronic mail between computers?";
    ck_assert_int_eq(rag_answer(r, &pc, q, &js), ERR_OK);
    json_error_t je;
    json_t *o = json_loads(js, 0, &je);
    ck_assert_ptr_nonnull(o);
    ck_assert(json_is_true(json_object_get(o, "found")));
    json_t *cites = json_object_get(o, "citations");
    ck_assert_int_ge(json_array_size(cites), 1);
    // Some citation is the SMTP entry, and the answer quotes a cited chunk verbatim.
    bool smtp = false;
    for (size_t i = 0; i < json_array_size(cites); i++)
        smtp |= strstr(json_string_value(json_object_get(json_array_get(cites, i), "title")),
                       "Mail Transfer") != NULL;
    if (!smtp) fprintf(stderr, "%s\n", js);
    ck_assert(smtp);
    const char *ans = json_string_value(json_object_get(o, "answer"));
    const char *close = strrchr(ans, '"');
    ck_assert(ans[0] == '"' && close && close > ans);
    int cite = atoi(strchr(close, '[') + 1);
    ck_assert_int_ge(cite, 1);
    const char *chunk = json_string_value(
        json_object_get(json_array_get(cites, (size_t)cite - 1), "text"));
    ck_assert_ptr_nonnull(chunk);
    char quote[2048];
    size_t ql = (size_t)(close - ans - 1);
    ck_assert_uint_lt(ql, sizeof quote);
    memcpy(quote, ans + 1, ql);
    quote[ql] = '\0';
    ck_assert_ptr_nonnull(strstr(chunk, quote));
    ck_assert_int_gt(json_integer_value(json_object_get(o, "context_tokens")), 0);
    ck_assert(json_real_value(json_object_get(json_object_get(o, "timings_ms"), "total")) > 0);
    json_decref(o);
    free(js);

    // No word of the question occurs in the corpus: no hit, "not found", no citation.
    ck_assert_int_eq(rag_answer(r, &pc, "qzxvq wvkjw", &js), ERR_OK);
    o = json_loads(js, 0, &je);
    ck_assert(json_is_false(json_object_get(o, "found")));
    ck_assert_int_eq(json_array_size(json_object_get(o, "citations")), 0);
    json_decref(o);
    free(js);

    // The gate: a relevance no hit can reach turns the same question into "not found".
    pc.min_relevance = 1.01f;
    ck_assert_int_eq(rag_answer(r, &pc, q, &js), ERR_OK);
    o = json_loads(js, 0, &je);
    ck_assert(json_is_false(json_object_get(o, "found")));
    ck_assert_str_eq(json_string_value(json_object_get(o, "answer")),
                     "Not found in the documents.");
    json_decref(o);
    free(js);
    pc.min_relevance = rag_pipeline_defaults().min_relevance;

    // A metadata filter that matches nothing: no hits, "not found".
    RagFilter f = {.kind = "pdf"};
    pc.filter = &f;
    ck_assert_int_eq(rag_answer(r, &pc, q, &js), ERR_OK);
    o = json_loads(js, 0, &je);
    ck_assert(json_is_false(json_object_get(o, "found")));
    json_decref(o);
    free(js);

    tf_model_free(model);
    tf_tok_bpe_free(bpe);
    rag_retriever_free(r);
    rag_embedder_deinit(&emb);
    rag_docs_free(docs);
}
END_TEST

static Suite *retrieval_suite(void)
{
    Suite *s = suite_create("retrieval");
    TCase *tc = tcase_create("retrieval");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_retrieval_table);
    tcase_add_test(tc, test_pipeline_answers_with_citations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(retrieval_suite()); }
