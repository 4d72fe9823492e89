"""The project's own files install what it needs, consistently (pyproject.toml, environment.yml, README, CI)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent


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
    assert set(runtime) == set(conda), f"only in pyproject: {set(runtime) - set(conda)}; only in environment.yml: {set(conda) - set(runtime)}"
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
    assert command in readme, f".ci/run's command is not in the README: {command}"


def test_console_script_is_declared():
    assert _pyproject()["project"]["scripts"]["codellama-lite"] == "codellama_lite.cli:main"


def test_requires_python_310():
    assert re.fullmatch(r">=\s*3\.10", _pyproject()["project"]["requires-python"])
