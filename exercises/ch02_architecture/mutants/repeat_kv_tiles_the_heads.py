"""Tiles the key/value heads (0, 1, 0, 1, ...), so query head h meets h % kv_heads instead of h // n_rep."""

MUST_FAIL = ("check_repeat_kv",)


def repeat_kv(x, n_rep):
    return x.repeat(1, n_rep, 1, 1)
