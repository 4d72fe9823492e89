"""Model shapes as plain data: the Llama 2 / Code Llama presets and toy sizes (Code Llama §2, Llama 2 Table 1).

``ModelConfig.preset("7b")`` gives Code Llama 7B's shape; ``ModelConfig.preset("tiny", vocab_size=tok.vocab_size)``
a toy that trains on a laptop. :func:`param_count` computes the exact number of parameters from the shape alone, so a
learner can check the rounded 6.74B / 13.0B / 33.7B / 69.0B published with the checkpoints without allocating anything.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from codellama_lite.rope import CODE_LLAMA_ROPE_THETA, LLAMA2_ROPE_THETA, check_rope_scaling


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a Llama 2 decoder (the names follow Meta's ``params.json``)."""

    dim: int = 256
    n_layers: int = 8
    n_heads: int = 8
    n_kv_heads: int | None = None  # None: multi-head attention (as many key/value heads as query heads)
    vocab_size: int = 32016
    multiple_of: int = 256  # the FFN width is rounded up to a multiple of this
    ffn_dim_multiplier: float | None = None
    ffn_dim: int | None = None  # an explicit FFN width (e.g. from a Hugging Face config) overrides the rule
    norm_eps: float = 1e-5
    rope_theta: float = LLAMA2_ROPE_THETA
    max_seq_len: int = 2048  # length of the precomputed rotary table; longer inputs extend it
    # Hugging Face's RoPE scaling dict ({"rope_type": "linear", "factor": 4.0}, ...; see codellama_lite.rope), or None.
    # Left out of the hash (a dict has none); equality still compares it.
    rope_scaling: dict[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        for name in ("dim", "n_layers", "n_heads", "vocab_size", "multiple_of", "max_seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        if self.dim % self.n_heads:
            raise ValueError(f"ModelConfig.dim={self.dim} is not divisible by n_heads={self.n_heads}")
        if self.head_dim % 2:
            raise ValueError(f"ModelConfig: head_dim = dim / n_heads = {self.head_dim} must be even for RoPE")
        if self.kv_heads <= 0 or self.n_heads % self.kv_heads:
            raise ValueError(f"ModelConfig.n_heads={self.n_heads} is not a multiple of n_kv_heads={self.n_kv_heads}")
        if self.ffn_dim is not None and self.ffn_dim <= 0:
            raise ValueError(f"ModelConfig.ffn_dim must be positive, got {self.ffn_dim}")
        if self.norm_eps <= 0 or self.rope_theta <= 0:
            raise ValueError("ModelConfig.norm_eps and rope_theta must be positive, "
                             f"got {self.norm_eps}, {self.rope_theta}")
        # A private, validated copy: the caller's dict may change later, this config must not.
        object.__setattr__(self, "rope_scaling", check_rope_scaling(self.rope_scaling, "ModelConfig.rope_scaling"))

    # -- derived shapes ------------------------------------------------------------------------------------------

    @property
    def kv_heads(self) -> int:
        """Number of key/value heads (grouped-query attention when fewer than ``n_heads``)."""
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def hidden_dim(self) -> int:
        """The SwiGLU width: ``int(2 * 4 * dim / 3)``, times ``ffn_dim_multiplier``, rounded up to ``multiple_of``.

        Two thirds of the usual ``4 * dim`` keeps the parameter count of a three-matrix SwiGLU equal to a two-matrix
        MLP's (Shazeer, 2020); Llama 2 §2.2 and Meta's ``FeedForward``.
        """
        if self.ffn_dim is not None:
            return self.ffn_dim
        hidden = int(2 * 4 * self.dim / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return self.multiple_of * math.ceil(hidden / self.multiple_of)

    # -- presets ---------------------------------------------------------------------------------------------------

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "ModelConfig":
        """A named shape (see :data:`PRESETS`), with any field overridden: ``preset("tiny", vocab_size=512)``."""
        key = name.lower()
        if key not in PRESETS:
            raise ValueError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}")
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(f"unknown ModelConfig field(s) {unknown}; fields are {sorted(fields)}")
        return dataclasses.replace(PRESETS[key], **overrides)

    def replace(self, **changes: Any) -> "ModelConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        """Build from a dict, naming any unknown key (e.g. a mistyped field in a saved config)."""
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"unknown ModelConfig field(s) {unknown}; fields are {sorted(fields)}")
        return cls(**values)


PRESETS: dict[str, ModelConfig] = {
    # Code Llama (docs/paper_facts.md §4): Llama 2's shapes, RoPE base 1e6 after long-context fine-tuning (§2.4).
    # The 34B model (and the Python variants) were trained without infilling, hence 32,000 tokens.
    "7b": ModelConfig(dim=4096, n_layers=32, n_heads=32, vocab_size=32016, rope_theta=CODE_LLAMA_ROPE_THETA,
                      max_seq_len=16384),
    "13b": ModelConfig(dim=5120, n_layers=40, n_heads=40, vocab_size=32016, rope_theta=CODE_LLAMA_ROPE_THETA,
                       max_seq_len=16384),
    "34b": ModelConfig(dim=8192, n_layers=48, n_heads=64, n_kv_heads=8, vocab_size=32000,
                       rope_theta=CODE_LLAMA_ROPE_THETA, max_seq_len=16384),
    "70b": ModelConfig(dim=8192, n_layers=80, n_heads=64, n_kv_heads=8, vocab_size=32016, ffn_dim_multiplier=1.3,
                       multiple_of=4096, rope_theta=CODE_LLAMA_ROPE_THETA, max_seq_len=16384),
    # Toy shapes with the same proportions (GQA, SwiGLU rule), for laptops. Override vocab_size with the tokenizer's.
    "tiny": ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=512, multiple_of=16,
                        rope_theta=CODE_LLAMA_ROPE_THETA, max_seq_len=512),
    "toy": ModelConfig(dim=128, n_layers=4, n_heads=4, n_kv_heads=2, vocab_size=4096, multiple_of=32,
                       rope_theta=CODE_LLAMA_ROPE_THETA, max_seq_len=1024),
    # The benchmark shape: hidden 256, 8 layers, 8 query / 4 key-value heads, FFN 688, vocabulary 4096.
    "small": ModelConfig(dim=256, n_layers=8, n_heads=8, n_kv_heads=4, vocab_size=4096, multiple_of=16,
                         rope_theta=CODE_LLAMA_ROPE_THETA, max_seq_len=2048),
    # About a billion parameters with 7B's proportions, for a GPU's model-FLOPs-utilisation measurement.
    "1b": ModelConfig(dim=2048, n_layers=16, n_heads=16, n_kv_heads=8, vocab_size=32016,
                      rope_theta=CODE_LLAMA_ROPE_THETA, max_seq_len=4096),
}

# The rounded parameter counts published with the released checkpoints (the Hugging Face Hub), in billions; the
# papers name the sizes 7B, 13B, 34B and 70B (Llama 2 Table 1, Code Llama Table 2). docs/paper_facts.md §4.
PAPER_PARAMS_B: dict[str, float] = {"7b": 6.74, "13b": 13.0, "34b": 33.7, "70b": 69.0}


def param_count(config: ModelConfig) -> int:
    """The exact number of parameters of :class:`codellama_lite.model.Transformer` for ``config``.

    Per layer: ``wq, wk, wv, wo`` = ``2 * dim * (n_heads + n_kv_heads) * head_dim``; SwiGLU ``3 * dim * hidden``;
    two RMSNorm weights ``2 * dim``. Plus the embedding and the untied output layer ``2 * vocab * dim`` and the final
    norm ``dim``.
    """
    attention = 2 * config.dim * (config.n_heads + config.kv_heads) * config.head_dim
    feed_forward = 3 * config.dim * config.hidden_dim
    norms = 2 * config.dim
    return config.n_layers * (attention + feed_forward + norms) + 2 * config.vocab_size * config.dim + config.dim


def fim_extra_params(config: ModelConfig, base_vocab: int = 32000) -> int:
    """Parameters the infilling tokens add: ``2 * (vocab - 32000) * dim``.

    Each infilling token adds one embedding row and one output row.
    """
    return 2 * (config.vocab_size - base_vocab) * config.dim
