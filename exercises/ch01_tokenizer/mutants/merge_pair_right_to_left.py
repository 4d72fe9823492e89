"""Merges from the right, so "a a a" becomes "a aa" instead of "aa a"."""

MUST_FAIL = ("check_merge_pair",)


def merge_pair(words, pair):
    merged = {}
    for word, count in words.items():
        symbols = []
        i = len(word) - 1
        while i >= 0:
            if i >= 1 and (word[i - 1], word[i]) == pair:
                symbols.insert(0, word[i - 1] + word[i])
                i -= 2
            else:
                symbols.insert(0, word[i])
                i -= 1
        merged[tuple(symbols)] = merged.get(tuple(symbols), 0) + count
    return merged
