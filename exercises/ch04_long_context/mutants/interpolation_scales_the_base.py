"""Multiplies the base by the factor: slows the pairs unevenly (pair 0 not at all) instead of dividing every speed."""

MUST_FAIL = ("check_interpolated_frequencies",)


def interpolated_frequencies(head_dim, base, factor):
    return rope_theta_i(head_dim, base * factor)  # noqa: F821
