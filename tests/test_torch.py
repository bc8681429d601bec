"""torch tensors through compress, save_file and load_file(framework="pt"); skipped without torch."""
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import enec
import enec.convert
from testdata import assert_bitexact

torch = pytest.importorskip("torch")

DTYPES = [torch.bfloat16, torch.float16, torch.float32, torch.float64, torch.int64, torch.int32,
          torch.int8, torch.uint8, torch.bool, torch.complex64, torch.float8_e4m3fn, torch.float8_e5m2]


def _tensor(dtype, shape=(37, 129), seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point or dtype.is_complex:
        return (torch.randn(shape, generator=g, dtype=torch.float32) * 0.02).to(dtype)
    return torch.randint(-100 if dtype.is_signed else 0, 100, shape, generator=g).to(dtype)


def _same(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert torch.equal(a.contiguous().reshape(-1).view(torch.uint8),
                       b.contiguous().reshape(-1).view(torch.uint8))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_compress_torch_matches_numpy(dtype):
    t = _tensor(dtype)
    blob = enec.compress(t)
    a = enec.decompress(blob)
    _same(enec._torch.from_numpy(a), t)
    # the same bytes as the NumPy route: the tensor is only a different way in
    assert blob == enec.compress(enec._torch.to_numpy(t))


def test_bf16_is_coded_and_keeps_bits():
    t = _tensor(torch.bfloat16, (256, 256))
    blob = enec.compress(t)
    info = enec.inspect(blob)
    assert info.mode == "fast" and info.dtype == np.dtype(ml_dtypes.bfloat16) and info.ratio > 1.2
    back = enec.decompress(blob)
    assert np.array_equal(back.view(np.uint16), t.view(torch.int16).numpy().view(np.uint16))
    assert enec.search_params(t) == enec.search_params(back)


def test_views_params_and_grads():
    base = _tensor(torch.float32, (64, 96))
    for t in (base.T, base[::2, 3:], torch.nn.Parameter(base.clone()), base.clone().requires_grad_(),
              (base + 0j).conj(), -base.to(torch.complex64).conj()):
        back = enec._torch.from_numpy(enec.decompress(enec.compress(t)))
        assert torch.equal(back, t.detach().resolve_conj().resolve_neg())


def test_unsupported_tensors_raise_clearly():
    with pytest.raises(TypeError, match="to_dense"):
        enec.compress(torch.eye(3).to_sparse())


def test_save_load_pt(tmp_path):
    tensors = {str(d): _tensor(d, seed=i) for i, d in enumerate(DTYPES)}
    tensors["scalar"] = torch.tensor(3.5, dtype=torch.bfloat16)
    tensors["param"] = torch.nn.Parameter(torch.randn(5, 5))
    enec.save_file(tensors, tmp_path / "t.enec", metadata={"format": "pt"})
    back = enec.load_file(tmp_path / "t.enec", framework="pt")
    assert list(back) == list(tensors)
    for k, t in tensors.items():
        assert isinstance(back[k], torch.Tensor)
        _same(back[k], t.detach())
    with enec.open(tmp_path / "t.enec", framework="pt") as c:
        _same(c["torch.bfloat16"], tensors["torch.bfloat16"])
        assert isinstance(c.get_tensor("torch.int64", framework="np"), np.ndarray)


def test_pt_matches_safetensors_torch(tmp_path):
    from safetensors.torch import load_file as st_load, save_file as st_save

    tensors = {"a": _tensor(torch.bfloat16), "b": _tensor(torch.float16), "c": _tensor(torch.int64)}
    st_save(tensors, tmp_path / "m.safetensors", metadata={"k": "v"})
    enec.convert.safetensors_to_enec(tmp_path / "m.safetensors", tmp_path / "m.enec")
    ours = enec.load_file(tmp_path / "m.enec", framework="pt")
    theirs = st_load(tmp_path / "m.safetensors")
    for k in tensors:
        _same(ours[k], theirs[k])


def test_import_enec_does_not_import_torch():
    code = "import sys, enec, enec.checkpoint, enec.convert; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_assert_helper_sanity():
    # _same must notice a single flipped bit, or the tests above prove nothing
    t = _tensor(torch.bfloat16)
    u = t.clone()
    u.view(torch.int16)[0, 0] ^= 1
    with pytest.raises(AssertionError):
        _same(u, t)
    assert_bitexact(enec.decompress(enec.compress(t)), enec._torch.to_numpy(t))
