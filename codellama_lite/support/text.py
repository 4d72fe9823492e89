"""Where a stop sequence ends a completion: the cut that generation (:mod:`codellama_lite.generate`) makes as it
decodes and that scoring (:mod:`codellama_lite.evaluation.stops`) makes when asked, written once, without torch."""

from __future__ import annotations

from collections.abc import Sequence


def first_stop(text: str, stops: Sequence[str]) -> int:
    """Index where the earliest stop sequence starts in ``text``, or ``len(text)`` if none occurs."""
    positions = [text.find(stop) for stop in stops if stop]
    return min((p for p in positions if p >= 0), default=len(text))


def truncate_at_stops(text: str, stops: Sequence[str]) -> str:
    """``text`` up to (not including) the earliest stop sequence."""
    return text[:first_stop(text, stops)]


def hit_stop(text: str, stops: Sequence[str]) -> bool:
    """Whether any stop sequence occurs in ``text`` (generation can end here)."""
    return first_stop(text, stops) < len(text)
