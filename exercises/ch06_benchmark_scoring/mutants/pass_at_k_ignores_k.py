"""The fraction of samples that pass, c/n, whatever k is (right only for k = 1)."""

MUST_FAIL = ("check_pass_at_k",)


def pass_at_k(n, c, k):
    return c / n
