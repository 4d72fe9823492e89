"""One parameter group with weight decay on every parameter, the RMSNorm gains included."""

import torch

MUST_FAIL = ("check_adamw",)


def adamw(model, lr, weight_decay, betas=(0.9, 0.95), eps=1e-8):
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=betas, eps=eps)
