"""The `enec` command: compress, decompress, inspect, verify and bench model files.

    enec compress model.safetensors            # -> model.enec (a checkpoint)
    enec decompress model.enec                 # -> model.safetensors
    enec inspect model.enec                    # per-tensor table
    enec verify model.enec model.safetensors   # bit-exact check, exit 1 on any difference
    enec bench model.safetensors               # enec vs memcpy and zstd on this file

A single array works too: x.npy <-> x.enec (one enec stream, not a checkpoint).
Outputs are written to a temporary file beside the target and renamed into
place, so an interrupted run never leaves a partial output.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np

EXIT_OK, EXIT_DATA, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

EPILOG = """exit status: 0 success; 1 verification mismatch, corrupt or unreadable data, I/O failure;
2 usage error (bad arguments, missing input, output exists without --force); 130 interrupted.

file kinds are told apart by their first bytes, not their names:
  .safetensors  <->  .enec checkpoint (many named tensors)
  .npy          <->  .enec stream (one tensor)"""


class UsageError(Exception):
    """The command line asks for something impossible; exit status 2."""


class Mismatch(Exception):
    """verify found a difference; exit status 1."""


# ----------------------------------------------------------------------------- file kinds


def _kind(path: str) -> str:
    """'checkpoint', 'stream', 'npy' or 'safetensors', from the file's first bytes."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory, expected a file")
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:4] == b"ENCK":
        return "checkpoint"
    if head[:4] == b"ENEC":
        return "stream"
    if head[:6] == b"\x93NUMPY":
        return "npy"
    if len(head) == 9 and head[8:9] == b"{":  # safetensors: u64 header length, then a JSON object
        return "safetensors"
    raise UsageError(f"{path}: not a .safetensors, .npy or .enec file")


def _default_output(src: str, kind: str) -> str:
    base, ext = os.path.splitext(src)
    if kind in ("safetensors", "npy"):
        return base + ".enec"
    new = ".safetensors" if kind == "checkpoint" else ".npy"
    return (base if ext == ".enec" else src) + new


def _check_output(src: str, dst: str, force: bool) -> None:
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise UsageError(f"{dst}: output would overwrite the input")
    if os.path.exists(dst) and not force:
        raise UsageError(f"{dst}: exists; pass --force to replace it, or choose another with -o")
    parent = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(parent):
        raise UsageError(f"{dst}: directory {parent} does not exist")


def _load_npy(path: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:  # pickled object arrays, malformed headers
        raise ValueError(f"{path}: cannot read as .npy: {e}") from e


def _read_original(path: str) -> Tuple[Dict[str, np.ndarray], Optional[Dict[str, str]]]:
    """Tensors and metadata of a .safetensors or .npy file (an .npy holds one unnamed tensor)."""
    from .convert import read_safetensors

    kind = _kind(path)
    if kind == "safetensors":
        return read_safetensors(path)
    if kind == "npy":
        return {"": _load_npy(path)}, None
    raise UsageError(f"{path}: the original must be a .safetensors or .npy file, not an enec {kind}")


def _progress(total: int, desc: str, quiet: bool):
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal (logs, CI), unless asked to be quiet anyway
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=True if quiet else None, file=sys.stderr, leave=False)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# ----------------------------------------------------------------------------- commands


def cmd_compress(args) -> int:
    from ._atomic import atomic_write
    from ._core import compress
    from .convert import safetensors_to_enec

    kind = _kind(args.input)
    if kind not in ("safetensors", "npy"):
        raise UsageError(f"{args.input}: is already an enec {kind}; compress takes .safetensors or .npy")
    dst = args.output or _default_output(args.input, kind)
    _check_output(args.input, dst, args.force)
    size_in = os.path.getsize(args.input)
    if kind == "safetensors":
        with _progress(size_in, "compress", args.quiet) as bar:
            entries = safetensors_to_enec(args.input, dst, threads=args.threads,
                                          on_tensor=lambda name, nbytes: bar.update(nbytes))
        what = f"{len(entries)} tensors"
    else:
        a = _load_npy(args.input)
        blob = compress(a, dtype=args.dtype, threads=args.threads)
        with atomic_write(dst) as f:
            f.write(blob)
        what = f"1 tensor {a.dtype} {a.shape}"
    size_out = os.path.getsize(dst)
    if not args.quiet:
        print(f"{args.input} -> {dst}: {what}, {_human(size_in)} -> {_human(size_out)} "
              f"(ratio {size_in / max(size_out, 1):.4f})")
    return EXIT_OK


def cmd_decompress(args) -> int:
    from ._atomic import atomic_write
    from ._core import decompress
    from .convert import enec_to_safetensors

    kind = _kind(args.input)
    if kind not in ("checkpoint", "stream"):
        raise UsageError(f"{args.input}: is a .{kind} file, not an enec file; did you mean `enec compress`?")
    dst = args.output or _default_output(args.input, kind)
    _check_output(args.input, dst, args.force)
    if kind == "checkpoint":
        from .checkpoint import CheckpointReader

        with CheckpointReader(args.input) as ckpt:
            total = sum(ckpt.inspect(n).original_size for n in ckpt.keys())
        with _progress(total, "decompress", args.quiet) as bar:
            enec_to_safetensors(args.input, dst, threads=args.threads,
                                on_tensor=lambda name, nbytes: bar.update(nbytes))
    else:
        with open(args.input, "rb") as f:
            a = decompress(f.read(), threads=args.threads)
        if a.dtype.type.__module__ == "ml_dtypes" and not args.quiet:
            print(f"note: .npy cannot name {a.dtype}; {dst} holds its bits as {a.dtype.itemsize}-byte "
                  f"void items (np.load(...).view(ml_dtypes.{a.dtype.name}) restores it)", file=sys.stderr)
        with atomic_write(dst) as f:
            np.save(f, a, allow_pickle=False)
    if not args.quiet:
        print(f"{args.input} -> {dst}: {_human(os.path.getsize(args.input))} -> "
              f"{_human(os.path.getsize(dst))}")
    return EXIT_OK


def _stream_rows(path: str) -> Tuple[List[dict], Optional[Dict[str, str]]]:
    from ._core import inspect
    from .checkpoint import CheckpointReader

    rows = []
    if _kind(path) == "stream":
        with open(path, "rb") as f:
            infos = [("", inspect(f.read()))]
        metadata = None
    else:
        with CheckpointReader(path) as ckpt:
            infos = [(name, ckpt.inspect(name)) for name in ckpt.keys()]
            metadata = ckpt.metadata()
    for name, info in infos:
        rows.append({
            "name": name, "dtype": info.dtype.name if info.dtype.byteorder != ">" else info.dtype.str,
            "shape": list(info.shape), "mode": info.mode,
            "params": None if info.params is None else dict(zip("bnmL", info.params[:4])),
            "original": info.original_size, "compressed": info.compressed_size,
            "ratio": info.ratio,
        })
    return rows, metadata


def cmd_inspect(args) -> int:
    kind = _kind(args.input)
    if kind not in ("checkpoint", "stream"):
        raise UsageError(f"{args.input}: is a .{kind} file; inspect reads .enec files")
    rows, metadata = _stream_rows(args.input)
    orig = sum(r["original"] for r in rows)
    comp = sum(r["compressed"] for r in rows)
    if args.json:
        json.dump({"file": args.input, "kind": kind, "metadata": metadata, "tensors": rows,
                   "original": orig, "compressed": comp, "file_size": os.path.getsize(args.input)},
                  sys.stdout, indent=1)
        print()
        return EXIT_OK
    head = ("name", "dtype", "shape", "params (b,n,m,L)", "original", "enec", "ratio")
    table = [(r["name"] or "(tensor)", r["dtype"], "x".join(map(str, r["shape"])) or "scalar",
              "stored" if r["params"] is None else ",".join(str(v) for v in r["params"].values()),
              f"{r['original']:,}", f"{r['compressed']:,}", f"{r['ratio']:.3f}") for r in rows]
    table.append(("TOTAL", "", f"{len(rows)} tensors", "", f"{orig:,}", f"{comp:,}",
                  f"{orig / comp:.3f}" if comp else "-"))
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    right = {4, 5, 6}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print(line(head))
    print("  ".join("-" * w for w in widths))
    for t in table[:-1]:
        print(line(t))
    print("  ".join("-" * w for w in widths))
    print(line(table[-1]))
    if metadata:
        print("metadata: " + json.dumps(metadata, ensure_ascii=False))
    print(f"{kind}, file {os.path.getsize(args.input):,} bytes")
    return EXIT_OK


def cmd_verify(args) -> int:
    from ._core import CorruptDataError, decompress
    from .checkpoint import CheckpointReader

    kind = _kind(args.input)
    if kind not in ("checkpoint", "stream"):
        raise UsageError(f"{args.input}: is a .{kind} file; verify's first argument is the .enec file")
    problems: List[str] = []
    original, orig_meta = _read_original(args.original) if args.original else (None, None)

    def compare(name: str, got: np.ndarray):
        want = original.get(name)
        label = name or "(tensor)"
        if want is None:
            problems.append(f"{label}: not in the original")
        elif want.shape != got.shape:
            problems.append(f"{label}: shape {got.shape}, original {want.shape}")
        elif want.dtype != got.dtype and not (want.dtype.kind == "V" and want.dtype.itemsize == got.dtype.itemsize):
            problems.append(f"{label}: dtype {got.dtype}, original {want.dtype}")
        elif np.ascontiguousarray(want).tobytes() != got.tobytes():
            problems.append(f"{label}: bytes differ")

    names: List[str] = []
    if kind == "stream":
        with open(args.input, "rb") as f:
            blob = f.read()
        try:
            names = [""]
            got = decompress(blob, threads=args.threads)
            if original is not None:
                compare("", got)
        except CorruptDataError as e:
            problems.append(str(e))
    else:
        with CheckpointReader(args.input, threads=args.threads) as ckpt:
            names = ckpt.keys()
            total = sum(ckpt.inspect(n).original_size for n in names)
            with _progress(total, "verify", args.quiet) as bar:
                for name in names:
                    try:
                        got = ckpt.get_tensor(name)
                    except CorruptDataError as e:
                        problems.append(str(e))
                        continue
                    if original is not None:
                        compare(name, got)
                    bar.update(got.nbytes)
            meta = ckpt.metadata()
        if original is not None and (meta or None) != (orig_meta or None):
            problems.append(f"metadata differs: {meta!r}, original {orig_meta!r}")
    if original is not None:
        missing = sorted(set(original) - set(names))
        problems += [f"{n or '(tensor)'}: in the original but not in {args.input}" for n in missing]
    if problems:
        for p in problems:
            print(f"MISMATCH {p}", file=sys.stderr)
        raise Mismatch(f"{len(problems)} problem(s) in {args.input}")
    against = f" and identical to {args.original}" if args.original else " (checksums only)"
    if not args.quiet:
        print(f"OK: {len(names)} tensor(s) in {args.input} decode bit-exactly{against}")
    return EXIT_OK


def cmd_bench(args) -> int:
    from . import bench

    kind = _kind(args.input)
    peers = args.peers if args.peers is not None else [p for p in bench.peers_available() if p == "zstd-3"]
    unknown = [p for p in peers if p not in bench.peers_available()]
    if unknown:
        raise UsageError(f"unknown or unavailable peer(s) {unknown}; available: {bench.peers_available()}")
    if kind == "checkpoint":
        from .checkpoint import load_file
        tensors = load_file(args.input)
    elif kind == "stream":
        from ._core import decompress
        with open(args.input, "rb") as f:
            tensors = {"": decompress(f.read())}
    else:
        tensors = _read_original(args.input)[0]
    if args.cast:
        tensors = bench.cast(tensors, args.cast)
    rows = bench.run(tensors, repeat=args.repeat, threads=args.threads, peers=peers)
    total = rows[0].original
    dtypes = sorted({str(a.dtype) for a in tensors.values()})
    print(f"{args.input}: {len(tensors)} tensors, {total:,} bytes ({', '.join(dtypes)}); "
          f"best of {args.repeat}, enec threads={args.threads}, peers single-threaded")
    print(bench.table(rows))
    return EXIT_OK


# ----------------------------------------------------------------------------- entry point


def _threads(text: str) -> int:
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0 (0 = all cores)")
    return v


def _positive(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return v


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="enec", description="Lossless compression of AI model weights (ENEC).",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"enec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, help_, fn):
        s = sub.add_parser(name, help=help_, description=help_, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        s.set_defaults(fn=fn)
        s.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
        return s

    s = add("compress", "compress a .safetensors file (or an .npy array) into .enec", cmd_compress)
    s.add_argument("input")
    s.add_argument("-o", "--output", help="output path (default: INPUT with the extension .enec)")
    s.add_argument("-f", "--force", action="store_true", help="replace an existing output")
    s.add_argument("-t", "--threads", type=_threads, default=0, help="worker threads, 0 = all cores")
    s.add_argument("--dtype", choices=["bfloat16"], help=".npy only: read 2-byte items as bfloat16 bits")

    s = add("decompress", "decode an .enec file back to .safetensors (or .npy)", cmd_decompress)
    s.add_argument("input")
    s.add_argument("-o", "--output", help="output path (default: INPUT with .safetensors or .npy)")
    s.add_argument("-f", "--force", action="store_true", help="replace an existing output")
    s.add_argument("-t", "--threads", type=_threads, default=0, help="worker threads, 0 = all cores")

    s = add("inspect", "list the tensors of an .enec file: dtype, shape, parameters, sizes, ratio",
            cmd_inspect)
    s.add_argument("input")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")

    s = add("verify", "decode every tensor; with ORIGINAL, check names, dtypes, shapes, bytes and "
                      "metadata against it", cmd_verify)
    s.add_argument("input", help="the .enec file")
    s.add_argument("original", nargs="?", help="the .safetensors or .npy file it was made from")
    s.add_argument("-t", "--threads", type=_threads, default=0, help="worker threads, 0 = all cores")

    s = add("bench", "measure enec against memcpy and zstd on a file's tensors", cmd_bench)
    s.add_argument("input", help=".safetensors, .npy or .enec")
    s.add_argument("-t", "--threads", type=_threads, default=1, help="enec worker threads (default 1)")
    s.add_argument("-r", "--repeat", type=_positive, default=3, help="runs per measurement, best kept")
    s.add_argument("--cast", choices=["bfloat16", "float16"], help="cast float32 tensors first")
    s.add_argument("--peers", nargs="*", metavar="PEER",
                   help="peer codecs, e.g. zstd-3 zstd-1 zlib-1 (default: zstd-3 if installed)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ._core import CorruptDataError

    try:
        return args.fn(args)
    except UsageError as e:
        parser.exit(EXIT_USAGE, f"enec {args.command}: error: {e}\n")
    except Mismatch as e:
        print(f"enec {args.command}: {e}", file=sys.stderr)
        return EXIT_DATA
    except CorruptDataError as e:
        print(f"enec {args.command}: corrupt data: {e}", file=sys.stderr)
        return EXIT_DATA
    except (ValueError, TypeError, OSError) as e:
        print(f"enec {args.command}: error: {e}", file=sys.stderr)
        return EXIT_DATA
    except KeyboardInterrupt:
        print(f"enec {args.command}: interrupted; no output was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
