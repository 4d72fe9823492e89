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

The frequency functions are kept separate from their application so that chapter 6 (long context) can swap in
rescaled frequencies (a new base, position interpolation, NTK-aware scaling) and reuse everything else.
"""

from __future__ import annotations

import torch


def rope_frequencies(head_dim: int, theta: float = 10_000.0, device: torch.device | str | None = None) -> torch.Tensor:
    """The ``head_dim / 2`` rotation speeds ``theta_i = theta^(-2i / head_dim)`` (float32, as Meta and HF compute them)."""
    if head_dim % 2:
        raise ValueError(f"RoPE needs an even head_dim, got {head_dim}")
    if theta <= 0:
        raise ValueError(f"rope_theta must be positive, got {theta}")
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64, device=device).float() / head_dim
    return 1.0 / (theta ** exponents)


def rope_angles(inv_freq: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Angles ``position * theta_i``: shape ``positions.shape + (head_dim / 2,)``, float32."""
    return positions.float()[..., None] * inv_freq


def rope_cos_sin(inv_freq: torch.Tensor, positions: torch.Tensor,
                 dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos`` and ``sin`` tables in the half-split layout: each angle appears twice, at ``i`` and ``i + d/2``."""
    angles = rope_angles(inv_freq, positions)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``(x1, x2) -> (-x2, x1)`` on the two halves of the last dimension: a 90° turn of every pair ``(i, i + d/2)``."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate every pair of ``x`` (last dimension = head_dim) by its angle: ``x cos + rotate_half(x) sin``.

    ``cos`` and ``sin`` broadcast against ``x``, e.g. ``(seq, head_dim)`` for ``x`` of ``(batch, heads, seq, head_dim)``.
    """
    return torch.addcmul(x * cos, rotate_half(x), sin)


def interleaved_to_half_split(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Permute the rows of a Meta ``wq``/``wk`` (pairs ``(2i, 2i+1)``) to the half-split layout (pairs ``(i, i+d/2)``).

    Within each head, row ``2i`` moves to ``i`` and row ``2i+1`` to ``i + d/2``. Works on any tensor whose first
    dimension is ``n_heads * head_dim`` (weights and, e.g., a 1-D bias).
    """
    rows = weight.shape[0]
    if rows % n_heads or (rows // n_heads) % 2:
        raise ValueError(f"cannot permute {tuple(weight.shape)} for {n_heads} heads: rows must be n_heads * even head_dim")
    head_dim = rows // n_heads
    return weight.reshape(n_heads, head_dim // 2, 2, -1).transpose(1, 2).reshape(weight.shape)


def half_split_to_interleaved(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The inverse of :func:`interleaved_to_half_split` (half-split rows back to Meta's interleaved pairs)."""
    rows = weight.shape[0]
    if rows % n_heads or (rows // n_heads) % 2:
        raise ValueError(f"cannot permute {tuple(weight.shape)} for {n_heads} heads: rows must be n_heads * even head_dim")
    head_dim = rows // n_heads
    return weight.reshape(n_heads, 2, head_dim // 2, -1).transpose(1, 2).reshape(weight.shape)
