"""How fast does one rank's reader turn a prepared corpus into training windows? Tokens/s per rank.

The reader is :class:`codellama_lite.data.streaming.ShardStream`: gzip JSONL shards read line by line, SentencePiece
encoding, FIM (rate 0.9, SPM half the time) and packing into windows of ``--seq-len + 1`` tokens. It runs on one
thread, as a rank's reader would beside its GPU, or with ``--workers N`` in N background processes
(:class:`codellama_lite.data.prefetch.ReadAheadStream`, the trainer's ``train.data_workers``), the windows taken
from them on the main thread. Target (issue 24): ten times what a 7B rank consumes at 45% MFU on an A100, about
3,500 tokens/s, so ≥ 35,000 tokens/s per rank.

The corpus is the standard library's ``.py`` files (or ``--inputs``), prepared once into a temporary folder with
``--shards`` shards; the rank is rank 0 of ``--world-size`` (it reads ``1 / world-size`` of the lanes).

    python benchmarks/bench_prepared.py                            # a 4,080-piece tokenizer trained first
    python benchmarks/bench_prepared.py --tokenizer tokenizer.model --seq-len 4096 --rounds 5
    python benchmarks/bench_prepared.py --workers 4                # four reader processes
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from codellama_lite.data import DataConfig
from codellama_lite.data.prefetch import ReadAheadStream
from codellama_lite.data.prepared import open_prepared, prepare
from codellama_lite.data.streaming import ShardStream
from codellama_lite.tokenizer import Tokenizer, default_corpus_files

TARGET = 35_000  # tokens/s per rank


def reader_rate(stream: ShardStream, batch: int, seconds: float) -> tuple[float, float]:
    """Tokens per second the stream produces (at least one batch, then until ``seconds`` have passed): per second
    of wall time, and per second of this process's CPU time (in-process: what one idle core gives, where on a shared
    machine the wall figure also counts the time other processes held the core; with workers: what taking their
    windows costs the training process)."""
    tokens, start, cpu = 0, time.perf_counter(), time.process_time()
    while tokens == 0 or time.perf_counter() - start < seconds:
        tokens += stream.next_batch(batch).numel()
    return tokens / (time.perf_counter() - start), tokens / max(time.process_time() - cpu, 1e-9)


def _corpus_jsonl(folder: Path, max_files: int | None) -> Path:
    path = folder / "stdlib.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for file in default_corpus_files()[:max_files]:
            try:
                handle.write(json.dumps({"content": file.read_text(encoding="utf-8")}) + "\n")
            except (OSError, UnicodeDecodeError):
                continue
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", nargs="*", default=None, help="inputs to prepare (default: the stdlib)")
    parser.add_argument("--max-files", type=int, default=None, help="stdlib files at most (default: all)")
    parser.add_argument("--tokenizer", type=Path, default=None, help="a .model (default: train 4,080 pieces)")
    parser.add_argument("--seq-len", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=2, help="windows per next_batch call (a micro-batch)")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--world-size", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="per round")
    parser.add_argument("--workers", type=int, default=0, help="reader processes (default: read in this thread)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        inputs = args.inputs or [str(_corpus_jsonl(root, args.max_files))]
        start = time.perf_counter()
        manifest = prepare(inputs, root / "prepared", shards=args.shards, workers=os.cpu_count())
        print(f"prepare: {time.perf_counter() - start:.1f} s, {manifest['documents']:,} documents, "
              f"{manifest['bytes'] / 1e6:.1f} MB, dedup {manifest['dedup']['exact_duplicates']} exact + "
              f"{manifest['dedup']['near_duplicates']} near")
        tokenizer = Tokenizer(args.tokenizer) if args.tokenizer else \
            Tokenizer.train(vocab_size=4080, model_path=root / "bench.model", max_files=150)
        config = DataConfig(sources={"code": [f"prepared:{root / 'prepared'}"]}, weights={"code": 1.0},
                            seq_len=args.seq_len)
        stream = ShardStream(open_prepared(config), tokenizer, config, rank=0, world_size=args.world_size) \
            if not args.workers else ReadAheadStream(open_prepared(config), tokenizer, config, rank=0,
                                                     world_size=args.world_size, workers=args.workers,
                                                     batch_size=args.batch)
        try:
            reader_rate(stream, args.batch, 0.5)  # warm-up: the first lines of each lane (and the workers' start)
            rounds = [reader_rate(stream, args.batch, args.seconds) for _ in range(args.rounds)]
        finally:
            if isinstance(stream, ReadAheadStream):
                stream.close()
    how = f"{stream.workers} worker processes" if args.workers else "one thread"
    print(f"reader, rank 0 of {args.world_size}, seq {args.seq_len}, FIM {config.fim_rate}, tokenizer "
          f"{tokenizer.vocab_size} pieces, {how}:")
    cpu = "main-process CPU" if args.workers else "CPU"  # with workers: what the training thread spends
    for name, rates in (("wall", [r[0] for r in rounds]), (cpu, [r[1] for r in rounds])):
        median = statistics.median(rates)
        print(f"  per {name:4} second {median:>10,.0f} tokens/s (rounds: {', '.join(f'{r:,.0f}' for r in rates)}); "
              f"target >= {TARGET:,}: {'met' if median >= TARGET else 'NOT met'} ({median / TARGET:.2f}x)")
    print(f"FIM'd documents {stream.fim_documents} of {stream.fim_documents + stream.plain_documents}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
