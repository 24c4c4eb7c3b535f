/*
 * params.h: the named parameter registry of a model.
 *
 * Every trainable tensor of a model lives in one NnParams: it owns the params Arena the
 * tensors (and their gradients) are carved from, and keeps, in creation order, a list of
 * (name, Tensor *, trainable) entries. The names follow PyTorch's state_dict convention
 * ("fc1.weight", "h.0.ln_1.bias"), so a checkpoint written by nn_params_save reads naturally
 * next to one written by torch, and the same names serve three clients:
 *   - checkpoints: nn_params_save / nn_params_load write and read every entry by name
 *     (safetensors, core/safetensors.h);
 *   - optimizers (nn/optim.h): they walk the trainable entries by index;
 *   - freezing: nn_params_freeze(p, "encoder.") turns off the gradient of every entry whose
 *     name starts with the prefix (fine-tuning a head on a frozen body).
 *
 * Freezing sets the tensor's requires_grad to false, so ops stop recording it for backward
 * and no gradient reaches it; its grad buffer stays allocated (zeroed), so unfreezing later
 * needs no allocation.
 *
 * Inference-only registries. A gradient buffer is as big as its weight, so a registry made by
 * nn_params_create holds twice the model's size. One made by nn_params_create_no_grad (for a
 * model that is only run: an imported GGUF, the KV-cache generator) allocates no gradient
 * buffers: its entries are frozen from the start (trainable false, requires_grad false,
 * grad NULL), optimizers skip them, and nn_params_unfreeze on it is a bug (CHECK). Such a
 * model can still be the frozen base of LoRA adapters (nn/lora.h), which have their own
 * registry with gradients.
 *
 * Ownership. The NnParams is owned by its creator (nn_params_free). Every Tensor * and name it
 * returns is borrowed and valid until nn_params_free. The arena (nn_params_arena) may be used
 * for anything that should live as long as the model (optimizer state, lookup tables).
 *
 * Errors. Misuse (a duplicate or empty name, an index out of range) is a bug: CHECK. Files are
 * the environment: nn_params_save/load return a negative Err code with err_msg() set.
 *
 * Usage:
 *     NnParams *p = nn_params_create();
 *     Tensor *W = nn_params_add(p, "fc1.weight", 2, (int64_t[]){128, 784});  // (out, in)
 *     Tensor *b = nn_params_add(p, "fc1.bias", 1, (int64_t[]){128});
 *     ... initialise (nn/init.h), train ...
 *     if (nn_params_save(p, "ckpt.safetensors", NULL, 0) != ERR_OK) die(err_msg());
 *     nn_params_freeze(p, "fc1.");                       // fc1.* no longer trains
 *     printf("%lld trainable\n", (long long)nn_params_numel(p, true));
 *     if (nn_params_load(p, "ckpt.safetensors") != ERR_OK) die(err_msg());
 *     nn_params_free(p);
 */
#ifndef NN_PARAMS_H
#define NN_PARAMS_H

#include "core/arena.h"
#include "core/tensor.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

// Longest parameter name, terminating NUL included.
#define NN_NAME_MAX 128

// One registry entry (borrowed from the registry).
typedef struct {
    char name[NN_NAME_MAX]; // "fc1.weight"
    Tensor *t;              // the parameter (lives in the registry's arena)
    bool trainable;         // false after nn_params_freeze
} NnParam;

typedef struct NnParams NnParams;

// A new, empty registry with its own params arena. Free with nn_params_free.
NnParams *nn_params_create(void);

// A new, empty inference-only registry: like nn_params_create, but nn_params_add allocates
// no gradient buffers and registers every entry frozen (see the top of the file).
NnParams *nn_params_create_no_grad(void);

// True for a registry made by nn_params_create (gradient buffers), false for
// nn_params_create_no_grad.
bool nn_params_has_grads(const NnParams *p);

// Frees the registry, its arena and so every parameter. nn_params_free(NULL) does nothing.
void nn_params_free(NnParams *p);

// The params arena (borrowed): memory that lives as long as the model.
Arena *nn_params_arena(NnParams *p);

// A new zero-filled trainable parameter of the given shape, registered under `name` (copied);
// in an inference-only registry, a zero-filled frozen one without a gradient buffer.
// The tensor's own name (Tensor.name, 32 chars) is set to the tail of `name` that fits.
// CHECKs that the name is non-empty, shorter than NN_NAME_MAX and not yet registered.
Tensor *nn_params_add(NnParams *p, const char *name, int ndim, const int64_t *shape);

// The parameter registered as `name`, or NULL when there is none.
Tensor *nn_params_get(const NnParams *p, const char *name);

// Number of entries, and the i-th one in creation order (0 <= i < count; borrowed).
int nn_params_count(const NnParams *p);
const NnParam *nn_params_at(const NnParams *p, int i);

// Total number of elements over all entries, or over the trainable ones only.
int64_t nn_params_numel(const NnParams *p, bool trainable_only);

// Freezes / unfreezes every entry whose name starts with `prefix` ("" matches all). Returns
// how many entries matched. Unfreezing an entry of an inference-only registry CHECKs: it has
// no gradient buffer to train with.
int nn_params_freeze(NnParams *p, const char *prefix);
int nn_params_unfreeze(NnParams *p, const char *prefix);

// Zeroes the gradient of every entry (frozen ones too).
void nn_params_zero_grad(NnParams *p);

// Writes every entry, in creation order and under its name, to a safetensors file, atomically.
// meta_kv: NULL or n_meta (key, value) string pairs for "__metadata__". Returns ERR_OK or the
// error of st_save (ERR_IO, ERR_INVALID).
int nn_params_save(const NnParams *p, const char *path, const char *const *meta_kv, int n_meta);

// Reads every entry from a safetensors file by name. All names and shapes are checked before
// anything is copied, so on any error the parameters are unchanged. Tensors in the file that
// the registry does not have are ignored. Returns ERR_OK, or the first failure: ERR_IO /
// ERR_FORMAT / ERR_TRUNCATED (a bad file), ERR_NOTFOUND (an entry missing from the file),
// ERR_SHAPE (a stored shape differs; the message gives both shapes).
int nn_params_load(NnParams *p, const char *path);

// Prints one line per entry (name, shape, numel, frozen or not) and the totals. gdb-callable.
void nn_params_print(const NnParams *p, FILE *f);

#endif
