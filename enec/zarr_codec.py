"""enec as a numcodecs codec, so Zarr (format 2) arrays and anything else built on numcodecs can use it.

Registered under the id "enec" through the "numcodecs.codecs" entry point:
a store written with it is readable wherever enec is installed, without
importing enec first. Each chunk becomes one enec stream, so chunks keep
their dtype and shape and decode independently (what Dask needs to work
on them in parallel).

    import zarr, enec.zarr_codec
    z = zarr.create_array("w.zarr", shape=(4096, 4096), chunks=(1024, 1024), dtype="float16",
                          zarr_format=2, compressors=enec.zarr_codec.Enec())

For Zarr format 3 arrays use enec.zarr3.EnecCodec as the serializer.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray, ensure_ndarray

from ._core import _resolve_dtype, compress, decompress


def _check_dtype(dtype: Optional[str]) -> Optional[str]:
    if dtype is None:
        return None
    try:
        _resolve_dtype(dtype)
    except TypeError as e:
        raise ValueError(f"enec codec: unknown dtype {dtype!r}") from e
    return str(dtype)


class Enec(Codec):
    """numcodecs codec: each chunk is one enec stream (coded in `mode`, or stored when that is smaller).

    dtype: read the chunk's bits as this dtype before coding, e.g. "bfloat16" for a uint16
    array that holds bfloat16 weights (Zarr has no bfloat16 dtype). Decoding returns the
    stream's dtype; Zarr views it as the array's dtype again.
    mode: "fast" (the default, ENEC) or "max" (the smallest chunks: rANS-coded byte planes, any
    dtype of up to 8 bytes), stored in the metadata when not the default.
    threads: worker threads per chunk (not stored in the array's metadata). The default 1
    suits Zarr and Dask, which already work on several chunks at once.
    """

    codec_id = "enec"

    def __init__(self, dtype: Optional[str] = None, threads: int = 1, mode: str = "fast"):
        self.dtype = _check_dtype(dtype)
        if mode not in ("fast", "max"):
            raise ValueError(f"enec codec: mode must be 'fast' or 'max', got {mode!r}")
        self.mode = mode
        self._threads = int(threads)

    def encode(self, buf):
        a = ensure_ndarray(buf)
        if self.dtype is not None:
            a = np.ascontiguousarray(a)
            target = _resolve_dtype(self.dtype)
            if a.dtype != target:
                if a.dtype.itemsize != target.itemsize:
                    a = a.reshape(-1).view(np.uint8)  # e.g. raw bytes: reinterpret them whole
                a = a.view(target)
        return compress(a, threads=self._threads, mode=self.mode)

    def decode(self, buf, out=None):
        blob = ensure_contiguous_ndarray(buf)
        a = decompress(blob.view(np.uint8), threads=self._threads)
        if out is None:
            return a
        dst = ensure_contiguous_ndarray(out).reshape(-1).view(np.uint8)
        src = a.reshape(-1).view(np.uint8)
        if dst.size != src.size:
            raise ValueError(f"enec codec: chunk decodes to {src.size} bytes, out holds {dst.size}")
        dst[:] = src
        return out

    def get_config(self):
        config = {"id": self.codec_id}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        if self.mode != "fast":
            config["mode"] = self.mode
        return config

    def __repr__(self) -> str:
        args = ([f"dtype={self.dtype!r}"] if self.dtype else []) + ([f"mode={self.mode!r}"] if self.mode != "fast" else [])
        return f"Enec({', '.join(args)})"
