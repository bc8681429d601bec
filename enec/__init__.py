"""enec: lossless compression of AI model weights with ENEC (arXiv 2604.03298).

    >>> import numpy as np, enec
    >>> a = np.random.default_rng(0).normal(0, 0.02, 100_000).astype(np.float32)
    >>> blob = enec.compress(a)
    >>> np.array_equal(enec.decompress(blob), a)
    True
"""
from . import _enec
from ._core import (
    BLOCK,
    FORMAT_VERSION,
    MODES,
    CorruptDataError,
    Params,
    StreamInfo,
    UnsupportedFormatError,
    backend,
    backends,
    compress,
    decompress,
    inspect,
    max_compressed_size,
    search_params,
)
from ._enec import __version__
from .checkpoint import CONTAINER_VERSION, CheckpointReader, load_file, open, safe_open, save_file
from . import convert  # enec.convert.safetensors_to_enec and back

# Submodules with optional or heavy dependencies (torch, zarr, numcodecs, the NPU model) load on first
# use, so `import enec` stays light and `enec.npu.compress(...)` still works after a plain `import enec`.
_LAZY = ("npu", "zarr_codec", "zarr3", "torch", "bench", "models", "cli")


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

crc32c = _enec.crc32c
#: The library's version as a number, MAJOR * 10000 + MINOR * 100 + PATCH (enec_version_number()).
version_number: int = _enec.VERSION_NUMBER

__all__ = [
    "BLOCK",
    "FORMAT_VERSION",
    "MODES",
    "CorruptDataError",
    "Params",
    "StreamInfo",
    "UnsupportedFormatError",
    "backend",
    "backends",
    "compress",
    "decompress",
    "inspect",
    "max_compressed_size",
    "search_params",
    "__version__",
    "CONTAINER_VERSION",
    "CheckpointReader",
    "crc32c",
    "version_number",
    "load_file",
    "safe_open",
    "save_file",
]  # not "open": a star import would shadow the builtin; use enec.open
