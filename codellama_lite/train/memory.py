"""Per-GPU memory of a training run, on paper and measured (Code Llama §2.2–2.4 at 7B: 4,096 then 16,384 tokens).

On paper (:func:`memory_plan`), for ``W`` processes under FSDP2 with float32 masters and bfloat16 compute:

* **parameters, gradients, AdamW's two moments**: 4 + 4 + 8 bytes per parameter, divided by ``W``;
* **gathered weights**: bfloat16 copies of the blocks being computed (the current and the prefetched one) and of the
  root's embedding and output, which stay gathered through the step;
* **activations** kept for backward, per token and per block (:func:`block_activation_bytes`) — counted from what
  autograd keeps in this model's block with a fused (flash) attention, which :func:`measure_live_bytes` measures:
  without checkpointing what autograd keeps; ``selective`` the block input, the products' and attention's outputs;
  ``full`` the block input only, plus one block recomputed at a time in backward;
* **logits**: bfloat16 logits, their float32 copy and float32 log-probabilities for the micro-batch.

Measured (:func:`measure_live_bytes`): a ``TorchDispatchMode`` that records every storage an operator creates and
follows its lifetime through a weak reference to the storage itself, so the live and peak bytes are exact for the
operators run, on any device (the CPU included, which has no allocator statistics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from codellama_lite.config import ModelConfig
from codellama_lite.model import Transformer

GIB = 1024 ** 3
MASTER_BYTES, GRAD_BYTES, ADAM_BYTES = 4, 4, 8  # float32 weights, float32 gradients, two float32 moments


# -- measured ---------------------------------------------------------------------------------------------------------


class LiveBytes(TorchDispatchMode):
    """Bytes of the storages created by operators inside this mode that are still alive: now and at the peak."""

    def __init__(self) -> None:
        super().__init__()
        self._live: dict[int, tuple[Any, int]] = {}
        self.current = self.peak = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        self._update(out, (args, kwargs))
        return out

    def _update(self, out: Any, inputs: Any = None) -> None:
        """Forget storages that died; record ``out``'s new ones (a view of an input allocates nothing)."""
        for key in [key for key, (ref, _) in self._live.items() if ref.expired()]:
            del self._live[key]
        given = {StorageWeakRef(t.untyped_storage()).cdata for t in tree_leaves(inputs) if isinstance(t, torch.Tensor)}
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                ref = StorageWeakRef(tensor.untyped_storage())
                if ref.cdata not in given:
                    self._live.setdefault(ref.cdata, (ref, tensor.untyped_storage().nbytes()))
        self.current = sum(size for _, size in self._live.values())
        self.peak = max(self.peak, self.current)


def measure_live_bytes(step: Callable[[], Any]) -> tuple[int, int]:
    """Run ``step()`` and return (bytes still alive that it created, peak bytes alive while it ran)."""
    with LiveBytes() as tracker:
        result = step()
    tracker._update(None)  # with ``result`` still referenced: its storage counts as alive
    del result
    return tracker.current, tracker.peak


# -- on paper ----------------------------------------------------------------------------------------------------------


def block_activation_bytes(config: ModelConfig, mode: str, compute_bytes: int = 2) -> int:
    """Bytes one block keeps for backward per token, in ``compute_bytes`` precision (2: bfloat16), for ``mode``.

    Counted from the block's operators (the norms compute in float32, :class:`codellama_lite.model.RMSNorm`):
    ``none`` keeps what autograd keeps, ``selective`` the input and what the products and attention return,
    ``full`` the input only.
    """
    d, kv, h, heads, s = config.dim, config.kv_heads * config.head_dim, config.hidden_dim, config.n_heads, \
        compute_bytes
    block_input = s * d  # kept by checkpointing; without it, the norm keeps its float32 copy instead
    if mode == "full":
        return block_input
    qkv, w13 = s * (d + 2 * kv), s * 2 * h  # the outputs of wq, wk, wv and of w1, w3
    attention = s * d + 4 * heads  # attention's output and its float32 log-sum-exp per head
    if mode == "selective":
        return block_input + qkv + attention + w13 + 2 * s * d  # and the outputs of wo and w2
    norms = 2 * (4 * d + 4 + 2 * s * d)  # float32 input and 1/rms; the cast and the gain's product (next input)
    values = s * kv  # wv's output; wq's and wk's are freed once rotated (the rotation keeps only its tables)
    rope = s * (d + kv)  # the rotated queries and keys
    swiglu = 2 * s * h  # silu(gate) and the gated product (w2's input)
    return norms + values + rope + attention + w13 + swiglu


@dataclass(frozen=True)
class MemoryPlan:
    """Per-GPU bytes of one run at a world size (see the module docstring)."""

    world_size: int
    tokens_per_micro_batch: int
    accumulation: int
    params: int
    grads: int
    optimizer: int
    gathered: int
    activations: dict[str, int]  # by checkpointing mode
    logits: int
    checkpointing: str  # the recipe's choice

    def total(self, mode: str | None = None) -> int:
        return (self.params + self.grads + self.optimizer + self.gathered + self.logits
                + self.activations[mode or self.checkpointing])


def memory_plan(config: ModelConfig, *, world_size: int, micro_batch: int, seq_len: int, accumulation: int,
                checkpointing: str = "none", compute_bytes: int = 2) -> MemoryPlan:
    """:class:`MemoryPlan` for ``config`` trained by ``world_size`` processes on micro-batches of
    ``micro_batch × seq_len`` tokens."""
    model = Transformer(config, device="meta")
    total = model.num_params()
    block = sum(p.numel() for p in model.layers[0].parameters())
    root = total - block * config.n_layers
    tokens = micro_batch * seq_len
    activations = {}
    for mode in ("none", "selective", "full"):
        kept = block_activation_bytes(config, mode, compute_bytes) * tokens * config.n_layers
        if mode != "none":  # backward recomputes one block at a time, all of its intermediates alive
            kept += block_activation_bytes(config, "none", compute_bytes) * tokens
        activations[mode] = kept
    shard = -(-total // world_size)
    return MemoryPlan(world_size=world_size, tokens_per_micro_batch=tokens, accumulation=accumulation,
                      params=MASTER_BYTES * shard, grads=GRAD_BYTES * shard, optimizer=ADAM_BYTES * shard,
                      gathered=compute_bytes * (root + 2 * block), activations=activations,
                      logits=(compute_bytes + 4 + 4) * config.vocab_size * tokens, checkpointing=checkpointing)


def format_memory(plan: MemoryPlan, limit_gb: float | None = None) -> str:
    """Per-GPU memory as one line per part, the total with the recipe's checkpointing and with each other mode."""
    def gb(value: int) -> str:
        return f"{value / 1e9:6.1f} GB"

    lines = [f"per GPU at world size {plan.world_size}: {plan.tokens_per_micro_batch:,} tokens per micro-batch, "
             f"{plan.accumulation} accumulation step(s)",
             f"  parameters (fp32 shard) {gb(plan.params)}, gradients {gb(plan.grads)}, AdamW {gb(plan.optimizer)}, "
             f"gathered bf16 weights {gb(plan.gathered)}, logits {gb(plan.logits)}"]
    for mode in ("none", "selective", "full"):
        mark = " <- recipe" if mode == plan.checkpointing else ""
        fits = "" if limit_gb is None else (" fits" if plan.total(mode) <= limit_gb * 1e9 else " DOES NOT FIT")
        lines.append(f"  activations, checkpointing {mode:<9} {gb(plan.activations[mode])}; total "
                     f"{gb(plan.total(mode))}{fits}{mark}")
    return "\n".join(lines)


def recipe_memory(recipe: Any, world_size: int, config: ModelConfig | None = None) -> MemoryPlan:
    """:func:`memory_plan` for a recipe (:class:`codellama_lite.train.recipe.Recipe`) at ``world_size`` processes,
    in bfloat16 compute as on GPUs; ``config`` is the recipe's :meth:`~Recipe.model_shape` unless given."""
    config = recipe.model_shape() if config is None else config
    arithmetic = recipe.batch_arithmetic(world_size)
    return memory_plan(config, world_size=world_size, micro_batch=recipe.train.micro_batch,
                       seq_len=recipe.train.seq_len, accumulation=arithmetic["accumulation"],
                       checkpointing=recipe.train.activation_checkpointing)
