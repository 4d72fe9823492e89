"""Checkpoints in the two formats real Code Llama weights come in: Meta's and Hugging Face's.

* **Meta** (``params.json`` + ``consolidated.00.pth`` … one file per model-parallel rank). Each rank holds a slice of
  every parallel matrix: the column-parallel ``wq, wk, wv, w1, w3`` and ``output`` are split along dimension 0 (their
  output rows), the row-parallel ``wo, w2`` and the ``tok_embeddings`` table along dimension 1; norms are replicated.
  RoPE pairs are interleaved, so ``wq``/``wk`` rows are permuted to this model's half-split layout on import.
* **Hugging Face** (``config.json`` + ``model.safetensors``, or shards listed in ``model.safetensors.index.json``), as
  ``transformers.LlamaForCausalLM`` reads and writes it: half-split RoPE, like this model, so no permutation.

This model names its tensors as Meta does, so the Meta converters only permute the RoPE rows of ``wq``/``wk`` and the
Hugging Face ones only rename. Round trips are exact (pure copies and permutations). Large checkpoints are loaded
without a second copy: the model is built on the ``meta`` device and the loaded tensors are assigned to it.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from codellama_lite.config import ModelConfig
from codellama_lite.support.fileio import atomic_open, atomic_path, verify_checksums
from codellama_lite.model import Transformer
from codellama_lite.rope import (LLAMA2_ROPE_THETA, check_rope_scaling, half_split_to_interleaved,
                                 interleaved_to_half_split)

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class CheckpointFormat:
    """How a checkpoint format names our tensors (per layer, ``layer`` formatted with the layer's index)."""

    description: str
    layer: str
    global_names: dict[str, str]  # ours -> theirs: embedding, final norm, output
    layer_names: dict[str, str]  # ours -> theirs: every per-layer tensor
    interleaved_rope: bool  # wq/wk rows pair neighbours (Meta) rather than halves (ours, Hugging Face)


META = CheckpointFormat(
    "Meta checkpoint", "layers.{}.",
    {name: name for name in ("tok_embeddings.weight", "norm.weight", "output.weight")},
    {name: name for name in ("attention_norm.weight", "attention.wq.weight", "attention.wk.weight",
                             "attention.wv.weight", "attention.wo.weight", "ffn_norm.weight",
                             "feed_forward.w1.weight", "feed_forward.w2.weight", "feed_forward.w3.weight")},
    interleaved_rope=True)
HF = CheckpointFormat(
    "Hugging Face checkpoint", "model.layers.{}.",
    {"tok_embeddings.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
     "output.weight": "lm_head.weight"},
    {"attention_norm.weight": "input_layernorm.weight", "attention.wq.weight": "self_attn.q_proj.weight",
     "attention.wk.weight": "self_attn.k_proj.weight", "attention.wv.weight": "self_attn.v_proj.weight",
     "attention.wo.weight": "self_attn.o_proj.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
     "feed_forward.w1.weight": "mlp.gate_proj.weight", "feed_forward.w2.weight": "mlp.down_proj.weight",
     "feed_forward.w3.weight": "mlp.up_proj.weight"},
    interleaved_rope=False)

# Meta's model-parallel split dimension of each tensor kind (None: replicated on every rank).
META_SHARD_DIM: dict[str, int | None] = {
    "wq": 0, "wk": 0, "wv": 0, "w1": 0, "w3": 0, "output": 0,  # column-parallel: output rows split
    "wo": 1, "w2": 1, "tok_embeddings": 1,  # row-parallel: input columns split; the embedding table by its width
    "attention_norm": None, "ffn_norm": None, "norm": None,
}


# -- the tensors themselves: our state dict <-> a format's state dict ---------------------------------------------

def to_format(state: StateDict, config: ModelConfig, fmt: CheckpointFormat) -> StateDict:
    """Our tensors under ``fmt``'s names, ``wq``/``wk`` rows permuted where its RoPE pairs are interleaved."""
    out = globals_to_format(state, fmt)
    for i in range(config.n_layers):
        out.update(layer_to_format(state, config, fmt, i))
    return out


def globals_to_format(state: StateDict, fmt: CheckpointFormat) -> StateDict:
    """The embedding, final norm and output of our ``state`` under ``fmt``'s names."""
    return {theirs: state[ours].contiguous() for ours, theirs in fmt.global_names.items()}


def layer_to_format(state: StateDict, config: ModelConfig, fmt: CheckpointFormat, i: int) -> StateDict:
    """Layer ``i``'s tensors of our ``state`` (only those are needed) under ``fmt``'s names."""
    ours, theirs = f"layers.{i}.", fmt.layer.format(i)
    layer = {name: state[ours + name] for name in fmt.layer_names}
    if fmt.interleaved_rope:
        layer = _permute_rope_rows(layer, config, half_split_to_interleaved)
    out = {theirs + fmt.layer_names[name]: tensor for name, tensor in layer.items()}
    return {name: tensor.contiguous() for name, tensor in out.items()}


def from_format(state: StateDict, config: ModelConfig, fmt: CheckpointFormat, source: str | None = None) -> StateDict:
    """``fmt``'s tensors (one full, unsharded set) as our state dict; a missing tensor is named with ``source``."""
    get = _getter(state, source or fmt.description)
    out = {ours: get(theirs) for ours, theirs in fmt.global_names.items()}
    for i in range(config.n_layers):
        ours, theirs = f"layers.{i}.", fmt.layer.format(i)
        layer = {name: get(theirs + their_name) for name, their_name in fmt.layer_names.items()}
        if fmt.interleaved_rope:
            layer = _permute_rope_rows(layer, config, interleaved_to_half_split)
        out.update({ours + name: tensor for name, tensor in layer.items()})
    return out


def _permute_rope_rows(layer: StateDict, config: ModelConfig,
                       permute: Callable[[torch.Tensor, int], torch.Tensor]) -> StateDict:
    """One layer's tensors (our names) with the rows of ``wq`` and ``wk`` permuted per head by ``permute``."""
    heads = {"attention.wq.weight": config.n_heads, "attention.wk.weight": config.kv_heads}
    return {name: permute(tensor, heads[name]) if name in heads else tensor for name, tensor in layer.items()}


def _getter(state: StateDict, source: str) -> Callable[[str], torch.Tensor]:
    def get(name: str) -> torch.Tensor:
        if name not in state:
            raise ValueError(f"{source}: tensor {name!r} is missing")
        return state[name]
    return get


def check_tensors(state: StateDict, expected: StateDict, source: str) -> None:
    """Raise one clear error for a missing, unexpected or mis-shaped tensor, naming it and both shapes."""
    for name, reference in expected.items():
        if name not in state:
            raise ValueError(f"{source}: tensor {name!r} is missing")
        if tuple(state[name].shape) != tuple(reference.shape):
            raise ValueError(f"{source}: tensor {name!r} has shape {tuple(state[name].shape)}, "
                             f"but the configuration expects {tuple(reference.shape)}")
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise ValueError(f"{source}: unexpected tensor(s) {unexpected[:5]} for this configuration")


def _cpu_state(model: Transformer) -> StateDict:
    return {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}


def expected_tensors(config: ModelConfig, fmt: CheckpointFormat) -> StateDict:
    """The names and shapes a checkpoint of ``config`` holds in ``fmt``, computed on the ``meta`` device."""
    return to_format(Transformer(config, device="meta").state_dict(), config, fmt)


def load_into_model(state: StateDict, config: ModelConfig, source: str, device: torch.device | str | None = None,
                    dtype: torch.dtype | None = None) -> Transformer:
    """Build a model for ``config`` (on ``meta``, no allocation) and assign our-format ``state`` to it."""
    model = Transformer(config, device="meta")
    check_tensors(state, model.state_dict(), source)
    model.load_state_dict(state, assign=True)
    model.reset_rope()  # the rotary tables were on `meta` too
    return model.to(device=device, dtype=dtype)


# -- Hugging Face ---------------------------------------------------------------------------------------------------

HF_WEIGHTS = "model.safetensors"
HF_INDEX = "model.safetensors.index.json"


def hf_config(config: ModelConfig, dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """The ``config.json`` of ``LlamaForCausalLM`` for ``config``.

    transformers 4.x takes dynamic NTK's original length from ``max_position_embeddings``, so a ``dynamic`` model is
    written with ``max_position_embeddings`` = its ``original_max_position_embeddings``.
    """
    scaling = config.rope_scaling
    dynamic = scaling is not None and scaling["rope_type"] == "dynamic"
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": config.dim, "intermediate_size": config.hidden_dim,
        "num_hidden_layers": config.n_layers, "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.kv_heads, "head_dim": config.head_dim, "vocab_size": config.vocab_size,
        "rms_norm_eps": config.norm_eps, "rope_theta": config.rope_theta,
        "rope_scaling": None if scaling is None else dict(scaling),
        "max_position_embeddings": scaling["original_max_position_embeddings"] if dynamic else config.max_seq_len,
        "hidden_act": "silu", "tie_word_embeddings": False,
        "attention_bias": False, "mlp_bias": False, "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": str(dtype).removeprefix("torch."),
    }


def config_from_hf(values: dict[str, Any], source: str = "config.json") -> ModelConfig:
    """A :class:`ModelConfig` from a Llama ``config.json``; features this model lacks are refused by name."""
    def require(key: str) -> Any:
        if key not in values:
            raise ValueError(f"{source}: field {key!r} is missing")
        return values[key]

    if values.get("model_type", "llama") != "llama":
        raise ValueError(f"{source}: model_type {values['model_type']!r} is not 'llama'")
    for key, allowed in (("hidden_act", "silu"), ("tie_word_embeddings", False), ("attention_bias", False),
                         ("mlp_bias", False)):
        if values.get(key, allowed) != allowed:
            raise ValueError(f"{source}: {key}={values[key]!r} is not supported (expected {allowed!r})")
    try:
        config = _hf_model_config(values, require, source)
    except TypeError as error:  # a field of the wrong type (a string where a number belongs)
        raise ValueError(f"{source}: {error}") from None
    if values.get("head_dim") not in (None, config.head_dim):
        raise ValueError(f"{source}: head_dim={values['head_dim']} differs from hidden_size / num_attention_heads "
                         f"= {config.head_dim}")
    return config


def _hf_model_config(values: dict[str, Any], require: Callable[[str], Any], source: str) -> ModelConfig:
    return ModelConfig(
        dim=require("hidden_size"), n_layers=require("num_hidden_layers"), n_heads=require("num_attention_heads"),
        n_kv_heads=values.get("num_key_value_heads") or require("num_attention_heads"),
        vocab_size=require("vocab_size"), ffn_dim=require("intermediate_size"),
        norm_eps=float(values.get("rms_norm_eps", 1e-6)), rope_theta=float(values.get("rope_theta", LLAMA2_ROPE_THETA)),
        max_seq_len=int(values.get("max_position_embeddings", 2048)),
        rope_scaling=_rope_scaling_from_hf(values, source),
    )


def _rope_scaling_from_hf(values: dict[str, Any], source: str) -> dict[str, Any] | None:
    """``rope_scaling`` with the original length transformers 4.x uses: ``max_position_embeddings`` for ``dynamic``
    (always) and for ``yarn`` (when the dict names none)."""
    scaling = values.get("rope_scaling")
    if isinstance(scaling, dict):
        scaling = dict(scaling)
        kind = scaling.get("rope_type", scaling.get("type"))
        if kind == "dynamic" or (kind == "yarn" and "original_max_position_embeddings" not in scaling):
            scaling["original_max_position_embeddings"] = int(values.get("max_position_embeddings", 2048))
    return check_rope_scaling(scaling, f"{source}: rope_scaling")


def export_hf(model: Transformer, directory: str | Path) -> Path:
    """Write ``config.json`` and ``model.safetensors`` loadable by ``LlamaForCausalLM.from_pretrained(directory)``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = to_format(_cpu_state(model), model.config, HF)
    with atomic_path(directory / HF_WEIGHTS) as tmp:
        _save_safetensors(state, tmp, directory / HF_WEIGHTS)
    with atomic_open(directory / "config.json") as handle:
        json.dump(hf_config(model.config, model.output.weight.dtype), handle, indent=2)
    return directory


def _save_safetensors(state: StateDict, tmp: Path, target: Path) -> None:
    """``save_file``, with a full disk reported as the ``OSError`` it is (safetensors wraps it in its own error)."""
    try:
        save_file(state, str(tmp), metadata={"format": "pt"})
    except SafetensorError as error:
        if f"os error {errno.ENOSPC}" in str(error):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target)) from None
        raise


def read_config(directory: str | Path) -> ModelConfig:
    """The :class:`ModelConfig` of a Hugging Face Llama folder's ``config.json`` (no weights read)."""
    config_path = Path(directory) / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"no config.json in {directory}")
    return config_from_hf(read_json_object(config_path), str(config_path))


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold one object; anything else is an error naming the file."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:  # bad JSON or bad UTF-8
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(values).__name__}")
    return values


def _load_safetensors(path: Path) -> StateDict:
    """The tensors of one safetensors file; a truncated or damaged file is an error naming it."""
    try:
        return load_file(str(path))
    except SafetensorError as error:
        raise ValueError(f"{path}: damaged or truncated safetensors file ({error})") from None


def read_hf(directory: str | Path) -> tuple[ModelConfig, StateDict]:
    """A Hugging Face Llama folder's configuration and tensors in our format (their stored dtype, nothing built).

    Reads ``model.safetensors`` or the shards named in ``model.safetensors.index.json``; every tensor is checked
    against the configuration."""
    directory = Path(directory)
    verify_checksums(directory)  # an export of ours carries checksums.json; a downloaded folder may not
    config = read_config(directory)
    if (directory / HF_WEIGHTS).is_file():
        state = _load_safetensors(directory / HF_WEIGHTS)
    elif (directory / HF_INDEX).is_file():
        weight_map = read_json_object(directory / HF_INDEX).get("weight_map")
        if not isinstance(weight_map, dict):
            raise ValueError(f"{directory / HF_INDEX}: no 'weight_map' object")
        state = {}
        for shard in sorted(set(map(str, weight_map.values()))):
            state.update(_load_safetensors(directory / shard))
    else:
        raise FileNotFoundError(f"no {HF_WEIGHTS} or {HF_INDEX} in {directory} (only safetensors are read)")
    source = str(directory)
    check_tensors(state, expected_tensors(config, HF), source)
    return config, from_format(state, config, HF, source)


def import_hf(directory: str | Path, device: torch.device | str | None = None,
              dtype: torch.dtype | None = None) -> Transformer:
    """Load a Hugging Face Llama checkpoint (single or sharded safetensors) as a :class:`Transformer`."""
    config, state = read_hf(directory)
    return load_into_model(state, config, str(directory), device, dtype)


# -- Meta -----------------------------------------------------------------------------------------------------------

def meta_params(config: ModelConfig) -> dict[str, Any]:
    """The ``params.json`` Meta ships for ``config`` (which has no field for a ``rope_scaling``)."""
    if config.rope_scaling is not None:
        raise ValueError(f"Meta's params.json cannot hold rope_scaling={config.rope_scaling}; export with export_hf")
    params: dict[str, Any] = {"dim": config.dim, "n_layers": config.n_layers, "n_heads": config.n_heads,
                              "n_kv_heads": config.kv_heads, "vocab_size": config.vocab_size, **_meta_ffn(config),
                              "norm_eps": config.norm_eps, "rope_theta": config.rope_theta}
    return {key: value for key, value in params.items() if value is not None}


def _meta_ffn(config: ModelConfig) -> dict[str, Any]:
    """``params.json`` states the FFN width only through Llama's rule (:attr:`ModelConfig.hidden_dim`); an explicit
    width (from a Hugging Face ``intermediate_size``) is written as the multiplier that gives it exactly."""
    if config.ffn_dim is None or config.replace(ffn_dim=None).hidden_dim == config.ffn_dim:
        return {"multiple_of": config.multiple_of, "ffn_dim_multiplier": config.ffn_dim_multiplier}
    return {"multiple_of": 1, "ffn_dim_multiplier": (config.ffn_dim + 0.5) / int(2 * 4 * config.dim / 3)}


def config_from_meta(params: dict[str, Any], vocab_size: int, source: str = "params.json") -> ModelConfig:
    """A :class:`ModelConfig` from ``params.json``; ``vocab_size`` comes from the embedding when it says -1."""
    known = {"dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "multiple_of", "ffn_dim_multiplier",
             "norm_eps", "rope_theta", "max_seq_len", "max_batch_size"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"{source}: unsupported field(s) {unknown}")
    for key in ("dim", "n_layers", "n_heads"):
        if key not in params:
            raise ValueError(f"{source}: field {key!r} is missing")
    if params.get("vocab_size", -1) not in (-1, vocab_size):
        raise ValueError(f"{source}: vocab_size={params['vocab_size']} but tok_embeddings has {vocab_size} rows")
    return ModelConfig(dim=params["dim"], n_layers=params["n_layers"], n_heads=params["n_heads"],
                       n_kv_heads=params.get("n_kv_heads"), vocab_size=vocab_size,
                       multiple_of=params.get("multiple_of", 256), ffn_dim_multiplier=params.get("ffn_dim_multiplier"),
                       norm_eps=float(params.get("norm_eps", 1e-5)),
                       rope_theta=float(params.get("rope_theta", LLAMA2_ROPE_THETA)))


def _shard_dim(name: str) -> int | None:
    """The split dimension of a Meta tensor name such as ``layers.3.attention.wq.weight``."""
    kind = name.split(".")[-2]
    if kind not in META_SHARD_DIM:
        raise ValueError(f"unknown tensor {name!r} in a Meta checkpoint")
    return META_SHARD_DIM[kind]


def merge_meta_shards(shards: list[StateDict], files: list[str] | None = None) -> StateDict:
    """Join model-parallel shards: concatenate each split tensor along its dimension, keep one copy of the rest."""
    files = files or [f"shard {i}" for i in range(len(shards))]
    names = set(shards[0])
    for shard, file in zip(shards, files):
        if set(shard) != names:
            diff = sorted(names.symmetric_difference(shard))[:3]
            raise ValueError(f"{file}: tensor names differ from {files[0]}'s (e.g. {diff})")
    merged = {}
    for name in shards[0]:
        if name == "rope.freqs":  # a stored copy of the RoPE frequencies in some Meta checkpoints: recomputed here
            continue
        dim = _shard_dim(name)
        parts = [shard[name] for shard in shards]
        if dim is None:
            merged[name] = parts[0]
            continue
        for part, file in zip(parts, files):
            other = 1 - dim
            if part.dim() != 2 or part.shape[other] != parts[0].shape[other]:
                raise ValueError(f"{file}: tensor {name!r} has shape {tuple(part.shape)}, which does not concatenate "
                                 f"with {files[0]}'s {tuple(parts[0].shape)} along dimension {dim}")
        merged[name] = parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)
    return merged


def read_meta(directory: str | Path) -> tuple[ModelConfig, StateDict]:
    """A Meta folder's (``params.json`` + ``consolidated.NN.pth``) configuration and tensors in our format, the
    model-parallel shards joined (memory-mapped, their stored dtype, nothing built)."""
    directory = Path(directory)
    params_path = directory / "params.json"
    if not params_path.is_file():
        raise FileNotFoundError(f"no params.json in {directory}")
    files = sorted(directory.glob("consolidated.*.pth"))
    if not files:
        raise FileNotFoundError(f"no consolidated.*.pth in {directory}")
    shards = [torch.load(file, map_location="cpu", mmap=True, weights_only=True) for file in files]
    state = merge_meta_shards(shards, [str(file) for file in files])
    if "tok_embeddings.weight" not in state:
        raise ValueError(f"{directory}: tensor 'tok_embeddings.weight' is missing")
    params = read_json_object(params_path)
    config = config_from_meta(params, state["tok_embeddings.weight"].shape[0], str(params_path))
    source = str(directory)
    check_tensors(state, expected_tensors(config, META), source)
    return config, from_format(state, config, META, source)


def import_meta(directory: str | Path, device: torch.device | str | None = None,
                dtype: torch.dtype | None = None) -> Transformer:
    """Load Meta's format (``params.json`` + ``consolidated.NN.pth``) as a :class:`Transformer`."""
    config, state = read_meta(directory)
    return load_into_model(state, config, str(directory), device, dtype)


def read_pretrained(directory: str | Path) -> tuple[ModelConfig, StateDict]:
    """:func:`read_hf` for a folder with ``config.json``, :func:`read_meta` for one with ``params.json``."""
    directory = Path(directory)
    if (directory / "config.json").is_file():
        return read_hf(directory)
    if (directory / "params.json").is_file():
        return read_meta(directory)
    raise FileNotFoundError(f"{directory}: neither a Hugging Face (config.json) nor a Meta (params.json) checkpoint")


def pretrained_config(directory: str | Path) -> ModelConfig:
    """The :class:`ModelConfig` of a Hugging Face or Meta folder; for Meta the vocabulary is read from the first
    shard's embedding (memory-mapped: no weights are read)."""
    directory = Path(directory)
    if (directory / "config.json").is_file():
        return read_config(directory)
    params_path = directory / "params.json"
    if not params_path.is_file():
        raise FileNotFoundError(f"{directory}: neither a Hugging Face (config.json) nor a Meta (params.json) "
                                f"checkpoint")
    params = json.loads(params_path.read_text(encoding="utf-8"))
    vocab = params.get("vocab_size", -1)
    if vocab == -1:
        files = sorted(directory.glob("consolidated.*.pth"))
        if not files:
            raise FileNotFoundError(f"no consolidated.*.pth in {directory}")
        first = torch.load(files[0], map_location="cpu", mmap=True, weights_only=True)
        if "tok_embeddings.weight" not in first:
            raise ValueError(f"{files[0]}: tensor 'tok_embeddings.weight' is missing")
        vocab = first["tok_embeddings.weight"].shape[0]
    return config_from_meta(params, vocab, str(params_path))


def extend_vocabulary(state: StateDict, vocab_size: int) -> StateDict:
    """``state`` with ``tok_embeddings`` and ``output`` grown to ``vocab_size`` rows, in float32.

    The original rows are kept exactly (a float32 cast of what was stored); each new row is the mean of the existing
    rows of its table (Hewitt, 2021): a new piece starts as an average token, its logit at the average logit, rather
    than as noise that would perturb the trained model. Code Llama appends its 16 extra pieces to Llama 2's 32,000
    (§2.3); the paper does not say how their rows were initialised, so this is our choice.
    """
    out = dict(state)
    for name in ("tok_embeddings.weight", "output.weight"):
        table = state[name].float()
        if vocab_size < table.shape[0]:
            raise ValueError(f"cannot shrink {name} from {table.shape[0]} to {vocab_size} rows")
        new_rows = table.mean(dim=0, keepdim=True).expand(vocab_size - table.shape[0], -1)
        out[name] = torch.cat((table, new_rows), dim=0)
    return out


def split_meta_shards(state: StateDict, num_shards: int) -> list[StateDict]:
    """Split a full Meta state dict into ``num_shards`` model-parallel ranks.

    The inverse of :func:`merge_meta_shards`.
    """
    shards: list[StateDict] = [{} for _ in range(num_shards)]
    for name, tensor in state.items():
        dim = _shard_dim(name)
        if dim is not None and tensor.shape[dim] % num_shards:
            raise ValueError(f"tensor {name!r} of shape {tuple(tensor.shape)} does not split into {num_shards} "
                             f"equal parts along dimension {dim}")
        parts = [tensor] * num_shards if dim is None else list(tensor.chunk(num_shards, dim=dim))
        for shard, part in zip(shards, parts):
            shard[name] = part.clone()
    return shards


def export_meta(model: Transformer, directory: str | Path, num_shards: int = 1) -> Path:
    """Write Meta's format: ``params.json`` and ``consolidated.00.pth`` … (``num_shards`` model-parallel ranks)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = to_format(_cpu_state(model), model.config, META)
    for rank, shard in enumerate(split_meta_shards(state, num_shards)):
        with atomic_path(directory / f"consolidated.{rank:02d}.pth") as tmp:
            torch.save(shard, tmp)
    with atomic_open(directory / "params.json") as handle:
        json.dump(meta_params(model.config), handle, indent=2)
    return directory


# -- a transformers twin, for comparisons -------------------------------------------------------------------------

def to_transformers(model: Transformer) -> Any:
    """A ``transformers.LlamaForCausalLM`` with the same weights (needs the optional ``transformers`` package)."""
    try:
        from transformers import LlamaConfig, LlamaForCausalLM
    except ImportError as error:  # transformers is a test/benchmark extra, not a runtime dependency
        raise ValueError("to_transformers needs the 'transformers' package (pip install -e .[test])") from error
    values = {key: value for key, value in hf_config(model.config).items()
              if key not in ("architectures", "model_type", "torch_dtype")}
    twin = LlamaForCausalLM(LlamaConfig(**values, attn_implementation="sdpa"))
    twin.load_state_dict(to_format(_cpu_state(model), model.config, HF))
    return twin.to(device=model.output.weight.device, dtype=model.output.weight.dtype).eval()
