"""Forgets SentencePiece's "▁" before each word, so merges never learn word starts."""

from collections import Counter

MUST_FAIL = ("check_word_counts", "check_merges_agree_with_sentencepiece")


def word_counts(text):
    return dict(Counter(tuple(word) for word in text.split()))
