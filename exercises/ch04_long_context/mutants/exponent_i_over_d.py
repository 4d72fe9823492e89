"""Exponent i/d instead of 2i/d: every pair but the first turns too fast (the base effectively square-rooted)."""

import torch

MUST_FAIL = ("check_rope_theta_i",)


def rope_theta_i(head_dim, base):
    return 1.0 / base ** (torch.arange(head_dim // 2).float() / head_dim)
