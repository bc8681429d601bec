"""Every backend this machine runs writes the scalar reference's bytes and decodes every other backend's."""

import os
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import enec
from costmodel import ref_search
from test_roundtrip import SHAPES
from testdata import BLOCK, CODED_NAMES, DATASETS, all_patterns, assert_bitexact, make, rng_for

BACKENDS = enec.backends()
PAIRS = [(e, d) for e in BACKENDS for d in BACKENDS]


def test_backend_listing():
    # .ci/avx512-emulated sets this, so a run that imported another build of enec fails loudly
    expected = os.environ.get("ENEC_EXPECT_BACKENDS")
    if expected:
        assert BACKENDS == expected.split(","), (BACKENDS, enec.__file__)
    assert BACKENDS[0] == "scalar"
    assert enec.backend in BACKENDS
    assert len(set(BACKENDS)) == len(BACKENDS)
    with pytest.raises(ValueError, match="unknown backend"):
        enec.compress(np.zeros(4, np.float32), backend="neon9000")
    for name in ("avx2", "avx512"):
        if name not in BACKENDS:
            with pytest.raises(ValueError, match="cannot run"):
                enec.compress(np.zeros(4, np.float32), backend=name)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)) or "0d")
@pytest.mark.parametrize("data", sorted(DATASETS))
@pytest.mark.parametrize("name", CODED_NAMES)
def test_cross_backend_table(name, data, shape):
    a = make(name, data, shape, seed_extra=("backends",))
    ref = enec.compress(a, backend="scalar")
    for be in BACKENDS:
        assert enec.compress(a, backend=be) == ref, be
        assert_bitexact(enec.decompress(ref, backend=be), a)


@pytest.mark.parametrize("name", CODED_NAMES)
@pytest.mark.parametrize("L", [16, 32, 64])
def test_cross_backend_every_m(name, L):
    """Every low width m = 0..n and group length, so every packing width runs."""
    a = make(name, "mixed", (2 * BLOCK + 1000,), seed_extra=("every_m", L))
    p = ref_search(a)
    for m in range(p.n + 1):
        ref = enec.compress(a, params=(p.b, p.n, m, L), backend="scalar")
        for enc, dec in PAIRS:
            blob = enec.compress(a, params=(p.b, p.n, m, L), backend=enc)
            assert blob == ref, (enc, m)
            assert_bitexact(enec.decompress(blob, backend=dec), a)


@pytest.mark.parametrize("name", ["bfloat16", "float16"])
def test_cross_backend_all_patterns(name):
    g = make(name, "gauss", (28 * BLOCK,), seed_extra=("xb_patterns",))
    mix = np.concatenate([g[:10 * BLOCK + 3], all_patterns(name, seed=2), g[10 * BLOCK + 3:]])
    ref = enec.compress(mix, backend="scalar")
    assert enec.inspect(ref).mode == "fast"  # every exponent, so the widest code n = E + 1
    for enc, dec in PAIRS:
        blob = enec.compress(mix, backend=enc)
        assert blob == ref
        assert_bitexact(enec.decompress(blob, backend=dec), mix)


def _skewed(name, where, n):
    """Exponents piled at one end of the range: the histogram window clamps there."""
    r = rng_for("skew", name, where, n)
    dt = np.dtype(np.float32) if name == "float32" else make(name, "gauss", (1,)).dtype
    if where == "top":
        a = np.full(n, np.inf, dtype=np.float32)
        a[r.random(n) < 0.3] = np.nan
        a[::97] = 1.0
    elif where == "bottom":
        a = (r.standard_normal(n) * 1e-42).astype(np.float32)  # subnormal / zero exponents
        a[::89] = 0.5
    else:  # spread: every exponent occurs, few share the window
        a = (r.standard_normal(n) * np.exp2(r.integers(-140, 120, n))).astype(np.float32)
    return a.astype(dt)


@pytest.mark.parametrize("name", CODED_NAMES)
@pytest.mark.parametrize("where", ["top", "bottom", "spread"])
@pytest.mark.parametrize("n", [1, 31, 2048, 2049, 2048 + 33, 255 * 32 * 3 + 2048 + 17])
def test_histogram_edges(name, where, n):
    """The SIMD histogram, through the parameters it leads to: window clamping,
    out-of-window lanes, prefix and tail lengths, a long run of full vectors."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = _skewed(name, where, n)
    want = ref_search(a)
    for be in BACKENDS:
        p = enec.Params(*enec.search_params(a))  # auto backend
        assert (p.b, p.n, p.m, p.L) == (want.b, want.n, want.m, want.L)
        blob = enec.compress(a, backend=be)
        assert blob == enec.compress(a, backend="scalar")
        assert_bitexact(enec.decompress(blob, backend=be), a)


def _exponent_counts(a, row):
    """The oracle: NumPy's count of each exponent field, from the dtype table's row."""
    u = a.view({1: np.uint8, 2: np.uint16, 4: np.uint32}[a.dtype.itemsize]).astype(np.uint64)
    x = (u >> np.uint64(row["mbits"])) & np.uint64((1 << row["ebits"]) - 1)
    return np.bincount(x.astype(np.int64), minlength=256).tolist()


@pytest.mark.parametrize("name", CODED_NAMES)
@pytest.mark.parametrize("where", ["gauss", "top", "bottom", "spread", "bits"])
@pytest.mark.parametrize("n", [0, 1, 63, 2048, 2048 + 64, 2048 + 64 * 9 + 37, 70001])
def test_histogram_kernels_exact(name, where, n):
    """Every backend's exponent histogram kernel, bin for bin, against NumPy: the
    window's bins (each one a product of bit planes in the SIMD kernels), the
    lanes outside it, clamped windows, prefix and tail lengths."""
    import warnings
    dt = make(name, "gauss", (1,)).dtype
    if where == "gauss":
        a = make(name, "gauss", (n,)) if n else np.zeros(0, dt)
    elif where == "bits":  # every bit pattern: most lanes fall outside any window
        a = rng_for("hist", name, n).integers(0, 256, n * dt.itemsize, dtype=np.uint8).view(dt)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            a = _skewed(name, where, n)
    row = next(r for r in enec._enec.dtypes() if r["name"] == a.dtype.name)
    want = _exponent_counts(a, row)
    for be in BACKENDS:
        assert enec._enec._histogram(a, row["code"], enec._enec.backend_ids()[be]) == want, be


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_backend_threads_identical(be, threads):
    a = make("bfloat16", "gauss", (9 * BLOCK + 5,), seed_extra=("thr",))
    ref = enec.compress(a, backend="scalar", threads=1)
    blob = enec.compress(a, backend=be, threads=threads)
    assert blob == ref
    assert_bitexact(enec.decompress(blob, backend=be, threads=threads), a)


@pytest.mark.parametrize("be", BACKENDS)
def test_backend_corruption(be):
    """Decoders of every backend reject what the reference rejects."""
    a = make("float32", "gauss", (3 * BLOCK + 11,), seed_extra=("corrupt_be",))
    blob = bytearray(enec.compress(a))
    r = rng_for("corrupt_be", be)
    for pos in r.integers(0, len(blob), 300):
        bad = bytearray(blob)
        bad[pos] ^= 1 << int(r.integers(0, 8))
        try:
            out = enec.decompress(bytes(bad), backend=be)
        except enec.CorruptDataError:
            continue
        assert_bitexact(out, a)


# ---- mode max: every backend's rANS rounds, plane kernels and block kinds ----------------

MAX_SHAPES = [(1,), (7,), (BLOCK - 1,), (BLOCK + 1,), (5 * BLOCK + 123,), (129, 257)]


@pytest.mark.parametrize("shape", MAX_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("data", sorted(DATASETS))
@pytest.mark.parametrize("name", CODED_NAMES)
def test_cross_backend_max_table(name, data, shape):
    a = make(name, data, shape, seed_extra=("backends-max",))
    ref = enec.compress(a, mode="max", backend="scalar")
    for be in BACKENDS:
        assert enec.compress(a, mode="max", backend=be) == ref, be
        assert_bitexact(enec.decompress(ref, backend=be), a)


def _max_kinds_fp32():
    """SYNTHETIC float32 whose blocks take every kind: low mantissa bytes that are zeros in some
    blocks (bf16 values widened) and noise in others, and a block of another scale (a table of
    its own), so one decoding batch mixes streams of the group's and of their own tables."""
    r = rng_for("max-kinds")
    a = r.normal(0, 0.02, 21 * BLOCK + 77).astype(np.float32)
    a[3 * BLOCK:7 * BLOCK] = a[3 * BLOCK:7 * BLOCK].astype(ml_dtypes.bfloat16).astype(np.float32)
    a[17 * BLOCK:18 * BLOCK] *= 1e4
    a[19 * BLOCK:20 * BLOCK] = np.round(a[19 * BLOCK:20 * BLOCK] * 1e3) / 8
    return a


@pytest.mark.parametrize("kind", ["fp32-kinds", "int8", "int16", "bf16-scales"])
def test_cross_backend_max_kinds_and_threads(kind):
    r = rng_for("max-threads", kind)
    if kind == "fp32-kinds":
        a = _max_kinds_fp32()
    elif kind == "int8":  # two tensors of different scales inside one table group
        a = np.concatenate([np.clip(np.round(r.normal(0, s, 5 * BLOCK)), -127, 127) for s in (3, 40, 9)])
        a = a.astype(np.int8)
    elif kind == "int16":
        a = np.round(r.normal(0, 900, 7 * BLOCK + 3)).astype(np.int16)
    else:
        a = np.concatenate([r.normal(0, s, 6 * BLOCK) for s in (0.02, 3.0, 1e-5)]).astype(ml_dtypes.bfloat16)
    ref = enec.compress(a, mode="max", backend="scalar", threads=1)
    for be in BACKENDS:
        for threads in (1, 2, 3):
            assert enec.compress(a, mode="max", backend=be, threads=threads) == ref, (be, threads)
            assert_bitexact(enec.decompress(ref, backend=be, threads=threads), a)


@pytest.mark.parametrize("be", BACKENDS)
def test_backend_max_corruption(be):
    """Every backend's max decoder rejects what the reference rejects, truncations included
    (a stream that runs out of words mid-round)."""
    a = _max_kinds_fp32()[: 6 * BLOCK]
    blob = enec.compress(a, mode="max")
    r = rng_for("max-corrupt", be)
    bad = [blob[:n] for n in r.integers(60, len(blob), 20)]
    for pos in r.integers(0, len(blob), 200):
        b = bytearray(blob)
        b[pos] ^= 1 << int(r.integers(0, 8))
        bad.append(bytes(b))
    for b in bad:
        try:
            ref = enec.decompress(b, backend="scalar")
        except enec.CorruptDataError:
            with pytest.raises(enec.CorruptDataError):
                enec.decompress(b, backend=be)
            continue
        assert_bitexact(ref, a)
        assert_bitexact(enec.decompress(b, backend=be), a)


def test_portable_crc_path():
    """ENEC_NO_SSE42=1 forces the table-driven CRC-32C; it must agree with the instruction."""
    code = ("import enec, numpy as np, sys;"
            "d = np.random.default_rng(5).integers(0, 256, 100003, dtype=np.uint8).tobytes();"
            "print([enec._enec.crc32c(d[:n]) for n in (0, 1, 9, 767, 768, 12288, 12300, 100003)]);"
            "a = np.random.default_rng(6).normal(0, 0.02, 70000).astype(np.float32);"
            "sys.stdout.write(enec.compress(a).hex()[:0])")
    env = dict(os.environ)
    outs = []
    for flag in ("0", "1"):
        env["ENEC_NO_SSE42"] = flag
        outs.append(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                   capture_output=True, text=True).stdout)
    assert outs[0] == outs[1]
    assert enec._enec.crc32c(b"123456789") == 0xE3069283
