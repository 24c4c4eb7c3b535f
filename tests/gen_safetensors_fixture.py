#!/usr/bin/python3
"""Writes tests/fixtures/interop.safetensors, the file tests/core/test_safetensors.c reads to
check that the C loader agrees with what the Python ecosystem writes. Run by hand (the fixture is
committed; the C tests do not need Python):

    /usr/bin/python3 tests/gen_safetensors_fixture.py            # writes the fixture
    /usr/bin/python3 tests/gen_safetensors_fixture.py --read F   # prints a file's tensors

The file is built the way the format's reference implementation (huggingface/safetensors) builds
it: an 8-byte little-endian header length, a JSON header padded with spaces to a multiple of 8,
then the tensors packed, ordered by element size (largest first) and then by name, so every
tensor is aligned to its element size. Values come from formulas the C test recomputes:
floats hold i * 0.5 - 3 (exact in F16 and BF16 for these sizes), integers their own formulas.
Only numpy and torch (for bfloat16 rounding) are used; the `safetensors` package is not needed.

--read parses any safetensors file with the standard library and numpy alone, checks the layout
(offsets tile the data region) and prints each tensor: the other direction of the interop check.
"""
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "interop.safetensors")

# safetensors dtype name -> numpy dtype (little-endian). BF16 has no numpy dtype: it is kept as
# raw uint16 bits and widened by hand.
NP_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}


def ramp(n):
    """The float formula shared with the C test: element i holds i * 0.5 - 3."""
    return np.arange(n, dtype=np.float64) * 0.5 - 3.0


def bf16_bytes(values):
    """bfloat16 bytes of `values`, rounded by torch (round to nearest even)."""
    import torch

    t = torch.tensor(np.asarray(values, dtype=np.float32)).to(torch.bfloat16)
    return t.view(torch.int16).numpy().astype("<i2").tobytes()


def fixture_tensors():
    """name -> (dtype, shape, little-endian bytes)."""
    t = {}
    t["f32"] = ("F32", [2, 3], ramp(6).astype("<f4").tobytes())
    t["f16"] = ("F16", [4], ramp(4).astype("<f2").tobytes())
    t["bf16"] = ("BF16", [2, 2, 2], bf16_bytes(ramp(8)))
    t["f64"] = ("F64", [3], ramp(3).astype("<f8").tobytes())
    t["scalar"] = ("F32", [], ramp(1).astype("<f4").tobytes())
    t["empty"] = ("F32", [0, 3], b"")
    t["five_d"] = ("F32", [1, 2, 1, 2, 1], ramp(4).astype("<f4").tobytes())
    # integers: element i holds 1000003 * i - 2000000 (I64) and 7 * i - 5 (I32)
    t["i64"] = ("I64", [5], (np.arange(5, dtype=np.int64) * 1000003 - 2000000).astype("<i8")
                .tobytes())
    t["i32"] = ("I32", [2, 2], (np.arange(4, dtype=np.int64) * 7 - 5).astype("<i4").tobytes())
    t["i64_big"] = ("I64", [2], np.array([1, 2**40], dtype="<i8").tobytes())  # not int32
    t["u8"] = ("U8", [3], np.array([250, 251, 252], dtype="u1").tobytes())
    return t


def build(tensors, metadata):
    """The bytes of a safetensors file holding `tensors` and `metadata`."""
    size = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4,
            "F16": 2, "BF16": 2, "I16": 2, "U16": 2, "I8": 1, "U8": 1, "BOOL": 1}
    order = sorted(tensors, key=lambda k: (-size[tensors[k][0]], k))
    header = {"__metadata__": metadata}
    data = bytearray()
    for name in order:
        dtype, shape, raw = tensors[name]
        assert len(raw) == int(np.prod(shape, dtype=np.int64)) * size[dtype], name
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    js += b" " * (-len(js) % 8)
    return struct.pack("<Q", len(js)) + js + bytes(data)


def read(path):
    """Parses a safetensors file with numpy alone, checks its layout and prints it."""
    with open(path, "rb") as fh:
        blob = fh.read()
    (n,) = struct.unpack("<Q", blob[:8])
    assert 8 + n <= len(blob), "header length past the end of the file"
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    print("header: %d bytes, data starts at byte %d (%s)"
          % (n, 8 + n, "8-aligned" if (8 + n) % 8 == 0 else "NOT 8-aligned"))
    meta = header.pop("__metadata__", None)
    if meta is not None:
        print("metadata:", meta)
    at = 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, end = info["data_offsets"]
        assert begin == at, "gap or overlap before %s" % name
        at = end
        dt = NP_DTYPES[info["dtype"]]
        arr = np.frombuffer(data[begin:end], dtype=dt).reshape(info["shape"])
        if info["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        print("%s %s %s: %s" % (name, info["dtype"], tuple(info["shape"]),
                                np.array2string(arr.ravel(), threshold=12)))
    assert at == len(data), "bytes after the last tensor"
    print("ok: %d tensors, layout valid" % len(header))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--read":
        read(sys.argv[2])
        return
    meta = {"format": "pt", "generator": "tests/gen_safetensors_fixture.py"}
    blob = build(fixture_tensors(), meta)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "wb") as fh:
        fh.write(blob)
    print("wrote %s (%d bytes)" % (OUT, len(blob)))


if __name__ == "__main__":
    main()
