/*
 * eval.c: retrieval metrics, TREC run/qrels files and the results table (see eval.h).
 */
#include "rag/eval.h"

#include "core/err.h"
#include "core/exercise.h"
#include "core/io.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Per-query metrics
// ---------------------------------------------------------------------------

// The grade of document `id` in j[0..n), 0 when not judged.
static int grade_of(const RagJudgement *j, int64_t n, int64_t id)
{
    for (int64_t i = 0; i < n; i++)
        if (j[i].doc == id) return j[i].rel;
    return 0;
}

// True when hits[i].id already occurred in hits[0..i) (a repeat counts at its first place).
static bool repeated(const RagHit *hits, int64_t i)
{
    for (int64_t p = 0; p < i; p++)
        if (hits[p].id == hits[i].id) return true;
    return false;
}

static int cmp_int_desc(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    return (a < b) - (a > b);
}

void rag_eval_recall_ndcg(const RagHit *hits, int64_t n_hits, const RagJudgement *j,
                          int64_t n_j, int64_t k, double *recall, double *ndcg)
{
    CHECK(recall && ndcg && (hits || n_hits == 0) && (j || n_j == 0) && k >= 1,
          "rag_eval_recall_ndcg: bad arguments (k = %lld)", (long long)k);
    // EXERCISE(w05.recall_ndcg): recall@k and nDCG@k of one query.
    //   R = number of judgements with rel > 0. If R == 0 both are 0.
    //   Walk the first min(k, n_hits) hits, rank i = 1, 2, ...; skip a hit whose id appeared
    //   earlier in the list (repeated(hits, i - 1)). g = grade_of(j, n_j, id).
    //   recall@k = (hits with g > 0) / R;  DCG = sum g / log2(i + 1) over those hits.
    //   IDCG = the same sum over the judgements' positive grades sorted descending (rank 1 is
    //   the largest grade), first k of them. nDCG@k = DCG / IDCG.
    // STUB: exercise_stub("w05.recall_ndcg"); (void)grade_of; (void)repeated;
    // STUB: (void)cmp_int_desc; *recall = -1.0; *ndcg = -1.0; return;
    int *g = xmalloc((size_t)(n_j ? n_j : 1) * sizeof *g);
    int64_t R = 0;
    for (int64_t i = 0; i < n_j; i++)
        if (j[i].rel > 0) g[R++] = j[i].rel;
    *recall = *ndcg = 0.0;
    if (R == 0) {
        free(g);
        return;
    }
    int64_t found = 0;
    double dcg = 0.0, idcg = 0.0;
    int64_t top = n_hits < k ? n_hits : k;
    for (int64_t i = 0; i < top; i++) {
        if (repeated(hits, i)) continue;
        int rel = grade_of(j, n_j, hits[i].id);
        if (rel <= 0) continue;
        found++;
        dcg += (double)rel / log2((double)(i + 2)); // rank i + 1: discount log2(rank + 1)
    }
    qsort(g, (size_t)R, sizeof *g, cmp_int_desc);
    for (int64_t i = 0; i < R && i < k; i++) idcg += (double)g[i] / log2((double)(i + 2));
    *recall = (double)found / (double)R;
    *ndcg = dcg / idcg;
    free(g);
    // END EXERCISE
}

double rag_eval_query(const RagHit *hits, int64_t n_hits, const RagJudgement *j, int64_t n_j,
                      RagEvalMetric m)
{
    CHECK((hits || n_hits == 0) && (j || n_j == 0), "rag_eval_query: NULL hits or judgements");
    CHECK(m.k >= 1 || (m.kind == RAG_EVAL_MRR && m.k == 0), "rag_eval_query: k = %lld",
          (long long)m.k);
    double recall, ndcg;
    switch (m.kind) {
    case RAG_EVAL_RECALL:
        rag_eval_recall_ndcg(hits, n_hits, j, n_j, m.k, &recall, &ndcg);
        return recall;
    case RAG_EVAL_NDCG:
        rag_eval_recall_ndcg(hits, n_hits, j, n_j, m.k, &recall, &ndcg);
        return ndcg;
    case RAG_EVAL_PRECISION: {
        int64_t found = 0, top = n_hits < m.k ? n_hits : m.k;
        for (int64_t i = 0; i < top; i++)
            found += !repeated(hits, i) && grade_of(j, n_j, hits[i].id) > 0;
        return (double)found / (double)m.k;
    }
    case RAG_EVAL_MRR: {
        int64_t top = m.k == 0 || n_hits < m.k ? n_hits : m.k;
        for (int64_t i = 0; i < top; i++)
            if (grade_of(j, n_j, hits[i].id) > 0) return 1.0 / (double)(i + 1);
        return 0.0;
    }
    default:
        CHECK(0, "rag_eval_query: metric kind %d", (int)m.kind);
    }
    return 0.0;
}

double rag_eval_mean(const RagQrels *qr, const RagHit *const *runs, const int64_t *n_hits,
                     const bool *only, RagEvalMetric m)
{
    CHECK(qr && runs && n_hits, "rag_eval_mean: NULL argument");
    double sum = 0.0;
    int64_t n = 0;
    for (int64_t q = 0; q < qr->n_queries; q++) {
        if (only && !only[q]) continue;
        if (rag_qrels_n_relevant(qr, q) == 0) continue;
        const RagJudgement *j = qr->j + qr->start[q];
        sum += rag_eval_query(runs[q], n_hits[q], j, qr->start[q + 1] - qr->start[q], m);
        n++;
    }
    return n ? sum / (double)n : NAN;
}

const char *rag_eval_metric_name(RagEvalMetric m, char buf[32])
{
    static const char *const NAME[RAG_EVAL_COUNT] = {"recall", "P", "MRR", "nDCG"};
    CHECK(m.kind >= 0 && m.kind < RAG_EVAL_COUNT, "rag_eval_metric_name: kind %d", (int)m.kind);
    if (m.k == 0) snprintf(buf, 32, "%s", NAME[m.kind]);
    else snprintf(buf, 32, "%s@%lld", NAME[m.kind], (long long)m.k);
    return buf;
}

void rag_eval_print_table(FILE *f, const char *const *systems, int64_t n_systems,
                          const RagEvalMetric *metrics, int64_t n_metrics, const double *values)
{
    CHECK(f && (systems || !n_systems) && (metrics || !n_metrics) && values,
          "rag_eval_print_table: NULL argument");
    int w = 6;
    for (int64_t s = 0; s < n_systems; s++)
        if ((int)strlen(systems[s]) > w) w = (int)strlen(systems[s]);
    char name[32];
    fprintf(f, "%-*s", w, "system");
    for (int64_t m = 0; m < n_metrics; m++)
        fprintf(f, "  %9s", rag_eval_metric_name(metrics[m], name));
    fprintf(f, "\n");
    for (int64_t s = 0; s < n_systems; s++) {
        fprintf(f, "%-*s", w, systems[s]);
        for (int64_t m = 0; m < n_metrics; m++) {
            double v = values[s * n_metrics + m];
            if (isnan(v)) fprintf(f, "  %9s", "-");
            else fprintf(f, "  %9.4f", v);
        }
        fprintf(f, "\n");
    }
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

static void check_name(const char *what, const char *s)
{
    CHECK(s && *s, "eval: empty %s", what);
    for (const char *c = s; *c; c++)
        CHECK(!isspace((unsigned char)*c), "eval: %s '%s' holds white space", what, s);
}

int rag_eval_write_run(const char *path, const char *const *qids, int64_t n_queries,
                       const RagHit *const *runs, const int64_t *n_hits,
                       const char *const *doc_names, int64_t n_docs, const char *tag)
{
    CHECK(path && (qids || !n_queries) && runs && n_hits && tag, "rag_eval_write_run: NULL");
    check_name("run tag", tag);
    IoAtomic *a;
    int rc = io_atomic_open(path, &a);
    if (rc) return rc;
    FILE *fp = io_atomic_fp(a);
    for (int64_t q = 0; q < n_queries; q++) {
        check_name("qid", qids[q]);
        for (int64_t i = 0; i < n_hits[q]; i++) {
            int64_t id = runs[q][i].id;
            if (doc_names) {
                CHECK(id >= 0 && id < n_docs, "rag_eval_write_run: id %lld outside [0, %lld)",
                      (long long)id, (long long)n_docs);
                check_name("docno", doc_names[id]);
                fprintf(fp, "%s Q0 %s %lld %.9g %s\n", qids[q], doc_names[id],
                        (long long)(i + 1), (double)runs[q][i].score, tag);
            } else {
                fprintf(fp, "%s Q0 %lld %lld %.9g %s\n", qids[q], (long long)id,
                        (long long)(i + 1), (double)runs[q][i].score, tag);
            }
        }
    }
    return io_atomic_commit(a);
}

int rag_eval_write_qrels(const char *path, const RagQrels *qr, const char *const *doc_names,
                         int64_t n_docs)
{
    CHECK(path && qr && doc_names, "rag_eval_write_qrels: NULL argument");
    IoAtomic *a;
    int rc = io_atomic_open(path, &a);
    if (rc) return rc;
    FILE *fp = io_atomic_fp(a);
    for (int64_t q = 0; q < qr->n_queries; q++) {
        for (int64_t i = qr->start[q]; i < qr->start[q + 1]; i++) {
            int64_t id = qr->j[i].doc;
            CHECK(id < n_docs, "rag_eval_write_qrels: id %lld >= %lld", (long long)id,
                  (long long)n_docs);
            if (id >= 0) fprintf(fp, "%s 0 %s %d\n", qr->qids[q], doc_names[id], qr->j[i].rel);
            else fprintf(fp, "%s 0 unknown:%lld %d\n", qr->qids[q], -(long long)id,
                         qr->j[i].rel);
        }
    }
    return io_atomic_commit(a);
}

// A string -> id table for docnos (open addressing; keys borrowed).
typedef struct {
    const char **key;
    int64_t *val;
    int64_t cap, n;
} NameMap;

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int64_t *name_slot(NameMap *m, const char *s)
{
    uint64_t mask = (uint64_t)m->cap - 1;
    for (uint64_t h = name_hash(s) & mask;; h = (h + 1) & mask) {
        if (!m->key[h]) {
            m->key[h] = s;
            m->val[h] = INT64_MIN; // new: the caller fills it
            m->n++;
            return &m->val[h];
        }
        if (strcmp(m->key[h], s) == 0) return &m->val[h];
    }
}

typedef struct {
    char *qid, *doc; // point into the file's text
    int rel;
    int64_t line;    // 1-based, for messages and to keep file order among equal qids
    int64_t id;      // the docno's id
} Row;

static int row_cmp(const void *pa, const void *pb)
{
    const Row *a = pa, *b = pb;
    int c = strcmp(a->qid, b->qid);
    if (c) return c;
    return (a->line > b->line) - (a->line < b->line);
}

int rag_eval_read_qrels(const char *path, const char *const *doc_names, int64_t n_docs,
                        RagQrels *out)
{
    CHECK(path && out && (doc_names || n_docs == 0), "rag_eval_read_qrels: NULL argument");
    *out = (RagQrels){0};
    unsigned char *data;
    size_t size;
    int rc = io_read_all(path, &data, &size);
    if (rc) return rc;

    // Split into rows (fields point into data, NUL-terminated in place).
    Row *rows = NULL;
    int64_t n_rows = 0, cap_rows = 0, line = 0;
    char *p = (char *)data;
    while (*p && rc == ERR_OK) {
        line++;
        char *eol = strchr(p, '\n');
        if (eol) *eol = '\0';
        char *f[5];
        int nf = 0;
        for (char *sv, *t = strtok_r(p, " \t\r", &sv); t; t = strtok_r(NULL, " \t\r", &sv))
            if (nf < 5) f[nf++] = t;
            else nf = 6;
        p = eol ? eol + 1 : p + strlen(p);
        if (nf == 0) continue;
        if (nf != 4) {
            rc = err_set(ERR_FORMAT, "qrels: %s:%lld: expected 4 fields 'qid 0 docno rel', "
                         "found %d; hint: is this a run file (6 fields)?", path,
                         (long long)line, nf > 5 ? 6 : nf);
            break;
        }
        char *end;
        errno = 0;
        long rel = strtol(f[3], &end, 10);
        if (*end || errno || rel < -1000000 || rel > 1000000) {
            rc = err_set(ERR_FORMAT, "qrels: %s:%lld: field rel is '%s', expected an integer "
                         "grade; hint: the 4th field is the relevance (0, 1, 2 ...)", path,
                         (long long)line, f[3]);
            break;
        }
        if (n_rows == cap_rows) {
            cap_rows = cap_rows ? 2 * cap_rows : 256;
            rows = xrealloc(rows, (size_t)cap_rows * sizeof *rows);
        }
        rows[n_rows++] = (Row){.qid = f[0], .doc = f[2], .rel = (int)rel, .line = line};
    }

    // Docnos -> ids: the table's names first, unknown names negative in file order.
    NameMap map = {0};
    map.cap = 16;
    while (map.cap < 2 * (n_docs + n_rows + 1)) map.cap *= 2;
    map.key = xcalloc((size_t)map.cap, sizeof *map.key);
    map.val = xmalloc((size_t)map.cap * sizeof *map.val);
    for (int64_t d = 0; d < n_docs; d++) {
        int64_t *v = name_slot(&map, doc_names[d]);
        if (*v == INT64_MIN) *v = d; // a repeated name keeps its first id
    }
    int64_t next_unknown = -1;
    for (int64_t r = 0; r < n_rows && rc == ERR_OK; r++) {
        int64_t *v = name_slot(&map, rows[r].doc);
        if (*v == INT64_MIN) *v = next_unknown--;
        rows[r].id = *v;
    }
    if (n_rows > 1) qsort(rows, (size_t)n_rows, sizeof *rows, row_cmp);
    for (int64_t r = 0; r < n_rows && rc == ERR_OK; r++) {
        int64_t id = rows[r].id;
        if (r == 0 || strcmp(rows[r].qid, rows[r - 1].qid) != 0)
            rag_qrels_add_query(out, rows[r].qid);
        int64_t q = out->n_queries - 1;
        for (int64_t i = out->start[q]; i < out->start[q + 1]; i++)
            if (out->j[i].doc == id)
                rc = err_set(ERR_FORMAT, "qrels: %s:%lld: query %s judges docno %s twice; "
                             "hint: keep one line per (qid, docno)", path,
                             (long long)rows[r].line, rows[r].qid, rows[r].doc);
        if (rc == ERR_OK) rag_qrels_add(out, id, rows[r].rel);
    }
    free(map.key);
    free(map.val);
    free(rows);
    free(data);
    if (rc) rag_qrels_free(out);
    return rc;
}
