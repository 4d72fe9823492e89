"""Training-time FIM (Code Llama §2.3, docs/paper_facts.md §3).

Layouts token for token, inverse, rates, uniform character cuts.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import stats

from codellama_lite.fim import apply_fim, fim_layout, line_cuts, psm_ids, spm_ids, undo_fim
from codellama_lite.tokenizer import read_corpus
from tests.conftest import SMALL_CORPUS_FILES

SOURCE = "def add(a, b):\n    return a + b\n"
START, END = 5, 20  # cuts inside words: prefix "def a", middle "dd(a, b):\n    r", suffix "eturn a + b\n"


class FixedRng:
    """Returns the given uniform numbers and positions in order: pins down one transform."""

    def __init__(self, uniforms: list[float], positions: list[int]) -> None:
        self.uniforms, self.positions = list(uniforms), list(positions)

    def random(self) -> float:
        return self.uniforms.pop(0)

    def randint(self, low: int, high: int) -> int:
        value = self.positions.pop(0)
        assert low <= value <= high
        return value


def sections(ids: list[int], tok) -> tuple[list[int], list[int], list[int]]:
    """The id runs between PRE…SUF, SUF…MID and MID…EOT."""
    at_suf, at_mid = ids.index(tok.suffix_id), ids.index(tok.middle_id)
    return ids[1:at_suf], ids[at_suf + 1:at_mid], ids[at_mid + 1:-1]


def test_psm_layout_token_for_token(small_tokenizer):
    tok = small_tokenizer
    prefix, middle, suffix = SOURCE[:START], SOURCE[START:END], SOURCE[END:]
    ids = apply_fim(SOURCE, tok, FixedRng([0.0, 0.99], [END, START]))  # positions come unsorted: the pair is sorted
    expected = ([tok.prefix_id] + tok.encode(prefix) + [tok.suffix_id] + tok.encode_infilling(suffix)
                + [tok.middle_id] + tok.encode_infilling(middle) + [tok.eot_id])
    assert ids == expected
    # The wrong encodings really differ here, so the comparison above rejects them.
    assert tok.encode(suffix) != tok.encode_infilling(suffix)
    assert tok.encode(middle) != tok.encode_infilling(middle)
    assert fim_layout(ids, tok) == "psm"


def test_spm_is_variant_two_token_for_token(small_tokenizer):
    tok = small_tokenizer
    prefix, middle, suffix = SOURCE[:START], SOURCE[START:END], SOURCE[END:]
    ids = apply_fim(SOURCE, tok, FixedRng([0.0, 0.0], [START, END]))
    expected = ([tok.prefix_id, tok.suffix_id] + tok.encode_infilling(suffix) + [tok.middle_id]
                + tok.encode(prefix + middle) + [tok.eot_id])
    assert ids == expected
    variant_one = ([tok.suffix_id] + tok.encode_infilling(suffix) + [tok.prefix_id] + tok.encode(prefix)
                   + [tok.middle_id] + tok.encode_infilling(middle) + [tok.eot_id])
    implicit_space = ([tok.prefix_id, tok.suffix_id] + tok.encode(suffix) + [tok.middle_id]
                      + tok.encode(prefix + middle) + [tok.eot_id])
    prefix_and_middle_apart = ([tok.prefix_id, tok.suffix_id] + tok.encode_infilling(suffix) + [tok.middle_id]
                               + tok.encode(prefix) + tok.encode_infilling(middle) + [tok.eot_id])
    assert ids not in (variant_one, implicit_space, prefix_and_middle_apart)
    assert fim_layout(ids, tok) == "spm"


def test_not_drawn_means_plain_encoding(small_tokenizer):
    assert apply_fim(SOURCE, small_tokenizer, FixedRng([0.9], []), rate=0.9) == small_tokenizer.encode(SOURCE)
    assert apply_fim(SOURCE, small_tokenizer, random.Random(1), rate=0.0) == small_tokenizer.encode(SOURCE)


def test_inverse_on_the_default_corpus_sample(small_tokenizer):
    texts, _ = read_corpus(max_files=SMALL_CORPUS_FILES)
    layouts = []
    for number, text in enumerate(texts):
        ids = apply_fim(text, small_tokenizer, random.Random(number))
        layouts.append(fim_layout(ids, small_tokenizer))
        assert undo_fim(ids, small_tokenizer) == text, f"document {number}"
    assert set(layouts) == {"psm", "spm", "plain"}


@pytest.mark.parametrize("text", ["", "x", " ", "  x", " leading space", "tail\n", "trailing  ", "\n\t lead\n",
                                  "é ☺ \t tabs"])
def test_inverse_at_every_cut_of_edge_texts(small_tokenizer, text):
    """Every pair of cuts, both layouts: the document comes back character for character."""
    for start in range(len(text) + 1):
        for end in range(start, len(text) + 1):
            for uniform, layout in ((0.99, "PSM"), (0.0, "SPM")):
                ids = apply_fim(text, small_tokenizer, FixedRng([0.0, uniform], [start, end]), rate=0.9)
                assert undo_fim(ids, small_tokenizer) == text, f"{layout} drawn, cut at {start}, {end}"


# Document pieces for the property test: spaces, tabs and newlines at either end, indentation, words, non-ASCII.
# SentencePiece's own meta symbol "▁" (U+2581) is left out: the tokenizer's normalizer turns it into a space.
PIECES = (" ", "  ", "    ", "\t", "\n", "\r\n", "x", "ab", "def", "return", "é", "☺", "(", "):", "'z'", "1")


def test_inverse_property_over_random_documents(small_tokenizer):
    rng = random.Random(2024)
    for number in range(3000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12)))
        for spm_rate in (0.0, 1.0):
            ids = apply_fim(text, small_tokenizer, random.Random(number), rate=1.0, spm_rate=spm_rate)
            assert undo_fim(ids, small_tokenizer) == text, f"document {text!r}, spm_rate {spm_rate}, seed {number}"


def test_an_empty_prefix_is_laid_out_as_spm_whatever_the_draw(small_tokenizer):
    tok = small_tokenizer
    for text, end in ((" x = 1\n", 2), ("  ", 1), ("value()", 5)):
        ids = apply_fim(text, tok, FixedRng([0.0, 0.99], [0, end]))  # 0.99 >= spm_rate: PSM drawn
        assert ids == spm_ids("", text[:end], text[end:], tok)
        assert fim_layout(ids, tok) == "spm" and undo_fim(ids, tok) == text
    # A non-empty prefix keeps the PSM drawn.
    assert apply_fim("ab", tok, FixedRng([0.0, 0.99], [1, 2])) == psm_ids("a", "b", "", tok)


def test_empty_prefix_psm_is_told_from_spm(small_tokenizer):
    ids = psm_ids("", "abc", "def", small_tokenizer)
    assert ids[:2] == [small_tokenizer.prefix_id, small_tokenizer.suffix_id]
    assert fim_layout(ids, small_tokenizer) == "psm"
    assert undo_fim(ids, small_tokenizer) == "abcdef"
    assert undo_fim(spm_ids("", "abc", "def", small_tokenizer), small_tokenizer) == "abcdef"


def test_the_one_ambiguity_psm_with_empty_prefix_and_spaced_middle(small_tokenizer):
    """Two documents, one token sequence: no inverse can tell them apart, which is why apply_fim lays an empty
    prefix out as SPM; undo_fim reads it as SPM."""
    tok = small_tokenizer
    assert psm_ids("", " value", "()", tok) == spm_ids("", "value", "()", tok)
    assert undo_fim(psm_ids("", " value", "()", tok), tok) == "value()"


def test_realized_rates_within_binomial_tolerance(small_tokenizer):
    text, trials, rate, spm_rate = "x = compute(first, second)\n" * 8, 3000, 0.9, 0.5
    rng = random.Random(7)
    layouts = [fim_layout(apply_fim(text, small_tokenizer, rng, rate=rate, spm_rate=spm_rate), small_tokenizer)
               for _ in range(trials)]
    fim = trials - layouts.count("plain")
    assert abs(fim / trials - rate) < 4 * (rate * (1 - rate) / trials) ** 0.5
    assert abs(layouts.count("spm") / fim - spm_rate) < 4 * (spm_rate * (1 - spm_rate) / fim) ** 0.5


@pytest.mark.parametrize("make_rng", [random.Random, np.random.default_rng])
def test_cut_points_are_uniform_character_positions(small_tokenizer, make_rng):
    tok, text, trials = small_tokenizer, "abcdefghij", 4000
    rng = make_rng(3)
    counts = np.zeros((len(text) + 1, len(text) + 1))
    for _ in range(trials):
        prefix, _, middle = sections(apply_fim(text, tok, rng, rate=1.0, spm_rate=0.0), tok)
        start = len(tok.decode(prefix))
        # An empty prefix is laid out as SPM: its middle is enc(middle), with the implicit space.
        counts[start, start + len((tok.decode_infilling if start else tok.decode)(middle))] += 1
    cells = np.triu_indices(len(text) + 1)
    # Two independent uniform positions, sorted: an off-diagonal pair is twice as likely as a diagonal one.
    expected = np.where(cells[0] == cells[1], 1.0, 2.0)
    expected *= trials / expected.sum()
    assert counts.sum() == trials and counts[np.tril_indices(len(text) + 1, -1)].sum() == 0
    assert stats.chisquare(counts[cells], expected).pvalue > 1e-3


def test_cuts_fall_inside_tokens_not_only_between_them(small_tokenizer):
    tok, text = small_tokenizer, "return self.assertEqual(expected_value, actual_value)\n"
    plain = tok.encode(text)
    boundaries = {len(tok.decode(plain[:k])) for k in range(len(plain) + 1)}
    starts = set()
    for seed in range(300):
        prefix, _, _ = sections(apply_fim(text, tok, random.Random(seed), rate=1.0, spm_rate=0.0), tok)
        starts.add(len(tok.decode(prefix)))
    assert starts - boundaries, "every cut fell on a token boundary: the split is not at the character level"


@pytest.mark.parametrize("bad", ["plain with EOT", "no EOT", "two MID", "out of order", "EOT not last"])
def test_undo_rejects_malformed_ids(small_tokenizer, bad):
    tok = small_tokenizer
    body = tok.encode_infilling("abc")
    malformed = {
        "plain with EOT": body + [tok.eot_id],
        "no EOT": [tok.prefix_id, *body, tok.suffix_id, *body, tok.middle_id, *body],
        "two MID": [tok.prefix_id, *body, tok.suffix_id, tok.middle_id, *body, tok.middle_id, tok.eot_id],
        "out of order": [tok.prefix_id, *body, tok.middle_id, *body, tok.suffix_id, *body, tok.eot_id],
        "EOT not last": [tok.prefix_id, tok.suffix_id, *body, tok.middle_id, tok.eot_id, *body],
    }[bad]
    with pytest.raises(ValueError, match="malformed FIM example"):
        undo_fim(malformed, tok)


def test_bad_rates_are_named(small_tokenizer):
    with pytest.raises(ValueError, match="spm_rate"):
        apply_fim(SOURCE, small_tokenizer, random.Random(0), spm_rate=1.5)


def test_line_cuts_fall_on_line_starts_uniformly():
    text = "a = 1\nbb = 2\n\nreturn a\n"
    starts = [0, 6, 13, 14, 23]  # 0, after each newline; the text ends with one, so its end is a line start
    rng, counts = random.Random(5), {}
    for _ in range(5000):
        start, end = line_cuts(text, rng)
        counts[start, end] = counts.get((start, end), 0) + 1
    assert set(counts) <= {(a, b) for a in starts for b in starts if a <= b}
    pairs = [(a, b) for a in starts for b in starts if a <= b]
    expected = np.array([1.0 if a == b else 2.0 for a, b in pairs])
    assert stats.chisquare([counts.get(p, 0) for p in pairs], expected * 5000 / expected.sum()).pvalue > 1e-3
    assert line_cuts("no newline", random.Random(0)) in {(0, 0), (0, 10), (10, 10)}


def test_line_share_zero_draws_as_the_paper_and_one_cuts_only_lines(small_tokenizer):
    tok, text = small_tokenizer, "def f(x):\n    y = x + 1\n    return y\n"
    for seed in range(50):
        paper = apply_fim(text, tok, random.Random(seed), rate=0.9)
        assert apply_fim(text, tok, random.Random(seed), rate=0.9, line_share=0.0) == paper
    starts = {0, 10, 24, len(text)}
    for seed in range(200):
        ids = apply_fim(text, tok, random.Random(seed), rate=1.0, spm_rate=0.0, line_share=1.0)
        if fim_layout(ids, tok) == "psm":
            prefix, _, middle = sections(ids, tok)
            start = len(tok.decode(prefix))
            assert start in starts and start + len(tok.decode_infilling(middle)) in starts
        assert undo_fim(ids, tok) == text
    with pytest.raises(ValueError, match="line_share"):
        apply_fim(text, tok, random.Random(0), line_share=-0.1)
