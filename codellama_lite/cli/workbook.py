"""``codellama-lite workbook``: execute every notebook with papermill and print the summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from codellama_lite.profiles import PROFILES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("workbook", help="run every notebook through papermill and summarise")
    parser.add_argument("--profile", choices=PROFILES, default=None,
                        help="run profile (default: $CODELLAMA_LITE_PROFILE, else laptop)")
    parser.add_argument("--output-dir", type=Path, default=Path("outputs"), help="where executed notebooks go")
    parser.add_argument("notebooks", nargs="*", type=Path, help="only these notebooks (default: all, in order)")
    parser.set_defaults(func=_run)
    refresh = subparsers.add_parser("refresh-notebooks",
                                    help="maintainers: re-execute notebooks (smoke) and keep only nbval-checked outputs")
    refresh.add_argument("notebooks", nargs="+", type=Path)
    refresh.set_defaults(func=_refresh)


def _run(args: argparse.Namespace) -> int:
    from codellama_lite.workbook import run_workbook

    runs = run_workbook(args.output_dir, args.profile, args.notebooks or None)
    return 0 if all(run.status == "ok" for run in runs) else 1


def _refresh(args: argparse.Namespace) -> int:
    from codellama_lite.workbook import refresh_stored_outputs

    for path in args.notebooks:
        refresh_stored_outputs(path)
        print(f"refreshed {path}")
    return 0
