"""The project's own files install what it needs, consistently (pyproject.toml, environment.yml, README, CI), and a
wheel carries the whole workbook: it runs from another directory without the checkout."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from codellama_lite.support.resources import SHIPPED

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("codellama_lite", "tests", "exercises", "benchmarks", "setup.py")
# Standard-library modules newer than some Python 3 we might claim; requires-python must admit none older.
NEW_STDLIB_MODULES = {"tomllib": (3, 11), "wsgiref.types": (3, 11)}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_requirements() -> dict[str, Requirement]:
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    entries: list[str] = []
    for item in spec["dependencies"]:
        if isinstance(item, dict):
            entries += [entry for entry in item["pip"] if not entry.startswith("-e")]
        elif not item.startswith(("python", "pip")) or item.startswith("pip "):
            entries.append(item)
    return {Requirement(entry).name.lower(): Requirement(entry) for entry in entries}


def _lowest(specifier: SpecifierSet) -> str | None:
    versions = [s.version for s in specifier if s.operator in ("==", ">=", "~=")]
    return versions[0] if versions else None


def test_environment_yml_lists_the_same_runtime_packages_as_pyproject():
    runtime = {Requirement(entry).name.lower(): Requirement(entry) for entry in _pyproject()["project"]["dependencies"]}
    conda = _environment_requirements()
    assert set(runtime) == set(conda), \
        f"only in pyproject: {set(runtime) - set(conda)}; only in environment.yml: {set(conda) - set(runtime)}"
    for name, requirement in runtime.items():
        lowest = _lowest(conda[name].specifier)
        assert lowest is None or requirement.specifier.contains(lowest, prereleases=True) or \
            conda[name].specifier.contains(_lowest(requirement.specifier) or "0", prereleases=True), \
            f"{name}: pyproject {requirement.specifier} vs environment.yml {conda[name].specifier}"


def test_torch_is_pinned_everywhere():
    runtime = _pyproject()["project"]["dependencies"]
    assert "torch==2.13.0" in runtime
    assert str(_environment_requirements()["torch"].specifier) == "==2.13.0"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    command = [line for line in lines if line and not line.startswith(("#", "set ", "cd "))][-1]
    assert command == "sh bootstrap.sh test", f".ci/run must end with the README's test command, not {command!r}"
    assert command in readme, f".ci/run's command is not in the README: {command}"


def test_console_script_is_declared():
    assert _pyproject()["project"]["scripts"]["codellama-lite"] == "codellama_lite.cli:main"


def _lowest_python() -> tuple[int, int]:
    lowest = Version(_lowest(SpecifierSet(_pyproject()["project"]["requires-python"])) or "0")
    return lowest.major, lowest.minor


def _sources() -> list[Path]:
    return [path for entry in SOURCE_DIRS for path in
            ([ROOT / entry] if entry.endswith(".py") else sorted((ROOT / entry).rglob("*.py")))]


def _imports(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_requires_python_admits_only_pythons_the_code_runs_on():
    """Every source parses as the lowest admitted Python's syntax and imports no standard module newer than it."""
    lowest = _lowest_python()
    assert lowest >= (3, 11), "tomllib (tests) needs Python 3.11"
    assert sys.version_info[:2] >= lowest, "the tests run on a Python that requires-python refuses"
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=lowest)
        newer = {name: NEW_STDLIB_MODULES[name] for name in _imports(tree)
                 if NEW_STDLIB_MODULES.get(name, (0,)) > lowest}
        assert not newer, f"{path.relative_to(ROOT)} imports {newer}, newer than requires-python's {lowest}"


def test_environment_yml_asks_for_the_same_python():
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(item for item in spec["dependencies"] if isinstance(item, str) and item.startswith("python"))
    assert Requirement(python).specifier == SpecifierSet(_pyproject()["project"]["requires-python"])


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """A non-editable install of this checkout's wheel (dependencies from this environment), in its own folder."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(root / "dist")], check=True, cwd=root)
    wheel = next((root / "dist").glob("codellama_lite-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(root / "site"),
                    str(wheel)], check=True, cwd=root)
    return root / "site"


def _run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _workbook_files(folder: Path) -> list[str]:
    """The files of ``folder`` that count, relative to it (bytecode caches and checkpoints do not)."""
    skipped = {"__pycache__", ".ipynb_checkpoints"}
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*")
                  if path.is_file() and not skipped & set(path.parts))


def test_the_wheel_ships_every_workbook_folder(installed_wheel, tmp_path):
    present = [name for name in SHIPPED if (ROOT / name).is_dir()]
    script = ("import codellama_lite\nfrom codellama_lite.support.resources import resource_dir\n"
              f"print(codellama_lite.__file__)\nfor name in {present!r}: print(resource_dir(name))")
    done = _run_installed(installed_wheel, tmp_path, "-c", script)
    assert done.returncode == 0, done.stderr
    module, *folders = done.stdout.splitlines()
    assert module.startswith(str(installed_wheel)), f"imported the checkout, not the wheel: {module}"
    for name, folder in zip(present, folders):
        assert folder.startswith(str(installed_wheel)), f"{name}: {folder} is not the wheel's copy"
        assert _workbook_files(Path(folder)) == _workbook_files(ROOT / name), f"{name}/ is not shipped whole"


@pytest.mark.slow
def test_exercises_and_workbook_run_from_the_wheel(installed_wheel, tmp_path):
    listing = _run_installed(installed_wheel, tmp_path, "-m", "codellama_lite", "exercises", "list")
    assert listing.returncode == 0 and "ch06_benchmark_scoring" in listing.stdout.split(), listing
    check = _run_installed(installed_wheel, tmp_path, "-m", "codellama_lite", "exercises", "check", "ch06",
                           "--solution")
    assert check.returncode == 0 and " 0 failed" in check.stdout, check.stdout + check.stderr
    stub = _run_installed(installed_wheel, tmp_path, "-m", "codellama_lite", "exercises", "check", "ch06")
    assert stub.returncode == 1 and "0 passed" in stub.stdout, stub.stdout + stub.stderr
    # Chapter 1 reads the shipped data samples and trains nothing (chapters 2-6 train or load cached models).
    run = _run_installed(installed_wheel, tmp_path, "-m", "codellama_lite", "workbook", "01", "--profile", "smoke",
                         "--output-dir", "mine")
    assert run.returncode == 0 and "1 ok, 0 failed" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]
    assert (tmp_path / "mine" / "smoke" / "01_tokenizer.ipynb").is_file()
