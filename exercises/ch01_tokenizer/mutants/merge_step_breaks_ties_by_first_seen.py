"""Takes Counter.most_common's winner, which breaks ties by the order pairs were first seen."""

MUST_FAIL = ("check_merge_step_on_a_tie",)


def bpe_merge_step(words):
    best = count_pairs(words).most_common(1)[0][0]
    return best, merge_pair(words, best)
