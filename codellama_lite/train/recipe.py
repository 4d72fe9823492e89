"""Training recipes as typed data (Code Llama §2.2–2.6; docs/paper_facts.md §5): one TOML file per stage in
``configs/``.

A recipe file holds the stage's defaults and, under ``[profiles.NAME]``, what each profile changes::

    stage = "base"
    [model]      preset = "toy"            # a ModelConfig preset, then any ModelConfig field over it
    [tokenizer]  vocab_size = 1000         # base pieces (+16 added pieces); or path = an existing tokenizer.model
    [data]       ...                       # DataSection keys (sources, weights, fim_rate, ...); seq_len is train's
    [optim]      lr = 3e-4 ...             # AdamW and the schedule
    [train]      seq_len, micro_batch, global_batch, max_steps, ...
    [init]       from = ""                 # a previous stage's export (Hugging Face folder) to start from
    [profiles.smoke.train]  max_steps = 30

:func:`load_recipe` merges the profile over the defaults, then ``--set KEY=VALUE`` overrides (``train.max_steps=10``),
and validates the result once against the sections below: a misspelt key or a value of the wrong type or range
fails on one line naming the file, the profile and the dotted key. Code derives variants with
:meth:`Recipe.with_changes`, validated the same way, and reads the model a recipe trains from
:meth:`Recipe.model_shape`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, ValidationError,
                      field_validator, model_validator)

from codellama_lite.config import PRESETS, ModelConfig
from codellama_lite.data.config import MIN_SEQ_LEN, DataConfig, DataSection
from codellama_lite.rope import check_rope_scaling
from codellama_lite.support.profiles import PROFILES, check_profile
from codellama_lite.support.schema import Section, one_line
from codellama_lite.tokenizer import EXTRA_PIECES

CONFIG_DIR_NAME = "configs"
DEFAULT_PRESET = "toy"
# The keys of a model's shape: a stage that starts from an export must not ask for another one.
SHAPE_KEYS = ("dim", "n_layers", "n_heads", "kv_heads", "hidden_dim", "norm_eps")
# Run-time choices that leave the trained weights as they are: at these defaults they are left out of
# Recipe.digest, so a cached run's key does not depend on them.
RUNTIME_DEFAULTS = {("train", "activation_checkpointing"): "none", ("train", "export_dtype"): "float32",
                    ("train", "checkpoint_minutes"): 0.0, ("train", "async_checkpoint"): False,
                    ("train", "data_workers"): 0}


class ModelSection(Section):
    """``[model]``: a :data:`~codellama_lite.config.PRESETS` name and any :class:`ModelConfig` field over it.

    A key left out (None) is the preset's (:data:`DEFAULT_PRESET` when none is named); the vocabulary is the
    tokenizer's unless set. A stage that starts from an export (``init.from``) trains the export's model: there
    the section may only repeat what the export holds (:meth:`Recipe.model_shape` checks it).
    """

    preset: str | None = None
    dim: PositiveInt | None = None
    n_layers: PositiveInt | None = None
    n_heads: PositiveInt | None = None
    n_kv_heads: PositiveInt | None = None
    vocab_size: PositiveInt | None = None
    multiple_of: PositiveInt | None = None
    ffn_dim_multiplier: PositiveFloat | None = None
    ffn_dim: PositiveInt | None = None
    norm_eps: PositiveFloat | None = None
    rope_theta: PositiveFloat | None = None
    max_seq_len: PositiveInt | None = None
    rope_scaling: dict[str, Any] | None = None

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, preset: str | None) -> str | None:
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown preset; choose one of {', '.join(PRESETS)}")
        return preset

    @field_validator("rope_scaling")
    @classmethod
    def _valid_scaling(cls, scaling: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_rope_scaling(scaling, "rope_scaling") if scaling else scaling

    def written(self) -> dict[str, Any]:
        """The ModelConfig fields this section sets (preset excluded)."""
        return {key: value for key, value in self.model_dump(exclude={"preset"}).items() if value is not None}

    def over(self, start: ModelConfig) -> ModelConfig:
        """``start`` with this section's preset shape (if named) and written fields over it."""
        base = start
        if self.preset is not None:
            base = PRESETS[self.preset].replace(vocab_size=start.vocab_size)
        fields = self.written()
        if fields.keys() & {"multiple_of", "ffn_dim_multiplier"} and "ffn_dim" not in fields:
            fields["ffn_dim"] = None  # the FFN width follows the rule again
        return base.replace(**fields)


class TokenizerSection(Section):
    """``[tokenizer]``: the size of a tokenizer trained on the stage's corpus, or an existing one."""

    vocab_size: PositiveInt = 1000  # base pieces; Code Llama's 16 added pieces (4 for infilling) come on top
    path: str = ""  # an existing tokenizer.model instead of training one (a stage with init.from uses the export's)


class OptimSection(Section):
    """AdamW with Llama 2's settings, linear warm-up, cosine decay to ``lr * min_lr_ratio`` (paper_facts.md §5)."""

    lr: PositiveFloat = 3e-4
    warmup_steps: NonNegativeInt = 1000
    min_lr_ratio: float = Field(1 / 30, ge=0.0, le=1.0)  # the paper's final LR is the peak / 30
    weight_decay: NonNegativeFloat = 0.1  # on matrices only (norm gains are not decayed)
    beta1: float = Field(0.9, ge=0.0, lt=1.0)
    beta2: float = Field(0.95, ge=0.0, lt=1.0)
    eps: PositiveFloat = 1e-8
    grad_clip: NonNegativeFloat = 1.0  # 0: no clipping


class TrainSection(Section):
    """Batch arithmetic, length, checkpoints and run-time choices.

    ``global_batch`` sequences make one optimizer step, split as ``micro_batch × accumulation × world size``, so a
    run's losses do not depend on how many processes share it.
    """

    seq_len: int = Field(256, ge=MIN_SEQ_LEN)
    micro_batch: PositiveInt = 8
    global_batch: PositiveInt = 8
    max_steps: PositiveInt = 100
    checkpoint_every: NonNegativeInt = 0  # 0: only at the end
    checkpoint_minutes: NonNegativeFloat = 0.0  # also once this much wall time has passed since the last; 0: off
    async_checkpoint: bool = False  # write interval checkpoints in the background (DCP async_save)
    # background processes per rank packing prepared: sources' windows (codellama_lite.data.prefetch); 0: the
    # training thread reads them; the windows are the same either way
    data_workers: NonNegativeInt = 0
    keep_last: PositiveInt = 2
    eval_every: NonNegativeInt = 0  # 0: only at the end
    eval_windows: PositiveInt = 16
    seed: int = 0
    device: str = "auto"  # auto: cuda when available, else cpu
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"  # auto: bfloat16 on CUDA, float32 on CPU
    compile: bool = False  # torch.compile each block (before sharding)
    # per block, applied from outside the model (codellama_lite.train.parallelize)
    activation_checkpointing: Literal["none", "selective", "full"] = "none"
    # the final Hugging Face export's dtype (a released model's: bf16)
    export_dtype: Literal["float32", "bfloat16"] = "float32"
    cpu_kernels: bool = False  # opt-in oneDNN products for float32 CPU training (codellama_lite.accel; private
    # torch.ops.mkldnn operators, so never the default), one process only
    threads: NonNegativeInt = 0  # torch CPU threads; 0: torch's default


class InitSection(Section):
    """Where a stage starts: from scratch, or from a previous stage's export (``from``, a Hugging Face folder)."""

    source: str = Field("", alias="from")
    rope_theta: NonNegativeFloat = 0.0  # > 0: the RoPE base to train with (long-context fine-tuning: 1e4 -> 1e6, §2.4)
    # non-empty: fine-tune with this Hugging Face rope_scaling (e.g. position interpolation, {rope_type = "linear",
    # factor = 4.0}; Code Llama appendix G compares it with the base change); empty keeps the starting model's
    rope_scaling: dict[str, Any] = Field(default_factory=dict)

    @field_validator("rope_scaling")
    @classmethod
    def _valid_scaling(cls, scaling: dict[str, Any]) -> dict[str, Any]:
        return check_rope_scaling(scaling, "rope_scaling") or {} if scaling else scaling


class Recipe(Section):
    """One stage's complete, validated recipe for one profile."""

    stage: str
    profile: str
    description: str = ""
    model: ModelSection = Field(default_factory=ModelSection)
    tokenizer: TokenizerSection = Field(default_factory=TokenizerSection)
    data: DataSection = Field(default_factory=DataSection)
    optim: OptimSection = Field(default_factory=OptimSection)
    train: TrainSection = Field(default_factory=TrainSection)
    init: InitSection = Field(default_factory=InitSection)
    source_file: str = ""

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, profile: str) -> str:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile; choose one of {', '.join(PROFILES)}")
        return profile

    @model_validator(mode="after")
    def _model_builds(self) -> Self:
        """A stage from scratch: ``[model]`` must make a model (heads dividing the width, ...) before any data."""
        if not self.init.source:
            try:
                self.model.over(PRESETS[DEFAULT_PRESET].replace(vocab_size=self.tokenizer.vocab_size + EXTRA_PIECES))
            except ValueError as error:
                raise ValueError(f"model: {error}") from None
        return self

    # -- views ---------------------------------------------------------------------------------------------------

    def resolved(self) -> dict[str, Any]:
        """Every key of the recipe, defaults included, as plain JSON values (``init.from`` under its TOML name);
        the same recipe always gives the same dict, in the same order. :meth:`from_resolved` reads it back."""
        return self.model_dump(mode="json", by_alias=True)

    to_dict = resolved

    @classmethod
    def from_resolved(cls, values: dict[str, Any]) -> "Recipe":
        """The recipe of a :meth:`resolved` dict (e.g. a run's ``recipe.json``), validated."""
        return _validate(values, values.get("source_file") or "recipe")

    def digest(self) -> str:
        """A short hash of everything that decides the trained model (caches key on it): the resolved recipe without
        the file it was read from, so a default written out or left implicit hashes alike."""
        values = self.resolved()
        values.pop("source_file")
        for (section, key), default in RUNTIME_DEFAULTS.items():
            if values[section][key] == default:
                del values[section][key]
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]

    def with_changes(self, **changes: Any) -> "Recipe":
        """A validated variant: ``recipe.with_changes(data={"fim_rate": 0.0}, init={"from": folder})``.

        A section given as a dict updates only the keys it names (``data.sources`` and ``data.weights`` are replaced
        whole); a top-level value (``stage=``) or a section object replaces what was there.
        """
        values = self.resolved()
        for key, value in changes.items():
            if isinstance(value, Section):
                value = value.model_dump(mode="json", by_alias=True)
            elif isinstance(value, dict) and isinstance(values.get(key), dict):
                value = {**values[key], **_toml_names(key, value)}
            values[key] = value
        return _validate(values, self._where())

    def _where(self) -> str:
        return f"{Path(self.source_file).name or self.stage} (profile {self.profile})"

    # -- what it trains ------------------------------------------------------------------------------------------

    def data_config(self) -> DataConfig:
        """The data pipeline's settings: ``[data]`` with ``train.seq_len``, seeded by ``train.seed`` unless
        ``data.seed`` is set."""
        values = self.data.model_dump()
        seed = self.train.seed if values.pop("seed") is None else self.data.seed
        return DataConfig(**values, seq_len=self.train.seq_len, seed=seed)

    def model_shape(self, tokenizer_pieces: int | None = None) -> ModelConfig:
        """The model this recipe trains, derived in one place for the trainer, ``--dry-run`` and the GPU plan.

        From scratch: the ``[model]`` section over the default preset, with the tokenizer's vocabulary
        (``tokenizer_pieces``; by default ``[tokenizer] vocab_size`` + the 16 added pieces, or the size of
        ``tokenizer.path``) unless the section sets one. From an export or released weights (``init.from``, a
        Hugging Face or Meta folder): its configuration, the vocabulary grown to the tokenizer's where that is
        larger (Llama 2's 32,000 pieces + Code Llama's 16, §2.3). Then ``init.rope_theta`` and ``init.rope_scaling``
        where set, and a rotary table at least ``train.seq_len`` long. A ``[model]`` key that disagrees with the
        result is an error naming it.
        """
        changes: dict[str, Any] = {}
        if self.init.source:
            from codellama_lite.interop import pretrained_config

            start = pretrained_config(self.init.source)
            pieces = self._start_pieces() if tokenizer_pieces is None else tokenizer_pieces
            changes["vocab_size"] = max(start.vocab_size, pieces)
            origin = f"the stage starts from {self.init.source}, whose model trains"
        else:
            pieces = self._tokenizer_pieces() if tokenizer_pieces is None else tokenizer_pieces
            start = self.model.over(PRESETS[DEFAULT_PRESET].replace(vocab_size=pieces))
            origin = "[init] changes the model"
        changes["max_seq_len"] = max(start.max_seq_len, self.train.seq_len)
        if self.init.rope_theta > 0:
            changes["rope_theta"] = self.init.rope_theta
        if self.init.rope_scaling:
            changes["rope_scaling"] = dict(self.init.rope_scaling)
        shape = start.replace(**changes)
        self._check_agrees(shape, origin)
        return shape

    def _start_pieces(self) -> int:
        """The tokenizer a stage from ``init.from`` trains with: the folder's, with the 16 added pieces where it lacks
        the infilling ones (:func:`codellama_lite.tokenizer.extend_tokenizer`); 0 when the folder has none."""
        from codellama_lite.tokenizer import Tokenizer

        path = Path(self.init.source) / "tokenizer.model"
        if not path.is_file():
            return 0
        tokenizer = Tokenizer(path)
        return tokenizer.vocab_size + (0 if tokenizer.has_infilling else EXTRA_PIECES)

    def _tokenizer_pieces(self) -> int:
        if self.tokenizer.path:
            from codellama_lite.tokenizer import Tokenizer

            return Tokenizer(self.tokenizer.path).vocab_size
        return self.tokenizer.vocab_size + EXTRA_PIECES

    def _check_agrees(self, shape: ModelConfig, origin: str) -> None:
        """Every key ``[model]`` writes (its preset's shape included) must hold in ``shape``, the model that trains."""
        asked = self.model.over(shape)
        keys = SHAPE_KEYS if self.model.preset is not None or self.model.written() else ()
        keys += tuple(key for key in ("vocab_size", "rope_theta", "rope_scaling") if key in self.model.written())
        differ = [key for key in keys if getattr(asked, key) != getattr(shape, key)]
        if differ:
            found = ", ".join(f"{key} {getattr(asked, key)!r} (trains with {getattr(shape, key)!r})" for key in differ)
            raise ValueError(f"{self._where()}: [model] asks for {found}, but {origin}; drop or correct those "
                             "[model] keys")

    def with_train(self, **changes: Any) -> "Recipe":
        """This recipe with ``[train]`` values changed (``None`` leaves a value as it is), validated as a file's are."""
        changes = {key: value for key, value in changes.items() if value is not None}
        return self.with_changes(train=changes) if changes else self

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


SECTIONS = ("model", "tokenizer", "data", "optim", "train", "init")
FILE_KEYS = ("stage", "description", *SECTIONS, "profiles")  # what a recipe file may hold at its top level


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
    """The recipe ``name`` for ``profile`` (default ``$CODELLAMA_LITE_PROFILE`` or laptop), with ``overrides`` as a
    user types them: ``--set`` strings ``["train.max_steps=10"]`` or a dict ``{"train.max_steps": 10}``."""
    path = recipe_path(name)
    profile = check_profile(profile)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from None
    unknown = sorted(set(raw) - set(FILE_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {unknown}; expected some of {list(FILE_KEYS)}")
    profiles = raw.pop("profiles", {})
    strange = sorted(set(profiles) - set(PROFILES))
    if strange:
        raise ValueError(f"{path}: unknown profile(s) {strange} under [profiles]; profiles are {', '.join(PROFILES)}")
    values = _merge({"stage": path.stem, **raw}, profiles.get(profile, {}))
    for key, value in _parse_overrides(overrides).items():
        _set_path(values, key, value)
    return _validate({**values, "profile": profile, "source_file": str(path)}, f"{path.name} (profile {profile})")


def _toml_names(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` of ``section`` with each key under its TOML name (``init``'s ``source`` is ``from``)."""
    field = Recipe.model_fields.get(section)
    fields = field.annotation.model_fields if field is not None and isinstance(field.annotation, type) else {}
    return {(fields[key].alias or key) if key in fields else key: value for key, value in values.items()}


def _validate(values: dict[str, Any], where: str) -> Recipe:
    try:
        return Recipe.model_validate(values)
    except ValidationError as error:
        raise ValueError(f"{where}: {one_line(error, Recipe)}") from None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, table by table; a profile's ``sources`` or ``weights`` replace the stage's whole."""
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


def _set_path(values: dict[str, Any], key: str, value: Any) -> None:
    """Set the dotted ``key`` (``data.sources.instruct``) in ``values``; the schema then checks key and value."""
    section, _, name = key.partition(".")
    if not name:
        if section in ("stage", "description"):
            values[section] = value
            return
        raise ValueError(f"override {key!r}: expected SECTION.KEY (sections: {', '.join(SECTIONS)})")
    if section not in SECTIONS:
        raise ValueError(f"override {key!r}: unknown section {section!r}; sections are {', '.join(SECTIONS)}")
    target = values.setdefault(section, {})
    *parents, leaf = name.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
        if not isinstance(target, dict):
            raise ValueError(f"override {key!r}: {parent} is not a table")
    target[leaf] = value
