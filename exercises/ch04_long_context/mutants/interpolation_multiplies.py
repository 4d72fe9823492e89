"""Multiplies the speeds by the factor (extrapolates faster) instead of dividing (interpolating)."""

MUST_FAIL = ("check_interpolated_frequencies",)


def interpolated_frequencies(head_dim, base, factor):
    return rope_theta_i(head_dim, base) * factor  # noqa: F821 the solution's function, as in the learner's file
