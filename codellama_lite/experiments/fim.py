"""Chapter 3's experiment: what fill-in-the-middle training costs and what it buys (Code Llama §2.3, Tables 5, 14).

Two models trained identically on the same data — the ``base`` recipe with FIM rate 0.9 and its twin with rate 0
(:func:`twin_recipes`, trained once through the cache) — are compared on:

1. **left-to-right ability** (the paper's Table 5: FIM costs 0.6 / 1.1 points of pass@k at 7B / 13B and leaves the
   test loss unchanged; Bavarian et al. 2022, arXiv 2207.14255: "FIM for free"): the mean next-token loss on
   untransformed validation windows (:func:`window_losses`), and greedy pass@1 on the toy world's test problems
   (:func:`continue_prompts`), each as a paired difference with a bootstrap interval (:func:`paired_difference`);
2. **infilling**: single-line, multi-line and random-span tasks cut from toy test problems
   (:func:`codellama_lite.evaluation.infilling.toy_infilling_tasks`), judged by running prefix + middle + suffix,
   plus exact match. The FIM model is prompted PSM and SPM (Table 14: SPM ahead except on random spans); the
   left-to-right model gets the only prompt it can use, the prefix (:func:`infill_middles` with ``mode="l2r"``);
3. **why SPM loses on random spans** (:func:`boundary_tokens`): in SPM training the prefix and middle are encoded
   *together*, so a cut inside a word never shows up as a token boundary; an SPM prompt ending in ``enc(prefix)``
   forces one where training never had it (no token healing at inference).

:func:`fim_share_by_length` measures which documents the packer FIM'd: only those that fit whole into the room left
in a context (docs/paper_facts.md §3), so at a short context the long source files are almost never transformed.
Everything that runs generated code goes through the sandbox (:class:`codellama_lite.evaluation.sandbox.Sandbox`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from codellama_lite.evaluation.infilling import KINDS, left_to_right_middle
from codellama_lite.evaluation.passk import bootstrap_ci
from codellama_lite.evaluation.stops import truncate_at_stops
from codellama_lite.evaluation.tasks import Task
from codellama_lite.model import Transformer
from codellama_lite.tokenizer import Tokenizer

# The paper's figures this chapter sets ours beside (Code Llama Table 5 and Table 14; docs/paper_facts.md §3).
PAPER_FIM_COST_POINTS = {"7B": 0.6, "13B": 1.1}  # mean pass@k lost to FIM over HumanEval/MBPP, before LCFT
PAPER_TEST_LOSS = {"7B": {"no FIM": 0.408, "FIM": 0.407}, "13B": {"no FIM": 0.372, "FIM": 0.373}}
PAPER_INFILLING_7B = {"random-span": {"psm": 60.7, "spm": 39.6}}  # greedy pass@1, percent
PAPER_FIM_RATE = 0.9  # §2.3: of the documents that fit, 90% are transformed, half PSM and half SPM
RATES = {"fim": PAPER_FIM_RATE, "no_fim": 0.0}
ARMS = tuple(RATES)
MODES = ("psm", "spm", "l2r")

# --- 1. The twins ----------------------------------------------------------------------------------------------


def twin_recipes(profile: str, stage: str = "base") -> dict[str, Any]:
    """The ``stage`` recipe at FIM rate 0.9 and at 0: nothing else differs. One of them is the recipe as written (the
    laptop ``base`` trains left to right, the other profiles at 0.9), so it is chapter 2's cached model."""
    from codellama_lite.train import load_recipe

    return {arm: load_recipe(stage, profile, {"data.fim_rate": rate}) for arm, rate in RATES.items()}


def train_twins(profile: str, stage: str = "base") -> dict[str, Path]:
    """The exported folders of both twins, trained now only where the cache has no finished run."""
    from codellama_lite.pipeline.cache import trained

    return {arm: trained(recipe) for arm, recipe in twin_recipes(profile, stage).items()}


def load_model(folder: str | Path) -> tuple[Transformer, Tokenizer]:
    """An exported model (eval mode, float32) and its tokenizer."""
    from codellama_lite.interop import import_hf

    folder = Path(folder)
    return import_hf(folder).float().eval(), Tokenizer(folder / "tokenizer.model")


# --- 2. What the packer transforms -----------------------------------------------------------------------------


_CORPORA: dict[str, tuple[Any, Any]] = {}


def recipe_data(recipe: Any) -> tuple[Any, Any]:
    """The data config and the corpus (train and valid documents) a run of ``recipe`` reads (built once per recipe
    content in this process)."""
    from codellama_lite.data import build_corpus, default_data_config

    if recipe.digest() not in _CORPORA:
        config = default_data_config(recipe.train.seq_len, **{"seed": recipe.train.seed, **recipe.data})
        _CORPORA[recipe.digest()] = config, build_corpus(config, progress=False)
    return _CORPORA[recipe.digest()]


def fim_share_by_length(recipe: Any, tokenizer: Tokenizer, windows: int = 400,
                        edges: Sequence[int] = (32, 64, 128, 256, 512, 1024)) -> list[dict[str, Any]]:
    """Share of documents FIM'd by the training stream of ``recipe`` (with the run's ``tokenizer``), by plain
    length in tokens (bucket upper ``edges``; the last bucket is open), over its first ``windows`` windows."""
    from codellama_lite.data import PackedStream

    config, corpus = recipe_data(recipe)
    log: list[tuple[str, int, bool]] = []

    class Recording(PackedStream):
        def _start_document(self, room: int):  # noqa: ANN202 - the packer's own pending record
            pending = super()._start_document(room)
            text = self.by_source[pending.source][pending.index].text
            log.append((pending.source, len(tokenizer.encode(text)) + 2, pending.fim))
            return pending

    stream = Recording(corpus.train, tokenizer, config)
    for _ in range(windows):
        stream.next_batch(1)
    return _bucket_shares(log, edges)


def _bucket_shares(log: Sequence[tuple[str, int, bool]], edges: Sequence[int]) -> list[dict[str, Any]]:
    rows = []
    for low, high in zip((0, *edges), (*edges, None)):
        inside = [(source, fim) for source, length, fim in log if length > low and (high is None or length <= high)]
        if inside:
            rows.append({"tokens": f"{low + 1}–{high}" if high else f">{low}", "documents": len(inside),
                         "fim_share": sum(fim for _, fim in inside) / len(inside),
                         "sources": sorted({source for source, _ in inside})})
    return rows


# --- 3. Left to right: loss and pass@1 --------------------------------------------------------------------------


def validation_sets(recipe: Any, tokenizer: Tokenizer, count: int = 64) -> dict[str, torch.Tensor]:
    """Plain (never FIM'd) validation windows of ``recipe``'s corpus: all sources, and the toy world's alone."""
    from codellama_lite.data import validation_windows

    valid = recipe_data(recipe)[1].valid
    sets = {"all": validation_windows(valid, tokenizer, recipe.train.seq_len, count)}
    toy = [document for document in valid if document.source == "toy"]
    if toy:
        sets["toy"] = validation_windows(toy, tokenizer, recipe.train.seq_len, count)
    return sets


@torch.no_grad()
def window_losses(model: Transformer, windows: torch.Tensor, batch_size: int = 8) -> np.ndarray:
    """Mean next-token cross-entropy of each window (tokens 1… predicted from 0…), one value per window."""
    losses = []
    for start in range(0, len(windows), batch_size):
        batch = windows[start:start + batch_size]
        logits = model(batch[:, :-1]).float()
        loss = F.cross_entropy(logits.transpose(1, 2), batch[:, 1:], reduction="none")
        losses.append(loss.mean(dim=1))
    return torch.cat(losses).numpy()


@dataclass(frozen=True)
class Difference:
    """``a - b`` averaged over paired items, with a 95% bootstrap interval over the items."""

    a: float
    b: float
    value: float
    low: float
    high: float
    items: int

    def __str__(self) -> str:
        return f"{self.value:+.4f} [{self.low:+.4f}, {self.high:+.4f}] over {self.items}"


def paired_difference(a: Sequence[float], b: Sequence[float], seed: int = 0) -> Difference:
    """Mean of ``a - b`` over paired items (the same windows or problems for both models) with its interval."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"paired_difference needs two equal-length non-empty lists, got {a.shape} and {b.shape}")
    low, high = bootstrap_ci(a - b, seed=seed)
    return Difference(float(a.mean()), float(b.mean()), float((a - b).mean()), low, high, len(a))


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def continue_prompts(model: Transformer, tokenizer: Tokenizer, prompts: Sequence[str], stops: Sequence[str],
                     max_new_tokens: int = 96, batch_size: int = 16) -> list[str]:
    """Greedy left-to-right continuations, cut at ``stops``; decoded keeping the first piece's space (a prompt
    ending in a newline continues with ``▁▁▁▁`` indentation, all four spaces of it)."""
    from codellama_lite.generate import generate

    texts: list[str] = []
    for batch in _batches(list(prompts), batch_size):
        completions = generate(model, [tokenizer.encode(p, bos=True) for p in batch], max_new_tokens,
                               stop_ids=(tokenizer.eos_id,), stop_strings=stops, tokenizer=tokenizer)
        texts += [truncate_at_stops(tokenizer.decode_infilling(c.tokens), stops) for c in completions]
    return texts


def infill_middles(model: Transformer, tokenizer: Tokenizer, tasks: Sequence[Task], mode: str,
                   max_new_tokens: int = 64, batch_size: int = 16) -> list[str]:
    """Greedy middles for infilling ``tasks``: ``psm`` or ``spm`` prompts up to ``<EOT>``, or ``l2r`` — the prefix
    alone, continued and cut by :func:`~codellama_lite.evaluation.infilling.left_to_right_middle`."""
    from codellama_lite.generate import infill

    if mode not in MODES:
        raise ValueError(f"unknown infilling mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "l2r":
        stops = tasks[0].stops if tasks else ()
        texts = continue_prompts(model, tokenizer, [t.prompt for t in tasks], stops, max_new_tokens, batch_size)
        return [left_to_right_middle(text, task) for text, task in zip(texts, tasks)]
    middles: list[str] = []
    for batch in _batches(list(tasks), batch_size):
        middles += infill(model, tokenizer, [(t.prompt, t.suffix or "") for t in batch],
                          suffix_first=mode == "spm", max_new_tokens=max_new_tokens)
    return middles


def judge(tasks: Sequence[Task], completions: Sequence[str], sandbox: Any) -> tuple[list[bool], list[bool]]:
    """Each completion run in its task's program in the sandbox: (passed, exact match) per task."""
    from codellama_lite.evaluation.samples import Sample
    from codellama_lite.evaluation.scoring import score_samples

    samples = [Sample(task.task_id, 0, text) for task, text in zip(tasks, completions)]
    results = score_samples(tasks, samples, sandbox, truncate=False)
    return [bool(r.passed) for r in results], [text == task.reference for task, text in zip(tasks, completions)]


def per_problem(tasks: Sequence[Task], values: Sequence[bool]) -> np.ndarray:
    """Mean of ``values`` per source problem (``Kind/Toy/test/7/L1`` → ``Toy/test/7``), in first-seen order: the
    unit to resample, since the holes of one problem are not independent."""
    groups: dict[str, list[float]] = {}
    for task, value in zip(tasks, values):
        groups.setdefault(task.task_id.split("/", 1)[1].rsplit("/", 1)[0], []).append(float(value))
    return np.array([np.mean(group) for group in groups.values()])


# --- 4. The token boundary behind SPM's random-span loss ---------------------------------------------------------


def boundary_tokens(tokenizer: Tokenizer, prefix: str, middle: str) -> dict[str, list[str]]:
    """The pieces around the prefix/middle cut in each layout: what training showed and what a prompt shows.

    ``spm_training``: ``enc(prefix + middle)`` (one encoding, no boundary); ``spm_prompt``: ``enc(prefix)`` then the
    model must go on with pieces of ``middle`` — the last prefix piece is final; ``psm``: ``enc(prefix)`` | and
    ``enc_nospace(middle)``, split at the cut in training as at inference.
    """
    pieces: Callable[[list[int]], list[str]] = lambda ids: [tokenizer.id_to_piece(i) for i in ids]  # noqa: E731
    return {"spm_training": pieces(tokenizer.encode(prefix + middle)),
            "spm_prompt": pieces(tokenizer.encode(prefix)) + ["|"] + pieces(tokenizer.encode_infilling(middle)),
            "psm": pieces(tokenizer.encode(prefix)) + ["|"] + pieces(tokenizer.encode_infilling(middle))}


def layout_strip(tokenizer: Tokenizer, prefix: str, middle: str, suffix: str, layout: str) -> list[tuple[str, str]]:
    """The training example of ``layout`` (``psm`` or ``spm``) as ``(piece, part)`` pairs for a token-strip picture;
    part is ``prefix``, ``middle``, ``suffix``, ``straddles`` (an SPM piece spanning the cut) or ``""`` (special)."""
    from codellama_lite.fim import psm_ids, spm_ids

    ids = (psm_ids if layout == "psm" else spm_ids)(prefix, middle, suffix, tokenizer)
    specials = {tokenizer.prefix_id, tokenizer.suffix_id, tokenizer.middle_id, tokenizer.eot_id}
    order = {"psm": ("prefix", "suffix", "middle"), "spm": ("", "suffix", "joint")}[layout]
    strip, section, offset = [], -1, 0
    for index in ids:
        piece = tokenizer.id_to_piece(index)
        if index in specials:
            strip.append((piece, ""))
            section, offset = section + 1, 0
            continue
        part = order[min(section, len(order) - 1)]
        width = 1 if tokenizer.is_byte(index) else len(piece)
        if part == "joint":  # enc(prefix + middle) carries one implicit space before the prefix
            start, offset = offset - 1, offset + width
            part = "prefix" if offset - 1 <= len(prefix) else "middle" if start >= len(prefix) else "straddles"
        strip.append((piece, part))
    return strip


def splits_a_token(tokenizer: Tokenizer, prefix: str, middle: str) -> bool:
    """Whether the cut falls inside a piece of the joint encoding: ``enc(prefix) + enc_nospace(middle)`` differs
    from ``enc(prefix + middle)`` (an SPM prompt then starts the middle where training never did)."""
    return tokenizer.encode(prefix) + tokenizer.encode_infilling(middle) != tokenizer.encode(prefix + middle)


# --- 5. The whole ablation ---------------------------------------------------------------------------------------


@dataclass
class Sizes:
    """How much to evaluate: toy test problems for pass@1, problems to cut holes in, tasks kept per kind."""

    pass_problems: int = 100
    infill_problems: int = 40
    tasks_per_kind: int = 120
    windows: int = 64
    max_new_tokens: int = 64


def evaluate_twins(folders: dict[str, Path], recipes: dict[str, Any], sandbox: Any, sizes: Sizes | None = None,
                   seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Every measurement of the chapter on the two trained twins; a JSON-able dict (see :func:`comparison_rows`)."""
    from tqdm.auto import tqdm

    from codellama_lite.evaluation.infilling import subsample, toy_infilling_tasks
    from codellama_lite.evaluation.toy import toy_problems, toy_tasks

    sizes = sizes or Sizes()
    models = {arm: load_model(folder) for arm, folder in folders.items()}
    tokenizer = models["fim"][1]
    out: dict[str, Any] = {"sizes": sizes.__dict__, "loss": {}, "pass_at_1": {}, "infilling": {}}
    for name, windows in validation_sets(recipes["fim"], tokenizer, sizes.windows).items():
        losses = {arm: window_losses(model, windows) for arm, (model, _) in models.items()}
        out["loss"][name] = paired_difference(losses["fim"], losses["no_fim"], seed).__dict__
    tasks = toy_tasks(toy_problems("test", 0, sizes.pass_problems)[0])
    passed = {}
    for arm, (model, tok) in tqdm(models.items(), desc="toy pass@1", disable=not progress):
        texts = continue_prompts(model, tok, [t.prompt for t in tasks], tasks[0].stops, sizes.max_new_tokens)
        passed[arm] = judge(tasks, texts, sandbox)[0]
    out["pass_at_1"] = paired_difference(passed["fim"], passed["no_fim"], seed).__dict__
    runs = [("fim", "psm"), ("fim", "spm"), ("fim", "l2r"), ("no_fim", "l2r")]
    for kind in tqdm(KINDS, desc="infilling", disable=not progress):
        chosen = subsample(toy_infilling_tasks(kind, "test", 0, sizes.infill_problems, seed), sizes.tasks_per_kind,
                           seed)
        scores = {}
        for arm, mode in runs:
            middles = infill_middles(*models[arm], chosen, mode, sizes.max_new_tokens)
            ok, exact = judge(chosen, middles, sandbox)
            scores[f"{arm}/{mode}"] = {"passed": ok, "exact": exact, "middles": middles}
        out["infilling"][kind] = _infilling_summary(chosen, scores, seed, tokenizer)
    return out


def _infilling_summary(tasks: Sequence[Task], scores: dict[str, dict[str, list]], seed: int,
                       tokenizer: Tokenizer) -> dict[str, Any]:
    """Pass rate and exact match per arm/mode, FIM-vs-L2R and SPM-vs-PSM paired over problems, and the share of
    tasks whose cut splits a token of the joint encoding."""
    summary: dict[str, Any] = {"tasks": len(tasks), "problems": len(per_problem(tasks, [0] * len(tasks)))}
    for name, score in scores.items():
        rate = per_problem(tasks, score["passed"])
        low, high = bootstrap_ci(rate, seed=seed)
        summary[name] = {"pass": float(rate.mean()), "low": low, "high": high,
                         "exact": float(np.mean(score["exact"]))}
    pairs = {"fim_psm_vs_l2r": ("fim/psm", "no_fim/l2r"), "spm_vs_psm": ("fim/spm", "fim/psm")}
    for label, (a, b) in pairs.items():
        summary[label] = paired_difference(per_problem(tasks, scores[a]["passed"]),
                                           per_problem(tasks, scores[b]["passed"]), seed).__dict__
    summary["token_split_share"] = float(np.mean([splits_a_token(tokenizer, t.prompt, t.reference) for t in tasks]))
    return summary


def comparison_rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """One table, the paper's figure beside ours (percent for pass rates; loss in nats per token)."""
    loss, p1 = result["loss"]["all"], result["pass_at_1"]
    rows = [{"measure": "validation loss, FIM 0.9 − FIM 0 (plain documents)",
             "paper": f"7B {PAPER_TEST_LOSS['7B']['FIM'] - PAPER_TEST_LOSS['7B']['no FIM']:+.3f}, "
                      f"13B {PAPER_TEST_LOSS['13B']['FIM'] - PAPER_TEST_LOSS['13B']['no FIM']:+.3f}",
             "ours": f"{loss['value']:+.4f} [{loss['low']:+.4f}, {loss['high']:+.4f}]"},
            {"measure": "pass@1 points, FIM 0.9 − FIM 0 (toy test; paper: HumanEval/MBPP pass@k)",
             "paper": f"7B −{PAPER_FIM_COST_POINTS['7B']}, 13B −{PAPER_FIM_COST_POINTS['13B']}",
             "ours": f"{100 * p1['value']:+.1f} [{100 * p1['low']:+.1f}, {100 * p1['high']:+.1f}]"}]
    for kind, summary in result["infilling"].items():
        for mode in ("psm", "spm"):
            paper = PAPER_INFILLING_7B.get(kind, {}).get(mode)
            ours = summary[f"fim/{mode}"]
            rows.append({"measure": f"{kind} infilling pass@1, {mode.upper()}",
                         "paper": "—" if paper is None else f"7B {paper:.1f}",
                         "ours": f"{100 * ours['pass']:.1f} [{100 * ours['low']:.1f}, {100 * ours['high']:.1f}]"})
        l2r = summary["no_fim/l2r"]
        rows.append({"measure": f"{kind} infilling pass@1, FIM-0 model, prefix only", "paper": "—",
                     "ours": f"{100 * l2r['pass']:.1f} [{100 * l2r['low']:.1f}, {100 * l2r['high']:.1f}]"})
    return rows
