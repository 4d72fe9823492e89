"""Chapter 2 exercises: three pieces of the Llama 2 decoder (Code Llama §2; notebook 02).

Fill in each function, then run ``codellama-lite exercises check ch02``. Compare with ``codellama_lite/model.py`` and
``codellama_lite/rope.py`` only after your checks pass.
"""

from __future__ import annotations

import torch


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """RMSNorm over the last dimension: ``x / sqrt(mean(x²) + eps) * weight``.

    Compute the normalisation in float32 whatever ``x``'s dtype, cast the result back to ``x.dtype``, and only then
    multiply by ``weight`` (as Meta's reference does).
    """
    # TODO: x.float(), mean of squares over the last dim (keepdim), rsqrt, cast back, times weight.
    raise NotImplementedError


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` (last dimension = head_dim) with RoPE in the half-split layout.

    Pair ``i`` is the coordinates ``(i, i + head_dim/2)``; it turns by the angle whose cosine and sine are
    ``cos[..., i]`` and ``sin[..., i]`` (the tables repeat each angle at ``i`` and ``i + head_dim/2``, and broadcast
    against ``x``).
    """
    # TODO: split x into halves x1, x2; the rotated pair is (x1 cos - x2 sin, x2 cos + x1 sin).
    raise NotImplementedError


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Grouped-query attention: ``(batch, kv_heads, seq, head_dim) -> (batch, kv_heads * n_rep, seq, head_dim)``,
    so that query head ``h`` meets key/value head ``h // n_rep``."""
    # TODO: insert a dimension after kv_heads, expand it to n_rep, reshape.
    raise NotImplementedError
