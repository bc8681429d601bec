"""Throughput and ratio of enec next to memcpy and peer compressors, measured in one run.

Used by `enec bench` and the quickstart notebook. Every codec sees the same
tensors, one call per tensor, best of `repeat` runs; enec's output is
decoded and compared bit for bit before anything is reported.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Sequence

import numpy as np

from ._core import compress, decompress


@dataclass(frozen=True)
class BenchRow:
    codec: str
    original: int  # bytes in
    compressed: int  # bytes out
    compress_s: float
    decompress_s: float

    @property
    def ratio(self) -> float:
        return self.original / self.compressed

    @property
    def compress_gbps(self) -> float:
        return self.original / self.compress_s / 1e9

    @property
    def decompress_gbps(self) -> float:
        return self.original / self.decompress_s / 1e9


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _zstd_codec(level: int):
    import zstandard

    c = zstandard.ZstdCompressor(level=level)
    d = zstandard.ZstdDecompressor()
    return c.compress, d.decompress


def peers_available() -> List[str]:
    """Peer codecs this environment can run (zlib is always there)."""
    out = []
    try:
        import zstandard  # noqa: F401
        out += ["zstd-1", "zstd-3"]
    except ImportError:
        pass
    return out + ["zlib-1"]


def run(tensors: Mapping[str, np.ndarray], *, repeat: int = 3, threads: int = 1,
        peers: Sequence[str] = ("zstd-3",)) -> List[BenchRow]:
    """Measure memcpy, enec and the named peers (see peers_available()) over the tensors."""
    import zlib

    arrays = [np.ascontiguousarray(a) for a in tensors.values()]
    raw = [memoryview(a.reshape(-1).view(np.uint8)) for a in arrays]
    total = sum(a.nbytes for a in arrays)
    if total == 0:
        raise ValueError("enec bench: the tensors hold no bytes")
    rows = []

    outs = [np.empty_like(a) for a in arrays]
    t_copy = _best(lambda: [np.copyto(o, a) for o, a in zip(outs, arrays)], repeat)
    rows.append(BenchRow("memcpy", total, total, t_copy, t_copy))

    blobs: List[bytes] = []
    t_c = _best(lambda: blobs.__setitem__(slice(None), [compress(a, threads=threads) for a in arrays]),
                repeat)
    t_d = _best(lambda: [decompress(b, out=o, threads=threads) for b, o in zip(blobs, outs)], repeat)
    for o, a in zip(outs, arrays):
        if o.tobytes() != a.tobytes():
            raise AssertionError("enec bench: a tensor did not decode bit-exactly")
    rows.append(BenchRow("enec", total, sum(map(len, blobs)), t_c, t_d))

    for peer in peers:
        name, _, level = peer.partition("-")
        if name == "zstd":
            enc, dec = _zstd_codec(int(level or 3))
        elif name == "zlib":
            lv = int(level or 1)
            enc, dec = (lambda b, lv=lv: zlib.compress(b, lv)), zlib.decompress
        else:
            raise ValueError(f"enec bench: unknown peer {peer!r}; known: {peers_available()}")
        out: List[bytes] = []
        t_c = _best(lambda: out.__setitem__(slice(None), [enc(r) for r in raw]), repeat)
        t_d = _best(lambda: [dec(b) for b in out], repeat)
        rows.append(BenchRow(peer, total, sum(map(len, out)), t_c, t_d))
    return rows


def table(rows: Sequence[BenchRow]) -> str:
    """A Markdown table of the rows."""
    lines = ["| codec | ratio | compress GB/s | decompress GB/s | bytes out |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.codec} | {r.ratio:.4f} | {r.compress_gbps:.2f} | {r.decompress_gbps:.2f} "
                     f"| {r.compressed:,} |")
    return "\n".join(lines)


def cast(tensors: Mapping[str, np.ndarray], dtype: str) -> Dict[str, np.ndarray]:
    """float32 tensors cast to bfloat16/float16 (round to nearest even), others as they are."""
    import ml_dtypes

    target = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16, "float32": np.float32}[dtype]
    return {k: (v.astype(target) if v.dtype == np.float32 else v) for k, v in tensors.items()}
