"""The ``codellama-lite`` command: one subcommand group per chapter.

Each module in this package defines ``register(subparsers)``, which adds its group and sets ``func`` on the parsed
arguments. A bad value, a failed file operation or an unreadable file ends with one line naming it and exit status 2
(:func:`main`), whichever command met it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from codellama_lite import __version__
from codellama_lite.support.fileio import describe_os_error

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
    parser = Parser(prog="codellama-lite", description="Code Llama, reproduced end to end.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    for group in GROUPS:
        importlib.import_module(f"codellama_lite.cli.{group}").register(subparsers)
    return parser


EXIT_ERROR = 2  # argparse's own status for a bad command line
EXIT_INTERRUPTED = 130  # the shell's 128 + SIGINT


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: a bad value, a failed file operation (a read-only or full disk, a file
    where a folder is wanted) or a file that does not parse ends with one line and status 2; Ctrl-C with one line
    and status 130."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as stop:
        print(f"codellama-lite: interrupted{f': {stop}' if str(stop) else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError) as error:  # ValueError includes JSON and UTF-8 decode errors
        print(f"codellama-lite: error: {error_line(error)}", file=sys.stderr)
        return EXIT_ERROR


def error_line(error: Exception) -> str:
    """The error as one line: an ``OSError`` as "file: what happened", anything else as its message."""
    text = describe_os_error(error) if isinstance(error, OSError) and error.errno else str(error)
    return " ".join(text.split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
