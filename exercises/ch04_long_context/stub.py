"""Chapter 4 exercises: RoPE's rotation speeds and four ways to stretch them to longer inputs (Code Llama §2.4,
appendix G; notebook 04): position interpolation, NTK-aware, dynamic NTK and YaRN.

Fill in each function, then run ``codellama-lite exercises check ch04``. Compare with ``codellama_lite/rope.py`` only
after your checks pass.
"""

from __future__ import annotations

import torch


def rope_theta_i(head_dim: int, base: float) -> torch.Tensor:
    """The ``head_dim / 2`` rotation speeds ``theta_i = base^(-2i / head_dim)`` for ``i = 0 .. head_dim/2 - 1``
    (float32; pair 0 turns by one radian per token, the last pair slowest)."""
    # TODO: i = 0, 1, ..., head_dim/2 - 1; exponent 2i / head_dim; one over base to that power.
    raise NotImplementedError


def interpolated_frequencies(head_dim: int, base: float, factor: float) -> torch.Tensor:
    """Position interpolation (Chen et al., 2023): the model reads position ``m`` as ``m / factor``, so that
    ``factor`` times the training length turns through angles seen in training. Return the speeds that do this."""
    # TODO: position m / factor at speed theta_i is position m at which speed?
    raise NotImplementedError


def ntk_aware_frequencies(head_dim: int, base: float, factor: float) -> torch.Tensor:
    """NTK-aware scaling (bloc97, 2023): keep the fastest pair as it is and slow the slowest pair by exactly
    ``factor``, by raising the base alone. Return the speeds for the new base."""
    # TODO: the slowest speed is base^(-(d-2)/d); which new base divides it by factor?
    raise NotImplementedError


def dynamic_ntk_frequencies(head_dim: int, base: float, factor: float, original_length: int,
                            seq_len: int) -> torch.Tensor:
    """Dynamic NTK (emozilla, 2023): at inference, the NTK-aware speeds for the factor the current length needs,
    ``factor * S / L0 - (factor - 1)`` with ``S = max(seq_len, original_length)`` and ``L0 = original_length``: no
    change up to ``L0``, then growing linearly with the length."""
    # TODO: the effective factor, then ntk_aware_frequencies.
    raise NotImplementedError


def yarn_frequencies(head_dim: int, base: float, factor: float, original_length: int, beta_fast: float = 32.0,
                     beta_slow: float = 1.0) -> torch.Tensor:
    """YaRN's "NTK-by-parts" speeds (Peng et al., 2023, §3.2). Pair ``i`` turns ``L0 * theta_i / (2 pi)`` times within
    the original length ``L0``. Pairs that turn more than ``beta_fast`` times keep their speed; pairs that turn fewer
    than ``beta_slow`` times are interpolated (speed / ``factor``); in between, a linear ramp over the pair index blends
    the two. The ramp runs from ``low = floor(i_fast)`` to ``high = ceil(i_slow)``, where ``i_r`` is the (fractional)
    pair index that turns exactly ``r`` times, clamped to ``[0, head_dim - 1]`` (if they meet, ``high += 0.001``):
    weight ``clamp((i - low) / (high - low), 0, 1)`` on the interpolated speed."""
    # TODO: solve L0 * base^(-2i/d) / (2 pi) = r for i; then the ramp and the blend.
    raise NotImplementedError


def yarn_attention_factor(factor: float) -> float:
    """YaRN's temperature ``sqrt(1/t) = 0.1 ln(factor) + 1`` (1 when ``factor <= 1``): it multiplies cos and sin, so
    every attention logit grows by its square."""
    # TODO: one line.
    raise NotImplementedError
