"""A rank's streamed windows read by background processes, so that tokenization, FIM and packing run beside the
training thread instead of on it (``train.data_workers``).

:class:`ReadAheadStream` is a :class:`~codellama_lite.data.streaming.ShardStream` whose lanes are packed by ``N``
reader processes (a :class:`torch.utils.data.DataLoader` over :class:`LaneReader`). Worker ``w`` owns the rank's
lanes ``w, w + N, ...`` (at most one worker per lane: extra ones would have nothing to read) and sends, per item,
the next ``chunk`` windows of each of its lanes together with each lane's packer state after every window. The
training thread keeps a queue of windows per lane and takes global window ``g`` from lane ``g % K`` exactly as
:class:`ShardStream` does, so the windows, and their order, are the same for any number of workers.

The position saved (:meth:`ReadAheadStream.state_dict`) is the one the trainer has *consumed*: each lane's state
after the last window taken from its queue, never what the workers have read ahead. It is the in-process stream's
state, so a run saved with workers resumes without them and the other way round; loading a state restarts the
workers from it. Read-ahead is bounded: ``prefetch`` items per worker in flight, plus what the queues hold (each
round of items brings ``chunk`` windows of every lane, and the lanes are consumed at the same pace).

The workers are started with ``spawn``: the trainer's process holds threads (gloo, background checkpoint writes,
OpenMP) and may hold a CUDA context, and ``fork`` copies such a process with whatever locks those threads held,
which can deadlock a child; a spawned child is a fresh interpreter, at the cost of importing torch once per worker
at start and resume. Workers ignore Ctrl-C (the trainer decides when to stop) and are stopped by :meth:`close`.
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from codellama_lite.data.config import DataConfig
from codellama_lite.data.prepared import PreparedCorpus
from codellama_lite.data.streaming import ShardStream
from codellama_lite.tokenizer import Tokenizer


@dataclass(frozen=True)
class LaneChunk:
    """One worker item: for each lane it owns, ``windows[i]`` (``chunk × (seq_len + 1)``) and the lane's packer state
    after each of those windows."""

    lanes: tuple[int, ...]
    windows: torch.Tensor
    states: tuple[tuple[dict[str, Any], ...], ...]


class LaneReader(IterableDataset):
    """The endless :class:`LaneChunk` items of one rank's lanes, split among the DataLoader's workers by ``shares``
    (worker ``w`` reads ``shares[w]``), each lane continuing from ``states[lane]``."""

    def __init__(self, corpora: dict[str, PreparedCorpus], tokenizer: Tokenizer, config: DataConfig, rank: int,
                 world_size: int, shares: list[list[int]], states: dict[int, dict[str, Any]], chunk: int) -> None:
        self.corpora, self.tokenizer, self.config = corpora, tokenizer, config
        self.rank, self.world_size, self.shares, self.states, self.chunk = rank, world_size, shares, states, chunk

    def __iter__(self) -> Iterator[LaneChunk]:
        info = get_worker_info()
        lanes = tuple(self.shares[info.id if info is not None else 0])
        stream = ShardStream(self.corpora, self.tokenizer, self.config, rank=self.rank, world_size=self.world_size)
        for lane in lanes:
            stream.lanes[lane].load_state_dict(self.states[lane])
        while True:
            windows, states = [], []
            for lane in lanes:
                rows = [(stream.read_window(lane), stream.lanes[lane].state_dict()) for _ in range(self.chunk)]
                windows.append(torch.stack([row for row, _ in rows]))
                states.append(tuple(state for _, state in rows))
            yield LaneChunk(lanes, torch.stack(windows), tuple(states))


def _ignore_interrupts(worker_id: int) -> None:
    """A worker leaves Ctrl-C to the trainer, which stops after its step and then closes the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ReadAheadStream(ShardStream):
    """:class:`ShardStream`'s windows, packed by ``workers`` background processes (see the module docstring).

    ``batch_size``: the windows a :meth:`next_batch` call usually asks for; a round of worker items brings about
    that many. The workers start at the first :meth:`next_batch` and run until :meth:`close`."""

    def __init__(self, corpora: dict[str, PreparedCorpus], tokenizer: Tokenizer, config: DataConfig, *,
                 rank: int = 0, world_size: int = 1, workers: int = 1, batch_size: int = 1,
                 prefetch: int = 2) -> None:
        super().__init__(corpora, tokenizer, config, rank=rank, world_size=world_size)
        if workers < 1 or batch_size < 1 or prefetch < 1:
            raise ValueError(f"workers, batch_size and prefetch must be >= 1, got {workers}, {batch_size}, "
                             f"{prefetch}")
        self._corpora, self._tokenizer, self.prefetch = corpora, tokenizer, prefetch
        self.workers = min(workers, len(self.lanes))
        self.chunk = -(-batch_size // len(self.lanes))
        self._consumed = super()._lane_states()
        self._queues: dict[int, deque[tuple[torch.Tensor, dict[str, Any]]]] = {lane: deque() for lane in self.lanes}
        self._items: Iterator[LaneChunk] | None = None

    def _window(self, lane: int) -> torch.Tensor:
        queue = self._queues[lane]
        while not queue:
            self._receive()
        window, self._consumed[str(lane)] = queue.popleft()
        return window

    def _receive(self) -> None:
        """The next worker item, its windows queued by lane (the workers start with the first call)."""
        if self._items is None:
            self._items = iter(self._loader())
        item = next(self._items)
        for lane, windows, states in zip(item.lanes, item.windows, item.states):
            self._queues[lane].extend(zip(windows, states))

    def _loader(self) -> DataLoader:
        lanes = list(self.lanes)
        shares = [lanes[worker::self.workers] for worker in range(self.workers)]
        reader = LaneReader(self._corpora, self._tokenizer, self.config, self.rank, self.world_size, shares,
                            {lane: self._consumed[str(lane)] for lane in lanes}, self.chunk)
        return DataLoader(reader, batch_size=None, num_workers=self.workers, prefetch_factor=self.prefetch,
                          multiprocessing_context="spawn", worker_init_fn=_ignore_interrupts)

    def _lane_states(self) -> dict[str, dict[str, Any]]:
        return dict(self._consumed)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``: the workers (if running) are stopped and start again from it."""
        self.check_state(state)
        self.close()
        self._consumed = {str(lane): state["lanes"][str(lane)] for lane in self.lanes}
        self.windows = int(state["windows"])

    def close(self) -> None:
        """Stop the workers and drop what they read ahead (the next :meth:`next_batch` starts them again from the
        consumed position); safe to call more than once."""
        items, self._items = self._items, None
        if items is not None:
            items._shutdown_workers()  # type: ignore[attr-defined]  # what the iterator's __del__ does, now
        for queue in self._queues.values():
            queue.clear()

    def __enter__(self) -> ReadAheadStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
