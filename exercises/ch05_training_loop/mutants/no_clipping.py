"""The gradient norm measured but never clipped."""

import torch
import torch.nn.functional as F

MUST_FAIL = ("check_train_step",)


def train_step(model, optimizer, batches, lr, grad_clip):
    targets = sum(int((batch[:, 1:] >= 0).sum()) for batch in batches)
    total = torch.zeros(())
    for batch in batches:
        loss = F.cross_entropy(model(batch[:, :-1]).flatten(0, 1).float(), batch[:, 1:].flatten(), reduction="sum")
        (loss / targets).backward()
        total += loss.detach()
    grad_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None]))
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return (total / targets).item(), grad_norm.item()
