"""Chapter 1 exercises — reference solution. (Code Llama §2.2 tokenizer, §2.3 infilling prompts.)"""

from __future__ import annotations

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
