"""Adds eps after the square root, which changes rows whose values are small."""

import torch

MUST_FAIL = ("check_rms_norm",)


def rms_norm(x, weight, eps=1e-5):
    x32 = x.float()
    return (x32 / (x32.pow(2).mean(dim=-1, keepdim=True).sqrt() + eps)).type_as(x) * weight
