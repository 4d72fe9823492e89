"""The ``codellama-lite`` command: one subcommand group per chapter.

Each module in this package defines ``register(subparsers)``, which adds its group and sets ``func`` on the parsed
arguments. A bad value ends with one line naming it and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Command groups, in chapter order; each names a module of this package.
GROUPS = ("workbook", "exercises", "tokenizer", "model", "data", "train", "eval", "recipe")


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: ...)`` to an option's help wherever it has a default worth showing and does not say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "default" in help_text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return help_text
        return help_text + " (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An argument parser whose sub-commands, at any depth, are parsers of this class with :class:`HelpFormatter`."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every group registered)."""
    from codellama_lite import __version__

    parser = Parser(prog="codellama-lite", description="Code Llama, reproduced end to end.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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
