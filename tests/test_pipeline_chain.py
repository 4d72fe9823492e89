"""The staged recipe (Code Llama §2.2–2.6, Figure 2): the smoke chain runs and resumes from the cache, the control
differs from the Python stage only in its data, and the gpu plan carries the paper's tokens and batches."""

from __future__ import annotations

import pytest

from codellama_lite.cli import main
from codellama_lite.pipeline import chain
from codellama_lite.train import load_recipe


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CODELLAMA_LITE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.slow
def test_smoke_chain_runs_then_comes_from_the_cache(cache):
    from codellama_lite.interop import import_hf

    lines: list[str] = []
    exports = chain.run_chain("smoke", echo=lines.append, progress=False)
    assert list(exports) == chain.stage_names()
    for stage in chain.CHAIN:
        assert exports[stage.name].is_dir() and import_hf(exports[stage.name]).config.dim > 0
        start = load_recipe_json(exports[stage.name])["init"]["from"]
        assert start == (str(exports[stage.parent]) if stage.parent else "")
    assert import_hf(exports["lcft"]).config.rope_theta == 1e6  # LCFT's base change reaches the later stages
    assert "tokens/step" in lines[1] and str(exports["base"]) in lines[1]
    again = chain.run_chain("smoke", echo=lambda _: None, progress=False)
    assert again == exports
    assert len(list((cache / "runs").glob("*/final"))) == len(exports)  # nothing trained twice


def test_the_chain_follows_figure_2():
    """Python specialises the base model and is then fine-tuned for long context; Instruct starts from Code Llama
    (base after LCFT); the base starts from Llama 2 (below gpu, its stand-in)."""
    parents = {stage.name: stage.parent for stage in chain.CHAIN}
    assert parents == {"standin": None, "base": "standin", "python": "base", "python-lcft": "python", "lcft": "base",
                       "instruct": "lcft"}
    assert chain.ancestors("python-lcft") == ["standin", "base", "python", "python-lcft"]
    assert chain.stage_recipe("python-lcft", "smoke").stage == "python-lcft"
    names = chain.stage_names()
    assert all(names.index(parent) < names.index(name) for name, parent in parents.items() if parent)


def load_recipe_json(folder):
    import json

    return json.loads((folder / "recipe.json").read_text())


def test_control_differs_only_in_data(tmp_path):
    python = chain.stage_recipe("python", "laptop", tmp_path)
    control = chain.control_recipe("laptop", tmp_path)
    assert control.stage == chain.CONTROL_STAGE and control.digest() != python.digest()
    assert (control.optim, control.train, control.init, control.model) == \
        (python.optim, python.train, python.init, python.model)
    assert control.data.weights == load_recipe("base", "laptop").data.weights
    assert control.data.fim_rate == python.data.fim_rate == 0.0


def test_python_mix_shifts_toward_the_benchmark_language():
    python = load_recipe("python", "laptop")
    base = load_recipe("base", "laptop")
    share = python.data.weights["python"] / sum(python.data.weights.values())
    assert share == pytest.approx(0.90)  # the paper's 75% is reached already by the base laptop mix (80% toy)
    assert load_recipe("python", "gpu").data.weights["python"] == pytest.approx(0.75)  # the paper's own mix
    assert python.data.sources["python"][0].startswith("builtin:toyworld")  # the toy world plays Python
    assert base.data.sources["toy"][0].startswith("builtin:toyworld")
    assert python.data.sources["other_code"] == base.data.sources["code"]  # the rest of the base mix's code
    assert base.data.weights["toy"] / sum(base.data.weights.values()) < share


def test_shipped_paths_are_read_from_any_working_directory(tmp_path, monkeypatch):
    from codellama_lite.data.sources import read_entry

    monkeypatch.chdir(tmp_path)
    recipe = chain.stage_recipe("python", "laptop")
    entry = recipe.data.sources["other_code"][2]
    assert entry == "data_samples/languages"  # recipes stay portable: the same digest in a checkout and a wheel
    documents, _ = read_entry(entry, "other_code", None)
    assert any(d.language == "c" for d in documents) and any(d.language == "rust" for d in documents)


def test_gpu_plan_has_the_papers_tokens_and_batches():
    plan = {stage.name: stage for stage in chain.gpu_plan()}
    assert plan["base"].tokens == pytest.approx(500e9, rel=1e-3)
    assert plan["python"].tokens == pytest.approx(100e9, rel=1e-3)
    assert plan["instruct"].tokens_per_step == 524_288 and plan["instruct"].tokens == pytest.approx(5e9, rel=1e-3)
    assert plan["lcft"].tokens_per_step == 2 * 2**20
    assert 0 < sum(s.gpu_hours for s in plan.values()) < chain.PAPER_A100_HOURS
    assert "init.from=runs/base/final" in plan["python"].command and "torchrun" in plan["python"].command
    assert "init.from=runs/python/final" in plan["python-lcft"].command
    assert "--recipe lcft" in plan["python-lcft"].command
    assert f"init.from={chain.LLAMA2_PLACEHOLDER}" in plan["base"].command and "standin" not in plan
    assert "recipe selfinstruct" in plan["instruct"].command


def test_cli_dry_run_and_bad_stage(capsys):
    assert main(["recipe", "run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "1,400,000" in out and "python" in out
    assert main(["recipe", "run", "--profile", "smoke", "--stop-after", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_clear_cache_removes_runs_and_generated_data_only(cache, capsys):
    for part in ("runs/base-smoke-x", "selfinstruct/smoke-y", "toyworld"):
        (cache / part).mkdir(parents=True)
    (cache / "notes.txt").write_text("kept")
    assert main(["train", "--clear-cache"]) == 0
    assert str(cache) in capsys.readouterr().out
    assert sorted(path.name for path in cache.iterdir()) == ["notes.txt"]
