"""Calibration of the simulated 910B2 as an experiment: one parameter fitted on one point, the rest predicted.

    python benchmarks/npu_calibrate.py          # fit, validation table, sensitivity table (also run by npu_bench.py)

The experiment (docs/NPU.md, "Calibration"):
- Every parameter of the model is either sourced (docs/NPU.md gives the document) or a free choice.
  Exactly one free parameter is fitted: FIT ("vec_startup", the latency of a vector instruction from
  leaving the pipe to its result, which an instruction depending on it waits for). It was chosen before
  looking at the result because it is the least known cost that every kernel pays: pypto's simplified
  model gives a completion latency of delay + 15 cycles, but not what the scalar issue, barriers and
  address arithmetic of real code add to it; its a-priori value was 20 (PRIOR).
- It is fitted on ONE point: V3 bfloat16 decompression of real weights against the paper's 213.8 GB/s
  (Qwen3-32B bf16 on a 910B2). Every other figure is a prediction, with its error published whatever it is.
- The sensitivity table moves each remaining free parameter over a range, refits FIT on the same point
  and reports how the headline predictions move.

Simulated device time is deterministic, so tests/test_npu.py checks the fit and the tolerances.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

import enec
import enec.npu

HERE = os.path.dirname(os.path.abspath(__file__))

# ENEC.md section 8 (the paper, device kernel time on a 910B2).
PAPER_V3_BF16 = {"compress": 360.6, "decompress": 213.8}  # Qwen3-32B bf16, ratio 1.35
PAPER_RANGE = {"compress": (263.0, 523.0), "decompress": (188.0, 336.0)}  # all models
# The ablation in the paper's prose: V0 -> V1 "about +30%", V1 -> V2 "about 2x", V2 -> V3 "about +100%"
# (decompression). Which direction each step was measured in is not stated for the first two.
PAPER_STEPS = {("v0", "v1"): 1.3, ("v1", "v2"): 2.0, ("v2", "v3"): 2.0}

FIT = "vec_startup"
PRIOR = 20            # the a-priori value (pypto: completion = issue + delay 4-6 + 15)
TOLERANCE = 0.25      # stated for V3 compress and decompress (issue 13); tested
STEP_TOLERANCE = 0.5  # stated for the ablation steps; reported, not tested (see docs/NPU.md)

# The remaining free parameters and the range each is moved over (low, high). Sourced parameters
# are listed too where the source gives a range or is an inference (hbm_gbps: 1.6 TB/s is a peak).
SENSITIVITY: List[Tuple[str, str, object, object]] = [
    ("gather cycles / repeat", "cycles_per_repeat.gather", 4, 16),
    ("launch_cycles", "launch_cycles", 0, 18000),
    ("barrier_cycles", "barrier_cycles", 0, 9000),
    ("flag_cycles", "flag_cycles", 0, 32),
    ("queue_depth", "queue_depth", 8, 128),
    ("scalar_issue", "scalar_issue", 0, 4),
    ("scalar load/store/alu x0.5 / x2", "scalar_costs", 0.5, 2.0),
    ("bank_conflicts (off / on)", "bank_conflicts", 0, 1),
    ("vec_overlap (serial / dependencies)", "vec_overlap", 0, 1),
    ("hbm_gbps (sustained)", "hbm_gbps", 1000.0, 1600.0),
    ("mte3_bytes_per_cycle (inferred)", "mte3_bytes_per_cycle", 32.0, 110.0),
]


def device_with(base: Optional[dict], key: str, value) -> dict:
    """base with one parameter changed; "cycles_per_repeat.X" and "scalar_costs" (a factor) are understood."""
    d = dict(base or {})
    if key.startswith("cycles_per_repeat."):
        d["cycles_per_repeat"] = {**d.get("cycles_per_repeat", {}), key.split(".", 1)[1]: value}
    elif key == "scalar_costs":
        dflt = enec.npu.default_device()
        for k in ("scalar_load", "scalar_store", "scalar_alu"):
            d[k] = max(1, int(round(dflt[k] * value)))
    else:
        d[key] = value
    return d


def minilm_bf16() -> np.ndarray:
    """The calibration weights: all-MiniLM-L6-v2 cast to bf16, its 2-byte tensors concatenated
    (the same array benchmarks/npu_bench.py uses)."""
    import enec.models

    bf = enec.models.minilm_tensors("bfloat16")
    return np.concatenate([v.reshape(-1) for v in bf.values() if v.dtype.itemsize == 2])


def gbps(a: np.ndarray, variant: str, direction: str, device: dict, stream: Optional[bytes] = None) -> float:
    """Simulated GB/s of one launch (decompress reads `stream`, the standard stream unless v0)."""
    if direction == "compress":
        return enec.npu.compress(a, variant, device=device)[1].gbps
    if stream is None:
        stream = enec.npu.compress(a, variant, device=device)[0] if variant == "v0" else enec.compress(a)
    return enec.npu.decompress(stream, variant, device=device)[1].gbps


def fit(a: np.ndarray, base: Optional[dict] = None, target: float = PAPER_V3_BF16["decompress"],
        stream: Optional[bytes] = None, start: int = PRIOR, known: Optional[Dict[int, float]] = None,
        key: str = FIT) -> Tuple[int, float]:
    """The integer value of `key` (FIT unless told) whose V3 decompression of `a` is closest to target
    GB/s, the other parameters as in base: (value, GB/s).

    Kernel time is close to linear in the per-instruction cost, so two secant steps land next to
    the answer; the integer neighbours then settle it. Every evaluation is a full simulated launch."""
    stream = stream if stream is not None else enec.compress(a)
    cache: Dict[int, float] = dict(known or {})

    def g(x: int) -> float:
        x = max(0, x)
        if x not in cache:
            cache[x] = gbps(a, "v3", "decompress", device_with(base, key, x), stream)
        return cache[x]

    x0, x1 = start, start + 50
    for _ in range(3):
        t0, t1 = 1 / g(x0), 1 / g(x1)
        if t1 == t0:
            break
        x = int(round(x0 + (1 / target - t0) * (x1 - x0) / (t1 - t0)))
        x = max(0, min(x, 100000))
        x0, x1 = x1, x
        if x0 == x1:
            break
    best = x1
    for _ in range(50):  # walk to the closest integer (the time is monotone in x)
        nbr = [y for y in (best - 1, best + 1) if y >= 0]
        cand = min([best] + nbr, key=lambda y: abs(g(y) - target))
        if cand == best:
            break
        best = cand
    return best, g(best)


def alternative_fit(a: np.ndarray, key: str = "cycles_per_repeat.gather", start: int = 8) -> dict:
    """The same experiment with another parameter fitted (FIT at its prior): what compression would
    then be predicted. Shows how much the choice of the fitted parameter decides the prediction."""
    std = enec.compress(a)
    base = {FIT: PRIOR}
    x, d = fit(a, base, stream=std, start=start, key=key)
    c = gbps(a, "v3", "compress", device_with(base, key, x))
    return dict(key=key, value=x, dec=d, comp=c, err=rel(c, PAPER_V3_BF16["compress"]))


def rel(sim: float, paper: float) -> float:
    return sim / paper - 1.0


def range_err(sim: float, lo: float, hi: float) -> float:
    """0 inside [lo, hi], else the relative distance to the nearer end."""
    return 0.0 if lo <= sim <= hi else (sim / lo - 1.0 if sim < lo else sim / hi - 1.0)


def validate(datasets: Dict[str, Tuple[str, np.ndarray]], device: dict,
             sim: Optional[Dict[Tuple[str, str, str], float]] = None) -> List[dict]:
    """The validation rows: paper figure, simulated figure, error, tolerance, verdict. sim: GB/s already
    simulated with `device`, keyed (dtype, variant, "compress" | "decompress"); the rest is simulated here."""
    rows = []
    sim = dict(sim or {})
    for dt, (label, a) in datasets.items():
        if all((dt, v, d) in sim for v in enec.npu.VARIANTS for d in ("compress", "decompress")):
            continue
        std = enec.compress(a)
        for v in enec.npu.VARIANTS:
            if dt != "bfloat16" and v != "v3":
                continue
            s0 = enec.npu.compress(a, "v0", device=device)[0] if v == "v0" else std
            sim[(dt, v, "compress")] = gbps(a, v, "compress", device)
            sim[(dt, v, "decompress")] = gbps(a, v, "decompress", device, s0)
    for d in ("decompress", "compress"):
        s, p = sim[("bfloat16", "v3", d)], PAPER_V3_BF16[d]
        e = rel(s, p)
        rows.append(dict(figure=f"V3 bf16 {d} GB/s", paper=f"{p}", sim=f"{s:.1f}", err=e,
                         tol=f"{TOLERANCE:.0%}", kind="fitted" if d == "decompress" else "predicted",
                         ok=abs(e) <= TOLERANCE))
    for dt in datasets:
        if dt == "bfloat16":
            continue
        for d in ("compress", "decompress"):
            s, (lo, hi) = sim[(dt, "v3", d)], PAPER_RANGE[d]
            e = range_err(s, lo, hi)
            rows.append(dict(figure=f"V3 {dt} {d} GB/s ({datasets[dt][0]})", paper=f"{lo:.0f}-{hi:.0f}",
                             sim=f"{s:.1f}", err=e, tol=f"in range +-{TOLERANCE:.0%}", kind="predicted",
                             ok=abs(e) <= TOLERANCE))
    for (va, vb), p in PAPER_STEPS.items():
        for d in ("compress", "decompress"):
            if (va, vb) == ("v2", "v3") and d == "compress":
                continue  # the paper states this step for decompression only
            s = sim[("bfloat16", vb, d)] / sim[("bfloat16", va, d)]
            e = rel(s, p)
            note = " (V0: width classes, docs/NPU.md)" if va == "v0" else ""
            rows.append(dict(figure=f"{va.upper()} -> {vb.upper()} {d}{note}", paper=f"{p:.1f}x", sim=f"{s:.2f}x",
                             err=e, tol=f"{STEP_TOLERANCE:.0%}", kind="predicted", ok=abs(e) <= STEP_TOLERANCE))
    return rows


def sensitivity(a: np.ndarray, device: dict, progress: Callable[[str], None] = lambda s: None) -> List[dict]:
    """Each remaining free parameter at its low and high value: the headline figures with FIT held at its
    fitted value, and with FIT refitted on the calibration point (the prediction that would then be made)."""
    std = enec.compress(a)
    out = []
    dflt = enec.npu.default_device()
    for name, key, lo, hi in SENSITIVITY:
        for val in (lo, hi):
            dev = device_with(device, key, val)
            if key in dflt and dflt[key] == val and all(dflt.get(k) == v for k, v in device.items()):
                # the default itself: the calibrated model's own row, once simulated
                r = next((o for o in out if o.get("baseline")), None)
                if r:
                    out.append({**r, "param": name, "value": val})
                    continue
            held_c = gbps(a, "v3", "compress", dev)
            held_d = gbps(a, "v3", "decompress", dev, std)
            base = {k: v for k, v in dev.items() if k != FIT}
            fx, fd = fit(a, base, stream=std, start=device[FIT], known={device[FIT]: held_d})
            rdev = {**base, FIT: fx}
            pc = gbps(a, "v3", "compress", rdev)
            out.append(dict(param=name, value=val, held_c=held_c, held_d=held_d, fit=fx, fit_d=fd, pred_c=pc,
                            err_c=rel(pc, PAPER_V3_BF16["compress"]),
                            baseline=key in dflt and dflt[key] == val))
            progress(f"  {name} = {val}: fit {fx}, compress {pc:.0f}")
    return out


def tables(rows: List[dict], sens: Optional[List[dict]], fitted: int, fit_gbps: float,
           alt: Optional[dict] = None) -> List[str]:
    md = [f"Fitted: `{FIT}` = {fitted} cycles (a-priori value {PRIOR}), on V3 bf16 decompression: "
          f"{fit_gbps:.1f} GB/s simulated against the paper's {PAPER_V3_BF16['decompress']}.", "",
          "| figure | paper | simulated | error | tolerance | fitted or predicted | within |",
          "|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['figure']} | {r['paper']} | {r['sim']} | {r['err']:+.0%} | {r['tol']} | {r['kind']} | "
                  f"{'yes' if r['ok'] else 'NO'} |")
    if sens:
        md += ["", "Sensitivity: each remaining free parameter moved alone. 'held': the fitted value kept; "
               "'refit': the fit redone on the calibration point, and the compression it then predicts.", "",
               "| parameter | value | held: V3 compress GB/s | held: V3 decompress GB/s | refit: "
               f"{FIT} | refit: V3 compress GB/s | its error |", "|---|---|---|---|---|---|---|"]
        for r in sens:
            md.append(f"| {r['param']} | {r['value']} | {r['held_c']:.0f} | {r['held_d']:.0f} | {r['fit']} | "
                      f"{r['pred_c']:.0f} | {r['err_c']:+.0%} |")
    if alt:
        md += ["", f"Had `{alt['key']}` been fitted instead (with `{FIT}` at its prior {PRIOR}): it fits at "
               f"{alt['value']} ({alt['dec']:.1f} GB/s decompression) and predicts V3 bf16 compression at "
               f"{alt['comp']:.1f} GB/s, {alt['err']:+.0%} from the paper's {PAPER_V3_BF16['compress']}."]
    return md


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-sensitivity", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, HERE)
    from npu_bench import weights

    ds = weights()
    a = ds["bfloat16"][1]
    fitted, fg = fit(a)
    dev = {FIT: fitted}
    print(f"default {FIT} = {enec.npu.default_device()[FIT]}; refitted from the prior {PRIOR}: {fitted}")
    rows = validate(ds, dev)
    sens = None if args.no_sensitivity else sensitivity(a, dev, print)
    print("\n".join(tables(rows, sens, fitted, fg, alternative_fit(a))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
