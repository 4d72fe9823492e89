"""The exercise machinery: learner stubs, reference solutions and the checks that tell them apart.

Each chapter folder ``exercises/chNN_topic/`` holds ``stub.py`` (the learner's file, raising ``NotImplementedError``),
``solution.py`` (the reference), ``checks.py`` (functions ``check_*(impl)`` that exercise a module through the same
API the package uses) and ``mutants/*.py``: plausible wrong answers. A mutant holds only the functions it gets wrong,
run on top of the solution (its other functions see the mutant's), and names the checks that must catch it in
``MUST_FAIL``. CI proves every check passes on the solution, fails on the untouched stub and catches a mutant.
"""

from __future__ import annotations

import importlib.util
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

from codellama_lite.support.resources import resource_dir

VARIANTS = ("stub", "solution")


@dataclass
class CheckResult:
    """The outcome of one check on one implementation."""

    chapter: str
    check: str
    passed: bool
    message: str = ""


def exercise_dir() -> Path:
    """The folder of chapter folders (the checkout's ``exercises/`` or the installed copy)."""
    return resource_dir("exercises")


def chapters(directory: Path | None = None) -> list[str]:
    """Every chapter folder that has checks, in order."""
    return sorted(path.parent.name for path in (directory or exercise_dir()).glob("ch*/checks.py"))


def resolve_chapter(name: str, directory: Path | None = None) -> str:
    """Accept ``ch01`` or ``ch01_tokenizer``; raise a clear error listing the chapters otherwise."""
    known = chapters(directory)
    matches = [chapter for chapter in known if chapter == name or chapter.startswith(name + "_")]
    if len(matches) != 1:
        raise ValueError(f"unknown exercise chapter {name!r}; available: {', '.join(known) or 'none'}")
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


def mutants(chapter: str, directory: Path | None = None) -> list[Path]:
    """The chapter's mutant files (``mutants/*.py``), in order."""
    chapter_dir = (directory or exercise_dir()) / resolve_chapter(chapter, directory)
    return sorted(path for path in (chapter_dir / "mutants").glob("*.py") if not path.name.startswith("_"))


def load_mutant(path: Path) -> ModuleType:
    """The chapter's solution with a mutant's definitions run over it, in one namespace.

    The solution's own functions therefore call the mutant's versions (a wrong ``count_pairs`` also spoils
    ``bpe_merge_step``), as they would in a learner's file.
    """
    solution = path.parent.parent / "solution.py"
    module = ModuleType(f"_exercise_{path.parent.parent.name}_mutant_{path.stem}")
    module.__file__ = str(path)
    for source in (solution, path):
        exec(compile(source.read_text(encoding="utf-8"), str(source), "exec"), module.__dict__)  # noqa: S102
    must_fail = module.__dict__.get("MUST_FAIL")
    if not must_fail or not all(isinstance(name, str) for name in must_fail):
        raise ValueError(f"{path}: MUST_FAIL must be a non-empty tuple of check names")
    return module


def checks_of(chapter: str, directory: Path | None = None) -> dict[str, Callable[[ModuleType], None]]:
    """The ``check_*`` functions of a chapter, by name, in file order."""
    module = load_module((directory or exercise_dir()) / chapter / "checks.py")
    return {name: obj for name, obj in vars(module).items() if name.startswith("check_") and callable(obj)}


def run_checks(chapter: str, implementation: str | Path | ModuleType = "stub",
               directory: Path | None = None) -> list[CheckResult]:
    """Run every check of ``chapter`` on ``stub``, ``solution``, the path of a learner's own file, or a module."""
    chapter = resolve_chapter(chapter, directory)
    chapter_dir = (directory or exercise_dir()) / chapter
    if isinstance(implementation, ModuleType):
        impl = implementation
    else:
        impl = load_module(chapter_dir / f"{implementation}.py" if implementation in VARIANTS else Path(implementation))
    return [_run_check(chapter, name, check, impl) for name, check in checks_of(chapter, directory).items()]


def _run_check(chapter: str, name: str, check: Callable[[ModuleType], None], impl: ModuleType) -> CheckResult:
    try:
        check(impl)
    except Exception as error:  # a check fails by raising anything: NotImplementedError, AssertionError, ...
        message = f"{type(error).__name__}: {error}".strip()
        if not isinstance(error, (AssertionError, NotImplementedError)):
            message += "\n" + traceback.format_exc(limit=-2)
        return CheckResult(chapter, name, False, message)
    return CheckResult(chapter, name, True)
