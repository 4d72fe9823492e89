"""Chapter 1 exercises — your file. Fill in each function, then run:

    codellama-lite exercises check ch01

(Code Llama §2.2 tokenizer, §2.3 infilling prompts; notebook 01_tokenizer.)
"""

from __future__ import annotations

import re
from collections import Counter

Word = tuple[str, ...]


def word_counts(text: str) -> dict[Word, int]:
    """Split ``text`` on whitespace; each word becomes a tuple of symbols ``("▁", c1, c2, ...)`` with its count.

    Example: ``word_counts("ab ab c") == {("▁", "a", "b"): 2, ("▁", "c"): 1}``.
    """
    # TODO: SentencePiece marks the space before each word with "▁" and starts from single characters.
    raise NotImplementedError


def count_pairs(words: dict[Word, int]) -> Counter[tuple[str, str]]:
    """How often each pair of adjacent symbols occurs, weighted by the word counts."""
    # TODO: for each word, walk over neighbouring symbols and add the word's count to that pair.
    raise NotImplementedError


def merge_pair(words: dict[Word, int], pair: tuple[str, str]) -> dict[Word, int]:
    """Replace every occurrence of ``pair`` (left to right, no overlaps) by the joined symbol."""
    # TODO: scan each word left to right; when the next two symbols equal ``pair``, emit them joined and skip both.
    raise NotImplementedError


def bpe_merge_step(words: dict[Word, int]) -> tuple[tuple[str, str], dict[Word, int]]:
    """One BPE step: merge the most frequent pair (ties: the alphabetically smallest pair).

    Returns the merged pair and the new word counts. Raise ``ValueError`` when no pair is left.
    """
    # TODO: use count_pairs and merge_pair.
    raise NotImplementedError


def psm_prompt(tokenizer, prefix: str, suffix: str) -> list[int]:
    """Code Llama's PSM prompt: BOS, PRE, the prefix, SUF, the suffix without the implicit space, MID.

    ``tokenizer`` is a ``codellama_lite.tokenizer.Tokenizer``; use its ids, ``encode`` and ``encode_infilling``
    (not ``infill_prompt``, which is what the check compares with).
    """
    # TODO: see docs/paper_facts.md §2 and the notebook's token strips.
    raise NotImplementedError


def spm_prompt(tokenizer, prefix: str, suffix: str) -> list[int]:
    """Code Llama's SPM prompt: BOS, PRE, SUF, the suffix without the implicit space, MID, the prefix."""
    # TODO: which part keeps the implicit leading space here?
    raise NotImplementedError


# -- A byte-level BPE trainer and encoder ----------------------------------------------------------------------------

WORD = re.compile(r" ?\S+|\s+(?!\S)|\s+")


def split_words(text: str) -> list[bytes]:
    """Given, not to write: the UTF-8 words BPE trains on. A space is put before the text (SentencePiece's dummy
    prefix); each word keeps the single space before it; runs of other whitespace are words of their own."""
    return [word.encode("utf-8") for word in WORD.findall(" " + text)]


def train_bpe(text: str, num_merges: int) -> list[tuple[bytes, bytes]]:
    """Byte-level BPE: count the words of ``split_words(text)``, each a tuple of single bytes (``bytes([b])``), then
    ``num_merges`` times take one ``bpe_merge_step`` (it works on bytes as well as on strings). Return the merged
    pairs in the order they were learned; stop early when no pair is left."""
    # TODO: a Counter of tuples of one-byte bytes objects, then the merge steps.
    raise NotImplementedError


def bpe_encode(data: bytes, ranks: dict[bytes, int]) -> list[bytes]:
    """Split ``data`` into single bytes, then again and again merge the adjacent pair whose concatenation has the
    smallest rank in ``ranks`` (the leftmost such pair when several tie), until no concatenation is in ``ranks``.
    This is SentencePiece's BPE encoding rule; ``Tokenizer.byte_merge_ranks()`` gives its vocabulary as ranks."""
    # TODO: a list of pieces; each round, scan the neighbours for the best rank and merge that one pair.
    raise NotImplementedError
