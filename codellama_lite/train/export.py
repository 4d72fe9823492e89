"""A trained model as a sharded Hugging Face folder, written by every rank, none of which holds the whole model.

The model is cut into units (the embedding, final norm and output; then each layer) and the units into up to
``world_size`` files, ``model-0000f-of-0000N.safetensors``, file ``f`` written by rank ``f`` (one process:
``model.safetensors``). Each tensor is gathered in turn (``DTensor.full_tensor``, a collective every rank joins),
kept in the export dtype (bfloat16 for a released model) only by the rank that writes it, and converted to Hugging
Face's names per layer (:func:`codellama_lite.interop.layer_to_format`). Rank 0 writes ``config.json`` and
``model.safetensors.index.json``, which ``transformers.LlamaForCausalLM.from_pretrained`` and
:func:`codellama_lite.interop.import_hf` read.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from torch.distributed.checkpoint.state_dict import get_model_state_dict

from codellama_lite.config import ModelConfig
from codellama_lite.support.fileio import atomic_open, atomic_path
from codellama_lite.interop import HF, HF_INDEX, HF_WEIGHTS, globals_to_format, hf_config, layer_to_format
from codellama_lite.train.distributed import World, barrier

GLOBAL_NAMES = tuple(HF.global_names)


def _units(config: ModelConfig) -> list[tuple[int | None, list[str]]]:
    """(layer or None, our tensor names) of each unit, in file order."""
    return [(None, list(GLOBAL_NAMES))] + [(i, [f"layers.{i}.{name}" for name in HF.layer_names])
                                           for i in range(config.n_layers)]


def shard_file(index: int, count: int) -> str:
    """Hugging Face's file names: ``model.safetensors`` alone, else ``model-00001-of-00008.safetensors`` …"""
    return HF_WEIGHTS if count == 1 else f"model-{index + 1:05d}-of-{count:05d}.safetensors"


def export_sharded_hf(model: nn.Module, config: ModelConfig, directory: str | Path, world: World,
                      dtype: torch.dtype = torch.bfloat16) -> Path:
    """Write ``directory`` (every rank calls this; see the module docstring); returns it."""
    directory = Path(directory)
    state = get_model_state_dict(model)  # this rank's shards (DTensors under FSDP2), names without wrappers
    units = _units(config)
    files = min(world.world_size, len(units))
    file_of = [unit * files // len(units) for unit in range(len(units))]
    if world.main:
        directory.mkdir(parents=True, exist_ok=True)
    barrier(world)
    mine: dict[str, torch.Tensor] = {}
    weight_map: dict[str, str] = {}
    total = 0
    for unit, (layer, names) in enumerate(units):
        full = {}
        for name in names:
            tensor = state[name]
            tensor = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
            if file_of[unit] == world.rank:
                full[name] = tensor.detach().to(device="cpu", dtype=dtype)
            total += tensor.numel() * torch.finfo(dtype).bits // 8
        if file_of[unit] == world.rank:
            mine.update(globals_to_format(full, HF) if layer is None else layer_to_format(full, config, HF, layer))
        names_out = list(HF.global_names.values()) if layer is None else \
            [HF.layer.format(layer) + name for name in HF.layer_names.values()]
        weight_map.update({name: shard_file(file_of[unit], files) for name in names_out})
    if mine:
        with atomic_path(directory / shard_file(world.rank, files)) as tmp:
            save_file(mine, str(tmp), metadata={"format": "pt"})
    if world.main and files > 1:
        with atomic_open(directory / HF_INDEX) as handle:
            json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, handle,
                      indent=2)
    if world.main:
        with atomic_open(directory / "config.json") as handle:
            json.dump(hf_config(config, dtype), handle, indent=2)
    barrier(world)
    return directory
