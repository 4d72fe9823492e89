"""The exercise machinery: learner stubs, reference solutions and the checks that tell them apart.

Each chapter folder ``exercises/chNN_topic/`` holds ``stub.py`` (the learner's file, raising ``NotImplementedError``),
``solution.py`` (the reference) and ``checks.py`` (functions ``check_*(impl)`` that exercise a module through the same
API the package uses). CI proves every check passes on the solution and fails on the untouched stub.
"""

from __future__ import annotations

import importlib.util
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

EXERCISE_DIR = Path(__file__).resolve().parent.parent / "exercises"
VARIANTS = ("stub", "solution")


@dataclass
class CheckResult:
    """The outcome of one check on one implementation."""

    chapter: str
    check: str
    passed: bool
    message: str = ""


def chapters(directory: Path = EXERCISE_DIR) -> list[str]:
    """Every chapter folder that has checks, in order."""
    return sorted(path.parent.name for path in directory.glob("ch*/checks.py"))


def resolve_chapter(name: str, directory: Path = EXERCISE_DIR) -> str:
    """Accept ``ch01`` or ``ch01_tokenizer``; raise a clear error listing the chapters otherwise."""
    matches = [chapter for chapter in chapters(directory) if chapter == name or chapter.startswith(name + "_")]
    if len(matches) != 1:
        raise ValueError(f"unknown exercise chapter {name!r}; available: {', '.join(chapters(directory)) or 'none'}")
    return matches[0]


def load_module(path: Path) -> ModuleType:
    """Import a Python file under a private name (learners' files are not a package)."""
    if not path.is_file():
        raise FileNotFoundError(f"exercise file not found: {path}")
    spec = importlib.util.spec_from_file_location(f"_exercise_{path.parent.name}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checks_of(chapter: str, directory: Path = EXERCISE_DIR) -> dict[str, Callable[[ModuleType], None]]:
    """The ``check_*`` functions of a chapter, by name, in file order."""
    module = load_module(directory / chapter / "checks.py")
    return {name: obj for name, obj in vars(module).items() if name.startswith("check_") and callable(obj)}


def run_checks(chapter: str, implementation: str | Path = "stub", directory: Path = EXERCISE_DIR) -> list[CheckResult]:
    """Run every check of ``chapter`` on ``stub``, ``solution`` or the path of a learner's own file."""
    chapter = resolve_chapter(chapter, directory)
    path = directory / chapter / f"{implementation}.py" if implementation in VARIANTS else Path(implementation)
    impl = load_module(path)
    results = []
    for name, check in checks_of(chapter, directory).items():
        try:
            check(impl)
        except Exception as error:  # a check fails by raising anything: NotImplementedError, AssertionError, ...
            message = f"{type(error).__name__}: {error}".strip()
            if not isinstance(error, (AssertionError, NotImplementedError)):
                message += "\n" + traceback.format_exc(limit=-2)
            results.append(CheckResult(chapter, name, False, message))
        else:
            results.append(CheckResult(chapter, name, True))
    return results
