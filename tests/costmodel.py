"""Independent NumPy reference for docs/FORMAT.md (format version 1).

Nothing here imports ``enec``: it is written from the specification only, so
the tests can compare the package against it.

Contents
--------
* dtype table (section 2: exponent split, raw bits)
* ``crc32c`` (pure Python, table driven)
* ``ref_search``: the reference parameter search of section 5
* ``coded_sizes``: the exact size of a coded stream (sections 1, 3, 4)
* ``pack``: hierarchical-halving packing (section 4)
* ``ref_encode_coded`` / ``ref_encode_stored``: byte-exact reference streams
* ``parse_header``: header parser (section 1)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import ml_dtypes
import numpy as np

BLOCK = 16384
MAGIC = b"ENEC"
VERSION = 1
HEADER_FMT = "<4sHBBIBBBBBBHIQQI"  # the fixed 44 bytes before the shape
assert struct.calcsize(HEADER_FMT) == 44

BF16 = np.dtype(ml_dtypes.bfloat16)


@dataclass(frozen=True)
class Kind:
    name: str
    code: int  # header dtype code
    E: int  # exponent bits
    rawbits: int  # raw bits per element
    itemsize: int
    word: type  # unsigned word type

    @property
    def M(self) -> int:
        """Mantissa bits: the exponent sits right above them, the sign on top."""
        return self.rawbits - 1


KINDS = {
    "bfloat16": Kind("bfloat16", 1, 8, 8, 2, np.uint16),
    "float16": Kind("float16", 2, 5, 11, 2, np.uint16),
    "float32": Kind("float32", 3, 8, 24, 4, np.uint32),
    "float8_e4m3fn": Kind("float8_e4m3fn", 4, 4, 4, 1, np.uint8),
    "float8_e5m2": Kind("float8_e5m2", 5, 5, 3, 1, np.uint8),
}

FLOAT_DTYPES = {
    "bfloat16": BF16,
    "float16": np.dtype("<f2"),
    "float32": np.dtype("<f4"),
    "float8_e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn),
    "float8_e5m2": np.dtype(ml_dtypes.float8_e5m2),
}


def kind_of(dtype) -> Kind | None:
    """The coded kind of a NumPy dtype, or None when it is stored verbatim."""
    dtype = np.dtype(dtype)
    for name, dt in FLOAT_DTYPES.items():
        if dtype == dt:
            return KINDS[name]
    return None


def words_of(arr: np.ndarray, kind: Kind) -> np.ndarray:
    """Canonical (C-order) element words of ``arr`` as unsigned integers."""
    flat = np.ascontiguousarray(arr).reshape(-1)
    assert flat.dtype.itemsize == kind.itemsize
    return flat.view(kind.word)


def exponents(words: np.ndarray, kind: Kind) -> np.ndarray:
    w = words.astype(np.int64)
    return (w >> kind.M) & ((1 << kind.E) - 1)


# --------------------------------------------------------------------------
# CRC-32C


def _crc_table():
    poly = 0x82F63B78  # reflected 0x1EDC6F41
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (poly if c & 1 else 0)
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data, crc: int = 0) -> int:
    table = _CRC_TABLE
    crc ^= 0xFFFFFFFF
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --------------------------------------------------------------------------
# Parameter search (section 5)


def bitlen(v: int) -> int:
    return int(v).bit_length()


def ceil_log2(v: int) -> int:
    v = int(v)
    return 0 if v <= 1 else (v - 1).bit_length()


def n_for(b: int, l: int, h: int) -> int:
    return max(bitlen(b - l), ceil_log2(h - b)) + 1


def pow_L(p: float, L: int) -> float:
    """p**L by repeated squaring (L a power of two)."""
    r = p
    k = 1
    while k < L:
        r = r * r
        k *= 2
    return r


@dataclass(frozen=True)
class RefParams:
    b: int
    n: int
    m: int
    L: int
    bits: float


def ref_search_exponents(x: np.ndarray, kind: Kind) -> RefParams:
    count = int(x.size)
    if count == 0:
        raise ValueError("empty")
    c = np.bincount(x, minlength=1 << kind.E).astype(np.int64)
    present = np.nonzero(c)[0]
    l, h = int(present[0]), int(present[-1])
    xs = np.arange(1 << kind.E, dtype=np.int64)
    best = None
    for b in range(l, h + 1):
        n = n_for(b, l, h)
        y = (b - xs) % (1 << n)
        D = int((c * y).sum())
        if best is None or D < best[0]:
            best = (D, b, n)
    _, b, n = best
    y = (b - xs) % (1 << n)
    p = []
    for m in range(n + 1):
        cnt = int(c[y < (1 << m)].sum())
        p.append(cnt / count)
    bestB = None
    for L in (16, 32, 64):
        for m in range(n + 1):
            B = 1.0 / L + n + (m - n) * pow_L(p[m], L)
            if bestB is None or B < bestB[0]:
                bestB = (B, m, L)
    B, m, L = bestB
    return RefParams(b, n, m, L, B)


def ref_search(arr: np.ndarray, kind: Kind | None = None) -> RefParams:
    kind = kind or kind_of(arr.dtype)
    return ref_search_exponents(exponents(words_of(arr, kind), kind), kind)


def params_cover(x: np.ndarray, b: int, n: int) -> bool:
    """Whether n is wide enough for every exponent present (section 2)."""
    if x.size == 0:
        return True
    d = b - x
    return bool(d.min() >= -(1 << (n - 1)) and d.max() <= (1 << (n - 1)) - 1)


# --------------------------------------------------------------------------
# Sizes


def header_size(ndim: int, descr_len: int = 0) -> int:
    return 48 + 8 * ndim + descr_len


def stored_size(count: int, itemsize: int, ndim: int, descr_len: int = 0) -> int:
    return header_size(ndim, descr_len) + count * itemsize


def _blocks_y(y: np.ndarray, L: int):
    """Yield (valid, B, G, y2d) per block; y2d[k, j] is element j + k*G of the
    block, padding elements (code 0) included."""
    count = y.size
    nfull = count // BLOCK
    G = BLOCK // L
    if nfull:
        full = y[: nfull * BLOCK].reshape(nfull, L, G)
        for i in range(nfull):
            yield BLOCK, BLOCK, G, full[i]
    rest = count - nfull * BLOCK
    if rest:
        Bn = -(-rest // L) * L
        pad = np.zeros(Bn, dtype=y.dtype)
        pad[:rest] = y[nfull * BLOCK :]
        yield rest, Bn, Bn // L, pad.reshape(L, Bn // L)


def flag_counts(y: np.ndarray, m: int, L: int) -> list[int]:
    """Flagged groups F per block (vectorised over full blocks)."""
    count = y.size
    nfull = count // BLOCK
    out = []
    if nfull:
        full = y[: nfull * BLOCK].reshape(nfull, L, BLOCK // L)
        out.extend(int(v) for v in (full >= (1 << m)).any(axis=1).sum(axis=1))
    rest = count - nfull * BLOCK
    if rest:
        Bn = -(-rest // L) * L
        pad = np.zeros(Bn, dtype=y.dtype)
        pad[:rest] = y[nfull * BLOCK :]
        out.append(int((pad.reshape(L, Bn // L) >= (1 << m)).any(axis=0).sum()))
    return out


@dataclass(frozen=True)
class CodedSizes:
    nblocks: int
    header: int
    table: int
    payload: int
    total: int
    high_sizes: tuple


def coded_sizes(arr: np.ndarray, b: int, n: int, m: int, L: int,
                kind: Kind | None = None, descr_len: int = 0) -> CodedSizes:
    kind = kind or kind_of(arr.dtype)
    x = exponents(words_of(arr, kind), kind)
    count = x.size
    y = (b - x) % (1 << n)
    nblocks = -(-count // BLOCK)
    Fs = flag_counts(y, m, L)
    assert len(Fs) == nblocks
    payload = 0
    highs = []
    for i, F in enumerate(Fs):
        valid = BLOCK if i < nblocks - 1 else count - BLOCK * (nblocks - 1)
        Bn = -(-valid // L) * L
        G = Bn // L
        hs = F * L * (n - m) // 8
        assert (F * L * (n - m)) % 8 == 0
        assert (Bn * kind.rawbits) % 8 == 0 and (Bn * m) % 8 == 0
        payload += Bn * kind.rawbits // 8 + Bn * m // 8 + -(-G // 8) + hs
        highs.append(hs)
    hdr = header_size(arr.ndim, descr_len)
    table = 8 * nblocks + 4
    return CodedSizes(nblocks, hdr, table, payload, hdr + table + payload, tuple(highs))


# --------------------------------------------------------------------------
# Packing (section 4)


def pack(v: np.ndarray, w: int) -> bytes:
    v = np.asarray(v, dtype=np.uint16).copy()
    N = v.size
    assert N % 8 == 0 and 0 <= w <= 9
    if w == 0:
        return b""
    assert int(v.max(initial=0)) < (1 << w)
    out = []
    while w > 0:
        while w < 8:
            N //= 2
            v = (v[:N] | (v[N : 2 * N] << np.uint16(w))).astype(np.uint16)
            w *= 2
        out.append((v[:N] & 0xFF).astype(np.uint8).tobytes())
        v = (v[:N] >> np.uint16(8)).astype(np.uint16)
        w -= 8
    return b"".join(out)


def unpack(data: bytes, N: int, w: int) -> np.ndarray:
    """Inverse of pack, written independently (bit positions computed
    from the pack schedule by tracking where each value bit lands)."""
    # Simulate the schedule with lane bit-maps: for each output bit, which
    # (value index, bit) it holds.
    if w == 0:
        return np.zeros(N, dtype=np.uint16)
    lanes = [[(i, b) for b in range(w)] for i in range(N)]  # lane bits, LSB first
    nn, ww = N, w
    out_bits = []
    while ww > 0:
        while ww < 8:
            nn //= 2
            lanes = [lanes[i] + lanes[i + nn] for i in range(nn)]
            ww *= 2
        for i in range(nn):
            out_bits.extend(lanes[i][:8])
        lanes = [lanes[i][8:] for i in range(nn)]
        ww -= 8
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    assert bits.size == len(out_bits)
    res = np.zeros(N, dtype=np.uint16)
    for pos, (i, b) in enumerate(out_bits):
        if bits[pos]:
            res[i] |= 1 << b
    return res


# --------------------------------------------------------------------------
# Reference streams


def _header(mode, code, itemsize, shape, descr, b, n, m, L, count, payload_size, data_crc):
    fixed = struct.pack(HEADER_FMT, MAGIC, VERSION, mode, code, itemsize, len(shape),
                        len(descr), b, n, m, L, 0, BLOCK, count, payload_size, data_crc)
    body = fixed + b"".join(struct.pack("<Q", d) for d in shape) + descr
    return body + struct.pack("<I", crc32c(body))


def raw_section(words: np.ndarray, kind: Kind) -> bytes:
    u = words.astype(np.uint32)
    if kind.name == "bfloat16":
        r8 = ((u >> 8) & 0x80) | (u & 0x7F)
        return r8.astype(np.uint8).tobytes()
    if kind.name == "float16":
        r8 = u & 0xFF
        r3 = ((u >> 13) & 4) | ((u >> 8) & 3)
        return r8.astype(np.uint8).tobytes() + pack(r3, 3)
    if kind.name == "float32":
        hi = u >> 16
        r8 = ((hi >> 8) & 0x80) | (hi & 0x7F)
        r16 = u & 0xFFFF
        return r8.astype(np.uint8).tobytes() + r16.astype("<u2").tobytes()
    # float8: sign above the mantissa, packed (FORMAT.md section 4, "raw packed")
    r = ((u >> 7) << kind.M) | (u & ((1 << kind.M) - 1))
    return pack(r, kind.rawbits)


def ref_encode_coded(arr: np.ndarray, b: int, n: int, m: int, L: int,
                     descr: bytes = b"") -> bytes:
    kind = kind_of(arr.dtype)
    words = words_of(arr, kind)
    count = words.size
    x = exponents(words, kind)
    y = (b - x) % (1 << n)
    nblocks = -(-count // BLOCK)
    raws, lows, masks, highs, table = [], [], [], [], []
    for i in range(nblocks):
        wb = words[i * BLOCK : (i + 1) * BLOCK]
        yb = y[i * BLOCK : (i + 1) * BLOCK]
        valid = wb.size
        Bn = -(-valid // L) * L
        G = Bn // L
        wpad = np.zeros(Bn, dtype=words.dtype)
        wpad[:valid] = wb
        ypad = np.zeros(Bn, dtype=np.int64)
        ypad[:valid] = yb
        # raw parts of padding are 0: zero the words of padding elements
        raws.append(raw_section(wpad, kind))
        lows.append(pack(ypad & ((1 << m) - 1), m))
        y2d = ypad.reshape(L, G)
        flags = (y2d >= (1 << m)).any(axis=0)
        masks.append(np.packbits(flags.astype(np.uint8), bitorder="little").tobytes())
        hv = (y2d[:, flags] >> m).reshape(-1)  # index k*F + r
        hb = pack(hv, n - m)
        highs.append(hb)
        crc = crc32c(wb.astype(wb.dtype.newbyteorder("<")).tobytes())
        table.append(struct.pack("<II", crc, len(hb)))
    payload = b"".join(raws) + b"".join(lows) + b"".join(masks) + b"".join(highs)
    entries = b"".join(table)
    hdr = _header(1, kind.code, kind.itemsize, arr.shape, descr, b, n, m, L, count,
                  len(payload), 0)
    return hdr + entries + struct.pack("<I", crc32c(entries)) + payload


def ref_encode_stored(arr: np.ndarray, code: int, descr: bytes) -> bytes:
    payload = np.ascontiguousarray(arr).tobytes()
    return _header(0, code, arr.dtype.itemsize, arr.shape, descr, 0, 0, 0, 0, arr.size,
                   len(payload), crc32c(payload)) + payload


# --------------------------------------------------------------------------
# Parsing


@dataclass
class Header:
    magic: bytes
    version: int
    mode: int
    dtype: int
    itemsize: int
    ndim: int
    descr_len: int
    b: int
    n: int
    m: int
    L: int
    reserved: int
    block: int
    count: int
    payload_size: int
    data_crc: int
    shape: tuple
    descr: bytes
    header_crc: int
    size: int  # header bytes incl. header_crc

    @property
    def nblocks(self) -> int:
        return -(-self.count // self.block) if self.block else 0

    @property
    def table_size(self) -> int:
        return 8 * self.nblocks + 4 if self.mode == 1 else 0


def parse_header(data: bytes) -> Header:
    f = struct.unpack_from(HEADER_FMT, data, 0)
    ndim, descr_len = f[5], f[6]
    shape = struct.unpack_from(f"<{ndim}Q", data, 44)
    off = 44 + 8 * ndim
    descr = bytes(data[off : off + descr_len])
    (hcrc,) = struct.unpack_from("<I", data, off + descr_len)
    return Header(*f, shape=tuple(shape), descr=descr, header_crc=hcrc,
                  size=off + descr_len + 4)


def header_crc_ok(data: bytes) -> bool:
    h = parse_header(data)
    return crc32c(data[: h.size - 4]) == h.header_crc


def fix_header_crc(data: bytearray) -> bytearray:
    """Recompute the header CRC after editing header fields in place."""
    h = parse_header(bytes(data))
    struct.pack_into("<I", data, h.size - 4, crc32c(bytes(data[: h.size - 4])))
    return data


def expected_mode(arr: np.ndarray, b: int, n: int, m: int, L: int) -> str:
    """Coded exactly when the coded stream is smaller than the stored one
    (FORMAT.md section 5); the coded dtypes carry no descr."""
    if arr.size == 0:
        return "stored"
    cs = coded_sizes(arr, b, n, m, L)
    st = stored_size(arr.size, arr.dtype.itemsize, arr.ndim, 0)
    return "fast" if cs.total < st else "stored"


def predicted_ratio(kind: Kind, bits: float) -> float:
    return 8 * kind.itemsize / (kind.rawbits + bits)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


