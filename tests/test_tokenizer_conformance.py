"""Our infilling prompts equal transformers 4.x's SentencePiece-backed CodeLlamaTokenizer, token for token.

docs/paper_facts.md §2: that class reproduces Meta's PSM / SPM layout. It treats an empty suffix as plain text, so
those cases (and ``<FILL_ME>``) are tested against Meta's layout directly in test_tokenizer.py.
"""

from __future__ import annotations

import random
import warnings

import pytest

transformers = pytest.importorskip("transformers")

FRAGMENTS = ["def", " f", "(x)", ":", "\n", "\n    ", "\t", " ", "  ", "return", " x", " + 1", "'", '"', "#",
             "0", "123", "é", "中文", "☺", "💡", "ü", "<PRE>", " <PRE>", "<SUF>", "<MID>", "<EOT>", "▁", "{", "}",
             "self.", "import", " os", "\r\n", ";", "=", "  # note"]
EDGE_CASES = [("", "x"), ("", " return y\n"), (" leading", "trailing "), ("\tindent", "\n\ttab"),
              ("x = '<PRE>'", "<PRE>"), ("<PRE> y", " <PRE>"), ("naïve = 'ñ'", "中文 ☺"), ("\n\n", "\n"),
              ("a  ", "  b"), ("def f():\n    ", "\n    return 1\n")]


def _random_text(rng: random.Random, min_fragments: int) -> str:
    return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(min_fragments, 8)))


def _pairs(count: int = 120, seed: int = 1234) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return EDGE_CASES + [(_random_text(rng, 0), _random_text(rng, 1)) for _ in range(count)]


@pytest.fixture(scope="module")
def oracle(small_tokenizer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from transformers import CodeLlamaTokenizer

        return CodeLlamaTokenizer(vocab_file=str(small_tokenizer.model_path))


def test_pairs_cover_the_required_cases():
    pairs = _pairs()
    assert len(pairs) >= 50 and all(suffix for _, suffix in pairs)
    prefixes = [prefix for prefix, _ in pairs]
    for needle in ("<PRE>", "\t", "\n", "é"):
        assert any(needle in prefix for prefix in prefixes)
    assert "" in prefixes
    assert any(p.startswith(" ") for p in prefixes) and any(p.endswith(" ") for p in prefixes)


def test_special_ids_agree(small_tokenizer, oracle):
    ours = (small_tokenizer.prefix_id, small_tokenizer.suffix_id, small_tokenizer.middle_id, small_tokenizer.eot_id)
    assert ours == (oracle.prefix_id, oracle.suffix_id, oracle.middle_id, oracle.eot_id)
    assert (small_tokenizer.bos_id, small_tokenizer.eos_id) == (oracle.bos_token_id, oracle.eos_token_id)


@pytest.mark.parametrize("suffix_first", [False, True], ids=["PSM", "SPM"])
def test_infill_prompt_matches_transformers(small_tokenizer, oracle, suffix_first):
    mismatches = []
    for prefix, suffix in _pairs():
        ours = small_tokenizer.infill_prompt(prefix, suffix, suffix_first=suffix_first)
        theirs = oracle(prefix, suffix=suffix, suffix_first=suffix_first)["input_ids"]
        if ours != theirs:
            mismatches.append((prefix, suffix, ours, theirs))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[0]}"


def test_plain_encoding_matches_transformers(small_tokenizer, oracle):
    for prefix, suffix in _pairs(40, seed=99):
        text = prefix + suffix
        if text.startswith(("<PRE>", "<SUF>", "<MID>", "<EOT>")):
            # transformers prepends "▁" to plain text before matching its added tokens, so there "<PRE>..." becomes
            # the special ▁<PRE>; SentencePiece (and Meta) never produce a CONTROL piece from text.
            continue
        assert small_tokenizer.encode(text, bos=True) == oracle(text)["input_ids"], repr(text)
