"""ln(s) + 1 instead of 0.1 ln(s) + 1: attention sharpened far too much."""

import math

MUST_FAIL = ("check_yarn_attention_factor",)


def yarn_attention_factor(factor):
    return 1.0 if factor <= 1 else math.log(factor) + 1.0
