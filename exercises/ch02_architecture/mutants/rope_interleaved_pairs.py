"""Rotates neighbouring coordinates (0, 1), (2, 3), ... — the GPT-J layout — instead of the half-split pairs."""

import torch

MUST_FAIL = ("check_apply_rotary",)


def apply_rotary(x, cos, sin):
    half = x.shape[-1] // 2
    even, odd = x[..., 0::2], x[..., 1::2]
    c, s = cos[..., :half], sin[..., :half]
    return torch.stack((even * c - odd * s, odd * c + even * s), dim=-1).flatten(-2)
