"""Chapter 4 reference solutions (see stub.py for the exercise text)."""

from __future__ import annotations

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
