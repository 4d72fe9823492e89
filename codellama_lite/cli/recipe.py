"""``codellama-lite recipe``: the whole staged recipe (Code Llama §2.2–2.6, Figure 2) in one resumable command."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from codellama_lite.pipeline.selfinstruct import build_dataset, settings_for
from codellama_lite.support.profiles import PROFILES, check_profile


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("recipe", help="run the chain base -> lcft -> python / instruct (trained once, "
                                                 "resumable)")
    commands = group.add_subparsers(dest="recipe_command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="train every stage missing from the cache, each from its parent's export")
    run.add_argument("--profile", choices=PROFILES, default=None,
                     help="run profile (default: $CODELLAMA_LITE_PROFILE, else laptop)")
    run.add_argument("--stop-after", default=None, help="end the chain after this stage (base, lcft, python, instruct)")
    run.add_argument("--dry-run", action="store_true",
                     help="print the gpu chain's SLURM/torchrun commands, tokens and A100-hours per stage")
    run.add_argument("--nodes", type=int, default=8, help="nodes of 8 GPUs for --dry-run")
    run.add_argument("--world-size", type=int, default=None,
                     help="GPUs in all for --dry-run (instead of --nodes; 8 per node): per-GPU memory of each stage")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    run.set_defaults(func=_run)
    si = commands.add_parser("selfinstruct", help="self-instruct data from an exported model (§2.5): sample, run the "
                                                  "tests in the sandbox, keep the first passing solution")
    si.add_argument("--model", required=True, help="the exported model folder (a stage's final/)")
    si.add_argument("--out", required=True, help="folder for candidates.jsonl, triplets.jsonl, filtered/, unfiltered/")
    si.add_argument("--profile", choices=PROFILES, default=None, help="settings (questions, candidates) of a profile")
    si.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    si.set_defaults(func=_selfinstruct)


def _run(args: argparse.Namespace) -> int:
    from codellama_lite.pipeline.chain import format_plan, gpu_plan, run_chain

    if args.dry_run:
        if args.world_size is not None:
            if args.world_size < 1 or (args.world_size > 8 and args.world_size % 8):
                raise ValueError(f"--world-size must be 1-8 or a multiple of 8 GPUs, got {args.world_size}")
            args.nodes = max(args.world_size // 8, 1)
        if args.nodes < 1:
            raise ValueError(f"--nodes must be at least 1, got {args.nodes}")
        gpus = args.world_size or 8 * args.nodes
        print(format_plan(gpu_plan(nodes=args.nodes, gpus_per_node=min(gpus, 8))))
        print(_memory_table(gpus))
        return 0
    exports = run_chain(check_profile(args.profile), stop_after=args.stop_after, progress=args.progress)
    print(f"chain done: {', '.join(exports)}")
    return 0


def _memory_table(world_size: int, limit_gb: float = 80.0) -> str:
    """Each gpu stage's per-GPU memory at ``world_size`` GPUs (:mod:`codellama_lite.train.memory`)."""
    from codellama_lite.pipeline.chain import CHAIN, STANDIN
    from codellama_lite.train.memory import format_memory, recipe_memory
    from codellama_lite.train.recipe import load_recipe

    lines = [f"\nper-GPU memory at {world_size} GPUs (80 GB each), bfloat16 compute, float32 masters and AdamW:"]
    for stage in CHAIN:
        if stage.name == STANDIN:
            continue
        recipe = load_recipe(stage.recipe_name, "gpu")
        lines.append(f"# {stage.name}: model from {recipe.init.source or '[model]'}")
        lines.append(format_memory(recipe_memory(recipe, world_size), limit_gb))
    return "\n".join(lines)


def _selfinstruct(args: argparse.Namespace) -> int:
    stats = build_dataset(args.model, args.out, settings_for(check_profile(args.profile)), progress=args.progress)
    print(", ".join(f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}"
                    for key, value in asdict(stats).items()))
    return 0
