/*
 * rerank.c: MaxSim late interaction, the pair features and the logistic cross-scorer of
 * rerank.h.
 *
 * Dimensions: D = word-vector size, nq / np = known words of the query / passage,
 * NF = RAG_RERANK_NF features, P = NF + 1 parameters (weights and bias).
 */
#include "rag/rerank.h"

#include "core/err.h"
#include "core/io.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 1024 // words of one text considered (a chunk is far shorter)

static const char *FEATURE_NAMES[RAG_RERANK_NF] = {"bm25",   "dense",   "rrf",
                                                   "maxsim", "overlap", "log_len"};

const char *rag_rerank_feature_name(int i)
{
    CHECK(i >= 0 && i < RAG_RERANK_NF, "rag_rerank_feature_name: %d out of range", i);
    return FEATURE_NAMES[i];
}

// The words of text[0..len) (word2vec's rule: lowercase [a-z0-9'-] runs), up to MAX_WORDS.
typedef struct {
    int n;
    char (*w)[NN_W2V_MAX_WORD];
} Words;

static Words split_words(const char *text, int64_t len)
{
    Words ws = {0, malloc(MAX_WORDS * sizeof *ws.w)};
    char *buf = malloc((size_t)len + 1);
    CHECK(ws.w && buf, "rerank: out of memory");
    memcpy(buf, text, (size_t)len);
    buf[len] = '\0';
    int64_t pos = 0;
    while (ws.n < MAX_WORDS && nn_w2v_next_word(buf, &pos, ws.w[ws.n])) ws.n++;
    free(buf);
    return ws;
}

static float maxsim_words(const RagEmbedder *e, const Words *q, const Words *p)
{
    const NnW2v *w2v = e->w2v;
    int64_t D = w2v->dim;
    int64_t *qid = malloc((size_t)q->n * sizeof *qid), *pid = malloc((size_t)p->n * sizeof *pid);
    CHECK(qid && pid, "rag_maxsim: out of memory");
    int nq = 0, np = 0;
    for (int i = 0; i < q->n; i++) {
        int64_t id = nn_w2v_find(w2v, q->w[i]);
        if (id >= 0) qid[nq++] = id;
    }
    for (int i = 0; i < p->n; i++) {
        int64_t id = nn_w2v_find(w2v, p->w[i]);
        if (id >= 0) pid[np++] = id;
    }
    float result = 0.0f;
    if (nq > 0 && np > 0) {
        // S (nq, np) = Q (nq, D) P^T: the cosines of every query word with every passage word.
        float *Q = malloc((size_t)(nq * D) * sizeof *Q), *P = malloc((size_t)(np * D) * sizeof *P);
        float *S = malloc((size_t)nq * (size_t)np * sizeof *S);
        CHECK(Q && P && S, "rag_maxsim: out of memory");
        for (int i = 0; i < nq; i++) memcpy(Q + i * D, w2v->unit + qid[i] * D, (size_t)D * 4);
        for (int j = 0; j < np; j++) memcpy(P + j * D, w2v->unit + pid[j] * D, (size_t)D * 4);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, np, (int)D, 1.0f, Q, (int)D, P,
                    (int)D, 0.0f, S, np);
        double num = 0, den = 0;
        for (int i = 0; i < nq; i++) {
            float best = S[(int64_t)i * np];
            for (int j = 1; j < np; j++) best = fmaxf(best, S[(int64_t)i * np + j]);
            double s = rag_embed_sif(e, qid[i]);
            num += s * best, den += s;
        }
        result = (float)(num / den);
        free(Q), free(P), free(S);
    }
    free(qid), free(pid);
    return result;
}

float rag_maxsim(const RagEmbedder *e, const char *q, int64_t qlen, const char *p, int64_t plen)
{
    CHECK(e && e->kind == RAG_EMBED_W2V, "rag_maxsim: needs a word-vector embedder");
    Words wq = split_words(q, qlen), wp = split_words(p, plen);
    float r = maxsim_words(e, &wq, &wp);
    free(wq.w), free(wp.w);
    return r;
}

static int word_cmp(const void *a, const void *b) { return strcmp(a, b); }

static float overlap_words(const RagEmbedder *e, const Words *wq, Words *wp)
{
    int np = wp->n;
    qsort(wp->w, (size_t)np, sizeof *wp->w, word_cmp);
    double hit = 0, all = 0;
    for (int i = 0; i < wq->n; i++) {
        double s = rag_embed_sif(e, nn_w2v_find(e->w2v, wq->w[i]));
        all += s;
        if (np > 0 && bsearch(wq->w[i], wp->w, (size_t)np, sizeof *wp->w, word_cmp)) hit += s;
    }
    return all > 0 ? (float)(hit / all) : 0.0f;
}

float rag_word_overlap(const RagEmbedder *e, const char *q, int64_t qlen, const char *p,
                       int64_t plen)
{
    CHECK(e && e->kind == RAG_EMBED_W2V, "rag_word_overlap: needs a word-vector embedder");
    Words wq = split_words(q, qlen), wp = split_words(p, plen);
    float r = overlap_words(e, &wq, &wp);
    free(wq.w), free(wp.w);
    return r;
}

void rag_rerank_features(const RagEmbedder *e, const char *q, int64_t qlen, const char *p,
                         int64_t plen, float bm25_norm, float dense_cos, float rrf, float *f)
{
    CHECK(e && e->kind == RAG_EMBED_W2V && f, "rag_rerank_features: bad arguments");
    Words wq = split_words(q, qlen), wp = split_words(p, plen);
    f[0] = bm25_norm;
    f[1] = dense_cos;
    f[2] = 60.0f * rrf;
    f[3] = maxsim_words(e, &wq, &wp);
    f[5] = (float)log1p((double)wp.n);
    f[4] = overlap_words(e, &wq, &wp); // sorts wp's words
    free(wq.w), free(wp.w);
}

// Solves A x = r for a symmetric positive definite A (P x P) by Cholesky, in place in x.
static int solve_spd(double *A, double *x, int P)
{
    for (int j = 0; j < P; j++) {
        double d = A[j * P + j];
        for (int k = 0; k < j; k++) d -= A[j * P + k] * A[j * P + k];
        if (!(d > 0)) return -1;
        A[j * P + j] = sqrt(d);
        for (int i = j + 1; i < P; i++) {
            double s = A[i * P + j];
            for (int k = 0; k < j; k++) s -= A[i * P + k] * A[j * P + k];
            A[i * P + j] = s / A[j * P + j];
        }
    }
    for (int i = 0; i < P; i++) { // L y = r
        for (int k = 0; k < i; k++) x[i] -= A[i * P + k] * x[k];
        x[i] /= A[i * P + i];
    }
    for (int i = P - 1; i >= 0; i--) { // L^T x = y
        for (int k = i + 1; k < P; k++) x[i] -= A[k * P + i] * x[k];
        x[i] /= A[i * P + i];
    }
    return 0;
}

int rag_rerank_train(const float *X, const uint8_t *y, int64_t n, double l2,
                     RagRerankModel *out)
{
    enum { NF = RAG_RERANK_NF, P = RAG_RERANK_NF + 1 };
    CHECK(X && y && out && n >= 0 && l2 >= 0, "rag_rerank_train: bad arguments");
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) pos += y[i] != 0;
    if (pos == 0 || pos == n)
        return err_set(ERR_INVALID, "rag_rerank_train: %lld pairs, %lld of them relevant: "
                       "need both classes; hint: mine candidates that include the relevant "
                       "chunk and some that do not", (long long)n, (long long)pos);
    memset(out, 0, sizeof *out);
    // Standardise each feature (a constant feature keeps std 1 and contributes nothing).
    for (int k = 0; k < NF; k++) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < n; i++) m += X[i * NF + k];
        m /= (double)n;
        for (int64_t i = 0; i < n; i++) v += (X[i * NF + k] - m) * (X[i * NF + k] - m);
        v /= (double)n;
        out->mean[k] = m;
        out->std[k] = v > 1e-12 ? sqrt(v) : 1.0;
    }
    // Newton / IRLS on L(theta) = (1/n) sum_i logloss(sigmoid(theta . z_i), y_i)
    //                               + (l2 / 2) |w|^2,   z_i = (standardised x_i, 1).
    // gradient  g = (1/n) sum (p_i - y_i) z_i + l2 w
    // Hessian   H = (1/n) sum p_i (1 - p_i) z_i z_i^T + l2 I_w   (+ 1e-9 on the bias for safety)
    double theta[P] = {0}, z[P];
    for (int it = 0; it < 50; it++) {
        double g[P] = {0}, H[P * P] = {0}, loss = 0;
        for (int64_t i = 0; i < n; i++) {
            for (int k = 0; k < NF; k++) z[k] = (X[i * NF + k] - out->mean[k]) / out->std[k];
            z[NF] = 1.0;
            double t = 0;
            for (int k = 0; k < P; k++) t += theta[k] * z[k];
            double p = 1.0 / (1.0 + exp(-t));
            // log-loss written stably: log(1 + e^t) - y t.
            loss += (t > 0 ? t + log1p(exp(-t)) : log1p(exp(t))) - (y[i] ? t : 0.0);
            double r = p - (y[i] ? 1.0 : 0.0), wgt = p * (1.0 - p);
            for (int a = 0; a < P; a++) {
                g[a] += r * z[a];
                for (int b = 0; b <= a; b++) H[a * P + b] += wgt * z[a] * z[b];
            }
        }
        double gmax = 0;
        for (int a = 0; a < P; a++) {
            g[a] = g[a] / (double)n + (a < NF ? l2 * theta[a] : 0.0);
            for (int b = 0; b <= a; b++) {
                H[a * P + b] /= (double)n;
                H[b * P + a] = H[a * P + b];
            }
            H[a * P + a] += a < NF ? l2 : 1e-9;
            gmax = fmax(gmax, fabs(g[a]));
        }
        out->loss = loss / (double)n;
        out->iters = it;
        if (gmax < 1e-10) break;
        if (solve_spd(H, g, P) != 0)
            return err_set(ERR_INVALID, "rag_rerank_train: the Hessian is singular; hint: "
                           "raise l2 (features may be collinear)");
        for (int a = 0; a < P; a++) theta[a] -= g[a];
    }
    memcpy(out->w, theta, sizeof out->w);
    out->b = theta[NF];
    return ERR_OK;
}

float rag_rerank_score(const RagRerankModel *m, const float *f)
{
    double t = m->b;
    for (int k = 0; k < RAG_RERANK_NF; k++) t += m->w[k] * (f[k] - m->mean[k]) / m->std[k];
    return (float)t;
}

static json_t *array_of(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

int rag_rerank_save(const RagRerankModel *m, const char *path)
{
    CHECK(m && path, "rag_rerank_save: bad arguments");
    json_t *o = json_object(), *names = json_array();
    for (int i = 0; i < RAG_RERANK_NF; i++) json_array_append_new(names, json_string(FEATURE_NAMES[i]));
    json_object_set_new(o, "format", json_string("engine-rerank-1"));
    json_object_set_new(o, "features", names);
    json_object_set_new(o, "w", array_of(m->w, RAG_RERANK_NF));
    json_object_set_new(o, "b", json_real(m->b));
    json_object_set_new(o, "mean", array_of(m->mean, RAG_RERANK_NF));
    json_object_set_new(o, "std", array_of(m->std, RAG_RERANK_NF));
    json_object_set_new(o, "iters", json_integer(m->iters));
    json_object_set_new(o, "loss", json_real(m->loss));
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    CHECK(text, "rag_rerank_save: out of memory");
    int rc = io_write_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

// Reads the array `key` of RAG_RERANK_NF numbers into v.
static int read_array(const json_t *o, const char *key, double *v, const char *path)
{
    const json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) != RAG_RERANK_NF)
        return err_set(ERR_FORMAT, "%s: \"%s\" must be an array of %d numbers; hint: write the "
                       "file with rag_rerank_save", path, key, RAG_RERANK_NF);
    for (int i = 0; i < RAG_RERANK_NF; i++) {
        const json_t *x = json_array_get(a, (size_t)i);
        if (!json_is_number(x))
            return err_set(ERR_FORMAT, "%s: \"%s\"[%d] is not a number", path, key, i);
        v[i] = json_number_value(x);
    }
    return ERR_OK;
}

int rag_rerank_load(const char *path, RagRerankModel *out)
{
    CHECK(path && out, "rag_rerank_load: bad arguments");
    memset(out, 0, sizeof *out);
    unsigned char *data;
    size_t n;
    int rc = io_read_all(path, &data, &n);
    if (rc != ERR_OK) return rc;
    json_error_t je;
    json_t *o = json_loadb((const char *)data, n, 0, &je);
    free(data);
    if (!o)
        return err_set(ERR_FORMAT, "%s:%d: not JSON (%s); hint: write the file with "
                       "rag_rerank_save", path, je.line, je.text);
    const char *fmt = json_string_value(json_object_get(o, "format"));
    const json_t *names = json_object_get(o, "features");
    rc = ERR_OK;
    if (!fmt || strcmp(fmt, "engine-rerank-1") != 0)
        rc = err_set(ERR_FORMAT, "%s: \"format\" is %s, expected \"engine-rerank-1\"", path,
                     fmt ? fmt : "missing");
    for (int i = 0; rc == ERR_OK && i < RAG_RERANK_NF; i++) {
        const char *nm = json_string_value(json_array_get(names, (size_t)i));
        if (!json_is_array(names) || json_array_size(names) != RAG_RERANK_NF || !nm ||
            strcmp(nm, FEATURE_NAMES[i]) != 0)
            rc = err_set(ERR_FORMAT, "%s: \"features\" differ from this build's (feature %d "
                         "should be \"%s\"); hint: refit the reranker", path, i,
                         FEATURE_NAMES[i]);
    }
    if (rc == ERR_OK) rc = read_array(o, "w", out->w, path);
    if (rc == ERR_OK) rc = read_array(o, "mean", out->mean, path);
    if (rc == ERR_OK) rc = read_array(o, "std", out->std, path);
    if (rc == ERR_OK && !json_is_number(json_object_get(o, "b")))
        rc = err_set(ERR_FORMAT, "%s: \"b\" must be a number", path);
    for (int i = 0; rc == ERR_OK && i < RAG_RERANK_NF; i++)
        if (!(out->std[i] > 0))
            rc = err_set(ERR_FORMAT, "%s: \"std\"[%d] = %g must be > 0", path, i, out->std[i]);
    if (rc == ERR_OK) {
        out->b = json_number_value(json_object_get(o, "b"));
        out->iters = (int)json_integer_value(json_object_get(o, "iters"));
        out->loss = json_number_value(json_object_get(o, "loss"));
    }
    json_decref(o);
    if (rc != ERR_OK) memset(out, 0, sizeof *out);
    return rc;
}
