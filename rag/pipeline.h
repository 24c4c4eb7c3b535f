/*
 * pipeline.h: documents -> answers. The week-5 query pipeline on top of the retriever.
 *
 *   question
 *     -> retrieve + rerank (retriever.h, cfg.mode)        top cfg.k chunks
 *     -> relevance gate                                    "not found in the documents"
 *     -> context assembly within cfg.token_budget BPE tokens, each chunk numbered [n] with its
 *        citation (document, title, source, byte range, PDF page)
 *     -> answer from the local model: the context is split into sentences; the transformer
 *        scores each sentence s by how much the question raises its likelihood,
 *            pmi(s) = (log P(s | "Question: q\nAnswer:") - log P(s | "Answer:")) / |s|
 *        (mean over s's tokens, teacher-forced through the KV cache), and that is added to
 *        the sentence's MaxSim with the question (rerank.h). The best sentence is quoted
 *        verbatim with its citation: an answer that can only say what the documents say.
 *     -> JSON: answer, found, citations with scores, the sentence scores, timings.
 *
 * Why extractive: the local models of this course have a few million parameters and are
 * trained on a dictionary; asked to write an answer they ramble. Asked to *choose* among
 * retrieved sentences they are useful, and every word of the answer is then grounded in a
 * cited source. The gate: the top chunk's relevance (the reranker's probability when it is
 * trained, else the share of question words found in the chunk) below cfg.min_relevance
 * answers "not found in the documents" with found = false and no citation.
 *
 * Ownership: the retriever, model and tokenizer are borrowed. rag_answer returns a new
 * NUL-terminated JSON string the caller frees.
 * Errors: those of the retriever (negative Err); bad arguments are bugs (CHECK).
 *
 * Usage:
 *     RagPipelineConfig pc = rag_pipeline_defaults();
 *     pc.model = model, pc.bpe = bpe;                 // NULL model: MaxSim alone
 *     char *json;
 *     if (rag_answer(retriever, &pc, "Which protocol delivers mail?", &json) != ERR_OK)
 *         die(err_msg());
 *     puts(json);                                     // {"question": ..., "answer": ...}
 *     free(json);
 */
#ifndef RAG_PIPELINE_H
#define RAG_PIPELINE_H

#include "rag/retriever.h"
#include "transformer/model.h"
#include "transformer/tokenizer.h"

#include <stdint.h>

typedef struct {
    RagSearchMode mode;    // RAG_SEARCH_RERANK
    int64_t k;             // chunks retrieved (5)
    int64_t token_budget;  // context tokens (512; chunks that do not fit are left out)
    float min_relevance;   // the gate (0.08: see the top of the file)
    int max_sentences;     // candidate sentences scored by the model (24)
    float pmi_weight;      // weight of the model's pmi next to MaxSim (0.5)
    TfModel *model;        // borrowed, may be NULL
    TfBpe *bpe;            // borrowed; required (token budget, model scoring)
    const RagFilter *filter; // borrowed, may be NULL
} RagPipelineConfig;

RagPipelineConfig rag_pipeline_defaults(void);

// Answers `question` from the retriever's documents: *json (owned by the caller) is
//   {"question", "answer", "found", "mode",
//    "citations": [{"n", "doc", "title", "source", "kind", "start", "end", "page", "score",
//                   "relevance", "tokens", "text"}],
//    "sentences": [{"citation", "text", "maxsim", "pmi", "score"}]  (best first),
//    "context_tokens", "timings_ms": {"retrieve", "answer", "total"}}
int rag_answer(RagRetriever *r, const RagPipelineConfig *cfg, const char *question,
               char **json);

#endif
