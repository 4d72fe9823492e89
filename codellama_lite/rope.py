"""Rotary position embeddings (RoPE), Code Llama §2.4 and appendix G.

RoPE (Su et al., 2021) rotates pairs of query/key coordinates by an angle ``position * theta_i`` with
``theta_i = base^(-2i/d)`` for ``i = 0 .. d/2 - 1``. The dot product of a rotated query and a rotated key then depends
only on their distance. Code Llama raises the base from 10,000 (Llama 2) to 1,000,000 during long-context fine-tuning,
which slows every rotation (§2.4).

Which coordinates form a pair is a convention, not part of the model:

* Meta's reference code pairs *neighbours* ``(2i, 2i+1)`` and multiplies them as complex numbers ("interleaved").
* Hugging Face pairs *halves* ``(i, i + d/2)`` and uses ``rotate_half`` ("half-split").

The two are the same model up to a fixed permutation of the rows of ``wq`` and ``wk`` inside each head
(see :func:`interleaved_to_half_split`). This workbook's model uses the **half-split** layout: one elementwise
expression, no complex numbers, and Hugging Face checkpoints load without permutation; Meta checkpoints are permuted
once at import (:mod:`codellama_lite.interop`).

The frequency functions are kept separate from their application so that long context (chapter 4) can swap in
rescaled frequencies and reuse everything else. :func:`scaled_inv_freq` computes them from Hugging Face's
``rope_scaling`` dictionary, the methods that extend a model trained at a length ``L0`` to longer inputs:

* ``default``: ``theta_i = base^(-2i/d)``, the frequencies the model was trained with.
* ``linear``, **position interpolation** (Chen et al., 2023, arXiv 2306.15595): squeeze the positions, ``m -> m / s``,
  which is the same as dividing every frequency by the factor ``s``. Positions up to ``s * L0`` then turn through
  angles seen in training, at the price of a ``s``-times finer resolution between neighbours. Needs fine-tuning.
* ``dynamic``, **dynamic NTK-aware scaling**: the NTK-aware rule (bloc97, "NTK-Aware Scaled RoPE", 2023) raises the
  base instead, ``base' = base * s^(d/(d-2))``: the fastest pair (i = 0) keeps its speed, so neighbouring tokens stay
  distinguishable, while the slowest pair (i = d/2 - 1) is slowed by exactly ``s``, as in interpolation. The dynamic
  variant (emozilla, 2023) picks ``s`` from the current length ``S``: ``s' = s * S / L0 - (s - 1)``, i.e. no change up
  to ``L0``, and recomputes the frequencies as the input grows. Works without fine-tuning.
* ``yarn``, **YaRN** (Peng et al., 2023, arXiv 2309.00071), "NTK-by-parts": pairs that turn many times within ``L0``
  (more than ``beta_fast`` = 32 turns) are left alone, pairs that turn less than ``beta_slow`` = 1 time are
  interpolated by ``s``, and a linear ramp blends the pairs in between. Attention logits are sharpened by
  ``(0.1 ln s + 1)^2`` (the factor multiplies both cos and sin).
* ``llama3`` (Llama 3.1, Dubey et al., 2024, arXiv 2407.21783): the same by-parts idea with the boundaries set by
  wavelengths: longer than ``L0 / low_freq_factor`` interpolated by ``s``, shorter than ``L0 / high_freq_factor``
  unchanged, a smooth blend between.

Code Llama itself uses none of these: it fine-tunes with a larger base, 1e4 -> 1e6 (§2.4, appendix G), which is the
``default`` type with a new ``rope_theta``. Every formula here equals transformers' ``ROPE_INIT_FUNCTIONS``
(tests/test_rope.py).
"""

from __future__ import annotations

import math
from typing import Any

import torch

LLAMA2_ROPE_THETA = 10_000.0  # RoPE's base in Llama 2 (Su et al.'s default), where code training starts
CODE_LLAMA_ROPE_THETA = 1_000_000.0  # the base after long-context fine-tuning (§2.4)


def rope_frequencies(head_dim: int, theta: float = LLAMA2_ROPE_THETA,
                     device: torch.device | str | None = None) -> torch.Tensor:
    """The ``head_dim / 2`` rotation speeds ``theta_i = theta^(-2i / head_dim)``.

    Computed in float32, as Meta and HF compute them.
    """
    if head_dim % 2:
        raise ValueError(f"RoPE needs an even head_dim, got {head_dim}")
    if theta <= 0:
        raise ValueError(f"rope_theta must be positive, got {theta}")
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64, device=device).float() / head_dim
    return 1.0 / (theta ** exponents)


def rope_angles(inv_freq: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Angles ``position * theta_i``: shape ``positions.shape + (head_dim / 2,)``, float32."""
    return positions.float()[..., None] * inv_freq


def rope_cos_sin(inv_freq: torch.Tensor, positions: torch.Tensor, dtype: torch.dtype = torch.float32,
                 attention_factor: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos`` and ``sin`` tables in the half-split layout: each angle appears twice, at ``i`` and ``i + d/2``.

    ``attention_factor`` multiplies both tables (YaRN's temperature): rotated queries and keys grow by it, so every
    attention logit grows by its square.
    """
    angles = rope_angles(inv_freq, positions)
    angles = torch.cat((angles, angles), dim=-1)
    if attention_factor == 1.0:
        return angles.cos().to(dtype), angles.sin().to(dtype)
    return (angles.cos() * attention_factor).to(dtype), (angles.sin() * attention_factor).to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``(x1, x2) -> (-x2, x1)`` on the two halves of the last dimension: a 90° turn of every pair ``(i, i + d/2)``."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate every pair of ``x`` (last dimension = head_dim) by its angle: ``x cos + rotate_half(x) sin``.

    ``cos`` and ``sin`` broadcast against ``x``, e.g. ``(seq, head_dim)`` for ``x`` of
    ``(batch, heads, seq, head_dim)``.
    """
    return torch.addcmul(x * cos, rotate_half(x), sin)


def interleaved_to_half_split(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Permute the rows of a Meta ``wq``/``wk`` (pairs ``(2i, 2i+1)``) to the half-split layout (pairs ``(i, i+d/2)``).

    Within each head, row ``2i`` moves to ``i`` and row ``2i+1`` to ``i + d/2``. Works on any tensor whose first
    dimension is ``n_heads * head_dim`` (weights and, e.g., a 1-D bias).
    """
    rows = weight.shape[0]
    if rows % n_heads or (rows // n_heads) % 2:
        raise ValueError(f"cannot permute {tuple(weight.shape)} for {n_heads} heads: "
                         "rows must be n_heads * even head_dim")
    head_dim = rows // n_heads
    return weight.reshape(n_heads, head_dim // 2, 2, -1).transpose(1, 2).reshape(weight.shape)


def half_split_to_interleaved(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The inverse of :func:`interleaved_to_half_split` (half-split rows back to Meta's interleaved pairs)."""
    rows = weight.shape[0]
    if rows % n_heads or (rows // n_heads) % 2:
        raise ValueError(f"cannot permute {tuple(weight.shape)} for {n_heads} heads: "
                         "rows must be n_heads * even head_dim")
    head_dim = rows // n_heads
    return weight.reshape(n_heads, 2, head_dim // 2, -1).transpose(1, 2).reshape(weight.shape)


# -- rescaled frequencies for long context (Hugging Face's ``rope_scaling``) -------------------------------------------

# Per rope type: the fields it requires and the fields it may have, besides ``rope_type``.
ROPE_SCALING_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "default": (frozenset(), frozenset()),
    "linear": (frozenset({"factor"}), frozenset()),
    "dynamic": (frozenset({"factor", "original_max_position_embeddings"}), frozenset()),
    "yarn": (frozenset({"factor", "original_max_position_embeddings"}),
             frozenset({"attention_factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim", "truncate"})),
    "llama3": (frozenset({"factor", "original_max_position_embeddings", "low_freq_factor", "high_freq_factor"}),
               frozenset()),
}
_POSITIVE_FLOATS = ("factor", "attention_factor", "beta_fast", "beta_slow", "low_freq_factor", "high_freq_factor")


def check_rope_scaling(rope_scaling: dict[str, Any] | None, source: str = "rope_scaling") -> dict[str, Any] | None:
    """A validated copy of a ``rope_scaling`` dict (numbers as float, lengths as int), or ``None``.

    The legacy key ``type`` is read as ``rope_type``. Any problem raises one ``ValueError`` naming ``source`` and the
    field.
    """
    if rope_scaling is None:
        return None
    if not isinstance(rope_scaling, dict):
        raise ValueError(f"{source} must be a dict or None, got {type(rope_scaling).__name__}")
    values = dict(rope_scaling)
    if "type" in values:
        values.setdefault("rope_type", values.pop("type"))
    kind = values.get("rope_type")
    if kind not in ROPE_SCALING_FIELDS:
        raise ValueError(f"{source}: rope_type={kind!r} is not supported; "
                         f"choose one of {', '.join(ROPE_SCALING_FIELDS)}")
    required, optional = ROPE_SCALING_FIELDS[kind]
    missing = sorted(required - set(values))
    if missing:
        raise ValueError(f"{source}: rope_type {kind!r} needs field(s) {missing}")
    unknown = sorted(set(values) - required - optional - {"rope_type"})
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {unknown} for rope_type {kind!r}; "
                         f"allowed: {sorted(required | optional)}")
    return {"rope_type": kind} | {name: _checked_field(name, value, source) for name, value in values.items()
                                  if name != "rope_type"}


def _checked_field(name: str, value: Any, source: str) -> Any:
    """One field's value, converted (``original_max_position_embeddings`` to int, factors to float) and checked."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "original_max_position_embeddings":
        if not is_number or value != int(value) or value <= 0:
            raise ValueError(f"{source}: {name} must be a positive integer, got {value!r}")
        return int(value)
    if name == "truncate":
        if not isinstance(value, bool):
            raise ValueError(f"{source}: truncate must be true or false, got {value!r}")
        return value
    if name in ("mscale", "mscale_all_dim"):
        if not is_number:
            raise ValueError(f"{source}: {name} must be a number, got {value!r}")
        return float(value)
    if name in _POSITIVE_FLOATS:
        if not is_number or value <= 0 or (name == "factor" and value < 1):
            bound = ">= 1" if name == "factor" else "> 0"
            raise ValueError(f"{source}: {name} must be a number {bound}, got {value!r}")
        return float(value)
    return value


def rope_type(rope_scaling: dict[str, Any] | None) -> str:
    """``default`` for ``None``, else the dict's ``rope_type``."""
    return "default" if rope_scaling is None else check_rope_scaling(rope_scaling)["rope_type"]


def scaled_inv_freq(head_dim: int, theta: float, rope_scaling: dict[str, Any] | None = None,
                    seq_len: int | None = None) -> tuple[torch.Tensor, float]:
    """The frequencies ``(head_dim / 2,)`` float32 and the attention factor for a ``rope_scaling`` dict.

    ``seq_len`` matters only to ``dynamic`` (the length of the input being processed; default the original length).
    The types and their papers are described in this module's docstring.
    """
    scaling = check_rope_scaling(rope_scaling)
    kind = rope_type(scaling)
    if kind == "default":
        return rope_frequencies(head_dim, theta), 1.0
    if kind == "linear":
        return position_interpolation(rope_frequencies(head_dim, theta), scaling["factor"]), 1.0
    if kind == "dynamic":
        return dynamic_ntk_frequencies(head_dim, theta, scaling["factor"],
                                       scaling["original_max_position_embeddings"], seq_len), 1.0
    if kind == "yarn":
        return yarn_frequencies(head_dim, theta, scaling), yarn_attention_factor(scaling)
    return llama3_frequencies(head_dim, theta, scaling), 1.0


def position_interpolation(inv_freq: torch.Tensor, factor: float) -> torch.Tensor:
    """Chen et al. (2023): positions ``m -> m / factor``, i.e. every frequency divided by ``factor``."""
    return inv_freq / factor


def ntk_aware_theta(theta: float, factor: float, head_dim: int) -> float:
    """bloc97 (2023): the base ``theta * factor^(d / (d - 2))`` that slows the slowest pair by exactly ``factor``.

    The slowest frequency is ``base^(-(d-2)/d)``; raising the base by ``factor^(d/(d-2))`` divides it by ``factor``
    while the fastest (``base^0 = 1``) is unchanged.
    """
    return theta * factor ** (head_dim / (head_dim - 2))


def dynamic_ntk_frequencies(head_dim: int, theta: float, factor: float, original_length: int,
                            seq_len: int | None = None) -> torch.Tensor:
    """Dynamic NTK: the NTK-aware base for the effective factor ``factor * S / L0 - (factor - 1)``, ``S`` the current
    length (at least ``L0``, so shorter inputs see the original frequencies)."""
    length = max(int(seq_len) if seq_len is not None else original_length, original_length)
    effective = factor * length / original_length - (factor - 1)
    return rope_frequencies(head_dim, ntk_aware_theta(theta, effective, head_dim))


def yarn_attention_factor(scaling: dict[str, Any]) -> float:
    """YaRN's temperature ``sqrt(1/t) = 0.1 ln s + 1`` (Peng et al., 2023, eq. 22), unless configured.

    With ``mscale`` and ``mscale_all_dim`` (DeepSeek's variant) it is the ratio of two such terms.
    """
    if scaling.get("attention_factor") is not None:
        return scaling["attention_factor"]

    def temperature(factor: float, mscale: float = 1.0) -> float:
        return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0

    factor = scaling["factor"]
    if scaling.get("mscale") and scaling.get("mscale_all_dim"):
        return temperature(factor, scaling["mscale"]) / temperature(factor, scaling["mscale_all_dim"])
    return temperature(factor)


def yarn_frequencies(head_dim: int, theta: float, scaling: dict[str, Any]) -> torch.Tensor:
    """YaRN's "NTK-by-parts" frequencies (Peng et al., 2023, §3.2).

    Pair ``i`` turns ``L0 / wavelength_i`` times within the original length. The pair index that turns exactly ``r``
    times is ``d ln(L0 / (2 pi r)) / (2 ln base)``; between the pairs for ``beta_fast`` (default 32) and ``beta_slow``
    (default 1) turns, a linear ramp goes from 0 (keep the frequency) to 1 (interpolate it by ``factor``).
    """
    factor, original = scaling["factor"], scaling["original_max_position_embeddings"]
    beta_fast, beta_slow = scaling.get("beta_fast") or 32.0, scaling.get("beta_slow") or 1.0

    def pair_turning(turns: float) -> float:
        return head_dim * math.log(original / (turns * 2 * math.pi)) / (2 * math.log(theta))

    low, high = pair_turning(beta_fast), pair_turning(beta_slow)
    if scaling.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, head_dim - 1)
    if low == high:
        high += 0.001  # a ramp of zero width would divide by zero
    ramp = ((torch.arange(head_dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    inv_freq = rope_frequencies(head_dim, theta)
    return (1 - ramp) * inv_freq + ramp * position_interpolation(inv_freq, factor)


def llama3_frequencies(head_dim: int, theta: float, scaling: dict[str, Any]) -> torch.Tensor:
    """Llama 3.1's by-parts rule on wavelengths ``2 pi / theta_i``: long ones (beyond ``L0 / low_freq_factor``) are
    interpolated by ``factor``, short ones (below ``L0 / high_freq_factor``) kept, the rest blended by
    ``m = (L0 / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor)``."""
    factor, original = scaling["factor"], scaling["original_max_position_embeddings"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    inv_freq = rope_frequencies(head_dim, theta)
    wavelength = 2 * math.pi / inv_freq
    blend = (original / wavelength - low) / (high - low)
    blended = (1 - blend) * position_interpolation(inv_freq, factor) + blend * inv_freq
    scaled = torch.where(wavelength > original / low, position_interpolation(inv_freq, factor), inv_freq)
    middle = (wavelength >= original / high) & (wavelength <= original / low)
    return torch.where(middle, blended, scaled)


def dynamic_scaled_length(rope_scaling: dict[str, Any] | None, length: int) -> int | None:
    """The input length dynamic NTK computes its frequencies for: ``length`` when it exceeds the original length,
    else ``None`` (the original frequencies). Other rope types never depend on the length.

    A function of the input alone. (transformers also remembers the longest input seen and keeps its frequencies
    for later, shorter inputs down to the original length; here an input's frequencies never depend on the inputs
    before it. Decoding with a KV cache, where each step is longer than the last, agrees with both.)
    """
    if rope_type(rope_scaling) != "dynamic" or length <= rope_scaling["original_max_position_embeddings"]:
        return None
    return length


def rope_tables(head_dim: int, theta: float, rope_scaling: dict[str, Any] | None, length: int,
                scaled_for: int | None = None, device: torch.device | str | None = None,
                dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos`` and ``sin`` ``(length, head_dim)`` for positions ``0 .. length - 1``: the frequencies of
    :func:`scaled_inv_freq` (dynamic NTK's for an input of ``scaled_for`` positions), its attention factor applied."""
    inv_freq, attention_factor = scaled_inv_freq(head_dim, theta, rope_scaling, scaled_for)
    positions = torch.arange(length, device=device)
    return rope_cos_sin(inv_freq.to(positions.device), positions, dtype, attention_factor)


# -- analysis: wavelengths, the decay bound, the scaled frequencies (chapter 4) -----------------------------------


def wavelengths(head_dim: int, theta: float) -> torch.Tensor:
    """Tokens per full turn of each rotary pair, ``2 pi / theta_i = 2 pi base^(2i/d)``.

    A pair whose wavelength exceeds the training length never completed a turn in training: past that length it
    shows the model angles it has never seen.
    """
    return 2 * math.pi / rope_frequencies(head_dim, theta).double()


def unseen_pairs(head_dim: int, theta: float, train_length: int) -> int:
    """How many pairs never complete a turn within ``train_length`` tokens."""
    return int((wavelengths(head_dim, theta) > train_length).sum())


def decay_bound(distances: torch.Tensor, head_dim: int, theta: float) -> torch.Tensor:
    """RoFormer's relative upper bound on the attention score at each distance ``m`` (Su et al., 2021, §3.4.3).

    With partial sums ``S_j = sum_{k<j} exp(i m theta_k)``, ``|q . k| <= max_i |h_{i+1} - h_i| * sum_j |S_j|``; the
    curve is ``(1 / (d/2)) sum_{j=1}^{d/2} |S_j|``. It decays with distance, and a larger base slows the decay:
    Code Llama Figure 9a draws this decay (with the bound as Sun et al., 2023, derive it) for bases 1e4 and 1e6
    with d = 1024.
    """
    angles = distances.double()[:, None] * rope_frequencies(head_dim, theta).double()[None, :]
    partial = torch.polar(torch.ones_like(angles), angles).cumsum(dim=-1)
    return partial.abs().mean(dim=-1)


def scaling_methods(factor: float, original_length: int) -> dict[str, dict[str, Any] | None]:
    """The ``rope_scaling`` dicts compared in chapter 4, each extending ``original_length`` by ``factor``."""
    return {
        "none": None,
        "PI (linear)": {"rope_type": "linear", "factor": factor},
        "dynamic NTK": {"rope_type": "dynamic", "factor": factor, "original_max_position_embeddings": original_length},
        "YaRN": {"rope_type": "yarn", "factor": factor, "original_max_position_embeddings": original_length},
    }


def frequency_ratios(head_dim: int, theta: float, methods: dict[str, dict[str, Any] | None],
                     seq_len: int | None = None) -> dict[str, torch.Tensor]:
    """Each method's frequencies divided by the original ones, per pair (1 = unchanged, 1/s = interpolated)."""
    plain = rope_frequencies(head_dim, theta)
    return {name: scaled_inv_freq(head_dim, theta, scaling, seq_len)[0] / plain for name, scaling in methods.items()}
