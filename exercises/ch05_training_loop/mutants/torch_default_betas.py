"""AdamW with torch's default betas (0.9, 0.999) instead of Llama 2's (0.9, 0.95)."""

import torch

MUST_FAIL = ("check_adamw", "check_training_loop")


def adamw(model, lr, weight_decay, betas=(0.9, 0.95), eps=1e-8):
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, eps=eps)
