"""ann_peers.py: the peers of bench/bench_ann.c: faiss IndexFlat* and hnswlib, single-threaded.

bench_ann writes the base vectors, the queries and its exact top-k (ids and scores from
rag/flat.h) as raw little-endian files in a temporary folder and runs this script with
/usr/bin/python3 (Debian's python3-faiss and python3-hnswlib). It prints one line
`PEER {...}` of JSON with:

    faiss_batch_qps     IndexFlatL2 / IndexFlatIP, all queries in one search() call
    faiss_single_qps    the same, one query per call, over the first --single queries
    gt_agree            fraction of (query, rank) where faiss's top-k id set contains ours
    gt_max_rel          max relative difference between faiss's and our k scores, rank by rank
    hnsw_build_s        hnswlib add_items time (M, efConstruction as given)
    hnsw[]              per ef: recall@k against our exact top-k, queries/s (knn_query on all
                        queries at once, one thread: the loop runs in C++, as ours runs in C)

Times are CPU seconds of this process (time.process_time()), as bench_ann measures its own:
on a shared machine wall time also counts the moments a neighbour had the core.
torch is not imported (importing it first changes faiss's threads). Threads: faiss,
OpenBLAS (OPENBLAS_NUM_THREADS=1, set by bench_ann) and hnswlib all run on one thread.
"""

import argparse
import json
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="folder with base.f32, queries.f32, gt_*.bin")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--nq", type=int, required=True)
    ap.add_argument("--d", type=int, required=True)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--metric", default="l2", choices=["l2", "ip", "cosine"])
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--efs", default="16,32,64,128,256")
    ap.add_argument("--single", type=int, default=200, help="queries timed one at a time")
    ap.add_argument("--seed", type=int, default=100)
    a = ap.parse_args()

    import faiss
    import hnswlib

    faiss.omp_set_num_threads(1)
    base = np.fromfile(f"{a.dir}/base.f32", dtype=np.float32).reshape(a.n, a.d)
    q = np.fromfile(f"{a.dir}/queries.f32", dtype=np.float32).reshape(a.nq, a.d)
    gt_ids = np.fromfile(f"{a.dir}/gt_ids.i64", dtype=np.int64).reshape(a.nq, a.k)
    gt_sc = np.fromfile(f"{a.dir}/gt_scores.f32", dtype=np.float32).reshape(a.nq, a.k)
    out = {"faiss_version": faiss.__version__, "metric": a.metric}

    # --- exact search -----------------------------------------------------------------------
    fb, fq = base, q
    if a.metric == "cosine":  # as ours: rows and queries normalised, then inner product
        fb = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-30)
        fq = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
    flat = faiss.IndexFlatL2(a.d) if a.metric == "l2" else faiss.IndexFlatIP(a.d)
    flat.add(np.ascontiguousarray(fb, dtype=np.float32))
    fq = np.ascontiguousarray(fq, dtype=np.float32)
    t0 = time.process_time()
    D, I = flat.search(fq, a.k)
    out["faiss_batch_qps"] = a.nq / (time.process_time() - t0)
    ns = min(a.single, a.nq)
    t0 = time.process_time()
    for i in range(ns):
        flat.search(fq[i : i + 1], a.k)
    out["faiss_single_qps"] = ns / (time.process_time() - t0)
    # Agreement with our ground truth: ids (as sets per query) and scores rank by rank.
    agree = sum(len(set(I[i]) & set(gt_ids[i])) for i in range(a.nq))
    out["gt_agree"] = agree / float(a.nq * a.k)
    fs = -D if a.metric == "l2" else D  # our scores: larger = better, L2 negated
    denom = np.maximum(np.abs(gt_sc.astype(np.float64)), 1e-30)
    out["gt_max_rel"] = float(np.max(np.abs(fs - gt_sc) / denom))

    # --- hnswlib ----------------------------------------------------------------------------
    space = {"l2": "l2", "ip": "ip", "cosine": "cosine"}[a.metric]
    p = hnswlib.Index(space=space, dim=a.d)
    p.init_index(max_elements=a.n, ef_construction=a.efc, M=a.M, random_seed=a.seed)
    p.set_num_threads(1)
    t0, w0 = time.process_time(), time.perf_counter()
    p.add_items(base, np.arange(a.n), num_threads=1)
    out["hnsw_build_s"] = time.process_time() - t0
    out["hnsw_build_wall_s"] = time.perf_counter() - w0
    rows = []
    gts = [set(r) for r in gt_ids]
    for ef in [int(e) for e in a.efs.split(",")]:
        p.set_ef(ef)
        # As bench_ann: the fastest of at least 3 passes and 0.5 s (at most 20 passes).
        best, spent, passes = float("inf"), 0.0, 0
        while passes < 20 and (passes < 3 or spent < 0.5):
            t0 = time.process_time()
            labels, _d = p.knn_query(q, k=a.k, num_threads=1)
            dt = time.process_time() - t0
            best, spent, passes = min(best, dt), spent + dt, passes + 1
        hit = sum(len(gts[i] & set(labels[i])) for i in range(a.nq))
        rows.append({"ef": ef, "recall": hit / float(a.nq * a.k), "qps": a.nq / best})
        print(f"hnswlib ef={ef:4d} recall@{a.k}={rows[-1]['recall']:.4f} "
              f"q/s={rows[-1]['qps']:.0f}", flush=True)
    out["hnsw"] = rows
    print("PEER " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
