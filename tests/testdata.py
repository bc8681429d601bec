"""Deterministic test data and comparison helpers (no enec import)."""

from __future__ import annotations

import zlib

import ml_dtypes
import numpy as np

from costmodel import BF16, BLOCK, FLOAT_DTYPES, KINDS

CODED_NAMES = ("bfloat16", "float16", "float32", "float8_e4m3fn", "float8_e5m2")


def seed_for(*parts) -> int:
    """A stable seed derived from test parameters (hash() is salted)."""
    return zlib.crc32(repr(parts).encode())


def rng_for(*parts) -> np.random.Generator:
    return np.random.default_rng(seed_for(*parts))


# --------------------------------------------------------------------------
# comparisons


def bits_of(a: np.ndarray) -> bytes:
    """Canonical C-order bytes of any array (NaN payloads, -0 count)."""
    return np.asarray(a).tobytes(order="C")


def assert_bitexact(got, expected):
    assert isinstance(got, np.ndarray), type(got)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    if got.dtype.itemsize in (1, 2, 4, 8) and got.size and got.dtype.kind != "O":
        u = np.dtype(f"u{got.dtype.itemsize}")
        g = np.ascontiguousarray(got).reshape(-1).view(u)
        e = np.ascontiguousarray(expected).reshape(-1).view(u)
        if not np.array_equal(g, e):
            bad = np.nonzero(g != e)[0]
            raise AssertionError(
                f"{bad.size} of {g.size} elements differ; first at {bad[0]}: "
                f"got {g[bad[0]]:#x} expected {e[bad[0]]:#x}")
    assert bits_of(got) == bits_of(expected)


# --------------------------------------------------------------------------
# special values, as words

def special_words(name: str) -> np.ndarray:
    if KINDS[name].itemsize == 1:
        # float8: every one of the 256 patterns (zeros, subnormals, max, NaN, inf for e5m2)
        return np.arange(256, dtype=np.uint8)
    if name == "bfloat16" or name == "float32":
        # bf16 words; for float32 they are widened below
        pos = [0x0000, 0x0001, 0x0002, 0x007F, 0x0040, 0x0080, 0x0081, 0x7F7F, 0x7F7E,
               0x3F80, 0x7F80]
        nans = [0x7F81, 0x7F82, 0x7FC0, 0x7FC1, 0x7FFF, 0x7FA5, 0x7FBF]
        w = pos + [p | 0x8000 for p in pos] + nans + [p | 0x8000 for p in nans]
        w = np.array(w, dtype=np.uint16)
        if name == "bfloat16":
            return w
        lo = np.array([0x0000, 0x0001, 0xFFFF, 0x8000, 0x1234], dtype=np.uint32)
        w32 = (w.astype(np.uint32)[:, None] << 16 | lo[None, :]).reshape(-1)
        # inf must have zero low mantissa, otherwise it is a NaN (fine too);
        extra = np.array([0x00000001, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0x7F800000,
                          0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFFFFFFF,
                          0x7FFFFFFF, 0x80000001, 0x807FFFFF, 0x80000000],
                         dtype=np.uint32)
        return np.concatenate([w32, extra])
    # float16
    pos = [0x0000, 0x0001, 0x0002, 0x03FF, 0x0200, 0x0400, 0x0401, 0x7BFF, 0x7BFE,
           0x3C00, 0x7C00]
    nans = [0x7C01, 0x7C02, 0x7E00, 0x7E01, 0x7FFF, 0x7D55, 0x7DFF]
    w = pos + [p | 0x8000 for p in pos] + nans + [p | 0x8000 for p in nans]
    return np.array(w, dtype=np.uint16)


# --------------------------------------------------------------------------
# datasets: name -> function(kind_name, count, rng) -> float array (1-D)

def _as(name, f32: np.ndarray) -> np.ndarray:
    return f32.astype(FLOAT_DTYPES[name])


def data_gauss(name, count, rng):
    return _as(name, rng.normal(0.0, 0.02, count).astype(np.float32))


def data_const(name, count, rng):
    return _as(name, np.full(count, 0.0123, dtype=np.float32))


def data_special(name, count, rng):
    w = special_words(name)
    idx = rng.integers(0, w.size, count)
    if count >= w.size:
        idx[: w.size] = rng.permutation(w.size)
    return w[idx].view(FLOAT_DTYPES[name])


def data_randbits(name, count, rng):
    k = KINDS[name]
    if k.itemsize == 1:
        w = rng.integers(0, 256, count, dtype=np.uint32).astype(np.uint8)
    elif k.itemsize == 2:
        w = rng.integers(0, 1 << 16, count, dtype=np.uint32).astype(np.uint16)
        if count >= 65536:
            w[:65536] = rng.permutation(65536).astype(np.uint16)
    else:
        w = rng.integers(0, 1 << 32, count, dtype=np.uint64).astype(np.uint32)
    return w.view(FLOAT_DTYPES[name])


def data_wide(name, count, rng):
    """Nearly constant exponent with rare outliers over the whole exponent
    range: the search picks the widest n and m = 0."""
    k = KINDS[name]
    base = _as(name, np.full(count, 0.75, dtype=np.float32)).view(k.word).copy()
    # vary the mantissa/sign so the raw part is not trivial
    if k.itemsize == 1:
        base ^= rng.integers(0, 1 << k.M, count, dtype=np.uint8)
        base ^= (rng.integers(0, 2, count, dtype=np.uint8) << 7).astype(np.uint8)
    elif k.itemsize == 2:
        base ^= rng.integers(0, 64, count, dtype=np.uint16)
        base ^= (rng.integers(0, 2, count, dtype=np.uint16) << 15).astype(np.uint16)
    else:
        base ^= rng.integers(0, 1 << 20, count, dtype=np.uint32)
    nout = max(1, count // 1000) if count else 0
    pos = rng.choice(count, size=min(nout, count), replace=False) if count else []
    E = k.E
    ex = rng.integers(0, 1 << E, len(pos))
    if len(pos) >= 2:
        ex[0], ex[1] = 0, (1 << E) - 1  # both ends of the range
    shift = k.M
    mask = ((1 << E) - 1) << shift
    vals = (base[pos].astype(np.uint64) & ~np.uint64(mask)) | (ex.astype(np.uint64) << shift)
    base[pos] = vals.astype(k.word)
    return base.view(FLOAT_DTYPES[name])


def data_mixed(name, count, rng):
    """Gaussian weights with a sprinkle of special values."""
    a = data_gauss(name, count, rng).copy()
    if count:
        w = special_words(name)
        nsp = max(1, count // 500)
        pos = rng.choice(count, size=min(nsp, count), replace=False)
        a.view(KINDS[name].word)[pos] = w[rng.integers(0, w.size, pos.size)]
    return a


def data_ramp(name, count, rng):
    """Slowly varying magnitudes spanning many exponents (moderate n)."""
    x = np.linspace(-6, 6, count, dtype=np.float64)
    return _as(name, (np.sign(x) * 2.0 ** x * 0.01).astype(np.float32))


def _exp_band(name, count, rng, lo, hi):
    """Random sign and mantissa, exponent uniformly in [lo, hi]."""
    k = KINDS[name]
    shift = k.M
    w = rng.integers(0, 1 << (8 * k.itemsize), count, dtype=np.uint64)
    mask = ((1 << k.E) - 1) << shift
    ex = rng.integers(lo, hi + 1, count, dtype=np.uint64)
    w = (w & ~np.uint64(mask)) | (ex << np.uint64(shift))
    return w.astype(k.word).view(FLOAT_DTYPES[name])


def data_tiny(name, count, rng):
    """Zeros and subnormals near the bottom of the exponent range."""
    return _exp_band(name, count, rng, 0, 3)


def data_huge(name, count, rng):
    """The top of the exponent range: largest normals, inf and NaN payloads."""
    top = (1 << KINDS[name].E) - 1
    return _exp_band(name, count, rng, top - 4, top)


DATASETS = {
    "tiny": data_tiny,
    "huge": data_huge,
    "gauss": data_gauss,
    "const": data_const,
    "special": data_special,
    "randbits": data_randbits,
    "wide": data_wide,
    "mixed": data_mixed,
    "ramp": data_ramp,
}


def make(name: str, data: str, shape, seed_extra=()) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    rng = rng_for(name, data, tuple(shape), *seed_extra)
    flat = DATASETS[data](name, count, rng)
    return np.ascontiguousarray(flat).reshape(shape)


def all_patterns(name: str, seed: int = 0) -> np.ndarray:
    """Every 16-bit pattern once, shuffled (every 8-bit pattern 64 times for float8)."""
    w = np.random.default_rng(seed).permutation(65536).astype(np.uint16)
    if KINDS[name].itemsize == 1:
        return (w & 0xFF).astype(np.uint8).view(FLOAT_DTYPES[name])
    return w.view(FLOAT_DTYPES[name])


def pick_tensors(tensors, limit=None):
    """A deterministic selection: the largest tensor, a 2-D layer weight,
    a 1-D vector, then the rest (by name) up to limit."""
    names = sorted(tensors)
    if limit is None:
        return names
    by_size = sorted(names, key=lambda k: (-tensors[k].size, k))
    chosen = [by_size[0]]
    two_d = [k for k in names if tensors[k].ndim == 2 and k not in chosen]
    one_d = [k for k in names if tensors[k].ndim == 1 and k not in chosen]
    chosen += two_d[:1] + one_d[:1]
    for k in names:
        if len(chosen) >= limit:
            break
        if k not in chosen:
            chosen.append(k)
    return chosen[:limit]


__all__ = [
    "BF16", "BLOCK", "CODED_NAMES", "DATASETS", "FLOAT_DTYPES", "KINDS",
    "all_patterns", "pick_tensors", "assert_bitexact", "bits_of", "make", "rng_for", "seed_for",
    "special_words", "ml_dtypes",
]
