"""``codellama-lite workbook``: execute every notebook with papermill and print the summary."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from codellama_lite.support.profiles import PROFILES
from codellama_lite.workbook.runner import SEEDS_VAR, refresh_stored_outputs, run_workbook


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("workbook", help="run every notebook through papermill and summarise",
                                   description="Execute the workbook's notebooks (or those named) with papermill into "
                                               "OUTPUT_DIR/PROFILE/, then print one line per notebook.")
    parser.add_argument("--profile", choices=PROFILES, default=None,
                        help="run profile (default: $CODELLAMA_LITE_PROFILE, else laptop)")
    parser.add_argument("--output-dir", type=Path, default=Path("outputs"),
                        help="folder for the executed notebooks, one subfolder per profile; also their working "
                             "directory")
    parser.add_argument("--seeds", type=_positive, default=None,
                        help="train every arm of a finding with this many seeds (default: $CODELLAMA_LITE_SEEDS, "
                             "else 1); intervals then hold the run-to-run spread")
    parser.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                        help="a chapter (01, 01_tokenizer) or an .ipynb file (default: every chapter, in order)")
    parser.set_defaults(func=_run)
    refresh = subparsers.add_parser(
        "refresh-notebooks", help="maintainers: re-execute notebooks (smoke) and keep only nbval-checked outputs")
    refresh.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK",
                         help="notebooks/NN_name.ipynb files")
    refresh.set_defaults(func=_refresh)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _run(args: argparse.Namespace) -> int:
    if args.seeds is not None:
        os.environ[SEEDS_VAR] = str(args.seeds)  # the notebooks' parameters cell reads it

    runs = run_workbook(args.output_dir, args.profile, args.notebooks or None)
    return 0 if all(run.status == "ok" for run in runs) else 1


def _refresh(args: argparse.Namespace) -> int:
    missing = [str(path) for path in args.notebooks if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"notebook(s) not found: {', '.join(missing)}")
    for path in args.notebooks:
        refresh_stored_outputs(path)
        print(f"refreshed {path}")
    return 0
