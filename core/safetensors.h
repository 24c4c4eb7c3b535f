/*
 * safetensors.h: checkpoints in the safetensors format (the file PyTorch's ecosystem reads).
 *
 * The format, byte by byte:
 *     [0, 8)          N, the header length: an unsigned 64-bit little-endian integer
 *     [8, 8+N)        a UTF-8 JSON object, padded with spaces; each key is a tensor name:
 *                         "w": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}
 *                     plus an optional "__metadata__": {"key": "value", ...} (strings only)
 *     [8+N, end)      the data region: each tensor's bytes, little-endian, row-major (C order),
 *                     at [begin, end) counted from the first byte after the header
 * A valid file tiles the data region exactly: sorted by begin, each tensor starts where the
 * previous one ended, end - begin == numel * dtype size, and the last end is the file's end.
 * This is what the reference implementation (huggingface/safetensors) checks, so a file this
 * module accepts is one PyTorch accepts, and vice versa.
 *
 * Writing. st_save writes float32 (DT_F32 -> "F32") and int32 (DT_I32 -> "I32") tensors, in
 * the order given, packed: tensor i's data starts where tensor i-1's ended. The header is padded
 * with spaces so the data region starts at a multiple of 8 bytes; since every element is 4 bytes,
 * every tensor is then aligned to its element size (what a reader that memory-maps wants). Views
 * and non-contiguous tensors are written in logical (row-major) order. The file is written
 * atomically (core/io.h): a crash leaves the old checkpoint or the new one, never a torn one.
 *
 * Reading. st_open reads the whole file and validates all of it up front: header length (at most
 * 100 MB and inside the file), JSON syntax (duplicate names rejected), each entry's fields and
 * types, dtype, dims (no overflow of numel * size), offsets (inside the data region, ordered, no
 * gap, no overlap). Any later st_read then only converts. Accepted dtypes: BOOL, U8, I8, I16,
 * U16, I32, U32, I64, U64, F16, BF16, F32, F64, F8_E5M2, F8_E4M3. st_read converts float dtypes
 * (F16, BF16, F32, F64) to DT_F32 and integer dtypes (BOOL, U8 ... U64) to DT_I32, with a range
 * check; F8 tensors can be listed and read raw (st_raw) but not converted.
 *
 * Errors. Bad files are environment errors: a negative Err code, and err_msg() names the file,
 * the byte offset or the field (tensor name, "dtype", "shape", "data_offsets") and ends with a
 * hint. The codes: ERR_IO (cannot open/read/write), ERR_TRUNCATED (the file ends before the
 * header or a tensor's data does), ERR_RANGE (header over 100 MB, more than ST_MAX_DIMS dims,
 * numel overflow, an integer that does not fit int32, more than 4 dims for a Tensor),
 * ERR_FORMAT (bad JSON, wrong field types, unknown dtype, bad offsets, dtype kind mismatch),
 * ERR_SHAPE (st_read_into: shapes differ), ERR_NOTFOUND (no tensor of that name), ERR_NOMEM.
 * Misuse (NULL arguments, a duplicate or reserved name passed to st_save, an index out of range)
 * is a bug and hits CHECK.
 *
 * Ownership. An StFile is owned by the caller of st_open and freed with st_close. Every string
 * it returns (names, dtypes, metadata) and st_raw's pointer are borrowed until st_close. Tensors
 * from st_read live in the caller's arena. st_save only reads the tensors it is given.
 *
 * Usage:
 *     StEntry e[] = { {"w", W}, {"b", b} };
 *     const char *meta[] = { "step", "1000" };               // key, value pairs
 *     if (st_save("ckpt.safetensors", e, 2, meta, 1) != ERR_OK) die(err_msg());
 *     if (st_load_into("ckpt.safetensors", e, 2) != ERR_OK) die(err_msg()); // into W and b
 *
 *     StFile *f;                                             // or: look around first
 *     if (st_open("model.safetensors", &f) != ERR_OK) die(err_msg());
 *     for (int i = 0; i < st_count(f); i++) printf("%s\n", st_name(f, i));
 *     Tensor *emb;
 *     if (st_read(f, "wte.weight", params, &emb) != ERR_OK) die(err_msg());
 *     printf("saved at step %s\n", st_meta(f, "step") ? st_meta(f, "step") : "?");
 *     st_close(f);
 */
#ifndef CORE_SAFETENSORS_H
#define CORE_SAFETENSORS_H

#include "arena.h"
#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

// Most dims a tensor in a file may have (st_open rejects more with ERR_RANGE). st_read and
// st_read_into need at most TENSOR_MAX_DIMS (4).
#define ST_MAX_DIMS 8

// Largest header st_open accepts, as the reference implementation: 100 MB.
#define ST_MAX_HEADER 100000000ULL

typedef struct StFile StFile;

// One named tensor, for st_save (which only reads *t) and st_load_into (which fills *t).
typedef struct {
    const char *name; // the key in the file, e.g. "h.0.attn.c_attn.weight"
    Tensor *t;
} StEntry;

// Writes n tensors (DT_F32 or DT_I32, any layout) to `path`, in the given order, atomically.
// meta_kv is NULL or holds n_meta (key, value) pairs as 2 * n_meta strings, stored under
// "__metadata__". Names must be non-empty, distinct and not "__metadata__" (CHECK); names and
// metadata must be valid UTF-8 (else ERR_INVALID). Returns ERR_OK, ERR_INVALID or ERR_IO; on
// failure `path` is untouched and no temporary file is left behind.
int st_save(const char *path, const StEntry *entries, int n, const char *const *meta_kv,
            int n_meta);

// Opens and validates a safetensors file (see the top of this file for what is checked).
// On success *out is a new StFile owned by the caller (free with st_close); on failure *out is
// NULL and the return value is a negative Err code.
int st_open(const char *path, StFile **out);

// Frees the file and everything borrowed from it. st_close(NULL) does nothing.
void st_close(StFile *f);

// The path given to st_open (borrowed).
const char *st_path(const StFile *f);

// Number of tensors, and the name of the i-th (0 <= i < st_count) in the file's header order.
int st_count(const StFile *f);
const char *st_name(const StFile *f, int i);

// Metadata: the number of pairs, the i-th key (0 <= i < st_meta_count, header order), and the
// value for `key` (NULL when the file has no such key). All strings borrowed.
int st_meta_count(const StFile *f);
const char *st_meta_key(const StFile *f, int i);
const char *st_meta(const StFile *f, const char *key);

// Describes the named tensor: its dims (*ndim, up to ST_MAX_DIMS; shape must have room for
// ST_MAX_DIMS entries) and its dtype string as stored ("F32", "BF16", ...; borrowed). Any out
// pointer may be NULL. Returns ERR_OK or ERR_NOTFOUND.
int st_info(const StFile *f, const char *name, int *ndim, int64_t *shape, const char **dtype);

// The stored bytes of the named tensor (little-endian, row-major), borrowed until st_close;
// *nbytes gets their count. NULL (and ERR_NOTFOUND in err_msg) when absent.
const void *st_raw(const StFile *f, const char *name, size_t *nbytes);

// A new tensor in arena `a` holding a copy of the named tensor: DT_F32 for F16/BF16/F32/F64,
// DT_I32 for integer dtypes (each value must fit int32, else ERR_RANGE naming the element).
// The tensor is named after the entry (truncated to fit Tensor.name). Returns ERR_OK,
// ERR_NOTFOUND, ERR_RANGE (more than 4 dims, value out of range) or ERR_FORMAT (F8 dtypes).
int st_read(const StFile *f, const char *name, Arena *a, Tensor **out);

// Copies the named tensor into an existing tensor `dst` (a parameter; may be a view). The
// stored shape must equal dst's exactly, else ERR_SHAPE with both shapes in the message; a
// float dtype needs a DT_F32 dst and an integer dtype a DT_I32 dst, else ERR_FORMAT. On any
// error dst is left unchanged.
int st_read_into(const StFile *f, const char *name, Tensor *dst);

// Opens `path` and fills each entries[i].t with the tensor of that name (st_read_into), then
// closes it. Tensors in the file that are not asked for are ignored. A missing name gives
// ERR_NOTFOUND. On error some entries may already have been filled.
int st_load_into(const char *path, const StEntry *entries, int n);

#endif
