"""enec as a Zarr format 3 codec: the array-to-bytes serializer "enec".

Registered through the "zarr.codecs" entry point, so a format 3 array whose
metadata names it opens wherever enec is installed. It replaces Zarr's
"bytes" serializer (a compressor after "bytes" would only see untyped bytes,
and ENEC needs the dtype):

    import zarr, enec.zarr3
    z = zarr.create_array("w.zarr", shape=(4096, 4096), chunks=(1024, 1024), dtype="float32",
                          serializer=enec.zarr3.EnecCodec(), compressors=None)
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Optional

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.common import parse_named_configuration

from .zarr_codec import Enec

NAME = "enec"


@dataclass(frozen=True)
class EnecCodec(ArrayBytesCodec):
    """Each chunk is one enec stream. dtype: as for enec.zarr_codec.Enec ("bfloat16" for uint16
    arrays holding bfloat16 bits); mode: "fast" or "max", as there; threads: per chunk, not
    stored in the metadata."""

    is_fixed_size = False
    dtype: Optional[str] = None
    mode: str = "fast"

    def __init__(self, *, dtype: Optional[str] = None, threads: int = 1, mode: str = "fast") -> None:
        codec = Enec(dtype, threads=threads, mode=mode)
        object.__setattr__(self, "dtype", codec.dtype)
        object.__setattr__(self, "mode", codec.mode)
        object.__setattr__(self, "_codec", codec)

    @classmethod
    def from_dict(cls, data):
        _, config = parse_named_configuration(data, NAME, require_configuration=False)
        config = dict(config or {})
        unknown = set(config) - {"dtype", "mode"}
        if unknown:
            raise ValueError(f"enec codec: unknown configuration {sorted(unknown)}")
        return cls(**config)

    def to_dict(self):
        config = {k: v for k, v in (("dtype", self.dtype), ("mode", self.mode if self.mode != "fast" else None))
                  if v is not None}
        return {"name": NAME, "configuration": config} if config else {"name": NAME}

    def _encode_sync(self, chunk_array, chunk_spec):
        a = np.ascontiguousarray(chunk_array.as_numpy_array())
        return chunk_spec.prototype.buffer.from_bytes(self._codec.encode(a))

    def _decode_sync(self, chunk_bytes, chunk_spec):
        a = self._codec.decode(chunk_bytes.as_numpy_array())
        a = a.view(chunk_spec.dtype.to_native_dtype()).reshape(chunk_spec.shape)
        return chunk_spec.prototype.nd_buffer.from_numpy_array(a)

    async def _encode_single(self, chunk_array, chunk_spec):
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    async def _decode_single(self, chunk_bytes, chunk_spec):
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)

    def compute_encoded_size(self, input_byte_length, chunk_spec):
        raise NotImplementedError("enec output size depends on the data")
