/*
 * sample.c: temperature, top-k and top-p sampling, and the generation loop (see sample.h).
 *
 * The filters act on a sorted candidate list. After the softmax, the V (probability, id)
 * pairs are sorted by probability, descending, ties by lower id (a total order, so the result
 * does not depend on the sort algorithm). top-k keeps the first k; the survivors are
 * renormalised (as Hugging Face's and llama.cpp's samplers do, top-p sees the top-k
 * distribution); top-p then keeps the shortest prefix whose cumulative probability reaches
 * top_p. The draw is inverse-CDF: the first candidate whose running sum exceeds u ~ U[0, 1).
 */
#include "transformer/sample.h"

#include "core/err.h"
#include "core/exercise.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float p;
    int32_t id;
} Cand;

// Descending probability, then ascending id.
static int cand_cmp(const void *a, const void *b)
{
    const Cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

// Sorts the n pairs (probs[i], ids[i]) by descending probability, ties by lower id.
static void sort_candidates(float *probs, int32_t *ids, int n)
{
    Cand *c = xmalloc((size_t)n * sizeof *c);
    for (int i = 0; i < n; i++) c[i] = (Cand){probs[i], ids[i]};
    qsort(c, (size_t)n, sizeof *c, cand_cmp);
    for (int i = 0; i < n; i++) probs[i] = c[i].p, ids[i] = c[i].id;
    free(c);
}

TfSampler tf_sampler_default(void)
{
    return (TfSampler){.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 0};
}

int32_t tf_sample_argmax(const float *logits, int V)
{
    CHECK(V >= 1, "tf_sample_argmax: V = %d", V);
    int32_t best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

int tf_sample_filter(float *probs, int32_t *ids, int V, int top_k, float top_p)
{
    CHECK(V >= 1 && top_k >= 0 && top_p > 0.0f, "tf_sample_filter: V %d, top_k %d, top_p %g", V,
          top_k, (double)top_p);
    sort_candidates(probs, ids, V);
    // EXERCISE(w03.sampling): the candidates are sorted (probs descending, ties by lower id).
    // 1. top-k: keep the first top_k (all V when top_k is 0 or >= V).
    // 2. top-p: relative to the kept mass (renormalise first), keep the shortest prefix whose
    //    cumulative probability is >= top_p (keep all when top_p >= 1 or when rounding never
    //    reaches it). Accumulate in double.
    // 3. renormalise the survivors to sum to 1 and return how many there are.
    // STUB: exercise_stub("w03.sampling"); (void)top_k; (void)top_p;
    // STUB: for (int i = 0; i < V; i++) probs[i] = NAN;
    // STUB: return -1;
    int n = top_k > 0 && top_k < V ? top_k : V;
    double mass = 0.0;
    for (int i = 0; i < n; i++) mass += probs[i];
    if (top_p < 1.0f) {
        double cum = 0.0, want = (double)top_p * mass;
        for (int i = 0; i < n; i++) {
            cum += probs[i];
            if (cum >= want) {
                n = i + 1;
                break;
            }
        }
        mass = 0.0;
        for (int i = 0; i < n; i++) mass += probs[i];
    }
    float r = (float)(1.0 / mass);
    for (int i = 0; i < n; i++) probs[i] *= r;
    return n;
    // END EXERCISE
}

int32_t tf_sample(const float *logits, int V, const TfSampler *cfg, Rng *rng)
{
    CHECK(V >= 1 && cfg->temperature >= 0.0f && cfg->top_k >= 0 && cfg->top_p > 0.0f,
          "tf_sample: V %d, temperature %g, top_k %d, top_p %g", V, (double)cfg->temperature,
          cfg->top_k, (double)cfg->top_p);
    if (cfg->temperature == 0.0f) return tf_sample_argmax(logits, V);
    // p = softmax(logits / T), stably.
    float *p = xmalloc((size_t)V * sizeof(float));
    int32_t *ids = xmalloc((size_t)V * sizeof(int32_t));
    float mx = logits[tf_sample_argmax(logits, V)], invT = 1.0f / cfg->temperature;
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        p[i] = expf((logits[i] - mx) * invT);
        sum += p[i];
        ids[i] = i;
    }
    float r = (float)(1.0 / sum);
    for (int i = 0; i < V; i++) p[i] *= r;
    int n = tf_sample_filter(p, ids, V, cfg->top_k, cfg->top_p);
    CHECK(n >= 1 && n <= V, "tf_sample: the filter kept %d of %d candidates", n, V);
    // Inverse CDF. If rounding leaves u above the last running sum, the last candidate wins.
    float u = rng_uniform(rng);
    double cum = 0.0;
    int32_t tok = ids[n - 1];
    for (int i = 0; i < n; i++) {
        cum += p[i];
        if ((double)u < cum) {
            tok = ids[i];
            break;
        }
    }
    free(p);
    free(ids);
    return tok;
}

// ---------------------------------------------------------------------------
// Generation loop
// ---------------------------------------------------------------------------

// Index of the stop sequence that out[0..n) ends with, or -1.
static int ends_with_stop(const int32_t *out, int n, const int32_t *const *stops,
                          const int *stop_lens, int n_stops)
{
    for (int i = 0; i < n_stops; i++) {
        int k = stop_lens[i];
        if (k > n) continue;
        if (memcmp(out + n - k, stops[i], (size_t)k * sizeof(int32_t)) == 0) return i;
    }
    return -1;
}

int tf_generate(TfInfer *s, const int32_t *prompt, int n_prompt, int max_new,
                const TfSampler *cfg, const int32_t *const *stops, const int *stop_lens,
                int n_stops, int32_t *out, int *n_out)
{
    CHECK(max_new >= 0 && n_stops >= 0 && (n_stops == 0 || (stops && stop_lens)),
          "tf_generate: max_new %d, n_stops %d", max_new, n_stops);
    for (int i = 0; i < n_stops; i++)
        CHECK(stop_lens[i] >= 1 && stops[i], "tf_generate: stop sequence %d is empty", i);
    *n_out = 0;
    int max_T = tf_infer_max_T(s), V = tf_infer_model(s)->cfg.vocab;
    if (n_prompt < 1 || n_prompt > max_T)
        return err_set(ERR_INVALID,
                       "tf_generate: prompt of %d tokens, the cache holds 1..%d; hint: shorten "
                       "the prompt or create the TfInfer with a larger max_T",
                       n_prompt, max_T);
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= V)
            return err_set(ERR_INVALID,
                           "tf_generate: prompt token %d is %d, outside the vocabulary 0..%d; "
                           "hint: encode the prompt with this model's tokenizer",
                           i, (int)prompt[i], V - 1);
    Rng rng;
    rng_init(&rng, cfg->seed);
    tf_infer_reset(s);
    const float *logits = tf_infer_forward(s, prompt, n_prompt, 0);
    int n = 0, pos = n_prompt;
    while (n < max_new) {
        int32_t tok = tf_sample(logits, V, cfg, &rng);
        out[n++] = tok;
        int hit = ends_with_stop(out, n, stops, stop_lens, n_stops);
        if (hit >= 0) {
            n -= stop_lens[hit];
            break;
        }
        if (n == max_new || pos >= max_T) break; // done, or no room to feed the token back
        logits = tf_infer_forward(s, &tok, 1, pos++);
    }
    *n_out = n;
    return ERR_OK;
}
