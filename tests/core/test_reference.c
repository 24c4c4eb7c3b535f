/*
 * test_reference.c: every tensor op against PyTorch, forward and backward.
 *
 * tests/gen_fixtures.py runs each case below in PyTorch and stores, in
 * tests/fixtures/ops.safetensors, the inputs "<case>.in<i>", the output "<case>.out", a random
 * upstream gradient "<case>.dout" and the input gradients "<case>.din<i>" (autograd.grad of out
 * with dout). For each case this test loads the inputs, marks the differentiable ones as
 * trainable leaves, runs the same op in a Graph, compares the output, back-propagates dout with
 * graph_backward_with and compares every input's gradient. docs/fixtures.md says how to
 * regenerate the file.
 *
 * The table of cases mirrors the Python list. Each entry holds the case's metadata string
 * ("op=softmax dim=-1"): the op and its parameters are read from the C string, and the test
 * checks that the file stores exactly the same string under the case's name, so the two sides
 * cannot drift apart silently. A case in the file that the table lacks (or the reverse) fails
 * test_reference_file. A missing fixture file fails every test: it is never skipped.
 *
 * One Check test per family. A failing test names each disagreeing case and check_close prints
 * the first differing elements. To look at one case in gdb:
 *     CK_FORK=no CK_RUN_CASE=matmul REF_CASE=mm_wt gdb --args build/debug/tests/core/test_reference
 * REF_VERBOSE=1 prints each case's name before it runs (to find the case behind a CHECK abort).
 */
#include "core/safetensors.h"
#include "core/tensor.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Tolerances: |engine - reference| <= atol + rtol * |reference|, per family
// ---------------------------------------------------------------------------
//
// The references are computed in float64 from the float32 inputs and rounded to float32, so
// they are the correctly rounded answers; the tolerance only has to absorb the engine's own
// float32 rounding. Inputs are O(1) (standard normal, or chosen ranges), so absolute errors are
// O(eps) = 6e-8 per operation.
//   - elementwise, broadcast, movement, edge: a handful of float32 operations and a libm call
//     (expf, tanhf, logf: within a few ulp). 1e-5 / 1e-4 is ~100 ulp of headroom and still
//     catches any wrong formula (a wrong derivative is off by O(1)).
//   - reduction, softmax, loss, embedding: sums over at most ~8 terms, error <= K eps sum|x|;
//     the same 1e-5 / 1e-4 holds. The +-1000 logits cases have outputs up to ~2000, covered
//     by rtol (1e-4 * 2000 = 0.2, float32 ulp there is 1.2e-4).
//   - matmul: a dot product of K terms accumulates K roundings of products up to |a||b| ~ 3;
//     with K <= 6 and BLAS's blocked order, about K * eps * sum|a_k b_k| ~ 5e-6. 5e-5 atol.
//   - norm: 1/sqrt(var + eps) multiplies the error of (x - mean); layernorm_offset (mean 100)
//     leaves ~1e-5 there even with a careful two-pass variance, so atol 1e-4. A one-pass
//     E[x^2] - E[x]^2 loses ~1e-3 and fails, as it should.
//   - composite: the MLP and attention chain 6-10 ops with K up to 8, and the errors of each
//     step feed the next: 2e-4 / 1e-3.
// gen_fixtures.py runs every case in torch float32 too and warns when torch itself would not
// meet these numbers: all cases pass except layernorm_c1, see the note there.

typedef struct {
    double atol, rtol;
} Tol;

static const Tol TOL_ELEMENTWISE = {1e-5, 1e-4};
static const Tol TOL_REDUCTION = {1e-5, 1e-4};
static const Tol TOL_MATMUL = {5e-5, 1e-4};
static const Tol TOL_NORM = {1e-4, 1e-4};
static const Tol TOL_COMPOSITE = {2e-4, 1e-3};

// ---------------------------------------------------------------------------
// The cases (the same names, order and metadata strings as build_cases() in gen_fixtures.py)
// ---------------------------------------------------------------------------

// inputs: one letter per stored input: d = float32, differentiable (its gradient is
// compared); c = float32 constant (mask, condition); i = int32 (targets, ids).
typedef struct {
    const char *name;
    const char *meta;
    const char *inputs;
} RefCase;

typedef struct {
    const char *name;
    const RefCase *cases;
    int n;
    Tol tol;
} Family;

static const RefCase CASES_ELEMENTWISE[] = {
    {"neg", "op=neg", "d"},
    {"exp", "op=exp", "d"},
    {"log", "op=log", "d"},
    {"sqrt", "op=sqrt", "d"},
    {"pow_2", "op=pow p=2.0", "d"},
    {"pow_3", "op=pow p=3.0", "d"},
    {"pow_half", "op=pow p=0.5", "d"},
    {"pow_neg", "op=pow p=-1.5", "d"},
    {"tanh", "op=tanh", "d"},
    {"sigmoid", "op=sigmoid", "d"},
    {"relu", "op=relu", "d"},
    {"gelu", "op=gelu", "d"},
    {"silu", "op=silu", "d"},
    {"add_scalar", "op=add_scalar s=1.5", "d"},
    {"mul_scalar", "op=mul_scalar s=-0.75", "d"},
    {"add", "op=add", "dd"},
    {"sub", "op=sub", "dd"},
    {"mul", "op=mul", "dd"},
    {"div", "op=div", "dd"},
    {"mul_same", "op=mul_same", "d"},
    {"exp_4d", "op=exp", "d"},
};

static const RefCase CASES_BROADCAST[] = {
    {"add_row", "op=add", "dd"},
    {"mul_mid", "op=mul", "dd"},
    {"add_one", "op=add", "dd"},
    {"sub_scalar", "op=sub", "dd"},
    {"div_by_tensor", "op=div", "dd"},
    {"mul_outer", "op=mul", "dd"},
    {"div_col", "op=div", "dd"},
    {"add_4d", "op=add", "dd"},
    {"sub_0d", "op=sub", "dd"},
    {"mul_size1", "op=mul", "dd"},
    {"masked_fill", "op=masked_fill value=-2.5", "dc"},
    {"masked_fill_neginf", "op=masked_fill value=-inf", "dc"},
    {"masked_fill_row", "op=masked_fill value=7.0", "dc"},
    {"where", "op=where", "cdd"},
    {"where_bcast", "op=where", "cdd"},
    {"where_scalar", "op=where", "cdd"},
};

static const RefCase CASES_REDUCTION[] = {
    {"sum_d0", "op=sum dim=0 keepdim=0", "d"},
    {"sum_d1_keep", "op=sum dim=1 keepdim=1", "d"},
    {"sum_last", "op=sum dim=-1 keepdim=0", "d"},
    {"sum_neg2_keep", "op=sum dim=-2 keepdim=1", "d"},
    {"sum_4d", "op=sum dim=2 keepdim=0", "d"},
    {"mean_d1", "op=mean dim=1 keepdim=0", "d"},
    {"mean_last_keep", "op=mean dim=-1 keepdim=1", "d"},
    {"mean_d0", "op=mean dim=0 keepdim=0", "d"},
    {"max_d0", "op=max dim=0 keepdim=0", "d"},
    {"max_last", "op=max dim=-1 keepdim=0", "d"},
    {"max_d1_keep", "op=max dim=1 keepdim=1", "d"},
    {"sum_all", "op=sum_all", "d"},
    {"mean_all", "op=mean_all", "d"},
};

static const RefCase CASES_MOVEMENT[] = {
    {"reshape", "op=reshape_mul shape=3,4", "dd"},
    {"reshape_infer", "op=reshape_mul shape=-1,4", "dd"},
    {"reshape_noncontig", "op=transpose_reshape_mul d0=0 d1=1 shape=2,6", "dd"},
    {"transpose", "op=transpose_mul d0=0 d1=2", "dd"},
    {"transpose_neg", "op=transpose_mul d0=-1 d1=-2", "dd"},
    {"transpose_exp", "op=transpose_exp d0=0 d1=1", "d"},
    {"transpose_sum", "op=transpose_sum d0=0 d1=1 dim=1", "d"},
    {"permute", "op=permute_mul perm=2,0,1", "dd"},
    {"permute_4d", "op=permute_mul perm=0,2,3,1", "dd"},
    {"slice", "op=slice_mul dim=1 start=1 end=4", "dd"},
    {"slice_neg_dim", "op=slice_mul dim=-2 start=1 end=3", "dd"},
    {"split_equal", "op=split dim=1 sizes=3,3 mode=0", "d"},
    {"split_uneven", "op=split dim=0 sizes=2,1,3 mode=1", "d"},
    {"concat_d0", "op=concat dim=0", "ddd"},
    {"concat_last", "op=concat dim=-1", "dd"},
    {"concat_mid", "op=concat dim=1", "dd"},
    {"contiguous", "op=contiguous_mul d0=0 d1=1", "dd"},
    {"detach", "op=detach_mul", "d"},
};

static const RefCase CASES_MATMUL[] = {
    {"mm_2d", "op=matmul ta=0 tb=0", "dd"},
    {"mm_wt", "op=matmul ta=0 tb=1", "dd"},
    {"mm_at", "op=matmul ta=1 tb=0", "dd"},
    {"mm_both_t", "op=matmul ta=1 tb=1", "dd"},
    {"mm_row_col", "op=matmul ta=0 tb=0", "dd"},
    {"bmm_3d", "op=matmul ta=0 tb=0", "dd"},
    {"bmm_4d", "op=matmul ta=0 tb=0", "dd"},
    {"bmm_3d_2d", "op=matmul ta=0 tb=0", "dd"},
    {"bmm_3d_wt", "op=matmul ta=0 tb=1", "dd"},
    {"bmm_kt", "op=matmul ta=0 tb=1", "dd"},
    {"bmm_bcast", "op=matmul ta=0 tb=0", "dd"},
    {"mm_slice", "op=matmul_slice dim=1 start=1 end=5", "dd"},
};

static const RefCase CASES_SOFTMAX[] = {
    {"softmax_last", "op=softmax dim=-1", "d"},
    {"softmax_d0", "op=softmax dim=0", "d"},
    {"softmax_mid", "op=softmax dim=1", "d"},
    {"log_softmax_last", "op=log_softmax dim=-1", "d"},
    {"log_softmax_d0", "op=log_softmax dim=0", "d"},
    {"log_softmax_mid", "op=log_softmax dim=-2", "d"},
};

static const RefCase CASES_LOSS[] = {
    {"ce_basic", "op=cross_entropy ignore=-1", "di"},
    {"ce_ignore", "op=cross_entropy ignore=-100", "di"},
    {"ce_ignore_class", "op=cross_entropy ignore=2", "di"},
};

static const RefCase CASES_EMBEDDING[] = {
    {"embedding_1d", "op=embedding", "di"},
    {"embedding_2d", "op=embedding", "di"},
};

static const RefCase CASES_NORM[] = {
    {"layernorm_wb", "op=layernorm eps=1e-05 w=1 b=1", "ddd"},
    {"layernorm_plain", "op=layernorm eps=1e-05 w=0 b=0", "d"},
    {"layernorm_w", "op=layernorm eps=1e-05 w=1 b=0", "dd"},
    {"layernorm_eps", "op=layernorm eps=0.1 w=1 b=1", "ddd"},
    {"layernorm_offset", "op=layernorm eps=1e-05 w=1 b=1", "ddd"},
    {"rmsnorm_w", "op=rmsnorm eps=1e-06 w=1", "dd"},
    {"rmsnorm_plain", "op=rmsnorm eps=1e-05 w=0", "d"},
    {"rmsnorm_eps", "op=rmsnorm eps=0.1 w=1", "dd"},
};

static const RefCase CASES_COMPOSITE[] = {
    {"mlp", "op=mlp ignore=-100", "dddddi"},
    {"attention_1h", "op=attention heads=1 fill=-inf", "dddddc"},
    {"attention_2h", "op=attention heads=2 fill=-1000000000.0", "dddddc"},
};

static const RefCase CASES_FUSED[] = {
    {"sdpa_causal", "op=sdpa causal=1 btHd=0", "ddd"},
    {"sdpa_full", "op=sdpa causal=0 btHd=0", "ddd"},
    {"sdpa_gqa", "op=sdpa causal=1 btHd=0", "ddd"},
    {"sdpa_btHd", "op=sdpa causal=1 btHd=1", "ddd"},
    {"rope_base", "op=rope pos0=0 base=10000.0", "d"},
    {"rope_pos0", "op=rope pos0=17 base=500.0", "d"},
};

static const RefCase CASES_EDGE[] = {
    {"softmax_pm1000", "op=softmax dim=-1", "d"},
    {"log_softmax_pm1000", "op=log_softmax dim=-1", "d"},
    {"ce_pm1000", "op=cross_entropy ignore=-1", "di"},
    {"ce_all_ignored", "op=cross_entropy ignore=-100", "di"},
    {"softmax_size1", "op=softmax dim=-1", "d"},
    {"layernorm_c1", "op=layernorm eps=1e-05 w=1 b=1", "ddd"},
    {"sum_size1", "op=sum dim=1 keepdim=0", "d"},
    {"max_size1", "op=max dim=0 keepdim=1", "d"},
    {"exp_0d", "op=exp", "d"},
    {"mm_1x1", "op=matmul ta=0 tb=0", "dd"},
    {"empty_neg", "op=neg", "d"},
    {"empty_add", "op=add", "dd"},
    {"empty_sum_d0", "op=sum dim=0 keepdim=0", "d"},
    {"empty_sum_d1", "op=sum dim=1 keepdim=0", "d"},
    {"empty_mm_m0", "op=matmul ta=0 tb=0", "dd"},
    {"empty_mm_k0", "op=matmul ta=0 tb=0", "dd"},
    {"empty_concat", "op=concat dim=0", "dd"},
    {"empty_softmax", "op=softmax dim=-1", "d"},
};

#define FAMILY(label, arr, tol) {label, arr, (int)(sizeof arr / sizeof arr[0]), tol}

enum {
    FAM_ELEMENTWISE,
    FAM_BROADCAST,
    FAM_REDUCTION,
    FAM_MOVEMENT,
    FAM_MATMUL,
    FAM_SOFTMAX,
    FAM_LOSS,
    FAM_EMBEDDING,
    FAM_NORM,
    FAM_COMPOSITE,
    FAM_FUSED,
    FAM_EDGE,
    FAM_COUNT
};

static const Family FAMILIES[FAM_COUNT] = {
    [FAM_ELEMENTWISE] = FAMILY("elementwise", CASES_ELEMENTWISE, TOL_ELEMENTWISE),
    [FAM_BROADCAST] = FAMILY("broadcast", CASES_BROADCAST, TOL_ELEMENTWISE),
    [FAM_REDUCTION] = FAMILY("reduction", CASES_REDUCTION, TOL_REDUCTION),
    [FAM_MOVEMENT] = FAMILY("movement", CASES_MOVEMENT, TOL_ELEMENTWISE),
    [FAM_MATMUL] = FAMILY("matmul", CASES_MATMUL, TOL_MATMUL),
    [FAM_SOFTMAX] = FAMILY("softmax", CASES_SOFTMAX, TOL_REDUCTION),
    [FAM_LOSS] = FAMILY("loss", CASES_LOSS, TOL_REDUCTION),
    [FAM_EMBEDDING] = FAMILY("embedding", CASES_EMBEDDING, TOL_REDUCTION),
    [FAM_NORM] = FAMILY("norm", CASES_NORM, TOL_NORM),
    [FAM_COMPOSITE] = FAMILY("composite", CASES_COMPOSITE, TOL_COMPOSITE),
    [FAM_FUSED] = FAMILY("fused", CASES_FUSED, TOL_MATMUL),
    [FAM_EDGE] = FAMILY("edge", CASES_EDGE, TOL_ELEMENTWISE),
};

#define MAX_INPUTS 8
#define FIXTURE_FILE "ops.safetensors"
#define FIXTURE_VERSION "1"

// ---------------------------------------------------------------------------
// Reading parameters from a case's metadata string ("op=pow p=0.5")
// ---------------------------------------------------------------------------

// The value after " key=" (or "key=" at the start). A key the case lacks is a bug in the table.
static const char *meta_value(const RefCase *c, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = c->meta; (p = strstr(p, key)) != NULL; p += n) {
        if ((p == c->meta || p[-1] == ' ') && p[n] == '=') return p + n + 1;
    }
    CHECK(0, "case %s: no parameter '%s' in \"%s\"", c->name, key, c->meta);
    return NULL;
}

static bool meta_is_op(const RefCase *c, const char *op)
{
    size_t n = strlen(op);
    return strncmp(c->meta, "op=", 3) == 0 && strncmp(c->meta + 3, op, n) == 0 &&
           (c->meta[3 + n] == ' ' || c->meta[3 + n] == '\0');
}

static int meta_int(const RefCase *c, const char *key)
{
    return (int)strtol(meta_value(c, key), NULL, 10);
}

// strtof reads "1e-05", "-inf" and "-1000000000.0" (Python's repr) exactly as Python wrote them.
static float meta_float(const RefCase *c, const char *key)
{
    return strtof(meta_value(c, key), NULL);
}

// A comma-separated list ("2,0,1"); returns its length.
static int meta_ints(const RefCase *c, const char *key, int64_t *out, int max)
{
    const char *p = meta_value(c, key);
    int n = 0;
    for (;;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        CHECK(end != p && n < max, "case %s: bad list for '%s'", c->name, key);
        out[n++] = v;
        if (*end != ',') break;
        p = end + 1;
    }
    return n;
}

// ---------------------------------------------------------------------------
// Running the engine's op for a case (mirrors OPS in gen_fixtures.py)
// ---------------------------------------------------------------------------

static Tensor *run_attention(Graph *g, const RefCase *c, Tensor **in)
{
    Tensor *x = in[0]; // (B, T, C)
    Tensor *mask = in[5]; // (T, T), 1 above the diagonal
    int64_t B = x->shape[0], T = x->shape[1], C = x->shape[2];
    int64_t H = meta_int(c, "heads"), D = C / H;
    Tensor *q = tensor_matmul(g, x, tensor_transpose(g, in[1], 0, 1)); // (B, T, C)
    Tensor *k = tensor_matmul(g, x, tensor_transpose(g, in[2], 0, 1));
    Tensor *v = tensor_matmul(g, x, tensor_transpose(g, in[3], 0, 1));
    if (H > 1) { // (B, T, C) -> (B, T, H, D) -> (B, H, T, D)
        const int64_t split[4] = {B, T, H, D};
        q = tensor_transpose(g, tensor_reshape(g, q, 4, split), 1, 2);
        k = tensor_transpose(g, tensor_reshape(g, k, 4, split), 1, 2);
        v = tensor_transpose(g, tensor_reshape(g, v, 4, split), 1, 2);
    }
    Tensor *s = tensor_matmul(g, q, tensor_transpose(g, k, -2, -1)); // (B, [H,] T, T)
    s = tensor_mul_scalar(g, s, 1.0f / sqrtf((float)D));
    s = tensor_masked_fill(g, s, mask, meta_float(c, "fill"));
    Tensor *y = tensor_matmul(g, tensor_softmax(g, s, -1), v); // (B, [H,] T, D)
    if (H > 1) { // (B, H, T, D) -> (B, T, H, D) -> (B, T, C)
        const int64_t merged[3] = {B, T, C};
        y = tensor_reshape(g, tensor_contiguous(g, tensor_transpose(g, y, 1, 2)), 3, merged);
    }
    return tensor_matmul(g, y, tensor_transpose(g, in[4], 0, 1));
}

static Tensor *run_mlp(Graph *g, const RefCase *c, Tensor **in)
{
    // x (N, Din), W1 (H, Din), b1 (H,), W2 (K, H), b2 (K,), targets (N,)
    Tensor *h = tensor_add(g, tensor_matmul(g, in[0], tensor_transpose(g, in[1], 0, 1)), in[2]);
    h = tensor_gelu(g, h);
    Tensor *logits =
        tensor_add(g, tensor_matmul(g, h, tensor_transpose(g, in[3], 0, 1)), in[4]);
    return tensor_cross_entropy(g, logits, in[5], meta_int(c, "ignore"));
}

static Tensor *run_split(Graph *g, const RefCase *c, Tensor **in)
{
    int64_t sizes[TENSOR_MAX_DIMS];
    int n = meta_ints(c, "sizes", sizes, TENSOR_MAX_DIMS);
    int dim = meta_int(c, "dim");
    Tensor *parts[TENSOR_MAX_DIMS];
    tensor_split(g, in[0], dim, n, sizes, parts);
    if (meta_int(c, "mode") == 0) return tensor_mul(g, parts[0], parts[1]);
    // the last part, through tanh, moved to the front
    Tensor *order[TENSOR_MAX_DIMS];
    order[0] = tensor_tanh(g, parts[n - 1]);
    for (int i = 0; i + 1 < n; i++) order[i + 1] = parts[i];
    return tensor_concat(g, order, n, dim);
}

static Tensor *run_norm(Graph *g, const RefCase *c, Tensor **in, bool layernorm)
{
    int k = 1;
    Tensor *w = meta_int(c, "w") ? in[k++] : NULL;
    float eps = meta_float(c, "eps");
    if (!layernorm) return tensor_rmsnorm(g, in[0], w, eps);
    Tensor *b = meta_int(c, "b") ? in[k++] : NULL;
    return tensor_layernorm(g, in[0], w, b, eps);
}

static Tensor *run_op(Graph *g, const RefCase *c, Tensor **in, int n_in)
{
    Tensor *x = in[0];
    // unary
    if (meta_is_op(c, "neg")) return tensor_neg(g, x);
    if (meta_is_op(c, "exp")) return tensor_exp(g, x);
    if (meta_is_op(c, "log")) return tensor_log(g, x);
    if (meta_is_op(c, "sqrt")) return tensor_sqrt(g, x);
    if (meta_is_op(c, "pow")) return tensor_pow(g, x, meta_float(c, "p"));
    if (meta_is_op(c, "tanh")) return tensor_tanh(g, x);
    if (meta_is_op(c, "sigmoid")) return tensor_sigmoid(g, x);
    if (meta_is_op(c, "relu")) return tensor_relu(g, x);
    if (meta_is_op(c, "gelu")) return tensor_gelu(g, x);
    if (meta_is_op(c, "silu")) return tensor_silu(g, x);
    if (meta_is_op(c, "add_scalar")) return tensor_add_scalar(g, x, meta_float(c, "s"));
    if (meta_is_op(c, "mul_scalar")) return tensor_mul_scalar(g, x, meta_float(c, "s"));
    // binary
    if (meta_is_op(c, "add")) return tensor_add(g, x, in[1]);
    if (meta_is_op(c, "sub")) return tensor_sub(g, x, in[1]);
    if (meta_is_op(c, "mul")) return tensor_mul(g, x, in[1]);
    if (meta_is_op(c, "div")) return tensor_div(g, x, in[1]);
    if (meta_is_op(c, "mul_same")) return tensor_mul(g, x, x);
    if (meta_is_op(c, "masked_fill"))
        return tensor_masked_fill(g, x, in[1], meta_float(c, "value"));
    if (meta_is_op(c, "where")) return tensor_where(g, x, in[1], in[2]);
    // reductions
    if (meta_is_op(c, "sum")) return tensor_sum(g, x, meta_int(c, "dim"), meta_int(c, "keepdim"));
    if (meta_is_op(c, "mean"))
        return tensor_mean(g, x, meta_int(c, "dim"), meta_int(c, "keepdim"));
    if (meta_is_op(c, "max")) return tensor_max(g, x, meta_int(c, "dim"), meta_int(c, "keepdim"));
    if (meta_is_op(c, "sum_all")) return tensor_sum_all(g, x);
    if (meta_is_op(c, "mean_all")) return tensor_mean_all(g, x);
    // movement, each followed by an op so the gradient has to pass through the view
    if (meta_is_op(c, "reshape_mul")) {
        int64_t shape[TENSOR_MAX_DIMS];
        int nd = meta_ints(c, "shape", shape, TENSOR_MAX_DIMS);
        return tensor_mul(g, tensor_reshape(g, x, nd, shape), in[1]);
    }
    if (meta_is_op(c, "transpose_reshape_mul")) {
        int64_t shape[TENSOR_MAX_DIMS];
        int nd = meta_ints(c, "shape", shape, TENSOR_MAX_DIMS);
        Tensor *t = tensor_transpose(g, x, meta_int(c, "d0"), meta_int(c, "d1"));
        return tensor_mul(g, tensor_reshape(g, t, nd, shape), in[1]);
    }
    if (meta_is_op(c, "transpose_mul"))
        return tensor_mul(g, tensor_transpose(g, x, meta_int(c, "d0"), meta_int(c, "d1")), in[1]);
    if (meta_is_op(c, "transpose_exp"))
        return tensor_exp(g, tensor_transpose(g, x, meta_int(c, "d0"), meta_int(c, "d1")));
    if (meta_is_op(c, "transpose_sum")) {
        Tensor *t = tensor_transpose(g, x, meta_int(c, "d0"), meta_int(c, "d1"));
        return tensor_sum(g, t, meta_int(c, "dim"), false);
    }
    if (meta_is_op(c, "permute_mul")) {
        int64_t p64[TENSOR_MAX_DIMS];
        int perm[TENSOR_MAX_DIMS];
        int nd = meta_ints(c, "perm", p64, TENSOR_MAX_DIMS);
        for (int i = 0; i < nd; i++) perm[i] = (int)p64[i];
        return tensor_mul(g, tensor_permute(g, x, perm), in[1]);
    }
    if (meta_is_op(c, "slice_mul")) {
        Tensor *t = tensor_slice(g, x, meta_int(c, "dim"), meta_int(c, "start"),
                                 meta_int(c, "end"));
        return tensor_mul(g, t, in[1]);
    }
    if (meta_is_op(c, "split")) return run_split(g, c, in);
    if (meta_is_op(c, "concat")) return tensor_concat(g, in, n_in, meta_int(c, "dim"));
    if (meta_is_op(c, "contiguous_mul")) {
        Tensor *t = tensor_transpose(g, x, meta_int(c, "d0"), meta_int(c, "d1"));
        return tensor_mul(g, tensor_contiguous(g, t), in[1]);
    }
    if (meta_is_op(c, "detach_mul")) return tensor_mul(g, x, tensor_detach(g, x));
    // matrix products
    if (meta_is_op(c, "matmul")) {
        Tensor *a = meta_int(c, "ta") ? tensor_transpose(g, x, -2, -1) : x;
        Tensor *b = meta_int(c, "tb") ? tensor_transpose(g, in[1], -2, -1) : in[1];
        return tensor_matmul(g, a, b);
    }
    if (meta_is_op(c, "matmul_slice")) {
        Tensor *a = tensor_slice(g, x, meta_int(c, "dim"), meta_int(c, "start"),
                                 meta_int(c, "end"));
        return tensor_matmul(g, a, in[1]);
    }
    // neural-network ops
    if (meta_is_op(c, "softmax")) return tensor_softmax(g, x, meta_int(c, "dim"));
    if (meta_is_op(c, "log_softmax")) return tensor_log_softmax(g, x, meta_int(c, "dim"));
    if (meta_is_op(c, "cross_entropy"))
        return tensor_cross_entropy(g, x, in[1], meta_int(c, "ignore"));
    if (meta_is_op(c, "embedding")) return tensor_embedding(g, x, in[1]);
    if (meta_is_op(c, "layernorm")) return run_norm(g, c, in, true);
    if (meta_is_op(c, "rmsnorm")) return run_norm(g, c, in, false);
    // composites
    if (meta_is_op(c, "mlp")) return run_mlp(g, c, in);
    if (meta_is_op(c, "attention")) return run_attention(g, c, in);
    // fused ops
    if (meta_is_op(c, "sdpa")) {
        if (!meta_int(c, "btHd")) return tensor_attention(g, x, in[1], in[2], meta_int(c, "causal"));
        // Stored (B, T, H, D): attended through transpose views, as a model does.
        Tensor *q = tensor_transpose(g, x, 1, 2), *k = tensor_transpose(g, in[1], 1, 2);
        Tensor *v = tensor_transpose(g, in[2], 1, 2);
        return tensor_attention(g, q, k, v, meta_int(c, "causal"));
    }
    if (meta_is_op(c, "rope")) return tensor_rope(g, x, meta_int(c, "pos0"), meta_float(c, "base"));
    CHECK(0, "case %s: unknown op in \"%s\"", c->name, c->meta);
    return NULL;
}

// ---------------------------------------------------------------------------
// Comparing one case
// ---------------------------------------------------------------------------

// Reads "<case>.<what>" into arena a; prints why and returns NULL on failure.
static Tensor *load(const StFile *f, const RefCase *c, const char *what, Arena *a)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s", c->name, what);
    Tensor *t = NULL;
    if (st_read(f, name, a, &t) != ERR_OK) {
        fprintf(stderr, "case %s: cannot read %s: %s\n", c->name, name, err_msg());
        return NULL;
    }
    return t;
}

static bool has_tensor(const StFile *f, const RefCase *c, const char *what)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s", c->name, what);
    return st_info(f, name, NULL, NULL, NULL) == ERR_OK;
}

static bool same_shape_msg(const RefCase *c, const char *what, const Tensor *got,
                           const Tensor *want)
{
    if (tensor_same_shape(got, want)) return true;
    fprintf(stderr, "case %s: %s has %d dims (%lld, %lld, ...), the reference %d dims "
            "(%lld, %lld, ...)\n", c->name, what, got->ndim,
            (long long)(got->ndim > 0 ? got->shape[0] : -1),
            (long long)(got->ndim > 1 ? got->shape[1] : -1), want->ndim,
            (long long)(want->ndim > 0 ? want->shape[0] : -1),
            (long long)(want->ndim > 1 ? want->shape[1] : -1));
    return false;
}

// Runs one case; true when the output and every gradient match. Prints the reasons otherwise.
static bool run_case(const StFile *f, const RefCase *c, Tol tol)
{
    const char *stored = st_meta(f, c->name);
    if (!stored || strcmp(stored, c->meta) != 0) {
        fprintf(stderr, "case %s: the file says \"%s\", this test expects \"%s\"; hint: "
                "regenerate with /usr/bin/python3 tests/gen_fixtures.py, or update the table\n",
                c->name, stored ? stored : "(missing)", c->meta);
        return false;
    }
    int n_in = (int)strlen(c->inputs);
    CHECK(n_in <= MAX_INPUTS, "case %s: too many inputs", c->name);
    char what[32];
    snprintf(what, sizeof what, "in%d", n_in);
    if (has_tensor(f, c, what)) {
        fprintf(stderr, "case %s: the file has more than %d inputs\n", c->name, n_in);
        return false;
    }

    Graph *g = graph_create(0);
    Arena *a = graph_arena(g);
    bool ok = true;
    Tensor *in[MAX_INPUTS] = {0};
    for (int i = 0; i < n_in && ok; i++) {
        snprintf(what, sizeof what, "in%d", i);
        in[i] = load(f, c, what, a);
        if (!in[i]) {
            ok = false;
            break;
        }
        DType want = c->inputs[i] == 'i' ? DT_I32 : DT_F32;
        if (in[i]->dtype != want) {
            fprintf(stderr, "case %s: %s has the wrong dtype\n", c->name, what);
            ok = false;
        }
        if (c->inputs[i] == 'd' && in[i]->dtype == DT_F32) tensor_set_requires_grad(in[i], a);
        snprintf(what, sizeof what, "din%d", i);
        if (has_tensor(f, c, what) != (c->inputs[i] == 'd')) {
            fprintf(stderr, "case %s: input %d is '%c' here but the file %s a gradient\n",
                    c->name, i, c->inputs[i], c->inputs[i] == 'd' ? "lacks" : "has");
            ok = false;
        }
    }
    Tensor *want_out = ok ? load(f, c, "out", a) : NULL;
    Tensor *dout = ok ? load(f, c, "dout", a) : NULL;
    if (!want_out || !dout) ok = false;
    if (!ok) {
        graph_free(g);
        return false;
    }

    // Forward.
    Tensor *out = run_op(g, c, in, n_in);
    char label[96];
    if (!same_shape_msg(c, "out", out, want_out) || !same_shape_msg(c, "dout", out, dout)) {
        graph_free(g);
        return false;
    }
    int64_t n = tensor_numel(out);
    float *got = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    tensor_copy_to(out, got);
    snprintf(label, sizeof label, "%s.out", c->name);
    ok = check_close(got, want_out->data, n, tol.atol, tol.rtol, label) && ok;
    free(got);

    // Backward: seed with dout and compare d(sum(out * dout))/d(in_i).
    graph_backward_with(g, out, dout->data);
    for (int i = 0; i < n_in; i++) {
        if (c->inputs[i] != 'd') continue;
        snprintf(what, sizeof what, "din%d", i);
        Tensor *want = load(f, c, what, a);
        if (!want || !same_shape_msg(c, what, in[i], want)) {
            ok = false;
            continue;
        }
        int64_t m = tensor_numel(in[i]);
        if (m > 0 && !in[i]->grad) {
            fprintf(stderr, "case %s: input %d has no gradient after backward\n", c->name, i);
            ok = false;
            continue;
        }
        // A leaf read from the file is contiguous, and its grad has the same layout.
        snprintf(label, sizeof label, "%s.%s", c->name, what);
        ok = check_close(in[i]->grad, want->data, m, tol.atol, tol.rtol, label) && ok;
    }
    graph_free(g);
    return ok;
}

// Opens the fixture file; a missing or unreadable file fails the calling test.
static StFile *open_fixtures(void)
{
    StFile *f = NULL;
    const char *path = fixture_path(FIXTURE_FILE);
    int rc = st_open(path, &f);
    ck_assert_msg(rc == ERR_OK, "cannot open %s: %s; hint: run from the repository root (or set "
                  "ENGINE_ROOT); regenerate with /usr/bin/python3 tests/gen_fixtures.py",
                  path, err_msg());
    const char *version = st_meta(f, "fixture_version");
    if (!version || strcmp(version, FIXTURE_VERSION) != 0) {
        st_close(f);
        ck_abort_msg("%s: fixture_version is %s, expected " FIXTURE_VERSION, path,
                     version ? version : "(missing)");
    }
    return f;
}

static void run_family(int fam)
{
    const Family *F = &FAMILIES[fam];
    StFile *f = open_fixtures();
    const char *only = getenv("REF_CASE");
    bool verbose = getenv("REF_VERBOSE") != NULL;
    char failed[1024] = "";
    int n_failed = 0, n_run = 0;
    for (int i = 0; i < F->n; i++) {
        const RefCase *c = &F->cases[i];
        if (only && strcmp(only, c->name) != 0) continue;
        if (verbose) fprintf(stderr, "reference: %s (%s)\n", c->name, c->meta);
        n_run++;
        if (!run_case(f, c, F->tol)) {
            n_failed++;
            size_t len = strlen(failed);
            snprintf(failed + len, sizeof failed - len, "%s%s", len ? ", " : "", c->name);
        }
    }
    st_close(f);
    ck_assert_msg(n_failed == 0, "%s: %d of %d case(s) disagree with PyTorch: %s", F->name,
                  n_failed, n_run, failed);
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

// The case of the table called name[0, len), or NULL.
static const RefCase *find_case(const char *name, size_t len)
{
    for (int fam = 0; fam < FAM_COUNT; fam++)
        for (int i = 0; i < FAMILIES[fam].n; i++) {
            const char *cn = FAMILIES[fam].cases[i].name;
            if (strlen(cn) == len && strncmp(cn, name, len) == 0) return &FAMILIES[fam].cases[i];
        }
    return NULL;
}

// The file and the table describe the same cases: every case in the file's list is in the
// table and vice versa, and every tensor in the file belongs to a listed case.
START_TEST(test_reference_file)
{
    StFile *f = open_fixtures();
    int n_table = 0;
    for (int fam = 0; fam < FAM_COUNT; fam++) n_table += FAMILIES[fam].n;

    char problem[512] = ""; // the first problem found; the file is closed before asserting
    const char *list = st_meta(f, "cases");
    int n_file = 0;
    if (!list) snprintf(problem, sizeof problem, "no \"cases\" metadata in the fixture file");
    for (const char *p = list ? list : ""; *p && !problem[0];) {
        size_t len = strcspn(p, ",");
        if (!find_case(p, len))
            snprintf(problem, sizeof problem, "case %.*s is in the file but not in this test's "
                     "table", (int)len, p);
        n_file++;
        p += len;
        if (*p == ',') p++;
    }
    if (!problem[0] && n_file != n_table)
        snprintf(problem, sizeof problem, "the file lists %d cases, the table %d", n_file,
                 n_table);
    for (int i = 0; i < st_count(f) && !problem[0]; i++) {
        const char *name = st_name(f, i);
        const char *dot = strrchr(name, '.');
        if (!dot || !find_case(name, (size_t)(dot - name)))
            snprintf(problem, sizeof problem, "tensor %s belongs to no case of the table", name);
    }
    st_close(f);
    ck_assert_msg(problem[0] == '\0', "%s", problem);
}
END_TEST

START_TEST(test_reference_elementwise) { run_family(FAM_ELEMENTWISE); }
END_TEST
START_TEST(test_reference_broadcast) { run_family(FAM_BROADCAST); }
END_TEST
START_TEST(test_reference_reduction) { run_family(FAM_REDUCTION); }
END_TEST
START_TEST(test_reference_movement) { run_family(FAM_MOVEMENT); }
END_TEST
START_TEST(test_reference_matmul) { run_family(FAM_MATMUL); }
END_TEST
START_TEST(test_reference_softmax) { run_family(FAM_SOFTMAX); }
END_TEST
START_TEST(test_reference_loss) { run_family(FAM_LOSS); }
END_TEST
START_TEST(test_reference_embedding) { run_family(FAM_EMBEDDING); }
END_TEST
START_TEST(test_reference_norm) { run_family(FAM_NORM); }
END_TEST
START_TEST(test_reference_composite) { run_family(FAM_COMPOSITE); }
END_TEST
START_TEST(test_reference_fused) { run_family(FAM_FUSED); }
END_TEST
START_TEST(test_reference_edge) { run_family(FAM_EDGE); }
END_TEST

static Suite *reference_suite(void)
{
    Suite *s = suite_create("reference");
    // One TCase per family, so CK_RUN_CASE=<family> runs just that one.
    struct {
        const char *name;
        const TTest *test;
    } tcs[] = {
        {"file", test_reference_file},
        {"elementwise", test_reference_elementwise},
        {"broadcast", test_reference_broadcast},
        {"reduction", test_reference_reduction},
        {"movement", test_reference_movement},
        {"matmul", test_reference_matmul},
        {"softmax", test_reference_softmax},
        {"loss", test_reference_loss},
        {"embedding", test_reference_embedding},
        {"norm", test_reference_norm},
        {"composite", test_reference_composite},
        {"fused", test_reference_fused},
        {"edge", test_reference_edge},
    };
    for (size_t i = 0; i < sizeof tcs / sizeof tcs[0]; i++) {
        TCase *tc = tcase_create(tcs[i].name);
        tcase_add_test(tc, tcs[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void) { return test_main(reference_suite()); }
