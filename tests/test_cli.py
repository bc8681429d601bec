"""The `enec` command as a newcomer runs it: a subprocess on the real MiniLM safetensors file."""
import json
import os
import shutil
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import enec
import enec.cli
from testdata import assert_bitexact


def run(*args, cwd=None):
    # python -m enec.cli runs the same main() as the console script, whichever venv pytest is in
    p = subprocess.run([sys.executable, "-m", "enec.cli", *map(str, args)], capture_output=True,
                       text=True, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    import enec.models

    try:
        src = enec.models.minilm_path()
    except ModuleNotFoundError as e:
        pytest.skip(str(e))
    d = tmp_path_factory.mktemp("cli")
    shutil.copy(src, d / "model.safetensors")
    return d


def test_console_script_is_installed():
    import sysconfig

    dirs = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable), os.environ.get("PATH", "")]
    exe = shutil.which("enec", path=os.pathsep.join(dirs))
    assert exe, "the enec console script is not installed next to this python"
    p = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and enec.__version__ in p.stdout


def test_newcomer_workflow_on_real_model(model_dir):
    d = model_dir
    rc, out, err = run("compress", "model.safetensors", cwd=d)
    assert rc == 0, err
    assert (d / "model.enec").exists() and "104 tensors" in out
    assert os.path.getsize(d / "model.enec") < os.path.getsize(d / "model.safetensors") / 1.1

    rc, out, err = run("inspect", "model.enec", cwd=d)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["name", "dtype", "shape"]
    row = next(l for l in lines if l.startswith("embeddings.word_embeddings.weight"))
    assert row.split()[1:3] == ["float32", "30522x384"]
    assert "TOTAL" in out and '"format": "pt"' in out

    rc, out, err = run("inspect", "--json", "model.enec", cwd=d)
    info = json.loads(out)
    assert len(info["tensors"]) == 104 and info["metadata"] == {"format": "pt"}
    with enec.open(d / "model.enec") as c:
        for t in info["tensors"]:
            assert t["ratio"] == pytest.approx(c.inspect(t["name"]).ratio)
    assert 1.1 < info["original"] / info["compressed"] < 1.2  # fp32 BERT-like: paper reports ~1.15

    rc, out, err = run("verify", "model.enec", "model.safetensors", cwd=d)
    assert rc == 0 and "byte for byte" in out, err

    rc, out, err = run("decompress", "model.enec", "-o", "back.safetensors", cwd=d)
    assert rc == 0, err
    a, ma = enec.convert.read_safetensors(d / "model.safetensors")
    b, mb = enec.convert.read_safetensors(d / "back.safetensors")
    assert ma == mb and list(a) == list(b)
    for k in a:
        assert_bitexact(b[k], a[k])


def test_refuses_to_overwrite_and_reports_usage_errors(model_dir, tmp_path):
    d = model_dir
    if not (d / "model.enec").exists():
        assert run("compress", "model.safetensors", cwd=d)[0] == 0
    before = (d / "model.enec").stat().st_mtime_ns
    rc, out, err = run("compress", "model.safetensors", cwd=d)
    assert rc == 2 and "--force" in err and (d / "model.enec").stat().st_mtime_ns == before
    assert run("compress", "missing.safetensors", cwd=d)[0] == 2
    assert run("compress", "model.enec", cwd=d)[0] == 2  # already compressed
    assert run("decompress", "model.safetensors", cwd=d)[0] == 2
    assert run("frobnicate", cwd=d)[0] == 2
    assert run("bench", "model.enec", "--peers", "nosuch", cwd=d)[0] == 2
    assert run("compress", "model.safetensors", "-o", tmp_path / "no" / "dir.enec", cwd=d)[0] == 2
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello world")
    rc, _, err = run("inspect", junk)
    assert rc == 2 and "not a .safetensors" in err


def test_verify_detects_differences(model_dir, tmp_path):
    from safetensors.numpy import save_file

    src = enec.convert.read_safetensors(model_dir / "model.safetensors")[0]
    small = {k: src[k] for k in sorted(src)[:5]}
    save_file(small, tmp_path / "a.safetensors", metadata={"v": "1"})
    assert run("compress", tmp_path / "a.safetensors")[0] == 0
    assert run("verify", tmp_path / "a.enec", tmp_path / "a.safetensors")[0] == 0
    assert run("verify", tmp_path / "a.enec")[0] == 0  # checksums only

    k0 = sorted(small)[0]
    changed = dict(small)
    changed[k0] = small[k0].copy()
    changed[k0].reshape(-1).view(np.uint32)[7] ^= 1  # one bit
    cases = {
        "bytes differ": (changed, {"v": "1"}),
        "metadata differs": (small, {"v": "2"}),
        "not in": ({k: v for k, v in small.items() if k != k0}, {"v": "1"}),
        "in the original but not": ({**small, "extra": np.zeros(3, np.float32)}, {"v": "1"}),
    }
    for what, (tensors, md) in cases.items():
        save_file(tensors, tmp_path / "b.safetensors", metadata=md)
        rc, out, err = run("verify", tmp_path / "a.enec", tmp_path / "b.safetensors")
        assert rc == 1 and "MISMATCH" in err and "b.safetensors" in err, (what, err)
        # a checkpoint without a kept header (save_file) is compared tensor by tensor instead
        enec.save_file(small, tmp_path / "s.enec", metadata={"v": "1"})
        assert run("verify", tmp_path / "s.enec", tmp_path / "a.safetensors")[0] == 0
        rc, out, err = run("verify", tmp_path / "s.enec", tmp_path / "b.safetensors")
        assert rc == 1 and what in err, (what, err)

    raw = bytearray((tmp_path / "a.enec").read_bytes())
    with enec.open(tmp_path / "a.enec") as c:
        off, n = max(s for e in c.entries() for s in e.streams)
    raw[off + n - 5] ^= 0x40  # inside the last stream's payload
    (tmp_path / "bad.enec").write_bytes(bytes(raw))
    rc, out, err = run("verify", tmp_path / "bad.enec")
    assert rc == 1 and "MISMATCH" in err
    rc, out, err = run("decompress", tmp_path / "bad.enec")
    assert rc == 1 and "corrupt" in err and not (tmp_path / "bad.safetensors").exists()


def test_npy_round_trip(tmp_path):
    a = np.random.default_rng(1).normal(0, 0.02, (300, 41)).astype(np.float16)
    np.save(tmp_path / "x.npy", a)
    assert run("compress", tmp_path / "x.npy")[0] == 0
    assert enec.inspect((tmp_path / "x.enec").read_bytes()).mode == "fast"
    rc, out, err = run("inspect", tmp_path / "x.enec")
    assert rc == 0 and "300x41" in out
    assert run("verify", tmp_path / "x.enec", tmp_path / "x.npy")[0] == 0
    assert run("decompress", tmp_path / "x.enec", "-o", tmp_path / "y.npy")[0] == 0
    assert_bitexact(np.load(tmp_path / "y.npy"), a)
    # raw bf16 bits held in an .npy as uint16
    w = np.random.default_rng(2).normal(0, 1, 5000).astype(ml_dtypes.bfloat16)
    np.save(tmp_path / "w.npy", w.view(np.uint16))
    assert run("compress", tmp_path / "w.npy", "--dtype", "bfloat16")[0] == 0
    blob = (tmp_path / "w.enec").read_bytes()
    assert enec.inspect(blob).mode == "fast"
    assert_bitexact(enec.decompress(blob), w)


def test_bench_prints_a_table(model_dir):
    rc, out, err = run("bench", "model.safetensors", "-r", "1", "--cast", "bfloat16", cwd=model_dir)
    assert rc == 0, err
    rows = {l.split("|")[1].strip(): l.split("|")[2:] for l in out.splitlines() if l.startswith("| ")}
    assert {"memcpy", "enec"} <= set(rows)
    assert 1.25 < float(rows["enec"][0]) < 1.45  # bf16 MiniLM: 1.34 in the README


def test_interrupt_leaves_no_output(tmp_path, monkeypatch):
    # an interrupt in the middle of compressing: exit 130, no output file, no temporary left behind
    from safetensors.numpy import save_file

    save_file({f"t{i}": np.full(1000, i, np.float32) for i in range(5)}, tmp_path / "m.safetensors")
    calls = []
    real = enec.checkpoint.compress

    def flaky(a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(a, **kw)

    monkeypatch.setattr(enec.checkpoint, "compress", flaky)
    rc = enec.cli.main(["compress", "-q", str(tmp_path / "m.safetensors")])
    assert rc == 130 and len(calls) >= 3  # workers may have started later chunks
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]


def test_interrupt_while_writing_keeps_old_output(tmp_path, monkeypatch):
    from enec._atomic import atomic_write

    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as f:
            f.write(b"new partial")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]
    with atomic_write(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["out.bin"]
    assert target.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its permissions
    with atomic_write(tmp_path / "fresh.bin") as f:
        f.write(b"x")
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "fresh.bin").stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600


def test_mode_max_through_the_cli_and_save_file(model_dir, tmp_path):
    d = model_dir
    rc, out, err = run("compress", "model.safetensors", "-o", tmp_path / "max.enec", "--mode", "max", cwd=d)
    assert rc == 0, err
    rc, out, err = run("compress", "model.safetensors", "-o", tmp_path / "fast.enec", cwd=d)
    assert rc == 0, err
    # the smaller file, and the original back byte for byte
    assert os.path.getsize(tmp_path / "max.enec") < 0.96 * os.path.getsize(tmp_path / "fast.enec")
    rc, out, err = run("inspect", tmp_path / "max.enec", "--json")
    assert rc == 0, err
    modes = {r["mode"] for r in json.loads(out)["tensors"]} if "tensors" in json.loads(out) else None
    assert modes is None or "max" in modes
    rc, out, err = run("decompress", tmp_path / "max.enec", "-o", tmp_path / "back.safetensors")
    assert rc == 0, err
    assert (tmp_path / "back.safetensors").read_bytes() == (d / "model.safetensors").read_bytes()
    rc, out, err = run("compress", "model.safetensors", "-o", tmp_path / "x.enec", "--mode", "ultra", cwd=d)
    assert rc != 0 and "mode" in err and "Traceback" not in err

    a = np.clip(np.round(np.random.default_rng(1).normal(0, 20, 300_000)), -127, 127).astype(np.int8)
    enec.save_file({"q": a}, tmp_path / "q.enec", mode="max")
    enec.save_file({"q": a}, tmp_path / "q_fast.enec")
    assert os.path.getsize(tmp_path / "q.enec") < 0.85 * os.path.getsize(tmp_path / "q_fast.enec")
    assert_bitexact(enec.load_file(tmp_path / "q.enec")["q"], a)
    with pytest.raises(ValueError, match="mode"):
        enec.save_file({"q": a}, tmp_path / "bad.enec", mode="ultra")
