"""Dynamic NTK with the configured factor at every length: the plain NTK-aware base even for short inputs."""

MUST_FAIL = ("check_dynamic_ntk_frequencies",)


def dynamic_ntk_frequencies(head_dim, base, factor, original_length, seq_len):
    return ntk_aware_frequencies(head_dim, base, factor)  # noqa: F821
