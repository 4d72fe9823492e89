"""What a model shape costs to run and to train: FLOPs per token, training memory, GPUs (Code Llama §2.2, appendix).

Conventions (stated, because every published estimate picks its own):

* **FLOPs** follow PaLM's appendix B (Chowdhery et al., 2022), the usual basis of model-FLOPs utilisation (MFU):
  a forward pass costs ``2 N`` per token for the ``N`` parameters used in matrix products (every weight but the
  embedding table and the norm gains) plus ``4 · n_layers · dim · seq_len`` for the attention scores and the
  weighted sum of values (full, unmasked context). Training (forward + backward) costs three times the forward pass.
* **Memory** for mixed-precision training with AdamW: bf16 weights (2 bytes per parameter) and bf16 gradients (2),
  plus AdamW state in float32: a master copy of the weights, the first and the second moment (4 + 4 + 4).
  Activations per sequence with one checkpoint per layer (only each layer's input is kept, one layer at a time is
  recomputed): ``2 · seq · dim`` bytes per layer, plus the working set of one layer and the float32 logits.
* **GPUs**: the model state (weights, gradients, optimizer) is sharded across GPUs (ZeRO-3 / FSDP); activations are
  not. The minimum count is the smallest ``n`` with ``state / n + activations`` within one GPU's memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from codellama_lite.config import ModelConfig, param_count

A100_80GB_BYTES = 80 * 10**9
A100_BF16_PEAK_FLOPS = 312e12  # dense bf16, NVIDIA A100 datasheet
BYTES_PER_PARAM_STATE = {"bf16 weights": 2, "bf16 gradients": 2, "AdamW fp32 master + m + v": 12}


def matmul_params(config: ModelConfig) -> int:
    """Parameters that take part in matrix products: all but the embedding table and the RMSNorm gains."""
    norms = (2 * config.n_layers + 1) * config.dim
    return param_count(config) - config.vocab_size * config.dim - norms


def flops_per_token(config: ModelConfig, seq_len: int = 4096, training: bool = False) -> float:
    """FLOPs to process one token in a sequence of ``seq_len`` (forward, or forward + backward with ``training``)."""
    forward = 2 * matmul_params(config) + 4 * config.n_layers * config.dim * seq_len
    return 3 * forward if training else forward


def layer_activation_bytes(config: ModelConfig, tokens: int, bytes_per_value: int = 2) -> int:
    """Activations one layer keeps for its backward pass (flash attention, no dropout), for ``tokens`` tokens.

    Per token: the two norm inputs and outputs (4 · dim), queries/keys/values ((n_heads + 2 · n_kv_heads) · head_dim),
    the attention output (dim) and the SwiGLU gate, up, activation and product (4 · hidden).
    """
    qkv = (config.n_heads + 2 * config.kv_heads) * config.head_dim
    per_token = 4 * config.dim + qkv + config.dim + 4 * config.hidden_dim
    return tokens * per_token * bytes_per_value


def activation_bytes(config: ModelConfig, seq_len: int = 4096, micro_batch: int = 1, checkpointing: bool = True) -> int:
    """Activation memory of one micro-batch; with ``checkpointing`` only layer inputs are kept (plus one layer)."""
    tokens = seq_len * micro_batch
    layer = layer_activation_bytes(config, tokens)
    logits = tokens * config.vocab_size * 4 * 2  # float32 logits and their gradient
    if checkpointing:
        return config.n_layers * tokens * config.dim * 2 + layer + logits
    return config.n_layers * layer + logits


@dataclass(frozen=True)
class TrainingCost:
    """One row of the cost table."""

    name: str
    params: int
    forward_flops_per_token: float
    training_flops_per_token: float
    weights_bytes: int
    optimizer_bytes: int
    gradients_bytes: int
    activations_bytes: int
    min_gpus: int

    @property
    def state_bytes(self) -> int:
        return self.weights_bytes + self.optimizer_bytes + self.gradients_bytes


def min_gpus(config: ModelConfig, gpu_bytes: int = A100_80GB_BYTES, seq_len: int = 4096, micro_batch: int = 1) -> int:
    """The fewest GPUs that hold a sharded training state plus one micro-batch of (checkpointed) activations."""
    state = sum(BYTES_PER_PARAM_STATE.values()) * param_count(config)
    free = gpu_bytes - activation_bytes(config, seq_len, micro_batch)
    if free <= 0:
        raise ValueError(f"one micro-batch of {seq_len} tokens does not fit in {gpu_bytes / 1e9:.0f} GB")
    return math.ceil(state / free)


def training_cost(name: str, config: ModelConfig | None = None, seq_len: int = 4096) -> TrainingCost:
    """The cost row of a preset (or of ``config`` under ``name``)."""
    config = config or ModelConfig.preset(name)
    n = param_count(config)
    return TrainingCost(
        name=name, params=n,
        forward_flops_per_token=flops_per_token(config, seq_len),
        training_flops_per_token=flops_per_token(config, seq_len, training=True),
        weights_bytes=2 * n, optimizer_bytes=12 * n, gradients_bytes=2 * n,
        activations_bytes=activation_bytes(config, seq_len),
        min_gpus=min_gpus(config, seq_len=seq_len),
    )


def gpu_hours(config: ModelConfig, tokens: float, mfu: float = 0.5, peak_flops: float = A100_BF16_PEAK_FLOPS,
              seq_len: int = 4096) -> float:
    """GPU-hours to train on ``tokens`` tokens at a model-FLOPs utilisation ``mfu`` of ``peak_flops``."""
    return flops_per_token(config, seq_len, training=True) * tokens / (mfu * peak_flops) / 3600


def format_cost_table(rows: list[TrainingCost]) -> str:
    """A plain-text table (sequence 4,096, bf16 + AdamW, per-layer activation checkpointing)."""
    header = (f"{'model':>5} {'params':>8} {'fwd GFLOP/tok':>13} {'train GFLOP/tok':>15} {'weights GB':>10} "
              f"{'AdamW GB':>9} {'grads GB':>8} {'act GB/seq':>10} {'min A100-80GB':>13}")
    lines = [header]
    for row in rows:
        lines.append(f"{row.name:>5} {row.params / 1e9:7.2f}B {row.forward_flops_per_token / 1e9:13.1f} "
                     f"{row.training_flops_per_token / 1e9:15.1f} {row.weights_bytes / 1e9:10.1f} "
                     f"{row.optimizer_bytes / 1e9:9.1f} {row.gradients_bytes / 1e9:8.1f} "
                     f"{row.activations_bytes / 1e9:10.2f} {row.min_gpus:13d}")
    return "\n".join(lines)


# -- the cost of a long context ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextCost:
    """What a prompt of ``tokens`` tokens costs one model (bf16 cache, one sequence)."""

    tokens: int
    kv_cache_bytes: int
    attention_flops: float  # scores and weighted sums over the whole prompt (full, unmasked: costs.py convention)
    weight_flops: float  # the matrix products with the weights, 2 N per token

    @property
    def attention_share(self) -> float:
        return self.attention_flops / (self.attention_flops + self.weight_flops)


def kv_cache_bytes(config: ModelConfig, tokens: int, bytes_per_value: int = 2) -> int:
    """Keys and values of every layer for ``tokens`` positions: ``2 * n_layers * n_kv_heads * head_dim`` values each."""
    return 2 * config.n_layers * config.kv_heads * config.head_dim * tokens * bytes_per_value


def context_cost(config: ModelConfig, tokens: int) -> ContextCost:
    """The forward cost of a ``tokens``-token prompt, split into attention and weights (PaLM's FLOP convention)."""
    weights = 2 * matmul_params(config) * tokens
    total = flops_per_token(config, seq_len=tokens) * tokens
    return ContextCost(tokens, kv_cache_bytes(config, tokens), total - weights, weights)
