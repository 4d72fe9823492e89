"""Warm-up counts from step 0 (peak * (step - 1) / warmup): the first step learns nothing, the peak comes a step late."""

import math

MUST_FAIL = ("check_lr_at", "check_training_loop")


def lr_at(step, total_steps, peak, warmup_steps, min_lr_ratio):
    floor = peak * min_lr_ratio
    if warmup_steps and step <= warmup_steps:
        return peak * (step - 1) / warmup_steps
    progress = min(max(step - warmup_steps, 0) / max(total_steps - warmup_steps, 1), 1.0)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))
