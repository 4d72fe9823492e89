"""Looking at a trained model from outside: which heads do what, and whether the code it writes passes (chapters 2, 6).

* **Head scores** from :func:`codellama_lite.viz.model.attention_maps`: a *previous-token* head puts its attention on
  position ``i - 1``; an *induction* head, at a token that occurred before, attends to the token that *followed* the
  earlier occurrence (so it can copy what came next; Olsson et al., 2022). Every head of every layer gets both
  scores, so the notebook shows the best ones instead of guessing.
* **A toy benchmark run** (:func:`score_toy`): generate a split's samples (resumable samples file), judge them and
  summarise pass@k with bootstrap intervals — ``codellama-lite eval toy --checkpoint`` as one function call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from codellama_lite.evaluation.evaluate import evaluate
from codellama_lite.evaluation.generation import Sampling
from codellama_lite.evaluation.passk import PassAtK
from codellama_lite.evaluation.sandbox import Sandbox
from codellama_lite.evaluation.scoring import counts, summarize
from codellama_lite.evaluation.toy import pass_at_1_by, toy_problems, toy_tasks


# -- head scores ---------------------------------------------------------------------------------------------------

def _stack(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """The first batch row of every layer's maps as one ``(layers, heads, seq, seq)`` tensor."""
    return torch.stack([layer_maps[0].float() for layer_maps in maps])


def previous_token_scores(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """``(layers, heads)``: each head's mean attention from position ``i`` to ``i - 1`` over ``i >= 1``."""
    stacked = _stack(maps)
    if stacked.shape[-1] < 2:
        raise ValueError("previous-token scores need at least two tokens")
    return stacked.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)


def induction_pairs(tokens: Sequence[int]) -> list[tuple[int, int]]:
    """``(query, key)`` positions where induction can copy: token ``i`` occurred before (last at ``j``), the text
    goes on as it did then (``tokens[i+1] == tokens[j+1]``), and ``j + 1 < i - 1`` (not simply the previous token)."""
    last: dict[int, int] = {}
    pairs = []
    for i, token in enumerate(tokens):
        j = last.get(token)
        if j is not None and j + 1 < i - 1 and i + 1 < len(tokens) and tokens[i + 1] == tokens[j + 1]:
            pairs.append((i, j + 1))
        last[token] = i
    return pairs


def induction_scores(maps: Sequence[torch.Tensor], tokens: Sequence[int]) -> torch.Tensor:
    """``(layers, heads)``: mean attention over :func:`induction_pairs` from the repeated token to the token after
    its previous occurrence. Needs a text with repeats (a toy problem's tests repeat its docstring's examples)."""
    pairs = induction_pairs(list(tokens))
    if not pairs:
        raise ValueError("no repeated token with a repeated continuation: induction cannot be scored on this text")
    queries, keys = (torch.tensor(column) for column in zip(*pairs))
    return _stack(maps)[..., queries, keys].mean(-1)


@dataclass(frozen=True)
class Head:
    """One attention head and its score."""

    layer: int
    head: int
    score: float

    def __str__(self) -> str:
        return f"layer {self.layer}, head {self.head} ({self.score:.2f})"


def best_heads(scores: torch.Tensor, top: int = 1) -> list[Head]:
    """The ``top`` heads of a ``(layers, heads)`` score table, best first."""
    values, flat = scores.flatten().topk(min(top, scores.numel()))
    heads = scores.shape[1]
    return [Head(int(index) // heads, int(index) % heads, float(value)) for value, index in zip(values, flat)]


def uniform_baseline(seq: int) -> float:
    """What a head that spreads its attention evenly over the causal prefix gives position ``i - 1`` on average:
    the score an uninformative head gets, to read the others against."""
    return sum(1.0 / (i + 1) for i in range(1, seq)) / (seq - 1)


# -- a toy benchmark run ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ToyScore:
    """One split's pass@k (with bootstrap intervals), its sampling settings, and pass@1 by family."""

    split: str
    problems: int
    samples_per_problem: int
    temperature: float
    pass_at_k: dict[int, PassAtK]
    by_family: dict[str, float]

    def line(self) -> str:
        scores = ", ".join(str(value) for value in self.pass_at_k.values())
        decoding = "greedy" if self.temperature == 0 else f"T = {self.temperature}, n = {self.samples_per_problem}"
        return f"{self.split:<8} ({decoding}): {scores}"


def score_toy(completer, split: str, count: int, workdir: str | Path, *, n: int = 1, temperature: float = 0.0,
              top_p: float = 0.95, ks: Sequence[int] = (1,), max_new_tokens: int = 128, seed: int = 0,
              world_seed: int = 0, timeout: float = 3.0) -> ToyScore:
    """``codellama-lite eval toy --split SPLIT --count COUNT`` with a loaded completer: generate ``n`` samples per
    problem (greedy when ``temperature == 0``) into ``workdir/toy_<split>_n<n>_t<T>.jsonl``, judge them, summarise."""
    problems, labels = toy_problems(split, world_seed, count)
    tasks = toy_tasks(problems)
    path = Path(workdir) / f"toy_{split}_n{n}_t{temperature:g}.jsonl"
    with Sandbox(timeout=timeout) as sandbox:
        results = evaluate(completer, tasks, sandbox, Sampling(n, temperature, top_p, max_new_tokens, seed),
                           samples_path=path)
    return ToyScore(split, len(tasks), n, temperature, summarize(results, ks, seed=seed),
                    pass_at_1_by(counts(results), labels, "family"))


def induction_window(tokens: Sequence[int], width: int = 24) -> tuple[range, range]:
    """``(query positions, key positions)``, ``width`` each, around the latest induction pair: where an induction
    head's copy stripe shows (queries in the repeat, keys just after the first occurrence)."""
    pairs = induction_pairs(list(tokens))
    if not pairs:
        raise ValueError("no induction pair in these tokens")
    query, key = pairs[-1]
    return _window(query, width, len(tokens)), _window(key, width, len(tokens))


def _window(centre: int, width: int, length: int) -> range:
    start = max(0, min(centre - width // 2, length - width))
    return range(start, min(length, start + width))
