"""Real checkpoints at scale: byte-identical safetensors round trips for any valid layout, every
safetensors dtype, sharded model directories through the CLI, tied tensors, sliced reads that
decode only the chunks they need, bounded memory, files truncated under a reader, stale temporaries."""
import json
import os
import struct
import subprocess
import sys
import tracemalloc

import ml_dtypes
import numpy as np
import pytest

import enec
import enec.checkpoint as ck
import enec.convert as cv
from testdata import assert_bitexact, make, rng_for


def run(*args, cwd=None):
    p = subprocess.run([sys.executable, "-m", "enec.cli", *map(str, args)], capture_output=True,
                       text=True, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def write_safetensors(path, tensors, *, metadata=None, order=None, pad=0, header_order=None):
    """A valid safetensors file laid out by hand: data in `order`, header keys in `header_order`,
    `pad` extra spaces after the header JSON (all of which the format allows).
    tensors: {name: (ST dtype, shape, raw bytes)}."""
    order = list(order or tensors)
    offsets, pos = {}, 0
    for k in order:
        n = len(tensors[k][2])
        offsets[k] = [pos, pos + n]
        pos += n
    head = {}
    if metadata is not None:
        head["__metadata__"] = metadata
    for k in (header_order or list(tensors)):
        dt, shape, _ = tensors[k]
        head[k] = {"dtype": dt, "shape": list(shape), "data_offsets": offsets[k]}
    body = json.dumps(head).encode() + b" " * pad
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(body)) + body + b"".join(tensors[k][2] for k in order))


def _every_dtype():
    rng = rng_for("st-dtypes")
    f = rng.normal(0, 1, 300).astype(np.float32)
    arrays = {
        "BOOL": rng.integers(0, 2, 10).astype(bool), "U8": rng.integers(0, 255, 7, dtype=np.uint8),
        "I8": rng.integers(-100, 100, 9, dtype=np.int8), "U16": rng.integers(0, 9999, 5, dtype=np.uint16),
        "I16": rng.integers(-999, 999, 5, dtype=np.int16), "U32": np.arange(4, dtype=np.uint32),
        "I32": np.arange(-3, 3, dtype=np.int32), "U64": np.arange(3, dtype=np.uint64),
        "I64": np.arange(-2, 4, dtype=np.int64), "F16": f[:100].astype(np.float16).reshape(10, 10),
        "F32": f.reshape(3, 100), "F64": f[:20].astype(np.float64), "BF16": f.astype(ml_dtypes.bfloat16),
        "F8_E4M3": f.astype(ml_dtypes.float8_e4m3fn).reshape(30, 10),
        "F8_E5M2": f.astype(ml_dtypes.float8_e5m2), "F8_E8M0": np.abs(f).astype(ml_dtypes.float8_e8m0fnu),
        "C64": (f[:8] + 1j * f[8:16]).astype(np.complex64),
    }
    t = {f"t.{k}": (k, a.shape, a.tobytes()) for k, a in arrays.items()}
    t["t.F4"] = ("F4", (2, 6), bytes(range(6)))  # packed: two 4-bit values per byte
    t["t.empty"] = ("F32", (0, 5), b"")
    return t, arrays


def test_every_safetensors_dtype_and_any_layout_round_trips_byte_for_byte(tmp_path):
    tensors, arrays = _every_dtype()
    names = list(tensors)
    layouts = {
        "writer": dict(),
        "reversed data": dict(order=names[::-1]),
        "padded header": dict(pad=37, metadata={"format": "pt", "x": "ü"}),
        "shuffled header": dict(header_order=sorted(names, key=lambda k: hash(k) % 7), order=names[3:] + names[:3]),
    }
    for what, kw in layouts.items():
        src = tmp_path / f"{what}.safetensors"
        write_safetensors(src, tensors, **kw)
        from safetensors import safe_open
        with safe_open(str(src), "np"):  # the safetensors library accepts the file
            pass
        cv.safetensors_to_enec(src, tmp_path / "m.enec", chunk_size=256)
        cv.enec_to_safetensors(tmp_path / "m.enec", tmp_path / "back.safetensors")
        assert (tmp_path / "back.safetensors").read_bytes() == src.read_bytes(), what
        assert cv.compare_with_original(tmp_path / "m.enec", src) == []
        with enec.safe_open(tmp_path / "m.enec") as f:
            for k, a in arrays.items():
                assert_bitexact(f.get_tensor(f"t.{k}"), a)  # float8s come back as ml_dtypes types
            assert f.get_tensor("t.F4").tobytes() == bytes(range(6))  # packed bytes kept as uint8
            assert f.get_slice("t.F8_E4M3").get_dtype() == "F8_E4M3"


def test_verify_compares_bytes_not_just_tensors(tmp_path):
    tensors, _ = _every_dtype()
    write_safetensors(tmp_path / "a.safetensors", tensors, pad=8)
    assert run("compress", tmp_path / "a.safetensors")[0] == 0
    # same tensors, same metadata, different padding: tensor-equal but not byte-equal
    write_safetensors(tmp_path / "b.safetensors", tensors, pad=16)
    rc, out, err = run("verify", tmp_path / "a.enec", tmp_path / "b.safetensors")
    assert rc == 1 and "differ" in err
    rc, out, err = run("verify", tmp_path / "a.enec", tmp_path / "a.safetensors")
    assert rc == 0 and "byte for byte" in out
    rc, out, err = run("verify", tmp_path / "a.enec")
    assert rc == 0 and "SHA-256" in out


def test_float8_file_through_the_cli(tmp_path):
    w = make("float32", "gauss", (64, 100)).astype(ml_dtypes.float8_e4m3fn)
    write_safetensors(tmp_path / "f8.safetensors", {"w": ("F8_E4M3", w.shape, w.tobytes()),
                                                    "v": ("F8_E5M2", (3,), bytes([1, 2, 3]))})
    rc, out, err = run("compress", tmp_path / "f8.safetensors")
    assert rc == 0 and "Traceback" not in err, err
    assert run("decompress", tmp_path / "f8.enec", "-o", tmp_path / "back.safetensors")[0] == 0
    assert (tmp_path / "back.safetensors").read_bytes() == (tmp_path / "f8.safetensors").read_bytes()
    assert_bitexact(enec.load_file(tmp_path / "f8.enec")["w"], w)


def test_tied_tensors_are_stored_once(tmp_path):
    w = make("bfloat16", "gauss", (300, 200))
    other = (make("float32", "gauss", (300, 200)) * 3).astype(ml_dtypes.bfloat16)
    enec.save_file({"emb": w, "head": w, "other": other, "copy": w.copy()}, tmp_path / "t.enec")
    enec.save_file({"emb": w, "other": other}, tmp_path / "once.enec")
    with enec.open(tmp_path / "t.enec") as c:
        assert c.entry("head").same_as == "emb" and c.entry("copy").same_as == "emb"
        assert c.entry("other").same_as is None
        assert_bitexact(c["head"], w)
    # the tied names cost index bytes only
    assert os.path.getsize(tmp_path / "t.enec") - os.path.getsize(tmp_path / "once.enec") < 300
    back = enec.load_file(tmp_path / "t.enec")
    assert back["emb"] is back["head"]  # one array under both names, as torch ties them
    # in a safetensors file: duplicate data under two names, restored byte for byte
    raw = w.tobytes()
    write_safetensors(tmp_path / "d.safetensors", {"a": ("BF16", w.shape, raw), "b": ("BF16", w.shape, raw)})
    entries = cv.safetensors_to_enec(tmp_path / "d.safetensors", tmp_path / "d.enec")
    assert [e.same_as for e in entries] == [None, "a"]
    cv.enec_to_safetensors(tmp_path / "d.enec", tmp_path / "d2.safetensors")
    assert (tmp_path / "d2.safetensors").read_bytes() == (tmp_path / "d.safetensors").read_bytes()


def test_get_slice_decodes_only_the_chunks_it_needs(tmp_path, monkeypatch):
    w = make("float32", "gauss", (3000, 384))  # 4.6 MB, chunks of 64 KiB = 42.7 rows
    enec.save_file({"emb": w}, tmp_path / "e.enec", chunk_size=1 << 16)
    reads = []
    real = ck.CheckpointReader._read

    def spy(self, offset, length, name):
        reads.append(length)
        return real(self, offset, length, name)

    monkeypatch.setattr(ck.CheckpointReader, "_read", spy)
    with enec.safe_open(tmp_path / "e.enec") as f:
        e = f.entry("emb")
        assert len(e.streams) == 71
        s = f.get_slice("emb")
        assert s.get_shape() == [3000, 384] and s.get_dtype() == "F32"
        cases = [np.s_[100:200], np.s_[100:200, 5:9], np.s_[5], np.s_[-1], np.s_[..., 3], np.s_[::-700],
                 np.s_[[3, 1, 2999]], np.s_[2990:10:-300, 2], np.s_[10:10], np.s_[1000:1001, ...]]
        for key in cases:
            reads.clear()
            got = s[key]
            assert_bitexact(got, w[key])
            lo_hi = np.arange(3000)[key[0] if isinstance(key, tuple) else key]
            lo_hi = np.atleast_1d(lo_hi)
            if key == np.s_[..., 3] or key == np.s_[::-700] or key == np.s_[[3, 1, 2999]] \
                    or key == np.s_[2990:10:-300, 2]:
                continue  # these span the tensor
            rows = (lo_hi.max() - lo_hi.min() + 1) if lo_hi.size else 0
            chunks = -(-rows * 384 // 16384) + 1 if rows else 0
            assert len(reads) <= chunks, (key, len(reads))
        reads.clear()
        s[100:200]
        assert sum(reads) < os.path.getsize(tmp_path / "e.enec") / 10
        assert_bitexact(f.read_range("emb", 50000, 50010), w.reshape(-1)[50000:50010])


def test_truncated_or_rewritten_under_an_open_reader_raises(tmp_path):
    w = make("bfloat16", "gauss", (2000, 500))
    p = tmp_path / "m.enec"
    enec.save_file({"w": w, "v": w[:10] * 2}, p, chunk_size=1 << 16)
    size = os.path.getsize(p)
    with enec.open(p) as c:
        os.truncate(p, size // 2)  # a memory map would SIGBUS here
        with pytest.raises(enec.CorruptDataError, match="truncated"):
            c["w"]
        with pytest.raises(enec.CorruptDataError):
            c.get_slice("w")[1900:]
    enec.save_file({"w": w, "v": w[:10] * 2}, p, chunk_size=1 << 16)
    with enec.open(p) as c:
        with open(p, "r+b") as f:  # rewritten in place with other bytes
            f.seek(1000)
            f.write(os.urandom(size // 2))
        with pytest.raises(enec.CorruptDataError):
            c["w"]


def test_memory_is_bounded_by_chunks_not_tensors(tmp_path):
    # a 32 MB tensor; converting either way must not hold it (1 MiB chunks, a few per thread)
    w = make("bfloat16", "gauss", (4096, 4096))
    write_safetensors(tmp_path / "big.safetensors", {"w": ("BF16", w.shape, w.tobytes())})
    del w
    for step in ("compress", "decompress"):
        tracemalloc.start()
        if step == "compress":
            cv.safetensors_to_enec(tmp_path / "big.safetensors", tmp_path / "big.enec", threads=2)
        else:
            cv.enec_to_safetensors(tmp_path / "big.enec", tmp_path / "back.safetensors", threads=2)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 16 << 20, (step, peak)
    assert (tmp_path / "back.safetensors").read_bytes() == (tmp_path / "big.safetensors").read_bytes()


def _sharded_model(d):
    rng = rng_for("sharded")
    shards = {
        "model-00001-of-00002.safetensors": {"embed.weight": rng.normal(0, .02, (500, 64)).astype(np.float32),
                                             "layer.0.weight": rng.normal(0, .02, (64, 64)).astype(np.float32)},
        "model-00002-of-00002.safetensors": {"layer.1.weight": rng.normal(0, .02, (64, 64)).astype(np.float32),
                                             "layer.1.bias": np.zeros(64, np.float32)},
    }
    weight_map = {}
    for i, (name, t) in enumerate(shards.items()):
        # hand-laid files: data in reverse name order and a padded header, as other writers do
        write_safetensors(d / name, {k: ("F32", a.shape, a.tobytes()) for k, a in t.items()},
                          metadata={"format": "pt"}, order=sorted(t, reverse=True), pad=8 * i + 3)
        weight_map.update({k: name for k in t})
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 1},
                                                                "weight_map": weight_map}, indent=2))
    (d / "config.json").write_text('{"model_type": "toy"}\n')
    (d / "tokenizer").mkdir()
    (d / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    (d / ".gitattributes").write_bytes(b"*.safetensors filter=lfs\n")
    return shards


def _tree(d):
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_sharded_directory_round_trips_byte_for_byte_through_the_cli(tmp_path):
    src = tmp_path / "model"
    src.mkdir()
    shards = _sharded_model(src)
    rc, out, err = run("compress", src, "-o", tmp_path / "model.enec")
    assert rc == 0, err
    got = sorted(_tree(tmp_path / "model.enec"))
    assert got == sorted([".gitattributes", "config.json", "model-00001-of-00002.enec",
                          "model-00002-of-00002.enec", "model.safetensors.index.json", "tokenizer/vocab.txt"])
    rc, out, err = run("decompress", tmp_path / "model.enec", "-o", tmp_path / "back")
    assert rc == 0, err
    assert _tree(tmp_path / "back") == _tree(src)
    assert run("verify", tmp_path / "model.enec", src)[0] == 0
    assert run("verify", tmp_path / "model.enec")[0] == 0
    # the default output of a directory is DIR.enec, which now exists: refused without --force
    rc, out, err = run("compress", src)
    assert rc == 2 and "--force" in err
    assert run("compress", src, "--force", "-q")[0] == 0
    # verify notices a changed, a missing and an extra file
    (src / "config.json").write_text('{"model_type": "other"}\n')
    rc, out, err = run("verify", tmp_path / "model.enec", src)
    assert rc == 1 and "config.json" in err
    (src / "config.json").write_text('{"model_type": "toy"}\n')
    (src / "extra.txt").write_text("x")
    rc, out, err = run("verify", tmp_path / "model.enec", src)
    assert rc == 1 and "extra.txt" in err
    # loading every shard as one state dict
    pytest.importorskip("torch")
    import enec.torch
    sd = enec.torch.load_state_dict(tmp_path / "model.enec")
    for t in shards.values():
        for k, a in t.items():
            assert sd[k].numpy().tobytes() == a.tobytes()


def test_stale_temporaries_of_a_killed_run_are_removed_and_reported(tmp_path):
    src = tmp_path / "a.safetensors"
    write_safetensors(src, {"w": ("F32", (10,), np.arange(10, dtype=np.float32).tobytes())})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".a.enec.enec-{dead.pid}-x1y2.tmp"
    stale.write_bytes(b"partial output of a killed run")
    live = tmp_path / f".a.enec.enec-{os.getpid()}-live.tmp"  # a writer that is still running
    live.write_bytes(b"busy")
    rc, out, err = run("compress", src)
    assert rc == 0 and "removed" in err and stale.name in err
    assert not stale.exists() and live.exists()
    # a killed compress leaves such a file; the next run cleans it
    live.unlink()
    big = tmp_path / "big.safetensors"
    w = make("float32", "gauss", (2000, 2000))
    write_safetensors(big, {"w": ("F32", w.shape, w.tobytes())})
    p = subprocess.Popen([sys.executable, "-m", "enec.cli", "compress", "-t", "1", str(big)],
                         stderr=subprocess.PIPE)
    for _ in range(200):
        if any(n.startswith(".big.enec.enec-") for n in os.listdir(tmp_path)):
            break
        p.poll() is None and __import__("time").sleep(0.01)
    p.kill()
    p.wait()
    if p.returncode == 0:
        pytest.skip("compress finished before it could be killed")
    assert any(n.startswith(".big.enec.enec-") for n in os.listdir(tmp_path))
    rc, out, err = run("compress", big)
    assert rc == 0 and "removed" in err
    assert not any(n.endswith(".tmp") for n in os.listdir(tmp_path))


def test_cli_failures_are_one_line(tmp_path):
    src = tmp_path / "a.safetensors"
    write_safetensors(src, {"w": ("F32", (10,), np.arange(10, dtype=np.float32).tobytes())})
    for args in (["compress", src, "-t", "99999999999"], ["compress", src, "-t", "x"],
                 ["bench", src, "--max-mib", "0"]):
        rc, out, err = run(*args)
        assert rc == 2 and "Traceback" not in err, (args, err)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", 20) + b'{"w": {"dtype": "F32"' + b"\0" * 10)
    rc, out, err = run("compress", bad)
    assert rc == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    # a file-size limit (EFBIG, as on a full or quota-limited disk): one line, exit 1, no output left
    import resource
    import signal

    big = tmp_path / "big.safetensors"
    w = make("float32", "gauss", (500, 500))
    write_safetensors(big, {"w": ("F32", w.shape, w.tobytes())})
    assert run("compress", big)[0] == 0

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    for args in (["decompress", tmp_path / "big.enec", "-o", tmp_path / "out.safetensors"],
                 ["compress", big, "-o", tmp_path / "out.enec"]):
        p = subprocess.run([sys.executable, "-m", "enec.cli", *map(str, args)], capture_output=True,
                           text=True, preexec_fn=limit)
        assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and "too large" in p.stderr.lower(), p.stderr
    assert not any(n.startswith(".out") or n.startswith("out") for n in os.listdir(tmp_path))
    # outputs that are not regular files are refused, never replaced
    rc, out, err = run("decompress", tmp_path / "big.enec", "-o", "/dev/null", "--force")
    assert rc == 2 and "regular file" in err and os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    # inspect piped into a reader that stops early
    enec.save_file({f"t{i}": np.zeros(3, np.float32) for i in range(3000)}, tmp_path / "many.enec")
    p = subprocess.run(f"{sys.executable} -m enec.cli inspect {tmp_path / 'many.enec'} | head -2",
                       shell=True, capture_output=True, text=True, executable="/bin/bash")
    assert len(p.stdout.splitlines()) == 2 and "Broken pipe" not in p.stderr and "Error" not in p.stderr


def test_bf16_npy_gets_a_hint(tmp_path):
    w = make("bfloat16", "gauss", (100, 100))
    np.save(tmp_path / "w.npy", w)  # NumPy writes bfloat16 as |V2
    rc, out, err = run("compress", tmp_path / "w.npy")
    assert rc == 0 and "--dtype bfloat16" in err
    rc, out, err = run("compress", tmp_path / "w.npy", "--dtype", "bfloat16", "-f")
    assert rc == 0 and "--dtype" not in err


def test_submodules_work_after_a_plain_import():
    code = ("import sys, enec; enec.npu.compress; enec.zarr_codec.Enec; enec.convert.compress_dir; "
            "print('torch' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == "False", p.stderr  # and torch stays unimported


def test_loading_works_in_a_forked_child(tmp_path):
    # the reader's thread pool must not be inherited half-dead by a fork (DataLoader workers fork)
    import multiprocessing as mp

    w = make("bfloat16", "gauss", (600, 500))
    enec.save_file({"w": w}, tmp_path / "f.enec", chunk_size=1 << 16)
    assert_bitexact(enec.load_file(tmp_path / "f.enec")["w"], w)  # the parent's pool exists now
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as p:
        digest = p.apply_async(_load_digest, (str(tmp_path / "f.enec"),)).get(timeout=60)
    assert digest == w.tobytes().hex()[:64] + str(w.nbytes)


def _load_digest(path):
    a = enec.load_file(path)["w"]
    return a.tobytes().hex()[:64] + str(a.nbytes)
