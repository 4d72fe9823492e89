"""Typed recipes (codellama_lite.train.recipe): every shipped recipe in every profile, bad values named by their dotted
key, variants validated, the resolved view round trip, and the model a stage trains derived in one place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codellama_lite.cli import main
from codellama_lite.config import ModelConfig
from codellama_lite.interop import export_hf, read_config
from codellama_lite.support.profiles import PROFILES
from codellama_lite.tokenizer import EXTRA_PIECES
from codellama_lite.train import dry_run, load_recipe, recipe_names
from codellama_lite.train.recipe import Recipe, config_dir
from tests._models import random_model


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", recipe_names())
def test_every_shipped_recipe_loads_resolves_and_round_trips(name, profile):
    recipe = load_recipe(name, profile)
    text = json.dumps(recipe.resolved())
    assert text == json.dumps(load_recipe(name, profile).resolved())  # deterministic, key order included
    again = Recipe.from_resolved(json.loads(text))
    assert again == recipe and again.digest() == recipe.digest() and again.resolved() == recipe.resolved()
    shape = recipe.model_shape()
    assert isinstance(shape, ModelConfig) and shape.max_seq_len >= recipe.train.seq_len


def test_the_resolved_view_holds_every_key_with_its_default():
    resolved = load_recipe("base", "smoke").resolved()
    for section in ("model", "tokenizer", "data", "optim", "train", "init"):
        fields = getattr(Recipe.model_fields[section].annotation, "model_fields")
        assert sorted(resolved[section]) == sorted(f.alias or name for name, f in fields.items())
    assert resolved["init"]["from"] == "" and resolved["optim"]["eps"] == 1e-8  # a default no TOML writes


def test_a_default_written_out_hashes_like_one_left_implicit():
    recipe = load_recipe("base", "smoke")
    assert load_recipe("base", "smoke", [f"data.fim_rate={recipe.data.fim_rate}",
                                         f"optim.eps={recipe.optim.eps}"]).digest() == recipe.digest()
    assert load_recipe("base", "smoke", ["data.fim_rate=0.5"]).digest() != recipe.digest()


def test_run_time_choices_at_their_defaults_are_not_hashed():
    """A cached run's key holds only what decides the trained weights: the run-time choices at their defaults are
    left out of the digest (the hash of the resolved recipe without them), and count once set otherwise."""
    import hashlib
    import json

    recipe = load_recipe("base", "smoke")
    values = recipe.resolved()
    values.pop("source_file")
    for key in ("activation_checkpointing", "export_dtype", "checkpoint_minutes", "async_checkpoint", "data_workers"):
        values["train"].pop(key)
    assert recipe.digest() == hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]
    for change in ("train.activation_checkpointing=\"full\"", "train.export_dtype=\"bfloat16\"",
                   "train.checkpoint_minutes=30", "train.async_checkpoint=true", "train.data_workers=2"):
        assert load_recipe("base", "smoke", [change]).digest() != recipe.digest()


@pytest.mark.parametrize("override, key", [
    ("data.fim_rate=abc", "data.fim_rate"),
    ("data.fim_rate=1.5", "data.fim_rate"),
    ("data.weights.code=0", "data.weights.code"),
    ("data.sources.code=[]", "data.sources.code"),
    ("train.max_steps=3.5", "train.max_steps"),
    ("train.compile=yes", "train.compile"),
    ("train.dtype=fp16", "train.dtype"),
    ("train.data_workers=-1", "train.data_workers"),
    ("tokenizer.vocab_size=true", "tokenizer.vocab_size"),
    ("optim.beta2=1.5", "optim.beta2"),
    ("init.from=3", "init.from"),
    ("init.rope_scaling=linear", "init.rope_scaling"),
    ("model.n_heads=5", "model"),
    ("train.max_stepz=3", "train.max_stepz"),
])
def test_a_bad_value_is_one_line_naming_the_file_profile_and_key(override, key):
    with pytest.raises(ValueError) as caught:
        load_recipe("base", "smoke", [override])
    message = str(caught.value)
    assert message.startswith("base.toml (profile smoke): ") and key in message and "\n" not in message


def test_the_cli_set_goes_through_the_schema(capsys):
    assert main(["train", "--recipe", "base", "--profile", "smoke", "--set", "data.fim_rate=abc", "--dry-run"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("codellama-lite: error: base.toml (profile smoke): data.fim_rate = 'abc'")
    assert len(error.splitlines()) == 1


def test_a_recipe_file_with_a_misspelt_key_in_a_profile_is_named(tmp_path):
    text = (config_dir() / "base.toml").read_text(encoding="utf-8")
    bad = tmp_path / "mine.toml"
    bad.write_text(text.replace("data.near_dup_threshold =", "data.near_dup_treshold ="), encoding="utf-8")
    load_recipe(str(bad), "laptop")  # other profiles are untouched
    with pytest.raises(ValueError, match=r"mine.toml \(profile smoke\): data.near_dup_treshold: unknown key; "
                                         r"expected one of .*near_dup_threshold"):
        load_recipe(str(bad), "smoke")
    bad.write_text(text + "\n[profiles.tpu]\ntrain = { max_steps = 1 }\n", encoding="utf-8")
    with pytest.raises(ValueError, match="tpu"):
        load_recipe(str(bad), "smoke")


def test_variants_are_validated_and_take_the_toml_names():
    recipe = load_recipe("base", "smoke")
    plain = recipe.with_changes(data={"fim_rate": 0.0})
    assert plain.data.fim_rate == 0.0 and plain.data.sources == recipe.data.sources and plain.stage == recipe.stage
    assert recipe.with_changes(init={"source": "x"}) == recipe.with_changes(init={"from": "x"})
    with pytest.raises(ValueError, match="data.fim_rate"):
        recipe.with_changes(data={"fim_rate": 2.0})
    with pytest.raises(ValueError, match="train.max_steps"):
        recipe.with_changes(train={"max_steps": 0})
    with pytest.raises(ValueError, match="fim_rate"):
        recipe.data.replace(fim_rate="high")
    with pytest.raises(Exception, match="frozen"):
        recipe.train.max_steps = 3


def test_the_data_seed_is_the_train_seed_unless_set():
    recipe = load_recipe("base", "smoke", ["train.seed=7"])
    assert recipe.data_config().seed == 7 and recipe.data_config().seq_len == recipe.train.seq_len
    assert load_recipe("base", "smoke", ["train.seed=7", "data.seed=3"]).data_config().seed == 3


def test_a_model_from_scratch_is_the_preset_with_the_tokenizers_vocabulary():
    recipe = load_recipe("base", "laptop")
    expected = ModelConfig.preset("toy", dim=192, n_layers=4, n_heads=6, n_kv_heads=2, multiple_of=32,
                                  rope_theta=1e4, vocab_size=recipe.tokenizer.vocab_size + EXTRA_PIECES)
    assert recipe.model_shape() == expected.replace(max_seq_len=max(expected.max_seq_len, recipe.train.seq_len))
    assert recipe.model_shape(tokenizer_pieces=777).vocab_size == 777
    assert load_recipe("base", "laptop", ["model.vocab_size=3000"]).model_shape(777).vocab_size == 3000
    with pytest.raises(ValueError, match="rope_theta"):  # [model] and [init] may not ask for two bases
        load_recipe("base", "smoke", ["init.rope_theta=1e6"]).model_shape()


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory) -> Path:
    """A short-context export as the base smoke stage writes one: the tiny shape, RoPE base 1e4."""
    config = ModelConfig.preset("tiny", vocab_size=416, rope_theta=1e4, max_seq_len=64)
    return export_hf(random_model(config), tmp_path_factory.mktemp("base") / "final")


def test_a_stage_from_an_export_trains_the_exports_model_and_dry_run_shows_it(tiny_export):
    recipe = load_recipe("lcft", "smoke", [f"init.from={tiny_export}"])
    expected = read_config(tiny_export).replace(rope_theta=recipe.init.rope_theta, max_seq_len=recipe.train.seq_len)
    assert recipe.init.rope_theta == 1e6 and recipe.model_shape() == expected
    report = dry_run(recipe)
    assert report["start"] == str(tiny_export) and ModelConfig(**report["model"]) == expected
    scaled = recipe.with_changes(init={"rope_theta": 0.0, "rope_scaling": {"rope_type": "linear", "factor": 4.0}})
    assert scaled.model_shape().rope_theta == 1e4 and scaled.model_shape().rope_scaling["factor"] == 4.0


@pytest.mark.parametrize("override, key", [
    ("model.dim=128", "dim"),
    ("model.preset=toy", "dim"),
    ("model.vocab_size=999", "vocab_size"),
    ("model.rope_theta=1e4", "rope_theta"),
])
def test_a_model_section_that_disagrees_with_the_export_is_an_error(tiny_export, override, key):
    recipe = load_recipe("lcft", "smoke", [f"init.from={tiny_export}", override])
    with pytest.raises(ValueError, match=rf"lcft.toml \(profile smoke\): \[model\] asks for {key} .*{tiny_export}"):
        recipe.model_shape()
    assert main(["train", "--recipe", "lcft", "--profile", "smoke", "--set", f"init.from={tiny_export}",
                 "--set", override, "--dry-run"]) == 2


def test_a_missing_export_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_recipe("lcft", "smoke", [f"init.from={tmp_path}"]).model_shape()
