"""Multiplies by the weight in float32 and casts last: bfloat16 results differ from Meta's reference."""

import torch

MUST_FAIL = ("check_rms_norm",)


def rms_norm(x, weight, eps=1e-5):
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + eps) * weight.float()).type_as(x)
