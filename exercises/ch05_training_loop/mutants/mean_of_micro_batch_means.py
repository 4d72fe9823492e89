"""Each micro-batch's mean loss divided by the number of micro-batches: right only when every micro-batch has as
many scored tokens as the others (the accumulation bug torchtitan's global normalisation fixes)."""

import torch
import torch.nn.functional as F

MUST_FAIL = ("check_train_step",)


def train_step(model, optimizer, batches, lr, grad_clip):
    total = 0.0
    for batch in batches:
        loss = F.cross_entropy(model(batch[:, :-1]).flatten(0, 1).float(), batch[:, 1:].flatten())
        (loss / len(batches)).backward()
        total += loss.item() / len(batches)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total, grad_norm.item()
