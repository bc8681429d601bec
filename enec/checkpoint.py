"""The .enec checkpoint container: many named tensors, each an enec stream, behind one index.

Layout (docs/FORMAT.md, "Checkpoint container"): a 32-byte header, a JSON
index (name, dtype, shape, offset, length of every stream, plus str->str
metadata as in safetensors), zero padding to a 64-byte boundary, then the
streams, each starting on a 64-byte boundary. The reader memory-maps the
file and decodes one tensor per access, so opening a checkpoint costs the
index, not the weights.
"""
from __future__ import annotations

import builtins
import json
import mmap
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

import numpy as np

from . import _enec, _torch
from ._atomic import atomic_write
from ._core import CorruptDataError, _dtype_from_header, compress, decompress, inspect

MAGIC = b"ENCK"
#: Version of the container layout; independent of the stream format version and the package version.
CONTAINER_VERSION = 1
ALIGN = 64
_HEADER = struct.Struct("<4sHHQQII")  # magic, version, reserved, index_len, data_size, index_crc, header_crc
HEADER_SIZE = _HEADER.size
assert HEADER_SIZE == 32
_STREAM_MAGIC = b"ENEC"
_MIN_STREAM = 48  # the smallest stream header (docs/FORMAT.md section 1)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def dtype_str(dt: np.dtype) -> str:
    """The index's name for a dtype: NumPy's name ('float32', 'bfloat16', 'bool'), or its
    byte-order-explicit code ('>f4') when that name would hide a big-endian layout."""
    dt = np.dtype(dt)
    return dt.str if dt.byteorder == ">" else dt.name


@dataclass(frozen=True)
class TensorEntry:
    """One index entry: where a tensor's stream lies, relative to the start of the data area."""

    name: str
    dtype: str
    shape: Tuple[int, ...]
    offset: int
    length: int


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


# --------------------------------------------------------------------------- writing


def write_checkpoint(items: Iterable[Tuple[str, object]], path, metadata=None, *, threads: int = 0,
                     on_tensor: Optional[Callable[[str, int], None]] = None) -> List[TensorEntry]:
    """Compress (name, array) pairs into a checkpoint at path, atomically.

    items may be a generator, so a caller can read one tensor at a time. The streams go to a
    temporary spool file beside path as they are made (the index, which precedes them, is only
    known at the end), so memory holds one tensor at a time, not the checkpoint.
    on_tensor(name, nbytes) is called after each tensor (for progress bars). Returns the index."""
    metadata = _check_metadata(metadata)
    entries: List[TensorEntry] = []
    seen = set()
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    with tempfile.TemporaryFile(dir=directory) as spool:
        offset = 0
        for name, value in items:
            if not isinstance(name, str):
                raise TypeError(f"enec: tensor names must be str, got {type(name).__name__} {name!r}")
            if name in seen:
                raise ValueError(f"enec: duplicate tensor name {name!r}")
            seen.add(name)
            arr = _torch.to_numpy(value) if _torch.is_tensor(value) else np.asarray(value)
            try:
                blob = compress(arr, threads=threads)
            except TypeError as e:
                raise TypeError(f"enec: tensor {name!r}: {e}") from e
            info = inspect(blob)
            spool.write(b"\0" * (offset - spool.tell()))  # zero gap up to the 64-byte boundary
            spool.write(blob)
            entries.append(TensorEntry(name, dtype_str(info.dtype), info.shape, offset, len(blob)))
            offset = _align(offset + len(blob))
            if on_tensor is not None:
                on_tensor(name, arr.nbytes)
        data_size = spool.tell()

        index = {
            "tensors": [{"name": e.name, "dtype": e.dtype, "shape": list(e.shape),
                         "offset": e.offset, "length": e.length} for e in entries],
            "metadata": metadata,
        }
        index_bytes = json.dumps(index, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        head = _HEADER.pack(MAGIC, CONTAINER_VERSION, 0, len(index_bytes), data_size,
                            _enec.crc32c(index_bytes), 0)
        head = head[:-4] + struct.pack("<I", _enec.crc32c(head[:-4]))
        data_start = _align(HEADER_SIZE + len(index_bytes))

        with atomic_write(path) as f:
            f.write(head)
            f.write(index_bytes)
            f.write(b"\0" * (data_start - HEADER_SIZE - len(index_bytes)))
            spool.seek(0)
            shutil.copyfileobj(spool, f, 1 << 22)
    return entries


def save_file(tensors: Mapping[str, object], path, metadata: Optional[Dict[str, str]] = None, *,
              threads: int = 0) -> None:
    """Save a dict of NumPy arrays or torch tensors as an .enec checkpoint (written atomically).

    metadata: optional str -> str pairs, kept as they are (as in safetensors)."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"enec: save_file needs a dict of name -> array, got {type(tensors).__name__}")
    write_checkpoint(tensors.items(), path, metadata, threads=threads)


# --------------------------------------------------------------------------- reading


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


def _parse_index(f, size: int, path: str) -> Tuple[List[TensorEntry], Optional[Dict[str, str]], int]:
    """Validate the header and index of a checkpoint open as f (size bytes); return entries,
    metadata and the data area's start. Reads the header and index only."""
    head = f.read(HEADER_SIZE)
    if head[:4] != MAGIC:
        hint = ("it is a single enec stream: read it with enec.decompress"
                if head[:4] == _STREAM_MAGIC else
                "to convert a .safetensors file run `enec compress FILE.safetensors`")
        raise _corrupt(path, f"not an enec checkpoint ({hint})")
    if len(head) < HEADER_SIZE:
        raise _corrupt(path, f"truncated: {size} bytes, shorter than the {HEADER_SIZE}-byte header")
    magic, version, reserved, index_len, data_size, index_crc, header_crc = _HEADER.unpack(head)
    if _enec.crc32c(head[:HEADER_SIZE - 4]) != header_crc:
        raise _corrupt(path, "header checksum mismatch (damaged file)")
    if version != CONTAINER_VERSION:
        raise _corrupt(path, f"checkpoint container version {version} is not supported "
                             f"(this enec reads version {CONTAINER_VERSION}); upgrade enec")
    if reserved != 0:
        raise _corrupt(path, "reserved header field is not zero")
    if index_len > size - HEADER_SIZE:
        raise _corrupt(path, f"truncated: index of {index_len} bytes does not fit in {size} bytes")
    data_start = _align(HEADER_SIZE + index_len)
    if data_start + data_size != size:
        raise _corrupt(path, f"file is {size} bytes but its header says {data_start + data_size} "
                             f"(truncated or has trailing data)")
    raw = f.read(index_len)
    if _enec.crc32c(raw) != index_crc:
        raise _corrupt(path, "index checksum mismatch (damaged file)")
    if any(f.read(data_start - HEADER_SIZE - index_len)):
        raise _corrupt(path, "padding after the index is not zero")
    try:
        index = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_dup_keys)
    except (ValueError, RecursionError) as e:
        raise _corrupt(path, f"unreadable index: {e}") from None

    if not isinstance(index, dict) or set(index) != {"tensors", "metadata"}:
        raise _corrupt(path, "index must be an object with exactly 'tensors' and 'metadata'")
    metadata = index["metadata"]
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(v, str) for v in metadata.values())):
        raise _corrupt(path, "index metadata must be null or an object of strings")
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
        if not isinstance(dt, str):
            raise _corrupt(path, f"tensor {name!r}: dtype must be a string")
        if not isinstance(shape, list) or len(shape) > 32 or not all(_is_uint(d) for d in shape):
            raise _corrupt(path, f"tensor {name!r}: shape must be a list of at most 32 sizes >= 0")
        if not (_is_uint(off) and _is_uint(length)) or off % ALIGN or length < _MIN_STREAM \
                or off + length > data_size:
            raise _corrupt(path, f"tensor {name!r}: stream at offset {off!r}, length {length!r} "
                                 f"is misaligned or outside the {data_size}-byte data area")
        entries.append(TensorEntry(name, dt, tuple(shape), off, length))
    end = 0
    for e in sorted(entries, key=lambda e: e.offset):
        if e.offset < end:
            raise _corrupt(path, f"tensor {e.name!r}: stream overlaps the previous one")
        end = e.offset + e.length
    return entries, metadata, data_start


class CheckpointReader:
    """A memory-mapped .enec checkpoint; tensors are decoded one at a time, on access.

    Use as a context manager (or call close()). Mapping-like: keys(), `name in ckpt`,
    len(), iteration over names, ckpt[name]."""

    def __init__(self, path, framework: str = "np", *, threads: int = 0):
        self.path = os.fspath(path)
        self._framework = _framework(framework)
        self._threads = threads
        self._mm: Optional[mmap.mmap] = None
        with builtins.open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            entries, self._metadata, self._data_start = _parse_index(f, size, self.path)
            if entries:  # mmap refuses empty files, and a checkpoint without tensors needs none
                self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._closed = False
        try:
            for e in entries:
                self._check_stream(e)
        except BaseException:
            self.close()
            raise
        self._entries: Dict[str, TensorEntry] = {e.name: e for e in entries}

    def _check_stream(self, e: TensorEntry) -> None:
        """The stream header must agree with its index entry (cheap: reads the header only)."""
        try:
            with self._view(e.name, e) as v:
                h = _enec.read_header(v)
            dt = dtype_str(_dtype_from_header(h))
        except CorruptDataError as err:
            raise _corrupt(self.path, f"tensor {e.name!r}: {err}") from None
        if h["stream_size"] != e.length or dt != e.dtype or tuple(h["shape"]) != e.shape:
            raise _corrupt(self.path, f"tensor {e.name!r}: stream header ({dt}, {tuple(h['shape'])}, "
                                      f"{h['stream_size']} bytes) disagrees with the index "
                                      f"({e.dtype}, {e.shape}, {e.length} bytes)")

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

    def entry(self, name: str) -> TensorEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"enec: no tensor {name!r} in {self.path}") from None

    def _view(self, name: str, e: Optional[TensorEntry] = None) -> memoryview:
        if self._closed:
            raise ValueError(f"enec: checkpoint {self.path} is closed")
        e = e or self.entry(name)
        start = self._data_start + e.offset
        return memoryview(self._mm)[start:start + e.length]

    def stream(self, name: str) -> bytes:
        """The tensor's enec stream, as a copy."""
        with self._view(name) as v:
            return bytes(v)

    def inspect(self, name: str):
        """enec.inspect() of the tensor's stream: dtype, shape, params, sizes, without decoding."""
        with self._view(name) as v:
            return inspect(v)

    def get_tensor(self, name: str, framework: Optional[str] = None):
        """Decode one tensor (NumPy array, or torch tensor with framework='pt')."""
        fw = self._framework if framework is None else _framework(framework)
        with self._view(name) as v:
            try:
                a = decompress(v, threads=self._threads)
            except CorruptDataError as e:
                raise _corrupt(self.path, f"tensor {name!r}: {e}") from None
        return _convert(a, fw)

    __getitem__ = get_tensor

    def close(self) -> None:
        self._closed = True
        mm, self._mm = self._mm, None
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                pass  # a view escaped through a traceback; the map is unmapped when it is collected

    def __enter__(self) -> "CheckpointReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self)} tensors"
        return f"<enec checkpoint {self.path!r}: {state}>"


def open(path, framework: str = "np", *, threads: int = 0) -> CheckpointReader:  # noqa: A001
    """Open an .enec checkpoint lazily: memory-mapped, one tensor decoded per access.

        with enec.open("model.enec") as ckpt:
            w = ckpt["encoder.layer.0.attention.self.query.weight"]
    """
    return CheckpointReader(path, framework, threads=threads)


def load_file(path, framework: str = "np", *, threads: int = 0) -> Dict[str, object]:
    """Decode every tensor of an .enec checkpoint: {name: array} (torch tensors with framework='pt')."""
    with CheckpointReader(path, framework, threads=threads) as ckpt:
        return {name: ckpt.get_tensor(name) for name in ckpt.keys()}


def is_checkpoint(path) -> bool:
    """True when the file starts with the checkpoint magic (nothing else is checked)."""
    with builtins.open(path, "rb") as f:
        return f.read(4) == MAGIC
