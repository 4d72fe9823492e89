"""Trained models, trained once: a cache of finished runs keyed by the recipe's content (the workbook's memory).

Chapters reuse the same trained stages (the ``base`` model of chapter 2 is the starting point of chapters 3–5), and
a laptop cannot retrain them for every notebook. :func:`trained` returns ``final/`` of a finished run of the recipe,
training it first when no run with the same content exists; a changed recipe (any value, the profile, the starting
checkpoint) has another digest and trains anew. A run killed half-way resumes from its last checkpoint on the next
call. Runs live in ``$CODELLAMA_LITE_CACHE`` (default ``~/.cache/codellama-lite``) under ``runs/<stage>-<profile>-
<digest>/``; deleting the folder (``codellama-lite train --clear-cache``) is always safe.
"""

from __future__ import annotations

import fcntl
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from codellama_lite.support.fileio import cache_root
from codellama_lite.train.loop import FINAL_DIR, train
from codellama_lite.train.recipe import Recipe, load_recipe

CACHED_PARTS = ("runs", "selfinstruct", "toyworld")  # trained runs, self-instruct data, toy-world training text


def run_dir(recipe: Recipe) -> Path:
    return cache_root() / "runs" / f"{recipe.stage}-{recipe.profile}-{recipe.digest()}"


def trained(recipe: Recipe | str, profile: str | None = None, overrides: dict[str, Any] | list[str] | None = None,
            *, progress: bool = True) -> Path:
    """The exported model (``final/``) of ``recipe``, trained now if the cache has no finished run of it."""
    if isinstance(recipe, str):
        recipe = load_recipe(recipe, profile, overrides)
    folder = run_dir(recipe)
    final = folder / FINAL_DIR
    if (final / "model.safetensors").exists():
        return final
    with _locked(folder):
        if not (final / "model.safetensors").exists():  # another process may have finished it meanwhile
            train(recipe, folder, resume="auto", progress=progress)
    return final


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One trainer per cached run, across processes (two notebooks asking for the same model wait in turn)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def clear_cache() -> Path:
    """Remove every cached run and the generated data kept beside them; returns the cache folder."""
    root = cache_root()
    for part in CACHED_PARTS:
        shutil.rmtree(root / part, ignore_errors=True)
    return root
