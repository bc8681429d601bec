"""Streams written by enec 0.1.0 (format version 1) keep decoding, and are still written byte for byte.

tests/golden/v1/ holds each stream next to the raw bytes of the array it was made from
(tests/golden/make_golden.py made them; never rewrite them for a new release).
"""
import json
import os

import ml_dtypes
import numpy as np
import pytest

import enec

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "v1")
with open(os.path.join(HERE, "manifest.json")) as f:
    MANIFEST = json.load(f)


def dtype_of(text):
    return np.dtype(getattr(ml_dtypes, text)) if hasattr(ml_dtypes, text) else np.dtype(text)


def load(name):
    e = MANIFEST[name]
    with open(os.path.join(HERE, name + ".enec"), "rb") as f:
        stream = f.read()
    with open(os.path.join(HERE, name + ".raw"), "rb") as f:
        raw = f.read()
    a = np.frombuffer(raw, dtype=dtype_of(e["dtype"])).reshape(e["shape"])
    return e, stream, a


def test_golden_set_covers_every_v1_dtype_and_both_modes():
    coded = {MANIFEST[n]["dtype"] for n in MANIFEST if MANIFEST[n]["mode"] == "coded"}
    stored = {MANIFEST[n]["dtype"] for n in MANIFEST if MANIFEST[n]["mode"] == "stored"}
    assert {"bfloat16", "float16", "float32"} <= coded
    assert {"bfloat16", "float16", "float32", "int8", "bool", "float8_e4m3fn"} <= stored


@pytest.mark.parametrize("name", sorted(MANIFEST))
@pytest.mark.parametrize("backend", enec.backends())
def test_golden_stream_decodes(name, backend):
    e, stream, a = load(name)
    info = enec.inspect(stream)
    assert info.version == 1
    assert info.coded == (e["mode"] == "coded")
    got = enec.decompress(stream, backend=backend, threads=2)
    assert got.dtype == a.dtype and got.shape == a.shape
    assert got.tobytes() == a.tobytes()


# Dtypes that this release codes in a new way (fp8 became coded after 0.1.0) write
# new streams; every other case must come out exactly as 0.1.0 wrote it.
REWRITTEN = {"e4m3fn_stored", "e5m2_stored"}


@pytest.mark.parametrize("name", sorted(set(MANIFEST) - REWRITTEN))
@pytest.mark.parametrize("threads", [1, 2])
def test_golden_stream_is_still_written_byte_for_byte(name, threads):
    e, stream, a = load(name)
    got = enec.compress(a, mode="stored" if e["stored"] else "fast", threads=threads)
    assert got == stream


# Mode max as enec 0.2.0 wrote it (format version 1, before per-block plane kinds).
MAX_DIR = os.path.join(os.path.dirname(HERE), "v1-max")
with open(os.path.join(MAX_DIR, "manifest.json")) as f:
    MAX_MANIFEST = json.load(f)


@pytest.mark.parametrize("name", sorted(MAX_MANIFEST))
@pytest.mark.parametrize("backend", enec.backends())
def test_golden_max_v1_stream_decodes(name, backend):
    e = MAX_MANIFEST[name]
    with open(os.path.join(MAX_DIR, name + ".enec"), "rb") as f:
        stream = f.read()
    with open(os.path.join(MAX_DIR, name + ".raw"), "rb") as f:
        a = np.frombuffer(f.read(), dtype=dtype_of(e["dtype"])).reshape(e["shape"])
    info = enec.inspect(stream)
    assert info.version == 1 and info.mode == e["mode"]
    got = enec.decompress(stream, backend=backend, threads=2)
    assert got.dtype == a.dtype and got.shape == a.shape
    assert got.tobytes() == a.tobytes()


def test_golden_max_v1_set_covers_the_splits():
    modes = [MAX_MANIFEST[n]["mode"] for n in MAX_MANIFEST]
    assert modes.count("max") >= 8
