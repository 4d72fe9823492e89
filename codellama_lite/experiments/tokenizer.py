"""Chapter 1's measurements of a tokenizer (Code Llama §2.2 keeps Llama 2's SentencePiece BPE): bytes per token,
where newlines and whitespace go, and the short per-language samples the notebook compares on."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from codellama_lite.support.resources import resource_dir
from codellama_lite.tokenizer import Tokenizer


def bytes_per_token(tokenizer: Tokenizer, texts: Sequence[str]) -> float:
    """UTF-8 bytes per token over ``texts``: higher means a more compact tokenization."""
    tokens = sum(len(ids) for ids in tokenizer.encode_batch(texts))
    if tokens == 0:
        raise ValueError("bytes_per_token needs at least one non-empty text")
    return sum(len(text.encode("utf-8")) for text in texts) / tokens


@dataclass
class NewlineCensus:
    """Where newlines go in a Llama-style tokenization."""

    tokens: int  # all tokens
    newlines: int  # newline characters in the text
    newline_byte_tokens: int  # tokens that are the byte piece <0x0A>

    @property
    def share_of_tokens(self) -> float:
        """Fraction of all tokens spent on newline bytes."""
        return self.newline_byte_tokens / self.tokens if self.tokens else 0.0

    @property
    def fallback_rate(self) -> float:
        """Fraction of newline characters that were encoded as the byte piece <0x0A>."""
        return self.newline_byte_tokens / self.newlines if self.newlines else 0.0


def newline_census(tokenizer: Tokenizer, texts: Sequence[str]) -> NewlineCensus:
    """Count the tokens that carry newlines as byte fallback (Llama's pieces never contain a newline)."""
    newline_byte = tokenizer.piece_to_id("<0x0A>")
    if tokenizer.id_to_piece(newline_byte) != "<0x0A>":
        newline_byte = -1  # a model without byte fallback
    encoded = tokenizer.encode_batch(texts)
    return NewlineCensus(tokens=sum(len(ids) for ids in encoded),
                         newlines=sum(text.count("\n") for text in texts),
                         newline_byte_tokens=sum(ids.count(newline_byte) for ids in encoded))


def token_census(tokenizer: Tokenizer, texts: Sequence[str]) -> dict[str, int]:
    """How many tokens of ``texts`` fall in each kind of piece: where a Llama-style vocabulary spends its tokens."""
    newline_byte = tokenizer.piece_to_id("<0x0A>")
    counts = dict.fromkeys(["newline byte <0x0A>", "other bytes", "whitespace only", "▁word (after a space)",
                            "digit", "other pieces"], 0)
    for ids in tokenizer.encode_batch(texts):
        for index in ids:
            piece = tokenizer.id_to_piece(index)
            if tokenizer.is_byte(index):
                counts["newline byte <0x0A>" if index == newline_byte else "other bytes"] += 1
            elif not piece.strip("▁\t"):
                counts["whitespace only"] += 1
            elif piece.startswith("▁"):
                counts["▁word (after a space)"] += 1
            elif piece.isdigit():
                counts["digit"] += 1
            else:
                counts["other pieces"] += 1
    return counts

LANGUAGE_SAMPLES_DIR = resource_dir("data_samples") / "languages"
LANGUAGES = {".py": "Python", ".c": "C", ".js": "JavaScript", ".rs": "Rust", ".java": "Java", ".go": "Go",
             ".sh": "shell", ".md": "English"}


def language_samples(directory: str | os.PathLike[str] = LANGUAGE_SAMPLES_DIR) -> dict[str, str]:
    """The workbook's short samples, one per language (``data_samples/languages``), keyed by language name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"language samples folder not found: {directory}")
    return {LANGUAGES[path.suffix]: path.read_text(encoding="utf-8")
            for path in sorted(directory.iterdir()) if path.suffix in LANGUAGES}
