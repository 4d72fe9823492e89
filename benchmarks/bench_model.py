"""Our decoder against transformers' ``LlamaForCausalLM``: training throughput, peak memory, cached greedy decoding.

Same run, same shape, alternating: hidden 256, 8 layers, 8 query / 4 key-value heads, FFN 688,
vocabulary 4,096, rope_theta 1e6 (the ``small`` preset); float32 on CPU with 2 threads; AdamW.

* Training: batch 8 × 256 tokens, forward + cross-entropy + backward + AdamW step. Each side runs in its own fresh
  subprocess (so its peak RSS is its own), ours and theirs alternately, ``--rounds`` times; medians and ratios.
  Targets: tokens/s ≥ 1.3× transformers; peak RSS ≤ transformers'.
* Generation: greedy, 256 new tokens after a 32-token prompt, with the KV cache, batch 1 and 8 (both sides in one
  process, alternating; the tokens must agree). Targets: ≥ 2× at batch 1, ≥ 1.5× at batch 8.
* ``--compile``: also time ours with ``torch.compile``: the training forward + loss, and decoding with
  ``generate(..., compile=True)`` (compilation excluded, reported separately; transformers stays uncompiled).
* Layout (``--only layout``): our inference weight layouts (``plain`` F.linear, ``transposed`` copy, oneDNN
  ``packed`` copy; see :class:`codellama_lite.accel.OneDNNLinear`): one step's matrix products alone, then generation.
* Products (``--only products``): the three matrix products of training each linear layer (forward, grad_input,
  grad_weight) at the training shapes, MKL (what ``F.linear``'s autograd runs) against oneDNN (what our ``Linear``
  runs in training; see :class:`codellama_lite.model.Linear`), alternating, medians.
* ``--cpu-kernels``: ours with the opt-in oneDNN products of :mod:`codellama_lite.accel` (training and generation;
  default: plain ``nn.Linear``, as the trainer and ``eval`` run it). Layout and products always use them.
* ``--mfu``: on a CUDA GPU, model-FLOPs utilisation of a bf16 training step of the ``1b`` preset (skipped on CPU).

    python benchmarks/bench_model.py                # everything (about 5 minutes on 2 cores)
    python benchmarks/bench_model.py --only generate --rounds 5
    python benchmarks/bench_model.py --only layout
    python benchmarks/bench_model.py --only products
"""

from __future__ import annotations

import argparse
import collections
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from codellama_lite.config import ModelConfig
from codellama_lite.costs import flops_per_token
from codellama_lite.accel import OneDNNLinear as Linear, copies_current, drop_inference_weights, use_cpu_kernels
from codellama_lite.accel import _onednn_grad_input, _onednn_grad_weight, _onednn_linear
from codellama_lite.model import Transformer

CONFIG = ModelConfig.preset("small")
BATCH, SEQ = 8, 256
THREADS = 2
CPU_KERNELS = False  # --cpu-kernels: ours with codellama_lite.accel's oneDNN products (opt-in)
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(impl: str, config: ModelConfig = CONFIG, seed: int = 0):
    """Our model or a transformers twin with the same weights; a callable tokens -> logits."""
    torch.manual_seed(seed)
    model = Transformer(config)
    if impl == "ours":
        if CPU_KERNELS:
            use_cpu_kernels(model)
        return model, model
    from codellama_lite.interop import to_transformers

    twin = to_transformers(model).train()
    del model
    return twin, lambda tokens: twin(tokens).logits


# -- workers (one side, one process) ----------------------------------------------------------------------------

def train_worker(impl: str, steps: int, compile_model: bool) -> dict:
    torch.set_num_threads(THREADS)
    rss_start = _rss_mb()
    module, forward = build(impl)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)
    data = torch.randint(0, CONFIG.vocab_size, (BATCH, SEQ + 1), generator=torch.Generator().manual_seed(1))
    inputs, targets = data[:, :-1], data[:, 1:]

    def loss_of(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = forward(inputs)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    if compile_model:  # forward and loss in one graph: the cross-entropy fuses with the logits
        loss_of = torch.compile(loss_of)

    def step() -> float:
        loss = loss_of(inputs, targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    rss_model = _rss_mb()
    start = time.perf_counter()
    step()  # warm-up: optimizer state, allocator, (compilation)
    warmup = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"impl": impl, "compiled": compile_model, "step_seconds": times, "warmup_seconds": warmup,
            "peak_rss_mb": _rss_mb(), "rss_before_model_mb": rss_start, "rss_with_model_mb": rss_model}


def run_worker(impl: str, steps: int, compile_model: bool) -> dict:
    command = [sys.executable, __file__, "--worker", impl, "--train-steps", str(steps)]
    if compile_model:
        command.append("--compile")
    if CPU_KERNELS:
        command.append("--cpu-kernels")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {impl} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the comparisons ----------------------------------------------------------------------------------------------

def bench_training(rounds: int, steps: int, compile_model: bool) -> None:
    tokens = BATCH * SEQ
    results: dict[str, list[dict]] = {"ours": [], "transformers": []}
    if compile_model:
        results["ours+compile"] = []
    for round_ in range(rounds):
        for label in results:
            impl = "ours" if label.startswith("ours") else "hf"
            results[label].append(run_worker(impl, steps, label == "ours+compile"))
        print(f"  round {round_ + 1}/{rounds}: " + ", ".join(
            f"{label} {tokens / statistics.median(r[-1]['step_seconds']):,.0f} tok/s" for label, r in results.items()),
            flush=True)
    base_speed = tokens / statistics.median([t for r in results["transformers"] for t in r["step_seconds"]])
    base_rss = statistics.median(r["peak_rss_mb"] for r in results["transformers"])
    print(f"\ntraining step, batch {BATCH}x{SEQ}, float32, AdamW, {THREADS} threads ({rounds} processes x {steps} "
          "steps each, medians)")
    print(f"{'':>14} {'tokens/s':>10} {'ratio':>6} {'peak RSS MB':>12} {'ratio':>6} {'RSS growth MB':>14}")
    for label, runs in results.items():
        speed = tokens / statistics.median([t for r in runs for t in r["step_seconds"]])
        rss = statistics.median(r["peak_rss_mb"] for r in runs)
        growth = statistics.median(r["peak_rss_mb"] - r["rss_before_model_mb"] for r in runs)
        print(f"{label:>14} {speed:10,.0f} {speed / base_speed:5.2f}x {rss:12,.0f} {rss / base_rss:5.2f}x "
              f"{growth:14,.0f}")
        if label == "ours+compile":
            print(f"{'':>14} (compilation: {statistics.median(r['warmup_seconds'] for r in runs):.0f} s per process)")
    print("targets: tokens/s >= 1.30x transformers; peak RSS <= transformers'")


def bench_generation(rounds: int, new_tokens: int, prompt_len: int, batches: list[int], compile_model: bool) -> None:
    from codellama_lite.interop import to_transformers

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    ours = Transformer(CONFIG).eval()  # built as a user builds them: outside inference mode
    twin = to_transformers(ours)
    if CPU_KERNELS:
        use_cpu_kernels(ours)
    print(f"\ngreedy generation, {new_tokens} new tokens after {prompt_len} prompt tokens, KV cache, float32, "
          f"{THREADS} threads ({rounds} alternating rounds, medians); ours: "
          f"{'oneDNN, inference layout ' + Linear.inference_layout if CPU_KERNELS else 'plain nn.Linear'}")
    with torch.inference_mode():
        _compare_generation(ours, twin, rounds, new_tokens, prompt_len, batches, compile_model)
    print(f"extra memory of our inference weight copies: {drop_inference_weights(ours) / 2**20:.1f} MiB "
          f"(weights {sum(p.nbytes for p in ours.parameters()) / 2**20:.1f} MiB)")


def _compare_generation(ours: Transformer, twin, rounds: int, new_tokens: int, prompt_len: int, batches: list[int],
                        compile_model: bool) -> None:
    from codellama_lite.generate import generate

    print(f"{'batch':>5} {'ours tok/s':>11} {'transformers tok/s':>19} {'ratio':>6} {'target':>6} {'same tokens':>11}")
    for batch in batches:
        prompts = torch.randint(3, CONFIG.vocab_size, (batch, prompt_len), generator=torch.Generator().manual_seed(2))
        ours_times, their_times, compiled_times, same = [], [], [], True
        if compile_model:
            start = time.perf_counter()
            generate(ours, prompts.tolist(), new_tokens, compile=True)
            print(f"      (batch {batch}: first compiled call, with compilation, {time.perf_counter() - start:.0f} s)")
        for _ in range(rounds):
            if compile_model:
                start = time.perf_counter()
                compiled = generate(ours, prompts.tolist(), new_tokens, compile=True)
                compiled_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            mine = generate(ours, prompts.tolist(), new_tokens)
            ours_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            theirs = twin.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=new_tokens,
                                   min_new_tokens=new_tokens, do_sample=False, pad_token_id=0, eos_token_id=None)
            their_times.append(time.perf_counter() - start)
            same &= [c.tokens for c in mine] == theirs[:, prompt_len:].tolist()
            if compile_model:
                same &= [c.tokens for c in compiled] == [c.tokens for c in mine]
        ours_speed = batch * new_tokens / statistics.median(ours_times)
        their_speed = batch * new_tokens / statistics.median(their_times)
        target = 2.0 if batch == 1 else 1.5
        print(f"{batch:5d} {ours_speed:11,.0f} {their_speed:19,.0f} {ours_speed / their_speed:5.2f}x "
              f"{target:5.1f}x {str(same):>11}", flush=True)
        if compile_model:
            compiled_speed = batch * new_tokens / statistics.median(compiled_times)
            print(f"{'':>5} {compiled_speed:11,.0f} {'(ours, compile=True)':>19} {compiled_speed / their_speed:5.2f}x")


def bench_layout(rounds: int, new_tokens: int, prompt_len: int) -> None:
    """Our inference weight layouts (:class:`codellama_lite.accel.OneDNNLinear`): first the matrix products of one step
    alone (every linear layer once, in model order, at 1, 8 and 256 rows), then whole greedy generation."""
    from codellama_lite.generate import generate

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = Transformer(CONFIG).eval()
    use_cpu_kernels(model)
    linears = [module for module in model.modules() if isinstance(module, Linear)]
    layouts = ["plain", "transposed"] + (["packed"] if torch.backends.mkldnn.is_available() else [])
    default = Linear.inference_layout
    print(f"\ninference weight layouts, float32, {THREADS} threads (default here: {default})")
    print(f"  the {len(linears)} products of one step, ms (median of {5 * rounds} repeats of 20):")
    with torch.inference_mode():
        for rows in (1, 8, 256):
            inputs = [torch.randn(rows, 1, linear.in_features) for linear in linears]
            times = {layout: [] for layout in layouts}
            for _ in range(5 * rounds):
                for layout in layouts:
                    Linear.inference_layout = layout
                    start = time.perf_counter()
                    for _ in range(20):
                        for linear, x in zip(linears, inputs):
                            linear(x)
                    times[layout].append((time.perf_counter() - start) / 20 * 1e3)
            medians = {layout: statistics.median(t) for layout, t in times.items()}
            print(f"  {rows:4d} rows: " + "  ".join(
                f"{layout} {ms:.2f} ({medians['plain'] / ms:.2f}x)" for layout, ms in medians.items()))
        print(f"  greedy generation, {new_tokens} new tokens, tok/s (median of {rounds}, alternating):")
        for batch in (1, 8):
            prompts = torch.randint(3, CONFIG.vocab_size, (batch, prompt_len),
                                    generator=torch.Generator().manual_seed(2)).tolist()
            times, tokens = {layout: [] for layout in layouts}, {}
            for _ in range(rounds):
                for layout in layouts:
                    Linear.inference_layout = layout
                    start = time.perf_counter()
                    with copies_current(model):  # refreshed once per generation, then used unchecked
                        tokens[layout] = [c.tokens for c in generate(model, prompts, new_tokens)]
                    times[layout].append(time.perf_counter() - start)
            speeds = {layout: batch * new_tokens / statistics.median(t) for layout, t in times.items()}
            print(f"  batch {batch}: " + "  ".join(
                f"{layout} {speed:,.0f} ({speed / speeds['plain']:.2f}x)" for layout, speed in speeds.items())
                + f"; same tokens: {len({str(t) for t in tokens.values()}) == 1}")
    Linear.inference_layout = default
    print(f"  weight copies: {drop_inference_weights(model) / 2**20:.1f} MiB "
          f"(the model's weights: {sum(p.nbytes for p in model.parameters()) / 2**20:.1f} MiB)")


def bench_products(rounds: int) -> None:
    """The three products of training each of our linear layers, at the training shapes (``BATCH * SEQ`` rows):
    MKL, as ``F.linear``'s autograd computes them, against oneDNN, as our ``Linear`` does (``_OneDNNLinear``)."""
    torch.set_num_threads(THREADS)
    shapes = collections.Counter((m.in_features, m.out_features) for m in Transformer(CONFIG).modules()
                                 if isinstance(m, torch.nn.Linear))
    print(f"\ntraining products, {BATCH * SEQ} rows, float32, {THREADS} threads, MKL vs oneDNN, ms "
          f"(median of {5 * rounds} alternating repeats; relative difference of the results)")
    totals = {"mkl": 0.0, "onednn": 0.0}
    for (fan_in, fan_out), count in shapes.items():
        x, g, w = torch.randn(BATCH, SEQ, fan_in), torch.randn(BATCH, SEQ, fan_out), torch.randn(fan_out, fan_in)
        products = {"forward": (lambda: F.linear(x, w), lambda: _onednn_linear(x, w)),
                    "grad_input": (lambda: g @ w, lambda: _onednn_grad_input(g, w)),
                    "grad_weight": (lambda: g.flatten(0, 1).t() @ x.flatten(0, 1), lambda: _onednn_grad_weight(g, x))}
        cells = []
        for name, (mkl, onednn) in products.items():
            error = ((onednn() - mkl()).norm() / mkl().norm()).item()
            times = {"mkl": [], "onednn": []}
            for _ in range(5 * rounds):
                for label, product in (("mkl", mkl), ("onednn", onednn)):
                    start = time.perf_counter()
                    product()
                    times[label].append((time.perf_counter() - start) * 1e3)
            ms = {label: statistics.median(t) for label, t in times.items()}
            for label in totals:
                totals[label] += count * ms[label]
            cells.append(f"{name} {ms['mkl']:.2f} / {ms['onednn']:.2f} ({ms['mkl'] / ms['onednn']:.2f}x, {error:.0e})")
        print(f"  {fan_in:4d}->{fan_out:<4d} x{count}: " + "  ".join(cells), flush=True)
    print(f"  all {sum(shapes.values())} layers, 3 products each: MKL {totals['mkl']:.0f} ms, oneDNN "
          f"{totals['onednn']:.0f} ms ({totals['mkl'] / totals['onednn']:.2f}x)")


def bench_mfu(steps: int = 10, batch: int = 4, seq: int = 2048, peak_tflops: float | None = None) -> None:
    """bf16 training-step model-FLOPs utilisation of the ~1B preset on a CUDA GPU (PaLM's FLOPs convention)."""
    if not torch.cuda.is_available():
        print("\nMFU: skipped (no CUDA device; this path is unmeasured on CPU)")
        return
    name = torch.cuda.get_device_name()
    peak = peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    if peak is None:
        print(f"\nMFU: unknown peak for {name!r}; pass --peak-tflops")
        return
    config = ModelConfig.preset("1b", max_seq_len=seq)
    torch.manual_seed(0)
    model = Transformer(config, device="cuda", dtype=torch.bfloat16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    data = torch.randint(0, config.vocab_size, (batch, seq + 1), device="cuda")
    times = []
    for i in range(steps + 2):
        torch.cuda.synchronize()
        start = time.perf_counter()
        logits = model(data[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, config.vocab_size), data[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - start)
    tokens_per_s = batch * seq / statistics.median(times)
    achieved = flops_per_token(config, seq, training=True) * tokens_per_s
    print(f"\nMFU on {name}: 1b preset, bf16, batch {batch}x{seq}: {tokens_per_s:,.0f} tokens/s, "
          f"{achieved / 1e12:.0f} TFLOP/s of {peak:.0f} peak = MFU {achieved / (peak * 1e12):.1%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("train", "generate", "layout", "products", "mfu"), default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=4)
    parser.add_argument("--gen-tokens", type=int, default=256)
    parser.add_argument("--prompt-len", type=int, default=32)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--compile", action="store_true", help="also time our torch.compile'd training and decoding")
    parser.add_argument("--cpu-kernels", action="store_true", help="ours with the opt-in oneDNN products")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, for --mfu")
    parser.add_argument("--worker", choices=("ours", "hf"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    global CPU_KERNELS
    CPU_KERNELS = args.cpu_kernels
    if args.worker:
        print(json.dumps(train_worker(args.worker, args.train_steps, args.compile)))
        return 0
    print(f"torch {torch.__version__}; config {CONFIG}")
    if args.only in (None, "train"):
        bench_training(args.rounds, args.train_steps, args.compile)
    if args.only in (None, "generate"):
        bench_generation(args.rounds, args.gen_tokens, args.prompt_len, args.batches, args.compile)
    if args.only in (None, "layout"):
        bench_layout(args.rounds, args.gen_tokens, args.prompt_len)
    if args.only in (None, "products"):
        bench_products(args.rounds)
    if args.only in (None, "mfu"):
        bench_mfu(peak_tflops=args.peak_tflops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
