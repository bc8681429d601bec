"""The .enec checkpoint container: many named tensors, each cut into chunks that are enec streams.

Layout (docs/FORMAT.md section 7, container version 2): a 32-byte header
that points at the index, the streams (64-byte aligned), then the JSON
index as a footer. A writer streams tensors straight into the output and
writes the index and header last, so nothing is spooled or copied; a tensor
larger than a chunk (1 MiB of original bytes by default) is several
streams, so writing, reading, slicing and converting hold a few chunks per
thread, never a whole tensor they do not return. The reader loads the
index in one read and reads streams with pread (no memory map: a file
truncated under an open reader is a CorruptDataError, not a SIGBUS).
Version-1 files (one stream per tensor, index first) are still read.
"""
from __future__ import annotations

import builtins
import collections
import functools
import hashlib
import json
import math
import os
import struct
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import (Any, Callable, Deque, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional,
                    Sequence, Tuple)

import ml_dtypes
import numpy as np

from . import _core, _enec, _torch
from ._atomic import atomic_write
from ._core import (BLOCK, CorruptDataError, Params, StreamInfo, _dtype_from_header, compress, decompress,
                    inspect)

MAGIC = b"ENCK"
#: Version of the container layout written by this enec; independent of the stream format version.
CONTAINER_VERSION = 2
READ_VERSIONS = (1, 2)
ALIGN = 64
_HEADER = struct.Struct("<4sHHQQII")
HEADER_SIZE = _HEADER.size
assert HEADER_SIZE == 32
DATA_START_V2 = 64
_STREAM_MAGIC = b"ENEC"
_MIN_STREAM = 48  # the smallest stream header (docs/FORMAT.md section 1)
# the stream header's fixed fields, up to data_crc (docs/FORMAT.md section 1)
_STREAM_HEAD = struct.Struct("<4sHBBIBBBBBBHIQQI")
_MAX_STREAM_HEADER = 48 + 8 * 32 + 255


def _mode_name(code: int) -> str:
    """The name enec.inspect() gives a stream mode code ("stored", "fast"...)."""
    names = {v: k for k, v in getattr(_core, "_MODE_CODES", {"stored": 0, "coded": 1}).items()}
    return names.get(code, f"mode {code}")
#: Default bytes of original data per chunk (rounded down to whole 16,384-element blocks).
CHUNK_SIZE = 1 << 20


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def dtype_str(dt: np.dtype) -> str:
    """The index's name for a dtype: NumPy's name ('float32', 'bfloat16', 'bool'), or its
    byte-order-explicit code ('>f4') when that name would hide a big-endian layout."""
    dt = np.dtype(dt)
    return dt.str if dt.byteorder == ">" else dt.name


def dtype_from_str(s: str) -> np.dtype:
    """Inverse of dtype_str; ValueError for a name that is not a plain-data dtype."""
    if not isinstance(s, str):
        raise ValueError(f"dtype must be a string, got {s!r}")
    return _dtype_from_str(s)


@functools.lru_cache(maxsize=256)
def _dtype_from_str(s: str) -> np.dtype:
    dt = getattr(ml_dtypes, s, None)
    try:
        dt = np.dtype(dt if isinstance(dt, type) else s)
    except TypeError:
        raise ValueError(f"unknown dtype {s!r}") from None
    if dt.hasobject or dt.itemsize == 0 or dtype_str(dt) != s:
        raise ValueError(f"unusable dtype {s!r}")
    return dt


def chunk_elements(dt: np.dtype, chunk_size: int = CHUNK_SIZE) -> int:
    """Elements per chunk for this dtype: chunk_size bytes, in whole blocks, at least one block."""
    return max(BLOCK, chunk_size // np.dtype(dt).itemsize // BLOCK * BLOCK)


class TensorEntry(NamedTuple):
    """One tensor of the index: its chunks' streams (absolute file offset, length), chunk elements."""

    name: str
    dtype: str
    shape: Tuple[int, ...]
    chunk: int
    streams: Tuple[Tuple[int, int], ...]
    same_as: Optional[str] = None  # a tied tensor: the name whose streams hold its data

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def np_dtype(self) -> np.dtype:
        return dtype_from_str(self.dtype)

    @property
    def nbytes(self) -> int:
        return self.count * self.np_dtype.itemsize

    @property
    def offset(self) -> int:
        return self.streams[0][0] if self.streams else 0

    @property
    def length(self) -> int:
        """Bytes of all of this tensor's streams (0 for a tied tensor: it stores nothing)."""
        return 0 if self.same_as else sum(n for _, n in self.streams)

    def chunk_range(self, i: int) -> Tuple[int, int]:
        return i * self.chunk, min((i + 1) * self.chunk, self.count)


def _framework(framework: str) -> str:
    f = (framework or "np").lower()
    if f in ("np", "numpy"):
        return "np"
    if f in ("pt", "torch"):
        return "pt"
    raise ValueError(f"enec: unknown framework {framework!r}; use 'np' (NumPy) or 'pt' (torch)")


def _convert(a: np.ndarray, framework: str):
    return _torch.from_numpy(a) if framework == "pt" else a


def _check_metadata(metadata) -> Optional[Dict[str, str]]:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise TypeError(f"enec: metadata must be a dict of str to str, got {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"enec: metadata must map str to str (like safetensors); "
                            f"entry {k!r}: {type(v).__name__}")
    return dict(metadata)


# --------------------------------------------------------------------------- threads and I/O

_pools: Dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _forget_pools() -> None:
    # a forked child (e.g. a torch DataLoader worker) inherits the pools but not their threads
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def workers(threads: int) -> int:
    """Worker threads for threads=N (0 = all cores)."""
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
        raise ValueError(f"enec: threads must be an int >= 0 (0 = all cores), got {threads!r}")
    n = threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    return max(1, min(n, 256))


def reader_workers(threads: int) -> int:
    """Threads a reader uses: threads=N gives N; 0 gives all cores plus two, because a thread
    waiting in pread uses no CPU, and two more keep reads in flight while every core decodes
    (measured: at 1 GB/s, 2 cores, 1.14 s with 2 threads, 0.94-0.96 s with 3-4, for 0.91 s of transfer)."""
    return workers(threads) + (2 if threads == 0 else 0)


def pool(threads: int, *, reading: bool = False) -> ThreadPoolExecutor:
    """A shared pool of workers(threads) threads (reader_workers for reading; decoding, coding and
    pread release the GIL)."""
    n = reader_workers(threads) if reading else workers(threads)
    with _pools_lock:
        p = _pools.get(n)
        if p is None:
            p = _pools[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="enec")
        return p


def pread_into(fd: int, buf, offset: int) -> int:
    """Fill buf from fd at offset; returns the bytes read (fewer only at end of file)."""
    mv = memoryview(buf).cast("B")
    done = 0
    while done < len(mv):
        n = os.preadv(fd, [mv[done:]], offset + done)
        if n == 0:
            break
        done += n
    return done


# --------------------------------------------------------------------------- writing


class _Pending:
    __slots__ = ("name", "dtype", "shape", "chunk", "nchunks", "start", "streams", "digest", "nbytes")

    def __init__(self, name, dtype, shape, chunk, nchunks, nbytes):
        self.name, self.dtype, self.shape, self.chunk, self.nchunks = name, dtype, shape, chunk, nchunks
        self.nbytes = nbytes
        self.start: Optional[int] = None
        self.streams: List[Tuple[int, int]] = []
        self.digest = hashlib.sha256()


class CheckpointWriter:
    """Stream tensors into an .enec checkpoint (container version 2), atomically.

        with CheckpointWriter("model.enec", metadata={"format": "pt"}) as w:
            w.add("w", array)
            w.add_chunked("big", dtype, shape, read)   # read(start, stop) -> 1-d array of those elements

    Each chunk is compressed by a worker thread (threads=0: all cores) and written in order as soon
    as it is ready; at most a few chunks per thread are in memory. Tensors whose data is identical
    to an earlier tensor's (tied weights) are stored once. The file appears at path only when the
    block ends without an exception."""

    def __init__(self, path, metadata=None, *, threads: int = 0, chunk_size: int = CHUNK_SIZE,
                 source: Optional[dict] = None, hasher=None,
                 on_bytes: Optional[Callable[[int], None]] = None,
                 on_tensor: Optional[Callable[[str, int], None]] = None, mode: str = "fast"):
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"enec: chunk_size must be a positive number of bytes, got {chunk_size!r}")
        if mode not in ("fast", "max"):
            raise ValueError(f"enec: mode must be 'fast' or 'max', got {mode!r}")
        self._mode = mode
        self._metadata = _check_metadata(metadata)
        self._threads = threads
        self._pool = pool(threads)
        self._window = 2 * workers(threads) + 2
        self._chunk_size = chunk_size
        self._source = source
        self._hasher = hasher  # fed every chunk's original bytes, in order (safetensors conversion)
        self._on_bytes, self._on_tensor = on_bytes, on_tensor
        self._names: set = set()
        self._entries: List[TensorEntry] = []
        self._by_digest: Dict[Tuple, str] = {}
        self._queue: Deque[Tuple[_Pending, Future]] = collections.deque()
        self._path = path
        self._ctx = atomic_write(path)
        self._f = self._ctx.__enter__()
        self._f.write(b"\0" * DATA_START_V2)
        self._pos = DATA_START_V2
        self._done = False

    # -- raw blobs (the source's header)

    def add_blob(self, data: bytes) -> Tuple[int, int, int]:
        """Write raw bytes into the data area (before any tensor's chunks are pending); returns
        (offset, length, CRC-32C) for the index to point at them."""
        if self._queue:
            raise RuntimeError("enec: add_blob must come before tensors are added")
        off = self._pos
        self._f.write(b"\0" * (off - self._f.tell()))
        self._f.write(data)
        self._pos = _align(off + len(data))
        return off, len(data), _enec.crc32c(data)

    # -- adding tensors

    def add(self, name: str, value) -> None:
        """Add one array (NumPy, torch, or anything np.asarray takes)."""
        arr = _torch.to_numpy(value) if _torch.is_tensor(value) else np.asarray(value)
        if isinstance(value, np.ma.MaskedArray):
            raise TypeError(f"enec: tensor {name!r}: a masked array would lose its mask")
        if arr.dtype.hasobject or arr.dtype.itemsize == 0:
            raise TypeError(f"enec: tensor {name!r}: dtype {arr.dtype} cannot be stored")
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr) if arr.ndim else arr.copy()
        flat = arr.reshape(-1)
        self.add_chunked(name, arr.dtype, arr.shape, lambda s, t: flat[s:t])

    def add_chunked(self, name: str, dtype, shape: Sequence[int], read: Callable[[int, int], np.ndarray]):
        """Add a tensor given by a reader: read(start, stop) returns its elements [start, stop) as a
        1-d array of dtype (called from worker threads, one chunk at a time)."""
        if not isinstance(name, str):
            raise TypeError(f"enec: tensor names must be str, got {type(name).__name__} {name!r}")
        if name in self._names:
            raise ValueError(f"enec: duplicate tensor name {name!r}")
        self._names.add(name)
        dt = np.dtype(dtype)
        shape = tuple(int(d) for d in shape)
        count = int(np.prod(shape, dtype=object))
        chunk = chunk_elements(dt, self._chunk_size)
        nchunks = max(1, -(-count // chunk))
        p = _Pending(name, dt, shape, chunk, nchunks, count * dt.itemsize)
        for i in range(nchunks):
            s, t = i * chunk, min((i + 1) * chunk, count)
            self._queue.append((p, self._pool.submit(self._job, name, read, s, t)))
            while len(self._queue) > self._window:
                self._write_one()

    def _job(self, name, read, s, t):
        a = read(s, t)
        try:
            blob = compress(a, threads=1, mode=self._mode)
        except TypeError as e:
            raise TypeError(f"enec: tensor {name!r}: {e}") from e
        return blob, (a if self._hasher is not None else None)

    def _write_one(self) -> None:
        p, fut = self._queue.popleft()
        blob, raw = fut.result()
        if self._hasher is not None:
            self._hasher.update(memoryview(raw.reshape(-1).view(np.uint8)))
        if p.start is None:
            p.start = self._pos
        pad = self._pos - self._f.tell()
        if pad:
            self._f.write(b"\0" * pad)
        self._f.write(blob)
        p.streams.append((self._pos, len(blob)))
        p.digest.update(blob)
        self._pos = _align(self._pos + len(blob))
        if self._on_bytes is not None:
            self._on_bytes(p.nbytes // p.nchunks if len(p.streams) < p.nchunks
                           else p.nbytes - p.nbytes // p.nchunks * (p.nchunks - 1))
        if len(p.streams) == p.nchunks:
            self._finish_tensor(p)

    def _finish_tensor(self, p: _Pending) -> None:
        key = (dtype_str(p.dtype), p.shape, p.digest.digest())
        first = self._by_digest.get(key)
        if first is not None:
            # same streams, so the same data: keep a reference and reuse the space
            self._pos = p.start
            self._f.seek(p.start)
            self._entries.append(TensorEntry(p.name, key[0], p.shape, p.chunk, (), same_as=first))
        else:
            self._by_digest[key] = p.name
            self._entries.append(TensorEntry(p.name, key[0], p.shape, p.chunk, tuple(p.streams)))
        if self._on_tensor is not None:
            self._on_tensor(p.name, p.nbytes)

    # -- finishing

    def close(self) -> List[TensorEntry]:
        """Write the index and header and move the file into place; returns the index."""
        if self._done:
            return self._entries
        try:
            while self._queue:
                self._write_one()
            source = self._source() if callable(self._source) else self._source
            index = {"tensors": [_entry_json(e) for e in self._entries], "metadata": self._metadata,
                     "source": source}
            index_bytes = json.dumps(index, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            self._f.seek(self._pos)
            self._f.truncate()
            self._f.write(index_bytes)
            head = _HEADER.pack(MAGIC, CONTAINER_VERSION, 0, self._pos, len(index_bytes),
                                _enec.crc32c(index_bytes), 0)
            head = head[:-4] + struct.pack("<I", _enec.crc32c(head[:-4]))
            self._f.seek(0)
            self._f.write(head)
        except BaseException as e:
            self._abort(e)
            raise
        self._done = True
        self._ctx.__exit__(None, None, None)
        return self._entries

    def _abort(self, exc: BaseException) -> None:
        if self._done:
            return
        self._done = True
        for _, fut in self._queue:
            fut.cancel()
        for _, fut in self._queue:
            if not fut.cancelled():
                try:
                    fut.result()
                except BaseException:
                    pass
        self._queue.clear()
        try:
            self._ctx.__exit__(type(exc), exc, exc.__traceback__)
        except BaseException:
            pass

    def __enter__(self) -> "CheckpointWriter":
        return self

    def __exit__(self, et, ev, tb) -> None:
        if et is None:
            self.close()
        else:
            self._abort(ev)


def _entry_json(e: TensorEntry) -> dict:
    d: Dict[str, Any] = {"name": e.name, "dtype": e.dtype, "shape": list(e.shape)}
    if e.same_as is not None:
        d["same_as"] = e.same_as
    else:
        d.update(chunk=e.chunk, offset=e.offset, lengths=[n for _, n in e.streams])
    return d


def write_checkpoint(items: Iterable[Tuple[str, object]], path, metadata=None, *, threads: int = 0,
                     chunk_size: int = CHUNK_SIZE,
                     on_tensor: Optional[Callable[[str, int], None]] = None, mode: str = "fast") -> List[TensorEntry]:
    """Compress (name, array) pairs into a checkpoint at path, atomically; returns the index.

    items may be a generator. on_tensor(name, nbytes) is called after each tensor is written.
    mode: "fast" (ENEC) or "max" (the smallest file), as for enec.compress."""
    metadata = _check_metadata(metadata)
    with CheckpointWriter(path, metadata, threads=threads, chunk_size=chunk_size, on_tensor=on_tensor,
                          mode=mode) as w:
        for name, value in items:
            w.add(name, value)
    return w.close()


def save_file(tensors: Mapping[str, object], path, metadata: Optional[Dict[str, str]] = None, *,
              threads: int = 0, chunk_size: int = CHUNK_SIZE, mode: str = "fast") -> None:
    """Save a dict of NumPy arrays or torch tensors as an .enec checkpoint (written atomically).

    metadata: optional str -> str pairs, kept as they are (as in safetensors). Tensors with
    identical data (tied weights) are stored once. mode: "fast" (ENEC, the default) or "max"
    (the smallest file: rANS-coded byte planes, any dtype), as for enec.compress."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"enec: save_file needs a dict of name -> array, got {type(tensors).__name__}")
    write_checkpoint(tensors.items(), path, metadata, threads=threads, chunk_size=chunk_size, mode=mode)


# --------------------------------------------------------------------------- reading the index


def _corrupt(path: str, what: str) -> CorruptDataError:
    return CorruptDataError(f"enec: {path}: {what}")


def _no_dup_keys(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


def _is_uint(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _load_json(raw: bytes, path: str):
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_dup_keys)
    except (ValueError, RecursionError) as e:
        raise _corrupt(path, f"unreadable index: {e}") from None


_valid_dtypes: set = set()  # dtype names already checked by _check_shape


def _check_shape(path, name, dt, shape):
    if not isinstance(dt, str):
        raise _corrupt(path, f"tensor {name!r}: dtype must be a string")
    try:
        dtype_from_str(dt)
    except ValueError as e:
        raise _corrupt(path, f"tensor {name!r}: {e}") from None
    if not isinstance(shape, list) or len(shape) > 32 or not all(_is_uint(d) for d in shape):
        raise _corrupt(path, f"tensor {name!r}: shape must be a list of at most 32 sizes >= 0")


def _check_metadata_json(path, metadata):
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(v, str) for v in metadata.values())):
        raise _corrupt(path, "index metadata must be null or an object of strings")


def _no_overlap(path: str, entries: List[TensorEntry], start: int, end: int, extra=()) -> None:
    spans = sorted([(o, o + n, e.name) for e in entries if not e.same_as for o, n in e.streams] + list(extra))
    pos = start
    for o, stop, name in spans:
        if o < pos:
            raise _corrupt(path, f"tensor {name!r}: stream overlaps another or the header")
        pos = stop
    if pos > end:
        raise _corrupt(path, "streams run past the data area")


def _parse_v1(path, head, size, fd) -> Tuple[List[TensorEntry], Optional[dict], Optional[dict]]:
    magic, version, reserved, index_len, data_size, index_crc, header_crc = head
    if index_len > size - HEADER_SIZE:
        raise _corrupt(path, f"truncated: index of {index_len} bytes does not fit in {size} bytes")
    data_start = _align(HEADER_SIZE + index_len)
    if data_start + data_size != size:
        raise _corrupt(path, f"file is {size} bytes but its header says {data_start + data_size} "
                             f"(truncated or has trailing data)")
    raw = os.pread(fd, data_start - HEADER_SIZE, HEADER_SIZE)
    if len(raw) != data_start - HEADER_SIZE:
        raise _corrupt(path, "truncated index")
    if _enec.crc32c(raw[:index_len]) != index_crc:
        raise _corrupt(path, "index checksum mismatch (damaged file)")
    if any(raw[index_len:]):
        raise _corrupt(path, "padding after the index is not zero")
    index = _load_json(raw[:index_len], path)
    if not isinstance(index, dict) or set(index) != {"tensors", "metadata"}:
        raise _corrupt(path, "index must be an object with exactly 'tensors' and 'metadata'")
    _check_metadata_json(path, index["metadata"])
    tensors = index["tensors"]
    if not isinstance(tensors, list):
        raise _corrupt(path, "index 'tensors' must be a list")
    entries: List[TensorEntry] = []
    names = set()
    keys = {"name", "dtype", "shape", "offset", "length"}
    for i, t in enumerate(tensors):
        if not isinstance(t, dict) or set(t) != keys:
            raise _corrupt(path, f"index entry {i} must have exactly the keys {sorted(keys)}")
        name, dt, shape, off, length = t["name"], t["dtype"], t["shape"], t["offset"], t["length"]
        if not isinstance(name, str) or name in names:
            raise _corrupt(path, f"index entry {i}: name must be a unique string, got {name!r}")
        names.add(name)
        _check_shape(path, name, dt, shape)
        if not (_is_uint(off) and _is_uint(length)) or off % ALIGN or length < _MIN_STREAM \
                or off + length > data_size:
            raise _corrupt(path, f"tensor {name!r}: stream at offset {off!r}, length {length!r} "
                                 f"is misaligned or outside the {data_size}-byte data area")
        count = math.prod(shape)
        entries.append(TensorEntry(name, dt, tuple(shape), max(count, 1), ((data_start + off, length),)))
    _no_overlap(path, entries, data_start, size)
    return entries, index["metadata"], None


def _parse_v2(path, head, size, fd) -> Tuple[List[TensorEntry], Optional[dict], Optional[dict]]:
    magic, version, reserved, index_offset, index_len, index_crc, header_crc = head
    if index_offset < DATA_START_V2 or index_offset + index_len != size:
        raise _corrupt(path, f"file is {size} bytes but its header puts the index at "
                             f"[{index_offset}, {index_offset + index_len}) (truncated or has trailing data)")
    raw = os.pread(fd, index_len, index_offset)
    if len(raw) != index_len:
        raise _corrupt(path, "truncated index")
    if _enec.crc32c(raw) != index_crc:
        raise _corrupt(path, "index checksum mismatch (damaged file)")
    index = _load_json(raw, path)
    if not isinstance(index, dict) or set(index) != {"tensors", "metadata", "source"}:
        raise _corrupt(path, "index must be an object with exactly 'tensors', 'metadata' and 'source'")
    _check_metadata_json(path, index["metadata"])
    source = index["source"]
    if source is not None and not isinstance(source, dict):
        raise _corrupt(path, "index 'source' must be null or an object")
    tensors = index["tensors"]
    if not isinstance(tensors, list):
        raise _corrupt(path, "index 'tensors' must be a list")
    entries: List[TensorEntry] = []
    by_name: Dict[str, TensorEntry] = {}
    stored = {"name", "dtype", "shape", "chunk", "offset", "lengths"}
    tied = {"name", "dtype", "shape", "same_as"}
    for i, t in enumerate(tensors):
        if type(t) is not dict or (t.keys() != stored and t.keys() != tied):
            raise _corrupt(path, f"index entry {i} must have exactly the keys {sorted(stored)} "
                                 f"or {sorted(tied)}")
        name, dt, shape = t["name"], t["dtype"], t["shape"]
        if type(name) is not str or name in by_name:
            raise _corrupt(path, f"index entry {i}: name must be a unique string, got {name!r}")
        if type(dt) is not str or dt not in _valid_dtypes or type(shape) is not list or len(shape) > 32 \
                or not all(type(d) is int and d >= 0 for d in shape):
            _check_shape(path, name, dt, shape)
            _valid_dtypes.add(dt)
        if "same_as" in t:
            tgt = by_name.get(t["same_as"]) if isinstance(t["same_as"], str) else None
            if tgt is None or tgt.same_as is not None or tgt.dtype != dt or list(tgt.shape) != shape:
                raise _corrupt(path, f"tensor {name!r}: same_as must name an earlier stored tensor "
                                     f"of the same dtype and shape")
            e = TensorEntry(name, dt, tuple(shape), tgt.chunk, tgt.streams, tgt.name)
        else:
            chunk, off, lengths = t["chunk"], t["offset"], t["lengths"]
            count = math.prod(shape)
            if type(chunk) is not int or chunk <= 0 or type(lengths) is not list \
                    or len(lengths) != max(1, -(-count // chunk)):
                raise _corrupt(path, f"tensor {name!r}: chunk {chunk!r} and "
                                     f"{len(lengths) if isinstance(lengths, list) else lengths!r} "
                                     f"streams do not cover {count} elements")
            if type(off) is not int or off < 0 or off % ALIGN:
                raise _corrupt(path, f"tensor {name!r}: offset {off!r} is not a multiple of {ALIGN}")
            streams = []
            for n in lengths:
                if type(n) is not int or n < _MIN_STREAM:
                    raise _corrupt(path, f"tensor {name!r}: stream length {n!r} is below {_MIN_STREAM}")
                streams.append((off, n))
                off = (off + n + ALIGN - 1) // ALIGN * ALIGN
            e = TensorEntry(name, dt, tuple(shape), chunk, tuple(streams))
        entries.append(e)
        by_name[name] = e
    blob = _source_blob(path, source)
    _no_overlap(path, entries, DATA_START_V2, index_offset,
                [(blob[0], blob[0] + blob[1], "(source header)")] if blob else ())
    return entries, index["metadata"], source


def _source_blob(path: str, source) -> Optional[Tuple[int, int, int]]:
    """The (offset, length, crc) of the source header blob the index points at, checked for shape."""
    if not source or "header" not in source:
        return None
    h = source["header"]
    if not (isinstance(h, list) and len(h) == 3 and all(_is_uint(v) for v in h)
            and h[0] >= DATA_START_V2 and h[0] % ALIGN == 0):
        raise _corrupt(path, "index 'source.header' must be [offset, length, crc32c] inside the data area")
    return h[0], h[1], h[2]


def read_index(fd: int, path: str) -> Tuple[int, List[TensorEntry], Optional[dict], Optional[dict]]:
    """Validate a checkpoint's header and index (two reads); (version, entries, metadata, source)."""
    size = os.fstat(fd).st_size
    head = os.pread(fd, HEADER_SIZE, 0)
    if head[:4] != MAGIC:
        hint = ("it is a single enec stream: read it with enec.decompress"
                if head[:4] == _STREAM_MAGIC else
                "to convert a .safetensors file run `enec compress FILE.safetensors`")
        raise _corrupt(path, f"not an enec checkpoint ({hint})")
    if len(head) < HEADER_SIZE:
        raise _corrupt(path, f"truncated: {size} bytes, shorter than the {HEADER_SIZE}-byte header")
    fields = _HEADER.unpack(head)
    if _enec.crc32c(head[:HEADER_SIZE - 4]) != fields[6]:
        raise _corrupt(path, "header checksum mismatch (damaged file)")
    version, reserved = fields[1], fields[2]
    if version not in READ_VERSIONS:
        msg = (f"enec: {path}: checkpoint container version {version} is not supported "
               f"(this enec reads versions {', '.join(map(str, READ_VERSIONS))})")
        if version > max(READ_VERSIONS) and hasattr(_core, "UnsupportedFormatError"):
            raise _core.UnsupportedFormatError(msg + "; upgrade enec")  # intact, just newer
        raise CorruptDataError(msg)
    if reserved != 0:
        raise _corrupt(path, "reserved header field is not zero")
    entries, metadata, source = (_parse_v1 if version == 1 else _parse_v2)(path, fields, size, fd)
    return version, entries, metadata, source


# --------------------------------------------------------------------------- the reader


class CheckpointReader:
    """An open .enec checkpoint; tensors (or slices of them) are decoded on access.

    Mapping-like: keys(), `name in ckpt`, len(), iteration over names, ckpt[name]. Use as a
    context manager (or call close()). Streams are read with pread, chunks decoded by a pool of
    `threads` worker threads (0: all cores)."""

    def __init__(self, path, framework: str = "np", *, threads: int = 0):
        self.path = os.fspath(path)
        self._framework = _framework(framework)
        self._threads = threads
        workers(threads)  # validate early
        self._fd: Optional[int] = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            self.version, entries, self._metadata, self._source = read_index(self._fd, self.path)
        except BaseException:
            os.close(self._fd)
            self._fd = None
            raise
        self._entries: Dict[str, TensorEntry] = {e.name: e for e in entries}

    # mapping-like surface
    def keys(self) -> List[str]:
        return list(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name) -> bool:
        return name in self._entries

    def metadata(self) -> Optional[Dict[str, str]]:
        """The str -> str metadata saved with the checkpoint, or None if there was none."""
        return None if self._metadata is None else dict(self._metadata)

    @property
    def source(self) -> Optional[dict]:
        """What the checkpoint was converted from (the safetensors header kept for byte-identical
        restores), or None."""
        return None if self._source is None else dict(self._source)

    def source_header(self) -> Optional[bytes]:
        """The source file's header bytes kept in the data area (a .safetensors header), CRC-checked;
        None when the checkpoint keeps none."""
        blob = _source_blob(self.path, self._source)
        if blob is None:
            return None
        data = bytes(self._read(blob[0], blob[1], "(source header)"))
        if _enec.crc32c(data) != blob[2]:
            raise _corrupt(self.path, "the kept source header fails its checksum (damaged file)")
        return data

    def entry(self, name: str) -> TensorEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"enec: no tensor {name!r} in {self.path}") from None

    def entries(self) -> List[TensorEntry]:
        return list(self._entries.values())

    # -- low level

    def _check_open(self) -> int:
        if self._fd is None:
            raise ValueError(f"enec: checkpoint {self.path} is closed")
        return self._fd

    def _read(self, offset: int, length: int, name: str) -> bytearray:
        buf = bytearray(length)
        if pread_into(self._check_open(), buf, offset) != length:
            raise _corrupt(self.path, f"tensor {name!r}: file ends before its stream at [{offset}, "
                                      f"{offset + length}) (truncated since it was opened?)")
        return buf

    def _decode_chunk(self, e: TensorEntry, i: int, out: np.ndarray, threads: int = 1) -> None:
        """Decode chunk i of e into out, a 1-d C-contiguous array of exactly its elements."""
        off, n = e.streams[i]
        buf = self._read(off, n, e.name)
        try:
            h = _enec.read_header(buf)
            dt = _dtype_from_header(h)
            if dtype_str(dt) != e.dtype or h["count"] != out.size or h["stream_size"] != n:
                raise CorruptDataError(f"stream header ({dtype_str(dt)}, {h['count']} elements, "
                                       f"{h['stream_size']} bytes) disagrees with the index ({e.dtype}, "
                                       f"{out.size} elements, {n} bytes)")
            decompress(buf, out=out, threads=threads)
        except CorruptDataError as err:  # UnsupportedFormatError (a newer stream) keeps its class
            raise type(err)(f"enec: {self.path}: tensor {e.name!r} chunk {i}: {err}") from None

    def _jobs(self, e: TensorEntry, start: int, stop: int, out: np.ndarray) -> List[Callable[[], None]]:
        """Callables that decode elements [start, stop) of e into the 1-d array out."""
        jobs = []
        if stop <= start:
            return jobs
        for i in range(start // e.chunk, (stop - 1) // e.chunk + 1):
            s, t = e.chunk_range(i)
            if start <= s and t <= stop:
                jobs.append(lambda i=i, s=s, t=t: self._decode_chunk(e, i, out[s - start:t - start]))
            else:
                def part(i=i, s=s, t=t):
                    tmp = np.empty(t - s, out.dtype)
                    self._decode_chunk(e, i, tmp)
                    a, b = max(s, start), min(t, stop)
                    out[a - start:b - start] = tmp[a - s:b - s]
                jobs.append(part)
        return jobs

    def _run(self, jobs: List[Callable[[], None]]) -> None:
        if len(jobs) == 1:
            jobs[0]()
            return
        ex = pool(self._threads, reading=True)
        futs = [ex.submit(j) for j in jobs]
        err = None
        for f in futs:
            try:
                f.result()
            except BaseException as e:  # wait for every job before raising: they write into out
                err = err or e
        if err is not None:
            raise err

    def _empty(self, e: TensorEntry, shape) -> np.ndarray:
        try:
            return np.empty(shape, dtype=e.np_dtype)
        except (ValueError, OverflowError) as err:
            raise _corrupt(self.path, f"tensor {e.name!r}: shape {e.shape} cannot be built: {err}") from None

    def read_range(self, name: str, start: int, stop: int) -> np.ndarray:
        """Elements [start, stop) of the flattened tensor, decoding only the chunks they lie in."""
        e = self.entry(name)
        self._check_open()
        start, stop = max(0, start), min(stop, e.count)
        out = self._empty(e, (max(0, stop - start),))
        if e.count == 0 and e.streams:  # an empty tensor's one stream is still checked
            self._decode_chunk(e, 0, out)
        self._run(self._jobs(e, start, stop, out))
        return out

    # -- tensors

    def get_tensor(self, name: str, framework: Optional[str] = None):
        """Decode one tensor (NumPy array, or torch tensor with framework='pt')."""
        fw = self._framework if framework is None else _framework(framework)
        e = self.entry(name)
        self._check_open()
        out = self._empty(e, e.shape)
        flat = out.reshape(-1)
        if len(e.streams) == 1:  # one stream: the codec's own threads split its blocks
            self._decode_chunk(e, 0, flat, threads=self._threads)
        else:
            self._run(self._jobs(e, 0, e.count, flat))
        return _convert(out, fw)

    __getitem__ = get_tensor

    def get_slice(self, name: str) -> "TensorSlice":
        """A lazy view with shape and dtype; indexing it decodes only the chunks the rows need."""
        return TensorSlice(self, self.entry(name))

    def load_all(self, names: Optional[Iterable[str]] = None, framework: Optional[str] = None) -> Dict[str, Any]:
        """Decode many tensors at once, every chunk of every tensor spread over the worker threads
        (so reading and decoding overlap); tied tensors share one array."""
        fw = self._framework if framework is None else _framework(framework)
        self._check_open()
        names = list(self._entries) if names is None else list(names)
        outs: Dict[str, np.ndarray] = {}
        jobs: List[Callable[[], None]] = []
        for n in names:
            e = self.entry(n)
            if e.same_as is not None and e.same_as in outs:
                continue
            outs[n] = self._empty(e, e.shape)
            jobs += self._jobs(e, 0, e.count, outs[n].reshape(-1))
            if e.count == 0:
                jobs.append(lambda e=e, o=outs[n]: self._decode_chunk(e, 0, o.reshape(-1)))
        self._run(jobs) if len(jobs) != 1 else jobs[0]()
        result, converted = {}, {}
        for n in names:
            e = self._entries[n]
            key = n if n in outs else e.same_as
            if key not in converted:  # tied tensors: one object under both names
                converted[key] = _convert(outs[key], fw)
            result[n] = converted[key]
        return result

    def chunk_infos(self, name: str) -> List[StreamInfo]:
        """enec.inspect() of each of the tensor's streams (reads them, decodes nothing)."""
        e = self.entry(name)
        out = []
        for i, (off, n) in enumerate(e.streams):
            try:
                out.append(inspect(self._read(off, n, name)))
            except CorruptDataError as err:
                raise type(err)(f"enec: {self.path}: tensor {name!r} chunk {i}: {err}") from None
        return out

    def _summary(self, e: TensorEntry, i: int) -> StreamInfo:
        """StreamInfo of chunk i from its stream header alone (docs/FORMAT.md section 1, checked by
        its header CRC), without reading the block table or payload: for listings. Decoding checks
        everything else."""
        off, n = e.streams[i]
        head = self._read(off, min(n, _MAX_STREAM_HEADER), e.name)
        (magic, version, mode, _, itemsize, ndim, dlen, b, nn, m, L, _, block, count, _,
         _) = _STREAM_HEAD.unpack_from(head)
        hlen = 48 + 8 * ndim + dlen
        if magic != _STREAM_MAGIC or hlen > len(head) or block == 0 or mode not in _core._MODE_CODES.values() or \
                _enec.crc32c(bytes(head[:hlen - 4])) != struct.unpack_from("<I", head, hlen - 4)[0]:
            raise _corrupt(self.path, f"tensor {e.name!r} chunk {i}: invalid stream header")
        nblocks = -(-count // block) if mode else 0  # a stored stream has no block table
        return StreamInfo(version=version, mode=_mode_name(mode), dtype=e.np_dtype,
                          shape=(count,), count=count, params=Params(b, nn, m, L) if mode else None,
                          nblocks=nblocks, header_size=hlen + (8 * nblocks + 4 if mode else 0),
                          original_size=count * itemsize, compressed_size=n)

    def inspect(self, name: str) -> StreamInfo:
        """A StreamInfo for the whole tensor, from its streams' headers (no payload is read): sizes
        summed; params of the first coded chunk (each chunk has its own); its mode if any chunk is
        coded, else 'stored'. A tied tensor reports its data's streams."""
        e = self.entry(name)
        infos = [self._summary(e, i) for i in range(len(e.streams))]
        coded = [i for i in infos if i.mode != "stored"]
        first = coded[0] if coded else infos[0]
        return StreamInfo(version=first.version, mode=first.mode, dtype=first.dtype, shape=e.shape,
                          count=e.count, params=first.params, nblocks=sum(i.nblocks for i in infos),
                          header_size=sum(i.header_size for i in infos),
                          original_size=sum(i.original_size for i in infos),
                          compressed_size=sum(i.compressed_size for i in infos))

    def stream(self, name: str) -> bytes:
        """The tensor's enec stream, for a tensor stored as one chunk."""
        e = self.entry(name)
        if len(e.streams) != 1:
            raise ValueError(f"enec: tensor {name!r} is stored as {len(e.streams)} chunks; "
                             f"use chunk_infos() or read_range()")
        off, n = e.streams[0]
        return bytes(self._read(off, n, name))

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> "CheckpointReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._fd is None else f"{len(self)} tensors"
        return f"<enec checkpoint {self.path!r}: {state}>"


class TensorSlice:
    """safetensors' get_slice() object: get_shape(), get_dtype(), and indexing that decodes only the
    chunks holding the rows (first axis) the index selects."""

    def __init__(self, reader: CheckpointReader, e: TensorEntry):
        self._r, self._e = reader, e

    def get_shape(self) -> List[int]:
        return list(self._e.shape)

    def get_dtype(self) -> str:
        from ._safetensors import NP_TO_ST

        return NP_TO_ST.get(self._e.np_dtype, self._e.dtype)

    @property
    def shape(self) -> Tuple[int, ...]:
        return self._e.shape

    @property
    def dtype(self) -> np.dtype:
        return self._e.np_dtype

    def __len__(self) -> int:
        if not self._e.shape:
            raise TypeError("len() of a 0-d tensor")
        return self._e.shape[0]

    def __getitem__(self, key):
        e = self._e
        key = key if isinstance(key, tuple) else (key,)
        if any(k is None for k in key):
            raise IndexError("enec: np.newaxis is not supported in get_slice; reshape the result")
        if sum(k is Ellipsis for k in key) > 1:
            raise IndexError("enec: an index can only have a single ellipsis ('...')")
        if Ellipsis in key:
            i = key.index(Ellipsis)
            key = key[:i] + (slice(None),) * max(0, len(e.shape) - len(key) + 1) + key[i + 1:]
        if not e.shape or e.count == 0 or not key:
            return _convert(self._r.get_tensor(e.name, "np")[key], self._r._framework)
        first, rest = key[0], key[1:]
        n = e.shape[0]
        if isinstance(first, slice):
            r = range(*first.indices(n))
            if not len(r):
                lo = hi = 0
                local: Any = slice(0, 0)
            else:
                lo, hi = min(r[0], r[-1]), max(r[0], r[-1]) + 1
                a, b = r[0] - lo, r[-1] - lo
                local = slice(a, b + 1, r.step) if r.step > 0 else slice(a, b - 1 if b > 0 else None, r.step)
        else:
            idx = np.asarray(first)
            if idx.dtype == bool:
                if idx.shape != (n,):
                    raise IndexError(f"enec: boolean index does not match axis 0 of length {n}")
                idx = np.flatnonzero(idx)
            if idx.dtype.kind not in "iu":
                raise IndexError(f"enec: unsupported index {first!r}")
            norm = np.where(idx < 0, idx + n, idx)
            if norm.size and (norm.min() < 0 or norm.max() >= n):
                raise IndexError(f"enec: index {first!r} is out of range for axis 0 of length {n}")
            lo, hi = (int(norm.min()), int(norm.max()) + 1) if norm.size else (0, 0)
            local = (norm - lo) if idx.ndim else int(norm) - lo
        row = e.count // n
        block = self._r.read_range(e.name, lo * row, hi * row).reshape((hi - lo,) + e.shape[1:])
        out = np.ascontiguousarray(block[(local,) + tuple(rest)])
        return _convert(out, self._r._framework)


def open(path, framework: str = "np", *, threads: int = 0) -> CheckpointReader:  # noqa: A001
    """Open an .enec checkpoint lazily: the index is read, tensors are decoded on access.

        with enec.open("model.enec") as ckpt:
            w = ckpt["encoder.layer.0.attention.self.query.weight"]
    """
    return CheckpointReader(path, framework, threads=threads)


def safe_open(path, framework: str = "np", device: str = "cpu", *, threads: int = 0) -> CheckpointReader:
    """safetensors.safe_open for .enec checkpoints: keys(), metadata(), get_tensor(name),
    get_slice(name)[...] (decoding only the chunks a slice needs). framework: 'np' or 'pt'."""
    if device != "cpu":
        raise ValueError(f"enec: safe_open decodes on the CPU; move tensors with .to({device!r}) afterwards")
    return CheckpointReader(path, framework, threads=threads)


def load_file(path, framework: str = "np", *, threads: int = 0) -> Dict[str, object]:
    """Decode every tensor of an .enec checkpoint: {name: array} (torch tensors with framework='pt').
    Chunks are decoded in parallel on `threads` workers (0: all cores)."""
    with CheckpointReader(path, framework, threads=threads) as ckpt:
        return ckpt.load_all()


def is_checkpoint(path) -> bool:
    """True when the file starts with the checkpoint magic (nothing else is checked)."""
    with builtins.open(path, "rb") as f:
        return f.read(4) == MAGIC
