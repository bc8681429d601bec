"""Conversions between .safetensors files and .enec checkpoints, through the safetensors package.

Both directions keep tensor names, dtypes, shapes, bytes and the str -> str
metadata; outputs are written atomically. safetensors_to_enec reads one
tensor at a time (safetensors memory-maps its file) and spools the streams to
disk, so its memory use is about one tensor.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from ._atomic import atomic_path
from .checkpoint import CheckpointReader, TensorEntry, write_checkpoint


def _safe_open(path):
    from safetensors import safe_open

    try:
        return safe_open(path, framework="np")
    except FileNotFoundError:
        raise
    except Exception as e:  # safetensors raises its own SafetensorError for malformed headers
        raise ValueError(f"enec: {path} is not a readable .safetensors file: {e}") from e


def read_safetensors(path) -> Tuple[Dict[str, np.ndarray], Optional[Dict[str, str]]]:
    """All tensors and the metadata of a .safetensors file, as NumPy arrays (bfloat16 via ml_dtypes)."""
    with _safe_open(path) as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def safetensors_to_enec(src, dst, *, threads: int = 0,
                        on_tensor: Optional[Callable[[str, int], None]] = None) -> List[TensorEntry]:
    """Compress a .safetensors file into an .enec checkpoint with the same names and metadata.

    Reads and compresses one tensor at a time. on_tensor(name, nbytes) is called after each
    tensor (for progress bars). Returns the index."""
    with _safe_open(src) as f:
        def items() -> Iterator[Tuple[str, np.ndarray]]:
            for k in f.keys():
                yield k, f.get_tensor(k)
        return write_checkpoint(items(), dst, f.metadata(), threads=threads, on_tensor=on_tensor)


def enec_to_safetensors(src, dst, *, threads: int = 0,
                        on_tensor: Optional[Callable[[str, int], None]] = None) -> None:
    """Decode an .enec checkpoint into a .safetensors file with the same names and metadata.

    The safetensors writer takes every tensor at once, so this holds the decoded model in memory.
    on_tensor(name, nbytes) is called after each tensor is decoded."""
    from safetensors.numpy import save_file

    tensors = {}
    with CheckpointReader(src, threads=threads) as ckpt:
        for name in ckpt.keys():
            tensors[name] = ckpt.get_tensor(name)
            if on_tensor is not None:
                on_tensor(name, tensors[name].nbytes)
        metadata = ckpt.metadata()
    with atomic_path(dst) as tmp:
        save_file(tensors, tmp, metadata=metadata)
