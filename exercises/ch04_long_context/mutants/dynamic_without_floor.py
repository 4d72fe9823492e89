"""Dynamic NTK without S = max(seq_len, L0): inputs shorter than L0 get an effective factor below 1, speeding up
the slow pairs."""

MUST_FAIL = ("check_dynamic_ntk_frequencies",)


def dynamic_ntk_frequencies(head_dim, base, factor, original_length, seq_len):
    return ntk_aware_frequencies(head_dim, base, factor * seq_len / original_length - (factor - 1))  # noqa: F821
