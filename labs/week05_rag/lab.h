/*
 * lab.h: the parts of the week-5 lab (documents -> answers).
 */
#ifndef LAB_WEEK05_H
#define LAB_WEEK05_H

#include "rag/doc.h"
#include "rag/retriever.h"
#include "rag/store.h"

#include <stdbool.h>
#include <stdint.h>

// corpus.c: writes PDFs of up to max_pages man pages (groff -man -Tpdf) into dir, plus one
// deliberately broken PDF, and returns how many real PDFs it made (0 when groff is missing).
int lab_make_pdfs(const char *dir, int max_pages);

// corpus.c: ingests every document of docs into the store at db_path (one transaction per
// document inside one batch), cut by cfg->chunk and embedded by emb. Prints counts and time.
int lab_store_ingest(const RagDocs *docs, const RagChunkOpts *chunk, const RagEmbedder *emb,
                     const char *db_path);

// corpus.c: a retriever rebuilt from the store's documents, chunks and vectors (no
// re-chunking, no re-embedding): the store is the source of truth, indexes are caches.
int lab_store_load(const char *db_path, const RagRetrieverConfig *cfg, const RagEmbedder *emb,
                   const NnW2v *w2v, RagRetriever **out);

// main.c: the week-3 model and tokenizer from dir (*model NULL, and a tokenizer trained on
// FOLDOC, when dir has none). ERR_OK or the error of training the fallback tokenizer.
int lab_load_model(const char *dir, TfModel **model, TfBpe **bpe);

// ask.c: the `ask` subcommand (argv[0] is "ask").
int lab_ask_main(int argc, char **argv);

#endif
