#!/usr/bin/python3
"""PyTorch peer of bench/bench_mlp.c: the same MLP, data, optimizer and measurements.

MLP 784-256-128-10 (nn.Linear default init, ReLU), CrossEntropyLoss, torch.optim.AdamW
(lr 1e-3, PyTorch's defaults otherwise: betas (0.9, 0.999), eps 1e-8, weight decay 0.01),
batch 128, the 60,000 Fashion-MNIST training images shuffled each epoch (last batch partial),
pixels / 255 from the same gzip'd IDX files the C loader reads.

  1. steady state: `steps` timed training steps after `warmup` untimed ones; s/epoch is the
     time per step x 469 (batches per epoch);
  2. unless --quick: whole epochs from a fresh model, the test accuracy after each (evaluation
     not timed), until it reaches 0.88 or --max-epochs; reports the training seconds to get there.

Threads: torch.set_num_threads(N), N = --threads, else $OPENBLAS_NUM_THREADS, else 2 (Debian's
torch starts with 1). Run it with OMP_WAIT_POLICY=PASSIVE (bench_mlp does): idle OpenMP
threads otherwise spin. Output: one line `PEER {"peer":"torch","bench":"mlp",...}`.
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch

ROOT = os.environ.get("ENGINE_DATA_ROOT", "/usr/share")
DIR = os.path.join(ROOT, "datasets", "fashion-mnist")


def load(prefix):
    with gzip.open(os.path.join(DIR, prefix + "-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(os.path.join(DIR, prefix + "-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="steady state only, 50 steps")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--max-epochs", type=int, default=15)
    ap.add_argument("--threads", type=int,
                    default=int(os.environ.get("OPENBLAS_NUM_THREADS", "2") or 2))
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.quick:
        a.steps = min(a.steps, 50)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    B, n = 128, xtr.shape[0]
    spe = (n + B - 1) // B

    def model_opt():
        m = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
        return m, torch.optim.AdamW(m.parameters(), lr=1e-3)

    lossf = torch.nn.CrossEntropyLoss()

    def step(m, opt, idx):
        loss = lossf(m(xtr[idx]), ytr[idx])
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
        return loss

    # 1. steady state
    m, opt = model_opt()
    perm = torch.randperm(n)
    for s in range(a.warmup):
        step(m, opt, perm[(s % spe) * B:(s % spe + 1) * B])
    t0 = time.perf_counter()
    for s in range(a.steps):
        k = (a.warmup + s) % spe
        step(m, opt, perm[k * B:(k + 1) * B])
    ms_step = (time.perf_counter() - t0) / a.steps * 1e3
    out = {"peer": "torch", "bench": "mlp", "torch": torch.__version__,
           "threads": torch.get_num_threads(),
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
           "ms_per_step": round(ms_step, 4), "s_per_epoch": round(ms_step * spe / 1e3, 4),
           "steps_timed": a.steps}

    # 2. time to 88% test accuracy
    if not a.quick:
        m, opt = model_opt()
        train_s, reached, epochs, acc, first = 0.0, None, 0, 0.0, None
        while epochs < a.max_epochs:
            perm = torch.randperm(n)
            t0 = time.perf_counter()
            for k in range(spe):
                step(m, opt, perm[k * B:(k + 1) * B])
            dt = time.perf_counter() - t0
            first = dt if first is None else first
            train_s += dt
            epochs += 1
            with torch.no_grad():
                acc = (m(xte).argmax(1) == yte).float().mean().item()
            if acc >= 0.88:
                reached = train_s
                break
        out.update({"s_full_epoch": round(first, 4), "epochs_to_88": epochs if reached else None,
                    "s_to_88": round(reached, 3) if reached else None, "test_acc": round(acc, 4)})
    print("PEER " + json.dumps(out, separators=(",", ":")))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
