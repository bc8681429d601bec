"""The NumPy-facing API: dtype handling around the C codec in enec._enec."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import NamedTuple, Optional, Tuple

import ml_dtypes
import numpy as np

from . import _enec, _torch

CorruptDataError = _enec.CorruptDataError
UnsupportedFormatError = _enec.UnsupportedFormatError
BLOCK: int = _enec.BLOCK
FORMAT_VERSION: int = _enec.FORMAT_VERSION

_BF16 = np.dtype(ml_dtypes.bfloat16)


def _numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of a row of the C dtype table: ml_dtypes' type, or a little-endian NumPy float."""
    t = getattr(ml_dtypes, name, None)
    return np.dtype(t) if t is not None else np.dtype(name).newbyteorder("<")


# The coded dtypes come from the C library's table (csrc/codec/dtypes.c), the one place they are
# defined: dtype -> (format dtype code, raw bits per element). Every other dtype is stored.
_CODED = {_numpy_dtype(row["name"]): (row["code"], row["rawbits"]) for row in _enec.dtypes()}
_CODE_DTYPE = {code: dt for dt, (code, _) in _CODED.items()}
_ML_PREFIX = "ml_dtypes:"
# Stream modes a caller may ask compress() for; enec.inspect() reports these names too.
MODES = ("fast", "stored")
_MODE_CODES = _enec.modes()


class Params(NamedTuple):
    """ENEC parameters of a tensor: base exponent b, code width n, low width m, group length L.

    bits is the predicted exponent cost in bits per element (None when read from a stream)."""

    b: int
    n: int
    m: int
    L: int
    bits: Optional[float] = None

    def predicted_ratio(self, dtype) -> float:
        """Original size over predicted size for this dtype, from the cost model of ENEC.md section 4."""
        dt = _resolve_dtype(dtype)
        if dt not in _CODED or self.bits is None:
            raise ValueError("predicted_ratio needs a coded dtype and searched parameters")
        return 8 * dt.itemsize / (_CODED[dt][1] + self.bits)


@dataclass(frozen=True)
class StreamInfo:
    """What enec.inspect() reads from a stream's header, without decoding it."""

    version: int
    mode: str  # "fast" (ENEC coded) or "stored"
    dtype: np.dtype
    shape: Tuple[int, ...]
    count: int
    params: Optional[Params]
    nblocks: int
    header_size: int  # header plus, when coded, the block table
    original_size: int
    compressed_size: int

    @property
    def coded(self) -> bool:
        """True unless the stream holds the bytes verbatim."""
        return self.mode != "stored"

    @property
    def ratio(self) -> float:
        return self.original_size / self.compressed_size if self.compressed_size else 0.0


_BACKEND_IDS = dict(_enec.backend_ids())


def backends() -> list:
    """Names of the backends this machine can run, slowest (the scalar reference) first."""
    return [name for name, i in sorted(_BACKEND_IDS.items(), key=lambda kv: kv[1])
            if _enec.backend_available(i)]


#: The backend backend="auto" uses on this machine.
backend: str = _enec.auto_backend()


def _backend_id(name: str) -> int:
    if name == "auto":
        return 0
    if name not in _BACKEND_IDS:
        raise ValueError(f"enec: unknown backend {name!r}; known: auto, {', '.join(_BACKEND_IDS)}")
    if not _enec.backend_available(_BACKEND_IDS[name]):
        raise ValueError(f"enec: backend {name!r} cannot run on this machine; available: {backends()}")
    return _BACKEND_IDS[name]


def _resolve_dtype(dtype) -> np.dtype:
    if isinstance(dtype, str) and dtype.lower() in ("bfloat16", "bf16"):
        return _BF16
    return np.dtype(dtype)


def _descr(dt: np.dtype) -> bytes:
    """Text that rebuilds dt on decode; empty for the coded dtypes (the code says it all)."""
    if dt in _CODED:
        return b""
    if dt.type.__module__ == "ml_dtypes" or type(dt).__module__.startswith("ml_dtypes"):
        return (_ML_PREFIX + dt.name).encode()
    return repr(np.lib.format.dtype_to_descr(dt)).encode()


def _dtype_from_header(h: dict) -> np.dtype:
    if h["dtype"] in _CODE_DTYPE:
        return _CODE_DTYPE[h["dtype"]]
    text = h["descr"].decode("ascii", "replace")
    try:
        if text.startswith(_ML_PREFIX):
            dt = np.dtype(getattr(ml_dtypes, text[len(_ML_PREFIX):]))
        else:
            dt = np.lib.format.descr_to_dtype(ast.literal_eval(text))
    except Exception as e:  # any failure here means the stream does not describe a dtype we can build
        raise CorruptDataError(f"enec: stream has an unreadable dtype description {text!r}") from e
    if dt.hasobject or dt.itemsize != h["itemsize"]:
        raise CorruptDataError(f"enec: dtype description {text!r} does not match the stream")
    return dt


def _as_array(array) -> np.ndarray:
    """Inputs NumPy would read in a way that loses or changes the data are refused here."""
    if array is None or isinstance(array, str):
        raise TypeError(f"enec: expected an array or a bytes-like object, got {type(array).__name__}")
    if isinstance(array, np.ma.MaskedArray):
        raise TypeError("enec: a masked array would lose its mask; compress .data and .mask separately")
    if isinstance(array, (bytes, bytearray)):
        # as numcodecs does: raw bytes are a 1-d uint8 array (np.asarray would make a 0-d 'S' scalar)
        return np.frombuffer(array, dtype=np.uint8)
    return np.asarray(array)


def _prepare(array, dtype) -> np.ndarray:
    """A C-contiguous array of the dtype to code; no copy when the input already is one."""
    a = _torch.to_numpy(array) if _torch.is_tensor(array) else _as_array(array)
    if dtype is not None:
        target = _resolve_dtype(dtype)
        if a.dtype != target:
            if a.dtype.itemsize != target.itemsize or a.dtype.kind not in "uifV":
                raise TypeError(f"enec: cannot read {a.dtype} data as {target}: "
                                f"pass raw bits of the same itemsize ({target.itemsize} bytes)")
            a = a.view(target)
    if a.dtype.hasobject:
        raise TypeError("enec: object arrays cannot be compressed; convert to a numeric dtype first")
    if a.dtype.itemsize == 0:
        raise TypeError(f"enec: dtype {a.dtype} has no bytes to store")
    if a.flags.c_contiguous:
        return a
    try:
        # not np.ascontiguousarray: it turns 0-d arrays into 1-d ones
        return a.copy(order="C")
    except MemoryError as e:  # e.g. np.broadcast_to of a small array to a huge shape
        raise ValueError(f"enec: this {a.shape} {a.dtype} array is not C-contiguous and its C-order copy "
                         f"({a.nbytes} bytes) cannot be allocated; compress a smaller or contiguous array "
                         f"(for a broadcast view, the array before broadcasting)") from e


def _bytes_view(a: np.ndarray) -> memoryview:
    return memoryview(a.reshape(-1).view(np.uint8))


def compress(array, *, dtype=None, threads: int = 0, params=None, backend: str = "auto",
             mode: str = "fast") -> bytes:
    """Compress an array losslessly into one enec stream.

    bfloat16 (ml_dtypes), float16, float32, float8_e4m3fn and float8_e5m2 (ml_dtypes) are coded
    with ENEC when that is smaller; every other dtype, and data that would not shrink, is stored
    verbatim.
    mode: "fast" (ENEC's fixed-length exponent code, the default) or "stored" (verbatim).
    dtype: read the array's bits as this dtype ("bfloat16" for uint16 data).
    threads: worker threads, 0 = all cores; the output is the same for any count.
    params: force (b, n, m, L) instead of searching; ValueError if they cannot code the data.
    backend: "auto", or one of enec.backends(); every backend writes the same bytes.
    """
    bid = _backend_id(backend)
    if mode not in MODES:
        raise ValueError(f"enec: unknown mode {mode!r}; choose one of {', '.join(map(repr, MODES))}")
    a = _prepare(array, dtype)
    code = _CODED.get(a.dtype, (0, 0))[0]
    if params is not None:
        if code == 0:
            raise TypeError(f"enec: params given but {a.dtype} is not an ENEC-coded dtype")
        if mode != "fast":
            raise ValueError(f"enec: params apply to mode 'fast', not {mode!r}")
        params = tuple(int(v) for v in tuple(params)[:4])
    stored = mode == "stored"
    return _enec.compress(_bytes_view(a), code, a.dtype.itemsize, a.shape, _descr(a.dtype),
                          threads=int(threads), params=params, backend=bid, stored=stored,
                          mode=_MODE_CODES["fast"])


def _stream(data) -> memoryview:
    """A C-contiguous byte view of an encoded stream (copied only if it is not contiguous)."""
    try:
        mv = memoryview(data)
    except TypeError:
        raise TypeError(f"enec: a stream is bytes or a bytes-like object (bytearray, memoryview, "
                        f"uint8 ndarray), not {type(data).__name__}") from None
    if not mv.c_contiguous:
        mv = memoryview(mv.tobytes())
    return mv.cast("B") if mv.format != "B" or mv.ndim != 1 else mv


def _nbytes(data) -> int:
    return memoryview(data).nbytes


def decompress(data, *, out: Optional[np.ndarray] = None, threads: int = 0,
               backend: str = "auto", max_size: Optional[int] = None) -> np.ndarray:
    """Decode an enec stream to an array of its original dtype and shape.

    out: a writable C-contiguous array with the stream's element count and itemsize to decode into.
    max_size: refuse (ValueError) a stream that decodes to more than this many bytes, checked
    from the header before anything is allocated. None (the default) sets no limit of its own;
    the format already bounds a valid stream's output by 8/3 of its length (FORMAT.md section 8),
    so memory use stays proportional to the input either way.
    Raises CorruptDataError for damaged, truncated or foreign input, and its subclass
    UnsupportedFormatError for an intact stream of a newer format (version, mode or dtype)."""
    bid = _backend_id(backend)
    if max_size is not None and (not isinstance(max_size, (int, np.integer)) or max_size < 0):
        raise ValueError(f"enec: max_size must be None or a byte count >= 0, got {max_size!r}")
    data = _stream(data)
    h = _enec.read_header(data)
    if h["stream_size"] != _nbytes(data):
        raise CorruptDataError(f"enec: stream is {h['stream_size']} bytes but {_nbytes(data)} were given")
    if max_size is not None and h["original_size"] > max_size:
        raise ValueError(f"enec: stream decodes to {h['original_size']} bytes, more than "
                         f"max_size={max_size}; pass a larger max_size (or None) if you trust it")
    dt = _dtype_from_header(h)
    if out is None:
        try:
            out = np.empty(h["shape"], dtype=dt)
        except (ValueError, OverflowError) as e:
            # an empty tensor can declare dimensions NumPy cannot represent, e.g. (2**62, 0)
            raise CorruptDataError(f"enec: stream declares shape {h['shape']}, which NumPy cannot build") from e
    else:
        if not isinstance(out, np.ndarray) or not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("enec: out must be a writable C-contiguous numpy array")
        if out.size != h["count"] or out.dtype.itemsize != dt.itemsize:
            raise ValueError(f"enec: out must hold {h['count']} elements of {dt.itemsize} bytes, "
                             f"got {out.size} of {out.dtype.itemsize}")
    _enec.decompress_into(data, _bytes_view(out), threads=int(threads), backend=bid,
                          max_size=int(max_size or 0))
    return out


def inspect(data) -> StreamInfo:
    """Read a stream's header: dtype, shape, parameters and sizes, without decoding."""
    data = _stream(data)
    h = _enec.read_header(data)
    if h["stream_size"] != _nbytes(data):
        raise CorruptDataError(f"enec: stream is {h['stream_size']} bytes but {_nbytes(data)} were given")
    p = Params(*h["params"]) if h["params"] is not None else None
    return StreamInfo(version=h["version"], mode=h["mode"], dtype=_dtype_from_header(h),
                      shape=tuple(h["shape"]), count=h["count"], params=p, nblocks=h["nblocks"],
                      header_size=h["header_size"], original_size=h["original_size"],
                      compressed_size=h["stream_size"])


def search_params(array, *, dtype=None) -> Params:
    """The (b, n, m, L) enec.compress would choose, and the predicted exponent bits per element."""
    a = _prepare(array, dtype)
    if a.dtype not in _CODED:
        raise TypeError(f"enec: {a.dtype} is not coded by ENEC (coded: {', '.join(map(str, _CODED))})")
    if a.size == 0:
        raise ValueError("enec: cannot search parameters of an empty array")
    return Params(*_enec.search_params(_bytes_view(a), _CODED[a.dtype][0]))
