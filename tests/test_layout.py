"""The package's floors read the pipeline bottom-up, and nothing imports upward or in a circle.

Every ``import`` of the package, at module level or inside a function, is read with :mod:`ast`; a module may import
its own floor or the floors below it, never above, and the graph of modules has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import codellama_lite

PACKAGE = Path(codellama_lite.__file__).parent
CORE = ("config", "rope", "model", "tokenizer", "fim", "generate", "interop", "costs", "accel")
FLOORS = [("support",), CORE, ("data",), ("train",), ("evaluation",), ("pipeline",), ("experiments",), ("workbook",),
          ("viz",), ("cli", "__main__")]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The package modules ``path`` imports (``from X import y`` counts ``X.y`` alone when that is a module: importing a
    submodule runs its package's ``__init__`` too, which is not an edge of its own)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names}
            found |= submodules & modules if submodules <= modules else {base} | (submodules & modules)
    return {m for m in found if m in modules and m != name}


def floor(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    for level, names in enumerate(FLOORS):
        if top in names:
            return level
    raise AssertionError(f"{module} lies on no floor; add its folder to FLOORS")


def graph() -> dict[str, set[str]]:
    return {module_name(p): imported_modules(p) for p in PACKAGE.rglob("*.py") if module_name(p) != "codellama_lite"}


def test_every_module_lies_on_a_floor() -> None:
    for module in graph():
        floor(module)


def test_no_module_imports_a_floor_above_its_own() -> None:
    upward = [f"{m} (floor {floor(m)}) imports {t} (floor {floor(t)})"
              for m, targets in graph().items() for t in targets if t != "codellama_lite" and floor(t) > floor(m)]
    assert not upward, "\n".join(upward)


def test_the_import_graph_has_no_cycle() -> None:
    edges = {m: {t for t in ts if t != "codellama_lite"} for m, ts in graph().items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target] if target in path else [node, target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, path + [target])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The rule can fail: a data module importing the trainer is caught."""
    fake = PACKAGE / "data" / "_layout_probe.py"
    try:
        fake.write_text("from codellama_lite.train import loop\n", encoding="utf-8")
        targets = imported_modules(fake)
        assert "codellama_lite.train.loop" in targets and floor("codellama_lite.train.loop") > floor(module_name(fake))
    finally:
        fake.unlink()
