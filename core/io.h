/*
 * io.h: whole-file reads and crash-safe (atomic) writes.
 *
 * Every file the engine writes (checkpoints, PNG plots, JSON reports, embeddings) goes through
 * io_write_atomic or an IoAtomic handle: the bytes go to "<path>.tmp.<pid>", are flushed with
 * fsync, and only then renamed over <path>. rename(2) is atomic on POSIX file systems, so a
 * crash at any point leaves either the old file or the new one, never a torn one.
 *
 * Errors are environment errors: a negative Err code and err_msg() naming the path and the
 * system's reason.
 *
 * Usage:
 *     if (io_write_atomic("out/loss.json", buf, len) != ERR_OK) die(err_msg());
 *
 *     IoAtomic *f;                                   // streaming form
 *     if (io_atomic_open("ckpt.safetensors", &f) != ERR_OK) die(err_msg());
 *     fwrite(hdr, 1, n, io_atomic_fp(f));            // write through the FILE *
 *     if (io_atomic_commit(f) != ERR_OK) die(err_msg()); // fsync + rename; frees f
 *
 *     unsigned char *data; size_t n;                  // whole-file read, caller frees
 *     if (io_read_all("x.bin", &data, &n) != ERR_OK) die(err_msg());
 */
#ifndef CORE_IO_H
#define CORE_IO_H

#include <stddef.h>
#include <stdio.h>

typedef struct IoAtomic IoAtomic;

// Writes `n` bytes to `path` atomically. Returns ERR_OK or ERR_IO.
int io_write_atomic(const char *path, const void *data, size_t n);

// Opens a temporary file next to `path`. On success *out is owned by the caller and must be
// passed to io_atomic_commit or io_atomic_abort exactly once.
int io_atomic_open(const char *path, IoAtomic **out);

// The FILE * to write through (borrowed, valid until commit/abort).
FILE *io_atomic_fp(IoAtomic *f);

// Flushes, fsyncs and renames over the target; frees f. On any failure the temporary file is
// removed, the target is untouched and ERR_IO is returned.
int io_atomic_commit(IoAtomic *f);

// Removes the temporary file and frees f. io_atomic_abort(NULL) does nothing.
void io_atomic_abort(IoAtomic *f);

// Reads a whole file into a new malloc'd buffer (*data, owned by the caller; free()).
// A NUL byte is appended after the data (not counted in *n) so text can be used as a string.
int io_read_all(const char *path, unsigned char **data, size_t *n);

// Creates a directory and its parents (like mkdir -p). ERR_OK if it already exists.
int io_mkdir_p(const char *path);

#endif
