"""Chapter 5 exercises — reference solution (see stub.py for the exercise text)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F


def lr_at(step: int, total_steps: int, peak: float, warmup_steps: int, min_lr_ratio: float) -> float:
    """Linear warm-up, then a cosine from ``peak`` to ``peak * min_lr_ratio`` at ``total_steps``."""
    floor = peak * min_lr_ratio
    if warmup_steps and step <= warmup_steps:
        return peak * step / warmup_steps
    progress = min(max(step - warmup_steps, 0) / max(total_steps - warmup_steps, 1), 1.0)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def adamw(model: torch.nn.Module, lr: float, weight_decay: float, betas: tuple[float, float] = (0.9, 0.95),
          eps: float = 1e-8) -> torch.optim.AdamW:
    """Matrices decayed, gains not."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batches: list[torch.Tensor], lr: float,
               grad_clip: float) -> tuple[float, float]:
    """Summed losses over the step's global target count, accumulated; clip, set the LR, step, clear."""
    targets = sum(int((batch[:, 1:] >= 0).sum()) for batch in batches)
    total = torch.zeros(())
    for batch in batches:
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1).float(), batch[:, 1:].flatten(), reduction="sum")
        (loss / targets).backward()
        total += loss.detach()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return (total / targets).item(), grad_norm.item()


def save_checkpoint(path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int,
                    data_state: dict) -> None:
    """Weights, optimizer state, step and data position in one file, written atomically."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "data": data_state}, partial)
    os.replace(partial, path)


def load_checkpoint(path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, dict]:
    """The inverse of :func:`save_checkpoint`."""
    state = torch.load(path, weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return state["step"], state["data"]
