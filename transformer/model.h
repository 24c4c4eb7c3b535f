/*
 * model.h: the decoder-only transformer, in the two standard recipes.
 *
 *   TF_GPT2:  LayerNorm (with bias), learned positions, GELU (tanh) MLP, biases on every
 *             linear layer, tied input/output embeddings.
 *   TF_LLAMA: RMSNorm, RoPE (adjacent pairs, base rope_base), SwiGLU MLP, optional grouped-query
 *             attention (n_kv_head < n_head), no biases, output embedding tied or not.
 *
 * One block, pre-norm, with x (B, T, C):
 *     h = x + Wo attention(q, k, v)       q, k, v = Wq n1(x), Wk n1(x), Wv n1(x)  (heads split)
 *     y = h + mlp(n2(h))                  gpt2: Wdown gelu(Wup z);  llama: Wdown (silu(Wgate z) * Wup z)
 * and logits = n_f(x_L) E^T (tied) or W_out n_f(x_L).
 *
 * Glossary: B = batch, T = time, C = d_model, V = vocab, H = heads, KVH = kv heads,
 * hd = C / H (head size), F = d_ff, L = n_layer.
 *
 * Weights are named as llama.cpp's GGUF files name them, so checkpoints read naturally and the
 * GGUF export is a renaming-free walk (the GPT-2 recipe adds the ".bias" tensors and
 * "pos_embd.weight"). Shapes are PyTorch's (out, in):
 *     token_embd.weight        (V, C)          pos_embd.weight (gpt2)   (ctx, C)
 *     blk.N.attn_norm.weight   (C,)            blk.N.attn_norm.bias (gpt2)
 *     blk.N.attn_q.weight      (H*hd, C)       blk.N.attn_k.weight      (KVH*hd, C)
 *     blk.N.attn_v.weight      (KVH*hd, C)     blk.N.attn_output.weight (C, H*hd)
 *     blk.N.ffn_norm.weight    (C,)            blk.N.ffn_norm.bias (gpt2)
 *     blk.N.ffn_gate.weight    (F, C) (llama)  blk.N.ffn_up.weight      (F, C)
 *     blk.N.ffn_down.weight    (C, F)
 *     output_norm.weight       (C,)            output_norm.bias (gpt2)
 *     output.weight            (V, C) when not tied
 *   (gpt2 also has blk.N.attn_{q,k,v,output}.bias and blk.N.ffn_{up,down}.bias)
 *
 * Ownership: a TfModel owns its NnParams (all weights, their grads). Tensor pointers in TfModel
 * and TfLayer are borrowed from it and live until tf_model_free. Bias/optional tensors are NULL
 * when the recipe has none.
 *
 * Training or inference. tf_model_create and tf_model_load make a trainable model: every
 * weight has a gradient buffer of its size, so the model takes twice its weights' memory.
 * A model that is only run (generation, embeddings, an imported GGUF) can skip them:
 * tf_model_alloc(cfg, false) and tf_model_load_no_grad give an inference-only model
 * (nn_params_create_no_grad: half the memory, no gradient buffers). Its forward passes are the
 * same; training it (train = true with no LoRA adapters attached) is a bug and CHECKs. It can
 * be the frozen base of LoRA adapters (tf_model_attach_lora), which carry their own gradients.
 *
 * Usage:
 *     TfConfig cfg = tf_config_default(TF_LLAMA);        // then adjust fields
 *     cfg.vocab = 512, cfg.ctx = 128;
 *     TfModel *m = tf_model_create(&cfg, 42);             // initialised, seeded
 *     Graph *g = graph_create(0);
 *     Tensor *tok = tensor_from_i32(graph_arena(g), 2, (int64_t[]){B, T}, ids);
 *     Tensor *tgt = tensor_from_i32(graph_arena(g), 2, (int64_t[]){B, T}, next_ids);
 *     Tensor *loss = tf_model_loss(g, m, tok, tgt);       // scalar, mean cross-entropy
 *     graph_backward(g, loss);                            // grads in m->params
 *     tf_model_save(m, "model.safetensors");              // config in the metadata
 *     tf_model_free(m);
 *
 *     TfModel *r;                                         // inference only: no gradients
 *     if (tf_model_load_no_grad("model.safetensors", &r) != ERR_OK) die(err_msg());
 */
#ifndef TRANSFORMER_MODEL_H
#define TRANSFORMER_MODEL_H

#include "core/safetensors.h"
#include "core/tensor.h"
#include "nn/lora.h"
#include "nn/params.h"

#include <stdbool.h>
#include <stdint.h>

#define TF_MAX_LAYERS 64

typedef enum { TF_GPT2 = 0, TF_LLAMA = 1 } TfArch;

typedef struct {
    TfArch arch;
    int vocab;           // V
    int ctx;             // maximum sequence length (positions table size for gpt2)
    int d_model;         // C
    int n_layer;         // L <= TF_MAX_LAYERS
    int n_head;          // H, divides C
    int n_kv_head;       // KVH, divides H (gpt2: = H)
    int d_ff;            // F
    float norm_eps;      // LayerNorm / RMSNorm epsilon
    float rope_base;     // llama only
    bool tie_embeddings; // output = token_embd^T (gpt2: always)
    float dropout;       // residual/attention-output dropout while training (0 = none)
} TfConfig;

typedef struct {
    Tensor *attn_norm_w, *attn_norm_b; // (C,), b gpt2 only
    Tensor *wq, *wk, *wv, *wo;         // see the table above
    Tensor *bq, *bk, *bv, *bo;         // gpt2 only
    Tensor *ffn_norm_w, *ffn_norm_b;   // (C,), b gpt2 only
    Tensor *w_gate;                    // (F, C) llama only
    Tensor *w_up, *w_down;             // (F, C), (C, F)
    Tensor *b_up, *b_down;             // gpt2 only
    // LoRA adapters (nn/lora.h) on wq, wk, wv, wo, w_gate, w_up, w_down, indexed by
    // NnLoraTarget; NULL when none. Set by tf_model_attach_lora, borrowed from the NnLora.
    const NnLoraLinear *lora[NN_LORA_N_TARGETS];
} TfLayer;

typedef struct {
    TfConfig cfg;
    NnParams *params;               // owns every weight below
    Tensor *tok_emb;                // (V, C)
    Tensor *pos_emb;                // (ctx, C) gpt2 only
    TfLayer layer[TF_MAX_LAYERS];   // n_layer used
    Tensor *norm_w, *norm_b;        // final norm, b gpt2 only
    Tensor *lm_head;                // (V, C), NULL when tied
} TfModel;

// Sensible small defaults for a recipe (a TINY-like model: 4 layers, 4 heads, C = 128).
TfConfig tf_config_default(TfArch arch);

// Checks a config; ERR_INVALID with a message naming the field when it is inconsistent.
int tf_config_check(const TfConfig *cfg);

// One parameter of a config's layout: its name (the table at the top of the file) and its
// shape (out, in); shape[1] is 1 when ndim is 1.
typedef struct {
    char name[NN_NAME_MAX];
    int ndim;         // 1 or 2
    int64_t shape[2];
} TfParamSpec;

// The parameters `cfg` calls for, in registry order: token_embd, pos_embd (gpt2), then per
// block attn_norm (+bias), attn_q, attn_k, attn_v, attn_output (each + bias for gpt2),
// ffn_norm (+bias), ffn_gate (llama), ffn_up (+bias), ffn_down (+bias), then output_norm
// (+bias), output (untied). The order of tf_model_alloc's registry, of the checkpoints and
// of the GGUF export. Writes them to out (room for tf_model_param_specs(cfg, NULL) entries;
// NULL only counts) and returns the count. Allocates no weights, so a loader can check a file
// against it before committing memory. CHECKs the config.
int tf_model_param_specs(const TfConfig *cfg, TfParamSpec *out);

// A new model with every weight zero (no initialisation), registered as tf_model_param_specs
// lists them. with_grads: gradient buffers for training (nn_params_create); false gives an
// inference-only model (nn_params_create_no_grad: half the memory; training it CHECKs). For
// loaders that overwrite every weight at once. Owned by the caller (tf_model_free). CHECKs
// the config (use tf_config_check first on user input).
TfModel *tf_model_alloc(const TfConfig *cfg, bool with_grads);

// A new trainable model with freshly initialised weights (GPT-2's init: N(0, 0.02), residual
// projections scaled by 1/sqrt(2L); norms 1, biases 0), seeded: tf_model_alloc(cfg, true) then
// the init. CHECKs the config (use tf_config_check first on user input).
TfModel *tf_model_create(const TfConfig *cfg, uint64_t seed);

// Frees the model and its weights. tf_model_free(NULL) does nothing.
void tf_model_free(TfModel *m);

// Logits (B, T, V) for int32 tokens (B, T), T <= ctx, through the graph (differentiable).
// train turns dropout on (rng may be NULL when cfg.dropout is 0 or train is false); on an
// inference-only model it CHECKs unless LoRA adapters are attached.
Tensor *tf_model_forward(Graph *g, TfModel *m, Tensor *tokens, bool train, Rng *rng);

// The final hidden states (B, T, C): the last block's output after the final norm, i.e. the
// logits before the output projection (tf_model_forward = tf_model_hidden then E^T or W_out).
// Embedders pool these (rag/embed.h).
Tensor *tf_model_hidden(Graph *g, TfModel *m, Tensor *tokens, bool train, Rng *rng);

// Mean next-token cross-entropy of the logits of `tokens` (B, T) against `targets` (B, T)
// (entries of -1 are ignored, e.g. padding). Returns a scalar tensor.
Tensor *tf_model_loss(Graph *g, TfModel *m, Tensor *tokens, Tensor *targets, bool train,
                      Rng *rng);

// Saves the weights as safetensors, with the config in the metadata (written atomically).
// Metadata keys: "format" = "engine-tf-model", "version" = "1", "arch" ("gpt2" / "llama"),
// "vocab", "ctx", "d_model", "n_layer", "n_head", "n_kv_head", "d_ff", "norm_eps",
// "rope_base", "tie_embeddings" ("true" / "false"), "dropout". Returns ERR_OK, ERR_IO or
// ERR_INVALID (those of st_save).
int tf_model_save(const TfModel *m, const char *path);

// tf_model_save plus n_extra more tensors and n_extra_meta more (key, value) metadata pairs in
// the same file (a training checkpoint: optimizer state next to the weights). Extra tensor
// names must start with TF_EXTRA_PREFIX so that tf_model_load knows to skip them (CHECK).
#define TF_EXTRA_PREFIX "train."
int tf_model_save_ext(const TfModel *m, const char *path, const StEntry *extra, int n_extra,
                      const char *const *extra_meta, int n_extra_meta);

// Loads a model saved by tf_model_save (or tf_model_save_ext: the TF_EXTRA_PREFIX tensors are
// skipped). *out is owned by the caller (tf_model_free); NULL on failure.
// Errors: those of st_open, ERR_FORMAT for a missing/invalid config key or a tensor the
// config does not call for (e.g. "output.weight" with tie_embeddings = true), ERR_INVALID
// for an inconsistent config, ERR_NOTFOUND for a missing weight, ERR_SHAPE for a weight whose
// shape disagrees with the config. Every message names the file and the key.
int tf_model_load(const char *path, TfModel **out);

// tf_model_load into an inference-only model (tf_model_alloc(cfg, false): no gradient
// buffers, half the memory). Same errors.
int tf_model_load_no_grad(const char *path, TfModel **out);

// Reads the config from an open file's metadata (the keys listed at tf_model_save) and checks
// it. Same errors as tf_model_load's config part.
int tf_config_from_meta(const StFile *f, TfConfig *out);

// True when every field is equal (compares fields, not bytes: a struct's padding is not copied
// reliably, so memcmp on TfConfig is wrong).
bool tf_config_equal(const TfConfig *a, const TfConfig *b);

// "gpt2" / "llama".
const char *tf_arch_name(TfArch arch);

// Attaches a LoRA adapter set made on this model's registry (nn_lora_create(m->params, ...)):
// every linear layer with an adapter then computes y = x W^T + b + s (drop(x) A^T) B^T in
// tf_model_forward / tf_model_hidden / tf_model_loss (dropout only when train). Adapters that
// are merged are skipped (their update is already in W). The set is borrowed and must stay
// alive until tf_model_detach_lora. The KV-cache inference path (transformer/generate.h) reads
// the weights directly and does not see attached adapters: merge them first (nn_lora_merge).
// CHECKs that the set was made on m->params with m's layer count.
void tf_model_attach_lora(TfModel *m, NnLora *set);

// Removes every adapter pointer (weights keep any merged update).
void tf_model_detach_lora(TfModel *m);

#endif
