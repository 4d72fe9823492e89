"""The cache of trained runs and the runs released with the project (Code Llama §2: every model starts from Llama 2's
released weights; the laptop's stand-in for it is released the same way)."""

from __future__ import annotations

import json
import shutil

import pytest

from codellama_lite.pipeline import cache as cache_module
from codellama_lite.pipeline import chain
from codellama_lite.support import resources
from codellama_lite.support.fileio import verify_checksums
from codellama_lite.train import Recipe


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CODELLAMA_LITE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(cache_module.TRAIN_RELEASED_ENV, raising=False)
    return tmp_path / "cache"


def test_each_release_matches_its_recipe_and_checksums():
    """A release made from an older recipe would never be used (its digest differs); one that is damaged would raise
    when installed. Both fail here first, naming the folder."""
    released = resources.resource_dir("released")
    folders = sorted(path for path in released.iterdir() if path.is_dir())
    assert [path.name for path in folders] == ["standin-laptop"]
    for folder in folders:
        shipped = Recipe.from_resolved(json.loads((folder / "recipe.json").read_text()))
        stage, profile = folder.name.rsplit("-", 1)
        assert shipped.digest() == chain.stage_recipe(stage, profile).digest(), f"{folder}: recipe changed since"
        verify_checksums(folder / "final", required=True)
        assert (folder / "tokenizer.model").read_bytes() == (folder / "final" / "tokenizer.model").read_bytes()
        last = json.loads((folder / "metrics.jsonl").read_text().splitlines()[-1])
        assert last["step"] == shipped.train.max_steps


def _release_of(recipe: Recipe, tmp_path, monkeypatch):
    """Train ``recipe`` once in a scratch cache and lay its run out as a release folder; returns the folder."""
    monkeypatch.setenv("CODELLAMA_LITE_CACHE", str(tmp_path / "maker"))
    final = cache_module.trained(recipe, progress=False)
    release = tmp_path / "released" / f"{recipe.stage}-{recipe.profile}"
    shutil.copytree(final, release / "final")
    for name in cache_module.RELEASED_FILES:
        shutil.copyfile(final.parent / name, release / name)
    monkeypatch.setattr(cache_module, "resource_dir", lambda name: tmp_path / name)
    return release


@pytest.mark.slow
def test_a_release_is_installed_instead_of_trained(tmp_path, monkeypatch, cache):
    recipe = chain.stage_recipe(chain.STANDIN, "smoke")
    release = _release_of(recipe, tmp_path, monkeypatch)
    monkeypatch.setenv("CODELLAMA_LITE_CACHE", str(cache))

    def no_training(*args, **kwargs):
        raise AssertionError("a released run was trained again")

    monkeypatch.setattr(cache_module, "train", no_training)
    final = cache_module.trained(recipe, progress=False)
    assert final.parent == cache_module.run_dir(recipe)
    assert (final / "model.safetensors").read_bytes() == (release / "final" / "model.safetensors").read_bytes()
    assert (final.parent / "metrics.jsonl").read_text() == (release / "metrics.jsonl").read_text()
    assert not list(final.parent.glob(".*partial"))
    verify_checksums(final, required=True)


@pytest.mark.slow
def test_a_changed_recipe_a_damaged_release_and_the_opt_out(tmp_path, monkeypatch, cache):
    recipe = chain.stage_recipe(chain.STANDIN, "smoke")
    release = _release_of(recipe, tmp_path, monkeypatch)
    monkeypatch.setenv("CODELLAMA_LITE_CACHE", str(cache))
    trained_here: list[str] = []
    monkeypatch.setattr(cache_module, "train", lambda recipe, folder, **kw: trained_here.append(recipe.digest()))

    changed = recipe.with_changes(optim={"lr": recipe.optim.lr / 2})
    assert cache_module.released_run(changed) is None  # another digest: it trains
    cache_module.trained(changed, progress=False)
    assert trained_here == [changed.digest()]

    monkeypatch.setenv(cache_module.TRAIN_RELEASED_ENV, "1")
    assert cache_module.released_run(recipe) is None
    cache_module.trained(recipe, progress=False)
    assert trained_here[-1] == recipe.digest() and not (cache_module.run_dir(recipe) / "final").exists()

    monkeypatch.delenv(cache_module.TRAIN_RELEASED_ENV)
    (release / "final" / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(ValueError, match="checksum mismatch"):
        cache_module.trained(recipe, progress=False)
    assert not (cache_module.run_dir(recipe) / "final").exists()  # nothing half-installed
