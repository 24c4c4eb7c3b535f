#!/usr/bin/python3
"""PyTorch peer of bench/bench_generate.c: greedy generation with a KV cache.

The same two GPT-2-recipe models with random weights (N(0, 0.02), LayerNorm with bias,
learned positions, tanh GELU, tied embeddings):
    TINY  4 layers, 4 heads, width 128, d_ff 512, context 128, vocab 65
    SMALL 6 layers, 6 heads, width 384, d_ff 1536, context 256, vocab 65
A 16-token prompt is run in one pass (prefill), then `--new` tokens (default 128) are
generated greedily (at most context - 16: 112 on TINY) one at a time against a KV cache, under
torch.inference_mode(). tokens/s = generated tokens / wall time of the whole generation
(prefill included), best of `--reps` runs after one warm-up run.

Threads: torch.set_num_threads(n) for n in --threads (default "1,2"). Run it with
OMP_WAIT_POLICY=PASSIVE (bench_generate does): idle OpenMP threads otherwise spin.
Output: one line `PEER {"peer":"torch","bench":"generate",...}`. It is named generate_torch.py,
not bench_generate.py, so tools/run_bench.sh does not run it a second time.
"""
import argparse
import json
import math
import os
import time

import torch

CONFIGS = {
    "tiny": dict(L=4, H=4, C=128, F=512, ctx=128, V=65),
    "small": dict(L=6, H=6, C=384, F=1536, ctx=256, V=65),
}


class Gpt:
    """Weights as plain tensors; forward(tokens, pos) runs rows at pos.. against the cache."""

    def __init__(self, cfg, max_t, seed=1):
        g = torch.Generator().manual_seed(seed)
        L, C, F, V = cfg["L"], cfg["C"], cfg["F"], cfg["V"]

        def w(*shape):
            return torch.randn(*shape, generator=g) * 0.02

        self.cfg = cfg
        self.tok = w(V, C)
        self.pos = w(cfg["ctx"], C)
        self.blocks = []
        for _ in range(L):
            self.blocks.append(dict(
                ln1_w=torch.ones(C), ln1_b=torch.zeros(C),
                wqkv=w(3 * C, C), bqkv=torch.zeros(3 * C),
                wo=w(C, C), bo=torch.zeros(C),
                ln2_w=torch.ones(C), ln2_b=torch.zeros(C),
                wup=w(F, C), bup=torch.zeros(F),
                wdown=w(C, F), bdown=torch.zeros(C)))
        self.lnf_w, self.lnf_b = torch.ones(C), torch.zeros(C)
        H = cfg["H"]
        self.k = torch.zeros(L, H, max_t, C // H)
        self.v = torch.zeros(L, H, max_t, C // H)

    def forward(self, tokens, pos):
        F_ = torch.nn.functional
        cfg = self.cfg
        C, H = cfg["C"], cfg["H"]
        hd = C // H
        n = tokens.shape[0]
        t = pos + n
        x = self.tok[tokens] + self.pos[pos:t]
        # Causal mask of the n new rows against all t keys.
        mask = None
        if n > 1:
            i = torch.arange(n).unsqueeze(1) + pos
            j = torch.arange(t).unsqueeze(0)
            mask = torch.zeros(n, t).masked_fill(j > i, float("-inf"))
        for l, b in enumerate(self.blocks):
            z = F_.layer_norm(x, (C,), b["ln1_w"], b["ln1_b"], 1e-5)
            qkv = F_.linear(z, b["wqkv"], b["bqkv"])
            q, k, v = qkv.split(C, dim=1)
            q = q.view(n, H, hd).transpose(0, 1)
            self.k[l, :, pos:t] = k.view(n, H, hd).transpose(0, 1)
            self.v[l, :, pos:t] = v.view(n, H, hd).transpose(0, 1)
            s = q @ self.k[l, :, :t].transpose(1, 2) / math.sqrt(hd)
            if mask is not None:
                s = s + mask
            o = torch.softmax(s, dim=-1) @ self.v[l, :, :t]
            o = o.transpose(0, 1).reshape(n, C)
            x = x + F_.linear(o, b["wo"], b["bo"])
            z = F_.layer_norm(x, (C,), b["ln2_w"], b["ln2_b"], 1e-5)
            h = F_.gelu(F_.linear(z, b["wup"], b["bup"]), approximate="tanh")
            x = x + F_.linear(h, b["wdown"], b["bdown"])
        z = F_.layer_norm(x[-1], (C,), self.lnf_w, self.lnf_b, 1e-5)
        return z @ self.tok.t()


def generate(m, prompt, new):
    logits = m.forward(prompt, 0)
    pos = prompt.shape[0]
    out = []
    for _ in range(new):
        nxt = int(torch.argmax(logits))
        out.append(nxt)
        if len(out) == new:
            break
        logits = m.forward(torch.tensor([nxt]), pos)
        pos += 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.reps, a.new = 1, 32
    threads = [int(t) for t in a.threads.split(",")]
    res, news = {}, {}
    with torch.inference_mode():
        for name, cfg in CONFIGS.items():
            new = min(a.new, cfg["ctx"] - 16)  # TINY: 112, the context is 128
            news[name] = new
            m = Gpt(cfg, 16 + new)
            prompt = torch.randint(0, cfg["V"], (16,), generator=torch.Generator().manual_seed(3))
            res[name] = {}
            for n in threads:
                torch.set_num_threads(n)
                generate(m, prompt, new)  # warm-up
                best = float("inf")
                for _ in range(a.reps):
                    t0 = time.perf_counter()
                    out = generate(m, prompt, new)
                    best = min(best, time.perf_counter() - t0)
                tps = len(out) / best
                res[name][str(n)] = round(tps, 1)
                print(f"torch {name:5s} threads {n}: {tps:9.1f} tokens/s")
    print("PEER " + json.dumps({
        "peer": "torch", "bench": "generate", "torch": torch.__version__,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "new_tokens": news, "tokens_per_s": res}), flush=True)


if __name__ == "__main__":
    main()
