"""Training (Code Llama §2.2–2.6): recipes as data, the loop, checkpoints, FSDP2 — torchtitan's split of concerns.

Read in this order: ``recipe`` (what a run is asked to do), ``optim`` (AdamW and the schedule), ``loop`` (one step,
then the run around it), ``checkpoint`` (atomic DCP folders, exact resume), ``distributed`` (torchrun, FSDP2),
``metrics`` (metrics.jsonl, the progress bar).

    from codellama_lite.train import load_recipe, train
    final_dir = train(load_recipe("base", profile="smoke"), "runs/base-smoke")   # a Hugging Face folder
"""

from codellama_lite.train.loop import dry_run, train
from codellama_lite.train.metrics import read_metrics
from codellama_lite.train.recipe import Recipe, load_recipe, recipe_names

__all__ = ["Recipe", "dry_run", "load_recipe", "read_metrics", "recipe_names", "train"]
