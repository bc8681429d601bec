"""enec as a numcodecs codec and a Zarr 3 serializer: registration, Zarr round trips, Dask."""
import os
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import enec
from testdata import assert_bitexact, make

numcodecs = pytest.importorskip("numcodecs")
zarr = pytest.importorskip("zarr")
from enec.zarr_codec import Enec  # noqa: E402  (needs numcodecs)
from enec.zarr3 import EnecCodec  # noqa: E402  (needs zarr)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _chunk_files(store):
    return [os.path.join(d, f) for d, _, fs in os.walk(store) for f in fs
            if f not in ("zarr.json", ".zarray", ".zattrs", ".zgroup")]


def _size(store):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(store) for f in fs)


def test_registered_through_numcodecs_entry_point():
    from numcodecs.registry import get_codec

    c = get_codec({"id": "enec"})
    assert isinstance(c, Enec) and c.get_config() == {"id": "enec"}
    c = get_codec({"id": "enec", "dtype": "bfloat16"})
    assert c.dtype == "bfloat16" and get_codec(c.get_config()) == c


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32", "int32", "bool"])
def test_codec_round_trip(dtype):
    if dtype in ("int32", "bool"):
        a = (np.arange(5000) % 7).astype(dtype).reshape(50, 100)
    else:
        a = make(dtype, "gauss", (50, 100))
    c = Enec()
    blob = c.encode(a)
    assert enec.inspect(blob).mode == ("fast" if dtype.startswith(("b", "f")) and dtype != "bool" else "stored")
    assert_bitexact(c.decode(blob), a)
    out = np.empty_like(a)
    assert c.decode(blob, out=out) is out
    assert_bitexact(out, a)
    with pytest.raises(ValueError, match="out holds"):
        c.decode(blob, out=np.empty(3, a.dtype))


def test_codec_reads_uint16_as_bfloat16():
    w = make("bfloat16", "gauss", (64, 300))
    c = Enec(dtype="bfloat16")
    blob = c.encode(w.view(np.uint16))
    info = enec.inspect(blob)
    assert info.mode == "fast" and info.dtype == np.dtype(ml_dtypes.bfloat16)
    assert c.decode(blob).view(np.uint16).tobytes() == w.view(np.uint16).tobytes()
    # raw bytes in (some numcodecs pipelines hand over untyped buffers): still coded, shape flattened
    flat = c.encode(w.view(np.uint16).tobytes())
    assert enec.inspect(flat).mode == "fast" and enec.inspect(flat).shape == (w.size,)
    assert c.decode(flat).tobytes() == w.tobytes()
    with pytest.raises(ValueError, match="dtype"):
        Enec(dtype="no-such-dtype")


@pytest.mark.parametrize("fmt", [2, 3])
def test_zarr_array_round_trip_and_reopen_without_import(tmp_path, fmt):
    store = str(tmp_path / "w.zarr")
    a = make("float32", "gauss", (700, 300))
    if fmt == 2:
        z = zarr.create_array(store, shape=a.shape, chunks=(128, 300), dtype=a.dtype, zarr_format=2,
                              compressors=Enec())
    else:
        z = zarr.create_array(store, shape=a.shape, chunks=(128, 300), dtype=a.dtype,
                              serializer=EnecCodec(), compressors=None)
    z[:] = a
    assert_bitexact(z[:], a)
    assert_bitexact(z[100:333, 7:9], a[100:333, 7:9])
    files = _chunk_files(store)
    assert len(files) == 6
    for f in files:  # every chunk is an ENEC-coded stream of the chunk's shape
        info = enec.inspect(open(f, "rb").read())
        assert info.mode == "fast" and info.shape == (128, 300)
    assert _size(store) < 6 * 128 * 300 * 4 / 1.1

    # a fresh interpreter that never imports enec: the codec comes from the entry point
    code = (f"import sys, zarr, numpy as np; z = zarr.open_array({store!r}, mode='r'); "
            f"sys.stdout.write(z[:].tobytes().hex()); assert 'enec' in sys.modules")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert bytes.fromhex(p.stdout) == a.tobytes()


def test_zarr3_bfloat16_held_as_uint16(tmp_path):
    store = str(tmp_path / "b.zarr")
    w = make("bfloat16", "gauss", (512, 256))
    z = zarr.create_array(store, shape=w.shape, chunks=(256, 256), dtype="uint16",
                          serializer=EnecCodec(dtype="bfloat16"), compressors=None)
    z[:] = w.view(np.uint16)
    back = zarr.open_array(store, mode="r")
    assert list(back.metadata.to_dict()["codecs"]) == [{"name": "enec", "configuration": {"dtype": "bfloat16"}}]
    assert back[:].tobytes() == w.tobytes()
    assert _size(store) < w.nbytes / 1.25  # bf16 Gaussian weights: ENEC's ~1.3+


def test_zarr3_rejects_unknown_config_and_corrupt_chunks(tmp_path):
    with pytest.raises(ValueError, match="unknown configuration"):
        EnecCodec.from_dict({"name": "enec", "configuration": {"level": 3}})
    store = str(tmp_path / "c.zarr")
    a = make("float16", "gauss", (64, 64))
    z = zarr.create_array(store, shape=a.shape, chunks=a.shape, dtype=a.dtype,
                          serializer=EnecCodec(), compressors=None)
    z[:] = a
    (chunk,) = _chunk_files(store)
    raw = bytearray(open(chunk, "rb").read())
    raw[-3] ^= 0x20
    open(chunk, "wb").write(bytes(raw))
    with pytest.raises(enec.CorruptDataError):
        zarr.open_array(store, mode="r")[:]


def test_dask_example_runs(tmp_path):
    pytest.importorskip("dask")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "zarr_dask.py"),
                        str(tmp_path / "emb.zarr")], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "matches NumPy on the original weights" in p.stdout


def test_dask_over_format2_store(tmp_path):
    da = pytest.importorskip("dask.array")
    store = str(tmp_path / "d.zarr")
    a = make("float16", "gauss", (1000, 64))
    z = zarr.create_array(store, shape=a.shape, chunks=(250, 64), dtype=a.dtype, zarr_format=2,
                          compressors=Enec())
    z[:] = a
    x = da.from_zarr(store)
    assert x.numblocks == (4, 1)
    col = (x.astype(np.float64) * 2).sum(axis=0).compute()
    assert np.array_equal(col, (a.astype(np.float64) * 2).sum(axis=0))
