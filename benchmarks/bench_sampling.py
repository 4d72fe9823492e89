"""Sampling throughput for pass@k: our ``sample_many`` against transformers' ``generate(do_sample=True,
num_return_sequences=n)`` on the same weights, same run, alternating.

Workload: one prompt, ``n`` samples of ``--new`` tokens each at T = 0.8, top-p 0.95 (the paper's pass@10/100 protocol,
Code Llama §3), no stop token so both decode exactly the same number of tokens. Ours prefills the prompt once and
copies its KV cache to the n rows; transformers expands the prompt to n rows before its prefill. Also shown: ours one
sample at a time (``generate`` n times), what ``eval --checkpoint`` did before batching. Target: ours >= 2x
transformers' tokens per second.

The weights: by default a freshly initialised model (``--sharpen`` scales its output layer toward a trained model's
peaked distribution); ``--checkpoint DIR`` takes a trained export instead (e.g. the workbook's cached base model,
``~/.cache/codellama-lite/runs/base-laptop-*/final``) with a real toy-world test prompt — what ``eval toy
--checkpoint`` samples from. A flat next-token distribution puts most of the vocabulary in the top-p nucleus, so both
sides sort the whole vocabulary every step; a trained model's nucleus is a few tokens.

    python benchmarks/bench_sampling.py [--rounds 3] [--n 32] [--prompt 120] [--new 64] [--threads 1] [--sharpen 12]
    python benchmarks/bench_sampling.py --checkpoint DIR [--rounds 3] [--n 32] [--new 64]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch

from codellama_lite.accel import copies_current, use_cpu_kernels
from codellama_lite.config import ModelConfig
from codellama_lite.generate import generate, sample_many
from codellama_lite.interop import to_transformers
from codellama_lite.model import Transformer

TARGET = 2.0
# About the size of the workbook's laptop model, with a toy-world tokenizer's vocabulary.
CONFIG = ModelConfig(dim=256, n_layers=4, n_heads=8, n_kv_heads=4, vocab_size=2048, multiple_of=64)


def build(seed: int = 0, sharpen: float = 1.0) -> tuple[Transformer, object]:
    """Our model (as ``eval`` builds it: plain ``nn.Linear``) and a transformers twin holding the same weights.

    A freshly initialised model's next-token distribution is almost uniform (at T 0.8 its top-p 0.95 nucleus holds
    ~90% of the vocabulary); ``sharpen`` scales the output layer so that it is peaked like a trained model's.
    """
    torch.manual_seed(seed)
    model = Transformer(CONFIG).eval()
    with torch.no_grad():
        model.output.weight.mul_(sharpen)
    twin = to_transformers(model).eval()
    return copy.deepcopy(model), twin


def load_checkpoint(folder: Path) -> tuple[Transformer, object, list[int]]:
    """A trained export: ours (as ``eval --checkpoint`` loads it), transformers' ``LlamaForCausalLM.from_pretrained``
    on the same files, and the first toy-world test problem's prompt in the export's tokenizer."""
    from transformers import LlamaForCausalLM

    from codellama_lite.experiments.fim import load_model
    from codellama_lite.data.toyworld import problems

    ours, tokenizer = load_model(folder)
    twin = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    prompt = tokenizer.encode(problems("test", count=1)[0].prompt, bos=True)
    return ours, twin, prompt


def run_ours(model: Transformer, prompt: list[int], n: int, new: int) -> float:
    start = time.perf_counter()
    rows = sample_many(model, prompt, n, new, temperature=0.8, top_p=0.95, seed=0, batch_size=n)
    seconds = time.perf_counter() - start
    assert all(len(row.tokens) == new for row in rows)
    return n * new / seconds


def run_ours_one_at_a_time(model: Transformer, prompt: list[int], n: int, new: int) -> float:
    start = time.perf_counter()
    for index in range(n):
        assert len(generate(model, [prompt], new, temperature=0.8, top_p=0.95, seed=index)[0].tokens) == new
    return n * new / (time.perf_counter() - start)


@torch.inference_mode()
def run_transformers(twin, prompt: list[int], n: int, new: int) -> float:
    ids = torch.tensor([prompt])
    start = time.perf_counter()
    out = twin.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, num_return_sequences=n,
                        max_new_tokens=new, min_new_tokens=new, temperature=0.8, top_p=0.95, top_k=0,
                        pad_token_id=0, eos_token_id=None)
    seconds = time.perf_counter() - start
    assert out.shape == (n, len(prompt) + new)
    return n * new / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=32, help="samples per prompt")
    parser.add_argument("--prompt", type=int, default=120, help="prompt tokens")
    parser.add_argument("--new", type=int, default=64, help="new tokens per sample")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cpu-kernels", action="store_true",
                        help="ours with the opt-in oneDNN products and packed inference weights (codellama_lite.accel)")
    parser.add_argument("--sharpen", type=float, default=1.0,
                        help="scale the output layer (e.g. 12) for a trained-like, peaked next-token distribution")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a trained export (config.json, model.safetensors, tokenizer.model) instead of random "
                             "weights; the prompt is then a toy-world test problem's (default: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.checkpoint:
        ours, twin, prompt = load_checkpoint(args.checkpoint)
        weights = f"checkpoint {args.checkpoint}"
    else:
        ours, twin = build(sharpen=args.sharpen)
        prompt = [1] + torch.randint(3, CONFIG.vocab_size, (args.prompt - 1,),
                                     generator=torch.Generator().manual_seed(1)).tolist()
        weights = (f"random weights, dim {CONFIG.dim}, {CONFIG.n_layers} layers, vocab {CONFIG.vocab_size}, "
                   f"output layer x{args.sharpen}")
    if args.cpu_kernels:
        use_cpu_kernels(ours)
        weights += "; ours with the opt-in CPU kernels"
    with copies_current(ours):  # the weights do not change while we sample (a no-op without the CPU kernels)
        report(args, ours, twin, prompt, weights)


def report(args: argparse.Namespace, ours: Transformer, twin, prompt: list[int], weights: str) -> None:
    """Time ours and transformers, interleaved, and print the speeds and their ratio."""
    runs = {"ours (sample_many)": lambda: run_ours(ours, prompt, args.n, args.new),
            "transformers": lambda: run_transformers(twin, prompt, args.n, args.new)}
    for run in runs.values():  # warm-up: first-call costs (allocations, kernel selection)
        run()
    speeds: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(args.rounds):
        order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
        for name in order:
            speeds[name].append(runs[name]())
    one_at_a_time = run_ours_one_at_a_time(ours, prompt, args.n, args.new)
    print(f"{weights}; prompt {len(prompt)} tokens, n = {args.n} samples x {args.new} new tokens, T 0.8, top-p 0.95, "
          f"{args.threads} thread(s), {args.rounds} rounds")
    for name, values in speeds.items():
        print(f"{name:24} {statistics.median(values):9.0f} tokens/s (range {min(values):.0f}-{max(values):.0f})")
    print(f"{'ours, one at a time':24} {one_at_a_time:9.0f} tokens/s (generate n times, one round)")
    ratios = [a / b for a, b in zip(speeds["ours (sample_many)"], speeds["transformers"])]
    ratio = statistics.median(ratios)
    print(f"ratio ours / transformers: {ratio:.2f}x (per round {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"target >= {TARGET}x: {'met' if ratio >= TARGET else 'NOT met'})")


if __name__ == "__main__":
    main()
