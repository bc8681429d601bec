"""The Python API contract: names, types, errors, out=, dtype=, inspect."""

import ml_dtypes
import numpy as np
import pytest

import enec
import enec.models
from costmodel import BF16, parse_header, ref_search
from testdata import BLOCK, CODED_NAMES, KINDS, assert_bitexact, make


def P(b, n, m, L):
    return enec.Params(b=b, n=n, m=m, L=L, bits=0.0)


def test_constants_and_names():
    assert enec.BLOCK == 16384 == BLOCK
    for name in ["compress", "decompress", "inspect", "search_params", "Params",
                 "CorruptDataError", "StreamInfo"]:
        assert hasattr(enec, name), name
    assert issubclass(enec.CorruptDataError, ValueError)
    assert isinstance(enec.CorruptDataError(), ValueError)
    assert callable(enec.models.minilm_tensors)


def test_params_namedtuple():
    assert tuple(enec.Params._fields[:5]) == ("b", "n", "m", "L", "bits")
    p = enec.Params(1, 2, 3, 16, 0.5)
    assert (p.b, p.n, p.m, p.L, p.bits) == (1, 2, 3, 16, 0.5)
    assert tuple(p) == (1, 2, 3, 16, 0.5)


def test_search_params_types():
    a = make("bfloat16", "gauss", (5000,))
    p = enec.search_params(a)
    assert isinstance(p, enec.Params) and isinstance(p, tuple)
    assert all(isinstance(v, int) for v in p[:4])
    assert isinstance(p.bits, float)
    assert p.L in (16, 32, 64) and 1 <= p.n <= 9 and 0 <= p.m <= p.n
    # B is at least 1/L and at most 1/L + n
    assert 1 / p.L <= p.bits + 1e-15 and p.bits <= 1 / p.L + p.n + 1e-12


def test_search_params_layout_independent():
    a = make("float16", "gauss", (60, 70))
    p = enec.search_params(a)
    assert enec.search_params(np.asfortranarray(a)) == p
    assert enec.search_params(a.T) == p
    assert enec.search_params(a[::-1]) == p


def test_search_params_single_element():
    a = np.array(0.5, dtype=BF16)  # 0-d
    p = enec.search_params(a)
    r = ref_search(a)
    assert (p.b, p.n, p.m, p.L) == (r.b, r.n, r.m, r.L) == (126, 1, 0, 64)
    assert p.bits == pytest.approx(1 / 64, abs=1e-15)


def test_inspect_coded():
    a = make("float32", "gauss", (4, 3 * BLOCK // 4 + 1))
    s = enec.compress(a)
    info = enec.inspect(s)
    assert isinstance(info, enec.StreamInfo)
    assert info.version == 1
    assert info.mode == "fast"
    assert info.dtype == np.dtype(np.float32) and isinstance(info.dtype, np.dtype)
    assert info.shape == a.shape and isinstance(info.shape, tuple)
    assert info.count == a.size
    assert isinstance(info.params, enec.Params)
    assert tuple(info.params[:4]) == tuple(enec.search_params(a)[:4])
    assert info.nblocks == -(-a.size // BLOCK) == 4
    h = parse_header(s)
    assert info.header_size == h.size + 8 * info.nblocks + 4
    assert info.original_size == a.nbytes
    assert info.compressed_size == len(s)
    assert isinstance(info.ratio, float)
    assert info.ratio == pytest.approx(a.nbytes / len(s))
    assert info.ratio > 1.0


def test_inspect_stored():
    a = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    s = enec.compress(a)
    info = enec.inspect(s)
    assert info.mode == "stored" and info.params is None
    assert info.dtype == a.dtype and info.shape == (2, 3, 4) and info.count == 24
    assert info.original_size == 48 and info.compressed_size == len(s)
    assert info.header_size == parse_header(s).size
    assert info.ratio == pytest.approx(48 / len(s))


def test_inspect_bfloat16_dtype():
    a = make("bfloat16", "gauss", (BLOCK,))
    info = enec.inspect(enec.compress(a))
    assert info.dtype == BF16


def test_buffer_inputs():
    a = make("bfloat16", "gauss", (BLOCK + 3,))
    s = enec.compress(a)
    for data in (s, bytearray(s), memoryview(s)):
        assert_bitexact(enec.decompress(data), a)
        assert enec.inspect(data).count == a.size


def test_result_is_fresh_writable_array():
    a = make("float16", "gauss", (100, 10))
    s = enec.compress(a)
    out = enec.decompress(s)
    assert out.flags.writeable and out.flags.c_contiguous
    out[...] = 0  # does not touch the stream
    assert_bitexact(enec.decompress(s), a)


def test_compress_does_not_modify_input():
    a = make("bfloat16", "mixed", (3, BLOCK))
    before = a.tobytes()
    enec.compress(a)
    enec.compress(a[:, ::2], threads=2)
    assert a.tobytes() == before


def test_deterministic():
    a = make("float32", "mixed", (2 * BLOCK + 7,))
    assert enec.compress(a) == enec.compress(a.copy())


# --------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("obj", [
    np.array([1, "a", None], dtype=object),
    np.array(None, dtype=object),
    np.empty((0,), dtype=object),
    np.zeros(3, dtype=[("a", "<i4"), ("b", object)]),
], ids=["1d", "0d", "empty", "struct-with-object"])
def test_object_arrays_rejected(obj):
    with pytest.raises(TypeError):
        enec.compress(obj)


@pytest.mark.parametrize("name", CODED_NAMES)
def test_out_wrong_size(name):
    a = make(name, "gauss", (1000,))
    s = enec.compress(a)
    for n in (0, 999, 1001, 2000):
        with pytest.raises(ValueError):
            enec.decompress(s, out=np.empty(n, dtype=a.dtype))


def test_out_wrong_size_stored():
    s = enec.compress(np.arange(10, dtype=np.int64))
    with pytest.raises(ValueError):
        enec.decompress(s, out=np.empty(11, dtype=np.int64))
    with pytest.raises(ValueError):
        enec.decompress(s, out=np.empty((3, 3), dtype=np.int64))


def test_out_bad_arrays():
    a = make("bfloat16", "gauss", (1000,))
    s = enec.compress(a)
    bad = [
        np.empty(1000, dtype=np.float32),            # wrong itemsize
        np.empty(2000, dtype=np.uint8),              # same nbytes, wrong itemsize
        np.empty(2000, dtype=BF16)[::2],             # not contiguous
    ]
    ro = np.empty(1000, dtype=BF16)
    ro.flags.writeable = False
    bad.append(ro)
    for out in bad:
        with pytest.raises((ValueError, TypeError)):
            enec.decompress(s, out=out)


def test_out_2d_same_total_size():
    a = make("float32", "gauss", (BLOCK + 1,))
    s = enec.compress(a)
    out = np.empty((1, BLOCK + 1), dtype=np.float32)
    res = enec.decompress(s, out=out)
    assert np.shares_memory(res, out)
    assert out.tobytes() == a.tobytes()


@pytest.mark.parametrize("name", CODED_NAMES)
def test_params_cannot_code(name):
    a = make(name, "ramp", (5000,))
    r = ref_search(a)
    assert r.n >= 3
    # n one bit too small for the exponent range
    with pytest.raises(ValueError):
        enec.compress(a, params=P(r.b, r.n - 1, min(r.m, r.n - 1), r.L))
    with pytest.raises(ValueError):
        enec.compress(a, params=P(r.b, 1, 0, 16))
    # b far outside the range with a small n
    x_top = (1 << KINDS[name].E) - 1
    with pytest.raises(ValueError):
        enec.compress(a, params=P(x_top, 2, 1, 32))


@pytest.mark.parametrize("name", CODED_NAMES)
def test_params_out_of_range(name):
    a = make(name, "gauss", (5000,))
    r = ref_search(a)
    E = KINDS[name].E
    for b, n, m, L in [(r.b, r.n, r.m, 8), (r.b, r.n, r.m, 0), (r.b, r.n, r.m, 48),
                       (r.b, r.n, r.n + 1, 16), (r.b, 0, 0, 16), (r.b, E + 2, 0, 16),
                       (1 << E, E + 1, 0, 16), (-1, E + 1, 0, 16), (r.b, r.n, -1, 16)]:
        with pytest.raises(ValueError):
            enec.compress(a, params=P(b, n, m, L))


def test_params_widest_valid():
    for name in CODED_NAMES:
        a = make(name, "gauss", (3000,))
        E = KINDS[name].E
        r = ref_search(a)
        s = enec.compress(a, params=P(r.b, E + 1, 0, 64))
        assert_bitexact(enec.decompress(s), a)


def test_params_bits_ignored_and_same_as_search():
    a = make("bfloat16", "gauss", (BLOCK,))
    r = ref_search(a)
    s1 = enec.compress(a, params=enec.Params(r.b, r.n, r.m, r.L, 123.0))
    s2 = enec.compress(a)
    assert s1 == s2


@pytest.mark.parametrize("dt", ["<i4", "<f8", ">f4", "u2", "?", "<c8"])
def test_search_params_non_coded_dtype(dt):
    with pytest.raises((TypeError, ValueError)):
        enec.search_params(np.zeros(100, dtype=dt))


def test_search_params_empty():
    with pytest.raises((TypeError, ValueError)):
        enec.search_params(np.zeros(0, dtype=np.float32))


def test_params_with_non_coded_dtype():
    with pytest.raises((TypeError, ValueError)):
        enec.compress(np.zeros(100, dtype=np.int32), params=P(0, 1, 0, 16))


def test_dtype_argument_itemsize_mismatch():
    with pytest.raises((TypeError, ValueError)):
        enec.compress(np.zeros(10, dtype=np.uint32), dtype="bfloat16")
    with pytest.raises((TypeError, ValueError)):
        enec.compress(np.zeros(10, dtype=np.uint8), dtype="float16")


@pytest.mark.parametrize("name,word", [("bfloat16", np.uint16), ("float16", np.uint16),
                                       ("float32", np.uint32)])
def test_dtype_argument_reinterprets(name, word):
    f = make(name, "gauss", (7, 301))
    u = f.view(word)
    out = enec.decompress(enec.compress(u, dtype=name))
    assert_bitexact(out, f)
    p = enec.search_params(u, dtype=name)
    assert p == enec.search_params(f)


def test_dtype_argument_numpy_dtypes():
    f = make("bfloat16", "gauss", (1000,))
    s = enec.compress(f.view(np.uint16), dtype=ml_dtypes.bfloat16)
    assert s == enec.compress(f)
    f16 = make("float16", "gauss", (1000,))
    assert enec.compress(f16.view(np.uint16), dtype=np.float16) == enec.compress(f16)


def test_too_many_dimensions():
    a = np.zeros((1,) * 33, dtype=np.float32)
    with pytest.raises((ValueError, TypeError)):
        enec.compress(a)


def test_threads_values():
    a = make("bfloat16", "gauss", (4 * BLOCK,))
    ref = enec.compress(a)
    for t in (1, 2, 3, 4, 16, 64):
        assert enec.compress(a, threads=t) == ref
        assert_bitexact(enec.decompress(ref, threads=t), a)


# --------------------------------------------------------------------------
# enec.models


def test_minilm_tensors(minilm_f32, minilm_bf16):
    w = minilm_f32["embeddings.word_embeddings.weight"]
    assert w.shape == (30522, 384) and w.dtype == np.float32
    wb = minilm_bf16["embeddings.word_embeddings.weight"]
    assert wb.dtype == BF16 and wb.shape == w.shape
    n = sum(v.size for v in minilm_f32.values() if v.dtype == np.float32)
    assert 22_000_000 < n < 23_000_000  # about 22.7M parameters
