"""Base times the factor, without the exponent d/(d-2): the slowest pair slows by factor^((d-2)/d), not factor."""

MUST_FAIL = ("check_ntk_aware_frequencies",)


def ntk_aware_frequencies(head_dim, base, factor):
    return rope_theta_i(head_dim, base * factor)  # noqa: F821
