"""Greedy longest match from the left (WordPiece's rule), not BPE's best-ranked merge first."""

MUST_FAIL = ("check_bpe_encode",)


def bpe_encode(data, ranks):
    pieces, start = [], 0
    while start < len(data):
        end = next((end for end in range(len(data), start + 1, -1) if data[start:end] in ranks), start + 1)
        pieces.append(data[start:end])
        start = end
    return pieces
