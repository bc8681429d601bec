"""The .enec checkpoint container: round trips, the lazy reader, safetensors conversion, rejection."""
import json
import os
import struct

import ml_dtypes
import numpy as np
import pytest

import enec
import enec.checkpoint as ck
import enec.convert
from testdata import assert_bitexact, make, rng_for


def _tensors():
    rng = rng_for("checkpoint")
    return {
        "w.bf16": make("bfloat16", "gauss", (300, 70)),
        "w.f16": make("float16", "mixed", (40, 513)),
        "w.f32": make("float32", "gauss", (20000,)),
        "scalar": np.array(np.float32(1.5)),
        "empty": np.zeros((0, 7), np.float32),
        "ids": rng.integers(-2**62, 2**62, (3, 5), dtype=np.int64),
        "mask": rng.integers(0, 2, 33).astype(bool),
        "u16": rng.integers(0, 65535, 17, dtype=np.uint16),
        "f64": rng.normal(size=(4, 4)),
        "c64": (rng.normal(size=6) + 1j * rng.normal(size=6)).astype(np.complex64),
        "big": np.arange(10, dtype=">f4"),
        "fp8": rng.normal(size=100).astype(ml_dtypes.float8_e4m3fn),
        "ünï/ködé name": np.arange(3, dtype=np.int8),
    }


def _parse(path):
    raw = open(path, "rb").read()
    magic, ver, res, ilen, dsize, icrc, hcrc = struct.unpack_from("<4sHHQQII", raw)
    index = json.loads(raw[32:32 + ilen])
    return raw, index, (ilen, dsize)


def _rewrite(path, index=None, *, data=None, reserved=0, version=1, pad_byte=0, trailing=b""):
    """Rebuild a checkpoint with a changed index/data but consistent CRCs, so that only the
    semantic checks can catch it."""
    raw, old_index, (ilen, dsize) = _parse(path)
    data_start = -(-(32 + ilen) // 64) * 64
    data = raw[data_start:] if data is None else data
    ib = json.dumps(old_index if index is None else index).encode() if not isinstance(index, bytes) else index
    ds = -(-(32 + len(ib)) // 64) * 64
    head = struct.pack("<4sHHQQI", b"ENCK", version, reserved, len(ib), len(data), enec.crc32c(ib))
    head += struct.pack("<I", enec.crc32c(head))
    assert pad_byte == 0 or ds - 32 - len(ib) > 0  # there is padding to damage
    padding = bytes([pad_byte]) * (ds - 32 - len(ib))
    with open(path, "wb") as f:
        f.write(head + ib + padding + data + trailing)


@pytest.fixture
def ckpt_path(tmp_path):
    p = tmp_path / "m.enec"
    enec.save_file(_tensors(), p, metadata={"format": "pt", "note": "ünïcode"})
    return p


def test_round_trip_every_dtype(ckpt_path):
    src = _tensors()
    back = enec.load_file(ckpt_path)
    assert list(back) == list(src)  # names, in the order saved
    for k in src:
        assert_bitexact(back[k], src[k])


def test_metadata_kept_exactly(tmp_path):
    for md in (None, {}, {"a": "1", "": "empty key", "k": ""}):
        p = tmp_path / "x.enec"
        enec.save_file({"t": np.ones(3, np.float32)}, p, metadata=md)
        with enec.open(p) as c:
            assert c.metadata() == md


def test_layout_is_aligned_and_index_matches(ckpt_path):
    raw, index, (ilen, dsize) = _parse(ckpt_path)
    data_start = -(-(32 + ilen) // 64) * 64
    assert len(raw) == data_start + dsize and data_start % 64 == 0
    src = _tensors()
    assert [t["name"] for t in index["tensors"]] == list(src)
    for t in index["tensors"]:
        assert t["offset"] % 64 == 0
        blob = raw[data_start + t["offset"]:data_start + t["offset"] + t["length"]]
        info = enec.inspect(blob)
        assert t["dtype"] == ck.dtype_str(src[t["name"]].dtype)
        assert tuple(t["shape"]) == src[t["name"]].shape == info.shape
        assert_bitexact(enec.decompress(blob), src[t["name"]])


def test_lazy_reader(ckpt_path):
    src = _tensors()
    with enec.open(ckpt_path) as c:
        assert c.keys() == list(src) and len(c) == len(src) and "w.f32" in c and "nope" not in c
        assert list(iter(c)) == list(src)
        assert_bitexact(c["w.bf16"], src["w.bf16"])
        assert_bitexact(c.get_tensor("ids"), src["ids"])
        assert c.inspect("w.bf16").mode == "fast" and c.inspect("ids").mode == "stored"
        assert enec.decompress(c.stream("mask")).tobytes() == src["mask"].tobytes()
        assert c.entry("w.f16").shape == (40, 513)
        with pytest.raises(KeyError, match="nope"):
            c["nope"]
    with pytest.raises(ValueError, match="closed"):
        c["w.bf16"]


def test_empty_checkpoint(tmp_path):
    p = tmp_path / "e.enec"
    enec.save_file({}, p, metadata={"a": "b"})
    with enec.open(p) as c:
        assert c.keys() == [] and c.metadata() == {"a": "b"}
    assert enec.load_file(p) == {}


def test_bad_arguments(tmp_path):
    p = tmp_path / "x.enec"
    with pytest.raises(TypeError, match="str"):
        enec.save_file({1: np.ones(2)}, p)
    with pytest.raises(TypeError, match="metadata"):
        enec.save_file({"a": np.ones(2)}, p, metadata={"a": 1})
    with pytest.raises(TypeError, match="dict"):
        enec.save_file([np.ones(2)], p)
    with pytest.raises(ValueError, match="framework"):
        enec.load_file(p, framework="jax")
    assert not p.exists()


def test_failed_save_leaves_old_file_and_no_temp(tmp_path):
    p = tmp_path / "x.enec"
    enec.save_file({"a": np.ones(5, np.float32)}, p)
    before = p.read_bytes()
    bad = {"a": np.ones(5, np.float32), "b": np.array([object()], dtype=object)}
    with pytest.raises(TypeError, match="'b'"):
        enec.save_file(bad, p)
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["x.enec"]


def test_safetensors_round_trip_real_model(tmp_path, minilm_f32):
    from safetensors.numpy import save_file

    # bf16 and a few other dtypes next to the real fp32 tensors, plus metadata
    names = sorted(minilm_f32)[:12]
    tensors = {k: minilm_f32[k] for k in names}
    tensors.update({k + ".bf16": minilm_f32[k].astype(ml_dtypes.bfloat16) for k in names[:4]})
    tensors["position_ids"] = np.arange(512, dtype=np.int64)[None]
    src = tmp_path / "m.safetensors"
    save_file(tensors, src, metadata={"format": "pt", "origin": "test"})
    entries = enec.convert.safetensors_to_enec(src, tmp_path / "m.enec")
    assert {e.name for e in entries} == set(tensors)
    assert os.path.getsize(tmp_path / "m.enec") < os.path.getsize(src)
    enec.convert.enec_to_safetensors(tmp_path / "m.enec", tmp_path / "back.safetensors")
    a, ma = enec.convert.read_safetensors(src)
    b, mb = enec.convert.read_safetensors(tmp_path / "back.safetensors")
    assert ma == mb == {"format": "pt", "origin": "test"}
    assert sorted(a) == sorted(b) == sorted(tensors)
    for k in a:
        assert_bitexact(b[k], a[k])


def test_safetensors_without_metadata(tmp_path):
    from safetensors.numpy import save_file

    save_file({"x": np.arange(6, dtype=np.float16)}, tmp_path / "a.safetensors")
    enec.convert.safetensors_to_enec(tmp_path / "a.safetensors", tmp_path / "a.enec")
    enec.convert.enec_to_safetensors(tmp_path / "a.enec", tmp_path / "b.safetensors")
    assert enec.convert.read_safetensors(tmp_path / "b.safetensors")[1] is None


def test_not_safetensors(tmp_path):
    p = tmp_path / "junk.safetensors"
    p.write_bytes(b"\xff" * 100)
    with pytest.raises(ValueError, match="safetensors"):
        enec.convert.safetensors_to_enec(p, tmp_path / "o.enec")
    assert not (tmp_path / "o.enec").exists()


# ----------------------------------------------------------------------------- rejection


def _expect_corrupt(path, match=None):
    with pytest.raises(enec.CorruptDataError, match=match):
        with enec.open(path) as c:
            for k in c.keys():
                c[k]


def test_rejects_every_header_byte_flip(ckpt_path):
    raw = ckpt_path.read_bytes()
    for i in range(32):
        ckpt_path.write_bytes(raw[:i] + bytes([raw[i] ^ 0x10]) + raw[i + 1:])
        _expect_corrupt(ckpt_path)


def test_rejects_index_damage(ckpt_path):
    raw, index, (ilen, dsize) = _parse(ckpt_path)
    for i in range(32, 32 + ilen, 7):
        ckpt_path.write_bytes(raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:])
        _expect_corrupt(ckpt_path, "index checksum")


def test_rejects_truncation_and_trailing_data(ckpt_path):
    raw = ckpt_path.read_bytes()
    for n in (0, 3, 4, 31, 32, 100, len(raw) // 2, len(raw) - 1):
        ckpt_path.write_bytes(raw[:n])
        _expect_corrupt(ckpt_path)
    ckpt_path.write_bytes(raw + b"\0")
    _expect_corrupt(ckpt_path, "trailing")


def test_rejects_stream_damage_on_access(ckpt_path):
    raw, index, (ilen, dsize) = _parse(ckpt_path)
    data_start = -(-(32 + ilen) // 64) * 64
    t = next(t for t in index["tensors"] if t["name"] == "w.bf16")
    pos = data_start + t["offset"] + t["length"] - 10  # inside the payload: found on decode
    ckpt_path.write_bytes(raw[:pos] + bytes([raw[pos] ^ 0xFF]) + raw[pos + 1:])
    with enec.open(ckpt_path) as c:
        assert_bitexact(c["ids"], _tensors()["ids"])  # other tensors still readable
        with pytest.raises(enec.CorruptDataError, match="w.bf16"):
            c["w.bf16"]
    pos = data_start + t["offset"] + 2  # the stream header: found on open
    ckpt_path.write_bytes(raw[:pos] + bytes([raw[pos] ^ 0xFF]) + raw[pos + 1:])
    _expect_corrupt(ckpt_path, "w.bf16")


def _mutated(index, which, **changes):
    index = json.loads(json.dumps(index))
    for t in index["tensors"]:
        if t["name"] == which:
            t.update(changes)
    return index


@pytest.mark.parametrize("change, match", [
    (lambda ix: _mutated(ix, "w.f16", offset=1), "misaligned"),
    (lambda ix: _mutated(ix, "w.f16", offset=0), "overlaps"),
    (lambda ix: _mutated(ix, "w.f16", length=10**12), "outside"),
    (lambda ix: _mutated(ix, "w.f16", length=-1), "outside"),
    (lambda ix: _mutated(ix, "w.f16", length=True), "outside"),
    (lambda ix: _mutated(ix, "w.f16", length=1.5), "outside"),
    (lambda ix: _mutated(ix, "w.f16", length=20), "outside"),
    (lambda ix: _mutated(ix, "w.f16", shape=[513, 40]), "disagrees"),
    (lambda ix: _mutated(ix, "w.f16", shape=[-1]), "shape"),
    (lambda ix: _mutated(ix, "w.f16", shape="40x513"), "shape"),
    (lambda ix: _mutated(ix, "w.f16", dtype="bfloat16"), "disagrees"),
    (lambda ix: _mutated(ix, "w.f16", dtype=None), "dtype"),
    (lambda ix: _mutated(ix, "w.f16", name="w.bf16"), "unique"),
    (lambda ix: _mutated(ix, "w.f16", name=7), "unique"),
    (lambda ix: _mutated(ix, "w.f16", extra=1), "keys"),
    (lambda ix: {**ix, "more": 1}, "exactly"),
    (lambda ix: {"tensors": ix["tensors"]}, "exactly"),
    (lambda ix: {**ix, "metadata": {"a": 1}}, "metadata"),
    (lambda ix: {**ix, "metadata": ["a"]}, "metadata"),
    (lambda ix: {**ix, "tensors": {}}, "list"),
    (lambda ix: [], "exactly"),
    (lambda ix: b'{"tensors": [], "tensors": [], "metadata": null}', "duplicate"),
    (lambda ix: b"\xff\xfe not json", "unreadable"),
    (lambda ix: b"[" * 100000, "unreadable"),
])
def test_rejects_inconsistent_index(ckpt_path, change, match):
    raw, index, _ = _parse(ckpt_path)
    _rewrite(ckpt_path, change(index))
    _expect_corrupt(ckpt_path, match)


def test_rewrite_helper_is_faithful(ckpt_path):
    # the rejection tests above mean something only if an unchanged rewrite still opens
    _rewrite(ckpt_path)
    assert_bitexact(enec.load_file(ckpt_path)["w.bf16"], _tensors()["w.bf16"])


@pytest.mark.parametrize("kw, match", [
    (dict(version=2), "version 2"),
    (dict(reserved=1), "reserved"),
    (dict(pad_byte=1), "padding"),
])
def test_rejects_header_fields(ckpt_path, kw, match):
    _rewrite(ckpt_path, **kw)
    _expect_corrupt(ckpt_path, match)


def test_foreign_files_get_a_hint(tmp_path):
    p = tmp_path / "s.enec"
    p.write_bytes(enec.compress(np.ones(10, np.float32)))
    _expect_corrupt(p, "single enec stream")
    p.write_bytes(b"")
    _expect_corrupt(p, "not an enec checkpoint")
    p.write_bytes(b"\x08\0\0\0\0\0\0\0{}")
    _expect_corrupt(p, "enec compress")
