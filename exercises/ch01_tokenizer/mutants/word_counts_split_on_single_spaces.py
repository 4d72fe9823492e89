"""Splits on single spaces, so tabs, newlines and runs of spaces stay inside words or make empty ones."""

from collections import Counter

MUST_FAIL = ("check_word_counts",)


def word_counts(text):
    return dict(Counter(tuple("▁" + word) for word in text.split(" ")))
