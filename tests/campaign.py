"""The corruption campaign: mutate real compressed streams and .enec
checkpoints and classify what enec.decompress (enec.checkpoint.load_file for
a checkpoint) does with each. Shared by tests/test_corrupt_campaign.py (a
few thousand mutations per run) and benchmarks/corruption_campaign.py (at
least 100,000, in subprocesses so that a crash is counted, not fatal).

Outcomes of one mutation:
  raised      enec.CorruptDataError
  exact       the original tensor, bit for bit (same dtype and shape)
  relabelled  only for "rewrite" mutations, which recompute the header and
              table checksums as a hostile writer could: the original data
              bits under another shape or dtype of the same size. The
              checksums cannot object to that; every data bit is still right.
  other_error any other exception          - a bug
  mismatch    anything else returned       - a bug (silent wrong output)
"""
from __future__ import annotations

import os
import struct
import tempfile
from collections import Counter
from typing import Callable, Dict, Iterable, Optional, Tuple

import ml_dtypes
import numpy as np

import enec
from enec import _enec

BF16 = np.dtype(ml_dtypes.bfloat16)
OUTCOMES = ("raised", "exact", "relabelled", "other_error", "mismatch")
BAD = ("other_error", "mismatch")

# ---------------------------------------------------------------------------
# subjects


def synthetic_arrays() -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(2604)
    g = rng.normal(0, 0.02, 3 * enec.BLOCK + 123).astype(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-45, 6e4, 1.0], np.float32)
    with np.errstate(over="ignore"):
        mixed = np.concatenate([g[:20000], np.tile(specials, 50)])
    wide = np.ldexp(rng.standard_normal(enec.BLOCK + 99), rng.integers(-60, 60, enec.BLOCK + 99))
    return {
        "synthetic bf16 gauss 3 blocks": g.astype(BF16),
        "synthetic fp16 with specials": mixed.astype(np.float16),
        "synthetic fp32 with specials": mixed,
        "synthetic bf16 wide exponents": wide.astype(BF16),
        "synthetic int32 2-d (stored)": np.arange(12000, dtype=np.int32).reshape(120, 100),
        "synthetic bf16 random bits (stored)": rng.integers(0, 2 ** 16, 3000, dtype=np.uint16).view(BF16),
        "synthetic float64 0-d (stored)": np.array(np.e),
        "synthetic empty": np.zeros((4, 0), np.float32),
    }


def minilm_arrays(f32: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Real all-MiniLM-L6-v2 tensors: whole tensors, as fp32, bf16 (RNE cast) and fp16."""
    q = f32["encoder.layer.0.attention.self.query.weight"]          # 384 x 384, 9 blocks
    ln = f32["encoder.layer.0.attention.output.LayerNorm.weight"]   # 384
    inter = f32["encoder.layer.3.intermediate.dense.bias"]          # 1536
    out = f32["encoder.layer.5.output.dense.weight"]                # 384 x 1536, 36 blocks
    with np.errstate(over="ignore"):
        return {
            "MiniLM query.weight bf16": q.astype(BF16),
            "MiniLM query.weight fp32": q,
            "MiniLM query.weight fp16": q.astype(np.float16),
            "MiniLM output.dense.weight bf16": out.astype(BF16),
            "MiniLM LayerNorm.weight bf16": ln.astype(BF16),
            "MiniLM LayerNorm.weight fp32": ln,
            "MiniLM intermediate.bias fp32": inter,
            "MiniLM position_ids int64 (stored)": f32["embeddings.position_ids"],
        }


# Subjects also written in mode max: both splits (floats, int32), every float width, real tensors.
MAX_SUBJECTS = ("synthetic bf16 gauss 3 blocks", "synthetic fp16 with specials", "synthetic fp32 with specials",
                "synthetic int32 2-d (stored)", "MiniLM query.weight bf16", "MiniLM query.weight fp32",
                "MiniLM query.weight fp16", "MiniLM output.dense.weight bf16")


def compress_all(arrays: Dict[str, np.ndarray]) -> Dict[str, Tuple[np.ndarray, bytes]]:
    out = {k: (a, enec.compress(a)) for k, a in arrays.items()}
    for k in MAX_SUBJECTS:
        if k in arrays:
            out[k.replace(" (stored)", "") + " [mode max]"] = (arrays[k], enec.compress(arrays[k], mode="max"))
    return out


def checkpoint_bytes(tensors: Dict[str, np.ndarray], metadata=None) -> bytes:
    """An .enec checkpoint file of these tensors, as bytes."""
    import tempfile

    import enec.checkpoint

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "c.enec")
        enec.checkpoint.save_file(tensors, path, metadata)
        with open(path, "rb") as f:
            return f.read()


def checkpoint_subjects(f32: Optional[Dict[str, np.ndarray]] = None):
    """Checkpoint subjects: {name: (dict of arrays, file bytes)}."""
    out = {}
    syn = synthetic_arrays()
    small = {k.replace(" ", "_"): v for k, v in syn.items() if v.nbytes < 60000}
    out["checkpoint synthetic"] = (small, checkpoint_bytes(small, {"format": "campaign"}))
    if f32 is not None:
        m = minilm_arrays(f32)
        keep = ["MiniLM query.weight bf16", "MiniLM LayerNorm.weight bf16", "MiniLM LayerNorm.weight fp32",
                "MiniLM intermediate.bias fp32", "MiniLM position_ids int64 (stored)"]
        t = {k: m[k] for k in keep}
        out["checkpoint MiniLM 5 tensors"] = (t, checkpoint_bytes(t))
    return out


CHECKPOINT_KINDS = ("truncate", "bitflip", "multiflip", "overwrite", "fill", "insert", "delete", "splice")


# ---------------------------------------------------------------------------
# mutations


def _regions(s: bytes) -> Tuple[int, int]:
    """(end of header, end of header + block table); for a version-1 checkpoint, of its header and
    index; for version 2, of its header and the zero bytes before the first stream (its index is a
    footer: see _tail)."""
    if s[:4] == b"ENCK":
        if s[4:6] == b"\x02\x00":
            return 32, min(len(s), 64)
        return 32, min(len(s), 32 + struct.unpack_from("<Q", s, 8)[0])
    ndim, dlen = s[12], s[13]
    hs = 48 + 8 * ndim + dlen
    if s[6] == 1:
        count = struct.unpack_from("<Q", s, 24)[0]
        return hs, hs + 8 * (-(-count // enec.BLOCK)) + 4
    return hs, hs


def fix_checksums(buf: bytearray) -> None:
    """Recompute header CRC, table CRC and the stored payload CRC where the
    (possibly damaged) header still says where they are."""
    if len(buf) < 48:
        return
    hs = 48 + 8 * buf[12] + buf[13]
    if hs > len(buf):
        return
    if buf[6] == 0 and struct.unpack_from("<Q", buf, 32)[0] == len(buf) - hs:
        struct.pack_into("<I", buf, 40, _enec.crc32c(bytes(buf[hs:])))
    struct.pack_into("<I", buf, hs - 4, _enec.crc32c(bytes(buf[: hs - 4])))
    if buf[6] == 1:
        nb = -(-struct.unpack_from("<Q", buf, 24)[0] // enec.BLOCK)
        if hs + 8 * nb + 4 <= len(buf):
            struct.pack_into("<I", buf, hs + 8 * nb, _enec.crc32c(bytes(buf[hs: hs + 8 * nb])))


def _tail(s: bytes) -> int:
    """Start of a version-2 checkpoint's index (a footer), else the length."""
    if s[:6] == b"ENCK\x02\x00" and len(s) >= 16:
        return min(len(s), struct.unpack_from("<Q", s, 8)[0])
    return len(s)


def _pos(rng, n: int, front: int, tail: Optional[int] = None) -> int:
    # half of the hits land in the header, the block table and the first payload bytes,
    # where one bit decides the most (and, for a footer index, half of those in the index)
    if rng.random() < 0.5:
        if tail is not None and tail < n and rng.random() < 0.5:
            return int(rng.integers(tail, n))
        return int(rng.integers(0, min(n, front + 256)))
    return int(rng.integers(0, n))


def mutate(s: bytes, rng: np.random.Generator, kind: str) -> bytes:
    n = len(s)
    hs, table_end = _regions(s)
    buf = bytearray(s)
    if kind == "truncate":
        return s[: int(rng.integers(0, n))]
    if kind == "bitflip":
        p = _pos(rng, n, table_end, _tail(s))
        buf[p] ^= 1 << int(rng.integers(0, 8))
    elif kind == "multiflip":  # 2..16 bits anywhere
        for _ in range(int(rng.integers(2, 17))):
            buf[int(rng.integers(0, n))] ^= 1 << int(rng.integers(0, 8))
    elif kind == "overwrite":  # 1..8 consecutive random bytes
        p, k = _pos(rng, n, table_end, _tail(s)), int(rng.integers(1, 9))
        buf[p: p + k] = rng.integers(0, 256, len(buf[p: p + k]), dtype=np.uint8).tobytes()
    elif kind == "fill":  # a run of 0x00 or 0xFF, as a torn or zeroed write leaves
        p, k = int(rng.integers(0, n)), int(rng.integers(1, 4097))
        buf[p: p + k] = (b"\xff" if rng.random() < 0.5 else b"\x00") * len(buf[p: p + k])
    elif kind == "insert":
        p = int(rng.integers(0, n + 1))
        buf[p:p] = rng.integers(0, 256, int(rng.integers(1, 5)), dtype=np.uint8).tobytes()
    elif kind == "delete":
        p = int(rng.integers(0, n))
        del buf[p: p + int(rng.integers(1, 5))]
    elif kind == "splice":  # a chunk copied over another place of the same stream
        k = int(rng.integers(1, max(2, min(n // 2, 20000))))
        a, b = int(rng.integers(0, n - k + 1)), int(rng.integers(0, n - k + 1))
        buf[b: b + k] = s[a: a + k]
    elif kind == "rewrite":  # bits of header or table changed, then every checksum made to agree
        for _ in range(int(rng.integers(1, 4))):
            buf[int(rng.integers(0, table_end))] ^= 1 << int(rng.integers(0, 8))
        fix_checksums(buf)
    else:
        raise ValueError(kind)
    return bytes(buf)


KINDS = ("truncate", "bitflip", "multiflip", "overwrite", "fill", "insert", "delete", "splice", "rewrite")

# ---------------------------------------------------------------------------
# outcomes


_ckpt_dir = None


def _classify_checkpoint(data: bytes, original: Dict[str, np.ndarray]) -> Tuple[str, str]:
    global _ckpt_dir
    import enec.checkpoint

    if _ckpt_dir is None:
        _ckpt_dir = tempfile.mkdtemp(prefix="enec-campaign-")
    path = os.path.join(_ckpt_dir, "mutated.enec")
    with open(path, "wb") as f:
        f.write(data)
    try:
        out = enec.checkpoint.load_file(path)
    except enec.CorruptDataError:
        return "raised", ""
    except Exception as e:  # anything else is a bug, reported with its type
        return "other_error", f"{type(e).__name__}: {e}"
    if list(out) != list(original):
        return "mismatch", f"tensors {list(out)[:5]} returned for {list(original)[:5]}"
    for k, a in original.items():
        b = out[k]
        if b.dtype != a.dtype or b.shape != a.shape or b.tobytes() != np.ascontiguousarray(a).tobytes():
            return "mismatch", f"tensor {k!r}: {b.dtype}{b.shape} returned for {a.dtype}{a.shape}"
    return "exact", ""


def classify(data: bytes, original, kind: str = "") -> Tuple[str, str]:
    """(outcome, detail) of decoding one mutated stream, or checkpoint when original is a dict."""
    if isinstance(original, dict):
        return _classify_checkpoint(data, original)
    try:
        out = enec.decompress(data)
    except enec.CorruptDataError:
        return "raised", ""
    except Exception as e:  # anything else is a bug, reported with its type
        return "other_error", f"{type(e).__name__}: {e}"
    same_bits = out.tobytes() == np.ascontiguousarray(original).tobytes()
    if same_bits and out.dtype == original.dtype and out.shape == original.shape:
        return "exact", ""
    if same_bits and kind == "rewrite" and out.dtype.itemsize == original.dtype.itemsize:
        return "relabelled", f"{original.dtype}{original.shape} -> {out.dtype}{out.shape}"
    return "mismatch", f"{out.dtype}{out.shape} returned for {original.dtype}{original.shape}"


def run(subjects: Dict[str, Tuple[np.ndarray, bytes]], per_subject: int, seed: int,
        kinds: Iterable[str] = KINDS, on_each: Optional[Callable[[str, int], None]] = None,
        first: int = 0, subject_index: Optional[int] = None):
    """Run mutations first .. first+per_subject-1 on every subject. Mutation i
    of a subject depends only on (seed, the subject's index in sorted order, i),
    so any one can be replayed; subject_index overrides that index when the
    caller passes subjects one at a time.
    Returns (Counter of (subject, kind, outcome), list of bad cases)."""
    counts: Counter = Counter()
    bad = []
    for si, (name, (a, s)) in enumerate(sorted(subjects.items())):
        si = si if subject_index is None else subject_index
        # "rewrite" knows the stream's checksums, not the container's
        ks = tuple(k for k in kinds if k in CHECKPOINT_KINDS) if isinstance(a, dict) else tuple(kinds)
        for i in range(first, first + per_subject):
            rng = np.random.default_rng([seed, si, i])
            kind = ks[i % len(ks)]
            data = mutate(s, rng, kind)
            if on_each:
                on_each(name, i)
            outcome, detail = classify(data, a, kind)
            counts[(name, kind, outcome)] += 1
            if outcome in BAD:
                bad.append((name, kind, i, outcome, detail))
    return counts, bad


def truncations(subjects: Dict[str, Tuple[np.ndarray, bytes]], every_up_to: int, rng) -> Tuple[Counter, list]:
    """Every prefix of streams up to every_up_to bytes, a sample of longer ones."""
    counts: Counter = Counter()
    bad = []
    for name, (a, s) in sorted(subjects.items()):
        if len(s) <= every_up_to:
            lengths = range(len(s))
        else:
            lengths = sorted(set(range(600)) | set(int(v) for v in rng.integers(0, len(s), 400)))
        for n in lengths:
            outcome, detail = classify(s[:n], a)
            counts[(name, "truncate-all", outcome)] += 1
            if outcome != "raised":  # a strict prefix is never a whole stream
                bad.append((name, "truncate-all", n, outcome, detail))
    return counts, bad
