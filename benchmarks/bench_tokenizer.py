"""Encode throughput: our Tokenizer against raw SentencePiece, same corpus, same run, alternating rounds.

Targets: ``Tokenizer.encode`` on one thread ≥ 0.9× raw ``SentencePieceProcessor.encode``;
``Tokenizer.encode_batch`` on every core ≥ 1.6× our one-thread figure.

    python benchmarks/bench_tokenizer.py                 # trains an 8,000-piece model on the stdlib first
    python benchmarks/bench_tokenizer.py --model tokenizer.model --max-bytes 20000000 --rounds 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from codellama_lite.tokenizer import Tokenizer, cpu_cores, read_corpus

TARGET_SINGLE = 0.9
TARGET_BATCH = 1.6


def _busy_ticks() -> int:
    """Non-idle CPU ticks of the whole machine so far (Linux ``/proc/stat``; 0 elsewhere)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0
    return sum(fields[:8]) - fields[3] - fields[4]  # all minus idle and iowait


def _seconds(run: Callable[[], object], foreign: list[float]) -> float:
    """Wall seconds of ``run``; appends to ``foreign`` the CPU seconds other processes used meanwhile."""
    ticks, own, start = _busy_ticks(), time.process_time(), time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    machine = (_busy_ticks() - ticks) / os.sysconf("SC_CLK_TCK")
    foreign.append(max(0.0, machine - (time.process_time() - own)) / elapsed)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a SentencePiece model (default: train one on the stdlib)")
    parser.add_argument("--vocab-size", type=int, default=8000, help="base vocabulary when training (default 8000)")
    parser.add_argument("--max-bytes", type=int, default=8_000_000, help="corpus size to encode (default 8 MB)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds; medians are reported")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as workdir:
        tokenizer = (Tokenizer(args.model) if args.model else
                     Tokenizer.train(vocab_size=args.vocab_size, model_path=Path(workdir) / "bench.model"))
    texts, report = read_corpus(max_bytes=args.max_bytes)
    raw = tokenizer.processor  # the very same SentencePieceProcessor, called directly
    threads = cpu_cores()
    print(f"model: {tokenizer}; corpus: {report}; cores: {threads}")

    contenders: dict[str, Callable[[], object]] = {
        "sentencepiece, 1 thread": lambda: [raw.encode(text) for text in texts],
        "ours encode, 1 thread": lambda: [tokenizer.encode(text) for text in texts],
        f"ours encode_batch, {threads} threads": lambda: tokenizer.encode_batch(texts),
    }
    names = list(contenders)
    assert tokenizer.encode_batch(texts[:50]) == [raw.encode(text) for text in texts[:50]]  # same work
    contenders[names[0]]()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in names}
    foreign: list[float] = []
    for round_number in range(args.rounds):
        order = names if round_number % 2 == 0 else names[::-1]
        for name in order:
            times[name].append(_seconds(contenders[name], foreign))

    megabytes = report.bytes_read / 1e6
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name in names:
        print(f"{name:<32} median {medians[name]:.3f} s  {megabytes / medians[name]:6.2f} MB/s  "
              f"(min {min(times[name]):.3f}, max {max(times[name]):.3f})")
    single = medians[names[0]] / medians[names[1]]
    batch = medians[names[1]] / medians[names[2]]
    # Ratios taken round by round (the contenders ran back to back) are steadier on a machine whose load drifts.
    paired_single = statistics.median(a / b for a, b in zip(times[names[0]], times[names[1]]))
    paired_batch = statistics.median(a / b for a, b in zip(times[names[1]], times[names[2]]))
    print(f"other processes used {statistics.mean(foreign):.2f} of {threads} cores on average during the timings "
          f"(max {max(foreign):.2f}); ratios are only meaningful near 0")
    print(f"round-by-round median ratios: ours/sentencepiece {paired_single:.3f}x, batch/ours {paired_batch:.3f}x")
    print(f"ours / sentencepiece (1 thread):      {single:.3f}x  target >= {TARGET_SINGLE}x  "
          f"{'PASS' if single >= TARGET_SINGLE else 'FAIL'}")
    print(f"batch ({threads} threads) / ours 1 thread: {batch:.3f}x  target >= {TARGET_BATCH}x  "
          f"{'PASS' if batch >= TARGET_BATCH else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
