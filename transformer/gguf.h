/*
 * gguf.h: GGUF files, the container llama.cpp runs models from (prefix tf_gguf_).
 *
 * Two layers:
 *
 *   1. The container (gguf.c): a strict reader and an atomic writer of GGUF v3 (v2 is read
 *      too: same layout). A file is
 *          "GGUF", u32 version, i64 n_tensors, i64 n_kv,
 *          n_kv x (string key, u32 value type, value),      string = u64 length + bytes
 *          n_tensors x (string name, u32 n_dims, i64 ne[n_dims], u32 type, u64 offset),
 *          zero padding to the alignment, then the tensor data.
 *      An array value is u32 element type + u64 count + elements. Tensor offsets count from
 *      the start of the data section; each is a multiple of the alignment (the key
 *      "general.alignment", u32, a power of two; 32 when absent). Shapes are stored innermost
 *      first (ggml's ne order): a row-major W[out][in] has ne = {in, out}. The reader keeps
 *      that order in TfGgufTensor.ne; model code reverses it.
 *      The reader validates everything before anything is used: magic, version, every count
 *      bounded by the bytes left in the file, string lengths, value types, nesting, tensor
 *      n_dims 1..4, dims > 0 with an element count that cannot overflow, tensor types
 *      (F32, F16 and Q8_0; any other type is "unsupported tensor type <name>"), alignment,
 *      data inside the file, no two tensors overlapping, no duplicate key or tensor name.
 *      No input makes it crash or read outside the file.
 *
 *   2. The model (gguf_model.c): export of a TF_LLAMA TfModel (and optionally its byte-level
 *      BPE) to the "llama" architecture that llama.cpp loads, and import of a llama
 *      architecture file (e.g. a downloaded SmolLM2-135M) back into a TfModel + TfBpe, so it
 *      runs through tf_infer_* (generate.h).
 *
 * Ownership: a TfGguf (tf_gguf_open) owns its mapping of the file; every pointer it hands out
 * (keys, string values, tensor data, TfGgufTensor) is borrowed until tf_gguf_close. A
 * TfGgufWriter owns copies of keys and values; tensor data given to it is borrowed until
 * tf_gguf_writer_write returns. Models and tokenizers returned by import are owned by the
 * caller (tf_model_free, tf_tok_bpe_free).
 *
 * Errors: every file problem returns a negative Err (ERR_IO, ERR_FORMAT, ERR_TRUNCATED,
 * ERR_RANGE, ERR_NOTFOUND, ERR_SHAPE) with err_msg() naming the file, the field or byte
 * offset, and a hint. Misuse (NULL arguments, a duplicate name given to the writer) CHECKs.
 *
 * Usage:
 *     if (tf_gguf_export(model, bpe, TF_GGUF_F16, "out/model.gguf") != ERR_OK) die(err_msg());
 *
 *     TfModel *m;  TfBpe *tok;                      // SmolLM2-135M-Instruct-f16.gguf, ...
 *     if (tf_gguf_import("model.gguf", &m, &tok) != ERR_OK) die(err_msg());
 *     TfInfer *s = tf_infer_create(m, 256);         // generate.h
 *
 *     TfGguf *g;                                    // the container by hand
 *     if (tf_gguf_open("model.gguf", &g) != ERR_OK) die(err_msg());
 *     uint32_t n_layer;
 *     if (tf_gguf_get_u32(g, "llama.block_count", &n_layer) != ERR_OK) die(err_msg());
 *     const TfGgufTensor *t = tf_gguf_find_tensor(g, "token_embd.weight");
 *     tf_gguf_close(g);
 */
#ifndef TRANSFORMER_GGUF_H
#define TRANSFORMER_GGUF_H

#include "transformer/model.h"
#include "transformer/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TF_GGUF_MAGIC "GGUF"
#define TF_GGUF_VERSION 3
#define TF_GGUF_DEFAULT_ALIGNMENT 32
#define TF_GGUF_MAX_DIMS 4
#define TF_GGUF_MAX_NAME 64   // tensor names are shorter (llama.cpp's GGML_MAX_NAME)
#define TF_GGUF_Q8_0_BLOCK 32 // Q8_0: blocks of 32 values = f16 scale d + 32 int8 q; x = d * q

// Tensor types (ggml's numbering). Only these three are read or written.
typedef enum {
    TF_GGUF_F32 = 0,
    TF_GGUF_F16 = 1,
    TF_GGUF_Q8_0 = 8,
} TfGgufType;

// Metadata value types (GGUF's numbering).
typedef enum {
    TF_GGUF_VAL_U8 = 0,
    TF_GGUF_VAL_I8 = 1,
    TF_GGUF_VAL_U16 = 2,
    TF_GGUF_VAL_I16 = 3,
    TF_GGUF_VAL_U32 = 4,
    TF_GGUF_VAL_I32 = 5,
    TF_GGUF_VAL_F32 = 6,
    TF_GGUF_VAL_BOOL = 7,
    TF_GGUF_VAL_STRING = 8,
    TF_GGUF_VAL_ARRAY = 9,
    TF_GGUF_VAL_U64 = 10,
    TF_GGUF_VAL_I64 = 11,
    TF_GGUF_VAL_F64 = 12,
    TF_GGUF_VAL_COUNT
} TfGgufValType;

// "F32", "F16", "Q8_0", or for other ggml types their ggml name ("Q4_K", ...) / "type 99".
// Borrowed (static; a "type N" string is valid until the next call on the same thread).
const char *tf_gguf_type_name(uint32_t type);

// "u32", "string", "array", ... ("?" when out of range). Borrowed, static.
const char *tf_gguf_val_type_name(uint32_t type);

// Bytes of n elements of a tensor type (n a multiple of 32 for Q8_0).
uint64_t tf_gguf_type_nbytes(TfGgufType type, uint64_t n);

// IEEE half <-> float. f32 -> f16 rounds to nearest even; overflow gives +-inf, NaN stays NaN.
float tf_f16_to_f32(uint16_t h);
uint16_t tf_f32_to_f16(float f);

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

typedef struct TfGguf TfGguf;

typedef struct {
    char name[TF_GGUF_MAX_NAME]; // NUL-terminated
    int n_dims;                  // 1..4
    int64_t ne[TF_GGUF_MAX_DIMS];// GGUF order, ne[0] innermost; unused dims are 1
    int64_t n_elem;              // product of ne
    TfGgufType type;
    uint64_t offset;             // from the start of the data section
    uint64_t nbytes;             // tf_gguf_type_nbytes(type, n_elem)
    const void *data;            // borrowed: the bytes in the mapped file
} TfGgufTensor;

// Opens, maps and validates a GGUF file (see the top of the file). *out is owned by the
// caller (tf_gguf_close). Errors: ERR_IO (cannot open/map), ERR_TRUNCATED (the file ends
// inside a field), ERR_FORMAT (bad magic/version/type/duplicate/alignment, unsupported
// tensor type), ERR_RANGE (absurd count, dims, or data outside the file).
int tf_gguf_open(const char *path, TfGguf **out);

// Unmaps and frees. NULL does nothing.
void tf_gguf_close(TfGguf *g);

// The path given to open (borrowed), the version (2 or 3), the alignment.
const char *tf_gguf_path(const TfGguf *g);
int tf_gguf_version(const TfGguf *g);
uint32_t tf_gguf_alignment(const TfGguf *g);

// Metadata, by index 0 .. n_kv-1 or by key.
int64_t tf_gguf_n_kv(const TfGguf *g);
const char *tf_gguf_kv_key(const TfGguf *g, int64_t i);       // borrowed, NUL-terminated
TfGgufValType tf_gguf_kv_type(const TfGguf *g, int64_t i);
int64_t tf_gguf_find_kv(const TfGguf *g, const char *key);     // index, or -1 when absent

// Typed getters. ERR_NOTFOUND when the key is absent, ERR_FORMAT when it has another type
// (the message names the file, the key, the expected and the stored type). Strict: a u32
// getter does not accept an i32 or a u64.
int tf_gguf_get_u32(const TfGguf *g, const char *key, uint32_t *out);
int tf_gguf_get_f32(const TfGguf *g, const char *key, float *out);
int tf_gguf_get_bool(const TfGguf *g, const char *key, bool *out);
// A string value: *s points into the file (borrowed, NOT NUL-terminated), *len its bytes.
int tf_gguf_get_str(const TfGguf *g, const char *key, const char **s, size_t *len);
// An array: its element type and count. ERR_FORMAT when the key is not an array.
int tf_gguf_get_arr(const TfGguf *g, const char *key, TfGgufValType *elem_type,
                    int64_t *count);
// Element i of an array of strings (borrowed, not NUL-terminated). CHECKs that kv is an
// array of strings and i is in range.
const char *tf_gguf_arr_str(const TfGguf *g, int64_t kv, int64_t i, size_t *len);
// Element i of an array of numbers (any integer, float or bool type) as a double. CHECKs.
double tf_gguf_arr_num(const TfGguf *g, int64_t kv, int64_t i);

// Tensors, by index 0 .. n_tensors-1 (in the file's order) or by name (NULL when absent).
int64_t tf_gguf_n_tensors(const TfGguf *g);
const TfGgufTensor *tf_gguf_tensor(const TfGguf *g, int64_t i);
const TfGgufTensor *tf_gguf_find_tensor(const TfGguf *g, const char *name);

// Converts a tensor's n_elem values to float (out holds t->n_elem): F32 copied, F16
// widened, Q8_0 dequantised (x = d * q per block of 32).
void tf_gguf_tensor_to_f32(const TfGgufTensor *t, float *out);

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

typedef struct TfGgufWriter TfGgufWriter;

// An empty file description (version 3, alignment 32). Owned by the caller:
// tf_gguf_writer_free.
TfGgufWriter *tf_gguf_writer_create(void);
void tf_gguf_writer_free(TfGgufWriter *w);

// Metadata, written in the order added. A key added twice CHECKs. Values are copied.
// Adding "general.alignment" (u32, a power of two) changes the alignment used for the data.
void tf_gguf_writer_add_u32(TfGgufWriter *w, const char *key, uint32_t v);
void tf_gguf_writer_add_i32(TfGgufWriter *w, const char *key, int32_t v);
void tf_gguf_writer_add_f32(TfGgufWriter *w, const char *key, float v);
void tf_gguf_writer_add_bool(TfGgufWriter *w, const char *key, bool v);
void tf_gguf_writer_add_str(TfGgufWriter *w, const char *key, const char *s);
// Arrays. Strings: n pointers to NUL-terminated strings (or lens[i] bytes when lens is
// non-NULL).
void tf_gguf_writer_add_arr_str(TfGgufWriter *w, const char *key, const char *const *strs,
                                const size_t *lens, int64_t n);
void tf_gguf_writer_add_arr_i32(TfGgufWriter *w, const char *key, const int32_t *v, int64_t n);
void tf_gguf_writer_add_arr_f32(TfGgufWriter *w, const char *key, const float *v, int64_t n);

// A tensor whose bytes are already in `type`'s encoding (tf_gguf_type_nbytes bytes). ne is in
// GGUF order (innermost first). `raw` is borrowed until tf_gguf_writer_write returns.
// CHECKs: name shorter than TF_GGUF_MAX_NAME and new, 1 <= n_dims <= 4, dims > 0, Q8_0's
// ne[0] a multiple of 32.
void tf_gguf_writer_add_tensor(TfGgufWriter *w, const char *name, TfGgufType type, int n_dims,
                               const int64_t *ne, const void *raw);
// A tensor given as floats, converted to `type` (F32, F16, or Q8_0) while writing.
// `src` is borrowed until tf_gguf_writer_write returns.
void tf_gguf_writer_add_tensor_f32(TfGgufWriter *w, const char *name, TfGgufType type,
                                   int n_dims, const int64_t *ne, const float *src);

// Writes the file atomically (core/io.h): header, KVs, tensor infos with offsets = the padded
// running sum of the sizes in the order added, padding, data. ERR_IO on failure.
int tf_gguf_writer_write(const TfGgufWriter *w, const char *path);

// ---------------------------------------------------------------------------
// Model export / import (gguf_model.c)
// ---------------------------------------------------------------------------

// Writes a TF_LLAMA model as a GGUF of architecture "llama" that llama.cpp loads (written
// atomically):
// every required key (general.architecture = "llama", llama.context_length = cfg.ctx,
// embedding_length, block_count, feed_forward_length, attention.head_count,
// attention.head_count_kv, attention.layer_norm_rms_epsilon, rope.freq_base,
// rope.dimension_count = head size), the tensors under the names of model.h (output.weight
// omitted when tied), and a "gpt2" tokenizer. wtype is TF_GGUF_F32, TF_GGUF_F16 or
// TF_GGUF_Q8_0 (which needs d_model and d_ff multiples of 32) for the matrices and
// embeddings; norm weights are always F32. RoPE needs no permutation: the
// engine rotates adjacent pairs, as llama.cpp's "llama" architecture does.
//
// The tokenizer (tokenizer.ggml.model = "gpt2", add_bos_token = false, add_eos_token = false,
// pre = "gpt-2": llama.cpp then splits text with exactly GPT-2's pattern, as TfBpe does, so
// both tokenize text the same; "default" would add splits of its own):
//   - tok given (its vocabulary size must be <= cfg.vocab; ERR_SHAPE otherwise): token i is
//     tok's token i written through GPT-2's bytes_to_unicode (so a trained TfBpe, whose ids
//     0..255 are the bytes, gives exactly the 256 byte characters first), and the merges are
//     tok's merges in rank order as "A B".
//   - tok NULL: a byte-level vocabulary with no merges: token i < 256 is the single byte i
//     (bytes_to_unicode(i)), as a TfTokChar-free byte model or a trained TfBpe's base.
//     If cfg.vocab < 256, only the first cfg.vocab bytes are written (llama.cpp can then not
//     tokenize text with other bytes; feed it ids).
//   - bos_token_id = eos_token_id = the tokenizer's own "<|endoftext|>" token if it has one
//     (token_type CONTROL); otherwise, when cfg.vocab leaves a spare id, the LAST id
//     (cfg.vocab - 1) is named "<|endoftext|>" (CONTROL); otherwise 0.
//   - the other ids past the tokenizer, up to cfg.vocab - 1, get filler names "<|tf_pad_N|>"
//     (N = the id), token_type UNUSED. Every other token is NORMAL.
//   Example: a model with vocab 512 and a trained TfBpe of 300 tokens gives 300 BPE tokens,
//   fillers 300..510 and eos = bos = 511; with tok NULL, 256 byte tokens, fillers 256..510,
//   eos = 511.
// Errors: ERR_INVALID for a TF_GPT2 model (only the llama recipe is exported) or another
// wtype, ERR_SHAPE (a tokenizer larger than cfg.vocab; Q8_0 with sizes not multiples of 32),
// ERR_IO. The model and tokenizer are only read.
int tf_gguf_export(const TfModel *m, const TfBpe *tok, TfGgufType wtype, const char *path);

// Reads a "llama" architecture GGUF (F32, F16 and Q8_0 tensors, dequantised to F32) into a new
// TfModel: vocab from token_embd rows, ctx = context_length (capped at
// TF_GGUF_IMPORT_MAX_CTX), n_kv_head from head_count_kv (GQA), rope_base from freq_base,
// norm_eps, tie_embeddings when output.weight is absent. *model is owned by the caller.
// When tok is non-NULL, the tokenizer is read too (*tok owned by the caller): only the
// byte-level "gpt2" kind is supported; a sentencepiece ("llama") or other tokenizer is
// ERR_FORMAT saying so (pass tok = NULL to load the weights alone). The TfBpe has the file's
// ids; special tokens ("<|im_start|>") are in it but are never produced from text, and it
// always pre-tokenizes with GPT-2's pattern: for a file whose tokenizer.ggml.pre is another
// (SmolLM2's "smollm" splits digits one by one) some text encodes differently from llama.cpp.
// The special ids (bos/eos) are not in the TfBpe: read them with tf_gguf_get_u32.
// The model is inference-only (tf_model_alloc(cfg, false)): no gradient buffers, half the
// memory; to fine-tune it, attach LoRA adapters (nn/lora.h), which have their own gradients.
// Errors: those of tf_gguf_open; ERR_FORMAT for another architecture, rope scaling, bias
// tensors or any tensor the engine's llama does not have, a missing or mistyped key;
// ERR_SHAPE for a tensor whose shape disagrees with the metadata; ERR_NOTFOUND for a missing
// tensor; ERR_INVALID for a config the engine cannot run (e.g. more than TF_MAX_LAYERS).
#define TF_GGUF_IMPORT_MAX_CTX 8192
int tf_gguf_import(const char *path, TfModel **model, TfBpe **tok);

// The two halves of tf_gguf_import on an open file.
int tf_gguf_model_from(const TfGguf *g, TfModel **model);
int tf_gguf_tok_from(const TfGguf *g, TfBpe **tok);

// ---------------------------------------------------------------------------
// LoRA adapter export (gguf_lora.c)
// ---------------------------------------------------------------------------

// Writes a LoRA adapter set (nn/lora.h) made on the TF_LLAMA model `base` as a GGUF adapter
// that llama.cpp loads next to base's own GGUF (tf_gguf_export), atomically, all tensors F32:
//   llama-cli -m base.gguf --lora adapter.gguf        (llama_adapter_lora_init in the C API)
// Keys: general.architecture = "llama", general.type = "adapter", adapter.type = "lora",
// adapter.lora.alpha (f32), plus the engine's config for readers (engine.lora.rank,
// .alpha, .rslora, .targets). Tensors, for each layer N and target t of the set:
//   "blk.N.<t's weight>.weight.lora_a"   A (r, in)  written as ne = {in, r}
//   "blk.N.<t's weight>.weight.lora_b"   B (out, r) written as ne = {r, out}
// (the base weight's name + ".lora_a"/".lora_b"; row-major data unchanged, no transpose).
// Scale: llama.cpp applies y += (alpha_file / r) * user_scale * B (A x), with r = B's rank.
// So alpha_file = alpha for plain LoRA (s = alpha / r), and alpha_file = alpha * sqrt(r) for
// rsLoRA (s = alpha / sqrt(r) = alpha_file / r): at llama.cpp's user scale 1.0 (its default)
// the adapted model equals the engine's model with the set attached or merged. An adapter
// whose own scale was changed by hand (NnLoraLinear.scale differing from the config's by more
// than 1e-6 relative) gets the ratio folded into its written B, since llama.cpp has one alpha
// per file. The set and the model are only read.
// Errors: ERR_INVALID (base is not TF_LLAMA; an adapter of the set is merged: its update is
// already in base's weights, so base.gguf + adapter would apply it twice; hint: export the
// adapter and the base before nn_lora_merge, or nn_lora_unmerge), ERR_SHAPE (the set has
// another layer count than base, or an adapter does not fit base's weight of that name),
// ERR_NOTFOUND (base lacks a weight the set adapts), ERR_IO.
int tf_gguf_export_lora(const NnLora *set, const TfModel *base, const char *path);

#endif
