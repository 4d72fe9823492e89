"""Chapter 4 exercises: RoPE's rotation speeds and two ways to stretch them to longer inputs (Code Llama §2.4,
appendix G; notebook 04).

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
