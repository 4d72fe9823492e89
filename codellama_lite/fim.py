"""Training-time fill-in-the-middle (Code Llama §2.3; docs/paper_facts.md §3) and its inverse.

Read top to bottom:

1. :func:`apply_fim` — with probability ``rate``, cut a document at two character positions drawn uniformly over
   ``[0, len(text)]`` and reorder it as PSM or, with probability ``spm_rate``, as SPM; otherwise encode it plainly;
2. :func:`fim_layout` and :func:`undo_fim` — read the three forms back into the document.

The layouts, token for token (``enc`` adds SentencePiece's implicit leading space, ``enc_nospace`` does not)::

    PSM    PRE enc(prefix) SUF enc_nospace(suffix) MID enc_nospace(middle) EOT
    SPM    PRE SUF enc_nospace(suffix) MID enc(prefix + middle) EOT
    plain  enc(text)

SPM is the "compatible" variant 2 of Bavarian et al. (2022): prefix and middle are encoded together, so in SPM the
prefix/middle boundary never splits a token. It is not variant 1 (``SUF suffix PRE prefix MID middle``). The cuts are
character positions, not token positions: a cut may fall inside what would be one token of the plain encoding.

An empty prefix always takes SPM's layout. With no prefix the two layouts hold the same parts, ``PRE SUF suffix MID``
then the middle, and differ only in the middle's encoding: PSM's ``enc_nospace(" x")`` and SPM's ``enc("x")`` are
the same ids ``▁x``. Drawn both ways, the model could not tell whether a first ``▁`` after ``MID`` is a space of the
text or the implicit one, and the document could not be read back; one layout per case removes both problems, and
:func:`codellama_lite.generate.infill` decodes a middle after an empty prefix the same way (implicit space dropped).

Randomness comes from the ``rng`` argument only: a :class:`random.Random` (``rng.random()`` and
``rng.randint(0, n)``) or a :class:`numpy.random.Generator`. The packer seeds one per document, so a document's
transform never depends on the order in which documents are processed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

Layout = Literal["psm", "spm", "plain"]

# §2.3: of the documents that fit into a context, 90% are transformed, half of them as PSM and half as SPM.
FIM_RATE = 0.9
SPM_RATE = 0.5


class FimTokenizer(Protocol):
    """What the transform needs of :class:`codellama_lite.tokenizer.Tokenizer`."""

    prefix_id: int
    suffix_id: int
    middle_id: int
    eot_id: int

    def encode(self, text: str) -> list[int]: ...
    def encode_infilling(self, text: str) -> list[int]: ...
    def decode(self, ids: Sequence[int]) -> str: ...
    def decode_infilling(self, ids: Sequence[int]) -> str: ...
    def id_to_piece(self, index: int) -> str: ...


Rng = random.Random | np.random.Generator

# --- 1. The transform -----------------------------------------------------------------------------------------------


def _uniform(rng: Rng) -> float:
    return float(rng.random())


def _position(rng: Rng, length: int) -> int:
    """A character position drawn uniformly from ``0 … length`` (both ends included)."""
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, length + 1))
    return rng.randint(0, length)


def fim_cuts(length: int, rng: Rng) -> tuple[int, int]:
    """Two character positions drawn independently and uniformly over ``[0, length]``, sorted (§2.3)."""
    first, second = _position(rng, length), _position(rng, length)
    return min(first, second), max(first, second)


def line_cuts(text: str, rng: Rng) -> tuple[int, int]:
    """Two positions drawn independently and uniformly from the starts of ``text``'s lines (``0``, after each
    newline, and the end), sorted: a hole of whole lines, the shape of line-level infilling benchmarks."""
    starts = [0, *(i + 1 for i, char in enumerate(text) if char == "\n")]
    if starts[-1] != len(text):
        starts.append(len(text))
    first, second = starts[_position(rng, len(starts) - 1)], starts[_position(rng, len(starts) - 1)]
    return min(first, second), max(first, second)


def psm_ids(prefix: str, middle: str, suffix: str, tokenizer: FimTokenizer) -> list[int]:
    """``PRE enc(prefix) SUF enc_nospace(suffix) MID enc_nospace(middle) EOT``."""
    return [tokenizer.prefix_id, *tokenizer.encode(prefix), tokenizer.suffix_id,
            *tokenizer.encode_infilling(suffix), tokenizer.middle_id, *tokenizer.encode_infilling(middle),
            tokenizer.eot_id]


def spm_ids(prefix: str, middle: str, suffix: str, tokenizer: FimTokenizer) -> list[int]:
    """``PRE SUF enc_nospace(suffix) MID enc(prefix + middle) EOT`` (SPM variant 2)."""
    return [tokenizer.prefix_id, tokenizer.suffix_id, *tokenizer.encode_infilling(suffix), tokenizer.middle_id,
            *tokenizer.encode(prefix + middle), tokenizer.eot_id]


def apply_fim(text: str, tokenizer: FimTokenizer, rng: Rng, *, rate: float = FIM_RATE,
              spm_rate: float = SPM_RATE, line_share: float = 0.0) -> list[int]:
    """The training form of ``text``: PSM or SPM with probability ``rate``, else ``enc(text)``; no BOS / EOS.

    Draws, in this order: one uniform number (FIM or not); if FIM and ``line_share > 0``, one uniform number
    (line cuts, :func:`line_cuts`, with probability ``line_share``; the paper's character cuts otherwise); two cut
    positions; one uniform number (SPM or PSM; an empty prefix is laid out as SPM whatever the draw, see the module
    docstring). ``line_share`` 0, the paper's rule, draws exactly as before it existed.
    ``rng``: a :class:`random.Random` or a :class:`numpy.random.Generator`.
    """
    _check_probability("rate", rate)
    _check_probability("spm_rate", spm_rate)
    _check_probability("line_share", line_share)
    if _uniform(rng) >= rate:
        return tokenizer.encode(text)
    by_lines = line_share > 0 and _uniform(rng) < line_share
    start, end = line_cuts(text, rng) if by_lines else fim_cuts(len(text), rng)
    prefix, middle, suffix = text[:start], text[start:end], text[end:]
    suffix_first = _uniform(rng) < spm_rate
    layout = spm_ids if suffix_first or not prefix else psm_ids
    return layout(prefix, middle, suffix, tokenizer)


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


# --- 2. The inverse -------------------------------------------------------------------------------------------------


def fim_layout(ids: Sequence[int], tokenizer: FimTokenizer) -> Layout:
    """Which form ``ids`` has: ``"psm"``, ``"spm"`` or ``"plain"`` (well-formedness is checked by :func:`undo_fim`).

    ``PRE SUF`` opens SPM, and also :func:`psm_ids` of an empty prefix (which :func:`apply_fim` never emits: it lays
    an empty prefix out as SPM). They differ in the first token after MID: SPM's ``enc(prefix + middle)`` starts
    with the implicit space ``▁``, PSM's ``enc_nospace(middle)`` does not — unless the middle itself starts with a
    space, where the two are one token sequence (read as SPM, as :func:`apply_fim` means it).
    """
    if not ids or ids[0] != tokenizer.prefix_id:
        return "plain"
    if len(ids) < 2 or ids[1] != tokenizer.suffix_id:
        return "psm"
    after_middle = list(ids).index(tokenizer.middle_id) + 1 if tokenizer.middle_id in ids else len(ids)
    body = ids[after_middle:after_middle + 1]
    if body and body[0] != tokenizer.eot_id and not tokenizer.id_to_piece(body[0]).startswith("▁"):
        return "psm"
    return "spm"


def undo_fim(ids: Sequence[int], tokenizer: FimTokenizer) -> str:
    """The document behind any output of :func:`apply_fim`; ``ValueError`` if ``ids`` is none of the three forms."""
    ids = [int(i) for i in ids]
    specials = (tokenizer.prefix_id, tokenizer.suffix_id, tokenizer.middle_id, tokenizer.eot_id)
    layout = fim_layout(ids, tokenizer)
    if layout == "plain":
        if any(i in specials for i in ids):
            raise ValueError(f"malformed FIM example: infilling ids {specials} inside a plain document")
        return tokenizer.decode(ids)
    prefix, suffix, body = _fim_sections(ids, specials)
    if layout == "spm":
        return tokenizer.decode(body) + tokenizer.decode_infilling(suffix)
    return tokenizer.decode(prefix) + tokenizer.decode_infilling(body) + tokenizer.decode_infilling(suffix)


def _fim_sections(ids: list[int], specials: tuple[int, ...]) -> tuple[list[int], list[int], list[int]]:
    """Split ``PRE [prefix] SUF suffix MID body EOT`` into its three id runs, checking each marker appears once."""
    pre, suf, mid, eot = specials
    counts = {name: ids.count(index) for name, index in zip(("PRE", "SUF", "MID", "EOT"), specials)}
    if any(count != 1 for count in counts.values()) or ids[-1] != eot:
        raise ValueError(f"malformed FIM example: expected PRE, SUF, MID once each and EOT once at the end, "
                         f"got counts {counts} and last id {ids[-1]}")
    at_suffix, at_middle = ids.index(suf), ids.index(mid)
    if not (ids[0] == pre and at_suffix < at_middle):
        raise ValueError("malformed FIM example: markers out of order (expected PRE … SUF … MID … EOT)")
    return ids[1:at_suffix], ids[at_suffix + 1:at_middle], ids[at_middle + 1:-1]
