"""``codellama-lite train``: run a stage recipe (the same arguments after ``torchrun ... -m codellama_lite``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codellama_lite.support.profiles import PROFILES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a stage recipe (base, lcft, python, instruct) from configs/")
    parser.add_argument("--recipe", required=False, default=None,
                        help="a shipped recipe name (see --list) or a path to a .toml recipe")
    parser.add_argument("--profile", choices=PROFILES, default=None,
                        help="run profile (default: $CODELLAMA_LITE_PROFILE, else laptop)")
    parser.add_argument("--out", type=Path, help="the run folder (checkpoints, metrics.jsonl, final/)")
    parser.add_argument("--max-steps", type=int, default=None, help="optimizer steps; fixes the schedule's length")
    parser.add_argument("--checkpoint-every", type=int, default=None, help="save a checkpoint every N steps")
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its newest intact checkpoint, with the same recipe (an "
                             "error when --out holds no run; without --resume, an --out that holds one is an error)")
    resume.add_argument("--auto-resume", action="store_true",
                        help="continue the run in --out if it holds one, else start it (for jobs that may be "
                             "requeued)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value, e.g. --set train.max_steps=10 --set optim.lr=1e-3")
    parser.add_argument("--dry-run", action="store_true",
                        help="check the recipe and print its batch arithmetic and size on the meta device")
    parser.add_argument("--world-size", type=int, default=1,
                        help="processes (GPUs) for --dry-run's batch arithmetic and per-GPU memory")
    parser.add_argument("--list", action="store_true", help="list the shipped recipes")
    parser.add_argument("--export-checkpoint", type=Path, metavar="STEP_DIR",
                        help="export a kept checkpoint (RUN/step-NNNNNNNN) to --out in Hugging Face format with its "
                             "tokenizer, for eval --checkpoint, and exit")
    parser.add_argument("--clear-cache", action="store_true",
                        help="remove the workbook's cached runs, self-instruct data and toy-world documents "
                             "($CODELLAMA_LITE_CACHE, default ~/.cache/codellama-lite) and exit")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from codellama_lite.train import dry_run, load_recipe, recipe_names, train

    if args.list:
        print("\n".join(recipe_names()))
        return 0
    if args.clear_cache:
        from codellama_lite.pipeline.cache import clear_cache

        print(f"cleared the cached runs and data in {clear_cache()}")
        return 0
    if args.export_checkpoint is not None:
        from codellama_lite.train.checkpoint import export_checkpoint

        if args.out is None:
            raise ValueError("--export-checkpoint needs --out, the folder to write the model to")
        print(f"exported {args.export_checkpoint} to {export_checkpoint(args.export_checkpoint, args.out)}")
        return 0
    if not args.recipe:
        raise ValueError("--recipe is required (see --list)")
    recipe = load_recipe(args.recipe, args.profile, args.overrides)
    if args.max_steps is not None and args.max_steps <= 0:
        raise ValueError(f"--max-steps must be positive, got {args.max_steps}")
    if args.checkpoint_every is not None and args.checkpoint_every < 0:
        raise ValueError(f"--checkpoint-every must be >= 0 (0: only at the end), got {args.checkpoint_every}")
    if args.dry_run:
        if args.world_size < 1:
            raise ValueError(f"--world-size must be at least 1, got {args.world_size}")
        print(json.dumps(dry_run(recipe, args.world_size), indent=1))
        return 0
    if args.out is None:
        raise ValueError("--out is required: the folder for checkpoints, metrics.jsonl and final/")
    train(recipe, args.out, resume="auto" if args.auto_resume else args.resume, max_steps=args.max_steps,
          checkpoint_every=args.checkpoint_every, progress=args.progress)
    return 0
