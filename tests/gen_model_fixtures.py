#!/usr/bin/python3
"""gen_model_fixtures.py: PyTorch references for the transformer of transformer/model.c.

Run by hand from the repository root with Debian's torch (not a pyenv python):

    /usr/bin/python3 tests/gen_model_fixtures.py
        # writes tests/fixtures/model_gpt2.safetensors and tests/fixtures/model_llama.safetensors

Both recipes are written out below in plain torch (no transformers library), from the math in
transformer/model.h:
  gpt2:  LayerNorm with bias, learned positions, tanh-GELU MLP, biases everywhere, tied head;
  llama: RMSNorm x * rsqrt(mean(x^2) + eps) * w, RoPE on adjacent pairs (x[2i], x[2i+1]) rotated
         by pos * base^(-2i/hd), SwiGLU MLP, grouped-query attention (query head h reads kv
         head h // (H / KVH)), no biases, untied output head (to cover output.weight).
Attention is written out (torch 1.13 has no scaled_dot_product_attention): scores q k^T /
sqrt(hd), future keys masked to -inf, softmax, times v.

Each file holds, under the engine's weight names (transformer/model.h):
    <weight name>          the weights, float32 (drawn here, larger than the training init so
                           every path carries signal)
    grad.<weight name>     d(loss)/d(weight)
    tokens, targets        int32 (B, T); one target is -1 (ignored by the loss)
    logits                 (B, T, V)
    loss                   (1,) mean cross-entropy over the non-ignored targets
and the config in "__metadata__" with the keys tf_model_save writes, so the C test builds the
model from the file's own config.

Precision: weights are drawn in float32; the forward and backward run in float64 from exactly
those values, and the results are rounded to float32 once. The C test's tolerances then only
have to cover the engine's own float32 error.
"""

import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
B, T = 2, 7

CONFIGS = {
    "gpt2": dict(arch="gpt2", vocab=37, ctx=16, d_model=24, n_layer=2, n_head=4, n_kv_head=4,
                 d_ff=96, norm_eps=1e-5, rope_base=10000.0, tie_embeddings=True, dropout=0.0),
    "llama": dict(arch="llama", vocab=37, ctx=16, d_model=24, n_layer=2, n_head=4, n_kv_head=2,
                  d_ff=64, norm_eps=1e-5, rope_base=10000.0, tie_embeddings=False,
                  dropout=0.0),
}


def weight_shapes(c):
    """(name, shape, kind) in the engine's registration order; kind picks the draw."""
    C, V, F_, H, KVH = c["d_model"], c["vocab"], c["d_ff"], c["n_head"], c["n_kv_head"]
    hd = C // H
    gpt2 = c["arch"] == "gpt2"
    out = [("token_embd.weight", (V, C), "w")]
    if gpt2:
        out.append(("pos_embd.weight", (c["ctx"], C), "w"))
    for l in range(c["n_layer"]):
        p = f"blk.{l}."
        out.append((p + "attn_norm.weight", (C,), "g"))
        if gpt2:
            out.append((p + "attn_norm.bias", (C,), "b"))
        for nm, rows in (("attn_q", H * hd), ("attn_k", KVH * hd), ("attn_v", KVH * hd)):
            out.append((p + nm + ".weight", (rows, C), "w"))
            if gpt2:
                out.append((p + nm + ".bias", (rows,), "b"))
        out.append((p + "attn_output.weight", (C, H * hd), "w"))
        if gpt2:
            out.append((p + "attn_output.bias", (C,), "b"))
        out.append((p + "ffn_norm.weight", (C,), "g"))
        if gpt2:
            out.append((p + "ffn_norm.bias", (C,), "b"))
        if not gpt2:
            out.append((p + "ffn_gate.weight", (F_, C), "w"))
        out.append((p + "ffn_up.weight", (F_, C), "w"))
        if gpt2:
            out.append((p + "ffn_up.bias", (F_,), "b"))
        out.append((p + "ffn_down.weight", (C, F_), "w"))
        if gpt2:
            out.append((p + "ffn_down.bias", (C,), "b"))
    out.append(("output_norm.weight", (C,), "g"))
    if gpt2:
        out.append(("output_norm.bias", (C,), "b"))
    if not c["tie_embeddings"]:
        out.append(("output.weight", (V, C), "w"))
    return out


def draw(shape, kind):
    if kind == "g":  # norm gains around 1
        return 1.0 + 0.1 * torch.randn(shape)
    if kind == "b":
        return 0.1 * torch.randn(shape)
    fan_in = shape[-1]
    return torch.randn(shape) * (0.5 / math.sqrt(fan_in)) if len(shape) == 2 else torch.randn(shape)


def rope(x, base):
    """x (B, H, T, hd): rotate adjacent pairs by pos * base^(-2i/hd), positions from 0."""
    hd = x.shape[-1]
    pos = torch.arange(x.shape[-2], dtype=x.dtype)
    freq = base ** (-torch.arange(0, hd, 2, dtype=x.dtype) / hd)  # (hd/2,)
    ang = pos[:, None] * freq[None, :]                              # (T, hd/2)
    cos, sin = torch.cos(ang), torch.sin(ang)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    y0 = x0 * cos - x1 * sin
    y1 = x0 * sin + x1 * cos
    return torch.stack((y0, y1), dim=-1).flatten(-2)


def rmsnorm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(c, W, tokens):
    """Logits (B, T, V) of the engine's recipe, W a dict name -> tensor."""
    gpt2 = c["arch"] == "gpt2"
    C, H, KVH = c["d_model"], c["n_head"], c["n_kv_head"]
    hd = C // H
    Bn, Tn = tokens.shape
    eps = c["norm_eps"]

    def lin(x, name, bias):
        y = x @ W[name + ".weight"].t()
        return y + W[name + ".bias"] if bias else y

    def norm(x, name):
        if gpt2:
            return F.layer_norm(x, (C,), W[name + ".weight"], W[name + ".bias"], eps)
        return rmsnorm(x, W[name + ".weight"], eps)

    x = W["token_embd.weight"][tokens.long()]
    if gpt2:
        x = x + W["pos_embd.weight"][:Tn]
    mask = torch.triu(torch.ones(Tn, Tn, dtype=torch.bool), diagonal=1)
    for l in range(c["n_layer"]):
        p = f"blk.{l}."
        h = norm(x, p + "attn_norm")
        q = lin(h, p + "attn_q", gpt2).view(Bn, Tn, H, hd).transpose(1, 2)
        k = lin(h, p + "attn_k", gpt2).view(Bn, Tn, KVH, hd).transpose(1, 2)
        v = lin(h, p + "attn_v", gpt2).view(Bn, Tn, KVH, hd).transpose(1, 2)
        if not gpt2:
            q, k = rope(q, c["rope_base"]), rope(k, c["rope_base"])
        k = k.repeat_interleave(H // KVH, dim=1)
        v = v.repeat_interleave(H // KVH, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(mask, float("-inf"))
        o = torch.softmax(s, dim=-1) @ v                       # (B, H, T, hd)
        o = o.transpose(1, 2).reshape(Bn, Tn, H * hd)
        x = x + lin(o, p + "attn_output", gpt2)
        h = norm(x, p + "ffn_norm")
        if gpt2:
            f = gelu_tanh(lin(h, p + "ffn_up", True))
        else:
            f = F.silu(lin(h, p + "ffn_gate", False)) * lin(h, p + "ffn_up", False)
        x = x + lin(f, p + "ffn_down", gpt2)
    x = norm(x, "output_norm")
    head = W["token_embd.weight"] if c["tie_embeddings"] else W["output.weight"]
    return x @ head.t()


def build(name):
    c = CONFIGS[name]
    torch.manual_seed(20261125 + (0 if name == "gpt2" else 1))
    shapes = weight_shapes(c)
    W32 = {n: draw(s, k).float() for n, s, k in shapes}
    tokens = torch.randint(0, c["vocab"], (B, T), dtype=torch.int32)
    targets = torch.randint(0, c["vocab"], (B, T), dtype=torch.int32)
    targets[1, 3] = -1  # one ignored target

    W64 = {n: w.double().requires_grad_(True) for n, w in W32.items()}
    logits = forward(c, W64, tokens)
    loss = F.cross_entropy(logits.reshape(-1, c["vocab"]), targets.reshape(-1).long(),
                           ignore_index=-1)
    loss.backward()

    # Self-check: torch in float32 agrees with the float64 reference (the tolerance the C
    # test uses must be reachable by a float32 implementation).
    with torch.no_grad():
        l32 = forward(c, W32, tokens)
        err = (l32.double() - logits.detach()).abs().max().item()
        assert err < 1e-5, f"{name}: torch float32 logits off by {err}"

    tensors = [(n, W32[n]) for n, _, _ in shapes]
    tensors += [("grad." + n, W64[n].grad.float()) for n, _, _ in shapes]
    tensors += [("tokens", tokens), ("targets", targets),
                ("logits", logits.detach().float()), ("loss", loss.detach().float().reshape(1))]
    meta = {"format": "engine-tf-model", "version": "1", "generator":
            "tests/gen_model_fixtures.py", "torch": torch.__version__}
    for k, v in c.items():
        if isinstance(v, bool):
            meta[k] = "true" if v else "false"
        elif isinstance(v, float):
            meta[k] = repr(float(torch.tensor(v, dtype=torch.float32).item()))
        else:
            meta[k] = str(v)
    path = os.path.join(HERE, "fixtures", f"model_{name}.safetensors")
    write_safetensors(path, tensors, meta)
    print(f"{path}: {len(shapes)} weights, loss {loss.item():.6f}, "
          f"{os.path.getsize(path)} bytes")


def main():
    torch.set_num_threads(1)
    for name in CONFIGS:
        build(name)


if __name__ == "__main__":
    main()
