"""Counts each pair once per distinct word instead of weighting it by how often the word occurs."""

from collections import Counter

MUST_FAIL = ("check_count_pairs", "check_merges_agree_with_sentencepiece")


def count_pairs(words):
    pairs = Counter()
    for word in words:
        for left, right in zip(word, word[1:]):
            pairs[left, right] += 1
    return pairs
