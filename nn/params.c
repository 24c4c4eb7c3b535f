/*
 * params.c: the named parameter registry (see params.h).
 *
 * The entry list is a plain growable array searched linearly by name: a model has tens to a
 * few hundred parameters, and lookups happen at build and load time, never per step.
 */
#include "nn/params.h"

#include "core/err.h"
#include "core/safetensors.h"

#include <stdlib.h>
#include <string.h>

struct NnParams {
    Arena *arena;    // owned: the parameters, their grads, anything model-lifetime
    NnParam *items;  // (cap) xmalloc'd, the first n in use
    int n, cap;
    bool with_grads; // false: inference-only, no gradient buffers (nn_params_create_no_grad)
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// "(3, 4)" into buf.
static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (ndim == 1 && k < len) k += (size_t)snprintf(buf + k, len - k, ",");
    if (k < len) snprintf(buf + k, len - k, ")");
    return buf;
}

static int find(const NnParams *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->items[i].name, name) == 0) return i;
    return -1;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

// ---------------------------------------------------------------------------
// Lifecycle and registration
// ---------------------------------------------------------------------------

NnParams *nn_params_create(void)
{
    NnParams *p = xcalloc(1, sizeof *p);
    p->arena = arena_create(0);
    p->with_grads = true;
    return p;
}

NnParams *nn_params_create_no_grad(void)
{
    NnParams *p = nn_params_create();
    p->with_grads = false;
    return p;
}

bool nn_params_has_grads(const NnParams *p) { return p->with_grads; }

void nn_params_free(NnParams *p)
{
    if (!p) return;
    arena_free(p->arena);
    free(p->items);
    free(p);
}

Arena *nn_params_arena(NnParams *p) { return p->arena; }

Tensor *nn_params_add(NnParams *p, const char *name, int ndim, const int64_t *shape)
{
    CHECK(name && name[0], "nn_params_add: empty parameter name");
    size_t len = strlen(name);
    CHECK(len < NN_NAME_MAX, "nn_params_add: name '%s' is %zu chars (at most %d)", name, len,
          NN_NAME_MAX - 1);
    CHECK(find(p, name) < 0, "nn_params_add: '%s' is already registered; hint: give each layer "
          "its own prefix", name);
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 16;
        p->items = xrealloc(p->items, (size_t)p->cap * sizeof *p->items);
    }
    Tensor *t;
    if (p->with_grads) {
        t = tensor_param(p->arena, ndim, shape);
    } else {
        // A leaf that never records for backward. is_param stays true: should anything turn
        // requires_grad on by hand, backward then CHECKs ("has no grad buffer") instead of
        // putting the gradient in a graph's scratch arena, which graph_reset would free.
        t = tensor_zeros(p->arena, ndim, shape);
        t->is_param = true;
    }
    // Tensor.name holds 31 chars: keep the tail, which carries the distinguishing part
    // ("...h.11.attn.c_proj.weight").
    size_t keep = sizeof t->name - 1;
    tensor_set_name(t, len > keep ? name + (len - keep) : name);
    NnParam *e = &p->items[p->n++];
    memcpy(e->name, name, len + 1);
    e->t = t;
    e->trainable = p->with_grads;
    return t;
}

Tensor *nn_params_get(const NnParams *p, const char *name)
{
    int i = find(p, name);
    return i < 0 ? NULL : p->items[i].t;
}

int nn_params_count(const NnParams *p) { return p->n; }

const NnParam *nn_params_at(const NnParams *p, int i)
{
    CHECK(i >= 0 && i < p->n, "nn_params_at: index %d out of range [0, %d)", i, p->n);
    return &p->items[i];
}

int64_t nn_params_numel(const NnParams *p, bool trainable_only)
{
    int64_t total = 0;
    for (int i = 0; i < p->n; i++)
        if (!trainable_only || p->items[i].trainable) total += tensor_numel(p->items[i].t);
    return total;
}

// ---------------------------------------------------------------------------
// Freezing and gradients
// ---------------------------------------------------------------------------

static int set_trainable(NnParams *p, const char *prefix, bool on)
{
    CHECK(prefix, "nn_params_freeze: NULL prefix; hint: \"\" matches every parameter");
    int matched = 0;
    for (int i = 0; i < p->n; i++) {
        NnParam *e = &p->items[i];
        if (!has_prefix(e->name, prefix)) continue;
        CHECK(!on || p->with_grads, "nn_params_unfreeze: '%s' is in an inference-only registry "
              "(no gradient buffers), it cannot train; hint: make the model with gradients "
              "(nn_params_create, tf_model_alloc(cfg, true), tf_model_load), or train LoRA "
              "adapters on it (nn/lora.h)", e->name);
        e->trainable = on;
        // requires_grad decides whether ops record the tensor for backward; the grad buffer
        // stays (zeroed) so a later unfreeze allocates nothing.
        e->t->requires_grad = on;
        tensor_zero_grad(e->t);
        matched++;
    }
    return matched;
}

int nn_params_freeze(NnParams *p, const char *prefix) { return set_trainable(p, prefix, false); }

int nn_params_unfreeze(NnParams *p, const char *prefix) { return set_trainable(p, prefix, true); }

void nn_params_zero_grad(NnParams *p)
{
    for (int i = 0; i < p->n; i++) tensor_zero_grad(p->items[i].t);
}

// ---------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------

int nn_params_save(const NnParams *p, const char *path, const char *const *meta_kv, int n_meta)
{
    StEntry *e = xmalloc((size_t)(p->n ? p->n : 1) * sizeof *e);
    for (int i = 0; i < p->n; i++) e[i] = (StEntry){.name = p->items[i].name, .t = p->items[i].t};
    int rc = st_save(path, e, p->n, meta_kv, n_meta);
    free(e);
    return rc;
}

int nn_params_load(NnParams *p, const char *path)
{
    StFile *f;
    int rc = st_open(path, &f);
    if (rc != ERR_OK) return rc;
    // Pass 1: every name present with the right shape, so a bad file changes nothing.
    for (int i = 0; i < p->n && rc == ERR_OK; i++) {
        const NnParam *e = &p->items[i];
        int ndim;
        int64_t shape[ST_MAX_DIMS];
        const char *dtype;
        if (st_info(f, e->name, &ndim, shape, &dtype) != ERR_OK) {
            rc = err_set(ERR_NOTFOUND, "%s: no tensor '%s' (the model has %d parameters); "
                         "hint: was the checkpoint written by a model of another configuration?",
                         path, e->name, p->n);
            break;
        }
        bool same = ndim == e->t->ndim;
        for (int k = 0; same && k < ndim; k++) same = shape[k] == e->t->shape[k];
        if (!same) {
            char want[96], got[96];
            rc = err_set(ERR_SHAPE, "%s: tensor '%s' has shape %s, the model expects %s; hint: "
                         "check the model configuration against the checkpoint's", path,
                         e->name, shape_str(ndim, shape, got, sizeof got),
                         shape_str(e->t->ndim, e->t->shape, want, sizeof want));
        }
    }
    // Pass 2: copy. After pass 1 this can only fail on a value st_read_into rejects.
    for (int i = 0; i < p->n && rc == ERR_OK; i++)
        rc = st_read_into(f, p->items[i].name, p->items[i].t);
    st_close(f);
    return rc;
}

void nn_params_print(const NnParams *p, FILE *f)
{
    char buf[96];
    for (int i = 0; i < p->n; i++) {
        const NnParam *e = &p->items[i];
        fprintf(f, "%-40s %-20s %10lld%s\n", e->name,
                shape_str(e->t->ndim, e->t->shape, buf, sizeof buf),
                (long long)tensor_numel(e->t),
                e->trainable ? "" : p->with_grads ? "  (frozen)" : "  (no grad)");
    }
    fprintf(f, "%d tensors, %lld parameters, %lld trainable%s\n", p->n,
            (long long)nn_params_numel(p, false), (long long)nn_params_numel(p, true),
            p->with_grads ? "" : " (inference-only: no gradient buffers)");
}
