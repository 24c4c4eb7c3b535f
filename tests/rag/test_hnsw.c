/*
 * test_hnsw.c: HNSW (rag/hnsw.h) against exact search (rag/flat.h).
 *
 * Recall@10 = |HNSW top 10 ∩ exact top 10| / 10, averaged over queries. The thresholds are
 * what the index must reach on structured data (clusters, Fashion-MNIST); on structureless
 * Gaussian noise no HNSW reaches them (see /work/shared/notes/machine-facts.md), so the data
 * sets here have structure, as real embeddings do. Each measured recall is printed.
 */
#include "core/err.h"
#include "core/rng.h"
#include "datasets/idx.h"
#include "rag/flat.h"
#include "rag/hnsw.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

// n points around n_clusters Gaussian centres in d dims (centre spread 1, point spread 0.3),
// then q queries drawn the same way.
static float *clustered(Rng *r, int64_t n, int64_t d, int n_clusters, float *centres)
{
    float *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        const float *c = centres + (int64_t)rng_below(r, (uint32_t)n_clusters) * d;
        for (int64_t j = 0; j < d; j++) x[i * d + j] = c[j] + 0.3f * rng_normal(r);
    }
    return x;
}

static float *make_centres(Rng *r, int n_clusters, int64_t d)
{
    float *c = malloc((size_t)(n_clusters * d) * sizeof *c);
    for (int64_t i = 0; i < n_clusters * d; i++) c[i] = rng_normal(r);
    return c;
}

// Mean recall@k of the index against exact search over the same rows.
static double recall_at_k(RagHnsw *h, RagFlat *exact, const float *q, int64_t nq, int64_t d,
                          int64_t k)
{
    RagHit *want = malloc((size_t)(nq * k) * sizeof *want), got[64];
    rag_flat_search_batch(exact, q, nq, k, want);
    int64_t hit = 0;
    for (int64_t i = 0; i < nq; i++) {
        int64_t n = rag_hnsw_search(h, q + i * d, k, got);
        ck_assert_int_eq(n, k);
        for (int64_t a = 0; a < n; a++)
            for (int64_t b = 0; b < k; b++) hit += got[a].id == want[i * k + b].id;
    }
    free(want);
    return (double)hit / (double)(nq * k);
}

static void recall_clustered(RagMetric m, double min_recall)
{
    const int64_t n = 4000, d = 24, nq = 200;
    Rng r;
    rng_init(&r, 7);
    float *c = make_centres(&r, 40, d);
    float *x = clustered(&r, n, d, 40, c), *q = clustered(&r, nq, d, 40, c);
    RagHnsw *h = rag_hnsw_create(&(RagHnswConfig){.dim = d, .metric = m, .M = 12,
                                                  .ef_construction = 100, .ef_search = 64,
                                                  .seed = 1});
    rag_hnsw_add(h, x, n / 2); // incremental: two adds
    rag_hnsw_add(h, x + n / 2 * d, n - n / 2);
    RagFlat *f = rag_flat_create(d, m);
    rag_flat_add(f, x, n);
    double rec = recall_at_k(h, f, q, nq, d, 10);
    printf("hnsw %s clustered n=%lld: recall@10 = %.4f at ef=64\n", rag_metric_name(m),
           (long long)n, rec);
    ck_assert_msg(rec >= min_recall, "recall@10 %.4f < %.2f", rec, min_recall);
    // ef = 1 still answers k hits (a search uses max(ef, k)), with lower or equal recall.
    rag_hnsw_set_ef(h, 1);
    double rec1 = recall_at_k(h, f, q, nq, d, 10);
    ck_assert(rec1 <= rec + 1e-9);
    rag_hnsw_free(h);
    rag_flat_free(f);
    free(c);
    free(x);
    free(q);
}

START_TEST(test_hnsw_recall_l2_clustered) { recall_clustered(RAG_METRIC_L2, 0.95); }
END_TEST

START_TEST(test_hnsw_recall_cosine_clustered) { recall_clustered(RAG_METRIC_COSINE, 0.95); }
END_TEST

START_TEST(test_hnsw_recall_ip_clustered) { recall_clustered(RAG_METRIC_IP, 0.95); }
END_TEST

START_TEST(test_hnsw_recall_fashion_mnist)
{
    // 6,000 training images (raw 0..255 values as floats, as ann-benchmarks uses them), 200
    // test images as queries, L2, the benchmark's settings M = 16, efConstruction = 200.
    DsImages tr, te;
    int rc = ds_fashion_load("train", &tr);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    rc = ds_fashion_load("test", &te);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    const int64_t n = 6000, nq = 200, d = 784;
    float *x = malloc((size_t)(n * d) * sizeof *x), *q = malloc((size_t)(nq * d) * sizeof *q);
    for (int64_t i = 0; i < n * d; i++) x[i] = tr.pixels[i];
    for (int64_t i = 0; i < nq * d; i++) q[i] = te.pixels[i];
    RagHnsw *h = rag_hnsw_create(&(RagHnswConfig){.dim = d, .metric = RAG_METRIC_L2, .M = 16,
                                                  .ef_construction = 200, .ef_search = 64,
                                                  .seed = 5});
    rag_hnsw_add(h, x, n);
    RagFlat *f = rag_flat_create(d, RAG_METRIC_L2);
    rag_flat_add(f, x, n);
    double rec = recall_at_k(h, f, q, nq, d, 10);
    printf("hnsw l2 fashion-mnist n=%lld: recall@10 = %.4f at ef=64\n", (long long)n, rec);
    ck_assert_msg(rec >= 0.95, "recall@10 %.4f < 0.95", rec);
    rag_hnsw_free(h);
    rag_flat_free(f);
    free(x);
    free(q);
    ds_images_free(&tr);
    ds_images_free(&te);
}
END_TEST

// A small clustered index shared by the tests below: n points in d = 16.
static RagHnsw *small_index(int64_t n, float **xout, uint64_t seed)
{
    Rng r;
    rng_init(&r, seed);
    float *c = make_centres(&r, 10, 16);
    float *x = clustered(&r, n, 16, 10, c);
    free(c);
    RagHnsw *h = rag_hnsw_create(&(RagHnswConfig){.dim = 16, .metric = RAG_METRIC_L2, .M = 8,
                                                  .ef_construction = 64, .ef_search = 32,
                                                  .seed = seed});
    rag_hnsw_add(h, x, n);
    *xout = x;
    return h;
}

START_TEST(test_hnsw_delete_never_returns_deleted)
{
    float *x;
    const int64_t n = 1500, k = 10;
    RagHnsw *h = small_index(n, &x, 11);
    // Delete every id divisible by 3, and the entry point (it must still route searches).
    for (int64_t i = 0; i < n; i += 3) ck_assert_int_eq(rag_hnsw_delete(h, i), 1);
    int64_t entry = rag_hnsw_entry(h);
    rag_hnsw_delete(h, entry);
    ck_assert_int_eq(rag_hnsw_delete(h, 0), 0); // already deleted
    int64_t live = n - (n + 2) / 3 - (entry % 3 != 0);
    ck_assert_int_eq(rag_hnsw_live_count(h), live);
    // Exact search over the live rows only, to measure recall among them.
    RagFlat *f = rag_flat_create(16, RAG_METRIC_L2);
    int64_t *map = malloc((size_t)n * sizeof *map), m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (rag_hnsw_is_deleted(h, i)) continue;
        rag_flat_add(f, x + i * 16, 1);
        map[m++] = i;
    }
    ck_assert_int_eq(m, live);
    int64_t hit = 0;
    for (int64_t qi = 0; qi < 200; qi++) {
        const float *q = x + (qi * 7) * 16; // queries at (mostly deleted and live) rows
        RagHit got[10], want[10];
        ck_assert_int_eq(rag_hnsw_search(h, q, k, got), k);
        rag_flat_search(f, q, k, want);
        for (int64_t a = 0; a < k; a++) {
            ck_assert_msg(!rag_hnsw_is_deleted(h, got[a].id), "deleted id %lld returned",
                          (long long)got[a].id);
            for (int64_t b = 0; b < k; b++) hit += got[a].id == map[want[b].id];
        }
    }
    double rec = (double)hit / (200.0 * k);
    printf("hnsw after deleting a third: recall@10 among live = %.4f\n", rec);
    ck_assert(rec >= 0.95);
    // Delete all but 3: a search still finds exactly those 3 (ef widens up to n).
    for (int64_t i = 0; i < n; i++)
        if (!rag_hnsw_is_deleted(h, i) && i != map[5] && i != map[50] && i != map[500])
            rag_hnsw_delete(h, i);
    RagHit got[10];
    ck_assert_int_eq(rag_hnsw_search(h, x, k, got), 3);
    int64_t seen = 0;
    for (int a = 0; a < 3; a++)
        seen += got[a].id == map[5] || got[a].id == map[50] || got[a].id == map[500];
    ck_assert_int_eq(seen, 3);
    free(map);
    rag_flat_free(f);
    rag_hnsw_free(h);
    free(x);
}
END_TEST

START_TEST(test_hnsw_save_load_round_trip)
{
    float *x;
    RagHnsw *h = small_index(800, &x, 21);
    rag_hnsw_delete(h, 3);
    rag_hnsw_delete(h, 400);
    const char *path = test_tmp_path("idx.hnsw");
    ck_assert_int_eq(rag_hnsw_save(h, path), ERR_OK);
    RagHnsw *g = NULL;
    int rc = rag_hnsw_load(path, &g);
    ck_assert_msg(rc == ERR_OK, "%s", err_msg());
    ck_assert_int_eq(rag_hnsw_count(g), 800);
    ck_assert_int_eq(rag_hnsw_live_count(g), 798);
    ck_assert_int_eq(rag_hnsw_entry(g), rag_hnsw_entry(h));
    ck_assert_int_eq(rag_hnsw_ef(g), rag_hnsw_ef(h));
    for (int64_t i = 0; i < 100; i++) {
        RagHit a[10], b[10];
        int64_t na = rag_hnsw_search(h, x + i * 8 * 16, 10, a);
        int64_t nb = rag_hnsw_search(g, x + i * 8 * 16, 10, b);
        ck_assert_int_eq(na, nb);
        for (int j = 0; j < na; j++) {
            ck_assert_int_eq(a[j].id, b[j].id);
            ck_assert(a[j].score == b[j].score);
        }
    }
    // Adding after the load continues exactly as adding without it (the RNG state is saved).
    rag_hnsw_add(h, x, 50);
    rag_hnsw_add(g, x, 50);
    for (int64_t i = 800; i < 850; i++) {
        ck_assert_int_eq(rag_hnsw_level(g, i), rag_hnsw_level(h, i));
        const int32_t *la, *lb;
        int ca = rag_hnsw_neighbors(h, i, 0, &la), cb = rag_hnsw_neighbors(g, i, 0, &lb);
        ck_assert_int_eq(ca, cb);
        for (int j = 0; j < ca; j++) ck_assert_int_eq(la[j], lb[j]);
    }
    rag_hnsw_free(g);
    // An empty index round-trips too.
    RagHnsw *e = rag_hnsw_create(&(RagHnswConfig){.dim = 5, .metric = RAG_METRIC_COSINE});
    ck_assert_int_eq(rag_hnsw_save(e, path), ERR_OK);
    rag_hnsw_free(e);
    ck_assert_int_eq(rag_hnsw_load(path, &e), ERR_OK);
    ck_assert_int_eq(rag_hnsw_count(e), 0);
    RagHit none[1];
    ck_assert_int_eq(rag_hnsw_search(e, x, 1, none), 0);
    rag_hnsw_free(e);
    rag_hnsw_free(h);
    free(x);
}
END_TEST

// Reads a whole file (the test's own helper; the index reads through core/io.h).
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert(fp);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    ck_assert(fread(b, 1, *n, fp) == *n);
    fclose(fp);
    return b;
}

// Writes a fuzzed copy with plain stdio: test_write_file fsyncs, and a thousand fsyncs would
// make this test take seconds of wall time for nothing.
static const char *put(const char *name, const void *data, size_t n)
{
    const char *p = test_tmp_path(name);
    FILE *fp = fopen(p, "wb");
    ck_assert(fp && fwrite(data, 1, n, fp) == n);
    fclose(fp);
    return p;
}

// Rewrites the trailing CRC-32 so that only the structural checks can catch an edit.
static void fix_crc(unsigned char *b, size_t n)
{
    uint32_t c = (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, (uInt)(n - 4));
    memcpy(b + n - 4, &c, 4);
}

START_TEST(test_hnsw_load_rejects_corrupt_files)
{
    float *x;
    RagHnsw *h = small_index(120, &x, 31);
    char good[1024]; // test_tmp_path's buffers rotate: keep a copy
    snprintf(good, sizeof good, "%s", test_tmp_path("good.hnsw"));
    ck_assert_int_eq(rag_hnsw_save(h, good), ERR_OK);
    size_t n;
    unsigned char *b = slurp(good, &n), *c = malloc(n + 8);
    RagHnsw *g;
    // Every truncation is rejected (ERR_TRUNCATED), and *out is left NULL.
    for (size_t len = 0; len < n; len += (len < 200 ? 1 : 37)) {
        const char *p = put("trunc.hnsw", b, len);
        g = (RagHnsw *)1;
        int rc = rag_hnsw_load(p, &g);
        ck_assert_msg(rc == ERR_TRUNCATED, "length %zu: rc %d (%s)", len, rc, err_msg());
        ck_assert(g == NULL);
    }
    // Extra bytes at the end.
    memcpy(c, b, n);
    memset(c + n, 0, 8);
    test_expect_err(rag_hnsw_load(test_write_file("long.hnsw", c, n + 8), &g), ERR_FORMAT,
                    (const char *const[]){"long.hnsw", "more than", "hint", NULL});
    // Every single-bit flip in the header, and a spread of flips elsewhere, is rejected.
    Rng r;
    rng_init(&r, 9);
    for (int t = 0; t < 96 * 8 + 300; t++) {
        size_t bit = t < 96 * 8 ? (size_t)t : (size_t)rng_below(&r, (uint32_t)(n * 8));
        memcpy(c, b, n);
        c[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        int rc = rag_hnsw_load(put("flip.hnsw", c, n), &g);
        ck_assert_msg(rc < 0 && g == NULL, "bit %zu flipped: accepted", bit);
    }
    // Structural errors behind a valid checksum, each named in the message.
    memcpy(c, b, n);
    c[0] = 'X';
    test_expect_err(rag_hnsw_load(test_write_file("magic.hnsw", c, n), &g), ERR_FORMAT,
                    (const char *const[]){"magic.hnsw", "magic", "offset 0", NULL});
    memcpy(c, b, n);
    c[8] = 9, fix_crc(c, n);
    test_expect_err(rag_hnsw_load(test_write_file("ver.hnsw", c, n), &g), ERR_FORMAT,
                    (const char *const[]){"ver.hnsw", "'version'", "offset 8", "is 9", NULL});
    memcpy(c, b, n);
    c[32] = 1, fix_crc(c, n); // M = 1
    test_expect_err(rag_hnsw_load(test_write_file("m.hnsw", c, n), &g), ERR_RANGE,
                    (const char *const[]){"'M'", "offset 32", "hint", NULL});
    // A neighbour id out of range: node 0's first layer-0 neighbour (after the header, the
    // vectors, the levels and the deleted flags, past node 0's count).
    size_t l0 = 96 + 120 * 16 * 4 + 120 + 120;
    int32_t cnt, bad = 120;
    memcpy(&cnt, c + l0, 4);
    ck_assert_int_gt(cnt, 0);
    memcpy(c, b, n);
    memcpy(c + l0 + 4, &bad, 4), fix_crc(c, n);
    test_expect_err(rag_hnsw_load(test_write_file("nb.hnsw", c, n), &g), ERR_FORMAT,
                    (const char *const[]){"nb.hnsw", "neighbour 0 of node 0", "is 120", NULL});
    memcpy(c, b, n);
    cnt = 17, memcpy(c + l0, &cnt, 4), fix_crc(c, n); // M0 = 16
    test_expect_err(rag_hnsw_load(test_write_file("cnt.hnsw", c, n), &g), ERR_FORMAT,
                    (const char *const[]){"node 0 has 17 neighbours", NULL});
    memcpy(c, b, n);
    c[96 + 120 * 16 * 4 + 120 + 5] = 1, fix_crc(c, n); // deleted flag without the count
    test_expect_err(rag_hnsw_load(test_write_file("del.hnsw", c, n), &g), ERR_FORMAT,
                    (const char *const[]){"deleted", NULL});
    test_expect_err(rag_hnsw_load(test_tmp_path("missing.hnsw"), &g), ERR_IO,
                    (const char *const[]){"missing.hnsw", NULL});
    // The untouched file still loads.
    ck_assert_int_eq(rag_hnsw_load(good, &g), ERR_OK);
    rag_hnsw_free(g);
    free(b);
    free(c);
    rag_hnsw_free(h);
    free(x);
}
END_TEST

START_TEST(test_hnsw_deterministic_and_small_cases)
{
    float *x, *y;
    RagHnsw *a = small_index(500, &x, 41), *b = small_index(500, &y, 41);
    ck_assert_int_eq(rag_hnsw_max_level(a), rag_hnsw_max_level(b));
    for (int64_t i = 0; i < 500; i++) {
        const int32_t *la, *lb;
        int ca = rag_hnsw_neighbors(a, i, 0, &la), cb = rag_hnsw_neighbors(b, i, 0, &lb);
        ck_assert_int_eq(ca, cb);
        ck_assert(ca <= 2 * rag_hnsw_M(a));
        for (int j = 0; j < ca; j++) ck_assert_int_eq(la[j], lb[j]);
    }
    // The level distribution follows P(level >= 1) = 1/M (M = 8): about 62 of 500.
    int up = 0;
    for (int64_t i = 0; i < 500; i++) up += rag_hnsw_level(a, i) >= 1;
    ck_assert_msg(up >= 35 && up <= 95, "%d of 500 nodes above layer 0", up);
    // A query equal to a stored row finds it first, at distance 0.
    RagHit h[600];
    ck_assert_int_eq(rag_hnsw_search(a, x + 123 * 16, 5, h), 5);
    ck_assert_int_eq(h[0].id, 123);
    ck_assert_float_eq(h[0].score, 0.0f);
    ck_assert_float_eq(rag_hnsw_distance(a, x + 123 * 16, 123), 0.0f);
    // k > n: every row, sorted.
    ck_assert_int_eq(rag_hnsw_search(a, x, 600, h), 500);
    for (int j = 1; j < 500; j++) ck_assert(h[j].score <= h[j - 1].score);
    rag_hnsw_free(a);
    rag_hnsw_free(b);
    free(x);
    free(y);
}
END_TEST

static Suite *hnsw_suite(void)
{
    Suite *s = suite_create("rag_hnsw");
    TCase *tc = tcase_create("hnsw");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_hnsw_recall_l2_clustered);
    tcase_add_test(tc, test_hnsw_recall_cosine_clustered);
    tcase_add_test(tc, test_hnsw_recall_ip_clustered);
    tcase_add_test(tc, test_hnsw_recall_fashion_mnist);
    tcase_add_test(tc, test_hnsw_delete_never_returns_deleted);
    tcase_add_test(tc, test_hnsw_save_load_round_trip);
    tcase_add_test(tc, test_hnsw_load_rejects_corrupt_files);
    tcase_add_test(tc, test_hnsw_deterministic_and_small_cases);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_main(hnsw_suite()); }
