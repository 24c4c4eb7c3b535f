/*
 * test_week05.c: graded tests of the week-5 exercises (one TCase per exercise id).
 *
 *   make grade WEEK=5          the score table
 *   build/release/tests/graded/test_week05 --grade
 *
 * Each test checks the exercise against the formula evaluated here in double or against a
 * property of the math, never against a value copied from the reference solution.
 */
#include "core/err.h"
#include "core/rng.h"
#include "rag/bm25.h"
#include "rag/chunk.h"
#include "rag/eval.h"
#include "rag/fusion.h"
#include "rag/hnsw.h"
#include "tests/grade_report.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// w05.bm25_score
// ---------------------------------------------------------------------------

static double bm25_formula(double tf, double dl, double avgdl, double idf, double k1, double b)
{
    double denom = tf + k1 * (1.0 - b) + k1 * b * (dl / avgdl);
    return idf * (tf * k1 + tf) / denom;
}

START_TEST(test_bm25_term_score_formula)
{
    const double cases[][6] = {
        {1, 10, 10, 1.5, 1.2, 0.75}, {3, 25, 10, 0.7, 1.2, 0.75}, {2, 4, 12.5, 2.0, 2.0, 0.3},
        {7, 100, 20, 0.1, 0.5, 1.0}, {1, 1, 3, 4.0, 1.2, 0.0},
    };
    for (int i = 0; i < 5; i++) {
        const double *c = cases[i];
        double got = rag_bm25_term_score(c[0], c[1], c[2], c[3], c[4], c[5]);
        ck_assert_msg(fabs(got - bm25_formula(c[0], c[1], c[2], c[3], c[4], c[5])) < 1e-12,
                      "case %d: got %.15g", i, got);
    }
}
END_TEST

START_TEST(test_bm25_term_score_properties)
{
    // k1 = 0: presence only, the score is idf. b = 0: the length does not matter. A document
    // of average length: idf tf (k1 + 1) / (tf + k1). Saturation: below idf (k1 + 1).
    ck_assert_double_eq_tol(rag_bm25_term_score(5, 30, 10, 2.5, 0.0, 0.75), 2.5, 1e-12);
    double s1 = rag_bm25_term_score(2, 3, 10, 1.0, 1.2, 0.0);
    double s2 = rag_bm25_term_score(2, 300, 10, 1.0, 1.2, 0.0);
    ck_assert_double_eq_tol(s1, s2, 1e-12);
    ck_assert_double_eq_tol(s1, 2 * 2.2 / 3.2, 1e-12);
    double prev = 0;
    for (int tf = 1; tf <= 50; tf++) {
        double s = rag_bm25_term_score(tf, 10, 10, 1.0, 1.2, 0.75);
        ck_assert(s > prev && s < 2.2); // grows with tf, never past idf (k1 + 1)
        prev = s;
    }
    ck_assert(prev > 2.1);
    // Longer documents score lower for the same tf (b > 0).
    ck_assert(rag_bm25_term_score(2, 40, 10, 1.0, 1.2, 0.75) <
              rag_bm25_term_score(2, 5, 10, 1.0, 1.2, 0.75));
}
END_TEST

START_TEST(test_bm25_search_uses_the_score)
{
    // Three documents; the query "cat" scores each by the formula with Lucene idf.
    const char *docs[3] = {"cat sat on the mat", "cat cat cat", "dog and a cat and a bird too"};
    const double len[3] = {5, 3, 8}, tf[3] = {1, 3, 1}, avgdl = 16.0 / 3;
    RagBm25 *ix = rag_bm25_create(NULL);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(rag_bm25_add(ix, 100 + i, docs[i]), ERR_OK);
    double idf = log(1.0 + (3 - 3 + 0.5) / (3 + 0.5));
    RagHit h[3];
    ck_assert_int_eq(rag_bm25_search(ix, "cat", 3, h), 3);
    ck_assert_int_eq(h[0].id, 101); // the highest tf, shortest document
    for (int i = 0; i < 3; i++) {
        int d = (int)(h[i].id - 100);
        double want = bm25_formula(tf[d], len[d], avgdl, idf, 1.2, 0.75);
        ck_assert_msg(fabs(h[i].score - want) < 1e-5, "doc %d: %g, want %g", d, h[i].score,
                      want);
    }
    rag_bm25_free(ix);
}
END_TEST

// ---------------------------------------------------------------------------
// w05.rrf
// ---------------------------------------------------------------------------

START_TEST(test_rrf_score_sum)
{
    const int64_t r1[3] = {1, 0, 5};
    ck_assert_double_eq_tol(rag_rrf_score(r1, NULL, 3, 60.0), 1.0 / 61 + 1.0 / 65, 1e-15);
    const int64_t r2[2] = {0, 0};
    ck_assert_double_eq_tol(rag_rrf_score(r2, NULL, 2, 60.0), 0.0, 1e-15);
    const int64_t r3[4] = {2, 2, 2, 2};
    ck_assert_double_eq_tol(rag_rrf_score(r3, NULL, 4, 10.0), 4.0 / 12, 1e-15);
}
END_TEST

START_TEST(test_rrf_score_weights)
{
    const int64_t r[3] = {1, 3, 0};
    const float w[3] = {0.5f, 2.0f, 9.0f}; // list 2 does not hold the document: weight unused
    ck_assert_double_eq_tol(rag_rrf_score(r, w, 3, 60.0), 0.5 / 61 + 2.0 / 63, 1e-12);
    const float z[3] = {0.0f, 0.0f, 0.0f};
    ck_assert_double_eq_tol(rag_rrf_score(r, z, 3, 60.0), 0.0, 1e-15);
    const float one[3] = {1.0f, 1.0f, 1.0f};
    ck_assert_double_eq_tol(rag_rrf_score(r, one, 3, 1.0), 1.0 / 2 + 1.0 / 4, 1e-15);
}
END_TEST

START_TEST(test_rrf_fusion_ranking)
{
    // Random ranked lists over 30 ids; the fused top 30 must be sorted by the RRF sum worked
    // out here.
    Rng r;
    rng_init(&r, 5);
    RagHit lists[3][12];
    for (int l = 0; l < 3; l++) {
        int used[30] = {0};
        for (int i = 0; i < 12; i++) {
            int id;
            do id = (int)(rng_uniform(&r) * 30) % 30;
            while (used[id]);
            used[id] = 1;
            lists[l][i] = (RagHit){id, (float)(12 - i)};
        }
    }
    double want[30] = {0};
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < 12; i++) want[lists[l][i].id] += 1.0 / (60.0 + i + 1);
    const RagHit *lp[3] = {lists[0], lists[1], lists[2]};
    const int64_t lens[3] = {12, 12, 12};
    RagHit out[30];
    int64_t n = rag_rrf(lp, lens, NULL, 3, 60.0, 30, out);
    int distinct = 0;
    for (int id = 0; id < 30; id++) distinct += want[id] > 0;
    ck_assert_int_eq(n, distinct);
    for (int64_t i = 0; i < n; i++) {
        ck_assert_double_eq_tol(out[i].score, want[out[i].id], 1e-7);
        if (i) ck_assert(out[i - 1].score > out[i].score ||
                         (out[i - 1].score == out[i].score && out[i - 1].id < out[i].id));
    }
}
END_TEST

// ---------------------------------------------------------------------------
// w05.recall_ndcg
// ---------------------------------------------------------------------------

static double d(int rank) { return 1.0 / log2(1.0 + rank); }

START_TEST(test_recall_ndcg_binary)
{
    // Relevant: 3, 6. Ranking: 1 3 5 6 -> hits at ranks 2 and 4.
    const RagJudgement j[3] = {{3, 1}, {6, 1}, {1, 0}};
    const RagHit h[4] = {{1, 4}, {3, 3}, {5, 2}, {6, 1}};
    double rec, nd;
    rag_eval_recall_ndcg(h, 4, j, 3, 10, &rec, &nd);
    ck_assert_double_eq_tol(rec, 1.0, 1e-12);
    ck_assert_double_eq_tol(nd, (d(2) + d(4)) / (d(1) + d(2)), 1e-12);
    rag_eval_recall_ndcg(h, 4, j, 3, 3, &rec, &nd);
    ck_assert_double_eq_tol(rec, 0.5, 1e-12);
    ck_assert_double_eq_tol(nd, d(2) / (d(1) + d(2)), 1e-12);
    rag_eval_recall_ndcg(h, 4, j, 3, 1, &rec, &nd);
    ck_assert_double_eq_tol(rec, 0.0, 1e-12);
    ck_assert_double_eq_tol(nd, 0.0, 1e-12);
}
END_TEST

START_TEST(test_recall_ndcg_graded)
{
    // Grades 2, 1, 3 for docs 7, 8, 9; a relevant doc (10, grade 1) never retrieved.
    const RagJudgement j[4] = {{7, 2}, {8, 1}, {9, 3}, {10, 1}};
    const RagHit h[5] = {{8, 5}, {0, 4}, {9, 3}, {7, 2}, {11, 1}};
    double rec, nd;
    rag_eval_recall_ndcg(h, 5, j, 4, 5, &rec, &nd);
    double dcg = 1 * d(1) + 3 * d(3) + 2 * d(4);
    double idcg = 3 * d(1) + 2 * d(2) + 1 * d(3) + 1 * d(4);
    ck_assert_double_eq_tol(rec, 3.0 / 4, 1e-12);
    ck_assert_double_eq_tol(nd, dcg / idcg, 1e-12);
    rag_eval_recall_ndcg(h, 5, j, 4, 2, &rec, &nd); // IDCG@2 = 3 d(1) + 2 d(2)
    ck_assert_double_eq_tol(nd, d(1) / (3 * d(1) + 2 * d(2)), 1e-12);
    ck_assert_double_eq_tol(rec, 1.0 / 4, 1e-12);
}
END_TEST

START_TEST(test_recall_ndcg_random_rankings)
{
    // Random rankings of 20 documents with random grades 0..3: compare with the formulas; and
    // the ideal ranking (grades descending) has nDCG exactly 1.
    Rng r;
    rng_init(&r, 11);
    for (int trial = 0; trial < 20; trial++) {
        RagJudgement j[20];
        RagHit h[20];
        int grade[20], R = 0;
        for (int i = 0; i < 20; i++) {
            grade[i] = (int)(rng_uniform(&r) * 4) % 4;
            j[i] = (RagJudgement){i, grade[i]};
            R += grade[i] > 0;
            h[i] = (RagHit){i, 0};
        }
        if (R == 0) continue;
        for (int i = 19; i > 0; i--) { // shuffle the ranking
            int k = (int)(rng_uniform(&r) * (i + 1)) % (i + 1);
            RagHit t = h[i];
            h[i] = h[k];
            h[k] = t;
        }
        int k = 1 + trial % 10;
        double dcg = 0, found = 0;
        for (int i = 0; i < k; i++) {
            dcg += grade[h[i].id] * d(i + 1);
            found += grade[h[i].id] > 0;
        }
        int sorted[20];
        memcpy(sorted, grade, sizeof sorted);
        for (int a = 0; a < 20; a++) // selection sort, descending
            for (int b = a + 1; b < 20; b++)
                if (sorted[b] > sorted[a]) {
                    int t = sorted[a];
                    sorted[a] = sorted[b];
                    sorted[b] = t;
                }
        double idcg = 0;
        for (int i = 0; i < k; i++) idcg += sorted[i] * d(i + 1);
        double rec, nd;
        rag_eval_recall_ndcg(h, 20, j, 20, k, &rec, &nd);
        ck_assert_double_eq_tol(rec, found / R, 1e-12);
        ck_assert_double_eq_tol(nd, dcg / idcg, 1e-12);
        RagHit ideal[20];
        memcpy(ideal, h, sizeof ideal);
        for (int a = 0; a < 20; a++)
            for (int b = a + 1; b < 20; b++)
                if (grade[ideal[b].id] > grade[ideal[a].id]) {
                    RagHit t = ideal[a];
                    ideal[a] = ideal[b];
                    ideal[b] = t;
                }
        rag_eval_recall_ndcg(ideal, 20, j, 20, k, &rec, &nd);
        ck_assert_double_eq_tol(nd, 1.0, 1e-12);
    }
}
END_TEST

// ---------------------------------------------------------------------------
// w05.chunk_overlap
// ---------------------------------------------------------------------------

// Characters of valid UTF-8 in s[a..b): the bytes that are not continuation bytes 10xxxxxx.
static int64_t w05c_chars(const char *s, int64_t a, int64_t b)
{
    int64_t n = 0;
    for (int64_t i = a; i < b; i++) n += ((uint8_t)s[i] & 0xC0) != 0x80;
    return n;
}

// Random valid UTF-8 of n characters, from 1-, 2-, 3- and 4-byte characters (caller frees).
static char *w05c_text(Rng *r, int64_t n, int64_t *len)
{
    static const char *const pool[] = {"a", "b", " ", "\n", ".", "Z", "7", "\xC3\xA9",
                                       "\xE2\x82\xAC", "\xE6\x97\xA5", "\xF0\x9F\x98\x80"};
    char *s = malloc((size_t)(4 * n + 1));
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *c = pool[rng_below(r, 11)];
        size_t cl = strlen(c);
        memcpy(s + k, c, cl);
        k += (int64_t)cl;
    }
    s[k] = '\0';
    *len = k;
    return s;
}

static RagChunks w05c_chunk(const char *s, int64_t len, int64_t size, int64_t overlap)
{
    RagChunkOpts o = {.kind = RAG_CHUNK_CHARS, .size = size, .overlap = overlap};
    RagChunks cs;
    ck_assert_int_eq(rag_chunk(s, len, &o, &cs), ERR_OK);
    return cs;
}

START_TEST(test_w05_chunk_overlap_count_and_sizes)
{
    // ASCII (1 byte = 1 character). The count is found by moving a window of `size` forward by
    // size - overlap until one reaches the end; all windows but the last hold `size` characters.
    char s[301];
    for (int i = 0; i < 300; i++) s[i] = (char)('a' + i % 26);
    s[300] = '\0';
    const int64_t cases[][3] = {{100, 10, 0}, {100, 10, 3}, {97, 10, 3}, {300, 64, 16},
                                {5, 10, 2},   {50, 7, 6},   {61, 20, 1}, {1, 1, 0}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int64_t n = cases[t][0], size = cases[t][1], overlap = cases[t][2];
        int64_t want = 1;
        while ((want - 1) * (size - overlap) + size < n) want++;
        RagChunks cs = w05c_chunk(s, n, size, overlap);
        ck_assert_msg(cs.n == want, "n=%lld size=%lld overlap=%lld: %lld chunks, want %lld",
                      (long long)n, (long long)size, (long long)overlap, (long long)cs.n,
                      (long long)want);
        for (int64_t i = 0; i < cs.n; i++) {
            int64_t len = cs.chunks[i].end - cs.chunks[i].start;
            ck_assert_int_eq(cs.chunks[i].start, i * (size - overlap));
            if (i + 1 < cs.n) ck_assert_int_eq(len, size);
            else ck_assert(len >= 1 && len <= size && cs.chunks[i].end == n);
        }
        rag_chunks_free(&cs);
    }
}
END_TEST

START_TEST(test_w05_chunk_overlap_shares_exactly_overlap_characters)
{
    // Multi-byte text: every boundary falls between characters, every chunk but the last has
    // `size` characters, and consecutive chunks share exactly `overlap` of them.
    Rng r;
    rng_init(&r, 505);
    for (int trial = 0; trial < 40; trial++) {
        int64_t len, n = 1 + rng_below(&r, 400);
        char *s = w05c_text(&r, n, &len);
        int64_t size = 1 + rng_below(&r, 40), overlap = rng_below(&r, (uint32_t)size);
        RagChunks cs = w05c_chunk(s, len, size, overlap);
        ck_assert_int_ge(cs.n, 1);
        for (int64_t i = 0; i < cs.n; i++) {
            const RagChunk *c = &cs.chunks[i];
            ck_assert(c->start >= 0 && c->start < c->end && c->end <= len);
            ck_assert(c->end == len || ((uint8_t)s[c->end] & 0xC0) != 0x80);
            ck_assert(((uint8_t)s[c->start] & 0xC0) != 0x80);
            int64_t nc = w05c_chars(s, c->start, c->end);
            if (i + 1 < cs.n) ck_assert_int_eq(nc, size);
            ck_assert_int_eq(c->n_chars, nc);
            if (i > 0) {
                const RagChunk *p = &cs.chunks[i - 1];
                ck_assert(c->start <= p->end); // no gap between chunks
                ck_assert(c->start > p->start);
                ck_assert_int_eq(w05c_chars(s, c->start, p->end), overlap);
            }
        }
        ck_assert_int_eq(cs.chunks[0].start, 0);
        ck_assert_int_eq(cs.chunks[cs.n - 1].end, len);
        rag_chunks_free(&cs);
        free(s);
    }
}
END_TEST

START_TEST(test_w05_chunk_overlap_rebuilds_the_text)
{
    // Chunk 0, then each later chunk without its first `overlap` characters, is the text:
    // nothing is dropped and nothing is repeated beyond the overlap.
    Rng r;
    rng_init(&r, 506);
    for (int trial = 0; trial < 40; trial++) {
        int64_t len, n = 1 + rng_below(&r, 500);
        char *s = w05c_text(&r, n, &len);
        int64_t size = 1 + rng_below(&r, 60), overlap = rng_below(&r, (uint32_t)size);
        RagChunks cs = w05c_chunk(s, len, size, overlap);
        char *out = malloc((size_t)len + 1);
        int64_t k = 0;
        for (int64_t i = 0; i < cs.n; i++) {
            int64_t from = cs.chunks[i].start;
            // skip `overlap` characters of every chunk after the first
            for (int64_t c = 0; i > 0 && c < overlap && from < cs.chunks[i].end; c++) {
                from++;
                while (from < cs.chunks[i].end && ((uint8_t)s[from] & 0xC0) == 0x80) from++;
            }
            ck_assert(k + (cs.chunks[i].end - from) <= len);
            memcpy(out + k, s + from, (size_t)(cs.chunks[i].end - from));
            k += cs.chunks[i].end - from;
        }
        ck_assert_int_eq(k, len);
        ck_assert(memcmp(out, s, (size_t)len) == 0);
        free(out);
        rag_chunks_free(&cs);
        free(s);
    }
}
END_TEST

START_TEST(test_w05_chunk_overlap_edges)
{
    // Empty text: no chunk. A text that fits: one chunk, the whole text. overlap = size - 1:
    // a window starts at every character up to n - size.
    const char *s = "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC"; // "été €": 5 characters, 9 bytes
    RagChunks cs = w05c_chunk(s, 0, 4, 1);
    ck_assert_int_eq(cs.n, 0);
    rag_chunks_free(&cs);
    cs = w05c_chunk(s, 9, 5, 2);
    ck_assert_int_eq(cs.n, 1);
    ck_assert(cs.chunks[0].start == 0 && cs.chunks[0].end == 9);
    rag_chunks_free(&cs);
    cs = w05c_chunk(s, 9, 2, 1);
    ck_assert_int_eq(cs.n, 4);
    const int64_t char_start[6] = {0, 2, 3, 5, 6, 9};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(cs.chunks[i].start, char_start[i]);
        ck_assert_int_eq(cs.chunks[i].end, char_start[i + 2]);
    }
    rag_chunks_free(&cs);
}
END_TEST

static TCase *tc_w05_chunk_overlap(void)
{
    TCase *tc = tcase_create("w05.chunk_overlap");
    tcase_add_test(tc, test_w05_chunk_overlap_count_and_sizes);
    tcase_add_test(tc, test_w05_chunk_overlap_shares_exactly_overlap_characters);
    tcase_add_test(tc, test_w05_chunk_overlap_rebuilds_the_text);
    tcase_add_test(tc, test_w05_chunk_overlap_edges);
    return tc;
}

// ---------------------------------------------------------------------------
// w05.hnsw_search_layer
// ---------------------------------------------------------------------------

#define W05H_D 8

// n points around 6 Gaussian centres in W05H_D dims, indexed with L2 (M = 8, efc = 64).
static RagHnsw *w05h_index(int64_t n, uint64_t seed, float **xout)
{
    Rng r;
    rng_init(&r, seed);
    float c[6 * W05H_D];
    for (int i = 0; i < 6 * W05H_D; i++) c[i] = 2.0f * rng_normal(&r);
    float *x = malloc((size_t)n * W05H_D * sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        const float *ci = c + rng_below(&r, 6) * W05H_D;
        for (int j = 0; j < W05H_D; j++) x[i * W05H_D + j] = ci[j] + rng_normal(&r);
    }
    RagHnsw *h = rag_hnsw_create(&(RagHnswConfig){.dim = W05H_D, .metric = RAG_METRIC_L2,
                                                  .M = 8, .ef_construction = 64, .seed = seed});
    rag_hnsw_add(h, x, n);
    *xout = x;
    return h;
}

static double w05h_dist(const float *a, const float *b)
{
    double s = 0;
    for (int j = 0; j < W05H_D; j++) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return s;
}

START_TEST(test_search_layer_full_ef_is_brute_force)
{
    // With ef >= n the search never drops a node, so it visits the whole (connected) layer 0
    // and must return every node, ranked exactly as brute force ranks them.
    const int64_t n = 150;
    float *x;
    RagHnsw *h = w05h_index(n, 3, &x);
    RagHit *out = malloc((size_t)n * sizeof *out);
    for (int t = 0; t < 5; t++) {
        const float *q = x + (t * 29) * W05H_D;
        int64_t entry = rag_hnsw_entry(h);
        int64_t got = rag_hnsw_search_layer(h, q, &entry, 1, 0, (int)n, out);
        ck_assert_int_eq(got, n);
        for (int64_t i = 0; i < n; i++) {
            double di = w05h_dist(q, x + out[i].id * W05H_D);
            ck_assert_msg(fabs(-out[i].score - di) <= 1e-4 * (di + 1), "rank %lld: %g vs %g",
                          (long long)i, -out[i].score, di);
            // Sorted nearest first, and no node farther than any node ranked after it.
            if (i > 0) {
                double dp = w05h_dist(q, x + out[i - 1].id * W05H_D);
                ck_assert(dp <= di + 1e-4 * (di + 1));
                ck_assert(out[i].id != out[i - 1].id);
            }
        }
        char *seen = calloc((size_t)n, 1);
        for (int64_t i = 0; i < n; i++) {
            ck_assert(out[i].id >= 0 && out[i].id < n && !seen[out[i].id]);
            seen[out[i].id] = 1;
        }
        free(seen);
    }
    free(out);
    free(x);
    rag_hnsw_free(h);
}
END_TEST

START_TEST(test_search_layer_ef1_is_greedy_descent)
{
    // ef = 1 from the node farthest from q: the walk must move (some neighbour of the farthest
    // node is nearer) and stop at a local minimum: no neighbour of the result is nearer.
    const int64_t n = 400;
    float *x;
    RagHnsw *h = w05h_index(n, 5, &x);
    for (int t = 0; t < 10; t++) {
        const float *q = x + (t * 37 + 1) * W05H_D;
        int64_t far = 0;
        for (int64_t i = 1; i < n; i++)
            if (w05h_dist(q, x + i * W05H_D) > w05h_dist(q, x + far * W05H_D)) far = i;
        RagHit out[1];
        ck_assert_int_eq(rag_hnsw_search_layer(h, q, &far, 1, 0, 1, out), 1);
        double dr = w05h_dist(q, x + out[0].id * W05H_D);
        ck_assert(dr < w05h_dist(q, x + far * W05H_D));
        const int32_t *nb;
        int cnt = rag_hnsw_neighbors(h, out[0].id, 0, &nb);
        ck_assert_int_gt(cnt, 0);
        for (int j = 0; j < cnt; j++)
            ck_assert_msg(w05h_dist(q, x + (int64_t)nb[j] * W05H_D) >= dr - 1e-6,
                          "neighbour %d of the result is nearer: not a local minimum", nb[j]);
    }
    free(x);
    rag_hnsw_free(h);
}
END_TEST

START_TEST(test_search_layer_bounded_ef_sorted_and_near)
{
    // ef = 16 from three entry points: exactly 16 distinct nodes, sorted, with correct
    // distances, at least as near as the best entry, and most of the true 10 nearest.
    const int64_t n = 1000;
    float *x;
    RagHnsw *h = w05h_index(n, 7, &x);
    Rng r;
    rng_init(&r, 11);
    int64_t hits = 0, total = 0;
    for (int t = 0; t < 40; t++) {
        float q[W05H_D];
        const float *base = x + (int64_t)rng_below(&r, (uint32_t)n) * W05H_D;
        for (int j = 0; j < W05H_D; j++) q[j] = base[j] + 0.5f * rng_normal(&r);
        int64_t entry[3] = {rng_below(&r, (uint32_t)n), rng_below(&r, (uint32_t)n),
                            rng_below(&r, (uint32_t)n)};
        RagHit out[16];
        ck_assert_int_eq(rag_hnsw_search_layer(h, q, entry, 3, 0, 16, out), 16);
        double best_entry = INFINITY;
        for (int e = 0; e < 3; e++)
            best_entry = fmin(best_entry, w05h_dist(q, x + entry[e] * W05H_D));
        ck_assert(w05h_dist(q, x + out[0].id * W05H_D) <= best_entry + 1e-6);
        for (int i = 0; i < 16; i++) {
            double di = w05h_dist(q, x + out[i].id * W05H_D);
            ck_assert(fabs(-out[i].score - di) <= 1e-4 * (di + 1));
            for (int j = 0; j < i; j++) ck_assert(out[j].id != out[i].id);
            if (i > 0) ck_assert(out[i].score <= out[i - 1].score);
        }
        // The true 10 nearest, by brute force here.
        int64_t top[10];
        double topd[10];
        int nt = 0;
        for (int64_t i = 0; i < n; i++) {
            double di = w05h_dist(q, x + i * W05H_D);
            int p = nt < 10 ? nt++ : 10;
            if (p == 10 && di >= topd[9]) continue;
            if (p == 10) p = 9;
            while (p > 0 && topd[p - 1] > di) topd[p] = topd[p - 1], top[p] = top[p - 1], p--;
            topd[p] = di, top[p] = i;
        }
        for (int a = 0; a < 10; a++)
            for (int b = 0; b < 16; b++) hits += top[a] == out[b].id;
        total += 10;
    }
    double recall = (double)hits / (double)total;
    ck_assert_msg(recall >= 0.9, "recall of the true 10 nearest in the 16 found: %.3f", recall);
    free(x);
    rag_hnsw_free(h);
}
END_TEST

static TCase *tc_w05_hnsw_search_layer(void)
{
    TCase *tc = tcase_create("w05.hnsw_search_layer");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_search_layer_full_ef_is_brute_force);
    tcase_add_test(tc, test_search_layer_ef1_is_greedy_descent);
    tcase_add_test(tc, test_search_layer_bounded_ef_sorted_and_near);
    return tc;
}

static Suite *week05_suite(void)
{
    Suite *s = suite_create("week05");
    TCase *tc = tcase_create("w05.bm25_score");
    tcase_add_test(tc, test_bm25_term_score_formula);
    tcase_add_test(tc, test_bm25_term_score_properties);
    tcase_add_test(tc, test_bm25_search_uses_the_score);
    suite_add_tcase(s, tc);
    tc = tcase_create("w05.rrf");
    tcase_add_test(tc, test_rrf_score_sum);
    tcase_add_test(tc, test_rrf_score_weights);
    tcase_add_test(tc, test_rrf_fusion_ranking);
    suite_add_tcase(s, tc);
    tc = tcase_create("w05.recall_ndcg");
    tcase_add_test(tc, test_recall_ndcg_binary);
    tcase_add_test(tc, test_recall_ndcg_graded);
    tcase_add_test(tc, test_recall_ndcg_random_rankings);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tc_w05_chunk_overlap());
    suite_add_tcase(s, tc_w05_hnsw_search_layer());
    return s;
}

int main(int argc, char **argv) { return grade_main(week05_suite(), argc, argv); }
