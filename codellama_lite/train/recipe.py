"""Training recipes as plain data (Code Llama §2.2–2.6; docs/paper_facts.md §5): one TOML file per stage under ``configs/``.

A recipe file holds the stage's defaults and, under ``[profiles.NAME]``, what each profile changes::

    stage = "base"
    [model]      preset = "toy"            # ModelConfig.preset name, then any ModelConfig field
    [tokenizer]  vocab_size = 1000         # base pieces (+16 infilling pieces); or path = an existing tokenizer.model
    [data]       ...                       # DataConfig fields (sources, weights, fim_rate, ...); seq_len is train's
    [optim]      lr = 3e-4 ...             # AdamW and the schedule
    [train]      seq_len, micro_batch, global_batch, max_steps, ...
    [init]       from = ""                 # a previous stage's export (HF folder) to start from
    [profiles.smoke.train]  max_steps = 30

:func:`load_recipe` merges the profile over the defaults, then ``--set KEY=VALUE`` overrides (``train.max_steps=10``),
and checks every key and type: a misspelt key or a value of the wrong type fails naming the file and the key.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from codellama_lite.support.profiles import check_profile

CONFIG_DIR_NAME = "configs"


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with Llama 2's settings, linear warm-up then cosine decay to ``lr * min_lr_ratio`` (docs/paper_facts.md §5)."""

    lr: float = 3e-4
    warmup_steps: int = 1000
    min_lr_ratio: float = 1 / 30  # the paper's final LR is the peak / 30
    weight_decay: float = 0.1  # on matrices only (norm gains are not decayed)
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    """Batch arithmetic, length, checkpoints and run-time choices.

    ``global_batch`` sequences make one optimizer step, split as ``micro_batch × accumulation × world size``, so a
    run's losses do not depend on how many processes share it.
    """

    seq_len: int = 256
    micro_batch: int = 8
    global_batch: int = 8
    max_steps: int = 100
    checkpoint_every: int = 0  # 0: only at the end
    keep_last: int = 2
    eval_every: int = 0  # 0: only at the end
    eval_windows: int = 16
    seed: int = 0
    device: str = "auto"  # auto: cuda when available, else cpu
    dtype: str = "auto"  # auto: bfloat16 on CUDA, float32 on CPU
    compile: bool = False
    cpu_kernels: bool = False  # opt-in oneDNN products for float32 CPU training (codellama_lite.accel; private
    # torch.ops.mkldnn operators, so never the default), one process only
    threads: int = 0  # torch CPU threads; 0: torch's default


@dataclass(frozen=True)
class TokenizerConfig:
    vocab_size: int = 1000  # base pieces; Code Llama's 16 extra pieces (4 for infilling) come on top
    path: str = ""  # an existing tokenizer.model instead of training one ("init" uses the starting export's)


@dataclass(frozen=True)
class InitConfig:
    """Where a stage starts: from scratch, or from a previous stage's export (``from``, a Hugging Face folder)."""

    source: str = ""  # TOML key "from"
    rope_theta: float = 0.0  # > 0: change RoPE's base at the start (long-context fine-tuning: 1e4 -> 1e6, §2.4)
    # non-empty: fine-tune with this Hugging Face rope_scaling (e.g. position interpolation, {rope_type = "linear",
    # factor = 4.0}; Code Llama appendix G compares it with the base change); empty keeps the export's own
    rope_scaling: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """One stage's complete, validated recipe for one profile."""

    stage: str
    profile: str
    description: str
    model: dict[str, Any]
    tokenizer: TokenizerConfig
    data: dict[str, Any]
    optim: OptimConfig
    train: TrainConfig
    init: InitConfig
    source_file: str = ""

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["init"] = {"from": values["init"].pop("source"), **values["init"]}
        return values

    def digest(self) -> str:
        """A short hash of everything that decides the trained model (caches key on it)."""
        values = self.to_dict()
        values.pop("source_file")
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]

    def with_train(self, **changes: Any) -> "Recipe":
        """This recipe with ``[train]`` values changed (``None`` leaves a value as it is), checked as a file's are."""
        changes = {key: value for key, value in changes.items() if value is not None}
        if not changes:
            return self
        where = "command line"
        train = _typed(TrainConfig, {**dataclasses.asdict(self.train), **changes}, f"{where} [train]")
        recipe = dataclasses.replace(self, train=train)
        _check_numbers(recipe, Path(where))
        return recipe

    def batch_arithmetic(self, world_size: int = 1) -> dict[str, int]:
        """``micro_batch × seq_len × accumulation × world`` = tokens per optimizer step (nanoGPT prints this)."""
        train = self.train
        per_pass = train.micro_batch * world_size
        if train.global_batch % per_pass:
            raise ValueError(f"train.global_batch={train.global_batch} is not a multiple of train.micro_batch="
                             f"{train.micro_batch} × world size {world_size}")
        accumulation = train.global_batch // per_pass
        return {"micro_batch": train.micro_batch, "seq_len": train.seq_len, "accumulation": accumulation,
                "world_size": world_size, "tokens_per_step": train.global_batch * train.seq_len}


SECTIONS = {"optim": OptimConfig, "train": TrainConfig, "tokenizer": TokenizerConfig, "init": InitConfig}
TOP_LEVEL = {"stage", "description", "model", "data", "profiles", *SECTIONS}


def config_dir() -> Path:
    """The shipped recipes (``configs/`` in the checkout, package data when installed)."""
    try:
        from codellama_lite.support.resources import resource_dir
        return resource_dir(CONFIG_DIR_NAME)
    except (ImportError, FileNotFoundError):
        return Path(__file__).resolve().parents[2] / CONFIG_DIR_NAME


def recipe_names() -> list[str]:
    return sorted(path.stem for path in config_dir().glob("*.toml"))


def recipe_path(name: str) -> Path:
    """``name`` is a shipped recipe (``base``) or a path to a TOML file."""
    candidate = Path(name)
    if candidate.suffix == ".toml":
        if not candidate.is_file():
            raise FileNotFoundError(f"recipe file not found: {candidate}")
        return candidate
    path = config_dir() / f"{name}.toml"
    if not path.is_file():
        raise ValueError(f"unknown recipe {name!r}; shipped recipes: {', '.join(recipe_names()) or 'none'}")
    return path


def load_recipe(name: str, profile: str | None = None, overrides: dict[str, Any] | list[str] | None = None) -> Recipe:
    """The recipe ``name`` for ``profile`` (default ``$CODELLAMA_LITE_PROFILE`` or laptop), with ``overrides``:
    a dict ``{"train.max_steps": 10}`` or ``--set`` strings ``["train.max_steps=10"]``."""
    path = recipe_path(name)
    profile = check_profile(profile)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from None
    unknown = sorted(set(raw) - TOP_LEVEL)
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {unknown}; expected {sorted(TOP_LEVEL)}")
    profiles = raw.pop("profiles", {})
    values = _merge(raw, profiles.get(profile, {}))
    for key, value in _parse_overrides(overrides).items():
        _set_path(values, key, value, path)
    return _build(values, profile, path)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in ("sources", "weights"):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _parse_overrides(overrides: dict[str, Any] | list[str] | None) -> dict[str, Any]:
    if overrides is None:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    parsed = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE (e.g. train.max_steps=10), got {item!r}")
        parsed[key.strip()] = _parse_value(text.strip())
    return parsed


def _parse_value(text: str) -> Any:
    """A TOML value (``10``, ``3e-4``, ``true``, ``"text"``, ``[1, 2]``); anything else is a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _set_path(values: dict[str, Any], key: str, value: Any, path: Path) -> None:
    section, _, name = key.partition(".")
    if not name:
        if section in ("stage", "description"):
            values[section] = value
            return
        raise ValueError(f"override {key!r}: expected SECTION.KEY (sections: model, data, {', '.join(SECTIONS)})")
    if section not in TOP_LEVEL - {"profiles", "stage", "description"}:
        raise ValueError(f"override {key!r}: unknown section {section!r} in {path.name}")
    target = values.setdefault(section, {})
    *parents, leaf = name.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[leaf] = value


def _build(values: dict[str, Any], profile: str, path: Path) -> Recipe:
    sections = {}
    for name, cls in SECTIONS.items():
        section = dict(values.get(name, {}))
        if cls is InitConfig and "from" in section:
            section["source"] = section.pop("from")
        sections[name] = _typed(cls, section, f"{path.name} [{name}]")
    model = dict(values.get("model", {}))
    _check_model(model, path)
    data = dict(values.get("data", {}))
    _check_data(data, path)
    recipe = Recipe(stage=str(values.get("stage", path.stem)), profile=profile,
                    description=str(values.get("description", "")), model=model, data=data,
                    source_file=str(path), **sections)
    _check_numbers(recipe, path)
    return recipe


def _typed(cls: type, section: dict[str, Any], where: str) -> Any:
    """``cls(**section)`` after checking every key exists and every value has the field's type."""
    hints = get_type_hints(cls)
    unknown = sorted(set(section) - set(hints))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(hints)}")
    for key, value in section.items():
        expected = hints[key]
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            section[key] = float(value)
        elif not _has_type(value, expected):
            raise ValueError(f"{where}: {key} = {value!r} should be {_type_name(expected)}")
    return cls(**section)


def _has_type(value: Any, expected: Any) -> bool:
    origin = get_origin(expected)
    if origin in (Union, types.UnionType):
        return any(_has_type(value, arg) for arg in get_args(expected))
    if origin is not None:  # a parametrized container such as dict[str, Any]: its kind is checked
        return isinstance(value, origin)
    if expected is type(None):
        return value is None
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _type_name(expected: Any) -> str:
    return getattr(expected, "__name__", str(expected))


def _check_model(model: dict[str, Any], path: Path) -> None:
    from codellama_lite.config import PRESETS, ModelConfig

    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    preset = model.get("preset", "toy")
    if preset not in PRESETS:
        raise ValueError(f"{path.name} [model]: preset = {preset!r} is not one of {', '.join(PRESETS)}")
    unknown = sorted(set(model) - set(fields) - {"preset"})
    if unknown:
        raise ValueError(f"{path.name} [model]: unknown key(s) {unknown}; ModelConfig fields are {sorted(fields)}")


def _check_data(data: dict[str, Any], path: Path) -> None:
    """Every ``[data]`` key a :class:`DataConfig` field of the right type (an int where a float is asked is one)."""
    from codellama_lite.data import DataConfig

    hints = get_type_hints(DataConfig)
    names = set(hints) - {"seq_len"}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{path.name} [data]: unknown key(s) {unknown}; expected some of {sorted(names)} "
                         "(seq_len is set in [train])")
    for key, value in data.items():
        expected = hints[key]
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            data[key] = float(value)
        elif not _has_type(value, expected):
            raise ValueError(f"{path.name} [data]: {key} = {value!r} should be {_type_name(expected)}")


def _check_numbers(recipe: Recipe, path: Path) -> None:
    train, optim = recipe.train, recipe.optim
    for key in ("seq_len", "micro_batch", "global_batch", "max_steps", "keep_last", "eval_windows"):
        if getattr(train, key) <= 0:
            raise ValueError(f"{path.name} [train]: {key} must be positive, got {getattr(train, key)}")
    for key in ("checkpoint_every", "eval_every", "threads"):
        if getattr(train, key) < 0:
            raise ValueError(f"{path.name} [train]: {key} must be >= 0, got {getattr(train, key)}")
    if train.dtype not in ("auto", "float32", "bfloat16"):
        raise ValueError(f"{path.name} [train]: dtype = {train.dtype!r}; choose auto, float32 or bfloat16")
    if optim.lr <= 0 or not 0 <= optim.min_lr_ratio <= 1 or optim.warmup_steps < 0 or optim.grad_clip < 0:
        raise ValueError(f"{path.name} [optim]: lr must be > 0, min_lr_ratio in [0, 1], warmup_steps and "
                         f"grad_clip >= 0; got {optim}")
    if recipe.tokenizer.vocab_size <= 0:
        raise ValueError(f"{path.name} [tokenizer]: vocab_size must be positive, got {recipe.tokenizer.vocab_size}")
