/*
 * doc_internal.h: what doc.c and pdf.c share inside rag/ (not a public API).
 */
#ifndef RAG_DOC_INTERNAL_H
#define RAG_DOC_INTERNAL_H

#include <sys/stat.h>

// Opens path read-only (never blocking on a FIFO) and checks it is a regular file. On ERR_OK
// *fd is open (the caller closes it) and *st describes it; otherwise ERR_IO with the path, the
// reason and a hint ("give <what> or a folder").
int rag_doc_open_regular(const char *path, const char *what, int *fd, struct stat *st);

#endif
