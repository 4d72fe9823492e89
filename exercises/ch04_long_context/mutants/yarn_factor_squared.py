"""The attention factor given as the logit scale (0.1 ln s + 1)^2: applied to cos and sin, logits grow by its square
again."""

import math

MUST_FAIL = ("check_yarn_attention_factor",)


def yarn_attention_factor(factor):
    return 1.0 if factor <= 1 else (0.1 * math.log(factor) + 1.0) ** 2
