"""Merges the pair with the largest rank first (the last-learned piece), reading the ranks as counts."""

MUST_FAIL = ("check_bpe_encode",)


def bpe_encode(data, ranks):
    pieces = [bytes([b]) for b in data]
    while len(pieces) > 1:
        candidates = [(-ranks[pieces[i] + pieces[i + 1]], i) for i in range(len(pieces) - 1)
                      if pieces[i] + pieces[i + 1] in ranks]
        if not candidates:
            break
        _, i = min(candidates)
        pieces[i:i + 2] = [pieces[i] + pieces[i + 1]]
    return pieces
