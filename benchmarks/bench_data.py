"""Does the data pipeline keep up with the trainer? Tokens/s produced vs consumed, same run, alternating rounds.

Producer: :class:`PackedStream` over the default 85/8/7 corpus (seq 256, batch 8, FIM 0.9), one thread.
Consumer: the baseline toy (``ModelConfig.preset("small")``: hidden 256, 8 layers, vocab 4096) doing
forward + backward + AdamW on a batch of 8×256 in float32 on 2 threads. Target: ratio ≫ 1.

    python benchmarks/bench_data.py                       # full stdlib corpus, a 4,096-piece tokenizer trained first
    python benchmarks/bench_data.py --max-documents 300 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from codellama_lite.config import ModelConfig
from codellama_lite.data import PackedStream, build_corpus, default_data_config
from codellama_lite.model import Transformer
from codellama_lite.tokenizer import Tokenizer

SEQ, BATCH = 256, 8


def pipeline_rate(stream: PackedStream, seconds: float) -> float:
    """Tokens per second the stream packs (at least one batch, then until ``seconds`` have passed)."""
    tokens, start = 0, time.perf_counter()
    while tokens == 0 or time.perf_counter() - start < seconds:
        tokens += stream.next_batch(BATCH).numel()
    return tokens / (time.perf_counter() - start)


def trainer_rate(model: Transformer, optimizer: torch.optim.Optimizer, batch: torch.Tensor, steps: int) -> float:
    """Tokens per second of forward + backward + AdamW on ``batch`` (target tokens, as the trainer counts)."""
    start = time.perf_counter()
    for _ in range(steps):
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return steps * batch[:, 1:].numel() / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer", type=Path, default=None, help="a .model with 4,096 pieces (default: train one)")
    parser.add_argument("--max-documents", type=int, default=None, help="cap per source (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="trainer steps per round")
    args = parser.parse_args()
    torch.manual_seed(0)
    config = default_data_config(SEQ, max_documents=args.max_documents)
    start = time.perf_counter()
    corpus = build_corpus(config)
    print(f"build_corpus: {time.perf_counter() - start:.1f} s, {len(corpus.train)} train documents")
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = Tokenizer(args.tokenizer) if args.tokenizer else \
            Tokenizer.train(vocab_size=4080, model_path=Path(folder) / "bench.model", max_files=150)
    stream = PackedStream(corpus.train, tokenizer, config)
    model_config = ModelConfig.preset("small", vocab_size=tokenizer.vocab_size)
    model = Transformer(model_config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    batch = stream.next_batch(BATCH)
    torch.set_num_threads(2)
    trainer_rate(model, optimizer, batch, 1)  # warm-up
    produced, consumed = [], []
    for _ in range(args.rounds):
        torch.set_num_threads(1)
        produced.append(pipeline_rate(stream, seconds=2.0))
        torch.set_num_threads(2)
        consumed.append(trainer_rate(model, optimizer, batch, args.steps))
    ratios = [p / c for p, c in zip(produced, consumed)]
    print(f"pipeline  {statistics.median(produced):>12,.0f} tokens/s  "
          f"(rounds: {', '.join(f'{p:,.0f}' for p in produced)})")
    print(f"trainer   {statistics.median(consumed):>12,.0f} tokens/s  "
          f"(rounds: {', '.join(f'{c:,.0f}' for c in consumed)})")
    print(f"ratio     {statistics.median(ratios):>12.1f}x  (range {min(ratios):.1f}-{max(ratios):.1f}; target >> 1)")
    print(f"realized mix: {stream.realized_shares()}; epochs: {stream.epochs()}; "
          f"FIM'd documents {stream.fim_documents} of {stream.fim_documents + stream.plain_documents}")


if __name__ == "__main__":
    main()
