"""LayerNorm instead of RMSNorm: subtracts the mean (and divides by the standard deviation)."""

import torch.nn.functional as F

MUST_FAIL = ("check_rms_norm",)


def rms_norm(x, weight, eps=1e-5):
    return F.layer_norm(x.float(), x.shape[-1:], eps=eps).type_as(x) * weight
