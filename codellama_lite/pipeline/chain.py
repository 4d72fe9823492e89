"""The staged recipe as one pipeline (Code Llama §2.1–2.6, Figure 2).

Every Code Llama model starts from Llama 2 and trains further on code with infilling (the ``base`` stage); then

* Code Llama = base → long-context fine-tuning (``lcft``, §2.4);
* Code Llama - Python = base → Python specialisation (``python``, §2.1–2.2) → long-context fine-tuning
  (``python-lcft``);
* Code Llama - Instruct = Code Llama → instruction fine-tuning on self-instruct data (``instruct``, §2.5), sampled
  from that same parent (:mod:`codellama_lite.pipeline.selfinstruct`).

Each stage is a recipe in ``configs/`` that starts from its parent stage's export (``[init] from``), trained once
through the cache (:func:`codellama_lite.pipeline.cache.trained`, keyed by content, resumable after a kill): running
the chain again trains only what is missing. Below the gpu profile there is no Llama 2 to start from, so a
``standin`` stage (``configs/standin.toml``) trains a small left-to-right model first. :func:`gpu_plan` turns the
same chain into the torchrun/SLURM commands, tokens and GPU-hours of the 7B run, from a Llama 2 folder.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from codellama_lite.costs import gpu_hours
from codellama_lite.pipeline.cache import cache_root, trained
from codellama_lite.pipeline.selfinstruct import build_dataset, settings_for
from codellama_lite.train import read_metrics
from codellama_lite.train.checkpoint import complete_checkpoints, step_of
from codellama_lite.train.recipe import Recipe, load_recipe

PAPER_A100_HOURS = 1_400_000  # all 12 released models, Code Llama App. K (docs/paper_facts.md §5)
PAPER_MODELS = 12
GPU_MFU = 0.5  # assumed model-FLOPs utilisation for the GPU-hour estimate (codellama_lite.costs.gpu_hours)
CONTROL_STAGE = "python-control"
STANDIN = "standin"
LLAMA2_PLACEHOLDER = "$LLAMA2_7B"  # the gpu plan's start: a Llama 2 7B folder (Hugging Face or Meta format)


@dataclass(frozen=True)
class Stage:
    """One link of the chain: a recipe in ``configs/`` and the stage whose export it starts from."""

    name: str
    parent: str | None
    paper: str  # what the paper does here, in a few words
    recipe: str = ""  # the recipe it runs, when not the one named like the stage

    @property
    def recipe_name(self) -> str:
        return self.recipe or self.name


CHAIN = (
    Stage(STANDIN, None, "Llama 2, where every Code Llama starts (§2); trained here only below the gpu profile"),
    Stage("base", STANDIN, "code training, 500B tokens, FIM (§2.2-2.3)"),
    Stage("python", "base", "Python specialisation, +100B tokens, 75% Python (§2.1-2.2)"),
    Stage("python-lcft", "python", "long-context fine-tuning of the Python model: Code Llama - Python (§2.4)",
          recipe="lcft"),
    Stage("lcft", "base", "long-context fine-tuning, 16,384 tokens, RoPE base 1e6: Code Llama (§2.4)"),
    Stage("instruct", "lcft", "instruction fine-tuning with self-instruct, ~5B tokens: Code Llama - Instruct (§2.5)"),
)
STAGES = {stage.name: stage for stage in CHAIN}


def stage_names() -> list[str]:
    return [stage.name for stage in CHAIN]


# -- recipes of the chain ----------------------------------------------------------------------------------------------


def stage_recipe(name: str, profile: str, parent_export: str | Path | None = None,
                 overrides: dict[str, Any] | None = None) -> Recipe:
    """The recipe of stage ``name`` for ``profile`` with ``overrides`` (dotted, as ``--set`` takes them), starting from
    ``parent_export`` (a previous stage's ``final/``)."""
    stage = STAGES.get(name)
    recipe = load_recipe(stage.recipe_name if stage is not None else name, profile, overrides)
    if stage is not None and stage.recipe_name != name:
        recipe = recipe.with_changes(stage=name)
    return recipe if parent_export is None else recipe.with_changes(init={"from": str(parent_export)})


def stage_export(name: str, profile: str, *, progress: bool = True) -> Path:
    """The export of stage ``name`` for ``profile``, training it and its ancestors where the cache has none."""
    return run_chain(profile, stop_after=name, echo=lambda line: None, progress=progress, only_ancestors=True)[name]


def control_recipe(profile: str, parent_export: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """The compute-matched control of the Python stage: the same steps, schedule and start, on the base mix.

    Only the data differ (sources and weights of the ``base`` recipe's profile; still no FIM, as the Python stage),
    so a difference between the two measures specialisation, not more training.
    """
    base = load_recipe("base", profile).data
    python = stage_recipe("python", profile, parent_export, overrides)
    return python.with_changes(stage=CONTROL_STAGE, data={"sources": base.sources, "weights": base.weights})


# -- running it --------------------------------------------------------------------------------------------------------


def describe_stage(recipe: Recipe, export: Path | None = None) -> str:
    """One line: the stage, its start, batch arithmetic, tokens, and where its export is."""
    a = recipe.batch_arithmetic()
    start = recipe.init.source or "scratch"
    line = (f"{recipe.stage} [{recipe.profile}] from {start}: {a['micro_batch']} x {a['seq_len']} tokens x "
            f"{a['accumulation']} accumulation = {a['tokens_per_step']:,} tokens/step x {recipe.train.max_steps} "
            f"steps = {a['tokens_per_step'] * recipe.train.max_steps:,} tokens, LR {recipe.optim.lr:g}")
    return line + (f"\n  export: {export}" if export is not None else "")


def selfinstruct_dir(profile: str, parent_export: Path) -> Path:
    """Where the self-instruct data sampled from ``parent_export`` lives in the cache (keyed by the parent's path,
    which holds its recipe's digest, and by the profile's settings)."""
    key = hashlib.sha256(f"{parent_export}|{settings_for(profile)}".encode()).hexdigest()[:16]
    return cache_root() / "selfinstruct" / f"{profile}-{key}"


def instruct_recipe(profile: str, parent_export: Path, data_folder: Path, variant: str = "filtered",
                    overrides: dict[str, Any] | None = None) -> Recipe:
    """The Instruct stage on self-instruct documents ``data_folder/<variant>`` (``filtered`` or ``unfiltered``)."""
    documents = data_folder / variant
    recipe = stage_recipe("instruct", profile, parent_export, overrides)
    data = recipe.data
    sources, weights = {**data.sources, "instruct": [str(documents)]}, dict(data.weights)
    if not any(documents.glob("*.py")):
        sources, weights = _rehearsal_only(sources, weights, documents)
    stage = recipe.stage if variant == "filtered" else f"instruct-{variant}"
    return recipe.with_changes(stage=stage, data={"sources": sources, "weights": weights})


def _rehearsal_only(sources: dict[str, list[str]], weights: dict[str, float],
                    documents: Path) -> tuple[dict[str, list[str]], dict[str, float]]:
    """The mix without its empty ``instruct`` source (a model too weak to pass any test, as in smoke runs): the
    stage then trains on its rehearsal data alone, and says so."""
    warnings.warn(f"self-instruct kept no triplet ({documents} is empty): the instruct stage trains on its "
                  f"rehearsal data only", stacklevel=3)
    return ({k: v for k, v in sources.items() if k != "instruct"},
            {k: v for k, v in weights.items() if k != "instruct"})


def ancestors(name: str) -> list[str]:
    """The stages ``name`` starts from, oldest first, then ``name``."""
    line = [name]
    while STAGES[line[0]].parent is not None:
        line.insert(0, STAGES[line[0]].parent)
    return line


def run_chain(profile: str, *, stop_after: str | None = None, echo: Callable[[str], None] = print,
              progress: bool = True, only_ancestors: bool = False) -> dict[str, Path]:
    """Train (or find in the cache) every stage of :data:`CHAIN` for ``profile``; returns each stage's export.

    ``stop_after`` ends the chain after that stage (with ``only_ancestors``, only the stages it starts from run).
    Each stage's batch arithmetic and export are ``echo``-ed. The gpu profile starts from Llama 2, not a stand-in.
    """
    if stop_after is not None and stop_after not in stage_names():
        raise ValueError(f"stop_after={stop_after!r} is not a stage; stages: {', '.join(stage_names())}")
    if profile == "gpu":
        raise ValueError("the gpu chain starts from Llama 2's weights: run its stages with torchrun "
                         "(`codellama-lite recipe run --profile gpu --dry-run` prints the commands)")
    wanted = set(ancestors(stop_after)) if only_ancestors and stop_after else None
    exports: dict[str, Path] = {}
    for stage in CHAIN:
        if wanted is not None and stage.name not in wanted:
            continue
        parent = exports[stage.parent] if stage.parent else None
        if stage.name == "instruct":
            recipe = instruct_recipe(profile, parent, build_selfinstruct(profile, parent, progress=progress))
        else:
            recipe = stage_recipe(stage.name, profile, parent)
        exports[stage.name] = trained(recipe, progress=progress)
        echo(describe_stage(recipe, exports[stage.name]))
        if stage.name == stop_after:
            break
    return exports


def build_selfinstruct(profile: str, parent_export: Path, *, progress: bool = True) -> Path:
    """The self-instruct data of ``parent_export`` for ``profile`` (generated once; resumed after a kill)."""
    folder = selfinstruct_dir(profile, parent_export)
    build_dataset(parent_export, folder, settings_for(profile), progress=progress)
    return folder


# -- the gpu chain on paper: commands, tokens, GPU-hours ---------------------------------------------------------------


@dataclass(frozen=True)
class PlannedStage:
    """One stage of the 7B chain: its command, size and estimated cost."""

    name: str
    command: str
    tokens: int
    steps: int
    tokens_per_step: int
    gpu_hours: float


def gpu_plan(nodes: int = 8, gpus_per_node: int = 8, runs_dir: str = "runs") -> list[PlannedStage]:
    """The gpu profile's chain as SLURM + torchrun commands with tokens and A100-hours (:func:`costs.gpu_hours` at
    :data:`GPU_MFU`); the base stage starts from a Llama 2 7B folder (:data:`LLAMA2_PLACEHOLDER`)."""
    plan = []
    for stage in CHAIN:
        if stage.name == STANDIN:
            continue
        recipe = stage_recipe(stage.name, "gpu")
        a = recipe.batch_arithmetic(nodes * gpus_per_node)
        tokens = a["tokens_per_step"] * recipe.train.max_steps
        config = recipe.model_shape()
        parent = LLAMA2_PLACEHOLDER if stage.parent == STANDIN else f"{runs_dir}/{stage.parent}/final"
        init = f" --set init.from={parent}" + (f" --set stage={stage.name}" if stage.recipe_name != stage.name else "")
        command = ""
        if stage.name == "instruct":
            init += f" --set 'data.sources.instruct=[\"{runs_dir}/selfinstruct/filtered\"]'"
            command = (f"srun --nodes=1 --gpus-per-node=1 python -m codellama_lite recipe selfinstruct --profile gpu "
                       f"--model {runs_dir}/{stage.parent}/final --out {runs_dir}/selfinstruct\n")
        command += (f"srun --nodes={nodes} --ntasks-per-node=1 --gpus-per-node={gpus_per_node} "
                   f"torchrun --nnodes={nodes} --nproc-per-node={gpus_per_node} --rdzv-backend=c10d "
                   f"--rdzv-endpoint=$MASTER_ADDR:29500 -m codellama_lite train "
                   f"--recipe {stage.recipe_name} --profile gpu "
                   f"--out {runs_dir}/{stage.name}{init} --auto-resume")
        plan.append(PlannedStage(stage.name, command, tokens, recipe.train.max_steps, a["tokens_per_step"],
                                 gpu_hours(config, tokens, mfu=GPU_MFU, seq_len=recipe.train.seq_len)))
    return plan


def format_plan(plan: list[PlannedStage]) -> str:
    """The plan as text: each stage's command, then a table of tokens and GPU-hours beside the paper's total."""
    lines = [f"# {stage.name} ({next(s.paper for s in CHAIN if s.name == stage.name)})\n{stage.command}"
             for stage in plan]
    lines.append(f"\n{'stage':<12} {'steps':>7} {'tokens/step':>12} {'tokens':>16} {'A100-hours':>11}")
    for stage in plan:
        lines.append(f"{stage.name:<12} {stage.steps:>7,} {stage.tokens_per_step:>12,} {stage.tokens:>16,} "
                     f"{stage.gpu_hours:>11,.0f}")
    total = sum(stage.gpu_hours for stage in plan)
    lines.append(f"{'7B chain':<12} {'':>7} {'':>12} {sum(s.tokens for s in plan):>16,} {total:>11,.0f}")
    lines.append(f"paper: ~{PAPER_A100_HOURS:,} A100-80GB hours for all {PAPER_MODELS} models (7B-70B x 3 variants); "
                 f"this 7B chain at {GPU_MFU:.0%} MFU is {total / PAPER_A100_HOURS:.1%} of it")
    return "\n".join(lines)


# -- exact resume, shown live ------------------------------------------------------------------------------------------


def interrupted_run(folder: str | Path, profile: str = "smoke", steps: int = 8, every: int = 4,
                    overrides: Sequence[str] = (), timeout: float = 300.0) -> dict[str, list[float]]:
    """Train ``base`` twice in subprocesses — once straight through, once killed (SIGKILL) as soon as its first
    checkpoint after step 0 is complete and then resumed with ``--resume`` — and return both runs' losses per step.

    The trainer saves data position and RNG state with each checkpoint (:mod:`codellama_lite.train.checkpoint`), so
    the two lists should be equal, step for step.
    """
    folder = Path(folder)
    args = [sys.executable, "-m", "codellama_lite", "train", "--recipe", "base", "--profile", profile,
            "--max-steps", str(steps), "--checkpoint-every", str(every), "--no-progress"]
    args += [item for override in overrides for item in ("--set", override)]
    subprocess.run(args + ["--out", str(folder / "straight")], check=True, capture_output=True, timeout=timeout)
    killed = subprocess.Popen(args + ["--out", str(folder / "killed")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while (not [path for path in complete_checkpoints(folder / "killed") if step_of(path) > 0]
           and killed.poll() is None and time.monotonic() < deadline):
        time.sleep(0.05)
    killed.kill()
    killed.wait()
    subprocess.run(args + ["--out", str(folder / "killed"), "--resume"], check=True, capture_output=True,
                   timeout=timeout)
    return {name: _losses_by_step(read_metrics(folder / name)) for name in ("straight", "killed")}


def _losses_by_step(rows: list[dict[str, Any]]) -> list[float]:
    """The last logged loss of each step (a step logged before the kill and again after resuming counts once)."""
    losses = {row["step"]: row["loss"] for row in rows}
    return [losses[step] for step in sorted(losses)]
