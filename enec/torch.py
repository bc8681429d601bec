"""Loading enec checkpoints into PyTorch and Hugging Face transformers models.

    import enec.torch
    sd = enec.torch.load_state_dict("model.enec")          # or a directory made by `enec compress DIR`
    model.load_state_dict(sd)
    model = enec.torch.from_pretrained(AutoModelForCausalLM, "model.enec.d")   # transformers

Every chunk of every tensor is decoded by a pool of worker threads (pread and
decoding release the GIL), so reading one chunk overlaps decoding others.
Importing this module imports torch; `import enec` alone never does.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

import torch  # noqa: F401  (this module is the torch integration: fail early without it)

from .checkpoint import CheckpointReader, save_file
from .convert import ENEC_SUFFIX, ST_SUFFIX, enec_name, is_checkpoint

INDEX_NAME = "model.safetensors.index.json"


def checkpoint_files(path) -> List[str]:
    """The .enec checkpoints holding a model's weights: path itself, or in a directory the shards
    its model.safetensors.index.json names (as converted by `enec compress DIR`), else every .enec
    checkpoint directly inside it."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return [path]
    index = os.path.join(path, INDEX_NAME)
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            weight_map = json.load(f).get("weight_map", {})
        files = []
        for shard in dict.fromkeys(weight_map.values()):
            p = os.path.join(path, enec_name(shard))
            if not os.path.exists(p):
                raise FileNotFoundError(f"enec: {index} names {shard}, but {p} does not exist")
            files.append(p)
        return files
    files = sorted(os.path.join(path, n) for n in os.listdir(path)
                   if n.endswith(ENEC_SUFFIX) and is_checkpoint(os.path.join(path, n)))
    if not files:
        raise FileNotFoundError(f"enec: no .enec checkpoint in {path}")
    return files


def load_state_dict(path, *, threads: int = 0, device: Optional[str] = None) -> Dict[str, "torch.Tensor"]:
    """{name: torch.Tensor} of an .enec checkpoint or an enec model directory (all shards).
    Tied tensors come back as one tensor under both names, as torch saved them. device: move the
    tensors there after decoding (default: stay on the CPU)."""
    out: Dict[str, torch.Tensor] = {}
    for f in checkpoint_files(path):
        with CheckpointReader(f, "pt", threads=threads) as r:
            part = r.load_all()
        dup = set(part) & set(out)
        if dup:
            raise ValueError(f"enec: tensor {sorted(dup)[0]!r} appears in two shards of {path}")
        out.update(part)
    if device is not None:
        moved = {}
        by_id: Dict[int, torch.Tensor] = {}
        for k, v in out.items():  # keep ties tied
            moved[k] = by_id.setdefault(id(v), v.to(device))
        out = moved
    return out


def save_state_dict(state_dict, path, metadata: Optional[Dict[str, str]] = None, *, threads: int = 0) -> None:
    """Save a torch state dict as an .enec checkpoint (tied tensors stored once; metadata defaults
    to {"format": "pt"} as transformers writes it)."""
    save_file(dict(state_dict), path, {"format": "pt"} if metadata is None else metadata, threads=threads)


def from_pretrained(model_class, path, *, threads: int = 0, **kwargs):
    """A transformers model built from the config in the enec directory `path` (as made by
    `enec compress MODEL_DIR`) with its weights from the .enec shards: model_class.from_pretrained
    with config= and state_dict=, so transformers ties, renames and checks weights as usual."""
    from transformers import AutoConfig

    config = kwargs.pop("config", None) or AutoConfig.from_pretrained(os.fspath(path))
    state = load_state_dict(path, threads=threads)
    return model_class.from_pretrained(None, config=config, state_dict=state, **kwargs)


__all__ = ["checkpoint_files", "load_state_dict", "save_state_dict", "from_pretrained", "ST_SUFFIX"]
