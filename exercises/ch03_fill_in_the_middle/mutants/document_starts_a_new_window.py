"""A document that does not fit is moved to a fresh window (the rest padded with EOS) instead of being left plain:
no cut FIM example, but the windows are no longer the package's and padding is trained on."""

MUST_FAIL = ("check_pack",)


def pack(tokenizer, documents, seq_len, n_windows, fim_rate, spm_rate):
    windows, window, pending = [], [], []
    while len(windows) < n_windows:
        if not pending:
            text, rng = next(documents)
            pending = [tokenizer.bos_id, *apply_fim(tokenizer, text, rng, fim_rate, spm_rate),  # noqa: F821
                       tokenizer.eos_id]
            if pending[1] == tokenizer.prefix_id and len(pending) > seq_len + 1 - len(window):
                if len(pending) <= seq_len + 1:
                    windows.append(window + [tokenizer.eos_id] * (seq_len + 1 - len(window)))
                    window = []
                else:
                    pending = [tokenizer.bos_id, *tokenizer.encode(text), tokenizer.eos_id]
        take = seq_len + 1 - len(window)
        window += pending[:take]
        pending = pending[take:]
        if len(window) == seq_len + 1:
            windows.append(window)
            window = []
    return windows[:n_windows]
