/*
 * lora.c: low-rank adapters (see lora.h for the math, the naming and the file format).
 *
 * The forward pass is three graph ops on top of the base layer's output, so autograd gives
 * dA, dB and the adapter's share of dx; the base weight is frozen (requires_grad false), so the
 * matmul backward never computes dW for it. Merging is a plain loop over W's elements.
 *
 * Glossary: N = rows, in / out = the layer's widths, r = rank, s = the scale.
 */
#include "nn/lora.h"

#include "core/err.h"
#include "core/exercise.h"
#include "core/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The llama.cpp name of each target's weight inside "blk.N.".
static const char *const target_gguf[NN_LORA_N_TARGETS] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};
static const char *const target_short[NN_LORA_N_TARGETS] = {
    "q", "k", "v", "o", "gate", "up", "down",
};
_Static_assert(sizeof target_gguf / sizeof target_gguf[0] == NN_LORA_N_TARGETS, "targets");

#define META_FORMAT "engine-lora"
#define META_VERSION "1"

struct NnLora {
    NnLoraConfig cfg;
    NnParams *params;   // owned: every lora_a / lora_b
    NnParams *base;     // borrowed
    int n_layer;
    NnLoraLinear *site; // (n_layer, NN_LORA_N_TARGETS); a == NULL where not targeted
};

// ---------------------------------------------------------------------------
// One layer
// ---------------------------------------------------------------------------

float nn_lora_scale(float alpha, int rank, bool rslora)
{
    CHECK(rank >= 1, "nn_lora_scale: rank %d must be >= 1", rank);
    return rslora ? alpha / sqrtf((float)rank) : alpha / (float)rank;
}

static void check_linear(const NnLoraLinear *l)
{
    CHECK(l->a && l->b && l->w, "lora: an adapter needs a, b and w");
    CHECK(l->a->ndim == 2 && l->b->ndim == 2 && l->w->ndim == 2 &&
          l->a->shape[0] == l->b->shape[1] && l->a->shape[1] == l->w->shape[1] &&
          l->b->shape[0] == l->w->shape[0],
          "lora: A (%lld, %lld), B (%lld, %lld) do not fit W (%lld, %lld); hint: A is (r, in), "
          "B is (out, r), W is (out, in)", (long long)l->a->shape[0], (long long)l->a->shape[1],
          (long long)l->b->shape[0], (long long)l->b->shape[1], (long long)l->w->shape[0],
          (long long)l->w->shape[1]);
}

Tensor *nn_lora_forward(Graph *g, const NnLoraLinear *l, Tensor *x, Tensor *y, bool train,
                        Rng *rng)
{
    if (!l || l->merged) return y;
    check_linear(l);
    Tensor *a = l->a, *b = l->b;
    float s = l->scale;
    Tensor *xd = x;
    if (train && l->dropout > 0.0f) {
        CHECK(rng, "nn_lora_forward: adapter dropout %g in training needs an rng", l->dropout);
        xd = tensor_dropout(g, x, l->dropout, rng);
    }
    // EXERCISE(w09.lora_forward): return y + s * (xd A^T) B^T through the graph, where xd
    //   (..., in) is the (dropped-out) input, A = a (r, in), B = b (out, r) and y (..., out) the
    //   base output. Use tensor_matmul with transposed views (tensor_transpose(g, a, 0, 1)) so
    //   no weight is copied, apply the scale on the small (..., r) product (tensor_mul_scalar),
    //   and add with tensor_add. Autograd then gives dA and dB.
    // STUB: exercise_stub("w09.lora_forward"); (void)xd; (void)a; (void)b; (void)s; return y;
    Tensor *h = tensor_matmul(g, xd, tensor_transpose(g, a, 0, 1)); // (..., r)
    h = tensor_mul_scalar(g, h, s);
    return tensor_add(g, y, tensor_matmul(g, h, tensor_transpose(g, b, 0, 1)));
    // END EXERCISE
}

// W <- W + coef * s * B A, coef = +1 (merge) or -1 (unmerge).
static void lora_add_delta(NnLoraLinear *l, float coef)
{
    check_linear(l);
    CHECK(tensor_is_contiguous(l->w) && tensor_is_contiguous(l->a) && tensor_is_contiguous(l->b),
          "lora merge: W, A and B must be contiguous");
    // EXERCISE(w09.lora_merge): add coef * s * (B A) to W in place, with W (out, in) =
    //   l->w->data, A (r, in) = l->a->data, B (out, r) = l->b->data, s = l->scale, all
    //   row-major. For each (i, j): accumulate sum_k B[i][k] A[k][j] in double, then
    //   W[i][j] = (float)(W[i][j] + coef * s * sum).
    // STUB: exercise_stub("w09.lora_merge"); (void)coef; return;
    const int64_t out = l->w->shape[0], in = l->w->shape[1], r = l->a->shape[0];
    const float *A = l->a->data, *B = l->b->data;
    float *W = l->w->data;
    const double cs = (double)coef * (double)l->scale;
    for (int64_t i = 0; i < out; i++) {
        for (int64_t j = 0; j < in; j++) {
            double sum = 0.0;
            for (int64_t k = 0; k < r; k++) sum += (double)B[i * r + k] * (double)A[k * in + j];
            W[i * in + j] = (float)((double)W[i * in + j] + cs * sum);
        }
    }
    // END EXERCISE
}

int nn_lora_linear_merge(NnLoraLinear *l)
{
    CHECK(l, "nn_lora_linear_merge: NULL adapter");
    if (l->merged)
        return err_set(ERR_INVALID, "lora merge: the adapter on '%s' is already merged; hint: "
                       "merging twice would add the update twice, unmerge first", l->w->name);
    lora_add_delta(l, 1.0f);
    l->merged = true;
    return ERR_OK;
}

int nn_lora_linear_unmerge(NnLoraLinear *l)
{
    CHECK(l, "nn_lora_linear_unmerge: NULL adapter");
    if (!l->merged)
        return err_set(ERR_INVALID, "lora unmerge: the adapter on '%s' is not merged; hint: "
                       "only a merged adapter can be taken out of the weight", l->w->name);
    lora_add_delta(l, -1.0f);
    l->merged = false;
    return ERR_OK;
}

// ---------------------------------------------------------------------------
// Freezing
// ---------------------------------------------------------------------------

NnLoraCount nn_lora_freeze_base(NnParams *base, NnParams *adapter)
{
    CHECK(base, "nn_lora_freeze_base: NULL base registry");
    NnLoraCount c = {0};
    // EXERCISE(w09.lora_freeze): freeze every entry of `base` (nn_params_freeze with the prefix
    //   "" matches all: it clears requires_grad, so no op records the tensor for backward and
    //   the optimizer skips it) and unfreeze every entry of `adapter` (when not NULL). Then fill
    //   c: frozen = elements of base, trainable = elements of adapter (0 when NULL), and
    //   adam_state_bytes = 2 * sizeof(float) * trainable (Adam keeps m and v per element).
    // STUB: exercise_stub("w09.lora_freeze"); (void)adapter; return c;
    nn_params_freeze(base, "");
    if (adapter) nn_params_unfreeze(adapter, "");
    c.frozen = nn_params_numel(base, false);
    c.trainable = adapter ? nn_params_numel(adapter, true) : 0;
    c.adam_state_bytes = 2 * (int64_t)sizeof(float) * c.trainable;
    return c;
    // END EXERCISE
}

// ---------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------

const char *nn_lora_target_name(NnLoraTarget t)
{
    CHECK(t >= 0 && t < NN_LORA_N_TARGETS, "nn_lora_target_name: target %d", (int)t);
    return target_short[t];
}

int nn_lora_targets_parse(const char *s, unsigned *mask)
{
    CHECK(s && mask, "nn_lora_targets_parse: NULL argument");
    unsigned m = 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int found = -1;
        if (len == 3 && strncmp(p, "all", 3) == 0) {
            m |= NN_LORA_ALL;
            found = NN_LORA_N_TARGETS;
        }
        for (int t = 0; t < NN_LORA_N_TARGETS && found < 0; t++)
            if (strlen(target_short[t]) == len && strncmp(p, target_short[t], len) == 0)
                found = t, m |= NN_LORA_BIT(t);
        if (found < 0)
            return err_set(ERR_INVALID, "lora targets \"%s\": unknown target \"%.*s\"; hint: a "
                           "comma-separated list of q, k, v, o, gate, up, down, or all", s,
                           (int)len, p);
        p += len;
        if (*p == ',') p++;
    }
    if (!m)
        return err_set(ERR_INVALID, "lora targets \"%s\": empty list; hint: e.g. \"q,v\"", s);
    *mask = m;
    return ERR_OK;
}

const char *nn_lora_targets_str(unsigned mask, char *buf, size_t n)
{
    CHECK(buf && n > 0, "nn_lora_targets_str: no buffer");
    buf[0] = '\0';
    size_t k = 0;
    for (int t = 0; t < NN_LORA_N_TARGETS; t++) {
        if (!(mask & NN_LORA_BIT(t)) || k >= n) continue;
        k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? "," : "", target_short[t]);
    }
    return buf;
}

// ---------------------------------------------------------------------------
// The adapter set
// ---------------------------------------------------------------------------

static int check_config(const NnLoraConfig *c)
{
    if (!(c->targets & NN_LORA_ALL) || (c->targets & ~NN_LORA_ALL))
        return err_set(ERR_INVALID, "lora config: targets mask 0x%x; hint: NN_LORA_BIT(...) of "
                       "q, k, v, o, gate, up, down (nn_lora_targets_parse)", c->targets);
    if (c->rank < 1)
        return err_set(ERR_INVALID, "lora config: rank = %d must be >= 1", c->rank);
    if (!(c->alpha > 0.0f) || !isfinite(c->alpha))
        return err_set(ERR_INVALID, "lora config: alpha = %g must be > 0; hint: alpha = 2 r is "
                       "a common choice", c->alpha);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return err_set(ERR_INVALID, "lora config: dropout = %g must be in [0, 1)", c->dropout);
    return ERR_OK;
}

static Tensor *base_weight(const NnParams *base, int layer, int t)
{
    char nm[NN_NAME_MAX];
    snprintf(nm, sizeof nm, "blk.%d.%s.weight", layer, target_gguf[t]);
    return nn_params_get(base, nm);
}

static int lowest_target(unsigned mask)
{
    for (int t = 0; t < NN_LORA_N_TARGETS; t++)
        if (mask & NN_LORA_BIT(t)) return t;
    return -1;
}

// nn_lora_create without the freezing (nn_lora_load freezes only once the file fits).
static int lora_build(NnParams *base, const NnLoraConfig *cfg, NnLora **out)
{
    *out = NULL;
    int rc = check_config(cfg);
    if (rc != ERR_OK) return rc;
    // Layers: blk.0, blk.1, ... as long as the first target's weight is there.
    int t0 = lowest_target(cfg->targets), n_layer = 0;
    while (base_weight(base, n_layer, t0)) n_layer++;
    if (n_layer == 0)
        return err_set(ERR_NOTFOUND, "lora: the model has no weight 'blk.0.%s.weight' for "
                       "target \"%s\"; hint: the base must name its weights as llama.cpp does "
                       "(transformer/model.h)", target_gguf[t0], target_short[t0]);
    for (int l = 0; l < n_layer; l++) {
        for (int t = 0; t < NN_LORA_N_TARGETS; t++) {
            if (!(cfg->targets & NN_LORA_BIT(t))) continue;
            Tensor *w = base_weight(base, l, t);
            if (!w)
                return err_set(ERR_NOTFOUND, "lora: the model has no weight 'blk.%d.%s.weight' "
                               "for target \"%s\"; hint: gpt2 has no gate projection, pick "
                               "targets the model has", l, target_gguf[t], target_short[t]);
            if (w->ndim != 2 || !tensor_is_contiguous(w))
                return err_set(ERR_SHAPE, "lora: 'blk.%d.%s.weight' has %d dims; hint: an "
                               "adapter needs a contiguous (out, in) weight", l, target_gguf[t],
                               w->ndim);
        }
    }
    NnLora *set = xcalloc(1, sizeof *set);
    set->cfg = *cfg;
    set->base = base;
    set->n_layer = n_layer;
    set->params = nn_params_create();
    set->site = xcalloc((size_t)n_layer * NN_LORA_N_TARGETS, sizeof *set->site);
    Rng rng;
    rng_init(&rng, cfg->seed);
    const float s = nn_lora_scale(cfg->alpha, cfg->rank, cfg->rslora);
    const int64_t r = cfg->rank;
    char nm[NN_NAME_MAX];
    for (int l = 0; l < n_layer; l++) {
        for (int t = 0; t < NN_LORA_N_TARGETS; t++) {
            if (!(cfg->targets & NN_LORA_BIT(t))) continue;
            NnLoraLinear *site = &set->site[l * NN_LORA_N_TARGETS + t];
            Tensor *w = base_weight(base, l, t);
            const int64_t n_out = w->shape[0], n_in = w->shape[1];
            snprintf(nm, sizeof nm, "blk.%d.%s.lora_a", l, target_gguf[t]);
            site->a = nn_params_add(set->params, nm, 2, (int64_t[]){r, n_in});
            snprintf(nm, sizeof nm, "blk.%d.%s.lora_b", l, target_gguf[t]);
            site->b = nn_params_add(set->params, nm, 2, (int64_t[]){n_out, r}); // zeros
            site->w = w;
            site->scale = s;
            site->dropout = cfg->dropout;
            // kaiming_uniform(a = sqrt(5)) over fan_in = in: bound = 1 / sqrt(in).
            float bound = 1.0f / sqrtf((float)n_in);
            tensor_fill_uniform(site->a, &rng, -bound, bound);
        }
    }
    *out = set;
    return ERR_OK;
}

int nn_lora_create(NnParams *base, const NnLoraConfig *cfg, NnLora **out)
{
    CHECK(base && cfg && out, "nn_lora_create: NULL argument");
    int rc = lora_build(base, cfg, out);
    if (rc == ERR_OK) nn_lora_freeze_base(base, (*out)->params);
    return rc;
}

void nn_lora_free(NnLora *set)
{
    if (!set) return;
    nn_params_free(set->params);
    free(set->site);
    free(set);
}

NnParams *nn_lora_params(NnLora *set) { return set->params; }
NnParams *nn_lora_base(const NnLora *set) { return set->base; }
const NnLoraConfig *nn_lora_config(const NnLora *set) { return &set->cfg; }
int nn_lora_n_layer(const NnLora *set) { return set->n_layer; }

NnLoraLinear *nn_lora_site(NnLora *set, int layer, NnLoraTarget t)
{
    CHECK(set && layer >= 0 && layer < set->n_layer && t >= 0 && t < NN_LORA_N_TARGETS,
          "nn_lora_site: layer %d of %d, target %d", layer, set ? set->n_layer : 0, (int)t);
    NnLoraLinear *s = &set->site[layer * NN_LORA_N_TARGETS + t];
    return s->a ? s : NULL;
}

NnLoraCount nn_lora_count(const NnLora *set)
{
    NnLoraCount c;
    c.trainable = nn_params_numel(set->params, true);
    c.frozen = nn_params_numel(set->base, false);
    c.adam_state_bytes = 2 * (int64_t)sizeof(float) * c.trainable;
    return c;
}

// Merges (on = true) or unmerges every adapter, after checking that all are in the other state.
static int set_merged(NnLora *set, bool on)
{
    int n = set->n_layer * NN_LORA_N_TARGETS;
    for (int i = 0; i < n; i++) {
        const NnLoraLinear *s = &set->site[i];
        if (s->a && s->merged == on)
            return err_set(ERR_INVALID, "lora %s: the adapter on blk.%d.%s is %s; hint: %s",
                           on ? "merge" : "unmerge", i / NN_LORA_N_TARGETS,
                           target_gguf[i % NN_LORA_N_TARGETS],
                           on ? "already merged" : "not merged",
                           on ? "merging twice would add the update twice; unmerge first"
                              : "merge first");
    }
    for (int i = 0; i < n; i++) {
        NnLoraLinear *s = &set->site[i];
        if (!s->a) continue;
        int rc = on ? nn_lora_linear_merge(s) : nn_lora_linear_unmerge(s);
        CHECK(rc == ERR_OK, "lora: merge state changed under us");
    }
    return ERR_OK;
}

int nn_lora_merge(NnLora *set) { return set_merged(set, true); }
int nn_lora_unmerge(NnLora *set) { return set_merged(set, false); }

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

// "q=128x128,v=64x128": (out)x(in) of layer 0's weight of each target.
static void base_shapes(const NnLora *set, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int t = 0; t < NN_LORA_N_TARGETS && k < n; t++) {
        const NnLoraLinear *s = &set->site[t];
        if (!s->a) continue;
        k += (size_t)snprintf(buf + k, n - k, "%s%s=%lldx%lld", k ? "," : "", target_short[t],
                              (long long)s->w->shape[0], (long long)s->w->shape[1]);
    }
}

int nn_lora_save(const NnLora *set, const char *path)
{
    CHECK(set && path, "nn_lora_save: NULL argument");
    char v[8][160];
    const NnLoraConfig *c = &set->cfg;
    snprintf(v[0], sizeof v[0], "%d", c->rank);
    snprintf(v[1], sizeof v[1], "%.9g", (double)c->alpha); // %.9g round-trips a float
    snprintf(v[2], sizeof v[2], "%s", c->rslora ? "true" : "false");
    snprintf(v[3], sizeof v[3], "%.9g", (double)c->dropout);
    nn_lora_targets_str(c->targets, v[4], sizeof v[4]);
    snprintf(v[5], sizeof v[5], "%d", set->n_layer);
    base_shapes(set, v[6], sizeof v[6]);
    const char *kv[] = {"format", META_FORMAT, "version", META_VERSION, "rank", v[0],
                        "alpha", v[1], "rslora", v[2], "dropout", v[3], "targets", v[4],
                        "n_layer", v[5], "base_shapes", v[6]};
    return nn_params_save(set->params, path, kv, (int)(sizeof kv / sizeof kv[0] / 2));
}

static int meta_get(const StFile *f, const char *key, const char **out)
{
    *out = st_meta(f, key);
    if (!*out)
        return err_set(ERR_FORMAT, "%s: metadata key '%s' is missing; hint: was this file "
                       "written by nn_lora_save?", st_path(f), key);
    return ERR_OK;
}

static int meta_number(const StFile *f, const char *key, double lo, double hi, double *out)
{
    const char *s;
    int rc = meta_get(f, key, &s);
    if (rc != ERR_OK) return rc;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return err_set(ERR_FORMAT, "%s: metadata '%s' = \"%s\" is not a number in [%g, %g]",
                       st_path(f), key, s, lo, hi);
    *out = v;
    return ERR_OK;
}

// Re-raises the current error with "<path>: " in front. (The message is copied first:
// err_set must not format from its own buffer.)
static int err_prefix(int rc, const char *path)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", err_msg());
    return err_set(rc, "%s: %s", path, msg);
}

// The config stored in the metadata.
static int config_from_meta(const StFile *f, NnLoraConfig *c, int *n_layer)
{
    const char *path = st_path(f), *s;
    int rc;
    if ((rc = meta_get(f, "format", &s)) != ERR_OK) return rc;
    if (strcmp(s, META_FORMAT) != 0)
        return err_set(ERR_FORMAT, "%s: metadata 'format' = \"%s\", expected \"" META_FORMAT
                       "\"; hint: this is not a LoRA adapter file", path, s);
    if ((rc = meta_get(f, "version", &s)) != ERR_OK) return rc;
    if (strcmp(s, META_VERSION) != 0)
        return err_set(ERR_FORMAT, "%s: metadata 'version' = \"%s\", this build reads \""
                       META_VERSION "\"", path, s);
    double rank, alpha, dropout, nl;
    if ((rc = meta_number(f, "rank", 1, 1e6, &rank)) != ERR_OK) return rc;
    if ((rc = meta_number(f, "alpha", 0, 1e30, &alpha)) != ERR_OK) return rc;
    if ((rc = meta_number(f, "dropout", 0, 1, &dropout)) != ERR_OK) return rc;
    if ((rc = meta_number(f, "n_layer", 1, 1e6, &nl)) != ERR_OK) return rc;
    if (rank != floor(rank) || nl != floor(nl))
        return err_set(ERR_FORMAT, "%s: metadata 'rank' and 'n_layer' must be integers", path);
    if ((rc = meta_get(f, "rslora", &s)) != ERR_OK) return rc;
    if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
        return err_set(ERR_FORMAT, "%s: metadata 'rslora' = \"%s\"; hint: \"true\" or "
                       "\"false\"", path, s);
    NnLoraConfig out = {.rank = (int)rank, .alpha = (float)alpha, .dropout = (float)dropout,
                        .rslora = strcmp(s, "true") == 0};
    if ((rc = meta_get(f, "targets", &s)) != ERR_OK) return rc;
    if ((rc = nn_lora_targets_parse(s, &out.targets)) != ERR_OK)
        return err_prefix(ERR_FORMAT, path);
    if ((rc = check_config(&out)) != ERR_OK) return err_prefix(ERR_FORMAT, path);
    *c = out;
    *n_layer = (int)nl;
    return ERR_OK;
}

// Everything the file holds fits `set` (built on the model): layers, base shapes, and no
// tensor that the set lacks. Names and shapes of the set's tensors are checked by
// nn_params_load.
static int check_file_fits(const StFile *f, const NnLora *set, int file_layers)
{
    const char *path = st_path(f), *s;
    if (file_layers != set->n_layer)
        return err_set(ERR_SHAPE, "%s: the adapter is for %d layers, the model has %d; hint: "
                       "load it on the model it was trained on", path, file_layers,
                       set->n_layer);
    char want[160];
    base_shapes(set, want, sizeof want);
    int rc = meta_get(f, "base_shapes", &s);
    if (rc != ERR_OK) return rc;
    if (strcmp(s, want) != 0)
        return err_set(ERR_SHAPE, "%s: metadata 'base_shapes' = \"%s\", the model's weights are "
                       "\"%s\"; hint: the adapter was trained on a model of another width",
                       path, s, want);
    for (int i = 0; i < st_count(f); i++) {
        const char *name = st_name(f, i);
        if (!nn_params_get(set->params, name))
            return err_set(ERR_FORMAT, "%s: tensor '%s' is not an adapter of this config "
                           "(targets and %d layers); hint: the metadata and the tensors "
                           "disagree", path, name, set->n_layer);
    }
    return ERR_OK;
}

int nn_lora_load(NnParams *base, const char *path, NnLora **out)
{
    CHECK(base && path && out, "nn_lora_load: NULL argument");
    *out = NULL;
    StFile *f;
    int rc = st_open(path, &f);
    if (rc != ERR_OK) return rc;
    NnLoraConfig c;
    int file_layers = 0;
    NnLora *set = NULL;
    rc = config_from_meta(f, &c, &file_layers);
    if (rc == ERR_OK) {
        rc = lora_build(base, &c, &set);
        if (rc != ERR_OK) rc = err_prefix(rc, path);
    }
    if (rc == ERR_OK) rc = check_file_fits(f, set, file_layers);
    st_close(f);
    if (rc == ERR_OK) rc = nn_params_load(set->params, path);
    if (rc != ERR_OK) {
        nn_lora_free(set);
        return rc;
    }
    nn_lora_freeze_base(base, set->params);
    *out = set;
    return ERR_OK;
}
