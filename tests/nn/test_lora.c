/*
 * test_lora.c: nn/lora.c and the LoRA hook of transformer/model.c.
 *
 * The invariants of an adapter, each on a tiny model of both recipes where it matters:
 *   - a fresh adapter (B = 0) gives bit-identical logits;
 *   - merged and unmerged adapters give the same logits (within float rounding, 1e-5);
 *   - merging twice is refused and leaves the weights alone;
 *   - training steps change the adapters only: the base weights stay bit-identical and the
 *     optimizer keeps state for the adapter entries only;
 *   - one layer's forward and backward against PyTorch (tests/gen_lora_fixtures.py) and against
 *     finite differences (core/gradcheck.h);
 *   - the adapter file round-trips, and a file made for another model is rejected by name.
 */
#include "core/err.h"
#include "core/gradcheck.h"
#include "core/safetensors.h"
#include "nn/lora.h"
#include "nn/optim.h"
#include "nn/optim_state.h"
#include "tests/test_util.h"
#include "transformer/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 2
#define SEQ 5

static TfConfig tiny(TfArch arch)
{
    TfConfig c = tf_config_default(arch);
    c.vocab = 32, c.ctx = 8, c.d_model = 16, c.n_layer = 2, c.n_head = 4;
    c.n_kv_head = arch == TF_LLAMA ? 2 : 4;
    c.d_ff = arch == TF_LLAMA ? 24 : 64;
    return c;
}

// The logits of a fixed batch, copied out (BATCH * SEQ * V floats, caller frees).
static float *logits_of(TfModel *m)
{
    int32_t ids[BATCH * SEQ];
    for (int i = 0; i < BATCH * SEQ; i++) ids[i] = (int32_t)((7 * i + 3) % m->cfg.vocab);
    Graph *g = graph_create(0);
    Tensor *tok = tensor_from_i32(graph_arena(g), 2, (int64_t[]){BATCH, SEQ}, ids);
    Tensor *lg = tf_model_forward(g, m, tok, false, NULL);
    int64_t n = tensor_numel(lg);
    float *out = xmalloc((size_t)n * sizeof(float));
    tensor_copy_to(lg, out);
    graph_free(g);
    return out;
}

static int64_t n_logits(const TfModel *m) { return (int64_t)BATCH * SEQ * m->cfg.vocab; }

// Every base weight's values, concatenated (caller frees).
static float *snapshot(const NnParams *p, int64_t *n)
{
    *n = nn_params_numel(p, false);
    float *s = xmalloc((size_t)*n * sizeof(float)), *q = s;
    for (int i = 0; i < nn_params_count(p); i++) {
        const Tensor *t = nn_params_at(p, i)->t;
        tensor_copy_to(t, q);
        q += tensor_numel(t);
    }
    return s;
}

static NnLora *make_set(TfModel *m, const char *targets, int rank, uint64_t seed)
{
    NnLoraConfig lc = {.rank = rank, .alpha = 2.0f * (float)rank, .seed = seed};
    ck_assert_msg(nn_lora_targets_parse(targets, &lc.targets) == ERR_OK, "%s", err_msg());
    NnLora *set;
    ck_assert_msg(nn_lora_create(m->params, &lc, &set) == ERR_OK, "%s", err_msg());
    return set;
}

// Gives every B a random value (a fresh adapter has B = 0 and changes nothing).
static void randomize_b(NnLora *set, uint64_t seed)
{
    Rng r;
    rng_init(&r, seed);
    NnParams *p = nn_lora_params(set);
    for (int i = 0; i < nn_params_count(p); i++) {
        const NnParam *e = nn_params_at(p, i);
        if (strstr(e->name, ".lora_b")) tensor_fill_normal(e->t, &r, 0.0f, 0.05f);
    }
}

// ---------------------------------------------------------------------------
// Fresh adapters, init, config
// ---------------------------------------------------------------------------

static void check_fresh_identical(TfArch arch, const char *targets)
{
    TfConfig c = tiny(arch);
    TfModel *m = tf_model_create(&c, 11);
    float *before = logits_of(m);
    NnLora *set = make_set(m, targets, 4, 5);
    tf_model_attach_lora(m, set);
    float *after = logits_of(m);
    ck_assert_msg(memcmp(before, after, (size_t)n_logits(m) * sizeof(float)) == 0,
                  "a fresh adapter changed the logits (%s)", tf_arch_name(arch));
    // The adapters are really in the graph: a non-zero B changes the logits.
    randomize_b(set, 3);
    float *moved = logits_of(m);
    ck_assert(memcmp(before, moved, (size_t)n_logits(m) * sizeof(float)) != 0);
    tf_model_detach_lora(m);
    free(before);
    free(after);
    free(moved);
    nn_lora_free(set);
    tf_model_free(m);
}

START_TEST(test_lora_fresh_adapter_is_bit_identical)
{
    check_fresh_identical(TF_LLAMA, "all");
    check_fresh_identical(TF_GPT2, "q,k,v,o,up,down");
}
END_TEST

START_TEST(test_lora_init_names_and_counts)
{
    TfConfig c = tiny(TF_LLAMA);
    TfModel *m = tf_model_create(&c, 1);
    NnLora *set = make_set(m, "q,v,down", 3, 9);
    ck_assert_int_eq(nn_lora_n_layer(set), 2);
    NnParams *p = nn_lora_params(set);
    ck_assert_int_eq(nn_params_count(p), 2 * 3 * 2); // layers x targets x {A, B}
    Tensor *a = nn_params_get(p, "blk.1.attn_v.lora_a");
    Tensor *b = nn_params_get(p, "blk.1.attn_v.lora_b");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    // attn_v is (KVH * hd, C) = (8, 16): A (r, in) = (3, 16), B (out, r) = (8, 3).
    ck_assert_int_eq(a->shape[0], 3);
    ck_assert_int_eq(a->shape[1], 16);
    ck_assert_int_eq(b->shape[0], 8);
    ck_assert_int_eq(b->shape[1], 3);
    ck_assert_ptr_null(nn_params_get(p, "blk.0.attn_k.lora_a"));
    // A ~ U(-1/sqrt(in), 1/sqrt(in)) and not all zero; B = 0.
    double bound = 1.0 / sqrt(16.0), amax = 0;
    for (int64_t i = 0; i < tensor_numel(a); i++) amax = fmax(amax, fabs(a->data[i]));
    ck_assert(amax > 0.5 * bound && amax <= bound);
    for (int64_t i = 0; i < tensor_numel(b); i++) ck_assert(b->data[i] == 0.0f);
    // Sites: present for targets, NULL elsewhere; the scale is alpha / r.
    NnLoraLinear *s = nn_lora_site(set, 0, NN_LORA_DOWN);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_eq(s->w, m->layer[0].w_down);
    ck_assert_float_eq_tol(s->scale, 6.0f / 3.0f, 1e-7);
    ck_assert_ptr_null(nn_lora_site(set, 0, NN_LORA_GATE));
    // Trainable = sum over sites of r (in + out); the base is frozen.
    int64_t want = 0;
    for (int l = 0; l < 2; l++)
        want += 3 * (16 + 16) + 3 * (16 + 8) + 3 * (24 + 16); // q (16,16), v (8,16), down (16,24)
    NnLoraCount cnt = nn_lora_count(set);
    ck_assert_int_eq(cnt.trainable, want);
    ck_assert_int_eq(cnt.frozen, nn_params_numel(m->params, false));
    ck_assert_int_eq(cnt.adam_state_bytes, 8 * want);
    ck_assert_int_eq(nn_params_numel(m->params, true), 0);
    ck_assert_float_eq_tol(nn_lora_scale(8.0f, 4, true), 4.0f, 1e-7); // rsLoRA: 8 / sqrt(4)
    nn_lora_free(set);
    tf_model_free(m);
}
END_TEST

START_TEST(test_lora_targets_parse)
{
    unsigned mask = 0;
    ck_assert_int_eq(nn_lora_targets_parse("q,v", &mask), ERR_OK);
    ck_assert_uint_eq(mask, NN_LORA_BIT(NN_LORA_Q) | NN_LORA_BIT(NN_LORA_V));
    ck_assert_int_eq(nn_lora_targets_parse("all", &mask), ERR_OK);
    ck_assert_uint_eq(mask, NN_LORA_ALL);
    char buf[64];
    ck_assert_str_eq(nn_lora_targets_str(mask, buf, sizeof buf), "q,k,v,o,gate,up,down");
    ck_assert_int_eq(nn_lora_targets_parse("down,o", &mask), ERR_OK);
    ck_assert_str_eq(nn_lora_targets_str(mask, buf, sizeof buf), "o,down");
    test_expect_err(nn_lora_targets_parse("q,wq", &mask), ERR_INVALID,
                    (const char *const[]){"\"wq\"", "hint", NULL});
    test_expect_err(nn_lora_targets_parse("", &mask), ERR_INVALID,
                    (const char *const[]){"empty", NULL});
}
END_TEST

START_TEST(test_lora_create_rejects_bad_config)
{
    TfConfig c = tiny(TF_GPT2);
    TfModel *m = tf_model_create(&c, 1);
    NnLora *set = (NnLora *)1;
    NnLoraConfig lc = {.targets = NN_LORA_BIT(NN_LORA_Q), .rank = 0, .alpha = 1.0f};
    test_expect_err(nn_lora_create(m->params, &lc, &set), ERR_INVALID,
                    (const char *const[]){"rank", NULL});
    ck_assert_ptr_null(set);
    lc.rank = 2, lc.alpha = 0.0f;
    test_expect_err(nn_lora_create(m->params, &lc, &set), ERR_INVALID,
                    (const char *const[]){"alpha", NULL});
    lc.alpha = 4.0f, lc.targets = NN_LORA_BIT(NN_LORA_Q) | NN_LORA_BIT(NN_LORA_GATE);
    test_expect_err(nn_lora_create(m->params, &lc, &set), ERR_NOTFOUND,
                    (const char *const[]){"ffn_gate", "gpt2", NULL});
    // Nothing was frozen by the failed attempts.
    ck_assert_int_eq(nn_params_numel(m->params, true), nn_params_numel(m->params, false));
    tf_model_free(m);
}
END_TEST

// ---------------------------------------------------------------------------
// One layer against PyTorch and finite differences
// ---------------------------------------------------------------------------

static Tensor *fx(StFile *f, Arena *a, const char *cs, const char *what)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s.%s", cs, what);
    Tensor *t;
    ck_assert_msg(st_read(f, nm, a, &t) == ERR_OK, "%s", err_msg());
    return t;
}

static const char *fmeta(StFile *f, const char *cs, const char *key)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s.%s", cs, key);
    const char *v = st_meta(f, nm);
    ck_assert_msg(v, "fixture metadata '%s' missing", nm);
    return v;
}

static void check_layer_against_torch(const char *cs)
{
    StFile *f;
    ck_assert_msg(st_open(fixture_path("lora.safetensors"), &f) == ERR_OK,
                  "%s (hint: run /usr/bin/python3 tests/gen_lora_fixtures.py)", err_msg());
    Arena *ar = arena_create(0);
    Tensor *x = fx(f, ar, cs, "x"), *w = fx(f, ar, cs, "w"), *b = fx(f, ar, cs, "b");
    Tensor *a = fx(f, ar, cs, "a"), *bm = fx(f, ar, cs, "bm"), *dy = fx(f, ar, cs, "dy");
    Tensor *y_want = fx(f, ar, cs, "y"), *dx_want = fx(f, ar, cs, "dx");
    Tensor *da_want = fx(f, ar, cs, "da"), *dbm_want = fx(f, ar, cs, "dbm");
    int rank = atoi(fmeta(f, cs, "rank"));
    float alpha = strtof(fmeta(f, cs, "alpha"), NULL);
    bool rs = strcmp(fmeta(f, cs, "rslora"), "true") == 0;
    st_close(f);
    ck_assert_int_eq(a->shape[0], rank);
    tensor_set_requires_grad(x, ar);
    tensor_set_requires_grad(a, ar);
    tensor_set_requires_grad(bm, ar);
    NnLoraLinear l = {.a = a, .b = bm, .w = w, .scale = nn_lora_scale(alpha, rank, rs)};
    Graph *g = graph_create(0);
    Tensor *base = tensor_add(g, tensor_matmul(g, x, tensor_transpose(g, w, 0, 1)), b);
    Tensor *y = nn_lora_forward(g, &l, x, base, false, NULL);
    ck_assert(tensor_same_shape(y, y_want));
    float *yv = xmalloc((size_t)tensor_numel(y) * sizeof(float));
    tensor_copy_to(y, yv);
    ck_assert(check_close(yv, y_want->data, tensor_numel(y), 1e-5, 1e-5, "lora y"));
    graph_backward_with(g, y, dy->data);
    ck_assert(check_close(x->grad, dx_want->data, tensor_numel(x), 1e-5, 1e-5, "lora dx"));
    ck_assert(check_close(a->grad, da_want->data, tensor_numel(a), 1e-5, 1e-5, "lora dA"));
    ck_assert(check_close(bm->grad, dbm_want->data, tensor_numel(bm), 1e-5, 1e-5, "lora dB"));
    free(yv);
    graph_free(g);
    arena_free(ar);
}

START_TEST(test_lora_layer_matches_torch)
{
    check_layer_against_torch("plain");
    check_layer_against_torch("rs");
}
END_TEST

// Inputs: x (N, in), W (out, in), A (r, in), B (out, r); ctx: the scale.
static Tensor *lora_composite(Graph *g, Tensor **in, void *ctx)
{
    NnLoraLinear l = {.a = in[2], .b = in[3], .w = in[1], .scale = *(float *)ctx};
    Tensor *y = tensor_matmul(g, in[0], tensor_transpose(g, in[1], 0, 1));
    return nn_lora_forward(g, &l, in[0], y, false, NULL);
}

START_TEST(test_lora_layer_gradcheck)
{
    Arena *ar = arena_create(0);
    Rng r;
    rng_init(&r, 21);
    const int64_t shapes[4][2] = {{3, 5}, {4, 5}, {2, 5}, {4, 2}};
    Tensor *in[4];
    for (int i = 0; i < 4; i++) {
        in[i] = tensor_zeros(ar, 2, shapes[i]);
        tensor_fill_normal(in[i], &r, 0.0f, 1.0f);
        tensor_set_requires_grad(in[i], ar);
    }
    float scale = 1.5f;
    GradCheckResult res = gradcheck(lora_composite, &scale, in, 4, NULL);
    ck_assert_msg(res.ok, "%s", res.worst);
    ck_assert_int_eq(res.checked, 15 + 20 + 10 + 8);
    ck_assert_int_eq(res.kinks, 0);
    arena_free(ar);
}
END_TEST

START_TEST(test_lora_dropout_only_in_training)
{
    Arena *ar = arena_create(0);
    Rng r;
    rng_init(&r, 4);
    Tensor *x = tensor_zeros(ar, 2, (int64_t[]){6, 8}), *w = tensor_zeros(ar, 2, (int64_t[]){3, 8});
    Tensor *a = tensor_zeros(ar, 2, (int64_t[]){2, 8}), *b = tensor_zeros(ar, 2, (int64_t[]){3, 2});
    tensor_fill_normal(x, &r, 0, 1), tensor_fill_normal(w, &r, 0, 1);
    tensor_fill_normal(a, &r, 0, 1), tensor_fill_normal(b, &r, 0, 1);
    NnLoraLinear l = {.a = a, .b = b, .w = w, .scale = 1.0f, .dropout = 0.5f};
    NnLoraLinear l0 = l;
    l0.dropout = 0.0f;
    Graph *g = graph_create(0);
    Tensor *y = tensor_matmul(g, x, tensor_transpose(g, w, 0, 1));
    Tensor *eval = nn_lora_forward(g, &l, x, y, false, NULL);
    Tensor *nodrop = nn_lora_forward(g, &l0, x, y, true, &r);
    Tensor *train = nn_lora_forward(g, &l, x, y, true, &r);
    ck_assert(memcmp(eval->data, nodrop->data, 18 * sizeof(float)) == 0);
    ck_assert(memcmp(eval->data, train->data, 18 * sizeof(float)) != 0);
    graph_free(g);
    arena_free(ar);
}
END_TEST

// ---------------------------------------------------------------------------
// Merging
// ---------------------------------------------------------------------------

static void check_merge(TfArch arch, const char *targets, bool rslora)
{
    TfConfig c = tiny(arch);
    TfModel *m = tf_model_create(&c, 13);
    int64_t nw;
    float *w0 = snapshot(m->params, &nw);
    NnLoraConfig lc = {.rank = 4, .alpha = 8.0f, .rslora = rslora, .seed = 2};
    ck_assert_int_eq(nn_lora_targets_parse(targets, &lc.targets), ERR_OK);
    NnLora *set;
    ck_assert_int_eq(nn_lora_create(m->params, &lc, &set), ERR_OK);
    randomize_b(set, 8);
    tf_model_attach_lora(m, set);
    float *unmerged = logits_of(m);
    ck_assert_int_eq(nn_lora_merge(set), ERR_OK);
    float *merged_attached = logits_of(m); // merged adapters are skipped by the forward
    tf_model_detach_lora(m);
    float *merged = logits_of(m);
    int64_t n = n_logits(m);
    ck_assert(check_close(merged, unmerged, n, 1e-5, 0, "merged vs unmerged"));
    ck_assert(check_close(merged_attached, unmerged, n, 1e-5, 0, "merged, attached"));
    // The adapter really moved the logits (else the comparison above proves nothing).
    tf_model_attach_lora(m, set);
    ck_assert_int_eq(nn_lora_unmerge(set), ERR_OK);
    tf_model_detach_lora(m);
    float *base = logits_of(m);
    double moved = 0;
    for (int64_t i = 0; i < n; i++) moved = fmax(moved, fabs(base[i] - unmerged[i]));
    ck_assert_msg(moved > 1e-3, "the adapter moved the logits by %g only", moved);
    // Unmerging restores the weights up to float rounding.
    int64_t nw1;
    float *w1 = snapshot(m->params, &nw1);
    ck_assert_int_eq(nw, nw1);
    ck_assert(check_close(w1, w0, nw, 1e-6, 0, "weights after unmerge"));
    free(w0), free(w1), free(unmerged), free(merged_attached), free(merged), free(base);
    nn_lora_free(set);
    tf_model_free(m);
}

START_TEST(test_lora_merge_matches_unmerged)
{
    check_merge(TF_LLAMA, "all", false);
    check_merge(TF_LLAMA, "q,v", true);
    check_merge(TF_GPT2, "q,k,v,o,up,down", false);
}
END_TEST

START_TEST(test_lora_merge_twice_refused)
{
    TfConfig c = tiny(TF_LLAMA);
    TfModel *m = tf_model_create(&c, 3);
    NnLora *set = make_set(m, "q,up", 2, 1);
    randomize_b(set, 2);
    test_expect_err(nn_lora_unmerge(set), ERR_INVALID,
                    (const char *const[]){"not merged", "blk.0.attn_q", NULL});
    ck_assert_int_eq(nn_lora_merge(set), ERR_OK);
    int64_t n;
    float *once = snapshot(m->params, &n);
    test_expect_err(nn_lora_merge(set), ERR_INVALID,
                    (const char *const[]){"already merged", "hint", NULL});
    // One layer alone is refused too.
    test_expect_err(nn_lora_linear_merge(nn_lora_site(set, 1, NN_LORA_UP)), ERR_INVALID,
                    (const char *const[]){"already merged", NULL});
    float *after = snapshot(m->params, &n);
    ck_assert_msg(memcmp(once, after, (size_t)n * sizeof(float)) == 0,
                  "a refused merge changed the weights");
    // All or nothing: with one site unmerged by hand, the set's merge is refused and the
    // already-merged sites are not merged again.
    ck_assert_int_eq(nn_lora_linear_unmerge(nn_lora_site(set, 0, NN_LORA_Q)), ERR_OK);
    float *partial = snapshot(m->params, &n);
    ck_assert_int_eq(nn_lora_merge(set), ERR_INVALID);
    free(after);
    after = snapshot(m->params, &n);
    ck_assert(memcmp(partial, after, (size_t)n * sizeof(float)) == 0);
    free(once), free(after), free(partial);
    nn_lora_free(set);
    tf_model_free(m);
}
END_TEST

// ---------------------------------------------------------------------------
// Training touches the adapters only
// ---------------------------------------------------------------------------

START_TEST(test_lora_training_changes_adapters_only)
{
    TfConfig c = tiny(TF_LLAMA);
    TfModel *m = tf_model_create(&c, 17);
    NnLora *set = make_set(m, "all", 2, 6);
    tf_model_attach_lora(m, set);
    NnParams *ap = nn_lora_params(set);
    int64_t nb, na;
    float *base0 = snapshot(m->params, &nb), *ad0 = snapshot(ap, &na);
    NnOptimConfig oc = nn_optim_defaults(NN_OPTIM_ADAMW, 1e-2f);
    NnOptimizer *opt = nn_optim_create(&oc), *opt_base = nn_optim_create(&oc);
    int32_t ids[BATCH * (SEQ + 1)];
    for (int i = 0; i < BATCH * (SEQ + 1); i++) ids[i] = (int32_t)((5 * i + 1) % c.vocab);
    Graph *g = graph_create(0);
    float loss0 = 0, loss = 0;
    for (int step = 0; step < 5; step++) {
        Tensor *tok = tensor_from_i32(graph_arena(g), 2, (int64_t[]){BATCH, SEQ}, ids);
        Tensor *tgt = tensor_from_i32(graph_arena(g), 2, (int64_t[]){BATCH, SEQ}, ids + 1);
        Tensor *l = tf_model_loss(g, m, tok, tgt, true, NULL);
        loss = tensor_item(l);
        if (step == 0) loss0 = loss;
        graph_backward(g, l);
        // No gradient reached a frozen base weight.
        for (int i = 0; i < nn_params_count(m->params); i++) {
            const Tensor *t = nn_params_at(m->params, i)->t;
            for (int64_t j = 0; t->grad && j < tensor_numel(t); j++) ck_assert(t->grad[j] == 0);
        }
        nn_optim_step(opt, ap);
        nn_optim_step(opt_base, m->params); // every entry frozen: must do nothing
        nn_params_zero_grad(ap);
        graph_reset(g);
    }
    ck_assert_msg(loss < loss0, "loss %g -> %g", loss0, loss);
    float *base1 = snapshot(m->params, &nb), *ad1 = snapshot(ap, &na);
    ck_assert_msg(memcmp(base0, base1, (size_t)nb * sizeof(float)) == 0,
                  "a base weight changed");
    // Every adapter tensor moved, and has optimizer state; no base entry has any.
    int64_t state_bytes = 0, off = 0;
    for (int i = 0; i < nn_params_count(ap); i++) {
        const Tensor *t = nn_params_at(ap, i)->t;
        int64_t k = tensor_numel(t);
        ck_assert_msg(memcmp(ad0 + off, ad1 + off, (size_t)k * sizeof(float)) != 0,
                      "adapter %s did not move", nn_params_at(ap, i)->name);
        off += k;
        int64_t st;
        const float *mm, *vv;
        ck_assert(nn_optim_state_get(opt, i, &st, &mm, &vv));
        ck_assert_int_eq(st, 5);
        state_bytes += (mm ? k : 0) * 4 + (vv ? k : 0) * 4;
    }
    ck_assert_int_eq(state_bytes, nn_lora_count(set).adam_state_bytes);
    for (int i = 0; i < nn_params_count(m->params); i++) {
        int64_t st;
        const float *mm, *vv;
        ck_assert(!nn_optim_state_get(opt_base, i, &st, &mm, &vv));
    }
    free(base0), free(base1), free(ad0), free(ad1);
    graph_free(g);
    nn_optim_free(opt);
    nn_optim_free(opt_base);
    tf_model_detach_lora(m);
    nn_lora_free(set);
    tf_model_free(m);
}
END_TEST

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

START_TEST(test_lora_save_load_round_trip)
{
    TfConfig c = tiny(TF_LLAMA);
    TfModel *m = tf_model_create(&c, 23);
    NnLoraConfig lc = {.targets = NN_LORA_BIT(NN_LORA_K) | NN_LORA_BIT(NN_LORA_GATE), .rank = 3,
                       .alpha = 5.5f, .rslora = true, .dropout = 0.125f, .seed = 4};
    NnLora *set;
    ck_assert_int_eq(nn_lora_create(m->params, &lc, &set), ERR_OK);
    randomize_b(set, 5);
    tf_model_attach_lora(m, set);
    float *want = logits_of(m);
    tf_model_detach_lora(m);
    const char *path = test_tmp_path("adapter.safetensors");
    ck_assert_msg(nn_lora_save(set, path) == ERR_OK, "%s", err_msg());
    StFile *f;
    ck_assert_int_eq(st_open(path, &f), ERR_OK);
    ck_assert_str_eq(st_meta(f, "targets"), "k,gate");
    ck_assert_str_eq(st_meta(f, "base_shapes"), "k=8x16,gate=24x16");
    ck_assert_int_eq(st_count(f), 2 * 2 * 2);
    st_close(f);
    NnLora *back;
    ck_assert_msg(nn_lora_load(m->params, path, &back) == ERR_OK, "%s", err_msg());
    const NnLoraConfig *bc = nn_lora_config(back);
    ck_assert_uint_eq(bc->targets, lc.targets);
    ck_assert_int_eq(bc->rank, 3);
    ck_assert(bc->alpha == lc.alpha && bc->rslora && bc->dropout == lc.dropout);
    NnParams *p0 = nn_lora_params(set), *p1 = nn_lora_params(back);
    ck_assert_int_eq(nn_params_count(p0), nn_params_count(p1));
    for (int i = 0; i < nn_params_count(p0); i++) {
        const NnParam *e0 = nn_params_at(p0, i), *e1 = nn_params_at(p1, i);
        ck_assert_str_eq(e0->name, e1->name);
        ck_assert(memcmp(e0->t->data, e1->t->data,
                         (size_t)tensor_numel(e0->t) * sizeof(float)) == 0);
        ck_assert(e1->trainable);
    }
    ck_assert_float_eq(nn_lora_site(back, 1, NN_LORA_GATE)->scale,
                       nn_lora_site(set, 1, NN_LORA_GATE)->scale);
    tf_model_attach_lora(m, back);
    float *got = logits_of(m);
    ck_assert(memcmp(want, got, (size_t)n_logits(m) * sizeof(float)) == 0);
    tf_model_detach_lora(m);
    free(want), free(got);
    nn_lora_free(set);
    nn_lora_free(back);
    tf_model_free(m);
}
END_TEST

START_TEST(test_lora_load_rejects_other_models)
{
    TfConfig c = tiny(TF_LLAMA);
    TfModel *m = tf_model_create(&c, 1);
    NnLora *set = make_set(m, "q,gate", 2, 1);
    const char *path = test_tmp_path("a.safetensors");
    ck_assert_int_eq(nn_lora_save(set, path), ERR_OK);
    NnLora *out = (NnLora *)1;

    TfConfig wide = c;
    wide.d_model = 32, wide.d_ff = 48;
    TfModel *mw = tf_model_create(&wide, 1);
    test_expect_err(nn_lora_load(mw->params, path, &out), ERR_SHAPE,
                    (const char *const[]){"a.safetensors", "base_shapes", "q=32x32", NULL});
    ck_assert_ptr_null(out);
    // A failed load leaves the model trainable.
    ck_assert_int_eq(nn_params_numel(mw->params, true), nn_params_numel(mw->params, false));

    TfConfig deep = c;
    deep.n_layer = 3;
    TfModel *md = tf_model_create(&deep, 1);
    test_expect_err(nn_lora_load(md->params, path, &out), ERR_SHAPE,
                    (const char *const[]){"a.safetensors", "2 layers", "has 3", NULL});

    TfConfig gc = tiny(TF_GPT2);
    TfModel *mg = tf_model_create(&gc, 1);
    test_expect_err(nn_lora_load(mg->params, path, &out), ERR_NOTFOUND,
                    (const char *const[]){"a.safetensors", "ffn_gate", NULL});

    // Not an adapter file at all: a model checkpoint.
    const char *mpath = test_tmp_path("model.safetensors");
    ck_assert_int_eq(tf_model_save(m, mpath), ERR_OK);
    test_expect_err(nn_lora_load(m->params, mpath, &out), ERR_FORMAT,
                    (const char *const[]){"model.safetensors", "format", "hint", NULL});

    // Right metadata, a tensor missing: written by hand with one entry dropped.
    NnParams *ap = nn_lora_params(set);
    int n = nn_params_count(ap);
    StEntry e[16];
    for (int i = 0; i < n - 1; i++)
        e[i] = (StEntry){nn_params_at(ap, i)->name, nn_params_at(ap, i)->t};
    StFile *f;
    ck_assert_int_eq(st_open(path, &f), ERR_OK);
    const char *kv[2 * 16];
    int nm = st_meta_count(f);
    ck_assert_int_le(nm, 16);
    for (int i = 0; i < nm; i++) {
        kv[2 * i] = st_meta_key(f, i);
        kv[2 * i + 1] = st_meta(f, kv[2 * i]);
    }
    const char *cut = test_tmp_path("cut.safetensors");
    ck_assert_int_eq(st_save(cut, e, n - 1, kv, nm), ERR_OK);
    st_close(f);
    test_expect_err(nn_lora_load(m->params, cut, &out), ERR_NOTFOUND,
                    (const char *const[]){"cut.safetensors", "blk.1.ffn_gate.lora_b", NULL});
    tf_model_free(mw);
    tf_model_free(md);
    tf_model_free(mg);
    nn_lora_free(set);
    tf_model_free(m);
}
END_TEST

static Suite *lora_suite(void)
{
    Suite *s = suite_create("nn_lora");
    TCase *tc = tcase_create("lora");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_lora_fresh_adapter_is_bit_identical);
    tcase_add_test(tc, test_lora_init_names_and_counts);
    tcase_add_test(tc, test_lora_targets_parse);
    tcase_add_test(tc, test_lora_create_rejects_bad_config);
    tcase_add_test(tc, test_lora_layer_matches_torch);
    tcase_add_test(tc, test_lora_layer_gradcheck);
    tcase_add_test(tc, test_lora_dropout_only_in_training);
    tcase_add_test(tc, test_lora_merge_matches_unmerged);
    tcase_add_test(tc, test_lora_merge_twice_refused);
    tcase_add_test(tc, test_lora_training_changes_adapters_only);
    tcase_add_test(tc, test_lora_save_load_round_trip);
    tcase_add_test(tc, test_lora_load_rejects_other_models);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(lora_suite()); }
