/*
 * data.c: the domain task. FOLDOC entries become "Q: What is X?\nA: <first sentence>" pairs,
 * split by a hash of the headword (so an entry is in the same split on every run), plus the
 * scoring (exact match, token F1) and the greedy answer of a model.
 */
#include "lab.h"

#include "core/err.h"
#include "datasets/datasets.h"
#include "rag/chunk.h"
#include "transformer/sample.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ANSWER_WORDS 16
#define MAX_ANSWER_BYTES 120

// FNV-1a 64: the split must not depend on the entry order or on any seed.
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

// The display form of the headword: the entry's first line when it names the headword.
static char *display_title(const DsEntry *e)
{
    const char *s = e->definition;
    while (*s == ' ' || *s == '\n') s++;
    size_t n = strcspn(s, "\n");
    while (n && s[n - 1] == ' ') n--;
    if (n != strlen(e->headword) || strncasecmp(s, e->headword, n)) return strdup(e->headword);
    return strndup(s, n);
}

// The first sentence of a body, after the leading "<category>" tags and a "1." sense number,
// whitespace collapsed; NULL when it is not a short plain answer.
static char *first_sentence(const char *body)
{
    const char *p = body;
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        if (*p == '<' && strchr(p, '>')) p = strchr(p, '>') + 1;
        else if (p[0] == '1' && p[1] == '.') p += 2;
        else break;
    }
    int64_t len = (int64_t)strlen(p), end = rag_chunk_sentence_next(p, len, 0);
    char *out = malloc((size_t)end + 1);
    CHECK(out, "first_sentence: out of memory");
    int64_t n = 0, words = 0;
    for (int64_t i = 0; i < end; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 128 || c == '<' || c == '{') break; // markup or non-ASCII: not a plain answer
        if (isspace(c)) {
            if (n && out[n - 1] != ' ') out[n++] = ' ', words++;
        } else {
            out[n++] = (char)c;
        }
    }
    while (n && out[n - 1] == ' ') n--;
    out[n] = '\0';
    if (n < end - 8 || words + 1 < 4 || words + 1 > MAX_ANSWER_WORDS || n > MAX_ANSWER_BYTES ||
        out[n - 1] != '.') {
        free(out);
        return NULL;
    }
    return out;
}

static int by_hash(const void *a, const void *b)
{
    uint64_t ha = fnv1a(((const LabQa *)a)->title), hb = fnv1a(((const LabQa *)b)->title);
    return ha < hb ? -1 : ha > hb;
}

int lab_data_load(LabData *d)
{
    memset(d, 0, sizeof *d);
    DsDict dict;
    int rc = ds_dict_load("foldoc", &dict);
    if (rc != ERR_OK) return rc;
    char *jargon;
    size_t jlen;
    if ((rc = ds_corpus_text("jargon", &jargon, &jlen)) != ERR_OK) {
        ds_dict_free(&dict);
        return rc;
    }
    // The pre-training text: every FOLDOC entry that is not held out, then Jargon, so the
    // held-out facts are in no training text at all.
    size_t cap = jlen + 1; // an entry writes at most its title and body (both <= its text)
    for (int64_t i = 0; i < dict.n; i++) cap += 2 * (size_t)dict.entries[i].length + 8;
    d->pretrain = malloc(cap);
    d->qa = calloc((size_t)dict.n, sizeof *d->qa);
    CHECK(d->pretrain && d->qa, "lab_data_load: out of memory");
    for (int64_t i = 0; i < dict.n; i++) {
        const DsEntry *e = &dict.entries[i];
        if (e->alias) continue;
        int split = fnv1a(e->headword) % 100 < 20 ? LAB_HELD : LAB_TRAIN;
        char *body = ds_dict_body(e), *title = display_title(e);
        if (split != LAB_HELD)
            d->pretrain_len += (size_t)snprintf(d->pretrain + d->pretrain_len,
                                                cap - d->pretrain_len, "%s\n\n%s\n\n", title,
                                                body);
        char *ans = first_sentence(body);
        free(body);
        if (!ans) {
            free(title);
            continue;
        }
        LabQa *q = &d->qa[d->n++];
        size_t pl = strlen(title) + 24;
        q->prompt = malloc(pl);
        CHECK(q->prompt, "lab_data_load: out of memory");
        snprintf(q->prompt, pl, "Q: What is %s?\nA:", title);
        q->paraphrase = malloc(pl + 8);
        CHECK(q->paraphrase, "lab_data_load: out of memory");
        snprintf(q->paraphrase, pl + 8, "Q: What does %s mean?\nA:", title);
        q->title = title, q->answer = ans, q->split = split;
    }
    // A fixed pseudo-random order (not alphabetical, which starts with "!", "#", "$"...), so
    // that the first n questions of a split are a fair sample of it.
    qsort(d->qa, (size_t)d->n, sizeof *d->qa, by_hash);
    memcpy(d->pretrain + d->pretrain_len, jargon, jlen);
    d->pretrain_len += jlen;
    free(jargon);
    ds_dict_free(&dict);
    return ERR_OK;
}

void lab_data_free(LabData *d)
{
    for (int64_t i = 0; i < d->n; i++) {
        free(d->qa[i].title), free(d->qa[i].prompt), free(d->qa[i].paraphrase);
        free(d->qa[i].answer);
    }
    free(d->qa);
    free(d->pretrain);
    memset(d, 0, sizeof *d);
}

static void examples_alloc(LabExamples *out, int64_t cap, int64_t T)
{
    out->T = T, out->n = 0;
    out->x = malloc(sizeof(int32_t) * (size_t)(cap * T));
    out->y = malloc(sizeof(int32_t) * (size_t)(cap * T));
    out->src = malloc(sizeof(int64_t) * (size_t)cap);
    CHECK(out->x && out->y && out->src, "lab_examples_make: out of memory");
}

// Appends question i of d (in its usual or its paraphrased wording) when prompt + answer fit
// in T + 1 tokens. The targets of the prompt and of the padding are -1.
static void example_add(const LabData *d, int64_t i, bool paraphrase, TfBpe *tok,
                        LabExamples *out)
{
    const LabQa *q = &d->qa[i];
    int64_t T = out->T;
    // Prompt and answer are encoded apart, exactly as they are at question time.
    char ans[MAX_ANSWER_BYTES + 8];
    snprintf(ans, sizeof ans, " %s\n", q->answer);
    const char *prompt = paraphrase ? q->paraphrase : q->prompt;
    int32_t *pi, *ai;
    int64_t np = tf_tok_bpe_encode(tok, prompt, strlen(prompt), &pi);
    int64_t na = tf_tok_bpe_encode(tok, ans, strlen(ans), &ai);
    if (np + na <= T + 1) {
        int32_t *x = out->x + out->n * T, *y = out->y + out->n * T;
        for (int64_t t = 0; t < T; t++) {
            int64_t j = t + 1; // the target of position t is token t + 1
            x[t] = t < np ? pi[t] : t < np + na ? ai[t - np] : 0;
            y[t] = j >= np && j < np + na ? ai[j - np] : -1;
        }
        out->src[out->n++] = i;
    }
    free(pi), free(ai);
}

void lab_examples_make(const LabData *d, int split, int64_t max_n, TfBpe *tok, int64_t T,
                       LabExamples *out)
{
    examples_alloc(out, d->n, T);
    for (int64_t i = 0; i < d->n && (max_n <= 0 || out->n < max_n); i++)
        if (d->qa[i].split == split) example_add(d, i, false, tok, out);
}

void lab_examples_rephrase(const LabData *d, const LabExamples *src, TfBpe *tok,
                           LabExamples *out)
{
    examples_alloc(out, src->n > 0 ? src->n : 1, src->T);
    for (int64_t r = 0; r < src->n; r++) example_add(d, src->src[r], true, tok, out);
}

void lab_examples_free(LabExamples *e)
{
    free(e->x), free(e->y), free(e->src);
    memset(e, 0, sizeof *e);
}

// Lowercase words of s without <tags> and punctuation, space-separated, into a new string.
static char *normalise(const char *s)
{
    size_t n = strlen(s), k = 0;
    char *o = malloc(n + 1);
    CHECK(o, "normalise: out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *close = s[i] == '<' ? memchr(s + i, '>', n - i < 32 ? n - i : 32) : NULL;
        if (close) i = (size_t)(close - s);
        else if (isalnum((unsigned char)s[i])) o[k++] = (char)tolower((unsigned char)s[i]);
        else if (k && o[k - 1] != ' ') o[k++] = ' ';
    }
    while (k && o[k - 1] == ' ') k--;
    o[k] = '\0';
    return o;
}

// Splits a normalised string in place into at most cap words; returns the count.
static int words(char *s, char **w, int cap)
{
    int n = 0;
    for (char *t = strtok(s, " "); t && n < cap; t = strtok(NULL, " ")) w[n++] = t;
    return n;
}

void lab_score(const char *pred, const char *ref, double *em, double *f1)
{
    char *p = normalise(pred), *r = normalise(ref);
    *em = strcmp(p, r) == 0;
    char *pw[128], *rw[128];
    int np = words(p, pw, 128), nr = words(r, rw, 128), common = 0;
    bool used[128] = {false};
    for (int i = 0; i < np; i++) // multiset overlap (SQuAD's token F1)
        for (int j = 0; j < nr; j++)
            if (!used[j] && strcmp(pw[i], rw[j]) == 0) {
                used[j] = true, common++;
                break;
            }
    *f1 = common ? 2.0 * common / (np + nr) : (np == 0 && nr == 0);
    free(p), free(r);
}

char *lab_greedy_answer(const TfModel *m, TfBpe *tok, const char *prompt, int max_new)
{
    int32_t *ids, out[256];
    int n_out = 0;
    int np = (int)tf_tok_bpe_encode(tok, prompt, strlen(prompt), &ids);
    if (max_new > 256) max_new = 256;
    if (np + max_new > m->cfg.ctx) max_new = m->cfg.ctx - np;
    TfInfer *s = tf_infer_create(m, m->cfg.ctx);
    const int32_t nl[] = {10}; // "\n" is its own pre-token, so byte 10's id ends the answer
    const int32_t *stops[] = {nl};
    TfSampler greedy = {.temperature = 0, .top_p = 1};
    int rc = max_new > 0 ? tf_generate(s, ids, np, max_new, &greedy, stops, (int[]){1}, 1, out,
                                       &n_out)
                         : ERR_INVALID;
    tf_infer_free(s);
    free(ids);
    char *text = NULL;
    size_t len;
    if (rc != ERR_OK || tf_tok_bpe_decode(tok, out, n_out, &text, &len) != ERR_OK)
        return strdup("");
    text[strcspn(text, "\n")] = '\0';
    memmove(text, text + (text[0] == ' '), strlen(text) + 1 - (text[0] == ' '));
    return text;
}
