"""The public Python surface: what `import enec` exports, and every ml_dtypes type stores or codes."""
import ml_dtypes
import numpy as np
import pytest

import enec

# A name added to or dropped from enec.__all__ is an API change: update this list on purpose.
PUBLIC = [
    "BLOCK", "FORMAT_VERSION", "MODES", "CorruptDataError", "Params", "StreamInfo",
    "UnsupportedFormatError", "backend", "backends", "compress", "decompress", "inspect",
    "max_compressed_size", "search_params", "__version__", "CONTAINER_VERSION", "CheckpointReader", "crc32c",
    "version_number", "load_file", "safe_open", "save_file",
]


def test_all_is_fixed():
    assert sorted(enec.__all__) == sorted(PUBLIC)
    for name in enec.__all__:
        assert hasattr(enec, name), name


def test_stub_names_every_function_of_the_extension():
    import os
    import re

    stub = os.path.join(os.path.dirname(enec.__file__), "_enec.pyi")
    text = open(stub).read()
    declared = set(re.findall(r"^def (\w+)", text, re.M)) | set(re.findall(r"^(\w+)\s*[:=]", text, re.M)) \
        | set(re.findall(r"^class (\w+)", text, re.M))
    public = {n for n in dir(enec._enec) if not n.startswith("__")}
    assert public <= declared, public - declared


def test_coded_dtypes_come_from_the_c_table():
    names = [row["name"] for row in enec._enec.dtypes()]
    assert names == ["bfloat16", "float16", "float32", "float8_e4m3fn", "float8_e5m2"]
    for row in enec._enec.dtypes():
        assert row["rawbits"] == row["mbits"] + 1
        assert 8 * row["itemsize"] == 1 + row["ebits"] + row["mbits"]


# Every ml_dtypes type: the two coded fp8 types are coded, the rest stored; all round-trip.
ML_TYPES = sorted(n for n in ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
                              "float8_e4m3b11fnuz", "float8_e4m3", "float8_e3m4", "float8_e8m0fnu",
                              "float4_e2m1fn", "float6_e2m3fn", "float6_e3m2fn", "int4", "uint4", "int2",
                              "uint2") if hasattr(ml_dtypes, n))


@pytest.mark.parametrize("name", ML_TYPES)
def test_every_ml_dtypes_type_round_trips(name):
    dt = np.dtype(getattr(ml_dtypes, name))
    rng = np.random.default_rng(7)
    a = rng.integers(0, 1 << min(8 * dt.itemsize, 8), 7 * 7100).astype(f"u{dt.itemsize}").view(dt)
    s = enec.compress(a.reshape(-1, 7))
    info = enec.inspect(s)
    assert info.dtype == dt
    out = enec.decompress(s)
    assert out.dtype == dt and out.shape == (7100, 7) and out.tobytes() == a.tobytes()
    if name not in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        assert not info.coded


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2"])
def test_fp8_weights_are_coded_and_shrink(name):
    from enec.models import fp8_scaled

    w = fp8_scaled(np.random.default_rng(3).normal(0, 0.02, 8 * enec.BLOCK).astype(np.float32), name)  # SYNTHETIC
    s = enec.compress(w)
    info = enec.inspect(s)
    assert info.mode == "fast" and info.ratio > 1.02
    assert enec.decompress(s).tobytes() == w.tobytes()


def test_compress_mode_argument():
    a = np.random.default_rng(1).normal(0, 0.02, 50_000).astype(ml_dtypes.bfloat16)
    assert enec.inspect(enec.compress(a, mode="stored")).mode == "stored"
    assert enec.inspect(enec.compress(a, mode="fast")).mode == "fast"
    assert enec.inspect(enec.compress(a, mode="max")).mode == "max"
    with pytest.raises(ValueError, match="unknown mode 'ultra'"):
        enec.compress(a, mode="ultra")
    with pytest.raises(ValueError, match="params apply to mode 'fast'"):
        enec.compress(a, mode="stored", params=(127, 4, 2, 16))


@pytest.mark.parametrize("mode", ["fast", "max", "stored"])
def test_compress_into_a_callers_buffer(mode):
    a = np.random.default_rng(2).normal(0, 0.02, 3 * enec.BLOCK + 5).astype(ml_dtypes.bfloat16)
    cap = enec.max_compressed_size(a)
    assert cap == a.nbytes + enec.inspect(enec.compress(a, mode="stored")).header_size
    buf = bytearray(cap + 10)
    got = enec.compress(a, out=buf, mode=mode)
    assert isinstance(got, memoryview) and bytes(got) == enec.compress(a, mode=mode)
    assert bytes(buf[len(got):]) == bytes(len(buf) - len(got))  # nothing written past the stream
    assert enec.decompress(got).tobytes() == a.tobytes()
    arr = np.zeros(cap, np.uint8)
    assert bytes(enec.compress(a, out=arr, mode=mode)) == bytes(got)
    with pytest.raises(ValueError, match="too small"):
        enec.compress(a, out=bytearray(cap - 1), mode=mode)
    with pytest.raises(ValueError, match="writable"):
        enec.compress(a, out=bytes(cap))
