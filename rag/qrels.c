/*
 * qrels.c: relevance judgements and the FOLDOC / WordNet benchmarks (see qrels.h).
 */
#include "rag/qrels.h"

#include "core/err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// RagQrels
// ---------------------------------------------------------------------------

int64_t rag_qrels_add_query(RagQrels *qr, const char *qid)
{
    CHECK(qr && qid && *qid, "rag_qrels_add_query: NULL or empty qid");
    for (const char *c = qid; *c; c++)
        CHECK(!isspace((unsigned char)*c), "rag_qrels_add_query: qid '%s' holds a space", qid);
    if (qr->n_queries + 2 > qr->qcap_) {
        int64_t cap = qr->qcap_ ? 2 * qr->qcap_ : 64;
        qr->qids = xrealloc(qr->qids, (size_t)cap * sizeof *qr->qids);
        qr->start = xrealloc(qr->start, (size_t)(cap + 1) * sizeof *qr->start);
        if (!qr->qcap_) qr->start[0] = 0;
        qr->qcap_ = cap;
    }
    int64_t q = qr->n_queries++;
    qr->qids[q] = xstrdup(qid);
    qr->start[q + 1] = qr->start[q];
    return q;
}

void rag_qrels_add(RagQrels *qr, int64_t doc, int rel)
{
    CHECK(qr && qr->n_queries > 0, "rag_qrels_add: no query to add to");
    int64_t q = qr->n_queries - 1, n = qr->start[q + 1];
    for (int64_t i = qr->start[q]; i < n; i++)
        CHECK(qr->j[i].doc != doc, "rag_qrels_add: query %s judges doc %lld twice", qr->qids[q],
              (long long)doc);
    if (n + 1 > qr->jcap_) {
        qr->jcap_ = qr->jcap_ ? 2 * qr->jcap_ : 64;
        qr->j = xrealloc(qr->j, (size_t)qr->jcap_ * sizeof *qr->j);
    }
    qr->j[n] = (RagJudgement){.doc = doc, .rel = rel};
    qr->start[q + 1] = n + 1;
}

int64_t rag_qrels_n_relevant(const RagQrels *qr, int64_t q)
{
    CHECK(qr && q >= 0 && q < qr->n_queries, "rag_qrels_n_relevant: query %lld", (long long)q);
    int64_t n = 0;
    for (int64_t i = qr->start[q]; i < qr->start[q + 1]; i++) n += qr->j[i].rel > 0;
    return n;
}

int64_t rag_qrels_find(const RagQrels *qr, const char *qid)
{
    for (int64_t q = 0; q < qr->n_queries; q++)
        if (strcmp(qr->qids[q], qid) == 0) return q;
    return -1;
}

void rag_qrels_free(RagQrels *qr)
{
    if (!qr) return;
    for (int64_t q = 0; q < qr->n_queries; q++) free(qr->qids[q]);
    free(qr->qids);
    free(qr->start);
    free(qr->j);
    *qr = (RagQrels){0};
}

// ---------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------

// Bytes of a word for boundary tests: ASCII letters and digits, and any non-ASCII byte.
static bool word_byte(unsigned char c) { return isalnum(c) || c >= 0x80; }

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

// A hash in [0, 1) of `key` under `salt` (FNV-1a 64, then the top 53 bits).
static double hash01(uint64_t salt, const char *key)
{
    uint64_t h = fnv1a(1469598103934665603ull ^ (salt * 0x9e3779b97f4a7c15ull), key);
    h ^= h >> 33; // FNV's low bits mix poorly for short keys; fold the high ones in
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (double)(h >> 11) / 9007199254740992.0;
}

// The split hash's salt: a fixed constant, so the split never depends on the seed.
#define SPLIT_SALT 0x5eed5417ULL

// A name usable as a TREC docno/qid: `prefix` then s with bytes <= ' ', 0x7f and '%' as %XX.
static char *encode_name(const char *prefix, const char *s)
{
    size_t n = strlen(prefix) + 3 * strlen(s) + 1;
    char *out = xmalloc(n), *w = out;
    w += sprintf(w, "%s", prefix);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c <= ' ' || *c == 0x7f || *c == '%') w += sprintf(w, "%%%02X", *c);
        else *w++ = (char)*c;
    }
    *w = '\0';
    return out;
}

// Number of words (whitespace-separated runs holding at least one word byte) in s.
static int count_words(const char *s)
{
    int n = 0;
    while (*s) {
        while (*s && isspace((unsigned char)*s)) s++;
        bool has = false;
        while (*s && !isspace((unsigned char)*s)) has |= word_byte((unsigned char)*s++);
        n += has;
    }
    return n;
}

// Blanks every whole-word occurrence of each headword in s (in place), ignoring ASCII case,
// also followed by one of the suffixes below.
static void remove_headwords(char *s, const char *const *headwords)
{
    static const char *const SUFFIX[] = {"'s", "es", "s", "'", ""};
    size_t n = strlen(s);
    for (const char *const *h = headwords; h && *h; h++) {
        size_t hl = strlen(*h);
        if (hl == 0) continue;
        for (size_t i = 0; i + hl <= n; i++) {
            if (i > 0 && word_byte((unsigned char)s[i - 1]) && word_byte((unsigned char)**h))
                continue; // inside a word
            if (strncasecmp(s + i, *h, hl) != 0) continue;
            for (int k = 0; k < 5; k++) {
                size_t sl = strlen(SUFFIX[k]), end = i + hl + sl;
                if (end > n || strncasecmp(s + i + hl, SUFFIX[k], sl) != 0) continue;
                unsigned char last = (unsigned char)(sl ? SUFFIX[k][sl - 1] : (*h)[hl - 1]);
                if (end < n && word_byte((unsigned char)s[end]) && word_byte(last)) continue;
                memset(s + i, ' ', end - i);
                i = end - 1;
                break;
            }
        }
    }
}

// Collapses runs of white space to one space and trims, in place; then keeps at most
// max_words words (max_words <= 0: all).
static void squeeze(char *s, int max_words)
{
    char *w = s;
    int words = 0;
    for (const char *r = s; *r;) {
        while (*r && isspace((unsigned char)*r)) r++;
        if (!*r) break;
        if (max_words > 0 && words == max_words) break;
        if (w != s) *w++ = ' ';
        while (*r && !isspace((unsigned char)*r)) *w++ = *r++;
        words++;
    }
    *w = '\0';
}

// True when the '.' at s[i] ends a sentence: followed by white space or the end, and not
// after an abbreviation such as "e.g." or a single letter ("J. Smith").
static bool sentence_end(const char *s, size_t i, size_t end)
{
    if (s[i] != '.' && s[i] != '?' && s[i] != '!') return false;
    if (i + 1 < end && !isspace((unsigned char)s[i + 1])) return false;
    if (s[i] != '.') return true;
    size_t b = i;
    while (b > 0 && !isspace((unsigned char)s[b - 1])) b--;
    size_t wl = i - b;
    if (wl <= 1) return false;                                   // "J." or a lone "."
    if (wl == 3 && (strncasecmp(s + b, "e.g", 3) == 0 || strncasecmp(s + b, "i.e", 3) == 0 ||
                    strncasecmp(s + b, "etc", 3) == 0))
        return false;
    if (wl == 2 && (strncasecmp(s + b, "vs", 2) == 0 || strncasecmp(s + b, "cf", 2) == 0))
        return false;
    return true;
}

char *rag_bench_definition_query(const char *body, const char *const *headwords, int min_words,
                                 int max_words, int64_t *used)
{
    CHECK(body, "rag_bench_definition_query: NULL body");
    if (used) *used = 0;
    // The first paragraph: up to the first blank line.
    const char *para = strstr(body, "\n\n");
    size_t end = para ? (size_t)(para - body) : strlen(body);
    // Whole sentences until enough words (counted after cleaning), at most two.
    size_t cut = 0;
    char *q = NULL;
    for (int sentences = 0; sentences < 2 && cut < end; sentences++) {
        size_t i = cut;
        while (i < end && !sentence_end(body, i, end)) i++;
        cut = i < end ? i + 1 : end;
        free(q);
        q = xmalloc(cut + 1);
        // Copy without "<category>" tags; a leading "1." sense number is dropped below.
        size_t w = 0;
        for (size_t r = 0; r < cut; r++) {
            if (body[r] == '<') {
                const char *gt = memchr(body + r, '>', cut - r);
                if (gt) {
                    r = (size_t)(gt - body);
                    q[w++] = ' ';
                    continue;
                }
            }
            q[w++] = body[r];
        }
        q[w] = '\0';
        char *p = q;
        while (isspace((unsigned char)*p)) p++;
        if (isdigit((unsigned char)p[0]) && p[1] == '.' && isspace((unsigned char)p[2]))
            p[0] = p[1] = ' ';
        squeeze(q, 0); // one space between words, so multi-word headwords match across lines
        remove_headwords(q, headwords);
        if (count_words(q) >= min_words) break;
    }
    squeeze(q, max_words);
    if (count_words(q) < min_words) {
        free(q);
        return NULL;
    }
    if (used) *used = (int64_t)cut;
    return q;
}

// ---------------------------------------------------------------------------
// Benchmarks: shared
// ---------------------------------------------------------------------------

RagBenchConfig rag_bench_default_config(void)
{
    return (RagBenchConfig){.seed = 1, .max_queries = 0, .test_fraction = 0.3,
                            .min_query_words = 6, .max_query_words = 32, .min_doc_words = 8,
                            .keep_query_text = false, .wordnet_holdout = 0.02};
}

void rag_benchmark_free(RagBenchmark *b)
{
    if (!b) return;
    for (int64_t d = 0; d < b->n_docs; d++) {
        free(b->doc_names[d]);
        free(b->doc_texts[d]);
    }
    for (int64_t q = 0; q < b->n_queries; q++) free(b->queries[q]);
    free(b->doc_names);
    free(b->doc_texts);
    free(b->queries);
    free(b->is_test);
    rag_qrels_free(&b->qrels);
    *b = (RagBenchmark){0};
}

// A candidate query before sampling.
static int pstr_cmp(const void *a, const void *b)
{
    int c = strcmp(**(char *const *const *)a, **(char *const *const *)b);
    if (c) return c;
    // Equal names keep their original order (the first one keeps the plain name).
    const void *pa = *(char *const *const *)a, *pb = *(char *const *const *)b;
    return (pa > pb) - (pa < pb);
}

// Makes the n strings *names[i] unique: the second and later copies of a name get "~2", "~3"
// appended (reallocated). FOLDOC has a few headwords with two separate entries ("actor").
static void make_unique(char **names, int64_t n)
{
    char ***p = xmalloc((size_t)(n ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = &names[i];
    qsort(p, (size_t)n, sizeof *p, pstr_cmp);
    for (int64_t i = 1, run = 1; i < n; i++) {
        run = strcmp(*p[i], *p[i - 1 - (run - 1)]) == 0 ? run + 1 : 1;
        if (run == 1) continue;
        size_t len = strlen(*p[i]);
        char *r = xmalloc(len + 24);
        snprintf(r, len + 24, "%s~%lld", *p[i], (long long)run);
        free(*p[i]);
        *p[i] = r;
    }
    free(p);
}

typedef struct {
    char *qid;
    char *text;
    int64_t *rel;  // relevant docs
    int64_t n_rel;
    double order;  // seeded hash: the sampling order
    bool test;
} Cand;

static int cand_cmp(const void *pa, const void *pb)
{
    const Cand *a = pa, *b = pb;
    if (a->order != b->order) return a->order < b->order ? -1 : 1;
    return strcmp(a->qid, b->qid);
}

// Sorts the candidates by their seeded hash, keeps max_queries of them (0 = all) and moves them
// into b (queries, is_test, qrels), in the kept order. Frees the candidates.
static void take_queries(Cand *c, int64_t n, const RagBenchConfig *cfg, RagBenchmark *b)
{
    qsort(c, (size_t)n, sizeof *c, cand_cmp);
    int64_t keep = cfg->max_queries > 0 && cfg->max_queries < n ? cfg->max_queries : n;
    b->queries = xmalloc((size_t)(keep ? keep : 1) * sizeof *b->queries);
    b->is_test = xmalloc((size_t)(keep ? keep : 1) * sizeof *b->is_test);
    for (int64_t i = 0; i < n; i++) {
        if (i < keep) {
            b->queries[i] = c[i].text;
            b->is_test[i] = c[i].test;
            rag_qrels_add_query(&b->qrels, c[i].qid);
            for (int64_t r = 0; r < c[i].n_rel; r++) rag_qrels_add(&b->qrels, c[i].rel[r], 1);
        } else {
            free(c[i].text);
        }
        free(c[i].qid);
        free(c[i].rel);
    }
    b->n_queries = keep;
    free(c);
}

static void check_config(const RagBenchConfig *c)
{
    CHECK(c->max_queries >= 0 && c->test_fraction >= 0 && c->test_fraction <= 1 &&
              c->min_query_words >= 1 && c->max_query_words >= c->min_query_words &&
              c->min_doc_words >= 0 && c->wordnet_holdout > 0 && c->wordnet_holdout <= 1,
          "rag_benchmark: bad RagBenchConfig (max_queries %lld, test_fraction %g, query words "
          "%d..%d, min_doc_words %d, wordnet_holdout %g)",
          (long long)c->max_queries, c->test_fraction, c->min_query_words, c->max_query_words,
          c->min_doc_words, c->wordnet_holdout);
}

// ---------------------------------------------------------------------------
// FOLDOC
// ---------------------------------------------------------------------------

typedef struct {
    int64_t offset, length, doc;
} TextKey;

static int textkey_cmp(const void *pa, const void *pb)
{
    const TextKey *a = pa, *b = pb;
    if (a->offset != b->offset) return (a->offset > b->offset) - (a->offset < b->offset);
    return (a->length > b->length) - (a->length < b->length);
}

int rag_benchmark_from_dict(const DsDict *d, const char *prefix, const RagBenchConfig *cfg,
                            RagBenchmark *out)
{
    CHECK(d && prefix && out, "rag_benchmark_from_dict: NULL argument");
    RagBenchConfig c = cfg ? *cfg : rag_bench_default_config();
    check_config(&c);
    *out = (RagBenchmark){.name = "foldoc"};
    RagBenchmark *b = out;

    // One document per distinct text (aliases point at an earlier entry's text).
    int64_t n_docs = 0;
    for (int64_t i = 0; i < d->n; i++) n_docs += !d->entries[i].alias;
    int64_t *entry_of = xmalloc((size_t)(n_docs ? n_docs : 1) * sizeof *entry_of);
    TextKey *keys = xmalloc((size_t)(n_docs ? n_docs : 1) * sizeof *keys);
    n_docs = 0;
    for (int64_t i = 0; i < d->n; i++) {
        if (d->entries[i].alias) continue;
        keys[n_docs] = (TextKey){d->entries[i].offset, d->entries[i].length, n_docs};
        entry_of[n_docs++] = i;
    }
    qsort(keys, (size_t)n_docs, sizeof *keys, textkey_cmp);
    // Headwords per document: its own, then its aliases' (a NULL-terminated list each).
    int64_t *n_head = xcalloc((size_t)(n_docs ? n_docs : 1), sizeof *n_head);
    const char ***heads = xcalloc((size_t)(n_docs ? n_docs : 1), sizeof *heads);
    for (int64_t i = 0; i < d->n; i++) {
        const DsEntry *e = &d->entries[i];
        TextKey k = {e->offset, e->length, 0};
        const TextKey *hit = bsearch(&k, keys, (size_t)n_docs, sizeof *keys, textkey_cmp);
        if (!hit) continue;
        int64_t doc = hit->doc;
        heads[doc] = xrealloc(heads[doc], (size_t)(n_head[doc] + 2) * sizeof *heads[doc]);
        heads[doc][n_head[doc]++] = e->headword;
        heads[doc][n_head[doc]] = NULL;
    }

    b->n_docs = n_docs;
    b->doc_names = xmalloc((size_t)(n_docs ? n_docs : 1) * sizeof *b->doc_names);
    b->doc_texts = xmalloc((size_t)(n_docs ? n_docs : 1) * sizeof *b->doc_texts);
    Cand *cand = xmalloc((size_t)(n_docs ? n_docs : 1) * sizeof *cand);
    int64_t n_cand = 0;
    char pfx[64];
    snprintf(pfx, sizeof pfx, "%s:", prefix);
    char qpfx[80];
    snprintf(qpfx, sizeof qpfx, "%s-q:", prefix);
    for (int64_t doc = 0; doc < n_docs; doc++) {
        const DsEntry *e = &d->entries[entry_of[doc]];
        char *body = ds_dict_body(e);
        b->doc_names[doc] = encode_name(pfx, e->headword);
        int64_t used = 0;
        char *q = rag_bench_definition_query(body, heads[doc], c.min_query_words,
                                             c.max_query_words, &used);
        const char *rest = q && !c.keep_query_text ? body + used : body;
        if (q && count_words(rest) < c.min_doc_words) {
            free(q);
            q = NULL;
            rest = body;
        }
        size_t hl = strlen(e->headword), rl = strlen(rest);
        char *text = xmalloc(hl + rl + 2);
        memcpy(text, e->headword, hl);
        text[hl] = '\n';
        memcpy(text + hl + 1, rest, rl + 1);
        b->doc_texts[doc] = text;
        if (q) {
            Cand *k = &cand[n_cand++];
            k->qid = encode_name(qpfx, e->headword);
            k->text = q;
            k->rel = xmalloc(sizeof *k->rel);
            k->rel[0] = doc;
            k->n_rel = 1;
            k->order = hash01(c.seed, e->headword);
            k->test = hash01(SPLIT_SALT, e->headword) < c.test_fraction;
        }
        free(body);
    }
    make_unique(b->doc_names, n_docs);
    {
        char **qids = xmalloc((size_t)(n_cand ? n_cand : 1) * sizeof *qids);
        for (int64_t i = 0; i < n_cand; i++) qids[i] = cand[i].qid;
        make_unique(qids, n_cand);
        for (int64_t i = 0; i < n_cand; i++) cand[i].qid = qids[i];
        free(qids);
    }
    take_queries(cand, n_cand, &c, b);
    for (int64_t doc = 0; doc < n_docs; doc++) free(heads[doc]);
    free(heads);
    free(n_head);
    free(keys);
    free(entry_of);
    return ERR_OK;
}

int rag_benchmark_foldoc(const RagBenchConfig *cfg, RagBenchmark *out)
{
    CHECK(out, "rag_benchmark_foldoc: NULL out");
    *out = (RagBenchmark){0};
    DsDict d;
    int rc = ds_dict_load("foldoc", &d);
    if (rc) return rc;
    rc = rag_benchmark_from_dict(&d, "foldoc", cfg, out);
    ds_dict_free(&d);
    return rc;
}

// ---------------------------------------------------------------------------
// WordNet
// ---------------------------------------------------------------------------

// Words a WordNet query needs (glosses are short: "tip laterally").
#define WN_MIN_QUERY_WORDS 3

typedef struct {
    const char *word; // as WordNet writes it (borrowed)
    int64_t synset;
} LemmaSense;

static int sense_cmp(const void *pa, const void *pb)
{
    const LemmaSense *a = pa, *b = pb;
    int c = strcasecmp(a->word, b->word);
    if (c) return c;
    return (a->synset > b->synset) - (a->synset < b->synset);
}

// The synset's key for hashing: "n01234567".
static void synset_key(const DsWordNet *wn, int64_t s, char key[32])
{
    snprintf(key, 32, "%c%08lld", wn->synsets[s].pos, (long long)wn->synsets[s].offset);
}

// Appends s to the growing string *buf (length *n, capacity *cap).
static void append(char **buf, size_t *n, size_t *cap, const char *s, size_t len)
{
    if (*n + len + 1 > *cap) {
        *cap = 2 * (*n + len + 1);
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf + *n, s, len);
    *n += len;
    (*buf)[*n] = '\0';
}

int rag_benchmark_from_wordnet(const DsWordNet *wn, const RagBenchConfig *cfg,
                               RagBenchmark *out)
{
    CHECK(wn && out, "rag_benchmark_from_wordnet: NULL argument");
    RagBenchConfig c = cfg ? *cfg : rag_bench_default_config();
    check_config(&c);
    *out = (RagBenchmark){.name = "wordnet"};
    RagBenchmark *b = out;
    int64_t ns = wn->n_synsets;

    bool *held = xmalloc((size_t)(ns ? ns : 1) * sizeof *held);
    char key[32];
    for (int64_t s = 0; s < ns; s++) {
        synset_key(wn, s, key);
        held[s] = hash01(0x3a11d0u, key) < c.wordnet_holdout;
    }
    // Every (lemma, synset) pair, grouped by lemma ignoring case.
    LemmaSense *ls = xmalloc((size_t)(wn->n_words ? wn->n_words : 1) * sizeof *ls);
    int64_t n = 0;
    for (int64_t s = 0; s < ns; s++)
        for (int64_t w = 0; w < wn->synsets[s].n_words; w++)
            ls[n++] = (LemmaSense){ds_wordnet_word(wn, s, w), s};
    qsort(ls, (size_t)n, sizeof *ls, sense_cmp);

    // Documents: lemmas with at least one sense that is not held out. doc_of[i] for pair i.
    int64_t *doc_of = xmalloc((size_t)(n ? n : 1) * sizeof *doc_of);
    int64_t cap_docs = 1024;
    b->doc_names = xmalloc((size_t)cap_docs * sizeof *b->doc_names);
    b->doc_texts = xmalloc((size_t)cap_docs * sizeof *b->doc_texts);
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && strcasecmp(ls[j].word, ls[i].word) == 0) j++;
        char *text = NULL;
        size_t tn = 0, tcap = 0;
        for (int64_t k = i; k < j; k++) {
            if (held[ls[k].synset] || (k > i && ls[k].synset == ls[k - 1].synset)) continue;
            const DsSynset *sy = &wn->synsets[ls[k].synset];
            if (!text) {
                append(&text, &tn, &tcap, ls[i].word, strlen(ls[i].word));
                append(&text, &tn, &tcap, ":", 1);
            }
            for (int64_t w = 0; w < sy->n_words; w++) {
                const char *syn = ds_wordnet_word(wn, ls[k].synset, w);
                if (strcasecmp(syn, ls[i].word) == 0) continue;
                append(&text, &tn, &tcap, " ", 1);
                append(&text, &tn, &tcap, syn, strlen(syn));
                append(&text, &tn, &tcap, ",", 1);
            }
            append(&text, &tn, &tcap, " ", 1);
            append(&text, &tn, &tcap, sy->gloss, strlen(sy->gloss));
            append(&text, &tn, &tcap, ";", 1);
        }
        int64_t doc = -1;
        if (text) {
            if (b->n_docs == cap_docs) {
                cap_docs *= 2;
                b->doc_names = xrealloc(b->doc_names, (size_t)cap_docs * sizeof *b->doc_names);
                b->doc_texts = xrealloc(b->doc_texts, (size_t)cap_docs * sizeof *b->doc_texts);
            }
            doc = b->n_docs++;
            char *lower = xstrdup(ls[i].word);
            for (char *p = lower; *p; p++) *p = (char)tolower((unsigned char)*p);
            b->doc_names[doc] = encode_name("wordnet:", lower);
            b->doc_texts[doc] = text;
            free(lower);
        }
        for (int64_t k = i; k < j; k++) doc_of[k] = doc;
        i = j;
    }

    // Queries: the held-out synsets; relevant = their lemmas' documents. Map (word, synset)
    // back to a document through the sorted pairs.
    Cand *cand = xmalloc((size_t)(ns ? ns : 1) * sizeof *cand);
    int64_t n_cand = 0;
    for (int64_t s = 0; s < ns; s++) {
        if (!held[s]) continue;
        const DsSynset *sy = &wn->synsets[s];
        int64_t *rel = xmalloc((size_t)sy->n_words * sizeof *rel), n_rel = 0;
        const char **hw = xmalloc((size_t)(sy->n_words + 1) * sizeof *hw);
        for (int64_t w = 0; w < sy->n_words; w++) {
            LemmaSense k = {ds_wordnet_word(wn, s, w), s};
            hw[w] = k.word;
            const LemmaSense *hit = bsearch(&k, ls, (size_t)n, sizeof *ls, sense_cmp);
            int64_t doc = hit ? doc_of[hit - ls] : -1;
            bool dup = false;
            for (int64_t r = 0; r < n_rel; r++) dup |= rel[r] == doc;
            if (doc >= 0 && !dup) rel[n_rel++] = doc;
        }
        hw[sy->n_words] = NULL;
        // The definition: the gloss before its first quoted example.
        const char *ex = strstr(sy->gloss, "; \"");
        size_t dl = ex ? (size_t)(ex - sy->gloss) : strlen(sy->gloss);
        char *q = xmalloc(dl + 1);
        memcpy(q, sy->gloss, dl);
        q[dl] = '\0';
        remove_headwords(q, hw);
        squeeze(q, c.max_query_words);
        free(hw);
        if (n_rel == 0 || count_words(q) < WN_MIN_QUERY_WORDS) {
            free(rel);
            free(q);
            continue;
        }
        synset_key(wn, s, key);
        Cand *k = &cand[n_cand++];
        char qid[48];
        snprintf(qid, sizeof qid, "wordnet-q:%s", key);
        k->qid = xstrdup(qid);
        k->text = q;
        k->rel = rel;
        k->n_rel = n_rel;
        k->order = hash01(c.seed, key);
        k->test = hash01(SPLIT_SALT, key) < c.test_fraction;
    }
    take_queries(cand, n_cand, &c, b);
    free(doc_of);
    free(ls);
    free(held);
    return ERR_OK;
}

int rag_benchmark_wordnet(const RagBenchConfig *cfg, RagBenchmark *out)
{
    CHECK(out, "rag_benchmark_wordnet: NULL out");
    *out = (RagBenchmark){0};
    DsWordNet wn;
    int rc = ds_wordnet_load(&wn);
    if (rc) return rc;
    rc = rag_benchmark_from_wordnet(&wn, cfg, out);
    ds_wordnet_free(&wn);
    return rc;
}
