"""YaRN's ramp the wrong way round: fast pairs interpolated, slow pairs kept (local order blurred, far positions
extrapolated)."""

import math

import torch

MUST_FAIL = ("check_yarn_frequencies",)


def yarn_frequencies(head_dim, base, factor, original_length, beta_fast=32.0, beta_slow=1.0):
    def pair_turning(turns):
        return head_dim * math.log(original_length / (2 * math.pi * turns)) / (2 * math.log(base))

    low = max(math.floor(pair_turning(beta_fast)), 0)
    high = min(math.ceil(pair_turning(beta_slow)), head_dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(head_dim // 2).float() - low) / (high - low)).clamp(0, 1)
    speeds = rope_theta_i(head_dim, base)  # noqa: F821
    return ramp * speeds + (1 - ramp) * speeds / factor
