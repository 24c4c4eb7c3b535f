#!/usr/bin/python3
"""gen_lora_fixtures.py: PyTorch reference values for one LoRA layer (nn/lora.c).

Run by hand from the repository root with Debian's torch (not a pyenv python):

    /usr/bin/python3 tests/gen_lora_fixtures.py      # writes tests/fixtures/lora.safetensors

The layer, with x (N..., in), W (out, in), b (out,), A (r, in), B (out, r):

    y = x W^T + b + s * (x A^T) B^T,      s = alpha / r   (or alpha / sqrt(r): rsLoRA)

B is random here (not PEFT's zeros), so the adapter's contribution and its gradients are not
trivially zero. For each case, with an upstream gradient dy drawn at random, the stored values
are computed in float64 from the float32 inputs and rounded to float32:

    <case>.x (2, 3, in), <case>.w (out, in), <case>.b (out,), <case>.a (r, in), <case>.bm (out, r)
    <case>.dy (2, 3, out)            the upstream gradient
    <case>.y (2, 3, out)             the forward output
    <case>.dx, <case>.da, <case>.dbm  d(sum(y * dy)) / d(x, A, B)   (torch.autograd.grad)

Cases: "plain" (in 6, out 5, r 3, alpha 4, scale alpha / r) and "rs" (in 8, out 4, r 4,
alpha 2, rsLoRA scale alpha / sqrt(r)). The metadata holds "<case>.rank", "<case>.alpha" and
"<case>.rslora" ("true"/"false"), which the C test reads back.
"""

import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import write_safetensors  # noqa: E402  (the shared safetensors writer)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "fixtures", "lora.safetensors")

# name -> (in, out, rank, alpha, rslora)
CASES = [
    ("plain", 6, 5, 3, 4.0, False),
    ("rs", 8, 4, 4, 2.0, True),
]


def lora_case(name, n_in, n_out, rank, alpha, rslora):
    x = torch.randn(2, 3, n_in)
    w = torch.randn(n_out, n_in) * 0.5
    b = torch.randn(n_out) * 0.1
    a = (torch.rand(rank, n_in) * 2 - 1) / math.sqrt(n_in)   # the kaiming-uniform range
    bm = torch.randn(n_out, rank) * 0.3
    dy = torch.randn(2, 3, n_out)
    scale = alpha / math.sqrt(rank) if rslora else alpha / rank
    xd, wd, bd, ad, bmd = (t.double() for t in (x, w, b, a, bm))
    xd.requires_grad_(True)
    ad.requires_grad_(True)
    bmd.requires_grad_(True)
    y = xd @ wd.T + bd + scale * ((xd @ ad.T) @ bmd.T)
    dx, da, dbm = torch.autograd.grad(y, [xd, ad, bmd], grad_outputs=dy.double())
    out = [(f"{name}.x", x), (f"{name}.w", w), (f"{name}.b", b), (f"{name}.a", a),
           (f"{name}.bm", bm), (f"{name}.dy", dy), (f"{name}.y", y.detach()),
           (f"{name}.dx", dx), (f"{name}.da", da), (f"{name}.dbm", dbm)]
    meta = {f"{name}.rank": str(rank), f"{name}.alpha": repr(alpha),
            f"{name}.rslora": "true" if rslora else "false"}
    return out, meta


def main():
    torch.manual_seed(909)
    torch.set_num_threads(1)
    tensors = []
    metadata = {"format": "engine-lora-fixtures", "fixture_version": "1",
                "generator": "tests/gen_lora_fixtures.py", "torch": torch.__version__}
    for case in CASES:
        t, m = lora_case(*case)
        tensors += t
        metadata.update(m)
    tensors = [(n, t.detach().contiguous().float()) for n, t in tensors]
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    write_safetensors(OUT_PATH, tensors, metadata)
    print(f"wrote {OUT_PATH}: {len(tensors)} tensors, {os.path.getsize(OUT_PATH)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
