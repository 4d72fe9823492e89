"""The biased estimator 1 - (1 - c/n)^k: draws with replacement, so it underestimates pass@k."""

MUST_FAIL = ("check_pass_at_k",)


def pass_at_k(n, c, k):
    return 1.0 - (1.0 - c / n) ** k
