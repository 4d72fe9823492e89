"""Documents → ``[BOS] + apply_fim(document) + [EOS]`` → windows of ``seq_len + 1`` tokens (Code Llama §2.2–2.3).

Packing rule (docs/paper_facts.md §3: FIM only for documents not cut across contexts). Windows are filled in order;
when a new document starts, the room left in the current window is known. FIM is drawn for it (its randomness seeded by
(seed, source, epoch, document index), never by call order); if the transformed document, with BOS and EOS, does not
fit into that room, the plain encoding is used instead, and that one may run on across windows. So a document longer
than a context is never FIM'd, and no FIM example is ever cut. Windows do not overlap; the trainer predicts tokens
1…seq_len of a window from tokens 0…seq_len-1.

Sharding: the global sequence of windows depends only on (documents, tokenizer, config). ``next_batch(b)`` on rank
``r`` of ``W`` takes the next ``W * b`` global windows and returns windows ``[r*b, (r+1)*b)``: every rank packs every
window (cheap next to the model) and keeps its own, so one process with ``next_batch(W * b)`` sees exactly what
``W`` ranks see together, and a state saved at one world size resumes at any other.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from codellama_lite.data.config import DataConfig
from codellama_lite.data.mix import SourceMixer
from codellama_lite.data.sources import Document
from codellama_lite.fim import apply_fim
from codellama_lite.tokenizer import Tokenizer

FIM_MARKERS = 4  # PRE, SUF, MID and EOT


@dataclass(frozen=True)
class Placement:
    """Where the packer put a document: its source and index, whether it was FIM'd, and the window and offset where
    its first token (BOS) landed."""

    source: str
    index: int
    epoch: int
    fim: bool
    window: int
    offset: int
    tokens: int


@dataclass
class _Pending:
    """The document being placed: which one, whether it was FIM'd, how many of its ids are already placed."""

    source: str
    index: int
    epoch: int
    fim: bool
    offset: int
    ids: list[int]


def max_piece_chars(tokenizer: Tokenizer) -> int:
    """The most characters one token can cover: bounds from below how many tokens a text needs."""
    lengths = (len(tokenizer.id_to_piece(i)) for i in range(tokenizer.vocab_size)
               if not tokenizer.is_byte(i) and not tokenizer.processor.is_control(i))
    return max(lengths, default=1)


class PackedStream:
    """Infinite, deterministic stream of packed windows over ``corpus.train`` (see the module docstring)."""

    def __init__(self, documents: Sequence[Document], tokenizer: Tokenizer, config: DataConfig, *, rank: int = 0,
                 world_size: int = 1, groups: dict[str, Sequence[Document]] | None = None, fim_key: str = "",
                 max_piece: int | None = None) -> None:
        """``groups``: the documents by source given directly (sequences read in order, e.g. a prepared corpus's
        shards, :mod:`codellama_lite.data.streaming`) instead of ``documents``, each walked in stored order;
        ``fim_key`` tells such streams' FIM draws apart; ``max_piece``: :func:`max_piece_chars`, if known."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        if config.fim_rate > 0 and not tokenizer.has_infilling:
            raise ValueError(f"fim_rate={config.fim_rate} needs a tokenizer with the infilling pieces; "
                             f"{tokenizer.model_path} has none (train it with infilling, or set fim_rate=0)")
        self.tokenizer, self.config, self.rank, self.world_size = tokenizer, config, rank, world_size
        self.by_source = _group(documents, config) if groups is None else groups
        self.mixer = SourceMixer({s: len(d) for s, d in self.by_source.items()}, config.shares(), config.seed,
                                 shuffle=groups is None)
        self.window_len = config.seq_len + 1
        self.windows = 0
        self._pending: _Pending | None = None
        self._fim_key = f"{config.seed}{fim_key}"
        if max_piece is None:
            max_piece = max_piece_chars(tokenizer) if config.fim_rate > 0 else 1
        self._max_piece = max_piece
        self.fim_documents = self.plain_documents = 0
        self.placements: list[Placement] | None = None  # set to [] to record every document's placement

    # -- one document --

    def _encode(self, source: str, index: int, epoch: int, fim: bool) -> list[int]:
        text = self.by_source[source][index].text
        if not fim:
            return [self.tokenizer.bos_id, *self.tokenizer.encode(text), self.tokenizer.eos_id]
        rng = random.Random(f"fim/{self._fim_key}/{source}/{epoch}/{index}")
        ids = apply_fim(text, self.tokenizer, rng, rate=self.config.fim_rate, spm_rate=self.config.spm_rate,
                        line_share=self.config.fim_line_share)
        return [self.tokenizer.bos_id, *ids, self.tokenizer.eos_id]

    def _start_document(self, room: int) -> _Pending:
        """The next document's ids, FIM'd only when the transformed document fits into ``room`` tokens."""
        source, index, epoch = self.mixer.next_document()
        text = self.by_source[source][index].text
        fits_at_best = 2 + FIM_MARKERS + -(-len(text) // self._max_piece) <= room
        ids = self._encode(source, index, epoch, fim=True) if self.config.fim_rate > 0 and fits_at_best else None
        fim = ids is not None and len(ids) <= room and ids[1] == self.tokenizer.prefix_id
        if not fim:
            ids = self._encode(source, index, epoch, fim=False)
        self.fim_documents += fim
        self.plain_documents += not fim
        if self.placements is not None:
            self.placements.append(Placement(source, index, epoch, fim, self.windows, self.window_len - room, len(ids)))
        return _Pending(source, index, epoch, fim, 0, ids)

    # -- windows --

    def _next_window(self) -> list[int]:
        window: list[int] = []
        while len(window) < self.window_len:
            if self._pending is None:
                self._pending = self._start_document(self.window_len - len(window))
            pending = self._pending
            take = pending.ids[pending.offset:pending.offset + self.window_len - len(window)]
            window += take
            pending.offset += len(take)
            self.mixer.count(pending.source, len(take))
            if pending.offset == len(pending.ids):
                self._pending = None
        self.windows += 1
        return window

    def next_batch(self, batch_size: int) -> torch.Tensor:
        """The next ``batch_size`` windows of this rank: a ``LongTensor`` of shape ``(batch_size, seq_len + 1)``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        windows = [self._next_window() for _ in range(self.world_size * batch_size)]
        mine = windows[self.rank * batch_size:(self.rank + 1) * batch_size]
        return torch.tensor(mine, dtype=torch.long)

    def realized_shares(self) -> dict[str, float]:
        """Token shares per source over the windows produced so far."""
        return self.mixer.realized_shares()

    def epochs(self) -> dict[str, float]:
        """Passes started over each source's documents (a small source is repeated: more than 1)."""
        return self.mixer.epochs()

    # -- resume --

    def state_dict(self) -> dict[str, Any]:
        """The stream's position: small and JSON-serialisable; the same on every rank."""
        pending = self._pending
        return {"windows": self.windows, "seq_len": self.config.seq_len, "seed": self.config.seed,
                "sources": self.mixer.state_dict(),
                "pending": None if pending is None else [pending.source, pending.index, pending.epoch,
                                                         int(pending.fim), pending.offset],
                "documents": {"fim": self.fim_documents, "plain": self.plain_documents}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly where the stream that saved ``state`` stood."""
        for key in ("seq_len", "seed"):
            if state.get(key) != getattr(self.config, key):
                raise ValueError(f"data state: {key}={state.get(key)!r} does not match this config's "
                                 f"{getattr(self.config, key)!r}")
        self.mixer.load_state_dict(state["sources"])
        self.windows = int(state["windows"])
        self.fim_documents, self.plain_documents = state["documents"]["fim"], state["documents"]["plain"]
        self._pending = None
        if state["pending"] is not None:
            source, index, epoch, fim, offset = state["pending"]
            if source not in self.by_source or not 0 <= index < len(self.by_source[source]):
                raise ValueError(f"data state: pending document {source!r}[{index}] is not in these documents")
            ids = self._encode(source, int(index), int(epoch), bool(fim))
            self._pending = _Pending(source, int(index), int(epoch), bool(fim), int(offset), ids)


def _group(documents: Sequence[Document], config: DataConfig) -> dict[str, list[Document]]:
    """Documents by source, in the config's source order; every weighted source must have some."""
    groups: dict[str, list[Document]] = {source: [] for source in config.weights}
    for document in documents:
        if document.source not in groups:
            raise ValueError(f"document {document.path} has source {document.source!r}, which has no weight "
                             f"(weights: {sorted(config.weights)})")
        groups[document.source].append(document)
    empty = [source for source, group in groups.items() if not group]
    if empty:
        raise ValueError(f"no training documents for source(s) {empty}")
    return groups


def validation_sets(documents: Sequence[Document], tokenizer: Tokenizer, seq_len: int,
                    max_windows: int) -> dict[str, torch.Tensor]:
    """Fixed validation windows per source: plain (no FIM), at most ``max_windows`` in all, shared equally.

    Each source (in order of first appearance) gets ``max_windows // sources`` windows (the remainder to the first
    ones), packed from its own documents in an order shuffled by the source's name, so that the loss of every source
    is measured, not only that of the first documents. Incomplete last windows are dropped; a source too small for
    one window is left out; ``ValueError`` if no source fills a window.
    """
    if max_windows < 1 or seq_len < 1:
        raise ValueError(f"max_windows and seq_len must be >= 1, got {max_windows}, {seq_len}")
    by_source: dict[str, list[Document]] = {}
    for document in documents:
        by_source.setdefault(document.source, []).append(document)
    quotas = [max_windows // len(by_source) + (i < max_windows % len(by_source)) for i in range(len(by_source))]
    sets = {}
    for (source, group), quota in zip(by_source.items(), quotas):
        order = list(group)
        random.Random(f"valid/{source}").shuffle(order)
        windows = _plain_windows(order, tokenizer, seq_len + 1, quota)
        if windows:
            sets[source] = torch.tensor(windows, dtype=torch.long)
    if not sets:
        raise ValueError(f"validation documents ({len(documents)}) do not fill one window of seq_len + 1 = "
                         f"{seq_len + 1} tokens in any source; use more validation data or a shorter seq_len")
    return sets


def _plain_windows(documents: Sequence[Document], tokenizer: Tokenizer, length: int, count: int) -> list[list[int]]:
    """Up to ``count`` windows of ``length`` tokens packed from ``documents`` in order, each ``[BOS] text [EOS]``."""
    stream: list[int] = []
    windows: list[list[int]] = []
    for document in documents:
        if len(windows) == count:
            break
        stream += [tokenizer.bos_id, *tokenizer.encode(document.text), tokenizer.eos_id]
        while len(stream) >= length and len(windows) < count:
            windows.append(stream[:length])
            stream = stream[length:]
    return windows


def validation_windows(documents: Sequence[Document], tokenizer: Tokenizer, seq_len: int,
                       max_windows: int) -> torch.Tensor:
    """All of :func:`validation_sets`' windows in one tensor, source after source."""
    return torch.cat(list(validation_sets(documents, tokenizer, seq_len, max_windows).values()))
