"""Rotates by minus the angle (the sine's sign swapped): still a rotation, but not RoPE's."""

import torch

MUST_FAIL = ("check_apply_rotary",)


def apply_rotary(x, cos, sin):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c, s = cos[..., :half], sin[..., :half]
    return torch.cat((x1 * c + x2 * s, x2 * c - x1 * s), dim=-1)
