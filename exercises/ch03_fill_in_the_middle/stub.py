"""Chapter 3 exercises: the fill-in-the-middle training transform (Code Llama §2.3; notebook 03).

A document is cut at two *character* positions into prefix, middle and suffix, and re-ordered so that a left-to-right
model learns to write the middle after seeing both sides. ``enc`` is ``tokenizer.encode`` (it adds SentencePiece's
implicit leading space), ``enc_nospace`` is ``tokenizer.encode_infilling`` (it does not). The special ids are
``tokenizer.prefix_id``, ``suffix_id``, ``middle_id`` and ``eot_id``. No BOS or EOS: the packer adds those.

Fill in each function, then run ``codellama-lite exercises check ch03``. Compare with ``codellama_lite/fim.py`` only
after your checks pass.
"""

from __future__ import annotations


def psm(tokenizer, prefix: str, middle: str, suffix: str) -> list[int]:
    """Prefix-suffix-middle: prefix after ``<PRE>``, suffix after ``<SUF>``, middle after ``<MID>``, then ``<EOT>``.
    Which parts keep the implicit space, and which are encoded without it?"""
    # TODO: four special ids, three encoded parts.
    raise NotImplementedError


def spm(tokenizer, prefix: str, middle: str, suffix: str) -> list[int]:
    """Suffix-prefix-middle as Code Llama trains it (variant 2 of Bavarian et al.): ``<PRE> <SUF>`` suffix ``<MID>``
    then the prefix *and* the middle, ended by ``<EOT>``. How must prefix and middle be encoded so that the cut between
    them never shows up as a token boundary?"""
    # TODO: the special tokens keep PSM's order; the suffix has no implicit space.
    raise NotImplementedError


def fim_example(tokenizer, text: str, start: int, end: int, suffix_first: bool) -> list[int]:
    """``text`` cut at character positions ``start <= end`` into prefix, middle and suffix, laid out as SPM when
    ``suffix_first``, else PSM."""
    # TODO: cut the characters, not the tokens.
    raise NotImplementedError


def apply_fim(tokenizer, text: str, rng, rate: float, spm_rate: float) -> list[int]:
    """The training form of ``text`` (no BOS / EOS), drawing from ``rng`` (a ``random.Random``) in this order:

    1. ``rng.random()``: below ``rate`` means FIM, otherwise return ``tokenizer.encode(text)`` (nothing else drawn);
    2. two cut positions, each ``rng.randint(0, len(text))`` (both ends included), sorted;
    3. ``rng.random()``: below ``spm_rate`` means SPM, otherwise PSM — except that an empty prefix is always laid out as
       SPM (with no prefix, PSM's ``enc_nospace(" x")`` and SPM's ``enc("x")`` are the same ids, and the document could
       not be read back).
    """
    # TODO: three draws at most; reuse fim_example.
    raise NotImplementedError


def pack(tokenizer, documents, seq_len: int, n_windows: int, fim_rate: float, spm_rate: float) -> list[list[int]]:
    """The first ``n_windows`` training windows of ``seq_len + 1`` tokens, filled in order from ``documents``, an
    iterator of ``(text, rng)`` pairs (take the next one only when a document starts).

    Each document becomes ``[BOS] + apply_fim(...) + [EOS]`` when that is a FIM example *and* fits whole into the room
    left in the current window; otherwise ``[BOS] + encode(text) + [EOS]``, which may run on into the next windows.
    So no FIM example is ever cut across two windows (the paper's whole-document rule, §2.3).
    """
    # TODO: keep the document being placed and how much of it is placed; decide FIM when it starts.
    raise NotImplementedError
