"""The safetensors layout as enec needs it: the raw header, tensor byte ranges, dtypes, a streaming writer.

The safetensors package validates a file (we open it with safe_open before
trusting anything) and reads tensors, but it offers no access to the
header's exact bytes, the data offsets or a writer that takes one tensor at a
time; byte-identical round trips and bounded memory need all three, so this
module reads the header JSON itself (after safetensors accepted the file) and
writes files in the layout the safetensors specification defines: an 8-byte
little-endian header length, the JSON header (padded with spaces to a
multiple of 8, as the reference writer does), then each tensor's bytes.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import ml_dtypes
import numpy as np

# safetensors dtype name -> NumPy dtype (None: a sub-byte type NumPy cannot hold; kept as raw bytes)
ST_TO_NP: Dict[str, Optional[np.dtype]] = {
    "BOOL": np.dtype(bool), "U8": np.dtype("u1"), "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "U32": np.dtype("<u4"), "I32": np.dtype("<i4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn), "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2),
    "F8_E8M0": np.dtype(ml_dtypes.float8_e8m0fnu),
    "F8_E4M3FNUZ": np.dtype(ml_dtypes.float8_e4m3fnuz), "F8_E5M2FNUZ": np.dtype(ml_dtypes.float8_e5m2fnuz),
    "C64": np.dtype("<c8"), "C128": np.dtype("<c16"),
    # packed sub-byte floats (two F4 per byte, four F6 per three bytes): no NumPy layout
    "F4": None, "F6_E2M3": None, "F6_E3M2": None,
}
NP_TO_ST: Dict[np.dtype, str] = {v: k for k, v in ST_TO_NP.items() if v is not None}


@dataclass(frozen=True)
class StEntry:
    name: str
    st_dtype: str
    shape: Tuple[int, ...]
    begin: int  # byte range in the data area
    end: int

    @property
    def np_dtype(self) -> np.dtype:
        """The dtype enec stores: the tensor's own, or uint8 raw bytes for a sub-byte type."""
        return ST_TO_NP.get(self.st_dtype) or np.dtype("u1")

    @property
    def np_shape(self) -> Tuple[int, ...]:
        return self.shape if ST_TO_NP.get(self.st_dtype) is not None else (self.end - self.begin,)


@dataclass(frozen=True)
class StHeader:
    raw: bytes  # the file's first 8 + N bytes, exactly
    entries: List[StEntry]  # in data order (by begin)
    metadata: Optional[Dict[str, str]]

    @property
    def data_start(self) -> int:
        return len(self.raw)

    @property
    def file_size(self) -> int:
        return self.data_start + (self.entries[-1].end if self.entries else 0)


def parse_header(raw: bytes, where: str) -> StHeader:
    """Parse a safetensors header (its first 8 + N bytes). ValueError when it is not one enec can use."""
    if len(raw) < 8:
        raise ValueError(f"{where}: not a safetensors header (shorter than 8 bytes)")
    (n,) = struct.unpack_from("<Q", raw)
    if len(raw) != 8 + n:
        raise ValueError(f"{where}: safetensors header is {len(raw) - 8} bytes, its length field says {n}")
    try:
        head = json.loads(raw[8:].decode("utf-8"))
    except ValueError as e:
        raise ValueError(f"{where}: unreadable safetensors header: {e}") from None
    if not isinstance(head, dict):
        raise ValueError(f"{where}: safetensors header is not a JSON object")
    metadata = head.pop("__metadata__", None)
    entries = []
    for name, t in head.items():
        try:
            dt, shape, (b, e) = t["dtype"], tuple(int(d) for d in t["shape"]), t["data_offsets"]
        except (TypeError, KeyError, ValueError) as err:
            raise ValueError(f"{where}: tensor {name!r}: malformed safetensors entry ({err})") from None
        if dt not in ST_TO_NP:
            raise ValueError(f"{where}: tensor {name!r}: safetensors dtype {dt!r} is not known to enec")
        entries.append(StEntry(name, dt, shape, int(b), int(e)))
    entries.sort(key=lambda e: (e.begin, e.end))
    pos = 0
    for e in entries:
        npdt = ST_TO_NP[e.st_dtype]
        if e.begin != pos or e.end < e.begin or (npdt is not None and
                                                 e.end - e.begin != int(np.prod(e.shape)) * npdt.itemsize):
            raise ValueError(f"{where}: tensor {e.name!r}: data offsets [{e.begin}, {e.end}) do not "
                             f"follow the previous tensor or do not match its shape and dtype")
        pos = e.end
    return StHeader(bytes(raw), entries, metadata)


def read_header(path) -> StHeader:
    """The header of a .safetensors file, after the safetensors package has accepted the file."""
    from safetensors import safe_open

    path = os.fspath(path)
    try:
        with safe_open(path, framework="np"):
            pass
    except FileNotFoundError:
        raise
    except Exception as e:  # SafetensorError for malformed files
        raise ValueError(f"enec: {path} is not a readable .safetensors file: {e}") from None
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        raw = struct.pack("<Q", n) + f.read(n)
        size = os.fstat(f.fileno()).st_size
    h = parse_header(raw, path)
    if h.file_size != size:
        raise ValueError(f"enec: {path}: file is {size} bytes, its header describes {h.file_size}")
    return h


def make_header(tensors: List[Tuple[str, np.dtype, Tuple[int, ...]]],
                metadata: Optional[Dict[str, str]]) -> StHeader:
    """A safetensors header for these tensors, data laid out in the order given."""
    head: Dict[str, object] = {}
    if metadata is not None:
        head["__metadata__"] = metadata
    pos = 0
    for name, dt, shape in tensors:
        dt = np.dtype(dt)
        if dt not in NP_TO_ST:
            raise TypeError(f"enec: tensor {name!r}: dtype {dt} has no safetensors equivalent")
        n = int(np.prod(shape)) * dt.itemsize
        head[name] = {"dtype": NP_TO_ST[dt], "shape": list(shape), "data_offsets": [pos, pos + n]}
        pos += n
    body = json.dumps(head, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    body += b" " * (-len(body) % 8)
    return parse_header(struct.pack("<Q", len(body)) + body, "generated header")


def is_safetensors(path) -> bool:
    """True when the file looks like safetensors (a u64 header length, then a JSON object)."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 8 + struct.unpack_from("<Q", head)[0] <= size
