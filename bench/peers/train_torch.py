#!/usr/bin/python3
"""PyTorch peer of bench/bench_train.c: the same GPT training step, in plain torch.

The model is the engine's gpt2 recipe (transformer/model.h), written nanoGPT-style so that
torch runs it as fast as it can: pre-norm blocks, LayerNorm with bias (eps 1e-5), learned
positions, one fused q/k/v Linear (the same math as the engine's three: its weight is the
three stacked), attention written out (torch 1.13 has no scaled_dot_product_attention),
tanh-GELU MLP of width 4C, biases everywhere, tied input/output embedding. GPT-2's init:
N(0, 0.02), the two residual projections 0.02 / sqrt(2L), biases 0, norms 1.
The math is the one tests/gen_model_fixtures.py checks the engine against.

Training is the engine's tf_train_step (transformer/train.h): windows of T + 1 tokens at
uniformly random offsets of the training split (torch's own RNG: the windows differ from the
engine's, the distribution is the same), mean cross-entropy, clip_grad_norm_(1.0), lr from the
engine's warmup + cosine formula (nn_lr_schedule), torch.optim.AdamW with betas (0.9, 0.95),
eps 1e-8, weight decay 0.1 on every parameter (as the engine does).

Modes (one fresh process each, so ru_maxrss is the peak of that one measurement):
  --mode time     --config tiny|small: `--warmup` untimed then `--steps` timed steps on a
                  stream of 100,000 random tokens; median ms/step and peak RSS.
  --mode quality  --tokens FILE (int32 little-endian, written by bench_train) --n-val N: the
                  last N tokens are the validation split. Trains --steps steps of TINY (warmup
                  10%, lr 1e-3 -> 1e-4), then the mean loss over 32 validation windows at
                  offsets i * last // 31 (last = N - T - 1), the same ones tf_train_eval uses.

Threads: torch.set_num_threads(--threads) (Debian's torch starts with 1). Run it with
OMP_WAIT_POLICY=PASSIVE (bench_train does). Output: one line `PEER {...}`.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

RSS_IMPORT_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

CONFIGS = {
    "tiny": dict(n_layer=4, n_head=4, d_model=128, ctx=128, batch=16, vocab=65),
    "small": dict(n_layer=6, n_head=6, d_model=384, ctx=256, batch=8, vocab=65),
}
LR, MIN_LR, BETAS, WD, CLIP = 1e-3, 1e-4, (0.9, 0.95), 0.1, 1.0
VAL_WINDOWS = 32


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        C = c["d_model"]
        self.H = c["n_head"]
        self.ln1 = nn.LayerNorm(C, eps=1e-5)
        self.qkv = nn.Linear(C, 3 * C)
        self.proj = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C, eps=1e-5)
        self.up = nn.Linear(C, 4 * C)
        self.down = nn.Linear(4 * C, C)
        T = c["ctx"]
        self.register_buffer("mask", torch.triu(torch.ones(T, T, dtype=torch.bool), 1))

    def forward(self, x):
        B, T, C = x.shape
        hd = C // self.H
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q = q.view(B, T, self.H, hd).transpose(1, 2)
        k = k.view(B, T, self.H, hd).transpose(1, 2)
        v = v.view(B, T, self.H, hd).transpose(1, 2)
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        s = s.masked_fill(self.mask[:T, :T], float("-inf"))
        o = (F.softmax(s, dim=-1) @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.proj(o)
        return x + self.down(F.gelu(self.up(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        C = c["d_model"]
        self.tok = nn.Embedding(c["vocab"], C)
        self.pos = nn.Embedding(c["ctx"], C)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["n_layer"]))
        self.ln_f = nn.LayerNorm(C, eps=1e-5)
        std_res = 0.02 / math.sqrt(2 * c["n_layer"])
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("down.weight"):
                nn.init.normal_(p, 0.0, std_res)
            elif p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif "ln" in name and name.endswith("weight"):
                nn.init.ones_(p)
            else:
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos.weight[:T]
        for b in self.blocks:
            x = b(x)
        logits = self.ln_f(x) @ self.tok.weight.t()  # tied head
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


def lr_at(step, total, warmup):
    """nn_lr_schedule(NN_LR_WARMUP_COSINE, ...) of nn/optim.h."""
    if step < warmup:
        return LR * (step + 1) / warmup
    if step >= total:
        return MIN_LR
    r = (step - warmup) / (total - warmup)
    return MIN_LR + (LR - MIN_LR) * (1.0 + math.cos(math.pi * r)) / 2.0


class Trainer:
    def __init__(self, c, tokens, n_train, total, warmup, seed):
        torch.manual_seed(seed)
        self.c, self.tokens, self.n_train = c, tokens, n_train
        self.total, self.warmup, self.step_i = total, warmup, 0
        self.model = GPT(c)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=LR, betas=BETAS, eps=1e-8,
                                     weight_decay=WD)
        self.offs = torch.arange(c["ctx"] + 1)

    def windows(self, starts):
        w = self.tokens[starts[:, None] + self.offs[None, :]].long()
        return w[:, :-1], w[:, 1:]

    def step(self):
        c = self.c
        s = torch.randint(0, self.n_train - c["ctx"], (c["batch"],))
        x, y = self.windows(s)
        loss = self.model(x, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), CLIP)
        for g in self.opt.param_groups:
            g["lr"] = lr_at(self.step_i, self.total, self.warmup)
        self.opt.step()
        self.step_i += 1
        return loss.item()

    @torch.no_grad()
    def eval(self, n_val):
        c = self.c
        T, B = c["ctx"], c["batch"]
        last = n_val - T - 1
        starts = torch.tensor([self.n_train + i * last // (VAL_WINDOWS - 1)
                               for i in range(VAL_WINDOWS)])
        self.model.eval()
        total = 0.0
        for b0 in range(0, VAL_WINDOWS, B):
            x, y = self.windows(starts[b0:b0 + B])
            total += self.model(x, y).item()
        self.model.train()
        return total / (VAL_WINDOWS // B)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("time", "quality"), default="time")
    ap.add_argument("--config", choices=tuple(CONFIGS), default="tiny")
    ap.add_argument("--threads", type=int,
                    default=int(os.environ.get("OPENBLAS_NUM_THREADS", "2") or 2))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps (time mode)")
    ap.add_argument("--tokens", help="int32 token file (quality mode)")
    ap.add_argument("--n-val", type=int, default=0, help="validation tokens at the end")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="fewer timed steps")
    a = ap.parse_args()
    if a.quick:
        a.steps = min(a.steps, 5)
        a.warmup = min(a.warmup, 2)
    torch.set_num_threads(a.threads)
    c = CONFIGS[a.config]
    out = {"peer": "torch", "bench": "train", "torch": torch.__version__, "mode": a.mode,
           "config": a.config, "threads": torch.get_num_threads(),
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
           "rss_import_mb": round(RSS_IMPORT_MB, 1)}
    if a.mode == "time":
        g = torch.Generator().manual_seed(a.seed + 1)
        tokens = torch.randint(0, c["vocab"], (100000,), generator=g, dtype=torch.int32)
        tr = Trainer(c, tokens, tokens.numel(), a.warmup + a.steps, 0, a.seed)
        times = []
        for s in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            tr.step()
            if s >= a.warmup:
                times.append(time.perf_counter() - t0)
        times.sort()
        n = len(times)
        med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
        out.update({"ms_step": round(med * 1e3, 3), "ms_step_min": round(times[0] * 1e3, 3),
                    "steps_timed": n, "peak_rss_mb": round(peak_rss_mb(), 1)})
    else:
        if not a.tokens or a.n_val <= c["ctx"]:
            sys.exit("train_torch.py: quality mode needs --tokens FILE and --n-val > ctx")
        with open(a.tokens, "rb") as f:
            raw = f.read()
        tokens = torch.frombuffer(bytearray(raw), dtype=torch.int32)
        if sys.byteorder != "little":
            tokens = tokens.byteswap()
        n_train = tokens.numel() - a.n_val
        warmup = max(1, a.steps // 10)
        tr = Trainer(c, tokens, n_train, a.steps, warmup, a.seed)
        val0 = tr.eval(a.n_val)
        t0 = time.perf_counter()
        loss = 0.0
        for _ in range(a.steps):
            loss = tr.step()
        wall = time.perf_counter() - t0
        out.update({"steps": a.steps, "val_loss_init": round(val0, 5),
                    "val_loss": round(tr.eval(a.n_val), 5), "train_loss_last": round(loss, 5),
                    "train_s": round(wall, 3), "ms_step": round(wall / a.steps * 1e3, 3),
                    "n_tokens": tokens.numel(), "peak_rss_mb": round(peak_rss_mb(), 1)})
    print("PEER " + json.dumps(out, separators=(",", ":")))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
