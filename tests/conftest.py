import os
import sys

import numpy as np
import pytest

# The helper modules (costmodel.py, testdata.py) live beside the tests; make
# them importable whatever pytest import mode the project configures.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


def _load_minilm(dtype):
    import enec.models

    try:
        return enec.models.minilm_tensors(dtype=dtype)
    except ModuleNotFoundError as e:  # the model package is optional
        pytest.skip(f"model package not installed: {e}")


@pytest.fixture(scope="session")
def minilm_f32():
    t = _load_minilm("float32")
    assert t and all(isinstance(v, np.ndarray) for v in t.values())
    return t


@pytest.fixture(scope="session")
def minilm_bf16():
    return _load_minilm("bfloat16")


@pytest.fixture(scope="session")
def minilm_f16(minilm_f32):
    return {k: (v.astype(np.float16) if v.dtype == np.float32 else v)
            for k, v in minilm_f32.items()}


@pytest.fixture(scope="session")
def minilm(minilm_f32, minilm_bf16, minilm_f16):
    """{'float32': {...}, 'bfloat16': {...}, 'float16': {...}, 'float8_e4m3fn': {...}, 'float8_e5m2': {...}}"""
    return {"float32": minilm_f32, "bfloat16": minilm_bf16, "float16": minilm_f16,
            "float8_e4m3fn": _fp8(minilm_f32, "float8_e4m3fn"), "float8_e5m2": _fp8(minilm_f32, "float8_e5m2")}


def _fp8(tensors, name):
    from enec.models import fp8_scaled

    return {k: (fp8_scaled(v, name) if v.dtype == np.float32 else v) for k, v in tensors.items()}

