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
    """(raw bytes, index, index offset) of a container-v2 file."""
    raw = open(path, "rb").read()
    magic, ver, res, ioff, ilen, icrc, hcrc = struct.unpack_from("<4sHHQQII", raw)
    assert (magic, ver) == (b"ENCK", 2) and ioff + ilen == len(raw)
    return raw, json.loads(raw[ioff:]), ioff


def _rewrite(path, index=None, *, version=2, reserved=0, trailing=b""):
    """Rebuild a checkpoint with a changed index but consistent CRCs, so that only the semantic
    checks can catch it."""
    raw, old_index, ioff = _parse(path)
    ib = json.dumps(old_index if index is None else index).encode() if not isinstance(index, bytes) else index
    head = struct.pack("<4sHHQQI", b"ENCK", version, reserved, ioff, len(ib), enec.crc32c(ib))
    head += struct.pack("<I", enec.crc32c(head))
    with open(path, "wb") as f:
        f.write(head + raw[32:ioff] + ib + trailing)


def _streams(index, name):
    t = next(t for t in index["tensors"] if t["name"] == name)
    out, off = [], t["offset"]
    for n in t["lengths"]:
        out.append((off, n))
        off = -(-(off + n) // 64) * 64
    return out


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
    raw, index, ioff = _parse(ckpt_path)
    src = _tensors()
    assert [t["name"] for t in index["tensors"]] == list(src)
    assert index["source"] is None and index["metadata"] == {"format": "pt", "note": "ünïcode"}
    pos = 64  # streams follow the 64-byte header area in order, each 64-byte aligned, up to the index
    for t in index["tensors"]:
        parts = []
        for off, n in _streams(index, t["name"]):
            assert off == pos and off % 64 == 0
            parts.append(enec.decompress(raw[off:off + n]).tobytes())
            assert not any(raw[off + n:-(-(off + n) // 64) * 64])  # zero gaps
            pos = -(-(off + n) // 64) * 64
        whole = b"".join(parts)
        assert t["dtype"] == ck.dtype_str(src[t["name"]].dtype)
        assert tuple(t["shape"]) == src[t["name"]].shape
        assert whole == src[t["name"]].tobytes()
    assert pos == ioff and not any(raw[32:64])


def test_big_tensors_are_chunked(tmp_path):
    w = make("bfloat16", "gauss", (1000, 700))  # 1.4 MB: chunks of 64 KiB
    enec.save_file({"w": w}, tmp_path / "c.enec", chunk_size=1 << 16)
    raw, index, _ = _parse(tmp_path / "c.enec")
    t = index["tensors"][0]
    assert t["chunk"] == 32768 and len(t["lengths"]) == -(-w.size // 32768)
    for i, (off, n) in enumerate(_streams(index, "w")):
        part = enec.decompress(raw[off:off + n])
        assert part.tobytes() == w.reshape(-1)[i * 32768:(i + 1) * 32768].tobytes()
    assert_bitexact(enec.load_file(tmp_path / "c.enec")["w"], w)
    assert_bitexact(enec.load_file(tmp_path / "c.enec", threads=1)["w"], w)


def test_lazy_reader(ckpt_path):
    src = _tensors()
    with enec.open(ckpt_path) as c:
        assert c.keys() == list(src) and len(c) == len(src) and "w.f32" in c and "nope" not in c
        assert list(iter(c)) == list(src)
        assert_bitexact(c["w.bf16"], src["w.bf16"])
        assert_bitexact(c.get_tensor("ids"), src["ids"])
        assert c.inspect("w.bf16").mode == "fast" and c.inspect("ids").mode == "stored"
        assert c.inspect("w.f32").original_size == src["w.f32"].nbytes
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
    raw, index, ioff = _parse(ckpt_path)
    for i in range(ioff, len(raw), 7):
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
    raw, index, _ = _parse(ckpt_path)
    off, n = _streams(index, "w.bf16")[0]
    for pos in (off + n - 10, off + 2):  # inside the payload, inside the stream header
        ckpt_path.write_bytes(raw[:pos] + bytes([raw[pos] ^ 0xFF]) + raw[pos + 1:])
        with enec.open(ckpt_path) as c:
            assert_bitexact(c["ids"], _tensors()["ids"])  # other tensors still readable
            with pytest.raises(enec.CorruptDataError, match="w.bf16"):
                c["w.bf16"]
        _expect_corrupt(ckpt_path, "w.bf16")


def _mutated(index, which, **changes):
    index = json.loads(json.dumps(index))
    for t in index["tensors"]:
        if t["name"] == which:
            t.update(changes)
            for k in [k for k, v in changes.items() if v is _DROP]:
                del t[k]
    return index


_DROP = object()


@pytest.mark.parametrize("change, match", [
    (lambda ix: _mutated(ix, "w.f16", offset=1), "multiple"),
    (lambda ix: _mutated(ix, "w.f16", offset=0), "overlaps"),
    (lambda ix: _mutated(ix, "w.f16", offset=True), "multiple"),
    (lambda ix: _mutated(ix, "w.f16", lengths=[10**12]), "overlaps"),
    (lambda ix: _mutated(ix, "ünï/ködé name", lengths=[10**12]), "past"),
    (lambda ix: _mutated(ix, "w.f16", lengths=[-1]), "below"),
    (lambda ix: _mutated(ix, "w.f16", lengths=[True]), "below"),
    (lambda ix: _mutated(ix, "w.f16", lengths=[1.5]), "below"),
    (lambda ix: _mutated(ix, "w.f16", lengths=[20]), "below"),
    (lambda ix: _mutated(ix, "w.f16", lengths=[100, 100]), "cover"),
    (lambda ix: _mutated(ix, "w.f16", lengths=7), "cover"),
    (lambda ix: _mutated(ix, "w.f16", chunk=0), "cover"),
    (lambda ix: _mutated(ix, "w.f16", chunk=10), "cover"),
    (lambda ix: _mutated(ix, "w.f16", shape=[41, 513]), "disagrees"),
    (lambda ix: _mutated(ix, "w.f16", shape=[-1]), "shape"),
    (lambda ix: _mutated(ix, "w.f16", shape="40x513"), "shape"),
    (lambda ix: _mutated(ix, "w.f16", dtype="bfloat16"), "disagrees"),
    (lambda ix: _mutated(ix, "w.f16", dtype="int16"), "disagrees"),
    (lambda ix: _mutated(ix, "w.f16", dtype=None), "dtype"),
    (lambda ix: _mutated(ix, "w.f16", dtype="object"), "dtype"),
    (lambda ix: _mutated(ix, "w.f16", dtype="no such"), "dtype"),
    (lambda ix: _mutated(ix, "w.f16", name="w.bf16"), "unique"),
    (lambda ix: _mutated(ix, "w.f16", name=7), "unique"),
    (lambda ix: _mutated(ix, "w.f16", extra=1), "keys"),
    (lambda ix: _mutated(ix, "w.f16", chunk=_DROP), "keys"),
    (lambda ix: _mutated(ix, "w.f16", same_as="w.bf16"), "keys"),
    (lambda ix: _mutated(ix, "w.f16", same_as="w.bf16", chunk=_DROP, offset=_DROP, lengths=_DROP), "same_as"),
    (lambda ix: _mutated(ix, "w.f16", same_as="nope", chunk=_DROP, offset=_DROP, lengths=_DROP), "same_as"),
    (lambda ix: {**ix, "more": 1}, "exactly"),
    (lambda ix: {"tensors": ix["tensors"], "metadata": None}, "exactly"),
    (lambda ix: {**ix, "metadata": {"a": 1}}, "metadata"),
    (lambda ix: {**ix, "metadata": ["a"]}, "metadata"),
    (lambda ix: {**ix, "source": ["a"]}, "source"),
    (lambda ix: {**ix, "tensors": {}}, "list"),
    (lambda ix: [], "exactly"),
    (lambda ix: b'{"tensors": [], "tensors": [], "metadata": null, "source": null}', "duplicate"),
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
    (dict(version=3), "version 3"),
    (dict(version=0), "version 0"),
    (dict(reserved=1), "reserved"),
    (dict(trailing=b"x"), "trailing"),
])
def test_rejects_header_fields(ckpt_path, kw, match):
    _rewrite(ckpt_path, **kw)
    _expect_corrupt(ckpt_path, match)
    newer = kw.get("version", 0) > 2  # an intact file of a newer container: "upgrade", not "damaged"
    with pytest.raises(enec.CorruptDataError) as info:
        enec.open(ckpt_path)
    assert isinstance(info.value, enec.UnsupportedFormatError) == newer


# ----------------------------------------------------------------------------- container version 1


def _golden():
    # what tests/data/container_v1.enec holds (written by enec 0.1.0, container version 1)
    x = np.linspace(-2, 2, 3000, dtype=np.float32).reshape(60, 50)
    return {"w.f32": x, "w.bf16": x.astype(ml_dtypes.bfloat16), "w.f16": x.T.astype(np.float16).copy(),
            "ids": np.arange(-7, 8, dtype=np.int64).reshape(3, 5), "mask": np.arange(9) % 3 == 0,
            "scalar": np.array(np.float32(1.5)), "empty": np.zeros((0, 4), np.float32),
            "fp8": np.linspace(-1, 1, 40, dtype=np.float32).astype(ml_dtypes.float8_e4m3fn)}


GOLDEN_V1 = os.path.join(os.path.dirname(__file__), "data", "container_v1.enec")


def test_reads_golden_version_1_file(tmp_path):
    assert open(GOLDEN_V1, "rb").read(6) == b"ENCK\x01\x00"
    want = _golden()
    back = enec.load_file(GOLDEN_V1)
    assert list(back) == list(want)
    for k in want:
        assert_bitexact(back[k], want[k])
    with enec.safe_open(GOLDEN_V1) as f:
        assert f.version == 1 and f.metadata() == {"format": "pt", "made_by": "enec 0.1.0 (container v1)"}
        assert_bitexact(f.get_slice("w.f32")[10:20, 3], want["w.f32"][10:20, 3])
    # and converts to safetensors (fresh layout: v1 kept no header) and to a version-2 file
    enec.convert.enec_to_safetensors(GOLDEN_V1, tmp_path / "g.safetensors")
    a, md = enec.convert.read_safetensors(tmp_path / "g.safetensors")
    assert md == {"format": "pt", "made_by": "enec 0.1.0 (container v1)"}
    for k in want:
        assert_bitexact(a[k], want[k])


def test_version_1_damage_is_still_rejected(tmp_path):
    raw = open(GOLDEN_V1, "rb").read()
    p = tmp_path / "g.enec"
    ilen = struct.unpack_from("<Q", raw, 8)[0]
    for pos, match in ((3, None), (40, "index checksum"), (len(raw) - 5, None)):
        p.write_bytes(raw[:pos] + bytes([raw[pos] ^ 0x20]) + raw[pos + 1:])
        _expect_corrupt(p, match)
    p.write_bytes(raw[:-1])
    _expect_corrupt(p, "truncated")
    assert ilen < len(raw)


def test_foreign_files_get_a_hint(tmp_path):
    p = tmp_path / "s.enec"
    p.write_bytes(enec.compress(np.ones(10, np.float32)))
    _expect_corrupt(p, "single enec stream")
    p.write_bytes(b"")
    _expect_corrupt(p, "not an enec checkpoint")
    p.write_bytes(b"\x08\0\0\0\0\0\0\0{}")
    _expect_corrupt(p, "enec compress")


def test_inspect_from_headers_agrees_with_full_streams(tmp_path):
    # inspect() reads stream headers only; chunk_infos() reads and checks whole streams
    t = _tensors()
    t["chunked"] = make("float32", "gauss", (300, 1000))
    p = tmp_path / "i.enec"
    enec.save_file(t, p, chunk_size=1 << 16)
    with enec.open(p) as c:
        for name in c.keys():
            infos = c.chunk_infos(name)
            fast = [c._summary(c.entry(name), i) for i in range(len(infos))]
            for a, b in zip(fast, infos):
                assert (a.version, a.mode, a.count, a.params and a.params[:4], a.nblocks, a.header_size,
                        a.original_size, a.compressed_size) == \
                       (b.version, b.mode, b.count, b.params and b.params[:4], b.nblocks, b.header_size,
                        b.original_size, b.compressed_size), name
        assert len(c.entry("chunked").streams) > 1
        assert c.inspect("chunked").original_size == t["chunked"].nbytes
