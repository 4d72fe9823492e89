"""Checks for chapter 1: BPE merges agree with SentencePiece; hand-built prompts agree with the package."""

from __future__ import annotations

import functools
import random
import tempfile
from pathlib import Path

from codellama_lite.tokenizer import Tokenizer

# Word frequencies chosen so that the five most frequent pairs are unique at every step (no tie to break).
BPE_CORPUS_COUNTS = {"lower": 15, "lowest": 5, "newest": 12, "wider": 10, "low": 2, "tallest": 3, "new": 4,
                     "dress": 1, "slow": 4, "news": 2, "widest": 7, "return": 3, "print": 4, "self": 11}
BPE_CORPUS = " ".join(word for word, count in BPE_CORPUS_COUNTS.items() for _ in range(count))
BPE_STEPS = 5

_WORKDIR = tempfile.TemporaryDirectory(prefix="ch01-checks-")


@functools.lru_cache(maxsize=None)
def _sentencepiece_merges() -> list[str]:
    """The first pieces SentencePiece's BPE trainer merges on the same corpus, through the package's trainer."""
    corpus = Path(_WORKDIR.name) / "bpe_corpus" / "words.txt"
    corpus.parent.mkdir(exist_ok=True)
    corpus.write_text(BPE_CORPUS, encoding="utf-8")
    tokenizer = Tokenizer.train(corpus.parent, vocab_size=40, model_path=Path(_WORKDIR.name) / "bpe.model",
                                infilling=False, byte_fallback=False, hard_vocab_limit=False)
    first_merge = 3  # after <unk>, <s>, </s>, SentencePiece lists merged pieces in the order it learned them
    return [tokenizer.id_to_piece(first_merge + step) for step in range(BPE_STEPS)]


@functools.lru_cache(maxsize=None)
def _tokenizer() -> Tokenizer:
    return Tokenizer.train(vocab_size=600, model_path=Path(_WORKDIR.name) / "small.model", max_files=60)


def check_word_counts(impl):
    assert impl.word_counts("ab ab c") == {("▁", "a", "b"): 2, ("▁", "c"): 1}
    words = impl.word_counts("  def\tf(x):\n  return x ")
    assert words == {("▁", "d", "e", "f"): 1, ("▁", *"f(x):"): 1, ("▁", *"return"): 1, ("▁", "x"): 1}


def check_count_pairs(impl):
    pairs = impl.count_pairs({("▁", "l", "o", "w"): 5, ("▁", "l", "o", "o"): 2, ("o", "o", "o"): 1})
    assert dict(pairs) == {("▁", "l"): 7, ("l", "o"): 7, ("o", "w"): 5, ("o", "o"): 4}


def check_merge_pair(impl):
    merged = impl.merge_pair({("a", "a", "a"): 2, ("b", "a", "a", "b"): 1, ("x",): 3}, ("a", "a"))
    assert merged == {("aa", "a"): 2, ("b", "aa", "b"): 1, ("x",): 3}


def check_merge_step_on_a_tie(impl):
    # Four pairs occur twice; the alphabetically smallest wins ("▁", U+2581, sorts after the letters).
    pair, words = impl.bpe_merge_step({("▁", "b", "c"): 2, ("▁", "a", "c"): 2})
    assert pair == ("a", "c") and words == {("▁", "b", "c"): 2, ("▁", "ac"): 2}, (pair, words)
    try:
        impl.bpe_merge_step({("a",): 4})
    except ValueError:
        pass
    else:
        raise AssertionError("bpe_merge_step should raise ValueError when no pair is left")


def check_merges_agree_with_sentencepiece(impl):
    words = impl.word_counts(BPE_CORPUS)
    learned = []
    for _ in range(BPE_STEPS):
        pair, words = impl.bpe_merge_step(words)
        learned.append("".join(pair))
    expected = _sentencepiece_merges()
    assert learned == expected, f"your first merges {learned} != SentencePiece's {expected}"


def _pairs() -> list[tuple[str, str]]:
    rng = random.Random(7)
    bits = ["def f(x):", "\n    ", " return", " x", "\t", "é", "<PRE>", "  ", "y = 1", "#"]
    random_pairs = [("".join(rng.choices(bits, k=rng.randint(0, 4))), "".join(rng.choices(bits, k=rng.randint(1, 4))))
                    for _ in range(20)]
    return [("", "x"), ("def f():\n    ", "\n    return y\n"), (" a", "b "), ("p", "")] + random_pairs


def check_psm_prompt(impl):
    tokenizer = _tokenizer()
    for prefix, suffix in _pairs():
        expected = tokenizer.infill_prompt(prefix, suffix)
        got = impl.psm_prompt(tokenizer, prefix, suffix)
        assert got == expected, f"PSM for {prefix!r}, {suffix!r}: {got} != {expected}"


def check_spm_prompt(impl):
    tokenizer = _tokenizer()
    for prefix, suffix in _pairs():
        expected = tokenizer.infill_prompt(prefix, suffix, suffix_first=True)
        got = impl.spm_prompt(tokenizer, prefix, suffix)
        assert got == expected, f"SPM for {prefix!r}, {suffix!r}: {got} != {expected}"



def check_train_bpe(impl):
    merges = impl.train_bpe(BPE_CORPUS, BPE_STEPS)
    learned = [(left + right).decode("utf-8").replace(" ", "▁") for left, right in merges]
    expected = _sentencepiece_merges()
    assert learned == expected, f"your first byte-level merges {learned} != SentencePiece's {expected}"
    code = "def f(x):\n    return x + 1\n\ndef g(y):\n    return f(y) * 2\n"
    merges = impl.train_bpe(code, 200)
    assert all(isinstance(left, bytes) and isinstance(right, bytes) for left, right in merges), \
        "merges are pairs of bytes"
    assert merges[0] == (b" ", b" "), f"the most frequent pair of this code is two spaces, not {merges[0]}"
    ranks: dict[bytes, int] = {}
    for rank, (left, right) in enumerate(merges):
        ranks.setdefault(left + right, rank)
    pieces = [piece for word in impl.split_words(code) for piece in impl.bpe_encode(word, ranks)]
    assert pieces == impl.split_words(code), \
        "200 merges exhaust this short text: encoded with them, every word must come back as one piece"


SNIPPETS = ("def mean(values):\n    return sum(values) / len(values)\n",
            "class Point:\n        def __init__(self, x, y):\n\t\tself.x, self.y = x, y  # ’quoted’ é\n",
            "    \n  x  =   [1, 22, 333]\n", "漢字 and ☺ and émigré", "if a == b:\n    pass", "a")


def check_bpe_encode(impl):
    tokenizer = _tokenizer()
    ranks = tokenizer.byte_merge_ranks()
    for text in SNIPPETS:
        pieces = impl.bpe_encode((" " + text).encode("utf-8"), ranks)
        assert b"".join(pieces) == (" " + text).encode("utf-8"), f"{text!r}: the pieces do not join into the input"
        got, expected = tokenizer.ids_from_byte_pieces(pieces), tokenizer.encode(text)
        assert got == expected, (f"{text!r}: your pieces {[tokenizer.id_to_piece(i) for i in got]} != SentencePiece's "
                                 f"{[tokenizer.id_to_piece(i) for i in expected]}")
    assert impl.bpe_encode(b"aaa", {b"aa": 0}) == [b"aa", b"a"], "on a tie, the leftmost pair merges first"
    assert impl.bpe_encode(b"abc", {b"bc": 0, b"ab": 1}) == [b"a", b"bc"], "the smallest rank merges first"
