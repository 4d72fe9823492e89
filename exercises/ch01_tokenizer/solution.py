"""Chapter 1 exercises — reference solution. (Code Llama §2.2 tokenizer, §2.3 infilling prompts.)"""

from __future__ import annotations

import re
from collections import Counter

Word = tuple[str, ...]


def word_counts(text: str) -> dict[Word, int]:
    """Split ``text`` on whitespace; each word becomes a tuple of symbols ``("▁", c1, c2, ...)`` with its count."""
    return dict(Counter(tuple("▁" + word) for word in text.split()))


def count_pairs(words: dict[Word, int]) -> Counter[tuple[str, str]]:
    """How often each pair of adjacent symbols occurs, weighted by the word counts."""
    pairs: Counter[tuple[str, str]] = Counter()
    for word, count in words.items():
        for left, right in zip(word, word[1:]):
            pairs[left, right] += count
    return pairs


def merge_pair(words: dict[Word, int], pair: tuple[str, str]) -> dict[Word, int]:
    """Replace every occurrence of ``pair`` (left to right, no overlaps) by the joined symbol."""
    merged: dict[Word, int] = {}
    for word, count in words.items():
        symbols: list[str] = []
        i = 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
                symbols.append(word[i] + word[i + 1])
                i += 2
            else:
                symbols.append(word[i])
                i += 1
        merged[tuple(symbols)] = merged.get(tuple(symbols), 0) + count
    return merged


def bpe_merge_step(words: dict[Word, int]) -> tuple[tuple[str, str], dict[Word, int]]:
    """One BPE step: merge the most frequent pair (ties: the alphabetically smallest pair)."""
    pairs = count_pairs(words)
    if not pairs:
        raise ValueError("no pair left to merge")
    best = min(pairs, key=lambda pair: (-pairs[pair], pair))
    return best, merge_pair(words, best)


def psm_prompt(tokenizer, prefix: str, suffix: str) -> list[int]:
    """Code Llama's PSM prompt: BOS, PRE, the prefix, SUF, the suffix without the implicit space, MID."""
    return ([tokenizer.bos_id, tokenizer.prefix_id] + tokenizer.encode(prefix) + [tokenizer.suffix_id]
            + tokenizer.encode_infilling(suffix) + [tokenizer.middle_id])


def spm_prompt(tokenizer, prefix: str, suffix: str) -> list[int]:
    """Code Llama's SPM prompt: BOS, PRE, SUF, the suffix without the implicit space, MID, the prefix."""
    return ([tokenizer.bos_id, tokenizer.prefix_id, tokenizer.suffix_id] + tokenizer.encode_infilling(suffix)
            + [tokenizer.middle_id] + tokenizer.encode(prefix))


WORD = re.compile(r" ?\S+|\s+(?!\S)|\s+")


def split_words(text: str) -> list[bytes]:
    """The UTF-8 words BPE trains on: a dummy-prefix space, single spaces kept before words, other whitespace apart."""
    return [word.encode("utf-8") for word in WORD.findall(" " + text)]


def train_bpe(text: str, num_merges: int) -> list[tuple[bytes, bytes]]:
    """``num_merges`` merge steps over the byte-split words of ``text``."""
    words = dict(Counter(tuple(bytes([b]) for b in word) for word in split_words(text)))
    merges = []
    for _ in range(num_merges):
        try:
            pair, words = bpe_merge_step(words)
        except ValueError:
            break
        merges.append(pair)
    return merges


def bpe_encode(data: bytes, ranks: dict[bytes, int]) -> list[bytes]:
    """Merge the best-ranked adjacent pair (leftmost on ties) until none is in ``ranks``."""
    pieces = [bytes([b]) for b in data]
    while len(pieces) > 1:
        candidates = [(ranks[pieces[i] + pieces[i + 1]], i) for i in range(len(pieces) - 1)
                      if pieces[i] + pieces[i + 1] in ranks]
        if not candidates:
            break
        _, i = min(candidates)
        pieces[i:i + 2] = [pieces[i] + pieces[i + 1]]
    return pieces
