/*
 * bench_ann.c: vector search, this engine (rag/flat.h, rag/hnsw.h) against faiss and hnswlib.
 *
 * The ann-benchmarks setting fashion-mnist-784-euclidean: the 60,000 Fashion-MNIST training
 * images as the base (raw pixel values 0..255 as floats, as ann-benchmarks stores them), the
 * test images as queries, L2, k = 10. Everything runs on one thread (OpenBLAS set to 1 thread,
 * faiss.omp_set_num_threads(1), hnswlib num_threads=1). Parts:
 *
 *   1. Exact search: our flat index, all queries batched (sgemm) and one at a time (sgemv);
 *      its top-10 is the ground truth. The peer runs faiss IndexFlatL2 on the same queries
 *      (batched and one at a time) and checks our ground truth against its own: the id sets
 *      and the scores rank by rank.
 *   2. HNSW, M = 16, efConstruction = 200: build time, then for ef in {16, 32, 64, 128, 256}
 *      recall@10 against the ground truth and queries/s: the fastest of at least 3 passes
 *      (and 0.5 s of passes) over all queries, one query per call. hnswlib does the same
 *      (knn_query over all queries on one thread, so its loop runs in C++ as ours in C).
 *      Times are CPU seconds of each process, not wall time (see cpu_now).
 *   3. Ratios. At the smallest ef where both reach recall@10 >= 0.95: our q/s over hnswlib's
 *      (goal >= 1.0); build time ours / hnswlib's (goal <= 1.2); exact search q/s ours / faiss.
 *
 * Data goes to the peer (bench/peers/ann_peers.py, run with /usr/bin/python3 and
 * OMP_WAIT_POLICY=PASSIVE) as raw little-endian files in a temporary folder: base.f32,
 * queries.f32, gt_ids.i64, gt_scores.f32.
 *
 *   bench_ann                 1,000 queries (default; about 3-4 minutes with the peer)
 *   bench_ann --queries N     N test images as queries; --full: all 10,000
 *   bench_ann --quick         10,000 base images, 200 queries (make bench's smoke run)
 *   bench_ann --no-foldoc     only Fashion-MNIST (by default the same sweep follows on the
 *                             engine's FOLDOC chunk embeddings, cosine, FOLDOC reverse-
 *                             dictionary queries)
 *   bench_ann --vectors F.safetensors [--metric cosine]
 *                             the same sweep on any (n, d) F32 tensor named "vectors"; the
 *                             queries are the tensor "queries" if present, else the last
 *                             --queries rows of "vectors" (held out of the base)
 *
 * Output: the tables, then one line `BENCH {"bench":"ann",...}` with every figure.
 */
#include "bench/common/bench_util.h"
#include "core/cli.h"
#include "core/err.h"
#include "core/io.h"
#include "core/safetensors.h"
#include "datasets/datasets.h"
#include "datasets/idx.h"
#include "rag/chunk.h"
#include "rag/embed.h"
#include "rag/flat.h"
#include "rag/hnsw.h"
#include "rag/qrels.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define K 10
#define N_EF 5
static const int EFS[N_EF] = {16, 32, 64, 128, 256};

typedef struct {
    int64_t n, nq, d;
    float *base;    // (n, d)
    float *queries; // (nq, d)
    const char *name;
} Data;

// CPU seconds of this process. The machine is shared by several builds at once: wall time
// counts the moments the scheduler gives our core to a neighbour, CPU time does not, so
// speeds are measured in CPU time on both sides (the peer uses time.process_time()).
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// ---------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------

static int load_fashion(Data *D, int64_t n_base, int64_t nq)
{
    DsImages tr = {0}, te = {0};
    int rc = ds_fashion_load("train", &tr);
    if (rc == ERR_OK) rc = ds_fashion_load("test", &te);
    if (rc != ERR_OK) {
        ds_images_free(&tr);
        return rc;
    }
    D->d = tr.rows * tr.cols;
    D->n = n_base < tr.n ? n_base : tr.n;
    D->nq = nq < te.n ? nq : te.n;
    D->base = xmalloc((size_t)(D->n * D->d) * sizeof(float));
    D->queries = xmalloc((size_t)(D->nq * D->d) * sizeof(float));
    // Raw 0..255 values, as ann-benchmarks' fashion-mnist-784-euclidean.hdf5 holds them.
    for (int64_t i = 0; i < D->n * D->d; i++) D->base[i] = tr.pixels[i];
    for (int64_t i = 0; i < D->nq * D->d; i++) D->queries[i] = te.pixels[i];
    D->name = "fashion-mnist-784-euclidean";
    ds_images_free(&tr);
    ds_images_free(&te);
    return ERR_OK;
}

// Checks that `name` in f is a 2-D F32 tensor of width d (d < 0: any) and returns its rows.
static int st_matrix(StFile *f, const char *name, int64_t d, int64_t *rows, int64_t *cols,
                     const float **data)
{
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const char *dtype;
    int rc = st_info(f, name, &ndim, shape, &dtype);
    if (rc != ERR_OK) return rc;
    if (ndim != 2 || strcmp(dtype, "F32") != 0 || (d >= 0 && shape[1] != d))
        return err_set(ERR_SHAPE, "%s: tensor '%s' is %s with %d dims (first two: %lld, %lld), "
                       "expected an F32 matrix (n, %s); hint: save the embeddings as float32 "
                       "(n, dim), the queries with the same dim", st_path(f), name, dtype, ndim,
                       (long long)shape[0], ndim > 1 ? (long long)shape[1] : 0LL,
                       d >= 0 ? "dim of 'vectors'" : "dim");
    size_t nb;
    *data = st_raw(f, name, &nb);
    *rows = shape[0];
    *cols = shape[1];
    return ERR_OK;
}

static int load_safetensors(Data *D, const char *path, int64_t nq)
{
    StFile *f;
    int rc = st_open(path, &f);
    if (rc != ERR_OK) return rc;
    const float *v, *q;
    int64_t n, d, qn, qd;
    rc = st_matrix(f, "vectors", -1, &n, &d, &v);
    if (rc == ERR_OK && st_info(f, "queries", NULL, NULL, NULL) == ERR_OK) {
        rc = st_matrix(f, "queries", d, &qn, &qd, &q);
        if (rc == ERR_OK) {
            D->n = n;
            D->nq = nq < qn ? nq : qn;
            D->queries = xmalloc((size_t)(D->nq * d) * sizeof(float));
            memcpy(D->queries, q, (size_t)(D->nq * d) * sizeof(float));
        }
    } else if (rc == ERR_OK) {
        // No queries: hold the last nq rows out of the base.
        if (nq >= n) nq = n / 10 > 0 ? n / 10 : 1;
        D->n = n - nq;
        D->nq = nq;
        D->queries = xmalloc((size_t)(nq * d) * sizeof(float));
        memcpy(D->queries, v + D->n * d, (size_t)(nq * d) * sizeof(float));
    }
    if (rc == ERR_OK) {
        D->d = d;
        D->base = xmalloc((size_t)(D->n * d) * sizeof(float));
        memcpy(D->base, v, (size_t)(D->n * d) * sizeof(float));
        D->name = path;
    }
    st_close(f);
    return rc;
}

// Rows of x (n, d) with a non-zero norm, compacted in place; returns how many.
static int64_t drop_zero_rows(float *x, int64_t n, int64_t d)
{
    int64_t w = 0;
    for (int64_t i = 0; i < n; i++) {
        double ss = 0;
        for (int64_t j = 0; j < d; j++) ss += (double)x[i * d + j] * x[i * d + j];
        if (ss == 0) continue; // no known word: matches nothing under cosine
        if (w != i) memmove(x + w * d, x + i * d, (size_t)d * sizeof *x);
        w++;
    }
    return w;
}

// The engine's own embeddings: word vectors trained here on FOLDOC + Jargon (week 2's
// skip-gram), every FOLDOC entry cut into recursive 800/100 chunks and embedded with the SIF
// average (rag/embed.h); the queries are the FOLDOC reverse-dictionary test queries
// (rag/qrels.h), embedded the same way.
static int load_foldoc(Data *D, int64_t nq, int quick)
{
    char *text;
    size_t len;
    int rc = ds_corpus_text("foldoc,jargon", &text, &len);
    if (rc != ERR_OK) return rc;
    NnW2v w2v;
    rc = nn_w2v_init(&w2v, text, 0, 3, quick ? 32 : 64, 1);
    if (rc != ERR_OK) {
        free(text);
        return rc;
    }
    NnW2vConfig wc = {.window = 5, .negatives = 5, .epochs = quick ? 1 : 2, .lr = 0.025f,
                      .subsample = 1e-3f, .seed = 1};
    nn_w2v_train(&w2v, text, 0, &wc, NULL);
    nn_w2v_normalize(&w2v);
    free(text);
    RagBenchmark bm;
    rc = rag_benchmark_foldoc(NULL, &bm);
    if (rc != ERR_OK) {
        nn_w2v_deinit(&w2v);
        return rc;
    }
    RagEmbedder e = rag_embedder_w2v(&w2v, 1e-3f);
    int64_t d = e.dim, cap = 4 * bm.n_docs, n = 0;
    float *base = xmalloc((size_t)(cap * d) * sizeof *base);
    RagChunkOpts co = {.kind = RAG_CHUNK_RECURSIVE, .size = 800, .overlap = 100};
    for (int64_t i = 0; i < bm.n_docs && rc == ERR_OK; i++) {
        RagChunks c;
        const char *t = bm.doc_texts[i];
        rc = rag_chunk(t, (int64_t)strlen(t), &co, &c);
        for (int64_t k = 0; rc == ERR_OK && k < c.n; k++) {
            if (n == cap) base = xrealloc(base, (size_t)((cap *= 2) * d) * sizeof *base);
            rag_embed(&e, t + c.chunks[k].start, c.chunks[k].end - c.chunks[k].start,
                      base + n++ * d);
        }
        rag_chunks_free(&c);
    }
    float *q = xmalloc((size_t)((nq > 0 ? nq : 1) * d) * sizeof *q);
    int64_t m = 0;
    for (int64_t i = 0; i < bm.n_queries && m < nq; i++)
        if (bm.is_test[i]) rag_embed(&e, bm.queries[i], (int64_t)strlen(bm.queries[i]), q + m++ * d);
    D->d = d;
    D->n = drop_zero_rows(base, n, d);
    D->nq = drop_zero_rows(q, m, d);
    D->base = base;
    D->queries = q;
    D->name = "foldoc-chunks-w2v-sif-cosine";
    rag_embedder_deinit(&e);
    rag_benchmark_free(&bm);
    nn_w2v_deinit(&w2v);
    return rc;
}

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return io_write_atomic(path, p, n);
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

// One dataset: exact search, the HNSW sweep, the peers, the tables and the BENCH line.
static int sweep(const Data *D, RagMetric metric, int M, int efc, int single, uint64_t seed,
                 int no_peer)
{
    int rc = ERR_OK;
    printf("bench_ann: %s, %lld base x %lld dims, %lld queries, %s, k = %d, 1 thread "
           "(OpenBLAS core %s)\n", D->name, (long long)D->n, (long long)D->d, (long long)D->nq,
           rag_metric_name(metric), K, bench_blas_corename());

    // --- 1. exact search ------------------------------------------------------------------
    RagFlat *flat = rag_flat_create(D->d, metric);
    rag_flat_add(flat, D->base, D->n);
    RagHit *gt = xmalloc((size_t)(D->nq * K) * sizeof *gt);
    double t0 = cpu_now();
    rag_flat_search_batch(flat, D->queries, D->nq, K, gt);
    double flat_batch_qps = (double)D->nq / (cpu_now() - t0);
    int64_t ns = single < D->nq ? single : D->nq;
    RagHit tmp[K];
    t0 = cpu_now();
    for (int64_t i = 0; i < ns; i++) rag_flat_search(flat, D->queries + i * D->d, K, tmp);
    double flat_single_qps = (double)ns / (cpu_now() - t0);
    printf("exact (ours): %.0f q/s batched, %.1f q/s one at a time\n", flat_batch_qps,
           flat_single_qps);

    // --- 2. HNSW ----------------------------------------------------------------------------
    RagHnsw *h = rag_hnsw_create(&(RagHnswConfig){.dim = D->d, .metric = metric, .M = M,
                                                  .ef_construction = efc, .seed = seed});
    t0 = cpu_now();
    double w0 = bench_now();
    rag_hnsw_add(h, D->base, D->n);
    double build_s = cpu_now() - t0, build_wall = bench_now() - w0;
    printf("hnsw build (ours): %.2f s CPU (%.2f s wall), max level %d\n", build_s, build_wall,
           rag_hnsw_max_level(h));
    double rec[N_EF], qps[N_EF];
    for (int e = 0; e < N_EF; e++) {
        rag_hnsw_set_ef(h, EFS[e]);
        // Passes over all queries until 3 passes and 0.5 s (at most 20 passes); the fastest
        // pass counts: the machine is shared, and a pass slowed by a neighbour is noise.
        double best = INFINITY, spent = 0;
        int64_t hit = 0;
        for (int pass = 0; pass < 20 && (pass < 3 || spent < 0.5); pass++) {
            hit = 0;
            t0 = cpu_now();
            for (int64_t i = 0; i < D->nq; i++) {
                RagHit got[K];
                int64_t g = rag_hnsw_search(h, D->queries + i * D->d, K, got);
                for (int64_t a = 0; a < g; a++)
                    for (int b = 0; b < K; b++) hit += got[a].id == gt[i * K + b].id;
            }
            double dt = cpu_now() - t0;
            best = dt < best ? dt : best;
            spent += dt;
        }
        rec[e] = (double)hit / (double)(D->nq * K);
        qps[e] = (double)D->nq / best;
        printf("ours    ef=%4d recall@%d=%.4f q/s=%.0f\n", EFS[e], K, rec[e], qps[e]);
    }

    // --- peer -------------------------------------------------------------------------------
    json_t *peer = NULL;
    if (!no_peer) {
        char dir[] = "/tmp/bench_ann.XXXXXX";
        if (!mkdtemp(dir)) {
            perror("bench_ann: mkdtemp");
            return 1;
        }
        int64_t *ids = xmalloc((size_t)(D->nq * K) * sizeof *ids);
        float *sc = xmalloc((size_t)(D->nq * K) * sizeof *sc);
        for (int64_t i = 0; i < D->nq * K; i++) ids[i] = gt[i].id, sc[i] = gt[i].score;
        rc = write_file(dir, "base.f32", D->base, (size_t)(D->n * D->d) * sizeof(float));
        if (rc == ERR_OK)
            rc = write_file(dir, "queries.f32", D->queries, (size_t)(D->nq * D->d) * sizeof(float));
        if (rc == ERR_OK) rc = write_file(dir, "gt_ids.i64", ids, (size_t)(D->nq * K) * 8);
        if (rc == ERR_OK) rc = write_file(dir, "gt_scores.f32", sc, (size_t)(D->nq * K) * 4);
        free(ids);
        free(sc);
        if (rc != ERR_OK) {
            fprintf(stderr, "bench_ann: %s\n", err_msg());
        } else {
            char script[1024], cmd[2048];
            bench_repo_path(script, sizeof script, "bench/peers/ann_peers.py");
            snprintf(cmd, sizeof cmd,
                     "OMP_WAIT_POLICY=%s OPENBLAS_NUM_THREADS=1 /usr/bin/python3 '%s' --dir %s "
                     "--n %lld --nq %lld --d %lld --k %d --metric %s --M %d --efc %d "
                     "--efs 16,32,64,128,256 --single %lld --seed %llu",
                     bench_omp_wait_policy(), script, dir, (long long)D->n, (long long)D->nq,
                     (long long)D->d, K, rag_metric_name(metric), M, efc, (long long)ns,
                     (unsigned long long)seed);
            peer = bench_run_peer(cmd);
        }
        const char *names[] = {"base.f32", "queries.f32", "gt_ids.i64", "gt_scores.f32"};
        for (int i = 0; i < 4; i++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            unlink(path);
        }
        rmdir(dir);
    }

    // --- 3. tables and ratios -----------------------------------------------------------------
    double prec[N_EF], pqps[N_EF];
    json_t *rows = peer ? json_object_get(peer, "hnsw") : NULL;
    for (int e = 0; e < N_EF; e++) {
        prec[e] = pqps[e] = NAN;
        for (size_t i = 0; rows && i < json_array_size(rows); i++) {
            json_t *r = json_array_get(rows, i);
            if (bench_json_number(r, "ef") == EFS[e]) {
                prec[e] = bench_json_number(r, "recall");
                pqps[e] = bench_json_number(r, "qps");
            }
        }
    }
    double f_batch = bench_json_number(peer, "faiss_batch_qps");
    double f_single = bench_json_number(peer, "faiss_single_qps");
    double p_build = bench_json_number(peer, "hnsw_build_s");
    printf("\nqueries/s are per CPU second, single-threaded\n");
    printf("exact search, %lld queries (top-%d ground truth)\n", (long long)D->nq, K);
    printf("| %-24s | %12s | %12s | %8s |\n", "", "ours q/s", "faiss q/s", "ratio");
    printf("| %-24s | %12.1f | %12.1f | %8.2f |\n", "batched (sgemm)", flat_batch_qps, f_batch,
           flat_batch_qps / f_batch);
    printf("| %-24s | %12.1f | %12.1f | %8.2f |\n", "one query (sgemv)", flat_single_qps,
           f_single, flat_single_qps / f_single);
    printf("ground truth vs faiss: %.4f of top-%d ids agree, max relative score difference %.2g\n",
           bench_json_number(peer, "gt_agree"), K, bench_json_number(peer, "gt_max_rel"));
    printf("\nHNSW M=%d efConstruction=%d, build (CPU s): ours %.2f, hnswlib %.2f\n", M, efc,
           build_s, p_build);
    printf("| %4s | %12s | %10s | %15s | %12s | %8s |\n", "ef", "ours recall", "ours q/s",
           "hnswlib recall", "hnswlib q/s", "q/s ratio");
    int at = -1;
    for (int e = 0; e < N_EF; e++) {
        printf("| %4d | %12.4f | %10.0f | %15.4f | %12.0f | %8.2f |\n", EFS[e], rec[e], qps[e],
               prec[e], pqps[e], qps[e] / pqps[e]);
        if (at < 0 && rec[e] >= 0.95 && prec[e] >= 0.95) at = e;
    }
    double qps_ratio = at >= 0 ? qps[at] / pqps[at] : NAN, build_ratio = build_s / p_build;
    if (at >= 0)
        printf("at ef=%d (smallest where both reach recall@%d >= 0.95): q/s ours/hnswlib = %.2f "
               "(goal >= 1.0: %s)\n", EFS[at], K, qps_ratio, qps_ratio >= 1.0 ? "met" : "NOT met");
    else
        printf("no ef where both reach recall@%d >= 0.95 (or no peer figures)\n", K);
    printf("build time ours/hnswlib = %.2f (goal <= 1.2: %s)\n", build_ratio,
           build_ratio <= 1.2 ? "met" : isnan(build_ratio) ? "no peer" : "NOT met");

    // --- JSON -------------------------------------------------------------------------------
    char b1[BENCH_NUM_BUF], b2[BENCH_NUM_BUF], b3[BENCH_NUM_BUF], b4[BENCH_NUM_BUF];
    printf("BENCH {\"bench\":\"ann\",\"data\":\"%s\",\"n\":%lld,\"nq\":%lld,\"d\":%lld,"
           "\"metric\":\"%s\",\"M\":%d,\"efc\":%d,", D->name, (long long)D->n, (long long)D->nq,
           (long long)D->d, rag_metric_name(metric), M, efc);
    printf("\"flat\":{\"ours_batch_qps\":%s,\"ours_single_qps\":%s,\"faiss_batch_qps\":%s,"
           "\"faiss_single_qps\":%s},", bench_json_num(b1, flat_batch_qps, 1),
           bench_json_num(b2, flat_single_qps, 1), bench_json_num(b3, f_batch, 1),
           bench_json_num(b4, f_single, 1));
    printf("\"gt_agree\":%s,\"build_s\":{\"ours\":%s,\"hnswlib\":%s,\"ours_wall\":%s},"
           "\"hnsw\":[", bench_json_num(b1, bench_json_number(peer, "gt_agree"), 4),
           bench_json_num(b2, build_s, 2), bench_json_num(b3, p_build, 2),
           bench_json_num(b4, build_wall, 2));
    for (int e = 0; e < N_EF; e++) {
        printf("%s{\"ef\":%d,\"recall\":%s,\"qps\":%s,", e ? "," : "", EFS[e],
               bench_json_num(b1, rec[e], 4), bench_json_num(b2, qps[e], 0));
        printf("\"hnswlib_recall\":%s,\"hnswlib_qps\":%s}", bench_json_num(b3, prec[e], 4),
               bench_json_num(b4, pqps[e], 0));
    }
    printf("],\"ratio_ef\":%d,\"qps_ratio\":%s,\"build_ratio\":%s}\n", at >= 0 ? EFS[at] : -1,
           bench_json_num(b1, qps_ratio, 3), bench_json_num(b2, build_ratio, 3));

    json_decref(peer);
    rag_hnsw_free(h);
    rag_flat_free(flat);
    free(gt);
    return 0;
}

int main(int argc, char **argv)
{
    int nq_opt = 1000, full = 0, quick = 0, no_peer = 0, no_foldoc = 0, M = 16, efc = 200;
    int single = 200;
    const char *vectors = NULL, *metric_name = "l2";
    uint64_t seed = 100;
    CliOpt opts[] = {
        {"--queries", CLI_INT, &nq_opt, "number of queries (default 1000)"},
        {"--full", CLI_FLAG, &full, "all 10,000 Fashion-MNIST test images as queries"},
        {"--quick", CLI_FLAG, &quick, "10,000 base vectors and 200 queries (smoke run)"},
        {"--vectors", CLI_STR, &vectors, "a .safetensors file with 'vectors' (and 'queries')"},
        {"--metric", CLI_STR, &metric_name, "l2, ip or cosine (default l2)"},
        {"--M", CLI_INT, &M, "HNSW links per node (default 16)"},
        {"--efc", CLI_INT, &efc, "HNSW efConstruction (default 200)"},
        {"--single", CLI_INT, &single, "queries timed one at a time in exact search"},
        {"--seed", CLI_U64, &seed, "HNSW level seed"},
        {"--no-peer", CLI_FLAG, &no_peer, "skip faiss and hnswlib"},
        {"--no-foldoc", CLI_FLAG, &no_foldoc, "skip the sweep on FOLDOC chunk embeddings"},
    };
    int crc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
                        "bench_ann: exact and HNSW search against faiss and hnswlib");
    if (crc >= 0) return crc;
    RagMetric metric;
    if (strcmp(metric_name, "l2") == 0) metric = RAG_METRIC_L2;
    else if (strcmp(metric_name, "ip") == 0) metric = RAG_METRIC_IP;
    else if (strcmp(metric_name, "cosine") == 0) metric = RAG_METRIC_COSINE;
    else {
        fprintf(stderr, "bench_ann: --metric %s: expected l2, ip or cosine\n", metric_name);
        return 2;
    }
    int64_t nq = full ? 10000 : quick ? 200 : nq_opt, n_base = quick ? 10000 : INT64_MAX;
    if (nq < 1) nq = 1;
    openblas_set_num_threads(1);

    Data D = {0};
    int rc = vectors ? load_safetensors(&D, vectors, nq) : load_fashion(&D, n_base, nq);
    if (rc == ERR_OK) rc = sweep(&D, metric, M, efc, single, seed, no_peer);
    free(D.base);
    free(D.queries);
    if (rc == ERR_OK && !vectors && !no_foldoc) {
        // The same sweep on the engine's own embeddings: FOLDOC chunks and the reverse-
        // dictionary queries, by cosine.
        Data F = {0};
        printf("\n");
        rc = load_foldoc(&F, nq, quick);
        if (rc == ERR_OK) rc = sweep(&F, RAG_METRIC_COSINE, M, efc, single, seed, no_peer);
        free(F.base);
        free(F.queries);
    }
    if (rc != ERR_OK) {
        fprintf(stderr, "bench_ann: %s\n", err_msg());
        return 1;
    }
    return 0;
}
