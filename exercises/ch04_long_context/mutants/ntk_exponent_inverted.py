"""Exponent (d-2)/d instead of d/(d-2): the slowest pair slows by factor^((d-2)²/d²)."""

MUST_FAIL = ("check_ntk_aware_frequencies",)


def ntk_aware_frequencies(head_dim, base, factor):
    return rope_theta_i(head_dim, base * factor ** ((head_dim - 2) / head_dim))  # noqa: F821
