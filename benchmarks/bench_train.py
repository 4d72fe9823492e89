"""Our training step, as the trainer runs it, against a plain PyTorch loop over transformers' ``LlamaForCausalLM``;
then the whole trainer (data, logging, checkpoints) against the bare step.

The baseline toy: the ``small`` preset (hidden 256, 8 layers, 8 / 4 heads, FFN 688, vocabulary 4,096), batch
8 × 256 tokens, float32, 2 threads, AdamW (0.9, 0.95, weight decay 0.1), gradient clipping 1.0.

* ``step``: ours is :func:`codellama_lite.train.loop.train_step` on the model the trainer builds (plain
  ``nn.Linear``, as ``train.cpu_kernels = false``, the default); theirs is ``loss = model(ids, labels=ids).loss;
  backward; clip; step``. Each side runs in its own fresh subprocess (its peak RSS is its own), alternating,
  ``--rounds`` times; medians. Targets: tokens/s ≥ 1.3× transformers; peak RSS ≤ transformers'.
  Variants, each applied from outside the model: ``--compile`` compiles *both* sides' models (``module.compile()``),
  ``--bf16`` runs *both* forward passes under CPU bfloat16 autocast (the float32 weights and optimizer unchanged),
  ``--cpu-kernels`` gives ours the opt-in oneDNN products (:mod:`codellama_lite.accel`, ``train.cpu_kernels = true``).
* ``trainer``: ``codellama-lite train`` end to end on the embedded corpus (packed stream with FIM, metrics.jsonl,
  progress bar, a checkpoint every ``--checkpoint-every`` steps) against the bare step, tokens/s over the same steps
  after warm-up. Target: within 10%.

    python benchmarks/bench_train.py                 # both (about 10 minutes on 2 idle cores)
    python benchmarks/bench_train.py --only step --rounds 5
    python benchmarks/bench_train.py --only step --compile        # both sides compiled
    python benchmarks/bench_train.py --only step --bf16           # both sides under CPU bfloat16 autocast
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from codellama_lite.config import ModelConfig

CONFIG = ModelConfig.preset("small")
BATCH, SEQ, THREADS = 8, 256, 2
WARMUP = 3


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _batch(seed: int) -> torch.Tensor:
    return torch.randint(0, CONFIG.vocab_size, (BATCH, SEQ + 1), generator=torch.Generator().manual_seed(seed))


def _precision(bf16: bool):
    """The forward pass's precision context: CPU bfloat16 autocast, or none (float32)."""
    return lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def ours_worker(steps: int, compile_model: bool = False, bf16: bool = False, cpu_kernels: bool = False) -> list[float]:
    from codellama_lite.accel import use_cpu_kernels
    from codellama_lite.model import Transformer
    from codellama_lite.train.distributed import World
    from codellama_lite.train.loop import train_step
    from codellama_lite.train.optim import build_optimizer
    from codellama_lite.train.recipe import OptimSection

    torch.manual_seed(0)
    model = Transformer(CONFIG)
    if cpu_kernels:
        use_cpu_kernels(model)
    if compile_model:
        model.compile()
    optimizer = build_optimizer(model, OptimSection(lr=1e-4))
    world = World(0, 1, torch.device("cpu"))
    times = []
    for step in range(steps + WARMUP):
        batch = _batch(step)
        start = time.perf_counter()
        train_step(model, optimizer, [batch], 1e-4, 1.0, world, _precision(bf16))
        times.append(time.perf_counter() - start)
    return times[WARMUP:]


def hf_worker(steps: int, compile_model: bool = False, bf16: bool = False) -> list[float]:
    from codellama_lite.interop import to_transformers
    from codellama_lite.model import Transformer

    torch.manual_seed(0)
    model = to_transformers(Transformer(CONFIG)).train()
    if compile_model:
        model.compile()
    decayed = [p for p in model.parameters() if p.dim() >= 2]
    plain = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decayed, "weight_decay": 0.1}, {"params": plain, "weight_decay": 0.0}],
                                  lr=1e-4, betas=(0.9, 0.95))
    times = []
    for step in range(steps + WARMUP):
        batch = _batch(step)
        start = time.perf_counter()
        with _precision(bf16)():
            loss = model(batch[:, :-1], labels=batch[:, :-1]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return times[WARMUP:]


def _worker(impl: str, steps: int, variant: tuple[str, ...] = ()) -> dict:
    command = [sys.executable, __file__, "--worker", impl, "--steps", str(steps), *variant]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {impl} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_step(rounds: int, steps: int, variant: tuple[str, ...] = ()) -> dict[str, float]:
    runs: dict[str, list[dict]] = {"ours": [], "hf": []}
    for round_ in range(rounds):
        for impl in runs:
            runs[impl].append(_worker(impl, steps, variant if impl == "ours" else
                                      tuple(flag for flag in variant if flag != "--cpu-kernels")))
        print(f"  round {round_ + 1}/{rounds}: " + ", ".join(
            f"{impl} {BATCH * SEQ / statistics.median(r[-1]['times']):,.0f} tok/s" for impl, r in runs.items()),
            flush=True)
    speed = {impl: BATCH * SEQ / statistics.median([t for r in rs for t in r["times"]]) for impl, rs in runs.items()}
    rss = {impl: statistics.median(r["peak_rss_mb"] for r in rs) for impl, rs in runs.items()}
    per_round = [statistics.median(h["times"]) / statistics.median(o["times"])
                 for o, h in zip(runs["ours"], runs["hf"])]
    precision = "CPU bfloat16 autocast" if "--bf16" in variant else "float32"
    applied = ", ".join(flag.lstrip("-") for flag in variant if flag != "--bf16") or "eager"
    print(f"\ntraining step, small preset, batch {BATCH}x{SEQ}, {precision}, {applied}, AdamW + clipping, "
          f"{THREADS} threads ({rounds} processes x {steps} steps per side, medians)")
    print(f"  ours (train_step)        {speed['ours']:8,.0f} tok/s   peak RSS {rss['ours']:6.0f} MB")
    print(f"  transformers plain loop  {speed['hf']:8,.0f} tok/s   peak RSS {rss['hf']:6.0f} MB")
    print(f"  speed ratio {speed['ours'] / speed['hf']:.2f}x (per round {min(per_round):.2f}-{max(per_round):.2f}); "
          f"RSS ratio {rss['ours'] / rss['hf']:.2f}")
    return speed


def bench_trainer(steps: int, checkpoint_every: int) -> None:
    """The trainer end to end vs the bare step, the same shape and steps."""
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        command = [sys.executable, "-m", "codellama_lite", "train", "--recipe", "base", "--profile", "smoke",
                   "--out", str(run), "--max-steps", str(steps + WARMUP), "--checkpoint-every", str(checkpoint_every),
                   "--no-progress", "--set", "model.preset=small", "--set", "model.vocab_size=4096",
                   "--set", "tokenizer.vocab_size=1000", "--set", f"train.seq_len={SEQ}",
                   "--set", f"train.micro_batch={BATCH}", "--set", f"train.global_batch={BATCH}",
                   "--set", "train.eval_every=0", "--set", f"train.threads={THREADS}",
                   "--set", "data.max_documents=200"]
        subprocess.run(command, check=True, capture_output=True, text=True)
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    elapsed = rows[-1]["elapsed_s"] - rows[WARMUP - 1]["elapsed_s"]
    trainer = steps * BATCH * SEQ / elapsed
    bare_times = _worker("ours", steps)["times"]
    bare = steps * BATCH * SEQ / sum(bare_times)
    print(f"\nwhole trainer ({steps} steps after {WARMUP} warm-up, checkpoint every {checkpoint_every}, data, "
          f"metrics.jsonl): {trainer:,.0f} tok/s; bare train_step: {bare:,.0f} tok/s; "
          f"trainer / bare = {trainer / bare:.3f} (target >= 0.90)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("step", "trainer"), default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--trainer-steps", type=int, default=200)
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--compile", action="store_true", help="step: compile both sides' models")
    parser.add_argument("--bf16", action="store_true", help="step: both forward passes under CPU bfloat16 autocast")
    parser.add_argument("--cpu-kernels", action="store_true", help="step: ours with the opt-in oneDNN products")
    parser.add_argument("--worker", choices=("ours", "hf"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    if args.worker:
        options = {"compile_model": args.compile, "bf16": args.bf16}
        times = (ours_worker(args.steps, cpu_kernels=args.cpu_kernels, **options) if args.worker == "ours"
                 else hf_worker(args.steps, **options))
        print(json.dumps({"times": times, "peak_rss_mb": _rss_mb()}))
        return 0
    print(f"torch {torch.__version__}; {CONFIG}")
    variant = tuple(flag for flag, on in (("--compile", args.compile), ("--bf16", args.bf16),
                                          ("--cpu-kernels", args.cpu_kernels)) if on)
    if args.only in (None, "step"):
        bench_step(args.rounds, args.steps, variant)
    if args.only in (None, "trainer"):
        bench_trainer(args.trainer_steps, args.checkpoint_every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
