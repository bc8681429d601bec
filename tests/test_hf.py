"""Loading enec checkpoints into torch and Hugging Face transformers models (both optional: skipped
when absent). The model is built from a config here, never downloaded."""
import os

import pytest

import enec

torch = pytest.importorskip("torch")
import enec.torch  # noqa: E402


def test_state_dict_round_trip_keeps_ties_and_dtypes(tmp_path):
    emb = torch.randn(100, 16, dtype=torch.bfloat16)
    sd = {"emb.weight": emb, "head.weight": emb, "norm": torch.ones(16),
          "f8": torch.randn(8).to(torch.float8_e4m3fn), "ids": torch.arange(5)}
    enec.torch.save_state_dict(sd, tmp_path / "m.enec")
    with enec.open(tmp_path / "m.enec") as c:
        assert c.entry("head.weight").same_as == "emb.weight" and c.metadata() == {"format": "pt"}
    back = enec.torch.load_state_dict(tmp_path / "m.enec")
    for k, v in sd.items():
        assert back[k].dtype == v.dtype and torch.equal(back[k].view(torch.uint8), v.view(torch.uint8)), k
    assert back["head.weight"].data_ptr() == back["emb.weight"].data_ptr()


def test_transformers_model_from_an_enec_directory_gives_the_same_outputs(tmp_path):
    pytest.importorskip("transformers")
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=300, n_positions=64,
                     bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(cfg).eval()
    model.save_pretrained(tmp_path / "orig", max_shard_size="100KB")  # sharded, with an index
    assert os.path.exists(tmp_path / "orig" / "model.safetensors.index.json")
    from enec.cli import main
    assert main(["compress", "-q", str(tmp_path / "orig"), "-o", str(tmp_path / "enec")]) == 0
    assert not any(n.endswith(".safetensors") for n in os.listdir(tmp_path / "enec"))

    loaded = enec.torch.from_pretrained(GPT2LMHeadModel, tmp_path / "enec").eval()
    ids = torch.randint(0, 300, (2, 20))
    with torch.no_grad():
        want = model(ids).logits
        got = loaded(ids).logits
    assert torch.equal(want, got)
    # the weights are the originals' bits, and the head is still tied to the embedding
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    assert loaded.lm_head.weight.data_ptr() == loaded.transformer.wte.weight.data_ptr()
    # and the restored directory loads with plain transformers
    assert main(["decompress", "-q", str(tmp_path / "enec"), "-o", str(tmp_path / "back")]) == 0
    plain = GPT2LMHeadModel.from_pretrained(tmp_path / "back").eval()
    with torch.no_grad():
        assert torch.equal(plain(ids).logits, want)


def test_safe_open_with_torch_tensors(tmp_path):
    w = torch.randn(5000, 64).to(torch.bfloat16)
    enec.save_file({"w": w}, tmp_path / "w.enec", chunk_size=1 << 16)
    with enec.safe_open(tmp_path / "w.enec", framework="pt") as f:
        s = f.get_slice("w")
        assert s.get_dtype() == "BF16" and s.get_shape() == [5000, 64]
        part = s[1000:1010, :8]
        assert isinstance(part, torch.Tensor) and part.dtype == torch.bfloat16
        assert torch.equal(part, w[1000:1010, :8]) and torch.equal(f.get_tensor("w"), w)
