"""torch tensors in and out of enec without importing torch unless the caller already has.

enec does not depend on torch. A torch tensor is recognised by its class
(torch.Tensor and subclasses such as nn.Parameter), never by importing
torch, so `import enec` stays fast and torch-free. Conversion goes through
NumPy: dtypes NumPy lacks (bfloat16, the float8 family) travel as raw bits
of a same-width integer and are reinterpreted as their ml_dtypes type.
"""
from __future__ import annotations

import sys

import ml_dtypes
import numpy as np

# torch dtype name -> (ml_dtypes type, integer dtype of the same width used to move the bits)
_VIA_BITS = {
    "bfloat16": (ml_dtypes.bfloat16, "int16"),
    "float8_e4m3fn": (ml_dtypes.float8_e4m3fn, "uint8"),
    "float8_e4m3fnuz": (ml_dtypes.float8_e4m3fnuz, "uint8"),
    "float8_e5m2": (ml_dtypes.float8_e5m2, "uint8"),
    "float8_e5m2fnuz": (ml_dtypes.float8_e5m2fnuz, "uint8"),
    "float8_e8m0fnu": (ml_dtypes.float8_e8m0fnu, "uint8"),
}
_NP_TO_TORCH = {np.dtype(ml): name for name, (ml, _) in _VIA_BITS.items()}


def is_tensor(x) -> bool:
    """True for torch.Tensor and its subclasses, without importing torch."""
    if "torch" not in sys.modules:
        return False  # nobody could have made a tensor
    return any(c.__module__ == "torch" and c.__name__ == "Tensor" for c in type(x).__mro__)


def to_numpy(t) -> np.ndarray:
    """A C-contiguous NumPy array with the tensor's bits, dtype and shape (a CPU copy only when needed)."""
    import torch

    if t.layout != torch.strided:
        raise TypeError(f"enec: cannot compress a {t.layout} torch tensor; call .to_dense() first")
    if t.is_quantized:
        raise TypeError("enec: cannot compress a quantized torch tensor; pass its int_repr() and scales")
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    # conj/neg are lazy bits on the tensor; numpy() would refuse them
    t = t.resolve_conj().resolve_neg().contiguous()
    name = str(t.dtype).replace("torch.", "")
    if name in _VIA_BITS:
        ml, carrier = _VIA_BITS[name]
        return t.view(getattr(torch, carrier)).numpy().view(ml)
    try:
        return t.numpy()
    except TypeError as e:  # a torch dtype NumPy has no counterpart for
        raise TypeError(f"enec: torch dtype {t.dtype} has no NumPy equivalent; "
                        f"cast it or pass t.view(torch.uint8) to store its raw bytes") from e


def from_numpy(a: np.ndarray):
    """A torch tensor sharing the array's memory, with the matching torch dtype (bfloat16 included)."""
    import torch

    if not a.flags.writeable:
        a = a.copy()  # torch warns on read-only memory and tensors are writable
    name = _NP_TO_TORCH.get(a.dtype)
    if name is not None:
        carrier = _VIA_BITS[name][1]
        return torch.from_numpy(a.view(carrier)).view(getattr(torch, name))
    try:
        return torch.from_numpy(a)
    except TypeError as e:
        raise TypeError(f"enec: NumPy dtype {a.dtype} has no torch equivalent; "
                        f"use framework='np' for this tensor") from e
