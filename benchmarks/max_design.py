"""Mode max's coder choice, measured on real weights: rANS (what enec writes) against Huffman and the entropy bound.

For each dataset and each split (exponent apart, whole bytes) it computes, from the same
per-group symbol counts mode max uses (a table per 16 blocks of 16384 elements, per plane):

- the order-0 entropy of every plane (coded or raw, whichever is smaller), plus the same
  table and per-block bytes: an estimate of the best any coder with this layout can do (it
  leaves out the stream header and block table, so a real stream can land a hair either side);
- Huffman: the expected size with canonical Huffman codes built per group (code lengths from
  the counts, no length limit), plus the same per-block and per-table bytes rANS pays: what a
  table-driven Huffman decoder with interleaved streams (zstd's huf_decompress, ZipNN) would
  write with the same layout;
- enec max: the bytes enec.compress(mode="max") really writes. Since format version 2 it
  chooses per block (the group's table, stored, or a table of the block's own), so it can
  pass the estimate, which is of version 1's layout.

    python3 benchmarks/max_design.py [--datasets minilm-bf16,minilm-fp32,whisper-fp16,minilm-int8]

Prints a markdown table (nothing is written). Needs the packages cpu_bench.py uses.
"""
from __future__ import annotations

import argparse
import heapq
import os
import sys

import numpy as np

import enec

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

GROUP = 16 * enec.BLOCK
PER_BLOCK = 4 + 4 * 8  # a coded plane's size word and its eight flushed rANS states


def load(key):
    from cpu_bench import load_dataset

    return load_dataset(key, 0, False, 0).array


def planes(a, split):
    """Symbol planes of the split, as enec's mode max cuts them (FORMAT.md section 9)."""
    isz = a.dtype.itemsize
    u = a.view(f"<u{isz}").astype(np.uint64)
    if split == "bytes":
        return [((u >> np.uint64(8 * i)) & np.uint64(255)).astype(np.uint8) for i in range(isz)]
    row = {r["name"]: r for r in enec._enec.dtypes()}[a.dtype.name]
    M, E = row["mbits"], row["ebits"]
    x = (u >> np.uint64(M)) & np.uint64((1 << E) - 1)
    r = ((u >> np.uint64(8 * isz - 1)) << np.uint64(M)) | (u & np.uint64((1 << M) - 1))
    out = [x.astype(np.uint8)]
    for q in range((row["rawbits"] + 7) // 8):
        out.append(((r >> np.uint64(8 * q)) & np.uint64(255)).astype(np.uint8))
    return out


def plane_width(a, split, q):
    if split == "bytes":
        return 8
    row = {r["name"]: r for r in enec._enec.dtypes()}[a.dtype.name]
    return row["ebits"] if q == 0 else min(8, row["rawbits"] - 8 * (q - 1))


def huffman_bits(counts):
    """Sum of count x code length of a Huffman code for these counts."""
    c = [int(v) for v in counts if v]
    if len(c) <= 1:
        return 0 if not c else c[0]  # one symbol still costs a bit per symbol in a plain Huffman code
    heap = list(c)
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:
        s = heapq.heappop(heap) + heapq.heappop(heap)
        total += s  # every merge adds one bit to each symbol below it
        heapq.heappush(heap, s)
    return total


def entropy_bits(counts):
    c = counts[counts > 0].astype(np.float64)
    return float(-(c * np.log2(c / c.sum())).sum())


def estimate(a, split):
    ps = planes(a, split)
    n = a.size
    nblocks = -(-n // enec.BLOCK)
    ent = huf = 0.0
    for q, p in enumerate(ps):
        w = plane_width(a, split, q)
        e_coded = h_coded = 0.0
        for g in range(0, n, GROUP):
            cnt = np.bincount(p[g:g + GROUP], minlength=256)
            tbytes = 2 + 2 * (np.nonzero(cnt)[0].max() - np.nonzero(cnt)[0].min() + 1)
            e_coded += entropy_bits(cnt) + 8 * tbytes
            h_coded += huffman_bits(cnt) + 8 * tbytes
        e_coded += 8 * PER_BLOCK * nblocks
        h_coded += 8 * PER_BLOCK * nblocks
        raw = n * w
        ent += min(e_coded, raw)
        huf += min(h_coded, raw)
    return a.nbytes * 8 / ent, a.nbytes * 8 / huf


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="minilm-bf16,minilm-fp32,whisper-fp16,minilm-int8")
    args = ap.parse_args()
    print("| data | split | order-0 entropy (estimate, same tables and overheads) | Huffman (same layout) | enec max (rANS, written) |")
    print("|---|---|---|---|---|")
    for key in args.datasets.split(","):
        a = load(key)
        s = enec.compress(a, mode="max")
        info = enec.inspect(s)
        chosen = "exponent apart" if info.params.b == 0 else "whole bytes"
        for split in (["exp", "bytes"] if a.dtype.kind == "f" or a.dtype.name == "bfloat16" else ["bytes"]):
            e, h = estimate(a, split)
            name = "exponent apart" if split == "exp" else "whole bytes"
            mark = f"{a.nbytes / len(s):.4f}" if name == chosen else "(not chosen)"
            print(f"| {key} | {name} | {e:.4f} | {h:.4f} | {mark} |")


if __name__ == "__main__":
    main()
