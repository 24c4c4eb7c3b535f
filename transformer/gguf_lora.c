/*
 * gguf_lora.c: a LoRA adapter set (nn/lora.h) as a GGUF adapter file that llama.cpp loads
 * next to the base model (llama_adapter_lora_init, `--lora FILE`). See gguf.h for the contract.
 *
 * What llama.cpp's loader wants (read from its source, src/llama-adapter.cpp):
 *   - general.type = "adapter", adapter.type = "lora", general.architecture equal to the base
 *     model's ("llama"), adapter.lora.alpha an f32 (read with a typed getter: another type
 *     would abort it, not fail softly).
 *   - every tensor named "<base weight name>.lora_a" or ".lora_b", in pairs; the base name
 *     must be a tensor of the base model. A tensor with any other suffix is refused.
 *   - shapes in ggml's order: A has ne = {in, r} and B has ne = {r, out}, where the base
 *     weight has ne = {in, out}. These are exactly the engine's row-major A (r, in) and
 *     B (out, r), reversed as every GGUF shape is: the bytes are written unchanged.
 * Each adapted matmul then computes, per token x (in,):
 *     y = W x + scale * B (A x),     scale = user_scale * alpha_file / r   (alpha_file != 0)
 * with r read from B (its ne[0]). The engine's scale is alpha / r (LoRA) or alpha / sqrt(r)
 * (rsLoRA), the same for every adapter of a set, so one alpha_file per file is enough:
 *     LoRA:    alpha_file = alpha                  -> alpha_file / r = alpha / r
 *     rsLoRA:  alpha_file = alpha * sqrt(r)        -> alpha_file / r = alpha / sqrt(r)
 * (llama.cpp's own converter, convert_lora_to_gguf.py, copies lora_alpha as is, which is wrong
 * for an rsLoRA adapter; here the conversion is done on export.)
 *
 * Glossary: L = layers, r = rank, in / out = the adapted weight's widths.
 */
#include "transformer/gguf.h"

#include "core/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The llama.cpp name of each target's base weight inside "blk.N." (model.h's names).
static const char *const target_weight[NN_LORA_N_TARGETS] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};
_Static_assert(sizeof target_weight / sizeof target_weight[0] == NN_LORA_N_TARGETS, "targets");

// The alpha written to the file, so that llama.cpp's alpha_file / r is the engine's scale.
static float file_alpha(const NnLoraConfig *c)
{
    return c->rslora ? (float)((double)c->alpha * sqrt((double)c->rank)) : c->alpha;
}

// Checks one adapter against base's weight of the same name (see gguf.h for the errors).
static int check_site(const NnLoraLinear *s, const TfModel *base, const char *wname,
                      const char *path)
{
    CHECK(s->a && s->b && s->a->ndim == 2 && s->b->ndim == 2 && tensor_is_contiguous(s->a) &&
          tensor_is_contiguous(s->b), "tf_gguf_export_lora: %s: A and B must be contiguous "
          "2-D tensors", wname);
    if (s->merged)
        return err_set(ERR_INVALID, "%s: the adapter on %s is merged into the base weight; "
                       "hint: base.gguf + adapter would apply it twice: export the base and "
                       "the adapter before nn_lora_merge, or nn_lora_unmerge first", path,
                       wname);
    const Tensor *w = nn_params_get(base->params, wname);
    if (!w)
        return err_set(ERR_NOTFOUND, "%s: the base model has no weight %s that the set "
                       "adapts; hint: export the adapter with the model it was made on", path,
                       wname);
    const int64_t r = s->a->shape[0];
    if (w->ndim != 2 || s->b->shape[1] != r || s->a->shape[1] != w->shape[1] ||
        s->b->shape[0] != w->shape[0])
        return err_set(ERR_SHAPE, "%s: the adapter on %s (A %lldx%lld, B %lldx%lld) does not "
                       "fit the base weight (%lldx%lld); hint: A is (r, in), B (out, r), W "
                       "(out, in): was the set made on another model?", path, wname,
                       (long long)s->a->shape[0], (long long)s->a->shape[1],
                       (long long)s->b->shape[0], (long long)s->b->shape[1],
                       (long long)w->shape[0], w->ndim == 2 ? (long long)w->shape[1] : 1LL);
    return ERR_OK;
}

// ---------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------

int tf_gguf_export_lora(const NnLora *set, const TfModel *base, const char *path)
{
    CHECK(set && base && path, "tf_gguf_export_lora: NULL argument");
    if (base->cfg.arch != TF_LLAMA)
        return err_set(ERR_INVALID, "%s: cannot export an adapter of a %s model; hint: "
                       "llama.cpp loads adapters of the \"llama\" architecture that "
                       "tf_gguf_export writes (TF_LLAMA)", path, tf_arch_name(base->cfg.arch));
    const int L = nn_lora_n_layer(set);
    if (L != base->cfg.n_layer)
        return err_set(ERR_SHAPE, "%s: the adapter set has %d layers, the base model %d; "
                       "hint: export the adapter with the model it was made on", path, L,
                       base->cfg.n_layer);
    const NnLoraConfig *c = nn_lora_config(set);
    const float alpha_file = file_alpha(c);
    // The scale llama.cpp will compute, in its float arithmetic.
    const float s_file = alpha_file / (float)c->rank;
    // nn_lora_site hands out a mutable pointer for training; here it is only read.
    NnLora *rd = (NnLora *)set;

    // Everything is checked before the writer is built, so errors leave nothing half done.
    char name[TF_GGUF_MAX_NAME];
    for (int l = 0; l < L; l++) {
        for (int t = 0; t < NN_LORA_N_TARGETS; t++) {
            const NnLoraLinear *s = nn_lora_site(rd, l, (NnLoraTarget)t);
            if (!s) continue;
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, target_weight[t]);
            int rc = check_site(s, base, name, path);
            if (rc != ERR_OK) return rc;
        }
    }

    TfGgufWriter *w = tf_gguf_writer_create();
    tf_gguf_writer_add_str(w, "general.architecture", "llama");
    tf_gguf_writer_add_str(w, "general.type", "adapter");
    tf_gguf_writer_add_str(w, "general.name", "engine-lora-adapter");
    tf_gguf_writer_add_str(w, "adapter.type", "lora");
    tf_gguf_writer_add_f32(w, "adapter.lora.alpha", alpha_file);
    // The engine's own config, for readers; llama.cpp keeps such keys as metadata only.
    char targets[96];
    nn_lora_targets_str(c->targets, targets, sizeof targets);
    tf_gguf_writer_add_u32(w, "engine.lora.rank", (uint32_t)c->rank);
    tf_gguf_writer_add_f32(w, "engine.lora.alpha", c->alpha);
    tf_gguf_writer_add_bool(w, "engine.lora.rslora", c->rslora);
    tf_gguf_writer_add_str(w, "engine.lora.targets", targets);

    // B copies with a hand-set scale folded in (s_site / s_file), freed after the write.
    float **folded = xcalloc((size_t)L * NN_LORA_N_TARGETS, sizeof *folded);
    for (int l = 0; l < L; l++) {
        for (int t = 0; t < NN_LORA_N_TARGETS; t++) {
            const NnLoraLinear *s = nn_lora_site(rd, l, (NnLoraTarget)t);
            if (!s) continue;
            const int64_t r = s->a->shape[0], in = s->a->shape[1], out = s->b->shape[0];
            const float *b = s->b->data;
            if (fabs((double)s->scale - (double)s_file) > 1e-6 * fabs((double)s_file)) {
                const int64_t n = out * r;
                const double ratio = (double)s->scale / (double)s_file;
                float *f = xmalloc((size_t)n * sizeof *f);
                for (int64_t i = 0; i < n; i++) f[i] = (float)(ratio * (double)b[i]);
                folded[l * NN_LORA_N_TARGETS + t] = f;
                b = f;
            }
            // Row-major A (r, in) is ggml's ne = {in, r}; B (out, r) is ne = {r, out}.
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_a", l, target_weight[t]);
            tf_gguf_writer_add_tensor_f32(w, name, TF_GGUF_F32, 2, (int64_t[]){in, r},
                                          s->a->data);
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_b", l, target_weight[t]);
            tf_gguf_writer_add_tensor_f32(w, name, TF_GGUF_F32, 2, (int64_t[]){r, out}, b);
        }
    }
    int rc = tf_gguf_writer_write(w, path);
    tf_gguf_writer_free(w);
    for (int i = 0; i < L * NN_LORA_N_TARGETS; i++) free(folded[i]);
    free(folded);
    return rc;
}
