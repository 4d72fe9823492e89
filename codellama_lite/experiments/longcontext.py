"""Long context (Code Llama §2.4, §3.3, appendix G): what RoPE's base does, what context costs, and how far a model
trained short reads long.

The analysis of RoPE's frequencies lives in :mod:`codellama_lite.rope` and the cost of a long context in
:mod:`codellama_lite.costs`; this module holds the measurements:

* **Measurements** on any :class:`~codellama_lite.model.Transformer` with its
  :class:`~codellama_lite.tokenizer.Tokenizer`: loss per position on held-out code far past the training length
  (Figure 4a's perplexity curves) and the synthetic key retrieval of §3.3 (Table 17's task: a function returning a
  value hidden at a relative depth of a long file, then asked for), plus the long-context fine-tuning (LCFT) arms of
  Table 18 run through the trainer.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from codellama_lite.data.toyworld.splits import iter_problems
from codellama_lite.interop import import_hf, read_config
from codellama_lite.model import Transformer
from codellama_lite.pipeline.cache import trained
from codellama_lite.pipeline.chain import STAGES, stage_export, stage_recipe
from codellama_lite.rope import CODE_LLAMA_ROPE_THETA, LLAMA2_ROPE_THETA, scaling_methods
from codellama_lite.tokenizer import Tokenizer
from codellama_lite.train import load_recipe
from codellama_lite.train.loop import token_losses

# -- models with other rotary settings ------------------------------------------------------------------------------


def with_rope(model: Transformer, theta: float | None = None,
              rope_scaling: dict[str, Any] | None | str = "keep") -> Transformer:
    """A copy of ``model`` (same weights) whose RoPE base is ``theta`` and scaling ``rope_scaling`` (``"keep"``: as is).

    Inference-time methods (dynamic NTK, YaRN) are applied this way to a model that was never fine-tuned with them.
    """
    changes: dict[str, Any] = {}
    if theta is not None:
        changes["rope_theta"] = float(theta)
    if rope_scaling != "keep":
        changes["rope_scaling"] = rope_scaling
    weight = next(model.parameters())
    copy = Transformer(model.config.replace(**changes), device=weight.device, dtype=weight.dtype)
    copy.load_state_dict(model.state_dict())
    return copy.eval()


# -- loss per position on held-out code ------------------------------------------------------------------------------


def long_documents(tokenizer: Tokenizer, texts: Sequence[str], length: int, count: int) -> torch.Tensor:
    """Up to ``count`` windows of ``length`` tokens ``(n, length)``, each the start of one text at least that long.

    Whole files rather than concatenations: the loss at position ``p`` then measures how much the model uses the
    ``p`` tokens of the *same* file before it (Figure 4a uses long files too).
    """
    windows = []
    for text in texts:
        ids = tokenizer.encode(text, bos=True)
        if len(ids) >= length:
            windows.append(ids[:length])
        if len(windows) == count:
            break
    if not windows:
        raise ValueError(f"no text of at least {length} tokens among {len(texts)} held-out texts")
    return torch.tensor(windows)


def toy_module_texts(count: int, length: int, seed: int = 0) -> list[str]:
    """Up to ``count`` long files made of unseen toy problems (the ``test`` split, with their solutions), one after
    another, each of roughly ``length`` tokens or more: held-out code the laptop models know well, so that a loss
    rising past the training length shows positions the model cannot handle rather than text it never learned."""
    per_text = length // 60 + 8  # a toy problem is 80-130 tokens: ample
    texts, current = [], []
    for problem in iter_problems("test", seed):
        current.append(problem.source())
        if len(current) == per_text:
            texts.append("\n\n".join(current))
            current = []
            if len(texts) == count:
                break
    return texts


@torch.no_grad()
def loss_per_position(model: Transformer, documents: torch.Tensor, batch_size: int = 4) -> torch.Tensor:
    """Mean next-token cross-entropy at each position ``(length - 1,)`` over ``documents`` ``(n, length)``."""
    model.eval()
    return token_losses(model, documents, batch_size).double().mean(dim=0).float()


def bucket_means(values: torch.Tensor, edges: Sequence[int]) -> list[float]:
    """Means of ``values`` over ``[edges[k], edges[k+1])`` (positions), e.g. per multiple of the training length."""
    return [values[start:end].mean().item() for start, end in zip(edges[:-1], edges[1:])]


# -- synthetic key retrieval (§3.3) --------------------------------------------------------------------------------

NEEDLE = "def key_fn():\n    return {value}"
QUESTION = "\nassert key_fn() =="


@dataclass(frozen=True)
class RetrievalExample:
    """One prompt: filler code with the needle at ``depth``, ending with the question; the expected answer's tokens."""

    prompt: list[int]
    answer: list[int]
    depth: float
    value: int


def retrieval_example(tokenizer: Tokenizer, filler_lines: Sequence[str], length: int, depth: float,
                      value: int) -> RetrievalExample:
    """A prompt of about ``length`` tokens: filler lines, the needle ``def key_fn(): return <value>`` after a share
    ``depth`` of them, more filler, then ``assert key_fn() ==``; the answer is `` <value>``."""
    needle = NEEDLE.format(value=value)
    budget = length - len(tokenizer.encode(needle + QUESTION)) - 1
    lines: list[str] = []
    used = 0
    for line in filler_lines[:4 * length]:  # a line too long for what is left is skipped
        cost = len(tokenizer.encode(line)) + 1
        if used + cost <= budget:
            lines.append(line)
            used += cost
    if not lines:
        raise ValueError(f"length {length} leaves no room for filler around the needle")
    split = round(depth * len(lines))
    text = "\n".join(lines[:split] + [needle] + lines[split:]) + QUESTION
    prompt = tokenizer.encode(text, bos=True)
    full = tokenizer.encode(f"{text} {value}", bos=True)
    if full[:len(prompt)] != prompt:
        raise ValueError("the answer's tokens merge with the prompt's last token; change QUESTION")
    return RetrievalExample(prompt, full[len(prompt):], depth, value)


def filler_lines(texts: Sequence[str]) -> list[str]:
    """Lines of code to hide the needle in (non-empty, without ``key_fn``), in file order."""
    return [line for text in texts for line in text.splitlines() if line.strip() and "key_fn" not in line]


@torch.no_grad()
def retrieval_correct(model: Transformer, examples: Sequence[RetrievalExample]) -> list[bool]:
    """Whether greedy decoding would produce each answer exactly.

    One forward pass over prompt + answer per example: greedy decoding emits the answer iff every answer token is the
    argmax given the prompt and the answer tokens before it.
    """
    model.eval()
    device = next(model.parameters()).device
    correct = []
    for example in examples:
        tokens = torch.tensor([example.prompt + example.answer[:-1]], device=device)
        logits = model(tokens)[0, len(example.prompt) - 1:]
        correct.append(logits.argmax(dim=-1).tolist() == example.answer)
    return correct


def retrieval_accuracy(model: Transformer, tokenizer: Tokenizer, texts: Sequence[str], lengths: Sequence[int],
                       depths: Sequence[float], per_cell: int = 4, seed: int = 0) -> torch.Tensor:
    """Accuracy ``(len(lengths), len(depths))`` of key retrieval; each cell ``per_cell`` prompts with random values
    and filler drawn from different places in ``texts`` (appendix G.2 uses 64 per cell)."""
    rng = random.Random(seed)
    lines = filler_lines(texts)
    accuracy = torch.zeros(len(lengths), len(depths))
    for row, length in enumerate(lengths):
        for col, depth in enumerate(depths):
            examples = []
            for _ in range(per_cell):
                start = rng.randrange(max(1, len(lines) - 4 * length))
                examples.append(retrieval_example(tokenizer, lines[start:], length, depth, rng.randrange(100, 1000)))
            accuracy[row, col] = sum(retrieval_correct(model, examples)) / per_cell
    return accuracy


# -- the LCFT arms of Table 18, at toy scale ---------------------------------------------------------------------------

LCFT_FACTOR = 4  # the paper fine-tunes at 4x Llama 2's length: 4,096 -> 16,384


def lcft_arms(base_theta: float = LLAMA2_ROPE_THETA, factor: int = LCFT_FACTOR) -> dict[str, dict[str, Any]]:
    """Table 18's fine-tuning arms: the RoPE base and scaling each fine-tunes with (the first has no fine-tuning)."""
    return {
        "no LCFT": {"theta": base_theta, "rope_scaling": None, "finetune": False},
        f"LCFT, base {base_theta:g}": {"theta": base_theta, "rope_scaling": None, "finetune": True},
        f"LCFT, PI x{factor}": {"theta": base_theta, "rope_scaling": {"rope_type": "linear", "factor": float(factor)},
                                "finetune": True},
        "LCFT, base 1e6": {"theta": CODE_LLAMA_ROPE_THETA, "rope_scaling": None, "finetune": True},
    }


def base_recipe(profile: str, theta: float = LLAMA2_ROPE_THETA, overrides: dict[str, Any] | None = None) -> Any:
    """The short-context base: the chain's ``base`` stage of ``profile`` (continuing its stand-in), with RoPE base
    ``theta`` set only where the stage trains with another, so the cached base of chapters 2-3 is reused when it
    matches."""
    start = stage_export(STAGES["base"].parent, profile, progress=False)
    recipe = stage_recipe("base", profile, start, overrides)
    if recipe.model_shape().rope_theta != theta:
        changes = {"rope_theta": float(theta)}
        recipe = recipe.with_changes(init=changes, model=changes if recipe.model.rope_theta is not None else {})
    return recipe


def train_base(profile: str, theta: float = LLAMA2_ROPE_THETA, overrides: dict[str, Any] | None = None) -> Path:
    """The exported short-context base model (:func:`base_recipe`), trained once through the cache."""
    return trained(base_recipe(profile, theta, overrides))


def lcft_recipes(base_dir: str | Path, profile: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``lcft`` recipe of each fine-tuned arm of :func:`lcft_arms`, starting from the export ``base_dir``.

    The arm sets the base through ``init.rope_theta`` and position interpolation through ``init.rope_scaling``
    (the fine-tuned export keeps it); the base-1e6 arm is then the chain's own ``lcft`` stage (chapter 5 reuses it).
    """
    base_theta = read_config(base_dir).rope_theta
    recipe = load_recipe("lcft", profile=profile, overrides=overrides)
    return {name: recipe.with_changes(init={"from": str(base_dir), "rope_theta": float(arm["theta"]),
                                            "rope_scaling": arm["rope_scaling"] or {}})
            for name, arm in lcft_arms(base_theta).items() if arm["finetune"]}


def run_lcft_arms(base_dir: str | Path, profile: str, overrides: dict[str, Any] | None = None) -> dict[str, Path]:
    """Every arm's exported folder (``base_dir`` itself for "no LCFT"), each fine-tuned once through the cache."""
    folders = {"no LCFT": Path(base_dir)}
    folders.update({name: trained(recipe) for name, recipe in lcft_recipes(base_dir, profile, overrides).items()})
    return folders


def evaluation_models(folders: dict[str, Path], train_length: int,
                      factor: int = LCFT_FACTOR) -> dict[str, Transformer]:
    """Every arm's model, plus the inference-time methods (dynamic NTK, YaRN extending the base's ``train_length``
    by ``factor``) applied to the model that was never fine-tuned."""
    models = {name: import_hf(folder).eval() for name, folder in folders.items()}
    plain = models["no LCFT"]
    for name, scaling in scaling_methods(float(factor), train_length).items():
        if name in ("dynamic NTK", "YaRN"):
            models[f"no LCFT + {name}"] = with_rope(plain, rope_scaling=scaling)
    return models
