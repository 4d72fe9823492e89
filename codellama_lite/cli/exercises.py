"""``codellama-lite exercises check CHAPTER [--solution | --file PATH]``: run a chapter's checks."""

from __future__ import annotations

import argparse

from codellama_lite.workbook.exercises import chapters, run_checks


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("exercises", help="run exercise checks on your work")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list the chapters that have exercises")
    listing.set_defaults(func=_list)
    check = actions.add_parser("check", help="run a chapter's checks (default: on your edited stub.py)")
    check.add_argument("chapter", help="e.g. ch01 or ch01_tokenizer")
    which = check.add_mutually_exclusive_group()
    which.add_argument("--solution", action="store_true", help="check the reference solution instead")
    which.add_argument("--file", help="check this file instead of the chapter's stub.py")
    check.set_defaults(func=_check)


def _list(args: argparse.Namespace) -> int:
    print("\n".join(chapters()))
    return 0


def _check(args: argparse.Namespace) -> int:
    implementation = "solution" if args.solution else (args.file or "stub")
    results = run_checks(args.chapter, implementation)
    for result in results:
        print(f"{'PASS' if result.passed else 'FAIL'}  {result.check}")
        if not result.passed:
            print("      " + result.message.replace("\n", "\n      "))
    passed = sum(result.passed for result in results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1
