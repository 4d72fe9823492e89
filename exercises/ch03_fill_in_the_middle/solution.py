"""Chapter 3 reference solutions (see stub.py for the exercise text)."""

from __future__ import annotations


def psm(tokenizer, prefix: str, middle: str, suffix: str) -> list[int]:
    """``<PRE> enc(prefix) <SUF> enc_nospace(suffix) <MID> enc_nospace(middle) <EOT>``."""
    return ([tokenizer.prefix_id] + tokenizer.encode(prefix) + [tokenizer.suffix_id]
            + tokenizer.encode_infilling(suffix) + [tokenizer.middle_id] + tokenizer.encode_infilling(middle)
            + [tokenizer.eot_id])


def spm(tokenizer, prefix: str, middle: str, suffix: str) -> list[int]:
    """``<PRE> <SUF> enc_nospace(suffix) <MID> enc(prefix + middle) <EOT>``: one encoding of prefix and middle."""
    return ([tokenizer.prefix_id, tokenizer.suffix_id] + tokenizer.encode_infilling(suffix) + [tokenizer.middle_id]
            + tokenizer.encode(prefix + middle) + [tokenizer.eot_id])


def fim_example(tokenizer, text: str, start: int, end: int, suffix_first: bool) -> list[int]:
    """Character cuts, then the layout."""
    layout = spm if suffix_first else psm
    return layout(tokenizer, text[:start], text[start:end], text[end:])


def apply_fim(tokenizer, text: str, rng, rate: float, spm_rate: float) -> list[int]:
    """FIM or not, two character cuts, SPM or PSM (always SPM after an empty prefix): three draws, in this order."""
    if rng.random() >= rate:
        return tokenizer.encode(text)
    start, end = sorted((rng.randint(0, len(text)), rng.randint(0, len(text))))
    suffix_first = rng.random() < spm_rate
    return fim_example(tokenizer, text, start, end, suffix_first=suffix_first or start == 0)


def pack(tokenizer, documents, seq_len: int, n_windows: int, fim_rate: float, spm_rate: float) -> list[list[int]]:
    """Fill windows in order; a document is FIM'd only when its FIM form fits whole into the room left."""
    windows: list[list[int]] = []
    pending: list[int] = []
    while len(windows) < n_windows:
        window: list[int] = []
        while len(window) < seq_len + 1:
            if not pending:
                text, rng = next(documents)
                room = seq_len + 1 - len(window)
                pending = [tokenizer.bos_id, *apply_fim(tokenizer, text, rng, fim_rate, spm_rate), tokenizer.eos_id]
                if pending[1] != tokenizer.prefix_id or len(pending) > room:
                    pending = [tokenizer.bos_id, *tokenizer.encode(text), tokenizer.eos_id]
            take = seq_len + 1 - len(window)
            window += pending[:take]
            pending = pending[take:]
        windows.append(window)
    return windows
