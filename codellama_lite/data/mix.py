"""Which source the next document comes from, and which document: the 85 / 8 / 7 mix by tokens (Code Llama §2.2).

The next document comes from the source furthest below its target share of the tokens placed so far (ties: the larger
share, then config order), so realized token shares track the weights within about one document's length. Each
source walks its documents in a shuffled order seeded by (seed, source, epoch); a source that runs out starts its
next epoch in a fresh order — small natural-language sources are repeated many times while code is read once.
The whole position is a few integers per source, which is what makes the stream resumable.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class SourceCursor:
    """Where one source stands: its epoch, the position in that epoch's order, the tokens it has placed."""

    epoch: int = 0
    position: int = 0
    tokens: int = 0


class SourceMixer:
    """Deterministic choice of (source, document index, epoch) for the next document."""

    def __init__(self, sizes: dict[str, int], shares: dict[str, float], seed: int, *, shuffle: bool = True) -> None:
        self.sizes, self.shares, self.seed, self.shuffle = dict(sizes), dict(shares), seed, shuffle
        self.cursors = {source: SourceCursor() for source in sizes}
        self._orders: dict[str, tuple[int, list[int]]] = {}

    def next_source(self) -> str:
        total = sum(cursor.tokens for cursor in self.cursors.values())
        return max(self.cursors, key=lambda source: (self.shares[source] * total - self.cursors[source].tokens,
                                                       self.shares[source]))

    def order(self, source: str, epoch: int) -> Sequence[int]:
        """The document order of ``source`` in ``epoch`` (cached for the current epoch); stored order without
        ``shuffle`` (a prepared corpus, shuffled once when written and read in sequence)."""
        if not self.shuffle:
            return range(self.sizes[source])
        cached = self._orders.get(source)
        if cached is None or cached[0] != epoch:
            indices = list(range(self.sizes[source]))
            random.Random(f"order/{self.seed}/{source}/{epoch}").shuffle(indices)
            cached = self._orders[source] = (epoch, indices)
        return cached[1]

    def next_document(self) -> tuple[str, int, int]:
        """``(source, document index within the source, epoch)`` of the next document; advances the cursor."""
        source = self.next_source()
        cursor = self.cursors[source]
        index, epoch = self.order(source, cursor.epoch)[cursor.position], cursor.epoch
        cursor.position += 1
        if cursor.position == self.sizes[source]:
            cursor.epoch, cursor.position = cursor.epoch + 1, 0
        return source, index, epoch

    def count(self, source: str, tokens: int) -> None:
        self.cursors[source].tokens += tokens

    def realized_shares(self) -> dict[str, float]:
        total = sum(cursor.tokens for cursor in self.cursors.values())
        return {source: (cursor.tokens / total if total else 0.0) for source, cursor in self.cursors.items()}

    def epochs(self) -> dict[str, float]:
        """How many passes over each source have been started, fractionally (1.5 = one and a half)."""
        return {source: cursor.epoch + cursor.position / self.sizes[source] for source, cursor in self.cursors.items()}

    def state_dict(self) -> dict[str, Any]:
        return {source: asdict(cursor) for source, cursor in self.cursors.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state) != set(self.cursors):
            raise ValueError(f"data state: sources {sorted(state)} do not match this stream's {sorted(self.cursors)}")
        self.cursors = {source: SourceCursor(**{k: int(v) for k, v in state[source].items()})
                        for source in self.cursors}
