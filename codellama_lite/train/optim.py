"""The optimizer and its schedule (Code Llama §2.6; Llama 2 §2.2; docs/paper_facts.md §5).

AdamW with β = (0.9, 0.95) and weight decay 0.1 on the weight matrices (not on the RMSNorm gains, as nanoGPT and
Meta's trainers do); the learning rate rises linearly for ``warmup_steps`` and then follows a cosine down to
``lr * min_lr_ratio`` (the paper: peak / 30) at the last step. Gradients are clipped to a global norm of 1.0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from codellama_lite.train.recipe import OptimSection


def lr_at(step: int, total_steps: int, optim: OptimSection) -> float:
    """The learning rate of optimizer step ``step`` (1-based) in a run of ``total_steps``."""
    peak, floor = optim.lr, optim.lr * optim.min_lr_ratio
    if optim.warmup_steps and step <= optim.warmup_steps:
        return peak * step / optim.warmup_steps
    decay_steps = max(total_steps - optim.warmup_steps, 1)
    progress = min(max(step - optim.warmup_steps, 0) / decay_steps, 1.0)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def build_optimizer(model: nn.Module, optim: OptimSection) -> torch.optim.AdamW:
    """AdamW over two groups: matrices (decayed) and vectors (norm gains, not decayed)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decayed = [p for p in params if p.dim() >= 2]
    plain = [p for p in params if p.dim() < 2]
    groups = [{"params": decayed, "weight_decay": optim.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=optim.lr, betas=(optim.beta1, optim.beta2), eps=optim.eps,
                             foreach=True)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
