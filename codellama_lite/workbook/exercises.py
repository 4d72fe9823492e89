"""The exercise machinery: learner stubs, reference solutions and the checks that tell them apart.

Each chapter folder ``exercises/chNN_topic/`` holds ``stub.py`` (the learner's file, raising ``NotImplementedError``),
``solution.py`` (the reference), ``checks.py`` (functions ``check_*(impl)`` that exercise a module through the same
API the package uses) and ``mutants/*.py``: plausible wrong answers. A mutant holds only the functions it gets wrong,
run on top of the solution (its other functions see the mutant's), and names the checks that must catch it in
``MUST_FAIL``. CI proves every check passes on the solution, fails on the untouched stub and catches a mutant.
"""

from __future__ import annotations

import functools
import importlib.util
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Sequence

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


# -- "Your turn" cells: a learner's functions, checked from a notebook -----------------------------------------------


def your_turn(chapter: str, *functions: Callable, checks: Sequence[str] | None = None,
              directory: Path | None = None) -> ModuleType:
    """Check functions written in a notebook cell with the chapter's checks; return what passed, to use below.

    The learner's ``functions`` are laid over the chapter's ``solution.py`` in one namespace (as a mutant is), so the
    solution's other functions call them. A function that raises ``NotImplementedError`` is not written yet: the
    reference stands in for it, and the cell says so (this is what papermill and nbval run). ``checks`` defaults to
    ``check_<name>`` for each function. A written function that fails a check raises ``AssertionError`` with the
    check's message, which names what is wrong.
    """
    chapter = resolve_chapter(chapter, directory)
    chapter_dir = (directory or exercise_dir()) / chapter
    available = checks_of(chapter, directory)
    names = list(checks) if checks is not None else [f"check_{function.__name__}" for function in functions]
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise ValueError(f"{chapter} has no check(s) {unknown or names}; available: {', '.join(available)}")
    unwritten: set[str] = set()
    while True:  # a check stops at the first stub it meets: replace it by the reference and run them again
        found: set[str] = set()
        impl = _overlay(chapter_dir / "solution.py", [f for f in functions if f.__name__ not in unwritten], found)
        results = [_run_check(chapter, name, available[name], impl) for name in names]
        if not found:
            break
        unwritten |= found
    if unwritten:
        print(f"not written yet: {', '.join(sorted(unwritten))} (raises NotImplementedError); the reference in "
              f"exercises/{chapter}/solution.py stands in. Write it above and run the cell again.")
    failed = [result for result in results if not result.passed]
    if failed:
        raise AssertionError("\n".join(f"{result.check}: {result.message}" for result in failed))
    yours = [f.__name__ for f in functions if f.__name__ not in unwritten]
    print(f"passed: {', '.join(names)}" + (f" (yours: {', '.join(yours)})" if yours else " (the reference)"))
    return impl


def _overlay(solution: Path, functions: Sequence[Callable], unwritten: set[str]) -> ModuleType:
    """The solution's namespace with ``functions`` over it, each wrapped to note a ``NotImplementedError`` it raises."""
    module = ModuleType(f"_exercise_{solution.parent.name}_yours")
    module.__file__ = str(solution)
    exec(compile(solution.read_text(encoding="utf-8"), str(solution), "exec"), module.__dict__)  # noqa: S102
    for function in functions:
        module.__dict__[function.__name__] = _noting_stubs(function, unwritten)
    return module


def _noting_stubs(function: Callable, unwritten: set[str]) -> Callable:
    """``function``, noting its name in ``unwritten`` when it raises ``NotImplementedError`` itself (not a callee)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except NotImplementedError as error:
            if not getattr(error, "_your_turn_noted", False):
                error._your_turn_noted = True  # a caller up the stack is written; only the raiser is not
                unwritten.add(function.__name__)
            raise

    return wrapper
