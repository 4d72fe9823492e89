"""Trained models, trained once: a cache of finished runs keyed by the recipe's content (the workbook's memory).

Chapters reuse the same trained stages (the ``base`` model of chapter 2 is the starting point of chapters 3–5), and
a laptop cannot retrain them for every notebook. :func:`trained` returns ``final/`` of a finished run of the recipe,
training it first when no run with the same content exists; a changed recipe (any value, the profile, the starting
checkpoint) has another digest and trains anew. A run killed half-way resumes from its last checkpoint on the next
call. Runs live in ``$CODELLAMA_LITE_CACHE`` (default ``~/.cache/codellama-lite``) under ``runs/<stage>-<profile>-
<digest>/``; deleting the folder (``codellama-lite train --clear-cache``) is always safe.

Some runs are released with the project, as Meta releases Llama 2 for Code Llama to start from: ``released/<stage>-
<profile>/`` holds a finished run (its export, recipe, metrics). When the cache lacks a run whose recipe has the digest
of a released one, :func:`trained` installs the release instead of training it; ``CODELLAMA_LITE_TRAIN_RELEASED=1``
trains it anyway. A recipe changed since the release has another digest and trains as any other.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from codellama_lite.support.fileio import cache_root, verify_checksums
from codellama_lite.support.resources import resource_dir
from codellama_lite.train.loop import FINAL_DIR, train
from codellama_lite.train.recipe import Recipe, load_recipe

CACHED_PARTS = ("runs", "selfinstruct", "toyworld")  # trained runs, self-instruct data, toy-world training text
TRAIN_RELEASED_ENV = "CODELLAMA_LITE_TRAIN_RELEASED"
RELEASED_FILES = ("recipe.json", "run.json", "metrics.jsonl", "tokenizer.model")  # beside final/ in a released run


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
        if (final / "model.safetensors").exists():  # another process finished it meanwhile
            return final
        release = released_run(recipe)
        if release is not None:
            install_release(release, folder)
            print(f"{recipe.stage} [{recipe.profile}]: the released run {release} installed in the cache "
                  f"(set {TRAIN_RELEASED_ENV}=1 to train it instead)", file=sys.stderr)
        else:
            train(recipe, folder, resume="auto", progress=progress)
    return final


def released_run(recipe: Recipe) -> Path | None:
    """The released run of ``recipe`` (``released/<stage>-<profile>/`` with the same recipe digest), or None.

    None also when ``CODELLAMA_LITE_TRAIN_RELEASED`` is set, or when the release was made from another version of
    the recipe (its digest differs): then the recipe trains.
    """
    if os.environ.get(TRAIN_RELEASED_ENV, "") not in ("", "0"):
        return None
    try:
        folder = resource_dir("released") / f"{recipe.stage}-{recipe.profile}"
    except FileNotFoundError:
        return None
    if not (folder / FINAL_DIR / "model.safetensors").exists():
        return None
    release = Recipe.from_resolved(json.loads((folder / "recipe.json").read_text()))
    return folder if release.digest() == recipe.digest() else None


def install_release(release: Path, folder: Path) -> None:
    """Copy the released run ``release`` into the cache's run ``folder``; ``final/`` appears last and whole.

    The export's checksums are verified first, so a damaged release raises instead of seeding every later stage.
    """
    verify_checksums(release / FINAL_DIR, required=True)
    folder.mkdir(parents=True, exist_ok=True)
    for name in RELEASED_FILES:
        if (release / name).exists():
            partial = folder / f".{name}.partial"
            shutil.copyfile(release / name, partial)
            partial.replace(folder / name)
    partial_final = folder / f".{FINAL_DIR}.partial"
    shutil.rmtree(partial_final, ignore_errors=True)
    shutil.copytree(release / FINAL_DIR, partial_final)
    partial_final.rename(folder / FINAL_DIR)


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
