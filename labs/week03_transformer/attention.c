/*
 * Week 3 lab, part 1: scaled dot-product attention built step by step from tensor ops
 * ("the NumPy way"), printed for a tiny example, then checked against the fused op.
 *
 * For one head with queries Q, keys K and values V (T, D):
 *     scores  = Q K^T                (T, T)  how much query i matches key j
 *     scaled  = scores / sqrt(D)             keeps the softmax out of saturation as D grows
 *     masked  = scaled + M                   M[i][j] = -inf for j > i: no peeking at the future
 *     weights = softmax(masked, dim=-1)      each row sums to 1
 *     out     = weights V            (T, D)  a weighted average of the values
 */
#include "lab.h"

#include "core/plot.h"
#include "core/tensor.h"
#include "transformer/attention.h"

#include <math.h>
#include <stdio.h>

static void print_matrix(const char *title, const Tensor *t)
{
    int64_t R = t->shape[t->ndim - 2], C = t->shape[t->ndim - 1];
    printf("%s (%lld x %lld):\n", title, (long long)R, (long long)C);
    for (int64_t i = 0; i < R; i++) {
        printf("   ");
        for (int64_t j = 0; j < C; j++) {
            float v = tensor_get(t, (int64_t[]){i, j});
            if (isinf(v))
                printf(" %7s", v < 0 ? "-inf" : "inf");
            else
                printf(" %7.3f", v);
        }
        printf("\n");
    }
}

int lab_attention_steps(const char *out_dir, uint64_t seed)
{
    enum { T = 5, D = 4 };
    static const char *words[T] = {"the", "compiler", "parses", "the", "source"};
    Graph *g = graph_create(0);
    Arena *a = graph_arena(g);
    Rng rng;
    rng_init(&rng, seed);
    // Stand-ins for one head's projections of five token embeddings.
    Tensor *Q = tensor_zeros(a, 2, (int64_t[]){T, D}), *K = tensor_zeros(a, 2, (int64_t[]){T, D});
    Tensor *V = tensor_zeros(a, 2, (int64_t[]){T, D});
    tensor_fill_normal(Q, &rng, 0, 1), tensor_fill_normal(K, &rng, 0, 1);
    tensor_fill_normal(V, &rng, 0, 1);
    printf("tokens:");
    for (int i = 0; i < T; i++) printf(" %s", words[i]);
    printf("\n");
    print_matrix("Q", Q);
    print_matrix("K", K);

    Tensor *scores = tensor_matmul(g, Q, tensor_transpose(g, K, 0, 1));
    print_matrix("scores = Q K^T", scores);
    Tensor *scaled = tensor_mul_scalar(g, scores, 1.0f / sqrtf((float)D));
    print_matrix("scaled = scores / sqrt(D)", scaled);
    float mask[T * T];
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) mask[i * T + j] = j > i; // 1 = hidden
    Tensor *masked = tensor_masked_fill(g, scaled, tensor_from(a, 2, (int64_t[]){T, T}, mask),
                                        -INFINITY);
    print_matrix("masked (causal: query i sees keys 0..i)", masked);
    Tensor *weights = tensor_softmax(g, masked, -1);
    print_matrix("weights = softmax(masked) (rows sum to 1)", weights);
    Tensor *out = tensor_matmul(g, weights, V);
    print_matrix("out = weights V", out);

    // The fused op computes the same thing in one node (and one backward).
    Tensor *q4 = tensor_reshape(g, Q, 4, (int64_t[]){1, 1, T, D});
    Tensor *k4 = tensor_reshape(g, K, 4, (int64_t[]){1, 1, T, D});
    Tensor *v4 = tensor_reshape(g, V, 4, (int64_t[]){1, 1, T, D});
    Tensor *fused = tensor_attention(g, q4, k4, v4, true);
    Tensor *composed = tf_attention_composed(g, q4, k4, v4, true); // your w03 exercise
    float maxdiff = 0, maxdiff2 = 0;
    for (int i = 0; i < T * D; i++) {
        maxdiff = fmaxf(maxdiff, fabsf(fused->data[i] - out->data[i]));
        maxdiff2 = fmaxf(maxdiff2, fabsf(composed->data[i] - out->data[i]));
    }
    printf("fused tensor_attention vs step by step: max |diff| = %.2g\n", maxdiff);
    printf("tf_attention_composed (exercise w03.attention_forward) vs step by step: %.2g\n",
           maxdiff2);

    char path[512];
    snprintf(path, sizeof path, "%s/attention_steps.png", out_dir);
    PlotOpts po = {.title = "Causal attention weights (query row, key column)", .width = 640,
                   .height = 560};
    int rc = plot_heatmap(path, weights->data, T, T, words, words, &po);
    if (rc == ERR_OK) printf("wrote %s\n", path);
    graph_free(g);
    return rc;
}

int lab_attention_map(TfModel *m, const int32_t *ids, int T, int head,
                      const char *const *labels, const char *path)
{
    const TfConfig *c = &m->cfg;
    const TfLayer *L = &m->layer[0];
    int64_t C = c->d_model, hd = C / c->n_head;
    Graph *g = graph_create(0);
    bool was = graph_set_grad_enabled(g, false);
    // The first block's input and its queries and keys, as the model computes them.
    Tensor *tok = tensor_from_i32(graph_arena(g), 1, (int64_t[]){T}, ids);
    Tensor *x = tensor_embedding(g, m->tok_emb, tok); // (T, C)
    if (c->arch == TF_GPT2) x = tensor_add(g, x, tensor_slice(g, m->pos_emb, 0, 0, T));
    Tensor *h = c->arch == TF_GPT2
                    ? tensor_layernorm(g, x, L->attn_norm_w, L->attn_norm_b, c->norm_eps)
                    : tensor_rmsnorm(g, x, L->attn_norm_w, c->norm_eps);
    Tensor *q = tensor_matmul(g, h, tensor_transpose(g, L->wq, 0, 1)); // (T, H*hd)
    Tensor *k = tensor_matmul(g, h, tensor_transpose(g, L->wk, 0, 1)); // (T, KVH*hd)
    if (L->bq) q = tensor_add(g, q, L->bq), k = tensor_add(g, k, L->bk);
    int kv_head = head / (c->n_head / c->n_kv_head);
    q = tensor_slice(g, q, 1, head * hd, (head + 1) * hd);       // (T, hd)
    k = tensor_slice(g, k, 1, kv_head * hd, (kv_head + 1) * hd); // (T, hd)
    if (c->arch == TF_LLAMA) q = tensor_rope(g, q, 0, c->rope_base), k = tensor_rope(g, k, 0, c->rope_base);
    Tensor *s = tensor_mul_scalar(g, tensor_matmul(g, q, tensor_transpose(g, k, 0, 1)),
                                  1.0f / sqrtf((float)hd));
    float *mask = arena_alloc(graph_arena(g), sizeof(float) * (size_t)(T * T));
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) mask[i * T + j] = j > i;
    Tensor *w = tensor_softmax(
        g, tensor_masked_fill(g, s, tensor_from(graph_arena(g), 2, (int64_t[]){T, T}, mask),
                              -INFINITY),
        -1);
    char title[96];
    snprintf(title, sizeof title, "Trained model, layer 0 head %d: attention weights", head);
    PlotOpts po = {.title = title, .width = 720, .height = 640};
    int rc = plot_heatmap(path, w->data, T, T, labels, labels, &po);
    graph_set_grad_enabled(g, was);
    graph_free(g);
    return rc;
}
