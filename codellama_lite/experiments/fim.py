"""Chapter 3's experiment: what fill-in-the-middle training costs and what it buys (Code Llama §2.3, Tables 5, 14).

The paper's Table 5 compares models that both start from Llama 2 and train on the same code, with FIM at rate 0.9
and without. Here both arms continue the same left-to-right stand-in (``configs/standin.toml``, the chain's first
stage): the ``base`` recipe at FIM rate 0.9 and its twin at rate 0, with the same data, steps and schedule, and a
seed for each retraining (:func:`arm_recipes`, trained once each through the cache). They are compared on:

1. **what the model saw** (:func:`toy_census`): the share of toy problems the packer put whole and left to right in
   front of the model, per arm — the precondition for a fair comparison, since the packer FIMs only documents that
   fit whole in a context (docs/paper_facts.md §3) and a FIM cut can split a function from its docstring;
2. **left-to-right ability** (Table 5: FIM costs 0.6 / 1.1 points of pass@k at 7B / 13B and leaves the test loss
   unchanged; Bavarian et al. 2022, arXiv 2207.14255: "FIM for free"): greedy pass@1 on toy test problems, the loss
   of canonical bodies given their prompt (:func:`body_losses`) and the loss of plain validation windows per source
   (:func:`window_losses`), each a paired difference over problems and seeds
   (:func:`codellama_lite.evaluation.passk.paired_difference`);
3. **infilling**: single-line, multi-line and random-span tasks cut from toy test problems
   (:func:`codellama_lite.evaluation.infilling.toy_infilling_tasks`), judged by running prefix + middle + suffix,
   plus exact match. The FIM model is prompted PSM and SPM (Table 14); the left-to-right model gets the only prompt
   it can use, the prefix (:func:`infill_middles` with ``mode="l2r"``);
4. **why SPM loses on random spans** (:func:`boundary_tokens`): in SPM training the prefix and middle are encoded
   *together*, so a cut inside a word never shows up as a token boundary; an SPM prompt ending in ``enc(prefix)``
   forces one where training never had it (no token healing at inference).

Completions are drawn and judged on the benchmarks' path (:mod:`codellama_lite.evaluation.evaluate`: the sandbox runs
every generated program); this module adds only what is FIM's: the infilling layouts and the oracle line count.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from codellama_lite.data import PackedStream, build_corpus, validation_sets as windows_by_source
from codellama_lite.data.toyworld import FILE_SEPARATOR
from codellama_lite.evaluation.evaluate import evaluate, judge
from codellama_lite.evaluation.generation import ModelCompleter, Sampling, complete
from codellama_lite.evaluation.infilling import KINDS, left_to_right_middle, subsample, toy_infilling_tasks
from codellama_lite.evaluation.passk import mean_interval, paired_difference
from codellama_lite.evaluation.samples import Result
from codellama_lite.evaluation.tasks import Task
from codellama_lite.evaluation.toy import toy_problems, toy_tasks
from codellama_lite.fim import FIM_RATE, fim_cuts, psm_ids, spm_ids
from codellama_lite.interop import import_hf
from codellama_lite.model import Transformer
from codellama_lite.pipeline.cache import trained
from codellama_lite.pipeline.chain import STAGES, stage_export, stage_recipe
from codellama_lite.tokenizer import Tokenizer
from codellama_lite.train.loop import token_losses

# The paper's figures this chapter sets ours beside (Code Llama Table 5 and Table 14; docs/paper_facts.md §3).
PAPER_FIM_COST_POINTS = {"7B": 0.6, "13B": 1.1}  # mean pass@k lost to FIM over HumanEval/MBPP, before LCFT
PAPER_TEST_LOSS = {"7B": {"no FIM": 0.408, "FIM": 0.407}, "13B": {"no FIM": 0.372, "FIM": 0.373}}
# Table 14, greedy pass@1 in percent, of the 7B before long-context fine-tuning (like the twins here, and the models
# of Table 5); the released 7B, after LCFT, is in codellama_lite.evaluation.report.PAPER_INFILLING.
PAPER_INFILLING_7B = {"single-line": {"psm": 77.0, "spm": 83.3}, "multi-line": {"psm": 49.7, "spm": 51.2},
                      "random-span": {"psm": 60.7, "spm": 39.6}}
PAPER_FIM_RATE = FIM_RATE  # §2.3, under the name chapter 3 cites
RATES = {"fim": PAPER_FIM_RATE, "no_fim": 0.0}
ARMS = tuple(RATES)
MODES = ("psm", "spm", "l2r")
MARGIN_POINTS = 3.0  # "nearly free": the cost lies within this many points of pass@1 (Table 5's 7B cost is 0.6)
LOSS_MARGIN = 0.02  # "unchanged" loss: within this many nats per token (Table 5's 7B test loss moved by 0.001)
GREEDY_BATCH = 16  # toy tasks decoded together when greedy

# --- 1. The arms ---------------------------------------------------------------------------------------------------


def arm_recipes(profile: str, seeds: Sequence[int] = (0,), rates: dict[str, float] | None = None,
                stage: str = "base") -> dict[tuple[str, int], Any]:
    """The ``stage`` recipe (continuing the chain's stand-in) at each FIM rate and seed: nothing else differs. The
    seed draws the data order and the FIM cuts; ``("fim", 0)`` is the chain's own ``base`` stage."""
    start = stage_export(STAGES[stage].parent, profile, progress=False) if STAGES[stage].parent else None
    recipe = stage_recipe(stage, profile, start)
    return {(arm, seed): recipe.with_changes(data={"fim_rate": rate}, train={"seed": seed})
            for seed in seeds for arm, rate in (rates or RATES).items()}


def twin_recipes(profile: str, stage: str = "base", seed: int = 0) -> dict[str, Any]:
    """The two arms of one seed: ``{"fim": ..., "no_fim": ...}``."""
    return {arm: recipe for (arm, _), recipe in arm_recipes(profile, (seed,), stage=stage).items()}


def train_arms(profile: str, seeds: Sequence[int] = (0,), stage: str = "base") -> dict[tuple[str, int], Path]:
    """The exported folders of every arm and seed, trained now only where the cache has no finished run."""
    return {key: trained(recipe) for key, recipe in arm_recipes(profile, seeds, stage=stage).items()}


def train_twins(profile: str, stage: str = "base", seed: int = 0) -> dict[str, Path]:
    """The exported folders of one seed's two arms."""
    return {arm: folder for (arm, _), folder in train_arms(profile, (seed,), stage).items()}


def load_model(folder: str | Path) -> tuple[Transformer, Tokenizer]:
    """An exported model (eval mode, float32) and its tokenizer."""
    folder = Path(folder)
    return import_hf(folder).float().eval(), Tokenizer(folder / "tokenizer.model")


# --- 2. What the model saw -----------------------------------------------------------------------------------------


_CORPORA: dict[str, tuple[Any, Any]] = {}


def recipe_data(recipe: Any) -> tuple[Any, Any]:
    """The data config and the corpus (train and valid documents) a run of ``recipe`` reads (built once per recipe
    content in this process)."""
    if recipe.digest() not in _CORPORA:
        config = recipe.data_config()
        _CORPORA[recipe.digest()] = config, build_corpus(config, progress=False)
    return _CORPORA[recipe.digest()]


def _placements(recipe: Any, tokenizer: Tokenizer, windows: int) -> tuple[Any, list[Any]]:
    """The training stream of ``recipe`` and where it put each document in its first ``windows`` windows."""
    config, corpus = recipe_data(recipe)
    stream = PackedStream(corpus.train, tokenizer, config)
    stream.placements = []
    for _ in range(windows):
        stream.next_batch(1)
    return stream, stream.placements


def fim_share_by_length(recipe: Any, tokenizer: Tokenizer, windows: int = 400,
                        edges: Sequence[int] = (32, 64, 128, 256, 512, 1024)) -> list[dict[str, Any]]:
    """Share of documents FIM'd by the training stream of ``recipe`` (with the run's ``tokenizer``), by length in
    tokens with BOS and EOS (bucket upper ``edges``; the last bucket is open), over its first ``windows`` windows."""
    stream, placed = _placements(recipe, tokenizer, windows)
    log = [(p.source, len(tokenizer.encode(stream.by_source[p.source][p.index].text)) + 2, p.fim) for p in placed]
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


CENSUS_KINDS = ("whole, plain document", "whole, inside a FIM part", "cut by a FIM split", "cut across contexts")


def toy_census(recipe: Any, tokenizer: Tokenizer, windows: int = 400, source: str = "toy") -> dict[str, float]:
    """How the first ``windows`` training windows of ``recipe`` show the toy world's problems: the share of problems
    (functions) seen whole and left to right — in a plain document, or inside one part (prefix, middle or suffix) of a
    FIM'd one — and the share cut by a FIM split or across two contexts (its docstring in one, its body maybe in
    the next). A problem seen whole is one the model practised exactly as a left-to-right prompt asks.
    """
    stream, placed = _placements(recipe, tokenizer, windows)
    counts = dict.fromkeys(CENSUS_KINDS, 0)
    for placement in (p for p in placed if p.source == source):
        text = stream.by_source[source][placement.index].text
        spans = _function_spans(text, FILE_SEPARATOR)
        if placement.fim:
            rng = random.Random(f"fim/{stream.config.seed}/{source}/{placement.epoch}/{placement.index}")
            rng.random()
            cuts = fim_cuts(len(text), rng)
            for start, end in spans:
                counts["cut by a FIM split" if any(start < cut < end for cut in cuts)
                       else "whole, inside a FIM part"] += 1
            continue
        room = stream.window_len - placement.offset
        starts = _token_char_starts(tokenizer, text)
        for start, end in spans:
            first = 1 + bisect.bisect_right(starts, start) - 1  # +1: the BOS before the text
            last = 1 + bisect.bisect_left(starts, end) - 1
            window_of = [(position - room) // stream.window_len if position >= room else -1 for position in
                         (first, last)]
            counts["whole, plain document" if window_of[0] == window_of[1] else "cut across contexts"] += 1
    total = sum(counts.values()) or 1
    return {kind: count / total for kind, count in counts.items()} | {"problems": total}


def _function_spans(text: str, separator: str) -> list[tuple[int, int]]:
    """Character spans of the functions of a toy file (joined by ``separator``)."""
    spans, start = [], 0
    for part in text.split(separator):
        spans.append((start, start + len(part)))
        start += len(part) + len(separator)
    return spans


def _token_char_starts(tokenizer: Tokenizer, text: str) -> list[int]:
    """The character offset in ``text`` where each token of ``encode(text)`` starts (the leading ``▁`` that
    SentencePiece adds is not a character of the text)."""
    starts, position = [], -1
    for index in tokenizer.encode(text):
        starts.append(max(position, 0))
        position += 1 if tokenizer.is_byte(index) else len(tokenizer.id_to_piece(index))
    return starts


# --- 3. Left to right: loss and pass@1 --------------------------------------------------------------------------


def validation_sets(recipe: Any, tokenizer: Tokenizer, count: int = 64) -> dict[str, torch.Tensor]:
    """Plain (never FIM'd) validation windows of ``recipe``'s corpus, per source
    (:func:`codellama_lite.data.validation_sets`)."""
    return windows_by_source(recipe_data(recipe)[1].valid, tokenizer, recipe.train.seq_len, count)


@torch.no_grad()
def window_losses(model: Transformer, windows: torch.Tensor, batch_size: int = 8) -> np.ndarray:
    """Mean next-token cross-entropy of each window (tokens 1… predicted from 0…), one value per window."""
    return token_losses(model, windows, batch_size).mean(dim=1).numpy()


@torch.no_grad()
def body_losses(model: Transformer, tokenizer: Tokenizer, prompts: Sequence[str], bodies: Sequence[str]) -> np.ndarray:
    """Mean next-token loss over the tokens of each canonical ``body`` given its ``prompt`` (teacher forcing): how
    well a model reads a spec into its code, without the noise of greedy decoding."""
    losses = []
    for prompt, body in zip(prompts, bodies):
        ids = tokenizer.encode(prompt + body, bos=True)
        starts = _token_char_starts(tokenizer, prompt + body)
        first = 1 + bisect.bisect_left(starts, len(prompt))  # the first token that starts inside the body
        logits = model(torch.tensor([ids[:-1]]))[0].float()
        targets = torch.tensor(ids[1:])
        losses.append(F.cross_entropy(logits[first - 1:], targets[first - 1:]).item())
    return np.array(losses)


def infill_middles(model: Transformer, tokenizer: Tokenizer, tasks: Sequence[Task], mode: str,
                   max_new_tokens: int = 64, batch_size: int = GREEDY_BATCH) -> list[str]:
    """Greedy middles for infilling ``tasks``: ``psm`` or ``spm`` prompts up to ``<EOT>``, or ``l2r`` — the prefix
    alone, continued and cut by :func:`~codellama_lite.evaluation.infilling.left_to_right_middle`; ``batch_size``
    tasks decoded together (:meth:`~codellama_lite.evaluation.generation.ModelCompleter.batch`)."""
    if mode not in MODES:
        raise ValueError(f"unknown infilling mode {mode!r}; choose one of {', '.join(MODES)}")
    completer = ModelCompleter(model, tokenizer, suffix_first=mode == "spm", batch_size=batch_size)
    asked = [replace(task, suffix=None) for task in tasks] if mode == "l2r" else list(tasks)
    samples = complete(completer, asked, Sampling(max_new_tokens=max_new_tokens), batch_tasks=True)
    if mode == "l2r":
        return [left_to_right_middle(sample.completion, task) for sample, task in zip(samples, tasks)]
    return [sample.completion for sample in samples]


def _scores(tasks: Sequence[Task], results: Sequence[Result]) -> dict[str, list[float]]:
    """Pass and exact match of judged middles, each a mean per source problem (:func:`per_problem`)."""
    return {"pass": per_problem(tasks, [r.passed for r in results]).tolist(),
            "exact": per_problem(tasks, [bool(r.exact_match) for r in results]).tolist()}


def per_problem(tasks: Sequence[Task], values: Sequence[bool]) -> np.ndarray:
    """Mean of ``values`` per source problem (``Kind/Toy/test/7/L1`` → ``Toy/test/7``), in first-seen order: the
    unit to resample, since the holes of one problem are not independent."""
    groups: dict[str, list[float]] = {}
    for task, value in zip(tasks, values):
        groups.setdefault(task.task_id.split("/", 1)[1].rsplit("/", 1)[0], []).append(float(value))
    return np.array([np.mean(group) for group in groups.values()])


@torch.no_grad()
def end_of_middle(model: Transformer, tokenizer: Tokenizer, examples: Sequence[tuple[str, str, str]],
                  mode: str) -> dict[str, float]:
    """Teacher-forced on ``(prefix, middle, suffix)`` examples laid out ``psm`` or ``spm`` as in training
    (:func:`codellama_lite.fim.psm_ids` / ``spm_ids``): the mean loss of the middle's tokens, and the probability the
    model gives ``<EOT>`` right after the whole middle — whether it knows *where* a middle ends, which greedy
    infilling needs as much as the middle itself."""
    losses, ends = [], []
    for prefix, middle, suffix in examples:
        ids = [tokenizer.bos_id, *(psm_ids if mode == "psm" else spm_ids)(prefix, middle, suffix, tokenizer)]
        log_probs = torch.log_softmax(model(torch.tensor([ids[:-1]]))[0].float(), dim=-1)
        start = ids.index(tokenizer.middle_id)
        targets = torch.tensor(ids[start + 1:])
        picked = log_probs[start:].gather(1, targets[:, None]).squeeze(1)
        losses.append(-picked[:-1].mean().item())
        ends.append(picked[-1].exp().item())
    return {"middle_loss": float(np.mean(losses)), "p_eot": float(np.mean(ends))}


def random_cut_examples(texts: Sequence[str], seed: int = 0) -> list[tuple[str, str, str]]:
    """``(prefix, middle, suffix)`` of each text cut at two uniform character positions, as training cuts them."""
    rng = random.Random(seed)
    examples = []
    for text in texts:
        start, end = fim_cuts(len(text), rng)
        examples.append((text[:start], text[start:end], text[end:]))
    return examples


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
    """How much to evaluate: toy test problems for pass@1 and body loss, problems to cut holes in, tasks kept per
    kind, validation windows, census windows."""

    pass_problems: int = 100
    infill_problems: int = 40
    tasks_per_kind: int = 120
    windows: int = 64
    max_new_tokens: int = 64


def measure_model(folder: Path, recipe: Any, sandbox: Any, sizes: Sizes, *, infill_modes: Sequence[str],
                  seed: int = 0) -> dict[str, Any]:
    """Every per-item measurement of one trained arm: JSON-able lists, one value per problem (or window)."""
    model, tokenizer = load_model(folder)
    problems = toy_problems("test", 0, sizes.pass_problems)[0]
    tasks = toy_tasks(problems)
    greedy = evaluate(ModelCompleter(model, tokenizer, batch_size=GREEDY_BATCH), tasks, sandbox,
                      Sampling(max_new_tokens=sizes.max_new_tokens), batch_tasks=True)
    out: dict[str, Any] = {
        "pass": [float(result.passed) for result in greedy],
        "body_loss": body_losses(model, tokenizer, [p.prompt for p in problems],
                                 [p.canonical_solution for p in problems]).tolist(),
        "window_loss": {source: window_losses(model, windows).tolist()
                        for source, windows in validation_sets(recipe, tokenizer, sizes.windows).items()},
        "infilling": infilling_scores(model, tokenizer, sandbox, sizes, infill_modes, seed)}
    return out


def infilling_scores(model: Transformer, tokenizer: Tokenizer, sandbox: Any, sizes: Sizes, modes: Sequence[str],
                     seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per infilling kind (Table 14's three, cut in toy test problems): the share of holes whose end splits a token,
    and per mode (``psm``/``spm`` up to ``<EOT>``, or ``l2r``) pass and exact match per problem (:func:`_scores`); a
    FIM mode also scored cut at the hole's line count (``psm+lines``), the oracle the left-to-right arm gets."""
    scores: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        chosen = subsample(toy_infilling_tasks(kind, "test", 0, sizes.infill_problems, seed), sizes.tasks_per_kind,
                           seed)
        scores[kind] = {"token_split_share": float(np.mean(
            [splits_a_token(tokenizer, task.prompt, task.reference) for task in chosen]))}
        for mode in modes:
            middles = infill_middles(model, tokenizer, chosen, mode, sizes.max_new_tokens)
            scores[kind][mode] = _scores(chosen, judge(chosen, middles, sandbox))
            if mode != "l2r":
                cut = [left_to_right_middle(middle, task) for middle, task in zip(middles, chosen)]
                scores[kind][f"{mode}+lines"] = _scores(chosen, judge(chosen, cut, sandbox))
    return scores


def evaluate_arms(folders: dict[tuple[str, int], Path], recipes: dict[tuple[str, int], Any], sandbox: Any,
                  sizes: Sizes | None = None, progress: bool = True) -> dict[str, Any]:
    """Every measurement of the chapter on the trained arms (``(arm, seed)`` keys, :func:`arm_recipes`), and their
    summary over seeds (:func:`summarize`): a JSON-able dict (the census is :func:`toy_census`'s)."""
    sizes = sizes or Sizes()
    measured = {}
    for (arm, seed), folder in tqdm(sorted(folders.items()), desc="arms", disable=not progress):
        modes = ("psm", "spm") if RATES.get(arm, 0.0) > 0 else ("l2r",)
        measured[f"{arm}/{seed}"] = measure_model(folder, recipes[(arm, seed)], sandbox, sizes, infill_modes=modes)
    return {"sizes": sizes.__dict__, "measured": measured, "summary": summarize(measured)}


def _stack(measured: dict[str, Any], arm: str, pick: Callable[[dict[str, Any]], list[float]]) -> np.ndarray:
    """One measure of ``arm`` as a ``(seeds, items)`` array, seeds in order."""
    keys = sorted((key for key in measured if key.split("/")[0] == arm), key=lambda key: int(key.split("/")[1]))
    rows = [pick(measured[key]) for key in keys]
    shortest = min(len(row) for row in rows)  # validation windows depend on the seed's split: keep as many per seed
    return np.array([row[:shortest] for row in rows])


def summarize(measured: dict[str, Any], a: str = "fim", b: str = "no_fim") -> dict[str, Any]:
    """Means and paired differences (``a - b``) over seeds and problems, each an :class:`Interval` as a dict."""
    def both(pick: Callable[[dict[str, Any]], list[float]]) -> dict[str, Any]:
        first, second = _stack(measured, a, pick), _stack(measured, b, pick)
        seeds = min(len(first), len(second))
        return {a: mean_interval(first).__dict__, b: mean_interval(second).__dict__,
                "difference": paired_difference(first[:seeds], second[:seeds]).__dict__}

    some = next(iter(measured.values()))
    summary: dict[str, Any] = {"pass_at_1": both(lambda m: m["pass"]), "body_loss": both(lambda m: m["body_loss"]),
                               "window_loss": {source: both(lambda m, s=source: m["window_loss"][s])
                                               for source in some["window_loss"]}, "infilling": {}}
    kinds = next(m for key, m in measured.items() if key.startswith(f"{a}/"))["infilling"]
    for kind in kinds:
        rows = {}
        for arm, mode in ((a, "psm"), (a, "spm"), (a, "psm+lines"), (a, "spm+lines"), (b, "l2r")):
            rows[f"{arm}/{mode}"] = mean_interval(_stack(measured, arm, lambda m: m["infilling"][kind][mode]["pass"]))
        summary["infilling"][kind] = {name: row.__dict__ for name, row in rows.items()}
        psm = _stack(measured, a, lambda m: m["infilling"][kind]["psm"]["pass"])
        l2r = _stack(measured, b, lambda m: m["infilling"][kind]["l2r"]["pass"])
        seeds = min(len(psm), len(l2r))
        summary["infilling"][kind]["gain_psm_vs_l2r"] = paired_difference(psm[:seeds], l2r[:seeds]).__dict__
        spm = _stack(measured, a, lambda m: m["infilling"][kind]["spm"]["pass"])
        summary["infilling"][kind]["spm_vs_psm"] = paired_difference(spm, psm).__dict__
        spm_lines = _stack(measured, a, lambda m: m["infilling"][kind]["spm+lines"]["pass"])
        summary["infilling"][kind]["gain_spm_lines_vs_l2r"] = paired_difference(spm_lines[:seeds], l2r[:seeds]).__dict__
        summary["infilling"][kind]["token_split_share"] = float(np.mean(
            [m["infilling"][kind]["token_split_share"] for key, m in measured.items() if key.startswith(f"{a}/")]))
    return summary


MIN_BASELINE = 0.05  # below this pass@1, the left-to-right arm solves too little for a cost to be measured


def equivalence_verdict(difference: dict[str, Any], margin: float, baseline: dict[str, Any] | None = None) -> str:
    """"reproduced" when the interval of a difference lies within ``±margin`` (the paper's "nearly free"),
    "contradicted" when it lies wholly outside, "undecided" otherwise; "not measurable" when the ``baseline`` (the
    arm the cost is measured from) solves less than :data:`MIN_BASELINE`, since two models that solve nothing differ
    by nothing."""
    if baseline is not None and baseline["value"] < MIN_BASELINE:
        return f"not measurable (the FIM-0 arm's pass@1 is {100 * baseline['value']:.0f}%)"
    low, high = difference["low"], difference["high"]
    if -margin <= low and high <= margin:
        return "reproduced"
    if high < -margin or low > margin:
        return "contradicted"
    return "undecided"


def comparison_rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """One table, the paper's figure beside ours (percent for pass rates; loss in nats per token), with the number
    of seeds behind each of ours."""
    summary = result["summary"]

    def points(row: dict[str, Any]) -> str:
        return f"{100 * row['value']:+.1f} [{100 * row['low']:+.1f}, {100 * row['high']:+.1f}]"

    def rate(row: dict[str, Any]) -> str:
        return f"{100 * row['value']:.1f} [{100 * row['low']:.1f}, {100 * row['high']:.1f}]"

    def nats(row: dict[str, Any]) -> str:
        return f"{row['value']:+.4f} [{row['low']:+.4f}, {row['high']:+.4f}]"

    p1 = summary["pass_at_1"]["difference"]
    rows = [{"measure": "toy pass@1 points, FIM 0.9 − FIM 0 (paper: HumanEval/MBPP pass@k, Table 5)",
             "paper": f"7B −{PAPER_FIM_COST_POINTS['7B']}, 13B −{PAPER_FIM_COST_POINTS['13B']}",
             "ours": points(p1), "seeds": str(p1["seeds"]),
             "verdict": f"{equivalence_verdict(p1, MARGIN_POINTS / 100, summary['pass_at_1']['no_fim'])} "
                        f"(margin ±{MARGIN_POINTS:g} points)"}]
    body = summary["body_loss"]["difference"]
    rows.append({"measure": "loss of canonical bodies given the prompt, FIM 0.9 − FIM 0 (nats/token)",
                 "paper": "—", "ours": nats(body), "seeds": str(body["seeds"]), "verdict": "—"})
    for source, row in summary["window_loss"].items():
        paper = (f"test loss 7B {PAPER_TEST_LOSS['7B']['FIM'] - PAPER_TEST_LOSS['7B']['no FIM']:+.3f}, "
                 f"13B {PAPER_TEST_LOSS['13B']['FIM'] - PAPER_TEST_LOSS['13B']['no FIM']:+.3f} (Table 5)")
        rows.append({"measure": f"validation loss on plain {source} windows, FIM 0.9 − FIM 0", "paper": paper,
                     "ours": nats(row["difference"]), "seeds": str(row["difference"]["seeds"]), "verdict": "—"})
    for kind, rows_of_kind in summary["infilling"].items():
        for mode in ("psm", "spm"):
            paper = PAPER_INFILLING_7B.get(kind, {}).get(mode)
            ours = rows_of_kind[f"fim/{mode}"]
            rows.append({"measure": f"{kind} infilling pass@1, {mode.upper()}", "seeds": str(ours["seeds"]),
                         "paper": "—" if paper is None else f"7B, no LCFT {paper:.1f} (Table 14)", "ours": rate(ours),
                         "verdict": "—"})
        for mode in ("psm", "spm"):
            ours = rows_of_kind[f"fim/{mode}+lines"]
            rows.append({"measure": f"{kind} infilling pass@1, {mode.upper()}, cut at the hole's line count",
                         "seeds": str(ours["seeds"]), "paper": "—", "ours": rate(ours), "verdict": "—"})
        l2r = rows_of_kind["no_fim/l2r"]
        rows.append({"measure": f"{kind} infilling pass@1, FIM-0 model, prefix only, cut at the hole's line count",
                     "paper": "—",
                     "ours": rate(l2r), "seeds": str(l2r["seeds"]), "verdict": "—"})
    return rows
