"""FIM decided without looking at the room left in the window: FIM examples get cut across windows."""

MUST_FAIL = ("check_pack",)


def pack(tokenizer, documents, seq_len, n_windows, fim_rate, spm_rate):
    windows, pending = [], []
    while len(windows) < n_windows:
        window = []
        while len(window) < seq_len + 1:
            if not pending:
                text, rng = next(documents)
                pending = [tokenizer.bos_id, *apply_fim(tokenizer, text, rng, fim_rate, spm_rate),  # noqa: F821
                           tokenizer.eos_id]
            take = seq_len + 1 - len(window)
            window += pending[:take]
            pending = pending[take:]
        windows.append(window)
    return windows
