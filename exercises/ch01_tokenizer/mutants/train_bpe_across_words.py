"""Byte-level BPE over the whole text as one sequence, not word by word: merges across spaces (pieces like "r▁")."""

from collections import Counter

MUST_FAIL = ("check_train_bpe",)


def train_bpe(text, num_merges):
    words = dict(Counter([tuple(bytes([b]) for b in (" " + text).encode("utf-8"))]))
    merges = []
    for _ in range(num_merges):
        try:
            pair, words = bpe_merge_step(words)  # noqa: F821
        except ValueError:
            break
        merges.append(pair)
    return merges
