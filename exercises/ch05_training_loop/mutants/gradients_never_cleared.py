"""No zero_grad after the step: every step adds its gradients to all the previous steps'."""

import torch
import torch.nn.functional as F

MUST_FAIL = ("check_train_step", "check_training_loop")


def train_step(model, optimizer, batches, lr, grad_clip):
    targets = sum(int((batch[:, 1:] >= 0).sum()) for batch in batches)
    total = torch.zeros(())
    for batch in batches:
        loss = F.cross_entropy(model(batch[:, :-1]).flatten(0, 1).float(), batch[:, 1:].flatten(), reduction="sum")
        (loss / targets).backward()
        total += loss.detach()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()
    return (total / targets).item(), grad_norm.item()
