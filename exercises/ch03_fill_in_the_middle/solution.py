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
