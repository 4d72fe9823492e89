"""Training windows streamed from prepared corpora (:mod:`codellama_lite.data.prepared`): each rank reads only its
own shards, holds no corpus, and the global sequence of windows does not depend on the number of ranks.

The corpus is read in ``K`` lanes, ``K`` the smallest shard count among the recipe's prepared sources. Lane ``l``
reads, of every source, the shards whose number is ``l`` modulo ``K``, in stored order (the prepare shuffled them
once), and packs them as :class:`~codellama_lite.data.packing.PackedStream` packs in-memory documents: the same
85 / 8 / 7 mix by tokens, FIM drawn per document and never cut, windows of ``seq_len + 1`` tokens. Global window
``g`` is window ``g // K`` of lane ``g % K``.

Each step's ``W × b`` global windows go to the ``W`` ranks by ``g mod W``; rank ``r`` therefore only ever needs the
lanes ``l ≡ r (mod W)`` (``W`` must divide ``K``), and reads nothing else. One process with ``next_batch(W × b)``
gets the same windows as the ``W`` ranks together, so the losses do not depend on ``W``. The position
(:meth:`ShardStream.state_dict`) is the global window count and each lane's packer state: ranks hold only their
lanes', :func:`merge_states` joins them, and a joined state resumes at any ``W`` that divides ``K``.
"""

from __future__ import annotations

from typing import Any

import torch

from codellama_lite.data.config import DataConfig
from codellama_lite.data.packing import PackedStream, max_piece_chars
from codellama_lite.data.prepared import PreparedCorpus, ShardDocuments
from codellama_lite.tokenizer import Tokenizer


def lane_count(corpora: dict[str, PreparedCorpus]) -> int:
    """``K``: every lane must have a shard of every source."""
    return min(len(corpus.shards) for corpus in corpora.values())


class ShardStream:
    """The windows of rank ``rank`` of ``world_size`` over prepared sources (see the module docstring); the same
    interface as :class:`~codellama_lite.data.packing.PackedStream`."""

    def __init__(self, corpora: dict[str, PreparedCorpus], tokenizer: Tokenizer, config: DataConfig, *,
                 rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        missing = sorted(set(config.weights) - set(corpora))
        if missing:
            raise ValueError(f"no prepared corpus for source(s) {missing}")
        self.lane_total = lane_count(corpora)
        if self.lane_total % world_size:
            shards = {source: len(corpus.shards) for source, corpus in corpora.items()}
            raise ValueError(f"the prepared sources have {self.lane_total} lanes (shards per source: {shards}); the "
                             f"number of processes ({world_size}) must divide it: prepare with --shards a multiple "
                             f"of {world_size}")
        self.config, self.rank, self.world_size = config, rank, world_size
        max_piece = max_piece_chars(tokenizer) if config.fim_rate > 0 else 1
        self.lanes = {lane: PackedStream([], tokenizer, config, groups=self._lane_documents(corpora, lane),
                                         fim_key=f"/lane{lane}", max_piece=max_piece)
                      for lane in range(rank, self.lane_total, world_size)}
        self.windows = 0

    def _lane_documents(self, corpora: dict[str, PreparedCorpus], lane: int) -> dict[str, ShardDocuments]:
        return {source: ShardDocuments(corpora[source], range(lane, len(corpora[source].shards), self.lane_total))
                for source in self.config.weights}

    def next_batch(self, batch_size: int) -> torch.Tensor:
        """This rank's next ``batch_size`` windows, ``(batch_size, seq_len + 1)``: of the next ``world_size ×
        batch_size`` global windows, those whose number is ``rank`` modulo ``world_size``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        first = self.windows + self.rank
        mine = [self._window(g % self.lane_total)
                for g in range(first, self.windows + self.world_size * batch_size, self.world_size)]
        self.windows += self.world_size * batch_size
        return torch.stack(mine)

    def read_window(self, lane: int) -> torch.Tensor:
        """The next window of ``lane``, packed here and now."""
        return torch.tensor(self.lanes[lane]._next_window(), dtype=torch.long)

    def _window(self, lane: int) -> torch.Tensor:
        """The next window of ``lane`` for :meth:`next_batch` (a subclass may take it from reader processes)."""
        return self.read_window(lane)

    def _lane_states(self) -> dict[str, dict[str, Any]]:
        """Each of this rank's lanes' packer state at the position :meth:`next_batch` has reached."""
        return {str(lane): stream.state_dict() for lane, stream in self.lanes.items()}

    # -- what it has produced --

    def _tokens(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for lane in self._lane_states().values():
            for source, cursor in lane["sources"].items():
                total[source] = total.get(source, 0) + cursor["tokens"]
        return total

    def realized_shares(self) -> dict[str, float]:
        """Token shares per source over this rank's lanes."""
        tokens = self._tokens()
        total = sum(tokens.values())
        return {source: (count / total if total else 0.0) for source, count in tokens.items()}

    def epochs(self) -> dict[str, float]:
        """Passes started over each source, averaged over this rank's lanes."""
        states = self._lane_states()
        passes = [{source: cursor["epoch"] + cursor["position"] / self.lanes[int(lane)].mixer.sizes[source]
                   for source, cursor in state["sources"].items()} for lane, state in states.items()]
        return {source: sum(p[source] for p in passes) / len(passes) for source in passes[0]}

    @property
    def fim_documents(self) -> int:
        return sum(state["documents"]["fim"] for state in self._lane_states().values())

    @property
    def plain_documents(self) -> int:
        return sum(state["documents"]["plain"] for state in self._lane_states().values())

    # -- resume --

    def state_dict(self) -> dict[str, Any]:
        """The global window count and this rank's lanes' states (JSON-serialisable)."""
        return {"windows": self.windows, "lanes_total": self.lane_total, "seq_len": self.config.seq_len,
                "seed": self.config.seed, "lanes": self._lane_states()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (a rank's own, or :func:`merge_states` of every rank's at any world size)."""
        self.check_state(state)
        for lane, stream in self.lanes.items():
            stream.load_state_dict(state["lanes"][str(lane)])
        self.windows = int(state["windows"])

    def check_state(self, state: dict[str, Any]) -> None:
        """``ValueError`` unless ``state`` is a position of these lanes (same settings, this rank's lanes in it)."""
        for key, ours in (("lanes_total", self.lane_total), ("seq_len", self.config.seq_len),
                          ("seed", self.config.seed)):
            if state.get(key) != ours:
                raise ValueError(f"data state: {key}={state.get(key)!r} does not match this stream's {ours!r}")
        absent = [lane for lane in self.lanes if str(lane) not in state["lanes"]]
        if absent:
            raise ValueError(f"data state: lanes {absent} are not in the saved state (join every rank's state with "
                             "merge_states)")


def merge_states(states: list[dict[str, Any]]) -> dict[str, Any]:
    """Every rank's :meth:`ShardStream.state_dict` joined into one that holds every lane; they must agree on the
    rest (the same step)."""
    merged = dict(states[0], lanes={})
    for state in states:
        if {key: value for key, value in state.items() if key != "lanes"} != \
                {key: value for key, value in merged.items() if key != "lanes"}:
            raise ValueError("data state: the ranks' stream states disagree on the window count or settings")
        merged["lanes"].update(state["lanes"])
    return merged
