"""The cosine decays to 0 instead of to peak * min_lr_ratio (the paper's floor is the peak / 30)."""

import math

MUST_FAIL = ("check_lr_at",)


def lr_at(step, total_steps, peak, warmup_steps, min_lr_ratio):
    if warmup_steps and step <= warmup_steps:
        return peak * step / warmup_steps
    progress = min(max(step - warmup_steps, 0) / max(total_steps - warmup_steps, 1), 1.0)
    return 0.5 * peak * (1 + math.cos(math.pi * progress))
