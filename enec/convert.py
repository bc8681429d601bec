"""Conversions between .safetensors files (and Hugging Face model directories) and .enec checkpoints.

safetensors -> enec keeps the original header bytes in the checkpoint's
index, so enec -> safetensors writes the original file back byte for byte,
whatever its layout (tensor order, header padding, metadata). Both
directions stream: chunks are read, coded and written by a pool of worker
threads, so memory holds a few chunks per thread, never a tensor or a
model. Outputs are written atomically (a directory appears under its name
only once complete).
"""
from __future__ import annotations

import collections
import filecmp
import hashlib
import os
import shutil
from concurrent.futures import Future
from typing import Callable, Deque, Dict, Iterator, List, Optional, Tuple

import numpy as np

from . import _safetensors as st
from ._atomic import atomic_dir, atomic_write
from ._core import CorruptDataError
from .checkpoint import (CHUNK_SIZE, CheckpointReader, CheckpointWriter, TensorEntry, dtype_str, is_checkpoint,
                         pool, pread_into, reader_workers)

ST_SUFFIX, ENEC_SUFFIX = ".safetensors", ".enec"


def _pread_array(fd: int, offset: int, count: int, dtype: np.dtype, where: str) -> np.ndarray:
    a = np.empty(count, dtype)
    n = a.nbytes
    if pread_into(fd, a.view(np.uint8), offset) != n:
        raise ValueError(f"enec: {where}: file ended early (changed while being read?)")
    return a


def read_safetensors(path) -> Tuple[Dict[str, np.ndarray], Optional[Dict[str, str]]]:
    """All tensors and the metadata of a .safetensors file, as NumPy arrays (bfloat16 and float8 via
    ml_dtypes; packed sub-byte types as their raw uint8 bytes). Holds the whole file in memory."""
    h = st.read_header(path)
    fd = os.open(os.fspath(path), os.O_RDONLY)
    try:
        out = {}
        by_name = {e.name: e for e in h.entries}
        for name in _names_in_header_order(h):
            e = by_name[name]
            dt, shape = e.np_dtype, e.np_shape
            out[e.name] = _pread_array(fd, h.data_start + e.begin, int(np.prod(shape, dtype=object)), dt,
                                       os.fspath(path)).reshape(shape)
        return out, h.metadata
    finally:
        os.close(fd)


def _names_in_header_order(h: st.StHeader) -> List[str]:
    import json

    return [k for k in json.loads(h.raw[8:]) if k != "__metadata__"]


# --------------------------------------------------------------------------- one file


def safetensors_to_enec(src, dst, *, threads: int = 0, chunk_size: int = CHUNK_SIZE,
                        on_tensor: Optional[Callable[[str, int], None]] = None,
                        on_bytes: Optional[Callable[[int], None]] = None, mode: str = "fast") -> List[TensorEntry]:
    """Compress a .safetensors file into an .enec checkpoint that restores it byte for byte.

    Tensors are read in file order, chunk by chunk, with pread; the file's header bytes and the
    SHA-256 of the whole file are kept in the checkpoint. on_tensor(name, nbytes) is called after
    each tensor, on_bytes(n) after each chunk (for progress bars). Returns the index."""
    src = os.fspath(src)
    h = st.read_header(src)
    hasher = hashlib.sha256(h.raw)
    source = {"format": "safetensors", "name": os.path.basename(src), "header": None,
              "size": h.file_size, "sha256": None}

    def final_source():
        source["sha256"] = hasher.hexdigest()
        return source

    fd = os.open(src, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        with CheckpointWriter(dst, h.metadata, threads=threads, chunk_size=chunk_size, source=final_source,
                              hasher=hasher, on_tensor=on_tensor, on_bytes=on_bytes, mode=mode) as w:
            source["header"] = list(w.add_blob(h.raw))  # kept beside the streams, not in the index
            for e in h.entries:  # data order: the source is read front to back
                dt = e.np_dtype
                base = h.data_start + e.begin

                def read(s, t, base=base, dt=dt):
                    return _pread_array(fd, base + s * dt.itemsize, t - s, dt, src)
                w.add_chunked(e.name, dt, e.np_shape, read)
        return w.close()
    finally:
        os.close(fd)


def _header_for(r: CheckpointReader) -> Tuple[st.StHeader, bool]:
    """The safetensors header to restore: the original one kept in the checkpoint (True), or one
    made from the index (False). Checked against the index either way."""
    src = r.source
    raw = r.source_header() if src is not None and src.get("format") == "safetensors" else None
    if raw is not None:
        try:
            h = st.parse_header(raw, r.path)
        except ValueError as e:
            raise CorruptDataError(f"enec: {r.path}: the kept safetensors header is unusable: {e}") from None
        kept = True
    else:
        try:
            h = st.make_header([(e.name, e.np_dtype, e.shape) for e in r.entries()], r.metadata())
        except TypeError as e:
            raise ValueError(f"{e} (convert with framework='np' instead)") from None
        kept = False
    names = {e.name for e in h.entries}
    if names != set(r.keys()):
        raise CorruptDataError(f"enec: {r.path}: the kept safetensors header names other tensors than the index")
    for e in h.entries:
        ent = r.entry(e.name)
        if ent.dtype != dtype_str(e.np_dtype) or ent.shape != e.np_shape:
            raise CorruptDataError(f"enec: {r.path}: tensor {e.name!r} is {ent.dtype} {ent.shape} in the "
                                   f"index but {e.st_dtype} {e.shape} in the kept safetensors header")
    return h, kept


def restored_bytes(r: CheckpointReader, on_bytes: Optional[Callable[[int], None]] = None) -> Iterator[memoryview]:
    """The bytes of the .safetensors file this checkpoint restores, in order, a chunk at a time
    (decoded by the reader's worker threads, a bounded number ahead)."""
    h, _ = _header_for(r)
    yield memoryview(h.raw)
    jobs = []
    for se in h.entries:
        e = r.entry(se.name)
        for i in range(len(e.streams)):
            s, t = e.chunk_range(i)
            if t > s or e.count == 0:
                jobs.append((e, i, s, t))
    ex = pool(r._threads, reading=True)
    window = 2 * reader_workers(r._threads) + 2
    queue: Deque[Future] = collections.deque()

    def job(e, i, s, t):
        out = np.empty(t - s, e.np_dtype)
        r._decode_chunk(e, i, out)
        return out

    it = iter(jobs)
    try:
        for j in it:
            queue.append(ex.submit(job, *j))
            if len(queue) >= window:
                break
        while queue:
            out = queue.popleft().result()
            for j in it:
                queue.append(ex.submit(job, *j))
                break
            if out.nbytes:
                if on_bytes is not None:
                    on_bytes(out.nbytes)
                yield memoryview(out.view(np.uint8).reshape(-1))
    finally:
        for f in queue:
            f.cancel()


def enec_to_safetensors(src, dst, *, threads: int = 0,
                        on_tensor: Optional[Callable[[str, int], None]] = None,
                        on_bytes: Optional[Callable[[int], None]] = None) -> bool:
    """Decode an .enec checkpoint into a .safetensors file, streaming, atomically.

    A checkpoint made from a safetensors file gives that file back byte for byte (returns True);
    one made by save_file gets a header in index order (returns False). on_bytes(n) is called per
    chunk written; on_tensor is accepted for compatibility and called with the total at the end."""
    with CheckpointReader(src, threads=threads) as r:
        _, kept = _header_for(r)
        total = 0
        with atomic_write(dst) as f:
            for b in restored_bytes(r, on_bytes):
                f.write(b)
                total += len(b)
        if on_tensor is not None:
            on_tensor("", total)
    return kept


def compare_with_original(enec_path, original, *, threads: int = 0,
                          on_bytes: Optional[Callable[[int], None]] = None) -> List[str]:
    """Problems found comparing the file enec_path restores with the file original, byte for byte
    (and with the SHA-256 kept at conversion). Empty when identical."""
    problems = []
    with CheckpointReader(enec_path, threads=threads) as r, open(original, "rb") as f:
        pos = 0
        digest = hashlib.sha256()
        for b in restored_bytes(r, on_bytes):
            got = f.read(len(b))
            digest.update(b)
            if got != b:
                diff = next((i for i in range(min(len(got), len(b))) if got[i] != b[i]), min(len(got), len(b)))
                problems.append(f"{enec_path}: restored bytes differ from {original} at offset {pos + diff:,}")
                return problems
            pos += len(b)
        if f.read(1):
            problems.append(f"{enec_path}: restores {pos:,} bytes, {original} is longer")
        src = r.source or {}
        if src.get("sha256") and src["sha256"] != digest.hexdigest():
            problems.append(f"{enec_path}: restored bytes do not match the SHA-256 kept at conversion")
    return problems


def check_restores(enec_path, *, threads: int = 0, on_bytes=None) -> Tuple[bool, List[str]]:
    """Decode everything (every block's CRC-32C is checked) and, when the checkpoint kept its
    source's SHA-256, compare it with the restored file's. (sha256 checked?, problems)"""
    with CheckpointReader(enec_path, threads=threads) as r:
        src = r.source or {}
        digest = hashlib.sha256()
        for b in restored_bytes(r, on_bytes):
            digest.update(b)
        if src.get("sha256"):
            if src["sha256"] != digest.hexdigest():
                return True, [f"{enec_path}: restored file's SHA-256 differs from the original's"]
            return True, []
    return False, []


# --------------------------------------------------------------------------- directories


def _walk(root: str) -> List[str]:
    """Relative paths of the regular files under root, sorted (symbolic links are followed)."""
    out = []
    for d, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(d, name)
            if os.path.isfile(p):
                out.append(os.path.relpath(p, root))
    return out


def enec_name(rel: str) -> str:
    return (rel[:-len(ST_SUFFIX)] if rel.endswith(ST_SUFFIX) else rel) + ENEC_SUFFIX


def plan_compress_dir(src: str) -> List[Tuple[str, str, str]]:
    """(kind, relative input, relative output) for a model directory: safetensors files are
    converted ('convert'), everything else ('copy') is copied as it is."""
    plan, outs = [], {}
    for rel in _walk(src):
        kind = "convert" if rel.endswith(ST_SUFFIX) else "copy"
        out = enec_name(rel) if kind == "convert" else rel
        if out in outs:
            raise ValueError(f"enec: {src}: {rel} and {outs[out]} would both be written as {out}")
        outs[out] = rel
        plan.append((kind, rel, out))
    return plan


def _restored_name(path: str, rel: str) -> str:
    with CheckpointReader(path) as r:
        name = (r.source or {}).get("name")
    if isinstance(name, str) and name and os.path.basename(name) == name and name not in (".", ".."):
        return os.path.join(os.path.dirname(rel), name)
    return (rel[:-len(ENEC_SUFFIX)] if rel.endswith(ENEC_SUFFIX) else rel) + ST_SUFFIX


def plan_decompress_dir(src: str) -> List[Tuple[str, str, str]]:
    """(kind, relative input, relative output): .enec checkpoints are restored under the file name
    they were converted from, everything else is copied."""
    plan, outs = [], {}
    for rel in _walk(src):
        p = os.path.join(src, rel)
        if is_checkpoint(p):
            kind, out = "restore", _restored_name(p, rel)
        else:
            kind, out = "copy", rel
        if out in outs:
            raise ValueError(f"enec: {src}: {rel} and {outs[out]} would both be written as {out}")
        outs[out] = rel
        plan.append((kind, rel, out))
    return plan


def _carry_out(src: str, dst: str, plan, replace: bool, convert, on_bytes, on_file):
    """Carry out a directory plan into dst atomically: convert(src_file, dst_file) for the files to
    convert or restore, a plain copy for the others."""
    with atomic_dir(dst, replace=replace) as tmp:
        for kind, rel, out in plan:
            target = os.path.join(tmp, out)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if kind == "copy":
                shutil.copyfile(os.path.join(src, rel), target)
                if on_bytes is not None:
                    on_bytes(os.path.getsize(target))
            else:
                convert(os.path.join(src, rel), target)
            if on_file is not None:
                on_file(kind, rel, out)
    return plan


def compress_dir(src, dst, *, threads: int = 0, chunk_size: int = CHUNK_SIZE, replace: bool = False,
                 on_bytes=None, on_file=None, mode: str = "fast") -> List[Tuple[str, str, str]]:
    """Convert a model directory (one or many safetensors shards, their index, config, tokenizer...)
    into dst: every .safetensors file becomes an .enec checkpoint, every other file is copied.
    dst appears complete or not at all. Returns the plan that was carried out."""
    src, dst = os.fspath(src), os.fspath(dst)

    def convert(a, b):
        safetensors_to_enec(a, b, threads=threads, chunk_size=chunk_size, on_bytes=on_bytes, mode=mode)
    return _carry_out(src, dst, plan_compress_dir(src), replace, convert, on_bytes, on_file)


def decompress_dir(src, dst, *, threads: int = 0, replace: bool = False, on_bytes=None,
                   on_file=None) -> List[Tuple[str, str, str]]:
    """Restore a directory made by compress_dir: every file byte-identical to the original."""
    src, dst = os.fspath(src), os.fspath(dst)

    def restore(a, b):
        enec_to_safetensors(a, b, threads=threads, on_bytes=on_bytes)
    return _carry_out(src, dst, plan_decompress_dir(src), replace, restore, on_bytes, on_file)


def compare_dirs(enec_dir, original_dir, *, threads: int = 0, on_bytes=None) -> List[str]:
    """Problems found comparing what enec_dir restores with original_dir, file by file and byte for
    byte (missing or extra files included). Empty when identical."""
    enec_dir, original_dir = os.fspath(enec_dir), os.fspath(original_dir)
    problems = []
    plan = plan_decompress_dir(enec_dir)
    restored = {out: (kind, rel) for kind, rel, out in plan}
    originals = set(_walk(original_dir))
    for out in sorted(set(restored) - originals):
        problems.append(f"{out}: restored from {enec_dir} but not in {original_dir}")
    for out in sorted(originals - set(restored)):
        problems.append(f"{out}: in {original_dir} but nothing in {enec_dir} restores it")
    for out in sorted(set(restored) & originals):
        kind, rel = restored[out]
        a, b = os.path.join(enec_dir, rel), os.path.join(original_dir, out)
        if kind == "restore":
            problems += compare_with_original(a, b, threads=threads, on_bytes=on_bytes)
        elif not filecmp.cmp(a, b, shallow=False):
            problems.append(f"{out}: copied file differs from the original")
        elif on_bytes is not None:
            on_bytes(os.path.getsize(b))
    return problems
