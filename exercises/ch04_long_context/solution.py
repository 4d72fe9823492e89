"""Chapter 4 reference solutions (see stub.py for the exercise text)."""

from __future__ import annotations

import math

import torch


def rope_theta_i(head_dim: int, base: float) -> torch.Tensor:
    """``base^(-2i / head_dim)`` for ``i = 0 .. head_dim/2 - 1``."""
    exponents = torch.arange(0, head_dim, 2).float() / head_dim
    return 1.0 / base ** exponents


def interpolated_frequencies(head_dim: int, base: float, factor: float) -> torch.Tensor:
    """``(m / s) theta_i = m (theta_i / s)``: every speed divided by the factor."""
    return rope_theta_i(head_dim, base) / factor


def ntk_aware_frequencies(head_dim: int, base: float, factor: float) -> torch.Tensor:
    """The base ``base * s^(d / (d - 2))``: ``(b s^(d/(d-2)))^(-(d-2)/d) = b^(-(d-2)/d) / s``; pair 0 stays at 1."""
    return rope_theta_i(head_dim, base * factor ** (head_dim / (head_dim - 2)))


def dynamic_ntk_frequencies(head_dim: int, base: float, factor: float, original_length: int,
                            seq_len: int) -> torch.Tensor:
    """NTK-aware for the effective factor ``factor * S / L0 - (factor - 1)``, ``S`` at least ``L0``."""
    length = max(seq_len, original_length)
    return ntk_aware_frequencies(head_dim, base, factor * length / original_length - (factor - 1))


def yarn_frequencies(head_dim: int, base: float, factor: float, original_length: int, beta_fast: float = 32.0,
                     beta_slow: float = 1.0) -> torch.Tensor:
    """Keep the pairs turning more than ``beta_fast`` times in ``L0``, interpolate those turning fewer than
    ``beta_slow`` times, a linear ramp over the pair index between."""
    def pair_turning(turns: float) -> float:  # L0 base^(-2i/d) / (2 pi) = turns, solved for i
        return head_dim * math.log(original_length / (2 * math.pi * turns)) / (2 * math.log(base))

    low = max(math.floor(pair_turning(beta_fast)), 0)
    high = min(math.ceil(pair_turning(beta_slow)), head_dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(head_dim // 2).float() - low) / (high - low)).clamp(0, 1)
    speeds = rope_theta_i(head_dim, base)
    return (1 - ramp) * speeds + ramp * speeds / factor


def yarn_attention_factor(factor: float) -> float:
    """``0.1 ln s + 1``, and 1 without scaling."""
    return 1.0 if factor <= 1 else 0.1 * math.log(factor) + 1.0
