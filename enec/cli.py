"""The `enec` command: compress, decompress, inspect, verify and bench model files and directories.

    enec compress model.safetensors            # -> model.enec (a checkpoint)
    enec compress MODEL_DIR -o OUT_DIR         # every .safetensors converted, other files copied
    enec decompress model.enec                 # -> model.safetensors, byte-identical to the original
    enec inspect model.enec                    # per-tensor table
    enec verify model.enec model.safetensors   # byte-for-byte check, exit 1 on any difference
    enec bench model.safetensors               # enec vs memcpy and zstd on (a sample of) this file

A single array works too: x.npy <-> x.enec (one enec stream, not a checkpoint).
Outputs are written to a temporary beside the target and renamed into
place, so an interrupted run never leaves a partial output; temporaries of
a killed run are removed (and reported) by the next run on that output.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Dict, List, Optional, Tuple

import numpy as np

EXIT_OK, EXIT_DATA, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
MAX_THREADS = 1024

EPILOG = """exit status: 0 success (also when a reader of our output, such as `head`, closes it early);
1 verification mismatch, corrupt or unreadable data, I/O failure (disk full, file too large...);
2 usage error (bad arguments, missing input, output exists without --force); 130 interrupted.
Every failure is one line on stderr; ENEC_DEBUG=1 shows the Python traceback instead.

file kinds are told apart by their first bytes, not their names:
  .safetensors  <->  .enec checkpoint (many named tensors; restored byte for byte)
  .npy          <->  .enec stream (one tensor)
  directory     <->  directory (safetensors files converted, every other file copied)"""


class UsageError(Exception):
    """The command line asks for something impossible; exit status 2."""


class Mismatch(Exception):
    """verify found a difference; exit status 1."""


def _note(msg: str) -> None:
    print(f"enec: note: {msg}", file=sys.stderr)


# ----------------------------------------------------------------------------- file kinds


def _kind(path: str) -> str:
    """'dir', 'checkpoint', 'stream', 'npy' or 'safetensors', from the file's first bytes."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file or directory")
    if os.path.isdir(path):
        return "dir"
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
    raise UsageError(f"{path}: not a .safetensors, .npy or .enec file, nor a directory")


def _default_output(src: str, kind: str, command: str) -> str:
    src = src.rstrip(os.sep) or src
    base, ext = os.path.splitext(src)
    if kind == "dir":
        if command == "compress":
            return src + ".enec"
        return base if ext == ".enec" else src + ".restored"
    if kind in ("safetensors", "npy"):
        return base + ".enec"
    new = ".safetensors" if kind == "checkpoint" else ".npy"
    return (base if ext == ".enec" else src) + new


def _check_output(src: str, dst: str, force: bool, directory: bool = False) -> None:
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise UsageError(f"{dst}: output would overwrite the input")
    if directory and os.path.exists(dst):
        a, b = os.path.realpath(src) + os.sep, os.path.realpath(dst) + os.sep
        if a.startswith(b) or b.startswith(a):
            raise UsageError(f"{dst}: output directory contains the input or lies inside it")
    elif directory:
        a, b = os.path.realpath(src) + os.sep, os.path.realpath(dst) + os.sep
        if b.startswith(a):
            raise UsageError(f"{dst}: output directory lies inside the input")
    if os.path.exists(dst) and not directory and not os.path.isfile(dst) and not os.path.isdir(dst):
        raise UsageError(f"{dst}: exists and is not a regular file; enec replaces outputs by renaming, "
                         f"so it only writes regular files")
    if os.path.exists(dst) and not force:
        raise UsageError(f"{dst}: exists; pass --force to replace it, or choose another with -o")
    if os.path.exists(dst) and os.path.isdir(dst) != directory:
        raise UsageError(f"{dst}: exists and is {'not ' if directory else ''}a directory")
    parent = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(parent):
        raise UsageError(f"{dst}: directory {parent} does not exist")


def _load_npy(path: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:  # pickled object arrays, malformed headers
        raise ValueError(f"{path}: cannot read as .npy: {e}") from e


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


def _dir_size(path: str) -> int:
    from .convert import _walk

    return sum(os.path.getsize(os.path.join(path, r)) for r in _walk(path))


# ----------------------------------------------------------------------------- commands


def cmd_compress(args) -> int:
    from ._atomic import atomic_write
    from ._core import compress
    from .convert import compress_dir, safetensors_to_enec

    kind = _kind(args.input)
    if kind not in ("safetensors", "npy", "dir"):
        raise UsageError(f"{args.input}: is already an enec {kind}; compress takes .safetensors, .npy "
                         f"or a model directory")
    dst = args.output or _default_output(args.input, kind, "compress")
    _check_output(args.input, dst, args.force, directory=kind == "dir")
    if kind == "dir":
        size_in = _dir_size(args.input)
        with _progress(size_in, "compress", args.quiet) as bar:
            plan = compress_dir(args.input, dst, threads=args.threads, replace=args.force,
                                on_bytes=bar.update, mode=args.mode)
        n = sum(1 for k, _, _ in plan if k == "convert")
        what = f"{n} safetensors file(s) converted, {len(plan) - n} other file(s) copied"
        size_out = _dir_size(dst)
    elif kind == "safetensors":
        size_in = os.path.getsize(args.input)
        with _progress(size_in, "compress", args.quiet) as bar:
            entries = safetensors_to_enec(args.input, dst, threads=args.threads, on_bytes=bar.update,
                                          mode=args.mode)
        tied = sum(1 for e in entries if e.same_as)
        what = f"{len(entries)} tensors" + (f" ({tied} tied, stored once)" if tied else "")
        size_out = os.path.getsize(dst)
    else:
        size_in = os.path.getsize(args.input)
        a = _load_npy(args.input)
        if args.dtype is None and a.dtype.kind == "V" and a.dtype.itemsize == 2 and a.dtype.names is None:
            _note(f"{args.input} holds 2-byte void items ({a.dtype.str}), which is how bfloat16 arrays "
                  f"are saved to .npy; they are stored verbatim (ratio about 1.0). If they are bfloat16, "
                  f"pass --dtype bfloat16 to code them")
        blob = compress(a, dtype=args.dtype, threads=args.threads, mode=args.mode)
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
    from .convert import decompress_dir, enec_to_safetensors

    kind = _kind(args.input)
    if kind not in ("checkpoint", "stream", "dir"):
        raise UsageError(f"{args.input}: is a .{kind} file, not an enec file; did you mean `enec compress`?")
    dst = args.output or _default_output(args.input, kind, "decompress")
    _check_output(args.input, dst, args.force, directory=kind == "dir")
    if kind == "dir":
        with _progress(_dir_size(args.input), "decompress", args.quiet) as bar:
            plan = decompress_dir(args.input, dst, threads=args.threads, replace=args.force,
                                  on_bytes=bar.update)
        n = sum(1 for k, _, _ in plan if k == "restore")
        if not args.quiet:
            print(f"{args.input} -> {dst}: {n} checkpoint(s) restored, {len(plan) - n} other file(s) "
                  f"copied, {_human(_dir_size(dst))}")
        return EXIT_OK
    if kind == "checkpoint":
        from .checkpoint import CheckpointReader

        with CheckpointReader(args.input) as ckpt:
            total = sum(e.nbytes for e in ckpt.entries())
        with _progress(total, "decompress", args.quiet) as bar:
            kept = enec_to_safetensors(args.input, dst, threads=args.threads, on_bytes=bar.update)
        if not kept and not args.quiet:
            _note(f"{args.input} was not made from a .safetensors file (or by enec < 0.2), so {dst} has "
                  f"the same tensors and metadata in a fresh layout")
    else:
        with open(args.input, "rb") as f:
            a = decompress(f.read(), threads=args.threads)
        if a.dtype.type.__module__ == "ml_dtypes" and not args.quiet:
            _note(f".npy cannot name {a.dtype}; {dst} holds its bits as {a.dtype.itemsize}-byte "
                  f"void items (np.load(...).view(ml_dtypes.{a.dtype.name}) restores it)")
        with atomic_write(dst) as f:
            np.save(f, a, allow_pickle=False)
    if not args.quiet:
        print(f"{args.input} -> {dst}: {_human(os.path.getsize(args.input))} -> "
              f"{_human(os.path.getsize(dst))}")
    return EXIT_OK


def _stream_rows(path: str) -> Tuple[List[dict], Optional[Dict[str, str]], Optional[int]]:
    from ._core import inspect
    from .checkpoint import CheckpointReader

    rows = []
    version = None
    if _kind(path) == "stream":
        with open(path, "rb") as f:
            infos = [("", inspect(f.read()), 1, None)]
        metadata = None
    else:
        with CheckpointReader(path) as ckpt:
            version = ckpt.version
            infos = []
            for name in ckpt.keys():
                e = ckpt.entry(name)
                infos.append((name, ckpt.inspect(name), len(e.streams), e.same_as))
            metadata = ckpt.metadata()
    for name, info, chunks, same_as in infos:
        rows.append({
            "name": name, "dtype": info.dtype.name if info.dtype.byteorder != ">" else info.dtype.str,
            "shape": list(info.shape), "mode": info.mode, "chunks": chunks, "same_as": same_as,
            "params": None if info.params is None else dict(zip("bnmL", info.params[:4])),
            "original": info.original_size, "compressed": 0 if same_as else info.compressed_size,
            "ratio": info.ratio,
        })
    return rows, metadata, version


def cmd_inspect(args) -> int:
    kind = _kind(args.input)
    if kind not in ("checkpoint", "stream"):
        raise UsageError(f"{args.input}: is a {'directory' if kind == 'dir' else '.' + kind + ' file'}; "
                         f"inspect reads .enec files")
    rows, metadata, version = _stream_rows(args.input)
    orig = sum(r["original"] for r in rows)
    comp = sum(r["compressed"] for r in rows)
    if args.json:
        json.dump({"file": args.input, "kind": kind, "container_version": version, "metadata": metadata,
                   "tensors": rows, "original": orig, "compressed": comp,
                   "file_size": os.path.getsize(args.input)}, sys.stdout, indent=1)
        print()
        return EXIT_OK
    head = ("name", "dtype", "shape", "params (b,n,m,L)", "chunks", "original", "enec", "ratio")
    table = [(r["name"] or "(tensor)", r["dtype"], "x".join(map(str, r["shape"])) or "scalar",
              ("= " + r["same_as"]) if r["same_as"] else
              "stored" if r["params"] is None else ",".join(str(v) for v in r["params"].values()),
              str(r["chunks"]), f"{r['original']:,}", f"{r['compressed']:,}",
              "tied" if r["same_as"] else f"{r['ratio']:.3f}") for r in rows]
    table.append(("TOTAL", "", f"{len(rows)} tensors", "", "", f"{orig:,}", f"{comp:,}",
                  f"{orig / comp:.3f}" if comp else "-"))
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    right = {4, 5, 6, 7}

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
    what = f"checkpoint (container version {version})" if kind == "checkpoint" else kind
    print(f"{what}, file {os.path.getsize(args.input):,} bytes")
    return EXIT_OK


def _compare_tensors(got: Dict[str, np.ndarray], want: Dict[str, np.ndarray]) -> List[str]:
    problems = []
    for name in sorted(set(got) | set(want)):
        label = name or "(tensor)"
        if name not in want:
            problems.append(f"{label}: not in the original")
            continue
        if name not in got:
            problems.append(f"{label}: in the original but not in the enec file")
            continue
        a, b = got[name], want[name]
        if a.shape != b.shape:
            problems.append(f"{label}: shape {a.shape}, original {b.shape}")
        elif a.dtype != b.dtype and not (b.dtype.kind == "V" and b.dtype.itemsize == a.dtype.itemsize):
            problems.append(f"{label}: dtype {a.dtype}, original {b.dtype}")
        elif np.ascontiguousarray(b).tobytes() != a.tobytes():
            problems.append(f"{label}: bytes differ")
    return problems


def cmd_verify(args) -> int:
    from ._core import CorruptDataError, decompress
    from .checkpoint import CheckpointReader
    from .convert import (_walk, check_restores, compare_dirs, compare_with_original, is_checkpoint,
                          read_safetensors)

    kind = _kind(args.input)
    if kind not in ("checkpoint", "stream", "dir"):
        raise UsageError(f"{args.input}: is a .{kind} file; verify's first argument is the .enec file "
                         f"or directory")
    okind = _kind(args.original) if args.original else None
    if okind is not None and (okind == "dir") != (kind == "dir"):
        raise UsageError("verify compares a directory with a directory, a file with a file")
    problems: List[str] = []
    how = ""
    if kind == "dir":
        total = _dir_size(args.original or args.input)
        with _progress(total, "verify", args.quiet) as bar:
            if args.original:
                problems = compare_dirs(args.input, args.original, threads=args.threads, on_bytes=bar.update)
                how = f"every file restores byte for byte to {args.original}"
            else:
                n = 0
                for rel in _walk(args.input):
                    p = os.path.join(args.input, rel)
                    if is_checkpoint(p):
                        n += 1
                        problems += check_restores(p, threads=args.threads, on_bytes=bar.update)[1]
                how = f"{n} checkpoint(s) decode and match their originals' SHA-256 (where kept)"
    elif kind == "stream":
        with open(args.input, "rb") as f:
            blob = f.read()
        try:
            got = decompress(blob, threads=args.threads)
            if args.original:
                if okind != "npy":
                    raise UsageError(f"{args.original}: an enec stream is compared with an .npy file")
                problems = _compare_tensors({"": got}, {"": _load_npy(args.original)})
            how = "decodes bit-exactly" + (f" and equals the array in {args.original}" if args.original else "")
        except CorruptDataError as e:
            problems.append(str(e))
    else:
        with CheckpointReader(args.input) as ckpt:
            kept = (ckpt.source or {}).get("format") == "safetensors"
            total = sum(e.nbytes for e in ckpt.entries())
        with _progress(total, "verify", args.quiet) as bar:
            if args.original and okind == "safetensors" and kept:
                problems = compare_with_original(args.input, args.original, threads=args.threads,
                                                 on_bytes=bar.update)
                how = f"restores {args.original} byte for byte"
            elif args.original:
                # no kept header (made by save_file or enec < 0.2): the file bytes cannot be the
                # original's, so compare what can be compared: every tensor's bytes and the metadata
                want, wmeta = (read_safetensors(args.original) if okind == "safetensors"
                               else ({"": _load_npy(args.original)}, None))
                try:
                    got = {}
                    with CheckpointReader(args.input, threads=args.threads) as ckpt:
                        for name in ckpt.keys():
                            got[name] = ckpt.get_tensor(name)
                            bar.update(got[name].nbytes)
                        meta = ckpt.metadata()
                    problems = _compare_tensors(got, want)
                    if okind == "safetensors" and (meta or None) != (wmeta or None):
                        problems.append(f"metadata differs: {meta!r}, original {wmeta!r}")
                except CorruptDataError as e:
                    problems.append(str(e))
                how = (f"every tensor and the metadata equal {args.original}'s (this checkpoint keeps no "
                       f"safetensors header, so file bytes were not compared)")
            else:
                try:
                    hashed, problems = check_restores(args.input, threads=args.threads, on_bytes=bar.update)
                except CorruptDataError as e:
                    hashed, problems = False, [str(e)]
                how = ("decodes bit-exactly and restores its original's SHA-256" if hashed else
                       "decodes bit-exactly (checksums only: no original hash kept)")
    if problems:
        for p in problems:
            print(f"MISMATCH {p}", file=sys.stderr)
        raise Mismatch(f"{len(problems)} problem(s) in {args.input}")
    if not args.quiet:
        print(f"OK: {args.input} {how}")
    return EXIT_OK


def _sample(path: str, kind: str, budget: int) -> Tuple[Dict[str, np.ndarray], int, int]:
    """Tensors of the file up to budget bytes (whole tensors that fit, in file order; a first tensor
    larger than budget is cut to it): (tensors, bytes taken, bytes in the file's tensors)."""
    from ._core import decompress

    out: Dict[str, np.ndarray] = {}
    taken = 0
    if kind == "stream":
        with open(path, "rb") as f:
            a = decompress(f.read())
        return {"": a}, a.nbytes, a.nbytes
    if kind == "npy":
        a = _load_npy(path)
        flat = a.reshape(-1)
        n = max(1, budget // a.dtype.itemsize)
        return {"": np.array(flat[:n])}, min(a.nbytes, n * a.dtype.itemsize), a.nbytes
    if kind == "checkpoint":
        from .checkpoint import CheckpointReader

        with CheckpointReader(path) as r:
            entries = [e for e in r.entries() if not e.same_as]
            total = sum(e.nbytes for e in entries)
            for e in entries:
                if taken + e.nbytes > budget:
                    if not out and e.count:
                        n = max(1, budget // e.np_dtype.itemsize)
                        out[e.name] = r.read_range(e.name, 0, n)
                        taken = out[e.name].nbytes
                    continue
                out[e.name] = r.get_tensor(e.name)
                taken += e.nbytes
        return out, taken, total
    from . import _safetensors as st
    from .convert import _pread_array

    h = st.read_header(path)
    total = sum(e.end - e.begin for e in h.entries)
    fd = os.open(path, os.O_RDONLY)
    try:
        for e in h.entries:
            nbytes = e.end - e.begin
            dt = e.np_dtype
            count = nbytes // dt.itemsize
            if taken + nbytes > budget:
                if not out and count:
                    n = max(1, budget // dt.itemsize)
                    out[e.name] = _pread_array(fd, h.data_start + e.begin, min(n, count), dt, path)
                    taken = out[e.name].nbytes
                continue
            out[e.name] = _pread_array(fd, h.data_start + e.begin, count, dt, path).reshape(e.np_shape)
            taken += nbytes
    finally:
        os.close(fd)
    return out, taken, total


def cmd_bench(args) -> int:
    from . import bench

    kind = _kind(args.input)
    if kind == "dir":
        raise UsageError(f"{args.input}: is a directory; bench one of its files")
    peers = args.peers if args.peers is not None else [p for p in bench.peers_available() if p == "zstd-3"]
    unknown = [p for p in peers if p not in bench.peers_available()]
    if unknown:
        raise UsageError(f"unknown or unavailable peer(s) {unknown}; available: {bench.peers_available()}")
    budget = args.max_mib << 20
    tensors, taken, total = _sample(args.input, kind, budget)
    if args.cast:
        tensors = bench.cast(tensors, args.cast)
    if not tensors or sum(a.nbytes for a in tensors.values()) == 0:
        raise ValueError(f"{args.input}: no tensor data to measure")
    if taken < total and not args.quiet:
        _note(f"measuring the first {len(tensors)} tensor(s), {_human(taken)} of {_human(total)} "
              f"(--max-mib {args.max_mib} bounds memory: about 4x the sample)")
    if not args.quiet:
        print(f"enec bench: measuring memcpy, enec and {', '.join(peers) or 'no peers'} "
              f"(best of {args.repeat})...", file=sys.stderr, flush=True)
    rows = bench.run(tensors, repeat=args.repeat, threads=args.threads, peers=peers)
    nbytes = rows[0].original
    dtypes = sorted({str(a.dtype) for a in tensors.values()})
    print(f"{args.input}: {len(tensors)} tensors, {nbytes:,} bytes ({', '.join(dtypes)}); "
          f"best of {args.repeat}, enec threads={args.threads}, peers single-threaded")
    print(bench.table(rows))
    return EXIT_OK


# ----------------------------------------------------------------------------- entry point


def _threads(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= v <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must be 0 (all cores) to {MAX_THREADS}")
    return v


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= v <= 1 << 20:
        raise argparse.ArgumentTypeError("must be from 1 to 1048576")
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

    threads_help = f"worker threads, 0 = all cores (at most {MAX_THREADS})"
    s = add("compress", "compress a .safetensors file, an .npy array or a model directory into enec",
            cmd_compress)
    s.add_argument("input")
    s.add_argument("-o", "--output", help="output path (default: INPUT with the extension .enec; "
                                          "for a directory, INPUT.enec)")
    s.add_argument("-f", "--force", action="store_true", help="replace an existing output")
    s.add_argument("-t", "--threads", type=_threads, default=0, help=threads_help)
    s.add_argument("--dtype", choices=["bfloat16"], help=".npy only: read 2-byte items as bfloat16 bits")
    s.add_argument("--mode", choices=["fast", "max"], default="fast",
                   help="fast: ENEC, the fastest to decode (default); max: the smallest file (rANS-coded "
                        "byte planes, any dtype)")

    s = add("decompress", "decode an .enec file back to .safetensors (or .npy), or an enec directory "
                          "back to the original directory", cmd_decompress)
    s.add_argument("input")
    s.add_argument("-o", "--output", help="output path (default: INPUT with .safetensors or .npy; "
                                          "for DIR.enec, DIR)")
    s.add_argument("-f", "--force", action="store_true", help="replace an existing output")
    s.add_argument("-t", "--threads", type=_threads, default=0, help=threads_help)

    s = add("inspect", "list the tensors of an .enec file: dtype, shape, parameters, chunks, sizes, ratio",
            cmd_inspect)
    s.add_argument("input")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")

    s = add("verify", "decode everything; with ORIGINAL, check that it restores ORIGINAL byte for byte "
                      "(files or directories)", cmd_verify)
    s.add_argument("input", help="the .enec file or enec directory")
    s.add_argument("original", nargs="?", help="the .safetensors/.npy file or directory it was made from")
    s.add_argument("-t", "--threads", type=_threads, default=0, help=threads_help)

    s = add("bench", "measure enec against memcpy and zstd on a file's tensors", cmd_bench)
    s.add_argument("input", help=".safetensors, .npy or .enec")
    s.add_argument("-t", "--threads", type=_threads, default=1, help="enec worker threads (default 1)")
    s.add_argument("-r", "--repeat", type=_positive, default=3, help="runs per measurement, best kept")
    s.add_argument("--cast", choices=["bfloat16", "float16"], help="cast float32 tensors first")
    s.add_argument("--max-mib", type=_positive, default=256,
                   help="measure at most this many MiB of tensors (default 256; memory ~4x this)")
    s.add_argument("--peers", nargs="*", metavar="PEER",
                   help="peer codecs, e.g. zstd-3 zstd-1 zlib-1 (default: zstd-3 if installed)")
    return p


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"enec: note: {message}", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ._core import CorruptDataError

    warnings.showwarning = _show_warning
    debug = os.environ.get("ENEC_DEBUG") == "1"
    try:
        try:
            rc = args.fn(args)
            sys.stdout.flush()
            return rc
        except UsageError as e:
            parser.exit(EXIT_USAGE, f"enec {args.command}: error: {e}\n")
        except Mismatch as e:
            print(f"enec {args.command}: {e}", file=sys.stderr)
            return EXIT_DATA
        except CorruptDataError as e:
            # UnsupportedFormatError (a subclass): intact, but written by a newer enec
            what = "unsupported format" if type(e).__name__ == "UnsupportedFormatError" else "corrupt data"
            print(f"enec {args.command}: {what}: {e}", file=sys.stderr)
            return EXIT_DATA
        except BrokenPipeError:
            raise
        except FileExistsError as e:
            parser.exit(EXIT_USAGE, f"enec {args.command}: error: {e}; pass --force to replace it\n")
        except OSError as e:
            what = os.strerror(e.errno) if e.errno else str(e)
            where = f"{e.filename}: " if e.filename else ""
            print(f"enec {args.command}: I/O error: {where}{what}" +
                  (f" ({e})" if not e.errno else ""), file=sys.stderr)
            return EXIT_DATA
        except KeyboardInterrupt:
            print(f"enec {args.command}: interrupted; no output was written", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as e:  # noqa: BLE001 -- the contract: one line, never a traceback
            if debug:
                raise
            msg = str(e).replace("\n", " ") or type(e).__name__
            kind = "error" if isinstance(e, (ValueError, TypeError)) else f"error ({type(e).__name__})"
            print(f"enec {args.command}: {kind}: {msg}", file=sys.stderr)
            return EXIT_DATA
    except BrokenPipeError:
        # the reader (e.g. `enec inspect | head`) closed our output: not a failure of ours
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
