"""Profiling harness: single-thread enec on 64 MiB of SYNTHETIC bf16 (Gaussian, std 0.02), for perf.

    perf record -o perf.data python3 benchmarks/profile_bf16.py decompress
    perf report -i perf.data --stdio --sort symbol

Runs the chosen direction for about 8 s in a plain process (no malloc tuning: compress allocates its
output anew on every call, as a user's process would) and prints the GB/s it saw.
"""
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402

import enec  # noqa: E402


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "decompress"
    if mode not in ("compress", "decompress"):
        print("usage: profile_bf16.py compress|decompress", file=sys.stderr)
        return 2
    a = (np.random.default_rng(0).standard_normal(32 << 20, dtype=np.float32) * 0.02).astype(ml_dtypes.bfloat16)
    blob = enec.compress(a, threads=1)
    out = np.empty_like(a)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < 8:
        if mode == "decompress":
            enec.decompress(blob, threads=1, out=out)
        else:
            enec.compress(a, threads=1)
        n += 1
    print(f"{mode}: {n} calls, {a.nbytes * n / (time.perf_counter() - t0) / 1e9:.2f} GB/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
