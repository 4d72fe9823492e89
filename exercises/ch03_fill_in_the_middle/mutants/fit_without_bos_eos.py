"""The fit test counts the FIM example without its BOS and EOS: an example two tokens too long is kept and cut."""

MUST_FAIL = ("check_pack",)


def pack(tokenizer, documents, seq_len, n_windows, fim_rate, spm_rate):
    windows, pending = [], []
    while len(windows) < n_windows:
        window = []
        while len(window) < seq_len + 1:
            if not pending:
                text, rng = next(documents)
                room = seq_len + 1 - len(window)
                body = apply_fim(tokenizer, text, rng, fim_rate, spm_rate)  # noqa: F821
                if body[:1] != [tokenizer.prefix_id] or len(body) > room:
                    body = tokenizer.encode(text)
                pending = [tokenizer.bos_id, *body, tokenizer.eos_id]
            take = seq_len + 1 - len(window)
            window += pending[:take]
            pending = pending[take:]
        windows.append(window)
    return windows
