"""Speed and memory applied from outside the model (torchtitan's order): activation checkpointing, then
``torch.compile`` per block, then FSDP2 — and a start from released weights without one rank holding the model.

* **Activation checkpointing** (:func:`apply_activation_checkpointing`) wraps each :class:`TransformerBlock`:
  ``full`` keeps only the block's input and recomputes the block in backward; ``selective`` keeps the outputs of the
  matrix products and of attention and recomputes the cheap element-wise work between them (norms, RoPE, SwiGLU).
  Gradients are the same; memory drops (:mod:`codellama_lite.train.memory` says by how much).
* **Compile per block** (:func:`compile_blocks`): every block has the same shapes, so one compilation serves all.
* **Released weights** (:func:`build_pretrained`): the model is built on the ``meta`` device (no memory), sharded,
  then given storage for this rank's shards only; rank 0 reads the checkpoint (Hugging Face safetensors or Meta
  ``.pth``, memory-mapped) and ``set_model_state_dict(..., broadcast_from_rank0=True)`` sends each tensor in turn,
  every rank keeping its own slice, cast into the float32 master weights.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

from codellama_lite.config import ModelConfig
from codellama_lite.interop import extend_vocabulary, read_pretrained
from codellama_lite.model import Transformer
from codellama_lite.train.distributed import World, shard_model

CHECKPOINTING = ("none", "full", "selective")

# What selective checkpointing keeps: the products and attention (expensive to recompute); the rest is recomputed.
_SAVED_OPS = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default,
              torch.ops.aten._scaled_dot_product_flash_attention.default,
              torch.ops.aten._scaled_dot_product_efficient_attention.default,
              torch.ops.aten._scaled_dot_product_cudnn_attention.default,
              torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default}


def _selective_policy(ctx: Any, op: Any, *args: Any, **kwargs: Any) -> Any:
    return CheckpointPolicy.MUST_SAVE if op in _SAVED_OPS else CheckpointPolicy.PREFER_RECOMPUTE


def apply_activation_checkpointing(model: Transformer, mode: str) -> Transformer:
    """Wrap every block of ``model`` in place for ``mode`` (``none``, ``full`` or ``selective``).

    The wrapper (``checkpoint_wrapper``, non-reentrant) leaves parameter names in state dicts unchanged."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    if mode not in CHECKPOINTING:
        raise ValueError(f"train.activation_checkpointing = {mode!r}; choose one of {', '.join(CHECKPOINTING)}")
    if mode == "none":
        return model
    options: dict[str, Any] = {"preserve_rng_state": False}
    if mode == "selective":
        options["context_fn"] = functools.partial(create_selective_checkpoint_contexts, _selective_policy)
    for index, block in enumerate(model.layers):
        model.layers[index] = checkpoint_wrapper(block, **options)
    return model


def compile_blocks(model: Transformer) -> Transformer:
    """``torch.compile`` each block in place (before sharding, as torchtitan does); names stay unchanged."""
    for block in model.layers:
        block.compile()
    return model


def parallelize(model: Transformer, world: World, compute_dtype: torch.dtype, *, checkpointing: str = "none",
                compile: bool = False) -> Transformer:
    """Checkpointing, then per-block compile, then FSDP2 across processes (a no-op on one process)."""
    apply_activation_checkpointing(model, checkpointing)
    if compile:
        compile_blocks(model)
    if world.distributed:
        shard_model(model, world, compute_dtype)
    return model


def count_parameters(model: nn.Module) -> int:
    """Parameters of the whole model, each counted once, also under FSDP2 (a DTensor reports its global size)."""
    seen: set[int] = set()
    total = 0
    for param in model.parameters():
        if id(param) not in seen:
            seen.add(id(param))
            total += param.numel()
    return total


def build_pretrained(source: str | Path, config: ModelConfig, world: World, compute_dtype: torch.dtype, *,
                     checkpointing: str = "none", compile: bool = False) -> Transformer:
    """The model of ``config`` holding ``source``'s weights (Hugging Face or Meta folder) in float32, built on
    ``meta``, parallelized, then loaded shard by shard (see the module docstring); new vocabulary rows are
    :func:`codellama_lite.interop.extend_vocabulary`'s."""
    model = Transformer(config, device="meta")
    parallelize(model, world, compute_dtype, checkpointing=checkpointing, compile=compile)
    model.to_empty(device=world.device)
    model.reset_rope()
    state = _source_state(source, config) if world.main else {}
    load_full_state(model, state, world)
    return model


def _source_state(source: str | Path, config: ModelConfig) -> dict[str, torch.Tensor]:
    """Rank 0's copy of the checkpoint in our names, its vocabulary grown to ``config``'s."""
    stored, state = read_pretrained(source)
    for field in ("dim", "n_layers", "n_heads", "kv_heads", "hidden_dim"):
        if getattr(stored, field) != getattr(config, field):
            raise ValueError(f"{source}: {field} = {getattr(stored, field)} differs from the model's "
                             f"{getattr(config, field)}")
    if stored.vocab_size != config.vocab_size:
        state = extend_vocabulary(state, config.vocab_size)
    return state


def load_full_state(model: nn.Module, state: dict[str, torch.Tensor], world: World) -> None:
    """Copy a full (unsharded) state dict into ``model``, cast to its dtype: from rank 0 to every rank's shards
    under FSDP2 (the other ranks pass ``{}``), directly on one process."""
    if not world.distributed:
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"state does not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
        return

    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True,
                                                                strict=True))
