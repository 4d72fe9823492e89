"""Pairs counted once, before any merge, and merged in that order: pairs made of merged symbols ("low") never
appear."""

from collections import Counter

MUST_FAIL = ("check_train_bpe",)


def train_bpe(text, num_merges):
    words = dict(Counter(tuple(bytes([b]) for b in word) for word in split_words(text)))  # noqa: F821
    pairs = count_pairs(words)  # noqa: F821
    return sorted(pairs, key=lambda pair: (-pairs[pair], pair))[:num_merges]
