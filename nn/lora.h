/*
 * lora.h: low-rank adapters (LoRA, Hu et al. 2021) on the linear layers of a model.
 *
 * Fine-tuning every weight of a model costs a gradient and two Adam moments per weight. LoRA
 * freezes the base weight W (out, in) and learns a low-rank correction instead:
 *
 *     y = x W^T + b + s * (drop(x) A^T) B^T          A (r, in), B (out, r), r << min(in, out)
 *
 * with s = alpha / r (the paper), or s = alpha / sqrt(r) (rsLoRA, Kalajdzievski 2023, which
 * keeps the update's scale steady as r grows). Only A and B are trained: r * (in + out) numbers
 * per layer instead of in * out. Initialisation, as in the paper and PEFT:
 *     A ~ U(-1/sqrt(in), 1/sqrt(in))   (kaiming_uniform with a = sqrt(5): gain = sqrt(2 / (1 +
 *                                       a^2)) = sqrt(1/3), bound = gain * sqrt(3 / in))
 *     B = 0
 * so a fresh adapter adds exactly zero: the model's outputs are bit-identical to the base's.
 * drop() is inverted dropout on the adapter's input, in training only (PEFT's lora_dropout).
 *
 * Merging. For inference the adapter can be folded into the weight, W <- W + s * B A (out, in),
 * after which the layer costs nothing extra (and the KV-cache inference path, which reads the
 * weights directly, sees the adapted model). Unmerging subtracts it again (equal up to float
 * rounding). Merging an already merged adapter is refused (ERR_INVALID) rather than silently
 * adding the update twice; a merged adapter is skipped by the forward pass.
 *
 * The adapter set. NnLora holds one adapter per (layer, target) of a model whose weights are
 * named as llama.cpp names them (transformer/model.h): target q -> "blk.N.attn_q.weight",
 * k -> attn_k, v -> attn_v, o -> attn_output, gate -> ffn_gate, up -> ffn_up, down -> ffn_down.
 * It owns its own NnParams, with entries "blk.N.attn_q.lora_a" (r, in) and
 * "blk.N.attn_q.lora_b" (out, r): the optimizer is stepped with that registry, so only A and B
 * get optimizer state. Creating a set freezes the base registry (nn_lora_freeze_base). The set
 * is attached to a transformer with tf_model_attach_lora (transformer/model.h).
 *
 * Files. nn_lora_save writes only the adapters (safetensors) with the config in the metadata;
 * nn_lora_load re-creates the set on a base registry and checks it fits: layer count, the
 * (out, in) of every target, every tensor name and shape.
 *
 * Glossary: N = rows (any leading dims of x), in / out = the layer's input / output width,
 * r = rank.
 *
 * Ownership. An NnLora is owned by its creator (nn_lora_free). It borrows the base registry,
 * which must outlive every call that merges or saves. Every NnLoraLinear * and Tensor * it
 * returns is borrowed until nn_lora_free. Detach a set from its model before freeing it.
 *
 * Errors. Bad input from a user (unknown target name, rank < 1, a target the model lacks) and
 * bad files are environment errors: a negative Err code with err_msg() set. Misuse (NULL
 * arguments, a layer index out of range, a rank mismatch in a hand-built NnLoraLinear) is a bug:
 * CHECK.
 *
 * Usage:
 *     NnLoraConfig lc = {.targets = NN_LORA_BIT(NN_LORA_Q) | NN_LORA_BIT(NN_LORA_V),
 *                        .rank = 8, .alpha = 16.0f, .seed = 1};
 *     NnLora *lora;
 *     if (nn_lora_create(m->params, &lc, &lora) != ERR_OK) die(err_msg()); // freezes m->params
 *     tf_model_attach_lora(m, lora);
 *     NnOptimizer *opt = nn_optim_create(&oc);
 *     ... loss = tf_model_loss(g, m, ...); graph_backward(g, loss);
 *     nn_optim_step(opt, nn_lora_params(lora)); nn_params_zero_grad(nn_lora_params(lora)); ...
 *     if (nn_lora_save(lora, "adapter.safetensors") != ERR_OK) die(err_msg());
 *     nn_lora_merge(lora);                        // fold into the weights for inference
 *     tf_model_detach_lora(m);
 *     nn_lora_free(lora);
 */
#ifndef NN_LORA_H
#define NN_LORA_H

#include "core/rng.h"
#include "core/tensor.h"
#include "nn/params.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// The linear layers of a transformer block an adapter can target.
typedef enum {
    NN_LORA_Q = 0, // attn_q
    NN_LORA_K,     // attn_k
    NN_LORA_V,     // attn_v
    NN_LORA_O,     // attn_output
    NN_LORA_GATE,  // ffn_gate (llama only)
    NN_LORA_UP,    // ffn_up
    NN_LORA_DOWN,  // ffn_down
    NN_LORA_N_TARGETS
} NnLoraTarget;

#define NN_LORA_BIT(t) (1u << (t))
#define NN_LORA_ALL ((1u << NN_LORA_N_TARGETS) - 1u)

// One adapter on one linear layer. Transparent so a model's forward can use it and tests can
// build one by hand (any a, b, w of consistent shapes).
typedef struct {
    Tensor *a;     // (r, in) lora_a, trainable
    Tensor *b;     // (out, r) lora_b, trainable
    Tensor *w;     // (out, in) the base weight it adapts (borrowed; changed only by merging)
    float scale;   // s = alpha / r, or alpha / sqrt(r) with rsLoRA
    float dropout; // p of the dropout on the adapter's input while training (0: none)
    bool merged;   // s * B A has been added into w
} NnLoraLinear;

typedef struct {
    unsigned targets; // NN_LORA_BIT(...) mask, or from nn_lora_targets_parse
    int rank;         // r >= 1
    float alpha;      // > 0; the scale is alpha / r (alpha / sqrt(r) with rslora)
    bool rslora;
    float dropout;    // in [0, 1)
    uint64_t seed;    // for A's initialisation
} NnLoraConfig;

typedef struct NnLora NnLora;

// What fine-tuning a registry costs in parameters (see nn_lora_freeze_base).
typedef struct {
    int64_t trainable;       // elements the optimizer updates
    int64_t frozen;          // elements that stay fixed
    int64_t adam_state_bytes; // 2 floats (m, v) per trainable element
} NnLoraCount;

// ---------------------------------------------------------------------------
// One layer
// ---------------------------------------------------------------------------

// The scale of a config: alpha / r, or alpha / sqrt(r) when rslora.
float nn_lora_scale(float alpha, int rank, bool rslora);

// y + s * (drop(x) A^T) B^T through the graph, where y = x W^T (+ b) is the base layer's output
// already computed by the caller: x (..., in), y (..., out). Returns y itself when l is NULL or
// merged. Dropout (l->dropout > 0) only when train, drawing from rng (then non-NULL).
Tensor *nn_lora_forward(Graph *g, const NnLoraLinear *l, Tensor *x, Tensor *y, bool train,
                        Rng *rng);

// W <- W + s * B A, and marks the adapter merged. ERR_INVALID when it is already merged (W is
// then unchanged).
int nn_lora_linear_merge(NnLoraLinear *l);

// W <- W - s * B A, and marks it unmerged. ERR_INVALID when it is not merged.
int nn_lora_linear_unmerge(NnLoraLinear *l);

// ---------------------------------------------------------------------------
// Freezing
// ---------------------------------------------------------------------------

// Freezes every entry of `base` (no gradient, no optimizer state), makes every entry of
// `adapter` trainable, and returns the counts: trainable = the adapter's elements, frozen = the
// base's, adam_state_bytes = 2 * sizeof(float) * trainable. `adapter` may be NULL (only base).
NnLoraCount nn_lora_freeze_base(NnParams *base, NnParams *adapter);

// ---------------------------------------------------------------------------
// The adapter set
// ---------------------------------------------------------------------------

// Parses a comma-separated target list ("q,v", "q,k,v,o,gate,up,down", or "all") into a mask.
// ERR_INVALID naming the unknown word, or for an empty list.
int nn_lora_targets_parse(const char *s, unsigned *mask);

// Writes the mask as "q,k,v" into buf (always NUL-terminated). Returns buf.
const char *nn_lora_targets_str(unsigned mask, char *buf, size_t n);

// "q", "k", "v", "o", "gate", "up", "down".
const char *nn_lora_target_name(NnLoraTarget t);

// A new adapter set on every layer "blk.N." of `base` (N = 0, 1, ... while the first target's
// weight exists), one adapter per target of the mask, initialised as above; freezes `base`.
// On success *out is owned by the caller (nn_lora_free). Errors: ERR_INVALID (empty mask,
// rank < 1, alpha <= 0, dropout outside [0, 1)), ERR_NOTFOUND (a target weight is missing, e.g.
// "gate" on a GPT-2 model), ERR_SHAPE (a target weight is not 2-D).
int nn_lora_create(NnParams *base, const NnLoraConfig *cfg, NnLora **out);

// Frees the set and its adapters. Merged updates stay in the base weights.
// nn_lora_free(NULL) does nothing.
void nn_lora_free(NnLora *set);

// The adapters' registry (borrowed): step the optimizer with it.
NnParams *nn_lora_params(NnLora *set);

// The base registry the set adapts (borrowed).
NnParams *nn_lora_base(const NnLora *set);

// The config (borrowed) and the number of layers.
const NnLoraConfig *nn_lora_config(const NnLora *set);
int nn_lora_n_layer(const NnLora *set);

// The adapter of (layer, target), or NULL when that target is not in the mask (borrowed).
NnLoraLinear *nn_lora_site(NnLora *set, int layer, NnLoraTarget t);

// Parameter counts of fine-tuning with this set (as nn_lora_freeze_base returns them).
NnLoraCount nn_lora_count(const NnLora *set);

// Merges / unmerges every adapter of the set. All or nothing: ERR_INVALID, with nothing
// changed, when any adapter is already merged (merge) or not merged (unmerge).
int nn_lora_merge(NnLora *set);
int nn_lora_unmerge(NnLora *set);

// Writes the adapters alone to a safetensors file, atomically. Metadata: "format" =
// "engine-lora", "version" = "1", "rank", "alpha", "rslora", "dropout", "targets" ("q,v"),
// "n_layer", "base_shapes" ("q=128x128,v=64x128": (out)x(in) of each target weight). Returns
// ERR_OK or the errors of st_save.
int nn_lora_save(const NnLora *set, const char *path);

// Reads an adapter file written by nn_lora_save and makes a new set on `base` with its config
// and values (unmerged; base frozen). *out is owned by the caller; NULL on failure. Errors,
// each naming the file and the key or tensor: those of st_open; ERR_FORMAT (a missing or bad
// metadata key, a tensor the config does not call for); ERR_NOTFOUND (the model lacks a target,
// the file lacks an adapter tensor); ERR_SHAPE (another layer count, another base shape, a
// tensor of the wrong shape).
int nn_lora_load(NnParams *base, const char *path, NnLora **out);

#endif
