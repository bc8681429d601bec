"""Write a golden set: one stream per case, next to its original array, made by the installed enec.

tests/golden/v1/ was made by enec 0.1.0 (format version 1) and is kept as written: later
releases must decode those streams and, for the cases a release still writes the same way,
write the same bytes (tests/test_golden.py). A new format version gets a new folder
(--write --dest tests/golden/v2); an existing folder is never overwritten.

    python3 tests/golden/make_golden.py                 # list what would be written
    python3 tests/golden/make_golden.py --write --dest tests/golden/v2
    python3 tests/golden/make_golden.py --mode max --write --dest tests/golden/v1-max

tests/golden/v1-max/ holds mode max streams as enec 0.2.0 wrote them (format version 1, before
the per-block plane kinds of format version 2): every coded dtype, int8 and the other dtypes
mode max codes as whole bytes, several table groups, and short last blocks.
"""
import argparse
import json
import os
import sys

import ml_dtypes
import numpy as np

import enec
from enec import _core

HERE = os.path.dirname(os.path.abspath(__file__))
BLOCK = 16384


def weights(rng, n, scale=0.02):
    """SYNTHETIC: Gaussian values, the shape of trained weights' exponent histogram."""
    return rng.normal(0.0, scale, n)


def cases():
    """name -> (array, force_stored). Every dtype, stored and coded, short last blocks, odd shapes."""
    rng = np.random.default_rng(20261130)
    bf16 = np.dtype(ml_dtypes.bfloat16)
    out = {}
    # coded: two full blocks and a short last one (exercises the reference tail path)
    out["bf16_coded"] = (weights(rng, 2 * BLOCK + 1000).astype(bf16).reshape(-1, 8), False)
    out["fp16_coded"] = (weights(rng, 2 * BLOCK + 24).astype(np.float16), False)
    out["fp32_coded"] = (weights(rng, BLOCK + 77).astype(np.float32).reshape(1, -1), False)
    out["bf16_small_coded"] = (weights(rng, 100).astype(bf16), False)
    # special values mixed in: wide exponent range, NaN payloads, infinities, -0
    sp = weights(rng, BLOCK + 5).astype(np.float32)
    sp[::97] = np.array([0.0, -0.0, np.inf, -np.inf, 1e-40, 3e38, -1e-45], np.float32)[
        np.arange(sp[::97].size) % 7]
    sp.view(np.uint32)[::1013] = 0x7FC01234
    out["fp32_special_coded"] = (sp, False)
    # stored: forced, and dtypes enec 0.1 never codes
    out["bf16_stored"] = (weights(rng, 3000).astype(bf16), True)
    out["fp16_stored"] = (weights(rng, 3000).astype(np.float16).reshape(30, 100), True)
    out["fp32_stored"] = (weights(rng, 1000).astype(np.float32), True)
    out["int8_stored"] = (rng.integers(-128, 128, 5000, dtype=np.int8), False)
    out["int64_stored"] = (rng.integers(-2**40, 2**40, (7, 9), dtype=np.int64), False)
    out["bool_stored"] = (rng.integers(0, 2, 333).astype(bool), False)
    out["f64_be_stored"] = (weights(rng, 500).astype(">f8"), False)
    out["e4m3fn_stored"] = (weights(rng, 4000, 1.0).astype(ml_dtypes.float8_e4m3fn), False)
    out["e5m2_stored"] = (weights(rng, 4000, 1.0).astype(ml_dtypes.float8_e5m2), False)
    out["fp16_empty"] = (np.zeros((0, 5), np.float16), False)
    out["fp32_scalar"] = (np.array(1.5, np.float32), False)
    out["complex_stored"] = (np.arange(6, dtype=np.complex64), False)
    return out


def max_cases():
    """name -> (array, False): mode max's cases (SYNTHETIC data, as above)."""
    rng = np.random.default_rng(20261131)
    bf16 = np.dtype(ml_dtypes.bfloat16)
    out = {}
    # 17 blocks: two table groups, the second one block long and short
    out["max_bf16_groups"] = (weights(rng, 16 * BLOCK + 999).astype(bf16), False)
    out["max_fp16"] = (weights(rng, 2 * BLOCK + 24).astype(np.float16).reshape(2, -1), False)
    out["max_fp32"] = (weights(rng, BLOCK + 77).astype(np.float32), False)
    sp = weights(rng, BLOCK + 5).astype(np.float32)
    sp[::97] = np.inf
    sp.view(np.uint32)[::1013] = 0x7FC01234
    out["max_fp32_special"] = (sp, False)
    out["max_int8"] = (np.clip(np.round(rng.normal(0, 20, 3 * BLOCK + 5)), -127, 127).astype(np.int8), False)
    out["max_int16"] = (np.round(rng.normal(0, 300, 5000)).astype(np.int16), False)
    out["max_e4m3fn"] = (weights(rng, 4000, 1.0).astype(ml_dtypes.float8_e4m3fn), False)
    out["max_bool"] = (rng.random(3000) < 0.1, False)
    out["max_f64"] = (weights(rng, 2000).astype(np.float64), False)
    out["max_small"] = (weights(rng, 7).astype(bf16), False)
    return out


def encode(a, stored, mode="fast"):
    """Exactly what enec.compress writes; stored=True forces a stored stream (the C option).
    (Not np.ascontiguousarray, which turns a 0-d array into a 1-d one.)"""
    a = a.copy(order="C")
    code = _core._CODED.get(a.dtype, (0, 0))[0]
    if mode == "max":
        return enec.compress(a, mode="max", threads=1)
    return enec._enec.compress(_core._bytes_view(a), code, a.dtype.itemsize, a.shape, _core._descr(a.dtype),
                               threads=1, stored=stored)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write the set (otherwise only list)")
    ap.add_argument("--dest", default=os.path.join(HERE, f"v{enec.FORMAT_VERSION}"), help="a new folder")
    ap.add_argument("--mode", choices=("fast", "max"), default="fast", help="which set (default fast)")
    args = ap.parse_args()
    dest = args.dest
    if args.write and os.path.exists(dest):
        sys.exit(f"{dest} exists: golden streams are never rewritten; pick a new --dest")
    manifest = {}
    for name, (a, stored) in (max_cases() if args.mode == "max" else cases()).items():
        s = encode(a, stored, args.mode)
        info = enec.inspect(s)
        print(f"{name:22s} {str(a.dtype):14s} {str(a.shape):14s} {info.mode:6s} {len(s):8d} bytes")
        if args.write:
            os.makedirs(dest, exist_ok=True)
            with open(os.path.join(dest, name + ".enec"), "wb") as f:
                f.write(s)
            # the original as raw bytes + a text description (np.save cannot round-trip ml_dtypes)
            with open(os.path.join(dest, name + ".raw"), "wb") as f:
                f.write(a.tobytes())
        manifest[name] = {"dtype": a.dtype.str if a.dtype.byteorder == ">" else str(a.dtype),
                          "shape": list(a.shape), "stored": stored, "mode": info.mode}
    if args.write:
        with open(os.path.join(dest, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write("\n")
    else:
        print("(nothing written; pass --write)", file=sys.stderr)


if __name__ == "__main__":
    main()
