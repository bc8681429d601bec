"""The large corruption campaign: at least 100,000 mutations of real compressed
tensors, each decoded by enec.decompress, with every outcome counted.

    python benchmarks/corruption_campaign.py [--mutations 100000] [--workers 2] [--seed 2604]

Subjects: all-MiniLM-L6-v2 tensors (fp32, bf16 and fp16 casts, a stored int64
tensor), synthetic edge cases and two .enec checkpoints (decoded with
enec.checkpoint.load_file); mutations: truncation, bit flips, multi-bit
flips, byte overwrites, 0x00/0xFF fills, insertions, deletions, splices and
header/table rewrites with recomputed checksums (streams only; tests/campaign.py defines
them and the outcomes). Work runs in subprocesses: a worker that dies (a
crash, or a sanitizer abort when run against a sanitizer build) is counted as
a crash, its mutation recorded for replay, and the chunk rerun without it.
Prints a table (with --write also benchmarks/results/corruption_campaign.md); exits 1
if anything but CorruptDataError or an exact (or relabelled) result happened.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import numpy as np  # noqa: E402

import campaign  # noqa: E402
import enec  # noqa: E402
import enec.models  # noqa: E402

CHUNK = 500  # mutations per subject per worker run


def subjects():
    f32 = enec.models.minilm_tensors("float32")
    arrays = {**campaign.minilm_arrays(f32), **campaign.synthetic_arrays()}
    return {**campaign.compress_all(arrays), **campaign.checkpoint_subjects(f32)}


# ---------------------------------------------------------------------------
# worker side


def worker(args):
    subj = subjects()
    skip = {tuple(x) for x in json.loads(args.skip)}
    progress = open(args.progress, "w", buffering=1)

    def on_each(name, i):
        progress.write(json.dumps([name, i]) + "\n")

    if args.task == "truncate":
        counts, bad = campaign.truncations(subj, every_up_to=args.every_up_to,
                                           rng=np.random.default_rng(args.seed))
    else:
        first, count = args.first, args.count
        counts, bad = Counter(), []
        # subjects one by one, so that a skipped (crashing) mutation is left out exactly
        for si, name in enumerate(sorted(subj)):
            def one(nm, i, _si=si):
                on_each(nm, i)
            for i in range(first, first + count):
                if (name, i) in skip:
                    continue
                c, b = campaign.run({name: subj[name]}, 1, seed=args.seed, first=i, on_each=one,
                                    subject_index=si)
                counts.update(c)
                bad.extend(b)
    print(json.dumps({"counts": [[list(k), v] for k, v in counts.items()], "bad": bad,
                      "extension": enec._enec.__file__}))


# ---------------------------------------------------------------------------
# parent side


def run_chunk(task, first, count, seed, every_up_to):
    """Run one chunk in a subprocess until it completes; returns (counts, bad, crashes)."""
    crashes, skip = [], []
    while True:
        with tempfile.NamedTemporaryFile("r", suffix=".progress", delete=False) as f:
            progress = f.name
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--task", task, "--first", str(first),
               "--count", str(count), "--seed", str(seed), "--every-up-to", str(every_up_to),
               "--progress", progress, "--skip", json.dumps(skip)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        last = open(progress).read().splitlines()[-1:] if os.path.exists(progress) else []
        os.unlink(progress)
        if p.returncode == 0:
            out = json.loads(p.stdout.splitlines()[-1])
            # a sanitizer run is only one if the workers load the same (instrumented) build
            if out["extension"] != enec._enec.__file__:
                sys.exit(f"worker loaded {out['extension']}, not {enec._enec.__file__}")
            counts = Counter({tuple(k): v for k, v in out["counts"]})
            return counts, out["bad"], crashes
        where = json.loads(last[0]) if last else None
        crashes.append({"task": task, "mutation": where, "returncode": p.returncode,
                        "stderr": p.stderr[-2000:]})
        if where is None or task == "truncate":  # nothing to skip: give up on this chunk
            return Counter(), [], crashes
        skip.append(where)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mutations", type=int, default=100_000, help="random mutations in all (truncations extra)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2604)
    ap.add_argument("--every-up-to", type=int, default=6000, help="every truncation of streams up to this size")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "corruption_campaign.md"))
    ap.add_argument("--write", action="store_true",
                    help="write the results file (--out); without it the tables are only printed")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--task", default="mutate", help=argparse.SUPPRESS)
    ap.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--progress", help=argparse.SUPPRESS)
    ap.add_argument("--skip", default="[]", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    t0 = time.time()
    subj = subjects()
    per_subject = -(-args.mutations // len(subj))
    chunks = [("mutate", f, min(CHUNK, per_subject - f)) for f in range(0, per_subject, CHUNK)]
    chunks.append(("truncate", 0, 0))
    counts, bad, crashes = Counter(), [], []
    with ThreadPoolExecutor(max_workers=args.workers) as ex:
        futs = [ex.submit(run_chunk, t, f, c, args.seed, args.every_up_to) for t, f, c in chunks]
        for fut in futs:
            c, b, cr = fut.result()
            counts.update(c)
            bad.extend(b)
            crashes.extend(cr)
    elapsed = time.time() - t0
    text = report(subj, counts, bad, crashes, args, elapsed)
    print(text)
    if args.write:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
        print(f"written to {os.path.relpath(args.out)}")
    return 1 if bad or crashes else 0


def _sanitized() -> bool:
    return "asan" in os.environ.get("LD_PRELOAD", "")


def _row(label, c: Counter, crashes=0):
    total = sum(c.values()) + crashes
    return (f"| {label} | {total:,} | {c['raised']:,} | {c['exact']:,} | {c['relabelled']:,} | "
            f"{c['other_error']:,} | {crashes:,} | {c['mismatch']:,} |")


def report(subj, counts, bad, crashes, args, elapsed):
    head = ("| | mutations | CorruptDataError | exact original | relabelled | other exception | crash | "
            "silent mismatch |\n|---|---|---|---|---|---|---|---|")
    by_kind, by_subject, total = {}, {}, Counter()
    for (name, kind, outcome), v in counts.items():
        by_kind.setdefault(kind, Counter())[outcome] += v
        by_subject.setdefault(name, Counter())[outcome] += v
        total[outcome] += v
    lines = ["# Corruption campaign", "",
             f"`python benchmarks/corruption_campaign.py --mutations {args.mutations} --seed {args.seed}` "
             f"(enec {enec.__version__}, backend {enec.backend}, {platform.machine()}, "
             f"numpy {np.__version__}; {elapsed:.0f} s with {args.workers} workers; extension "
             f"`{os.path.basename(os.path.dirname(os.path.dirname(enec._enec.__file__)))}/enec/"
             f"{os.path.basename(enec._enec.__file__)}`{', under ASan+UBSan' if _sanitized() else ''}).", "",
             "Every mutated stream goes to `enec.decompress`, every mutated checkpoint to "
             "`enec.checkpoint.load_file`. The allowed outcomes are "
             "`CorruptDataError` and the original tensor bit for bit; *relabelled* (only for "
             "`rewrite`, which recomputes the header and table checksums as a hostile writer "
             "could) is the original data bits under another shape or dtype of the same itemsize. "
             "Other exceptions, crashes (the worker process died) and silent mismatches are bugs.", "",
             "## Totals", "", head, _row("all", total, len(crashes)), "",
             "## By mutation", "", head]
    lines += [_row(k, by_kind[k]) for k in sorted(by_kind)]
    lines += ["", "## By subject", "", head]
    def what(k):
        a, blob = subj[k]
        mode = f"{len(a)} tensors" if isinstance(a, dict) else enec.inspect(blob).mode
        return f"{k} ({len(blob):,} B, {mode})"

    lines += [_row(what(k), by_subject[k]) for k in sorted(by_subject)]
    if bad or crashes:
        lines += ["", "## Failures", ""]
        lines += [f"- {b}" for b in bad[:50]]
        lines += [f"- crash: {c['mutation']} rc={c['returncode']}" for c in crashes[:50]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
