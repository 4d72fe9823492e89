"""Spreads the exponents evenly from 0 to 1 (linspace): the slowest pair turns at base^-1, not base^(-(d-2)/d)."""

import torch

MUST_FAIL = ("check_rope_theta_i",)


def rope_theta_i(head_dim, base):
    return 1.0 / base ** torch.linspace(0, 1, head_dim // 2)
