"""Property-based fuzzing of the Python API with Hypothesis: arbitrary arrays
round-trip bit-exactly and deterministically, arbitrary parameter choices and
damaged streams give only the documented errors."""

import ml_dtypes
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import enec  # noqa: E402
from testdata import assert_bitexact  # noqa: E402

BF16 = np.dtype(ml_dtypes.bfloat16)
DTYPES = [BF16, np.dtype("<f2"), np.dtype("<f4"), np.dtype(">f4"), np.dtype("<f8"), np.dtype("u1"),
          np.dtype("<i2"), np.dtype("<i8"), np.dtype("?")]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def arrays(draw, max_elems=3 * enec.BLOCK):
    dt = draw(st.sampled_from(DTYPES))
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.lists(st.integers(0, 40), min_size=ndim, max_size=ndim)))
    if ndim == 1 and draw(st.booleans()):  # sometimes more than a block
        shape = (draw(st.integers(enec.BLOCK - 3, max_elems)),)
    n = int(np.prod(shape, dtype=np.int64))
    # Exponents near 1 (the coded path) or any bits at all (specials, NaN payloads, the stored path).
    if dt in (BF16, np.dtype("<f2"), np.dtype("<f4")) and draw(st.booleans()):
        seed = draw(st.integers(0, 2 ** 32 - 1))
        scale = draw(st.sampled_from([1e-3, 0.02, 1.0, 1e4]))
        a = (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32).astype(dt)
    else:
        seed = draw(st.integers(0, 2 ** 32 - 1))
        a = np.frombuffer(np.random.default_rng(seed).bytes(n * dt.itemsize), dtype=dt).copy()
    a = a.reshape(shape)
    if ndim >= 2 and draw(st.booleans()):
        a = a.T  # non-contiguous input
    return a


@SETTINGS
@given(arrays(), st.sampled_from([1, 2, 3]))
def test_round_trip_and_determinism(a, threads):
    s = enec.compress(a, threads=threads)
    assert s == enec.compress(a.copy(order="C"), threads=1)
    for b in enec.backends():
        assert enec.compress(a, backend=b) == s
    out = enec.decompress(s, threads=threads)
    assert_bitexact(out, a.copy(order="C"))
    info = enec.inspect(s)
    assert info.original_size == a.nbytes and info.compressed_size == len(s)
    assert len(s) <= a.nbytes + info.header_size  # never larger than stored


@st.composite
def weights(draw):
    """Weight-like tensors of a coded dtype: the coded path, not the stored one."""
    dt = draw(st.sampled_from([BF16, np.dtype("<f2"), np.dtype("<f4")]))
    n = draw(st.integers(1000, enec.BLOCK + 100))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return (np.random.default_rng(seed).standard_normal(n) * 0.05).astype(np.float32).astype(dt)


@SETTINGS
@given(weights() | arrays(max_elems=enec.BLOCK + 100), st.data())
def test_forced_params(a, data):
    """Any (b, n, m, L): a stream that round-trips with exactly them, or ValueError/TypeError."""
    coded = a.dtype in (BF16, np.dtype("<f2"), np.dtype("<f4")) and a.size > 0
    if coded and data.draw(st.integers(0, 3)):  # near the searched parameters, where most are valid
        p = enec.search_params(a)
        b = min(max(p.b + data.draw(st.integers(-1, 1)), 0), 255)
        n = max(p.n + data.draw(st.integers(0, 2)) - (data.draw(st.integers(0, 9)) == 0), 0)
        m = data.draw(st.integers(0, n) | st.just(n + 1))
        L = data.draw(st.sampled_from([16, 32, 64]))
    else:
        b, n, m, L = (data.draw(st.integers(0, 255)) for _ in range(4))
    try:
        s = enec.compress(a, params=(b, n, m, L))
    except (ValueError, TypeError) as e:
        assert "enec" in str(e)
        hypothesis.event("refused")
        return
    info = enec.inspect(s)
    if info.mode == "fast":
        hypothesis.event("coded with forced params")
        assert info.params[:4] == (b, n, m, L)
    assert_bitexact(enec.decompress(s), a.copy(order="C"))


@pytest.fixture(scope="module")
def streams():
    rng = np.random.default_rng(3)
    g = rng.normal(0, 0.02, 2 * enec.BLOCK + 10).astype(np.float32)
    arrs = [g.astype(BF16), g[:5000].astype(np.float16), g[:3000], np.arange(500, dtype=np.int32)]
    return [(a, enec.compress(a)) for a in arrs]


def damage(blob: bytes, data, most: int) -> bytes:
    """1..most random edits drawn by Hypothesis: bit flips, byte sets, truncations, insertions."""
    buf = bytearray(blob)
    for _ in range(data.draw(st.integers(1, most))):
        if not buf:
            break
        op = data.draw(st.sampled_from(["flip", "set", "cut", "insert"]))
        pos = data.draw(st.integers(0, len(buf) - 1))
        if op == "flip":
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set":
            buf[pos] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del buf[pos:]
        else:
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    return bytes(buf)


@SETTINGS
@given(st.data())
def test_damaged_streams(streams, data):
    a, s = data.draw(st.sampled_from(streams))
    try:
        out = enec.decompress(damage(s, data, 4))
    except enec.CorruptDataError:
        return
    assert_bitexact(out, a)


@SETTINGS
@given(st.binary(max_size=200))
def test_foreign_bytes(blob):
    with pytest.raises(enec.CorruptDataError):
        enec.decompress(b"ENEC" + blob)


@SETTINGS
@given(st.data())
def test_max_size(streams, data):
    a, s = data.draw(st.sampled_from(streams))
    limit = data.draw(st.integers(0, 2 * a.nbytes))
    if limit >= a.nbytes:
        assert_bitexact(enec.decompress(s, max_size=limit), a)
    else:
        with pytest.raises(ValueError, match="max_size"):
            enec.decompress(s, max_size=limit)


# ---- the .enec checkpoint container: its reader is Python, so Hypothesis is its fuzzer ----------

NAMES = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@SETTINGS
@given(st.dictionaries(NAMES, arrays(max_elems=2 * enec.BLOCK), max_size=4),
       st.dictionaries(NAMES, st.text(max_size=20), max_size=3))
def test_checkpoint_round_trip(tmp_path_factory, tensors, metadata):
    path = tmp_path_factory.mktemp("ckpt") / "t.enec"
    enec.save_file(tensors, path, metadata=metadata or None)
    back = enec.load_file(path)
    assert list(back) == list(tensors)
    for k, a in tensors.items():
        assert_bitexact(back[k], a)
    with enec.open(path) as f:
        assert (f.metadata() or {}) == metadata
        for k in reversed(list(tensors)):
            assert_bitexact(f[k], tensors[k])


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory):
    rng = np.random.default_rng(5)
    g = rng.normal(0, 0.02, enec.BLOCK + 77).astype(np.float32)
    tensors = {"w.bf16": g.astype(BF16), "w.f16": g[:900].astype(np.float16).reshape(30, 30),
               "w.f32": g[:500], "ids": np.arange(64, dtype=np.int64)}
    path = tmp_path_factory.mktemp("ckpt_src") / "src.enec"
    enec.save_file(tensors, path, metadata={"format": "np"})
    return tensors, path.read_bytes()


@SETTINGS
@given(st.data())
def test_damaged_checkpoints(tmp_path_factory, checkpoint_file, data):
    """A damaged container either raises CorruptDataError (opening or decoding a tensor) or gives
    back exactly the original tensors: never a crash, another exception or wrong data."""
    tensors, blob = checkpoint_file
    path = tmp_path_factory.mktemp("ckpt_bad") / "bad.enec"
    path.write_bytes(damage(blob, data, 3))
    try:
        back = enec.load_file(path)
    except enec.CorruptDataError:
        return
    assert list(back) == list(tensors)
    for k, a in tensors.items():
        assert_bitexact(back[k], a)
