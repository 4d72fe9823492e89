"""The ``codellama-lite`` command: one subcommand group per chapter.

Each module in this package defines ``register(subparsers)``, which adds its group and sets ``func`` on the parsed
arguments. A bad value ends with one line naming it and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Command groups, in chapter order; each names a module of this package.
GROUPS = ("workbook", "exercises", "tokenizer", "model", "eval")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every group registered)."""
    parser = argparse.ArgumentParser(prog="codellama-lite", description="Code Llama, reproduced end to end.")
    subparsers = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    for group in GROUPS:
        importlib.import_module(f"codellama_lite.cli.{group}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as error:
        print(f"codellama-lite: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
