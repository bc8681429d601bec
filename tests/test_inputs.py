"""Odd inputs to the Python API: each one either round-trips bit-exactly or
raises TypeError/ValueError with a message that says what to do."""

import ml_dtypes
import numpy as np
import pytest

import enec
from testdata import assert_bitexact, make

BF16 = np.dtype(ml_dtypes.bfloat16)
G = make("float32", "gauss", (60, 100))


def roundtrip(x, expected=None):
    s = enec.compress(x)
    out = enec.decompress(s)
    assert_bitexact(out, np.asarray(x) if expected is None else expected)
    return s


@pytest.mark.parametrize("dt", [">f4", ">f2", ">f8", ">i4", ">u2"])
def test_big_endian_round_trips_with_its_byte_order(dt):
    # A numcodecs pipeline hands over what it has: the dtype, byte order
    # included, comes back unchanged. Only native little-endian floats are
    # coded; other byte orders are stored verbatim (README).
    a = G.astype(dt)
    s = roundtrip(a)
    info = enec.inspect(s)
    assert info.dtype == np.dtype(dt) and info.mode == "stored"
    # converting to little-endian first is what makes it compress
    assert enec.inspect(enec.compress(a.astype(np.dtype(dt).newbyteorder("<")))).mode in (
        ("fast",) if dt in (">f4", ">f2") else ("stored",))


def test_read_only_inputs():
    a = G.copy()
    a.setflags(write=False)
    roundtrip(a)
    roundtrip(np.frombuffer(G.tobytes(), dtype=np.float32).reshape(G.shape))
    s = enec.compress(G)
    ro = np.frombuffer(s, dtype=np.uint8)  # read-only view of bytes
    assert not ro.flags.writeable
    assert_bitexact(enec.decompress(ro), G)


def test_memoryviews():
    roundtrip(memoryview(G), G)
    roundtrip(memoryview(G)[::2], G[::2])  # a strided memoryview is copied to C order
    s = enec.compress(G)
    assert_bitexact(enec.decompress(memoryview(s)), G)
    # a non-contiguous view whose elements are the stream's bytes
    spread = np.zeros(2 * len(s), dtype=np.uint8)
    spread[::2] = np.frombuffer(s, dtype=np.uint8)
    assert_bitexact(enec.decompress(spread[::2]), G)
    assert_bitexact(enec.decompress(memoryview(spread)[::2]), G)
    assert enec.inspect(spread[::2]).count == G.size
    # a stream held in a wider dtype is still its bytes (and the length must be exact)
    held = np.frombuffer(s + b"\0" * (-len(s) % 4), dtype=np.float32)
    if len(s) % 4 == 0:
        assert_bitexact(enec.decompress(held), G)
    else:
        with pytest.raises(enec.CorruptDataError):
            enec.decompress(held)


def test_bytes_are_uint8():
    for raw in (b"hello enec", bytearray(b"\x00\xff\x10"), b""):
        out = enec.decompress(enec.compress(raw))
        assert out.dtype == np.uint8 and out.ndim == 1
        assert out.tobytes() == bytes(raw)


@pytest.mark.parametrize("make_view", [
    lambda: np.broadcast_to(G[0], (500, 100)),     # zero stride on axis 0
    lambda: np.broadcast_to(G[:, :1], (60, 300)),  # zero stride on axis 1
    lambda: np.broadcast_to(np.float32(1.5), (7, 3)),
    lambda: G[:, ::3],
    lambda: G[::-1, ::-2],
    lambda: np.asfortranarray(G),
    lambda: G.T,
], ids=["bcast0", "bcast1", "bcast-scalar", "step3", "negative", "fortran", "transpose"])
def test_strided_views(make_view):
    v = make_view()
    assert not v.flags.c_contiguous
    roundtrip(v, np.ascontiguousarray(v))


def test_unaligned_input():
    buf = np.zeros(G.nbytes + 1, dtype=np.uint8)
    a = buf[1:].view(np.float32).reshape(G.shape)
    a[...] = G
    assert not a.flags.aligned
    roundtrip(a)


def test_huge_shapes():
    # empty but enormous: the shape survives, nothing is allocated
    for shape in [(0, 2 ** 40), (2 ** 40, 0, 3), (0,) * 32]:
        roundtrip(np.zeros(shape, dtype=np.float32))
    # a huge broadcast view cannot be copied to C order: a ValueError that says why
    v = np.broadcast_to(np.float32(1), (2 ** 44,))
    with pytest.raises(ValueError, match="not C-contiguous.*cannot be allocated"):
        enec.compress(v)
    with pytest.raises((ValueError, TypeError), match="dimensions"):
        enec.compress(np.zeros((1,) * 33, dtype=np.float32))


@pytest.mark.parametrize("bad, match", [
    (None, "expected an array"),
    ("text", "expected an array"),
    (np.array([1, "a"], dtype=object), "object arrays"),
    (np.ma.masked_array([1.0, 2.0], mask=[0, 1]), "mask"),
    (np.zeros(3, dtype="V0"), "no bytes"),
])
def test_compress_refuses_with_a_message(bad, match):
    with pytest.raises(TypeError, match=match):
        enec.compress(bad)


@pytest.mark.parametrize("bad", [None, "ENEC", 12, [69, 78, 69, 67], 1.5])
def test_decompress_non_buffers(bad):
    with pytest.raises(TypeError, match="bytes-like"):
        enec.decompress(bad)
    with pytest.raises(TypeError, match="bytes-like"):
        enec.inspect(bad)


@pytest.mark.parametrize("x", [
    [1.0, 2.5, -3.0],
    3.25,
    np.float32(3.25),
    np.array(["ab", "c"]),
    np.arange(5).astype("M8[ns]"),
    np.ones(4, np.complex64),
    np.zeros(3, dtype=[("a", "<i4"), ("b", "<f2")]),
    np.array(True),
], ids=["list", "float", "np-scalar", "unicode", "datetime", "complex", "structured", "bool-0d"])
def test_other_array_likes_round_trip(x):
    roundtrip(x, np.asarray(x))


def test_other_numeric_dtypes_bitexact():
    rng = np.random.default_rng(7)
    for dt in [np.int8, np.uint64, np.float64, np.float16, BF16, ml_dtypes.float8_e4m3fn]:
        # random bits: NaN payloads and signalling NaNs must survive too
        x = np.frombuffer(rng.bytes(33 * 17 * np.dtype(dt).itemsize), dtype=dt).reshape(33, 17)
        roundtrip(x)
