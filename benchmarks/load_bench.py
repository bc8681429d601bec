"""Loading a model into a torch state dict: enec against safetensors and ZipNN, from the page cache
and from storage limited to 0.5, 1 and 2 GB/s; plus what the issue asked to measure around it
(peak memory of `enec compress`/`enec decompress` on a multi-GB file, compress throughput, cold
open of a 4160-tensor file, sliced reads).

    python3 benchmarks/load_bench.py                     # ~2 GiB SYNTHETIC bf16 model + real MiniLM
    python3 benchmarks/load_bench.py --size-gib 1 --repeat 2 --out /tmp/x.md

Method (printed into the results file too):
- "page cache": the file is read once first, then loaded; no limit.
- "N GB/s": every byte the loader reads goes through one shared token bucket of N GB/s: a read
  of n bytes issued at time t completes at max(t, end of the previous read) + n/N (the copy
  itself happens inside that time, as a device's DMA would); all threads share the bucket, so
  parallel reads get no extra bandwidth. With --storage emulated (the
  default, used for the committed results) the storage is an image of the file held in memory
  and every read is a copy out of it through the bucket: the limit is exact, and neither the VM's
  shared disk (measured cold at 0.4-1.6 GB/s from run to run) nor its page cache (reclaimed
  proactively on this VM, so "warm" files are not reliably cached) blurs it. With --storage disk
  the file is dropped from the page cache before every load (fsync, then
  posix_fadvise(POSIX_FADV_DONTNEED)) and read from the disk through the bucket, so the slower of
  the two limits applies.
- safetensors.torch: from the page cache, safetensors.torch.load_file (it memory-maps the file;
  the tensors are views of the mapping, so no byte is copied or even read until used). Under a
  limit, the file is read sequentially through the bucket (16 MiB reads) into memory and handed
  to safetensors.torch.load (its bytes argument forces one more copy), because the page faults of
  a memory map cannot be throttled from Python.
- ideal reader: the least any loader of the .safetensors file can do: read it through the bucket
  into one buffer and make each tensor a view of it (torch.frombuffer): no copy, no check. Its
  time is the transfer time plus allocating the buffer's pages.
- enec: enec.checkpoint.load_file(framework="pt") with its pread routed through the bucket;
  chunks are read and decoded by the reader's worker threads, so reading overlaps decoding.
- ZipNN (if installed): the .znn file (ZipNN over the whole safetensors file, bytearray_dtype of
  the model) read through the bucket, decompressed with ZipNN(threads=all cores), then
  safetensors.torch.load, which is how ZipNN's Hugging Face integration loads.
- Each figure is the best of --repeat runs, loaders interleaved; every loaded state dict is
  compared with the original tensors bit for bit once.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import threading
import time

import ml_dtypes
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import enec  # noqa: E402
import enec.checkpoint as ck  # noqa: E402
import enec.convert as cv  # noqa: E402


# ----------------------------------------------------------------------------- inputs


def synthetic_llm(path: str, size_gib: float, seed: int = 0) -> None:
    """A SYNTHETIC bf16 model shaped like a small Llama (hidden 2048, MLP 5632, vocab 32000), layers
    added until size_gib; Gaussian weights with per-tensor standard deviations like such models'.
    Written tensor by tensor (never all in memory)."""
    rng = np.random.default_rng(seed)
    h, f, v = 2048, 5632, 32000
    shapes = [("model.embed_tokens.weight", (v, h), 0.02)]
    per_layer = [("self_attn.q_proj.weight", (h, h), 0.02), ("self_attn.k_proj.weight", (h // 4, h), 0.03),
                 ("self_attn.v_proj.weight", (h // 4, h), 0.01), ("self_attn.o_proj.weight", (h, h), 0.01),
                 ("mlp.gate_proj.weight", (f, h), 0.02), ("mlp.up_proj.weight", (f, h), 0.015),
                 ("mlp.down_proj.weight", (h, f), 0.012), ("input_layernorm.weight", (h,), 0.0),
                 ("post_attention_layernorm.weight", (h,), 0.0)]
    total = v * h * 2
    i = 0
    while total < size_gib * 2**30:
        for name, shape, sd in per_layer:
            shapes.append((f"model.layers.{i}.{name}", shape, sd))
            total += int(np.prod(shape)) * 2
        i += 1
    shapes += [("model.norm.weight", (h,), 0.0), ("lm_head.weight", (v, h), 0.02)]
    head, pos = {"__metadata__": {"format": "pt", "note": "SYNTHETIC benchmark weights"}}, 0
    for name, shape, _ in shapes:
        n = int(np.prod(shape)) * 2
        head[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [pos, pos + n]}
        pos += n
    body = json.dumps(head).encode()
    body += b" " * (-len(body) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(body)) + body)
        for name, shape, sd in shapes:
            if sd == 0.0:
                a = (1.0 + 0.05 * rng.standard_normal(shape, dtype=np.float32))
            else:
                a = rng.standard_normal(shape, dtype=np.float32) * np.float32(sd)
            out.write(a.astype(ml_dtypes.bfloat16).tobytes())


def minilm_bf16(path: str) -> None:
    """The real all-MiniLM-L6-v2 weights cast to bf16 (RNE), as a safetensors file."""
    import enec.models
    from safetensors.numpy import save_file

    save_file(enec.models.minilm_tensors("bfloat16"), path, metadata={"format": "pt"})


# ----------------------------------------------------------------------------- storage model


class Bucket:
    """Bandwidth limit shared by every thread: a read of n bytes ends no earlier than n/rate after
    the previous reservation ends (or after now, if the device is idle)."""

    def __init__(self, rate: float):
        self.rate, self.t, self.lock = rate, 0.0, threading.Lock()

    def reserve(self, n: int) -> float:
        """The time at which a read of n bytes issued now completes."""
        with self.lock:
            self.t = max(self.t, time.perf_counter()) + n / self.rate
            return self.t

    @staticmethod
    def wait(until: float) -> None:
        d = until - time.perf_counter()
        if d > 0:
            time.sleep(d)

    def take(self, n: int) -> None:
        self.wait(self.reserve(n))


def drop_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def warm(path: str) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


class Image:
    """Emulated storage: the file's bytes held in memory; every read goes through the bucket."""

    def __init__(self, path: str):
        with open(path, "rb") as f:
            self.data = memoryview(f.read())

    def pread_into(self, buf, offset: int, bucket) -> int:
        mv = memoryview(buf).cast("B")
        n = max(0, min(len(mv), len(self.data) - offset))
        until = bucket.reserve(n) if bucket is not None else 0.0
        mv[:n] = self.data[offset:offset + n]  # the transfer itself, inside the device's time
        Bucket.wait(until)
        return n


IMAGES = {}


def read_all(path: str, bucket) -> np.ndarray:
    """The whole file in a fresh buffer, read in 16 MiB pieces (through the bucket if given). The
    buffer is allocated lazily (its pages are touched by the copy, inside the device's time)."""
    size = os.path.getsize(path)
    buf = np.empty(size, np.uint8)
    mv = memoryview(buf)
    image = IMAGES.get(path) if STORAGE == "emulated" and bucket is not None else None
    with open(path, "rb", buffering=0) as f:
        pos = 0
        while pos < size:
            n = min(1 << 24, size - pos)
            if image is not None:
                got = image.pread_into(mv[pos:pos + n], pos, bucket)
            else:
                until = bucket.reserve(n) if bucket is not None else 0.0
                got = f.readinto(mv[pos:pos + n])
                Bucket.wait(until)
            if not got:
                raise IOError("short read")
            pos += got
    return buf


# ----------------------------------------------------------------------------- loaders


def load_safetensors(path, bucket):
    import safetensors.torch

    if bucket is None:
        return safetensors.torch.load_file(path)
    return safetensors.torch.load(read_all(path, bucket).tobytes())  # load() takes bytes only


def load_ideal(path, bucket):
    """The least any loader of the safetensors file can do: read it into memory once and make
    every tensor a view of that buffer (no copy, no check)."""
    import torch

    buf = read_all(path, bucket)
    (n,) = struct.unpack_from("<Q", buf, 0)
    head = json.loads(buf[8:8 + n].tobytes())
    dtypes = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "I64": torch.int64,
              "I32": torch.int32, "U8": torch.uint8, "I8": torch.int8, "BOOL": torch.bool,
              "F64": torch.float64, "I16": torch.int16}
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        dt = dtypes[v["dtype"]]
        b, e = v["data_offsets"]
        size = torch.tensor([], dtype=dt).element_size()
        out[k] = torch.frombuffer(buf, dtype=dt, count=(e - b) // size, offset=8 + n + b).view(v["shape"])
    return out


def load_enec(path, bucket):
    if bucket is None:
        return enec.load_file(path, framework="pt")
    real = ck.pread_into
    image = IMAGES.get(path) if STORAGE == "emulated" else None

    def throttled(fd, buf, offset):
        if image is not None:
            return image.pread_into(buf, offset, bucket)
        until = bucket.reserve(memoryview(buf).nbytes)
        got = real(fd, buf, offset)
        Bucket.wait(until)
        return got

    ck.pread_into = throttled
    try:
        return enec.load_file(path, framework="pt")
    finally:
        ck.pread_into = real


def make_zipnn_loader(dtype_name):
    def load_zipnn(path, bucket):
        import safetensors.torch
        import zipnn

        z = zipnn.ZipNN(input_format="byte", bytearray_dtype=dtype_name, threads=os.cpu_count())
        data = z.decompress(read_all(path, bucket).tobytes())
        return safetensors.torch.load(bytes(data))
    return load_zipnn


STORAGE = "emulated"


def timed(fn, path, rate, repeat):
    best = float("inf")
    if rate is not None and STORAGE == "emulated" and path not in IMAGES:
        IMAGES.clear()
        IMAGES[path] = Image(path)
    for _ in range(repeat):
        if rate is None:
            warm(path)
        elif STORAGE == "disk":
            drop_cache(path)
        bucket = None if rate is None else Bucket(rate * 1e9)
        t = time.perf_counter()
        out = fn(path, bucket)
        best = min(best, time.perf_counter() - t)
        del out
    return best


def check(sd, reference):
    import torch

    assert set(sd) == set(reference), "loaded names differ"
    for k, v in reference.items():
        assert sd[k].dtype == v.dtype and sd[k].shape == v.shape, k
        assert torch.equal(sd[k].view(torch.uint8), v.view(torch.uint8)), k


# ----------------------------------------------------------------------------- the other figures


def run_measured(cmd):
    """Run cmd in a fresh child; (seconds, peak RSS MiB of that child alone)."""
    code = ("import resource, subprocess, sys, time, json;"
            "t = time.perf_counter(); p = subprocess.run(sys.argv[1:]);"
            "dt = time.perf_counter() - t;"
            "print(json.dumps([p.returncode, dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
    p = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True)
    rc, dt, rss_kib = json.loads(p.stdout.strip().splitlines()[-1])
    if rc != 0:
        raise RuntimeError(f"{cmd} failed: {p.stderr[-2000:]}")
    return dt, rss_kib / 1024


def cold_open(work: str) -> dict:
    """Open a 4160-tensor checkpoint and its safetensors original with a cold page cache."""
    from safetensors import safe_open

    rng = np.random.default_rng(1)
    tensors = {f"layers.{i // 16}.t{i % 16}": rng.standard_normal(1024 + i % 7, dtype=np.float32)
               .astype(ml_dtypes.bfloat16) for i in range(4160)}
    from safetensors.numpy import save_file
    st, en = os.path.join(work, "many.safetensors"), os.path.join(work, "many.enec")
    save_file(tensors, st)
    cv.safetensors_to_enec(st, en)
    out = {}
    for name, path, opener in (("safetensors safe_open", st, lambda p: safe_open(p, "np")),
                               ("enec.safe_open", en, enec.safe_open)):
        best = float("inf")
        for _ in range(5):
            drop_cache(path)
            t = time.perf_counter()
            with opener(path) as f:
                keys = list(f.keys())
            best = min(best, time.perf_counter() - t)
        assert len(keys) == 4160
        out[name] = best
    return out


def slices(work: str) -> dict:
    """100 rows of MiniLM's 30522x384 fp32 word embeddings (real weights), page cache warm."""
    import enec.models
    from safetensors import safe_open

    st = enec.models.minilm_path()
    en = os.path.join(work, "minilm_f32.enec")
    cv.safetensors_to_enec(st, en)
    name = "embeddings.word_embeddings.weight"
    out = {}
    with safe_open(st, "np") as f, enec.safe_open(en) as g:
        want = f.get_slice(name)[1000:1100]
        assert np.array_equal(g.get_slice(name)[1000:1100], want)
        for label, fn in (("safetensors get_slice[1000:1100]", lambda: f.get_slice(name)[1000:1100]),
                          ("enec get_slice[1000:1100]", lambda: g.get_slice(name)[1000:1100]),
                          ("enec get_tensor (whole 30522x384)", lambda: g.get_tensor(name))):
            best = float("inf")
            for _ in range(30):
                t = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t)
            out[label] = best
    return out


# ----------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-gib", type=float, default=1.0, help="size of the SYNTHETIC bf16 model")
    ap.add_argument("--convert-gib", type=float, default=3.0,
                    help="size of the SYNTHETIC file for the compress/decompress memory figures")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rates", type=float, nargs="*", default=[2.0, 1.0, 0.5], help="GB/s limits")
    ap.add_argument("--workdir", default=None, help="where the model files go (default: a temp dir)")
    ap.add_argument("--storage", choices=["emulated", "disk"], default="emulated",
                    help="emulated: the file stays in the page cache and the token bucket is the storage; "
                         "disk: the file is dropped from the cache before each load and read from disk "
                         "through the bucket")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "load_bench.md"))
    ap.add_argument("--write", action="store_true",
                    help="write the results file (--out); without it the tables are only printed")
    args = ap.parse_args(argv)
    global STORAGE
    STORAGE = args.storage

    import torch

    try:
        import zipnn
        have_zipnn = True
    except ImportError:
        have_zipnn = False
    work = args.workdir or tempfile.mkdtemp(prefix="enec-load-bench-")
    os.makedirs(work, exist_ok=True)
    lines = ["# Loading into a torch state dict: enec vs safetensors vs ZipNN", "",
             f"`python3 benchmarks/load_bench.py --size-gib {args.size_gib} --repeat {args.repeat}`, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
             f"enec {enec.__version__} (container {ck.CONTAINER_VERSION}, chunks of "
             f"{ck.CHUNK_SIZE >> 20} MiB, backend {enec.backend}); storage: {args.storage}; "
             f"load average before the run {os.getloadavg()[0]:.1f}.", ""]

    # -- conversion: throughput and peak memory of the CLI on a multi-GB file
    big = os.path.join(work, "convert.safetensors")
    print(f"writing the SYNTHETIC {args.convert_gib} GiB bf16 model...", file=sys.stderr, flush=True)
    synthetic_llm(big, args.convert_gib, seed=1)
    big_enec = os.path.join(work, "convert.enec")
    back = os.path.join(work, "convert.back.safetensors")
    drop_cache(big)
    dt_c, rss_c = run_measured([sys.executable, "-m", "enec.cli", "compress", "-q", "-f", big, "-o", big_enec])
    dt_d, rss_d = run_measured([sys.executable, "-m", "enec.cli", "decompress", "-q", "-f", big_enec, "-o", back])
    same = subprocess.run(["cmp", "-s", big, back]).returncode == 0
    size, csize = os.path.getsize(big), os.path.getsize(big_enec)
    for p in (big, big_enec, back):
        os.remove(p)
    lines += ["## Converting a multi-GB file (the `enec` command, a fresh process each)", "",
              "| step | input | output | seconds | MB/s (of the safetensors size) | peak RSS of the process |",
              "|---|---|---|---|---|---|",
              f"| `enec compress` | {size / 1e9:.2f} GB safetensors (SYNTHETIC bf16) | {csize / 1e9:.2f} GB enec "
              f"| {dt_c:.2f} | {size / dt_c / 1e6:.0f} | {rss_c:.0f} MiB |",
              f"| `enec decompress` | {csize / 1e9:.2f} GB enec | {size / 1e9:.2f} GB "
              f"safetensors ({'byte-identical' if same else 'DIFFERENT'}) | {dt_d:.2f} | "
              f"{size / dt_d / 1e6:.0f} | {rss_d:.0f} MiB |", "",
              "Peak RSS is the maximum resident set of the `enec` process (ru_maxrss), interpreter, "
              "NumPy and the extension included; each run writes its output to disk with fsync "
              "(the disk is shared with other jobs on this VM). No spool file: the output is the "
              "only disk written.", ""]
    assert same, "decompress did not restore the file byte for byte"

    models = []
    syn = os.path.join(work, "synthetic.safetensors")
    print(f"writing the SYNTHETIC {args.size_gib} GiB bf16 model...", file=sys.stderr, flush=True)
    synthetic_llm(syn, args.size_gib)
    models.append(("SYNTHETIC bf16 Llama-shaped", syn, "bfloat16"))
    try:
        mini = os.path.join(work, "minilm_bf16.safetensors")
        minilm_bf16(mini)
        models.append(("all-MiniLM-L6-v2 bf16 (real)", mini, "bfloat16"))
    except ModuleNotFoundError as e:
        print(f"skipping MiniLM: {e}", file=sys.stderr)

    # -- loading
    for label, path, dtype_name in models:
        en = path[:-len(".safetensors")] + ".enec"
        if not os.path.exists(en):
            cv.safetensors_to_enec(path, en)
        loaders = [("safetensors", path, load_safetensors), ("ideal", path, load_ideal), ("enec", en, load_enec)]
        if have_zipnn:
            zn = path + ".znn"
            z = zipnn.ZipNN(input_format="byte", bytearray_dtype=dtype_name, threads=os.cpu_count())
            with open(path, "rb") as f:
                data = z.compress(f.read())
            with open(zn, "wb") as f:
                f.write(data)
            del data
            loaders.append(("ZipNN", zn, make_zipnn_loader(dtype_name)))
        import safetensors.torch
        reference = safetensors.torch.load_file(path)
        for name, p, fn in loaders:
            check(fn(p, None), reference)
        del reference
        sizes = {name: os.path.getsize(p) for name, p, _ in loaders}
        print(f"{label}: " + ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in sizes.items()), file=sys.stderr)
        rows = []
        for rate in [None] + list(args.rates):
            res = {}
            for name, p, fn in loaders:
                res[name] = timed(fn, p, rate, args.repeat)
            rows.append((rate, res))
            print(f"  {rate or 'page cache'}: " + ", ".join(f"{k} {v:.3f}s" for k, v in res.items() if v),
                  file=sys.stderr, flush=True)
        lines += [f"## {label}: {len(safetensors.torch.load_file(path))} tensors, "
                  f"{sizes['safetensors'] / 1e9:.3f} GB", "",
                  "| storage | safetensors.torch s | ideal reader of the .safetensors s | enec s | "
                  "enec / safetensors.torch | enec / ideal | "
                  + ("ZipNN s | ZipNN / safetensors.torch | " if have_zipnn else "")
                  + "transfer time of the .safetensors / of the .enec s |",
                  "|---|---|---|---|---|---|" + ("---|---|" if have_zipnn else "") + "---|"]
        for rate, res in rows:
            cells = [("page cache" if rate is None else f"{rate:g} GB/s ({args.storage})"),
                     f"{res['safetensors']:.3f}", f"{res['ideal']:.3f}", f"{res['enec']:.3f}",
                     f"{res['enec'] / res['safetensors']:.2f}x", f"{res['enec'] / res['ideal']:.2f}x"]
            if have_zipnn:
                cells += [f"{res['ZipNN']:.3f}", f"{res['ZipNN'] / res['safetensors']:.2f}x"]
            cells.append("-" if rate is None else
                         f"{sizes['safetensors'] / rate / 1e9:.3f} / {sizes['enec'] / rate / 1e9:.3f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "File sizes: " + ", ".join(f"{k} {v:,} bytes" for k, v in sizes.items()) + ".", ""]

    # -- index and slices
    co = cold_open(work)
    sl = slices(work)
    lines += ["## Opening a 4160-tensor file, cold page cache (best of 5)", "",
              "| opener | ms |", "|---|---|"] + [f"| {k} | {v * 1e3:.1f} |" for k, v in co.items()] + [""]
    lines += ["## Sliced reads: 100 rows of MiniLM's 30522x384 fp32 embeddings (real), page cache warm, best of 30",
              "", "| read | ms |", "|---|---|"] + [f"| {k} | {v * 1e3:.2f} |" for k, v in sl.items()] + [""]
    lines += ["## Method", "", __doc__.split("Method (printed into the results file too):")[1].strip(), ""]
    if args.write:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
