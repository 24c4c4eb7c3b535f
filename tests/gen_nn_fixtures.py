#!/usr/bin/python3
"""gen_nn_fixtures.py: PyTorch reference values for the nn/ module (optimizers, clipping, losses).

Run by hand from the repository root with Debian's torch (not a pyenv python):

    /usr/bin/python3 tests/gen_nn_fixtures.py        # writes tests/fixtures/nn.safetensors

What it stores (all float32 unless said otherwise):

Optimizers (tests/nn/test_optim.c). For each case, two parameters p0 (4, 3) and p1 (3,), ten
steps of torch.optim.<Opt> with the case's hyper-parameters, the gradient of each step set by
hand (a fixed random sequence, not a function of the parameters, so the C test can replay it):
    <case>.p0.init, <case>.p1.init      the parameters before step 1
    <case>.p0.grads (10, 4, 3), <case>.p1.grads (10, 3)      the gradient given at each step
    <case>.p0.after (10, 4, 3), <case>.p1.after (10, 3)      the parameters after each step
This runs in float32, exactly what PyTorch does for a float32 model, so it is the behaviour the
C optimizer reproduces (float32 tensors, Python-double scalars).

Gradient clipping: clip.g0 (4, 3), clip.g1 (3,), for max_norm in (1.0, 100.0):
    clip<i>.norm (1,)  the returned total norm;  clip<i>.g0, clip<i>.g1  the clipped gradients.

Losses (tests/nn/test_loss.c), computed in float64 from the stored float32 inputs and rounded:
    bce.logits (4, 5) (with large magnitudes and an exact 0), bce.targets (4, 5) (fractional
    too), bce.loss (1,), bce.dlogits (4, 5)  = d loss / d logits;
    nce.q (6, 8), nce.k (6, 8), tau in metadata; nce.loss (1,) and nce.dq, nce.dk for the
    one-directional loss, nce_sym.loss, nce_sym.dq, nce_sym.dk for the symmetric one.

"__metadata__" holds one string per optimizer case ("opt=adamw lr=... ..."); the C test keeps
the same strings in its table and compares them, so the two sides cannot drift apart.
"""

import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import write_safetensors  # noqa: E402  (the shared safetensors writer)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "fixtures", "nn.safetensors")
STEPS = 10

# name -> (optimizer class, keyword arguments). The metadata string is derived from these.
OPT_CASES = [
    ("sgd_momentum", torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("sgd_nesterov", torch.optim.SGD,
     dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("sgd_plain", torch.optim.SGD, dict(lr=0.1)),
    ("adam", torch.optim.Adam, dict(lr=0.05, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)),
    ("adamw", torch.optim.AdamW, dict(lr=0.05, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)),
]


def meta_string(cls, kw):
    parts = ["opt=" + cls.__name__.lower()]
    for k in sorted(kw):
        v = kw[k]
        if isinstance(v, tuple):
            v = ",".join(repr(x) for x in v)
        elif isinstance(v, bool):
            v = "1" if v else "0"
        else:
            v = repr(v)
        parts.append(f"{k}={v}")
    return " ".join(parts)


def optimizer_case(name, cls, kw):
    p0 = torch.randn(4, 3)
    p1 = torch.randn(3)
    g0 = torch.randn(STEPS, 4, 3)
    g1 = torch.randn(STEPS, 3) * 0.1  # a second scale, so one tensor is not like the other
    params = [p0.clone().requires_grad_(True), p1.clone().requires_grad_(True)]
    opt = cls(params, **kw)
    after0, after1 = [], []
    for s in range(STEPS):
        params[0].grad = g0[s].clone()
        params[1].grad = g1[s].clone()
        opt.step()
        after0.append(params[0].detach().clone())
        after1.append(params[1].detach().clone())
    return [
        (f"{name}.p0.init", p0), (f"{name}.p1.init", p1),
        (f"{name}.p0.grads", g0), (f"{name}.p1.grads", g1),
        (f"{name}.p0.after", torch.stack(after0)), (f"{name}.p1.after", torch.stack(after1)),
    ]


def clip_cases():
    g0 = torch.randn(4, 3)
    g1 = torch.randn(3)
    out = [("clip.g0", g0), ("clip.g1", g1)]
    for i, max_norm in enumerate((1.0, 100.0)):
        a = torch.zeros(4, 3, requires_grad=True)
        b = torch.zeros(3, requires_grad=True)
        a.grad = g0.clone()
        b.grad = g1.clone()
        norm = torch.nn.utils.clip_grad_norm_([a, b], max_norm)
        out += [(f"clip{i}.norm", norm.reshape(1).float()), (f"clip{i}.g0", a.grad.clone()),
                (f"clip{i}.g1", b.grad.clone())]
    return out


def bce_case():
    logits = torch.randn(4, 5) * 3
    logits[0, 0] = 0.0
    logits[1, 1] = 40.0   # exp(40) overflows float32's naive formula
    logits[2, 2] = -40.0
    targets = torch.rand(4, 5)
    targets[0, :3] = torch.tensor([0.0, 1.0, 1.0])
    targets[1, 1] = 0.0   # a confident wrong answer: loss ~ 40
    x = logits.double().requires_grad_(True)
    loss = F.binary_cross_entropy_with_logits(x, targets.double())
    (dx,) = torch.autograd.grad(loss, [x])
    return [("bce.logits", logits), ("bce.targets", targets),
            ("bce.loss", loss.detach().reshape(1).float()), ("bce.dlogits", dx.float())]


def info_nce(q, k, tau, symmetric):
    s = q @ k.T / tau
    t = torch.arange(q.shape[0])
    loss = F.cross_entropy(s, t)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(s.T, t))
    return loss


def nce_cases(tau):
    q = torch.randn(6, 8) * 0.5
    k = q + 0.3 * torch.randn(6, 8)  # positives correlated with their query
    out = [("nce.q", q), ("nce.k", k)]
    for name, sym in (("nce", False), ("nce_sym", True)):
        qd = q.double().requires_grad_(True)
        kd = k.double().requires_grad_(True)
        loss = info_nce(qd, kd, tau, sym)
        dq, dk = torch.autograd.grad(loss, [qd, kd])
        out += [(f"{name}.loss", loss.detach().reshape(1).float()), (f"{name}.dq", dq.float()),
                (f"{name}.dk", dk.float())]
    return out


def main():
    torch.manual_seed(2024)
    torch.set_num_threads(1)
    tensors = []
    metadata = {"format": "engine-nn-fixtures", "fixture_version": "1",
                "generator": "tests/gen_nn_fixtures.py", "torch": torch.__version__,
                "steps": str(STEPS)}
    for name, cls, kw in OPT_CASES:
        tensors += optimizer_case(name, cls, kw)
        metadata[name] = meta_string(cls, kw)
    tensors += clip_cases()
    tensors += bce_case()
    tau = 0.1
    metadata["nce.tau"] = repr(tau)
    tensors += nce_cases(tau)
    tensors = [(n, t.contiguous().float()) for n, t in tensors]
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    write_safetensors(OUT_PATH, tensors, metadata)
    print(f"wrote {OUT_PATH}: {len(tensors)} tensors, {os.path.getsize(OUT_PATH)} bytes")
    for name, cls, kw in OPT_CASES:
        print(f"  {name}: {metadata[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
