/*
 * pipeline.c: question -> retrieve -> gate -> context -> model-chosen quote -> JSON
 * (see pipeline.h).
 *
 * Dimensions: V = vocabulary, P = prompt tokens, S = sentence tokens, ctx = model context.
 */
#include "rag/pipeline.h"

#include "core/err.h"
#include "transformer/generate.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int cite;            // citation number, 1-based
    int64_t start, end;  // bytes of the sentence in the chunk's text (trimmed)
    const char *text;    // borrowed from the retriever
    float maxsim, pmi, score;
} Sentence;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

RagPipelineConfig rag_pipeline_defaults(void)
{
    return (RagPipelineConfig){.mode = RAG_SEARCH_RERANK, .k = 5, .token_budget = 512,
                               .min_relevance = 0.08f, .max_sentences = 24,
                               .pmi_weight = 0.5f};
}

static int count_words(const char *s, int64_t n)
{
    int w = 0;
    for (int64_t i = 0; i < n; i++)
        if ((i == 0 || s[i - 1] == ' ' || s[i - 1] == '\n' || s[i - 1] == '\t') &&
            !(s[i] == ' ' || s[i] == '\n' || s[i] == '\t'))
            w++;
    return w;
}

// log softmax(logits)[id] in double.
static double log_prob(const float *logits, int V, int32_t id)
{
    float m = logits[0];
    for (int i = 1; i < V; i++) m = fmaxf(m, logits[i]);
    double s = 0;
    for (int i = 0; i < V; i++) s += exp((double)(logits[i] - m));
    return (double)(logits[id] - m) - log(s);
}

// Sum of log P(sentence tokens | prompt) through the KV cache: the prompt (P tokens) runs once
// at position 0, then the sentence is teacher-forced one token at a time.
static double sentence_logprob(TfInfer *st, const int32_t *prompt, int P, const int32_t *sent,
                               int S)
{
    int V = tf_infer_model(st)->cfg.vocab;
    const float *logits = tf_infer_forward(st, prompt, P, 0);
    double lp = 0;
    for (int t = 0; t < S; t++) {
        lp += log_prob(logits, V, sent[t]);
        if (t + 1 < S) logits = tf_infer_forward(st, &sent[t], 1, P + t);
    }
    return lp;
}

// pmi(s) = (log P(s | question prompt) - log P(s | "Answer:")) / S, lengths cut to the context.
static float sentence_pmi(TfInfer *st, TfBpe *bpe, const int32_t *qp, int nqp, const int32_t *ap,
                          int nap, const char *text, int64_t len)
{
    int ctx = tf_infer_max_T(st);
    int32_t *ids = NULL;
    int64_t n = tf_tok_bpe_encode(bpe, text, (size_t)len, &ids);
    int S = (int)n;
    if (S > ctx - nqp) S = ctx - nqp;
    float pmi = 0.0f;
    if (S >= 1) {
        double a = sentence_logprob(st, qp, nqp, ids, S);
        double b = sentence_logprob(st, ap, nap, ids, S);
        pmi = (float)((a - b) / S);
    }
    free(ids);
    return pmi;
}

// The relevance of a hit for the gate (see pipeline.h).
static float relevance(RagRetriever *r, const RagPipelineConfig *cfg, const char *q,
                       const RagHit *h)
{
    if (cfg->mode == RAG_SEARCH_RERANK && rag_retriever_reranker(r))
        return 1.0f / (1.0f + expf(-h->score));
    const RagEmbedder *words = rag_retriever_words(r);
    if (!words) return 1.0f; // nothing to judge by: the gate stays open
    RagChunkRef c = rag_retriever_chunk(r, h->id);
    return rag_word_overlap(words, q, (int64_t)strlen(q), c.text, c.end - c.start);
}

static int sentence_cmp(const void *pa, const void *pb)
{
    const Sentence *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->cite != b->cite) return a->cite - b->cite;
    return (a->start > b->start) - (a->start < b->start);
}

int rag_answer(RagRetriever *r, const RagPipelineConfig *cfg, const char *question,
               char **json)
{
    CHECK(r && cfg && question && json && cfg->bpe && cfg->k >= 1 && cfg->max_sentences >= 1,
          "rag_answer: bad arguments (the tokenizer is required)");
    *json = NULL;
    double t0 = now_ms();
    RagHit *hits = malloc((size_t)cfg->k * sizeof *hits);
    CHECK(hits, "rag_answer: out of memory");
    int64_t n_hits = rag_retriever_search(r, cfg->mode, question, cfg->k, cfg->filter, hits);
    if (n_hits < 0) {
        free(hits);
        return (int)n_hits;
    }
    double t1 = now_ms();

    json_t *o = json_object();
    json_object_set_new(o, "question", json_string(question));
    json_object_set_new(o, "mode", json_string(rag_search_mode_name(cfg->mode)));
    json_t *cites = json_array();
    float top_rel = n_hits > 0 ? relevance(r, cfg, question, &hits[0]) : 0.0f;
    bool found = n_hits > 0 && top_rel >= cfg->min_relevance;

    // Context assembly within the token budget; sentences of the kept chunks.
    Sentence *sent = calloc((size_t)cfg->max_sentences, sizeof *sent);
    CHECK(sent, "rag_answer: out of memory");
    int n_sent = 0;
    int64_t used = 0;
    for (int64_t i = 0; found && i < n_hits; i++) {
        RagChunkRef c = rag_retriever_chunk(r, hits[i].id);
        int64_t len = c.end - c.start;
        int32_t *ids = NULL;
        int64_t nt = tf_tok_bpe_encode(cfg->bpe, c.text, (size_t)len, &ids);
        free(ids);
        if (used + nt > cfg->token_budget && json_array_size(cites) > 0) continue;
        used += nt;
        int cite = (int)json_array_size(cites) + 1;
        const char *kind = rag_retriever_doc_kind(r, c.doc);
        int64_t page = 0;
        if (strcmp(kind, "pdf") == 0) {
            const char *doc_text = c.text - c.start; // pages are separated by form feeds
            page = 1;
            for (int64_t b = 0; b < c.start; b++) page += doc_text[b] == '\f';
        }
        json_t *ci = json_object();
        json_object_set_new(ci, "n", json_integer(cite));
        json_object_set_new(ci, "doc", json_string(rag_retriever_doc_name(r, c.doc)));
        json_object_set_new(ci, "title", json_string(rag_retriever_doc_title(r, c.doc)));
        json_object_set_new(ci, "source", json_string(rag_retriever_doc_source(r, c.doc)));
        json_object_set_new(ci, "kind", json_string(kind));
        json_object_set_new(ci, "start", json_integer(c.start));
        json_object_set_new(ci, "end", json_integer(c.end));
        json_object_set_new(ci, "page", page ? json_integer(page) : json_null());
        json_object_set_new(ci, "score", json_real(hits[i].score));
        json_object_set_new(ci, "relevance", json_real(relevance(r, cfg, question, &hits[i])));
        json_object_set_new(ci, "tokens", json_integer(nt));
        json_object_set_new(ci, "text", json_stringn_nocheck(c.text, (size_t)len));
        json_array_append_new(cites, ci);
        for (int64_t p = 0; p < len && n_sent < cfg->max_sentences;) {
            int64_t e = rag_chunk_sentence_next(c.text, len, p), a = p, b = e;
            while (a < b && (c.text[a] == ' ' || c.text[a] == '\n' || c.text[a] == '\t')) a++;
            while (b > a && (c.text[b - 1] == ' ' || c.text[b - 1] == '\n' ||
                             c.text[b - 1] == '\t' || c.text[b - 1] == '\f'))
                b--;
            if (count_words(c.text + a, b - a) >= 3)
                sent[n_sent++] = (Sentence){.cite = cite, .start = a, .end = b, .text = c.text};
            p = e > p ? e : len;
        }
    }

    // The model's choice among the sentences.
    const RagEmbedder *words = rag_retriever_words(r);
    TfInfer *st = NULL;
    int32_t *qp = NULL, *ap = NULL;
    int nqp = 0, nap = 0;
    if (cfg->model && n_sent > 0) {
        st = tf_infer_create(cfg->model, cfg->model->cfg.ctx);
        size_t ql = strlen(question);
        char *prompt = malloc(ql + 32);
        CHECK(prompt, "rag_answer: out of memory");
        snprintf(prompt, ql + 32, "Question: %s\nAnswer:", question);
        nqp = (int)tf_tok_bpe_encode(cfg->bpe, prompt, strlen(prompt), &qp);
        nap = (int)tf_tok_bpe_encode(cfg->bpe, "Answer:", 7, &ap);
        free(prompt);
        int half = cfg->model->cfg.ctx / 2;
        if (nqp > half) { // keep the end of the prompt: the question's tail and "Answer:"
            memmove(qp, qp + (nqp - half), (size_t)half * sizeof *qp);
            nqp = half;
        }
    }
    for (int i = 0; i < n_sent; i++) {
        Sentence *s = &sent[i];
        int64_t len = s->end - s->start;
        s->maxsim = words ? rag_maxsim(words, question, (int64_t)strlen(question),
                                       s->text + s->start, len)
                          : 0.0f;
        s->pmi = st ? sentence_pmi(st, cfg->bpe, qp, nqp, ap, nap, s->text + s->start, len) : 0;
        s->score = s->maxsim + cfg->pmi_weight * s->pmi;
    }
    tf_infer_free(st);
    free(qp), free(ap);
    qsort(sent, (size_t)n_sent, sizeof *sent, sentence_cmp);

    if (!found || n_sent == 0) {
        json_object_set_new(o, "answer", json_string("Not found in the documents."));
        json_object_set_new(o, "found", json_false());
    } else {
        size_t len = (size_t)(sent[0].end - sent[0].start);
        char *ans = malloc(len + 32);
        CHECK(ans, "rag_answer: out of memory");
        snprintf(ans, len + 32, "\"%.*s\" [%d]", (int)len, sent[0].text + sent[0].start,
                 sent[0].cite);
        json_object_set_new(o, "answer", json_string_nocheck(ans));
        json_object_set_new(o, "found", json_true());
        free(ans);
    }
    json_object_set_new(o, "relevance", json_real(top_rel));
    json_object_set_new(o, "citations", cites);
    json_t *sa = json_array();
    for (int i = 0; i < n_sent; i++) {
        json_t *so = json_object();
        json_object_set_new(so, "citation", json_integer(sent[i].cite));
        json_object_set_new(so, "text", json_stringn_nocheck(sent[i].text + sent[i].start,
                                                             (size_t)(sent[i].end -
                                                                      sent[i].start)));
        json_object_set_new(so, "maxsim", json_real(sent[i].maxsim));
        json_object_set_new(so, "pmi", json_real(sent[i].pmi));
        json_object_set_new(so, "score", json_real(sent[i].score));
        json_array_append_new(sa, so);
    }
    json_object_set_new(o, "sentences", sa);
    json_object_set_new(o, "context_tokens", json_integer(used));
    double t2 = now_ms();
    json_t *tm = json_object();
    json_object_set_new(tm, "retrieve", json_real(t1 - t0));
    json_object_set_new(tm, "answer", json_real(t2 - t1));
    json_object_set_new(tm, "total", json_real(t2 - t0));
    json_object_set_new(o, "timings_ms", tm);
    *json = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    free(sent);
    free(hits);
    CHECK(*json, "rag_answer: json_dumps failed (out of memory)");
    return ERR_OK;
}
