"""When two toy problems are the same problem: by normalized code, and by behaviour on fixed probe inputs.

``x = x + 3`` then ``x = x - 1`` is ``x = x + 2`` written differently; a test problem that behaves like a training
problem measures memory, not generalization. So the splits are keyed by :func:`fingerprint` — the outputs on probe
inputs fixed per argument type — and :func:`normalized_code` (the body's syntax tree with names made uniform) is the
second, independent check the tests apply.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
from collections.abc import Callable

from codellama_lite.data.toyworld.families import COUNT, INT, INTS, TEXT

PROBES: dict[str, tuple] = {
    INT: (-13, -8, -5, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 15, 21, 30),
    COUNT: (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12),
    INTS: ((), (0,), (5,), (-4,), (1, 2, 3, 4, 5, 6), (-3, 7, 0, 2, -8, 9), (9, 9, 1, -1), (12, -6, 3, 8, 5),
           (-2, -7, -1), (4, 10, 7, 2, 6, 3, 11)),
    TEXT: ("", "a", "Hello", " tea time ", "  bOats  ", "abc def", "Stop, STATS!", "oat", "seesaw", "Bob eats toast"),
}


def fingerprint(function: Callable, param_type: str) -> str:
    """A short hash of ``function``'s outputs (or exception types) on the probe inputs of its argument type."""
    outputs = []
    for probe in PROBES[param_type]:
        argument = list(probe) if param_type == INTS else probe
        try:
            outputs.append(repr(function(argument)))
        except Exception as error:  # a problem may fail on some probe; how it fails is part of its behaviour
            outputs.append(f"!{type(error).__name__}")
    return hashlib.sha256(f"{param_type}|{'|'.join(outputs)}".encode()).hexdigest()[:16]


def normalized_code(source: str) -> str:
    """A function's body with its name, argument names and local names made uniform, formatting discarded."""
    function = ast.parse(source).body[0]
    if not isinstance(function, ast.FunctionDef):
        raise ValueError(f"expected one function definition, got {type(function).__name__}")
    names: dict[str, str] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.arg):
            node.arg = names.setdefault(node.arg, f"v{len(names)}")
        elif isinstance(node, ast.Name) and not _is_builtin(node.id):
            node.id = names.setdefault(node.id, f"v{len(names)}")
    function.name, function.returns = "f", None
    function.args.args = [ast.arg(arg=a.arg) for a in function.args.args]
    function.body = [statement for statement in function.body if not _is_docstring(statement)]
    return ast.unparse(function)


def _is_builtin(name: str) -> bool:
    return hasattr(builtins, name)


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
        and isinstance(statement.value.value, str)
