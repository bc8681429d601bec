"""The simulated Ascend NPU backend: ENEC's kernels run on a C model of a 910B2-class device.

    >>> import numpy as np, enec, enec.npu
    >>> a = np.random.default_rng(0).normal(0, 0.02, 50_000).astype(np.float16)  # synthetic
    >>> blob, rep = enec.npu.compress(a)
    >>> blob == enec.compress(a)
    True
    >>> out, rep = enec.npu.decompress(blob)
    >>> rep.gbps > 0
    True

Variants follow the paper's ablation: "v0" (table transform, per-group max width, sequential
scan; its own container, not the stream format), "v1" (+ two-level width and halving packing),
"v2" (+ linear transform), "v3" (+ dependency-decoupled scan; the final design). V1..V3 write
exactly what enec.compress writes. docs/NPU.md describes the model and its parameters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import ml_dtypes
import numpy as np

from . import _core, _npu

NpuError = _npu.NpuError
VARIANTS = ("v0", "v1", "v2", "v3")
PIPES = ("mte2", "vector", "scalar", "mte3")
_V0_MAGIC = b"ENV0"  # V0's own container (docs/NPU.md); the standard stream starts with b"ENEC"


def default_device() -> dict:
    """The device model's parameters with their defaults (docs/NPU.md gives each one's source)."""
    return _npu.default_config()


@dataclass(frozen=True)
class Report:
    """What one kernel launch cost on the modelled device.

    core_cycles: each core's busy span (all phases). pipes: per-pipe busy cycles per core
    (mte2 = DMA in, vector, scalar, mte3 = DMA out). kernel_cycles: the launch end to end,
    at least the shared-HBM bound. gbps: original bytes / simulated kernel time."""

    variant: str
    cores: int
    clock_ghz: float
    core_cycles: List[float]
    pipes: Dict[str, List[float]]
    phases: Dict[str, float]
    device_cycles: float
    hbm_cycles: float
    kernel_cycles: float
    bytes_in: int
    bytes_out: int
    original_bytes: int
    stream_bytes: int
    nblocks: int
    slots: int
    coded: bool
    ub_peak: int
    ops: Dict[str, Tuple[int, float]] = field(repr=False)
    bank_extra: float = 0.0   # vector cycles lost to UB bank conflicts, all cores
    queue_stall: float = 0.0  # scalar cycles waiting for a full instruction queue, all cores

    @property
    def seconds(self) -> float:
        return self.kernel_cycles / (self.clock_ghz * 1e9)

    @property
    def gbps(self) -> float:
        """Predicted throughput in GB/s of original (uncompressed) data; 0 when nothing ran."""
        return self.original_bytes / self.seconds / 1e9 if self.kernel_cycles > 0 else 0.0

    @property
    def bound(self) -> str:
        """"hbm" when the launch moves its bytes at 75% or more of the shared global-memory bandwidth
        (the HBM timeline holds it back), else "cores"."""
        return "hbm" if self.hbm_cycles > 0 and self.hbm_cycles >= 0.75 * self.kernel_cycles else "cores"

    def pipe_totals(self) -> Dict[str, float]:
        """Busy cycles of each pipe on the busiest core (by span)."""
        if not self.core_cycles:
            return {p: 0.0 for p in PIPES}
        c = max(range(len(self.core_cycles)), key=lambda i: self.core_cycles[i])
        return {p: self.pipes[p][c] for p in PIPES}


def _variant_id(variant: str) -> int:
    if variant not in VARIANTS:
        raise ValueError(f"enec.npu: unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    return VARIANTS.index(variant)


def _config(device) -> Optional[dict]:
    if device is None:
        return None
    if not isinstance(device, dict):
        raise TypeError("enec.npu: device must be a dict of parameters (see enec.npu.default_device())")
    return dict(device)


def _report(variant: str, device, raw: dict) -> Report:
    cfg = default_device()
    if device:
        cfg.update(device)
    return Report(variant=variant, cores=raw["cores"], clock_ghz=float(cfg["clock_ghz"]),
                  core_cycles=raw["core_cycles"], pipes=raw["pipes"], phases=raw["phases"],
                  device_cycles=raw["device_cycles"], hbm_cycles=raw["hbm_cycles"],
                  kernel_cycles=raw["kernel_cycles"], bytes_in=raw["bytes_in"],
                  bytes_out=raw["bytes_out"], original_bytes=raw["original_bytes"],
                  stream_bytes=raw["stream_bytes"], nblocks=raw["nblocks"], slots=raw["slots"],
                  coded=bool(raw["coded"]), ub_peak=raw["ub_peak"], ops=raw["ops"],
                  bank_extra=raw.get("bank_extra", 0.0), queue_stall=raw.get("queue_stall", 0.0))


# The dtypes the simulated kernels implement (csrc/npu/driver.c, enec_npu_dtype_ok).
_NPU_DTYPES = tuple(np.dtype(d) for d in (ml_dtypes.bfloat16, "<f2", "<f4"))


def compress(array, variant: str = "v3", device: Optional[dict] = None, *, dtype=None,
             params=None, mode: str = "fast") -> Tuple[bytes, Report]:
    """Compress with ENEC's NPU kernels on the modelled device: (stream, report).

    For v1..v3 the stream is byte-identical to enec.compress(array, params=params).
    device: parameter overrides, e.g. {"cores": 24, "ub_bytes": 131072}.
    Raises NpuError when the kernel breaks a rule of the device (for example when the
    Unified Buffer is too small for a block)."""
    if mode != "fast":
        raise ValueError(f"enec.npu: the simulated NPU runs ENEC's mode 'fast' only, not {mode!r}; "
                         f"use enec.compress(..., mode={mode!r}) on the CPU")
    vid = _variant_id(variant)
    cfg = _config(device)
    a = _core._prepare(array, dtype)
    code = _core._CODED.get(a.dtype, (0, 0))[0]
    if (vid == 0 or code) and a.dtype not in _NPU_DTYPES:
        raise TypeError(f"enec.npu: the NPU kernels code bfloat16, float16 and float32, not {a.dtype}"
                        + ("" if vid else "; compress it with enec.compress"))
    if vid == 0 and a.size == 0:
        raise ValueError("enec.npu: variant v0 needs at least one element")
    if params is not None:
        if code == 0:
            raise TypeError(f"enec.npu: params given but {a.dtype} is not an ENEC-coded dtype")
        params = tuple(int(v) for v in tuple(params)[:4])
    data, raw = _npu.compress(_core._bytes_view(a), code, a.dtype.itemsize, a.shape, _core._descr(a.dtype),
                              vid, params=params, config=cfg)
    return data, _report(variant, cfg, raw)


def _empty(shape, dt) -> np.ndarray:
    """The output array a stream declares; a shape NumPy cannot build (an empty tensor may declare
    (2**62, 0)) is corrupt input, as in enec.decompress."""
    try:
        return np.empty(shape, dtype=dt)
    except (ValueError, OverflowError) as e:
        raise _core.CorruptDataError(f"enec.npu: stream declares shape {tuple(shape)}, which NumPy cannot "
                                     f"build") from e


def decompress(data, variant: str = "v3", device: Optional[dict] = None) -> Tuple[np.ndarray, Report]:
    """Decode a stream with the NPU kernels: (array, report).

    v1..v3 read any enec stream (what enec.compress writes); v0 reads only its own container.
    Raises enec.CorruptDataError for damaged input, and for a V0 container given to v1..v3 or a
    standard stream given to v0."""
    vid = _variant_id(variant)
    cfg = _config(device)
    if vid == 0:
        info = _npu.v0_info(data)
        dt = _core._CODE_DTYPE[info["dtype"]]
        out = _empty(info["shape"], dt)
    else:
        if bytes(memoryview(data)[:4]) == _V0_MAGIC:
            raise _core.CorruptDataError(
                f"enec.npu: this is a V0 container (written by compress(..., 'v0')); decode it with "
                f"variant='v0', not {variant!r}")
        h = _core._enec.read_header(data)
        if h["stream_size"] != memoryview(data).nbytes:
            raise _core.CorruptDataError(
                f"enec.npu: stream is {h['stream_size']} bytes but {memoryview(data).nbytes} were given")
        dt = _core._dtype_from_header(h)
        if h["mode"] not in ("stored", "fast"):
            raise ValueError(f"enec.npu: the simulated NPU runs mode 'fast' only; this stream is mode "
                             f"{h['mode']!r}: decode it with enec.decompress")
        if h["mode"] != "stored" and dt not in _NPU_DTYPES:
            raise TypeError(f"enec.npu: the NPU kernels code bfloat16, float16 and float32, not {dt}; "
                            f"decode this stream with enec.decompress")
        out = _empty(h["shape"], dt)
    raw = _npu.decompress_into(data, _core._bytes_view(out), vid, config=cfg)
    return out, _report(variant, cfg, raw)


def probe(rule: str, arg: int, device: Optional[dict] = None) -> float:
    """Run a tiny kernel that exercises one device rule; raises NpuError when it breaks it, else
    returns the vector pipe's busy cycles.

    rule: "ub_alloc" (allocate arg bytes), "segment" (x[i + arg] += x[i] over 256 lanes),
    "dma_align" (a DataCopy to UB offset arg), "dma_len" (a DataCopy of arg bytes), "race" (a DataCopy
    in and an add reading it; arg = 0 leaves out the wait between them), "bank_ww" (one Duplicate
    repeat whose blocks are arg blocks apart), "bank_rw" (one add repeat writing arg bytes after its
    source)."""
    return _npu.probe(rule, int(arg), _config(device))
