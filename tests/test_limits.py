"""Size limits: the caller's max_size and the format's own bound are checked
before anything is allocated, and sizes are 64-bit throughout."""

import tracemalloc

import ml_dtypes
import numpy as np
import pytest

import enec
from enec import _enec
from testdata import CODED_NAMES, KINDS, assert_bitexact, make

BF16 = np.dtype(ml_dtypes.bfloat16)
BLOCK = enec.BLOCK


@pytest.fixture(scope="module")
def big():
    a = make("bfloat16", "gauss", (64, BLOCK))  # 2 MiB
    return a, enec.compress(a)


def test_max_size_boundary(big):
    a, s = big
    assert_bitexact(enec.decompress(s, max_size=a.nbytes), a)
    assert_bitexact(enec.decompress(s, max_size=None), a)
    for limit in (a.nbytes - 1, 1, 0):
        with pytest.raises(ValueError, match="max_size") as e:
            enec.decompress(s, max_size=limit)
        # a limit is not a verdict on the data
        assert not isinstance(e.value, enec.CorruptDataError)
    out = np.empty_like(a)
    with pytest.raises(ValueError, match="max_size"):
        enec.decompress(s, out=out, max_size=a.nbytes - 1)
    assert_bitexact(enec.decompress(s, out=out, max_size=a.nbytes), a)


def test_max_size_empty_and_stored():
    for a in (np.zeros((0, 5), np.float32), np.arange(10, dtype=np.int64)):
        s = enec.compress(a)
        assert_bitexact(enec.decompress(s, max_size=a.nbytes), a)
        if a.nbytes:
            with pytest.raises(ValueError, match="max_size"):
                enec.decompress(s, max_size=a.nbytes - 1)


@pytest.mark.parametrize("bad", [-1, 1.5, "100", b"1"])
def test_max_size_argument_checked(big, bad):
    with pytest.raises(ValueError, match="max_size"):
        enec.decompress(big[1], max_size=bad)


def test_max_size_refused_before_allocating(big):
    a, s = big
    tracemalloc.start()
    try:
        with pytest.raises(ValueError):
            enec.decompress(s, max_size=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < a.nbytes // 8, peak  # NumPy reports its allocations to tracemalloc


def test_c_level_limit(big):
    """The C decoder checks the limit itself (ENEC_ERR_TOO_LARGE), before writing dst."""
    a, s = big
    out = np.full(a.size, 0x5A5A, dtype=np.uint16)
    with pytest.raises(ValueError, match="allowed maximum"):
        _enec.decompress_into(s, memoryview(out).cast("B"), max_size=a.nbytes - 1)
    assert (out == 0x5A5A).all()
    assert _enec.decompress_into(s, memoryview(out).cast("B"), max_size=a.nbytes) == a.nbytes
    assert out.tobytes() == a.tobytes()


@pytest.mark.parametrize("name", CODED_NAMES)
@pytest.mark.parametrize("kind", ["gauss", "wide", "randbits"])
def test_format_bound_on_expansion(name, kind):
    """FORMAT.md section 8: a valid stream decodes to at most 8 x itemsize / rawbits times its
    payload: twice for bfloat16 and float8_e4m3fn, 8/3 for float8_e5m2, the largest."""
    k = KINDS[name]
    for shape in [(1,), (7,), (BLOCK + 1,), (3, BLOCK)]:
        s = enec.compress(make(name, kind, shape))
        info = enec.inspect(s)
        payload = info.compressed_size - info.header_size
        assert info.original_size * k.rawbits <= 8 * k.itemsize * payload
        assert 3 * info.original_size <= 8 * len(s)
    # the tightest case: all-zero bfloat16 codes to one raw byte per element
    z = enec.compress(np.zeros(4 * BLOCK, BF16))
    ratio = enec.inspect(z).original_size / len(z)
    assert 1.9 < ratio <= 2.0


@pytest.mark.slow
def test_tensor_larger_than_4gib_round_trips():
    """More than 2^31 elements and 4 GiB of bfloat16: no 32-bit size or index anywhere."""
    tile = make("bfloat16", "gauss", (7 * BLOCK + 13,)).view(np.uint16)
    n = 2 ** 31 + 3 * BLOCK + 5
    a = np.resize(tile, n).view(BF16)  # a[i] = tile[i % len(tile)]
    assert a.nbytes > 4 * 2 ** 30
    crc = _enec.crc32c(memoryview(a.view(np.uint8)))
    s = enec.compress(a)
    del a
    info = enec.inspect(s)
    assert info.mode == "fast" and info.count == n and info.nblocks == -(-n // BLOCK)
    assert info.original_size == 2 * n
    out = enec.decompress(s)
    del s
    assert out.shape == (n,) and out.dtype == BF16
    assert _enec.crc32c(memoryview(out.view(np.uint8))) == crc
    w = out.view(np.uint16)
    for i in (0, 2 ** 31 - 1, 2 ** 31, 2 ** 32 // 2 + 12345, n - BLOCK - 1, n - 1):
        assert w[i] == tile[i % tile.size], i
