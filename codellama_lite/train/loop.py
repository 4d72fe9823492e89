"""The training loop (Code Llama §2.2–2.6; docs/paper_facts.md §5): the same code for a laptop toy and a 7B run
under torchrun.

One optimizer step, read top to bottom in :func:`train_step`:

1. fetch the step's micro-batches (``global_batch / (micro_batch × world)`` of them) from the packed stream;
2. count the target tokens of the whole step across every rank (an all-reduce), so that each micro-batch's summed
   cross-entropy is divided by the *global* count: the gradient is then the mean over the global batch whatever
   the accumulation and the number of processes (torchtitan's normalisation);
3. forward + backward each micro-batch, accumulating gradients;
4. clip the global gradient norm to 1.0, set the step's learning rate (warm-up, cosine), take the AdamW step.

Around it: seeding, a tokenizer and data, the model (fresh or from a previous stage's export), speed applied from
outside (FSDP2 across processes, bfloat16 on CUDA, ``torch.compile``, CPU kernels), metrics, atomic checkpoints every
``checkpoint_every`` steps with everything needed for a bit-exact resume, and an export in Hugging Face format.
The run folder itself — what ``--out`` may be, set-up in a staging folder, the record a resume must match, Ctrl-C —
is :mod:`codellama_lite.train.rundir`'s.
"""

from __future__ import annotations

import contextlib
import math
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from codellama_lite.config import ModelConfig
from codellama_lite.costs import flops_per_token
from codellama_lite.data import PackedStream, build_corpus, train_tokenizer_for, validation_sets
from codellama_lite.data.prefetch import ReadAheadStream
from codellama_lite.data.prepared import open_prepared, prepared_corpus
from codellama_lite.data.streaming import ShardStream, merge_states
from codellama_lite.support.fileio import write_checksums
from codellama_lite.model import Transformer
from codellama_lite.tokenizer import Tokenizer
from codellama_lite.train import checkpoint as ckpt
from codellama_lite.train.distributed import (World, all_gather_object, all_reduce_sum, barrier, close_world,
                                              gradient_scale, init_world)
from codellama_lite.train.metrics import MetricsLog, peak_flops
from codellama_lite.train.optim import build_optimizer, lr_at, set_lr
from codellama_lite.train.parallelize import count_parameters
from codellama_lite.train.recipe import Recipe
from codellama_lite.train.rundir import (RECIPE_FILE, RUN_FILE, Resume, RunFolder, check_same_run, claim,
                                         data_fingerprint, interrupted, resolved_recipe, run_record, stop_requests)

FINAL_DIR = "final"


def train(recipe: Recipe, out_dir: str | Path, *, resume: Resume = False, max_steps: int | None = None,
          checkpoint_every: int | None = None, progress: bool = True) -> Path:
    """Run ``recipe`` into ``out_dir``; returns the exported model folder ``out_dir/final``.

    ``max_steps`` and ``checkpoint_every`` override the recipe (``max_steps`` fixes the schedule's length).
    ``resume``: ``False`` starts a new run (``out_dir`` absent or empty), ``True`` continues the newest intact
    checkpoint of the run ``out_dir`` holds (same recipe, tokenizer and data, or an error), ``"auto"`` either.
    """
    recipe = recipe.with_train(max_steps=max_steps, checkpoint_every=checkpoint_every)
    world = init_world(recipe.train.device)
    try:
        folder = claim(Path(out_dir), resume, world)
        try:
            run = Run(recipe, folder, world, progress=progress)
        except BaseException:
            folder.abandon()
            raise
        try:
            return run.fit()
        finally:
            run.close()
    finally:
        close_world(world)


class Run:
    """One training run's state: recipe, tokenizer, data, model, optimizer, metrics."""

    def __init__(self, recipe: Recipe, folder: RunFolder, world: World, *, progress: bool) -> None:
        self.recipe, self.folder, self.out, self.world, self.cfg = recipe, folder, folder.work, world, recipe.train
        self.arithmetic = recipe.batch_arithmetic(world.world_size)
        _seed_everything(self.cfg.seed)
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        self.dtype = _compute_dtype(self.cfg.dtype, world.device)
        self.data_config = recipe.data_config()
        self.resolved = resolved_recipe(recipe, self.data_config)
        if folder.resuming:  # before the corpus is read: a different recipe is refused at once
            check_same_run(self.out, folder.saved_record(), {"recipe": self.resolved})
        self.prepared = open_prepared(self.data_config)  # streamed sources ("prepared:DIR"), else {}
        if self.cfg.data_workers and not self.prepared:
            raise ValueError(f"train.data_workers = {self.cfg.data_workers}: background readers stream prepared: "
                             "sources only (codellama-lite data prepare); these sources are read into memory, so "
                             "set train.data_workers = 0")
        self.corpus = prepared_corpus(self.prepared) if self.prepared else \
            build_corpus(self.data_config, progress=progress and world.main)
        self.tokenizer = self._tokenizer()
        self.model = self._model()
        self.optimizer = build_optimizer(self.model, recipe.optim)
        self.stream = self._stream()
        self.valid = validation_sets(self.corpus.valid, self.tokenizer, self.cfg.seq_len,
                                     self.cfg.eval_windows) if self.corpus.valid else None
        self.record = run_record(self.resolved, self.model_config.to_dict(), self.out / "tokenizer.model",
                                 self._data_fingerprint())
        self._writing: ckpt.PendingCheckpoint | None = None
        self._saved_at = time.monotonic()
        self.step_done = self._resume() if folder.resuming else self._begin()
        self.progress = progress and world.main

    # -- set-up ----------------------------------------------------------------------------------------------------

    def _stream(self) -> PackedStream | ShardStream:
        """Prepared sources streamed, each rank reading its own shards (on ``train.data_workers`` background
        processes, if any); in-memory documents packed on every rank."""
        rank, world_size = self.world.rank, self.world.world_size
        if self.prepared and self.cfg.data_workers:
            return ReadAheadStream(self.prepared, self.tokenizer, self.data_config, rank=rank, world_size=world_size,
                                   workers=self.cfg.data_workers, batch_size=self.cfg.micro_batch)
        if self.prepared:
            return ShardStream(self.prepared, self.tokenizer, self.data_config, rank=rank, world_size=world_size)
        return PackedStream(self.corpus.train, self.tokenizer, self.data_config, rank=rank, world_size=world_size)

    def _data_fingerprint(self) -> str:
        if self.prepared:
            return "prepared:" + ",".join(f"{source}={corpus.fingerprint()}"
                                          for source, corpus in self.prepared.items())
        return data_fingerprint(self.corpus.train, self.corpus.valid)

    def _data_state(self) -> dict[str, Any]:
        """The stream's position; a streamed one joins every rank's lanes, so any world size can resume it."""
        state = self.stream.state_dict()
        if self.prepared:
            state = merge_states(all_gather_object(state, self.world))
        return state

    def _begin(self) -> int:
        """Fix the run's record, save the step-0 checkpoint, and only then make the staged set-up the run."""
        self.folder.record(self.record, self.recipe.to_dict())
        self.save(0)
        self.out = self.folder.promote()
        return 0

    def _tokenizer(self) -> Tokenizer:
        """The starting checkpoint's tokenizer (with Code Llama's 16 pieces added where it lacks them, as Llama 2's
        does), a given one, or one trained on this corpus (rank 0, once per run)."""
        own = self.out / "tokenizer.model"
        init, given = self.recipe.init.source, self.recipe.tokenizer.path
        if self.world.main and not own.exists():
            if init or given:
                source = Path(init) / "tokenizer.model" if init else Path(given)
                if not source.is_file():
                    raise FileNotFoundError(f"tokenizer not found: {source}")
                if init:
                    from codellama_lite.tokenizer import extend_tokenizer
                    extend_tokenizer(source, own)
                else:
                    shutil.copyfile(source, own)
            else:
                train_tokenizer_for(self.corpus, self.recipe.tokenizer.vocab_size, own)
        barrier(self.world)
        return Tokenizer(own)

    def _model_config(self) -> ModelConfig:
        config = self.recipe.model_shape(self.tokenizer.vocab_size)
        if config.vocab_size < self.tokenizer.vocab_size:
            raise ValueError(f"model.vocab_size = {config.vocab_size} cannot hold the tokenizer's "
                             f"{self.tokenizer.vocab_size} pieces ({self.out / 'tokenizer.model'})")
        return config

    def _model(self) -> torch.nn.Module:
        """From the starting checkpoint (built on ``meta``, sharded, then loaded: no rank holds the whole model) or
        from scratch (built whole, then sharded, so that every world size starts from the same weights)."""
        from codellama_lite.train.parallelize import build_pretrained, parallelize

        speed = {"checkpointing": self.cfg.activation_checkpointing, "compile": self.cfg.compile}
        config = self._model_config()
        if self.recipe.init.source:
            model = build_pretrained(self.recipe.init.source, config, self.world, self.dtype, **speed)
        else:
            model = parallelize(Transformer(config).to(self.world.device), self.world, self.dtype, **speed)
        self.model_config = model.config
        if not self.world.distributed and self.world.device.type == "cpu" and self.dtype == torch.float32 \
                and self.cfg.cpu_kernels:
            from codellama_lite.accel import use_cpu_kernels
            use_cpu_kernels(model)
        return model

    def _resume(self) -> int:
        """Continue the newest intact checkpoint, after checking the tokenizer, data and model are the run's own."""
        check_same_run(self.out, self.folder.saved_record(), self.record)
        found = ckpt.newest_intact(self.out, self.world)
        state = ckpt.load_checkpoint(found, self.model, self.optimizer, self.world, self.model_config.to_dict())
        self.stream.load_state_dict(state["data"])
        return ckpt.read_state(found)["step"]

    # -- training ----------------------------------------------------------------------------------------------------

    def fit(self) -> Path:
        total = self.cfg.max_steps
        if self.world.main:
            print(self.describe(), flush=True)
        log = MetricsLog(self.out / "metrics.jsonl", self.step_done + 1, total, self.arithmetic["tokens_per_step"],
                         flops_per_token(self.model_config, self.cfg.seq_len, training=True),
                         peak_flops(self.world.device), enabled=self.world.main, bar=self.progress)
        self.model.train()
        row: dict[str, Any] = {}
        with stop_requests() as stop:
            for step in range(self.step_done + 1, total + 1):
                loss, grad_norm, lr = self.step(step)
                extra = {}
                if step == total or (self.cfg.eval_every and step % self.cfg.eval_every == 0):
                    extra.update(self.validation_losses())
                row = log.log(step, loss, lr, grad_norm, **extra)
                stopping = step < total and stop.agreed(self.world)
                if stopping or step == total:
                    self.save(step)
                elif self.checkpoint_due(step):
                    self.save(step, background=self.cfg.async_checkpoint)
                if stopping:
                    log.close()
                    raise interrupted(self.out, step)
        log.close()
        final = self.export()
        if self.world.main:
            print(f"done: {total} steps, loss {row.get('loss', float('nan')):.4f}, validation loss "
                  f"{row.get('val_loss', float('nan')):.4f}, {total * self.arithmetic['tokens_per_step']:,} tokens; "
                  f"model in {final}", flush=True)
        return final

    def step(self, step: int) -> tuple[float, float, float]:
        """One optimizer step on the next ``global_batch`` sequences; returns (mean loss, grad norm, lr)."""
        batches = [self.stream.next_batch(self.cfg.micro_batch).to(self.world.device)
                   for _ in range(self.arithmetic["accumulation"])]
        lr = lr_at(step, self.cfg.max_steps, self.recipe.optim)
        loss, grad_norm = train_step(self.model, self.optimizer, batches, lr, self.recipe.optim.grad_clip,
                                     self.world, self._autocast)
        if not math.isfinite(grad_norm):
            raise FloatingPointError(f"step {step}: the gradient norm is {grad_norm}; stopping "
                                     f"(lower optim.lr or check the data)")
        return loss, grad_norm, lr

    def _autocast(self):
        if self.dtype == torch.float32 or self.world.distributed:  # FSDP2's policy casts; one process: autocast
            return torch.autocast(self.world.device.type, enabled=False)
        return torch.autocast(self.world.device.type, dtype=self.dtype)

    @torch.no_grad()
    def validation_losses(self) -> dict[str, float]:
        """Mean next-token loss on the held-out windows (plain documents, no FIM): ``val_loss`` over all windows and
        ``val_loss_<source>`` for each source's own windows (:func:`~codellama_lite.data.validation_sets`)."""
        if self.valid is None:
            return {"val_loss": float("nan")}
        self.model.eval()
        sums, counts = {}, {}
        for source, windows in self.valid.items():
            total = torch.zeros((), device=self.world.device)
            for start in range(0, len(windows), self.cfg.micro_batch):
                batch = windows[start:start + self.cfg.micro_batch].to(self.world.device)
                total += summed_loss(self.model, batch, self._autocast)
            sums[source], counts[source] = total.item(), windows[:, 1:].numel()
        self.model.train()
        losses = {"val_loss": sum(sums.values()) / sum(counts.values())}
        return losses | {f"val_loss_{source}": sums[source] / counts[source] for source in sums}

    # -- saving ------------------------------------------------------------------------------------------------------

    def checkpoint_due(self, step: int) -> bool:
        """Every ``checkpoint_every`` steps, and once ``checkpoint_minutes`` have passed since the last checkpoint
        began (the ranks agree: one whose clock says so decides for all)."""
        every = bool(self.cfg.checkpoint_every) and step % self.cfg.checkpoint_every == 0
        if not self.cfg.checkpoint_minutes:
            return every
        late = time.monotonic() - self._saved_at >= 60 * self.cfg.checkpoint_minutes
        return every or all_reduce_sum(torch.tensor(float(late), device=self.world.device), self.world).item() > 0

    def save(self, step: int, background: bool = False) -> None:
        """Checkpoint step ``step``, after the previous background write (if any) is in place; with
        ``background`` the files are written while training goes on (:func:`ckpt.start_checkpoint`)."""
        self.finish_saving()
        shared = {"recipe": self.recipe.to_dict(), "model_config": self.model_config.to_dict(),
                  "realized_shares": self.stream.realized_shares()}
        self._writing = ckpt.start_checkpoint(self.out, step, self.model, self.optimizer,
                                              {"data": self._data_state()}, shared, self.out / "tokenizer.model",
                                              self.world, self.cfg.keep_last, background=background)
        self._saved_at = time.monotonic()
        if not background:
            self.finish_saving()

    def close(self) -> None:
        """Stop the data reader processes, if any (after training, and when it fails)."""
        if isinstance(self.stream, ReadAheadStream):
            self.stream.close()

    def finish_saving(self) -> None:
        """Wait for a checkpoint being written in the background and put it in place."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.finish()

    def export(self) -> Path:
        """``out/final``: Hugging Face format (config.json, safetensors), ``tokenizer.model``, ``recipe.json``,
        ``run.json`` and ``checksums.json``; in ``train.export_dtype``, sharded across the ranks' files under FSDP2
        (no rank gathers the model)."""
        from codellama_lite.train.export import export_sharded_hf

        final, partial = self.out / FINAL_DIR, self.out / ".final.partial"
        if self.world.main:
            shutil.rmtree(partial, ignore_errors=True)
        barrier(self.world)
        export_sharded_hf(self.model, self.model_config, partial, self.world,
                          {"float32": torch.float32, "bfloat16": torch.bfloat16}[self.cfg.export_dtype])
        if self.world.main:
            for name in ("tokenizer.model", RECIPE_FILE, RUN_FILE):
                shutil.copyfile(self.out / name, partial / name)
            write_checksums(partial)
            shutil.rmtree(final, ignore_errors=True)
            partial.rename(final)
        barrier(self.world)
        return final

    def describe(self) -> str:
        a = self.arithmetic
        params = count_parameters(self.model)
        return (f"{self.recipe.stage} [{self.recipe.profile}] on {self.world.device} × {self.world.world_size}, "
                f"{str(self.dtype).replace('torch.', '')}: ~{params / 1e6:.2f}M parameters, "
                f"batch {a['micro_batch']} × {a['seq_len']} tokens × {a['accumulation']} accumulation × "
                f"{a['world_size']} processes = {a['tokens_per_step']:,} tokens/step; "
                f"{self.cfg.max_steps} steps = {self.cfg.max_steps * a['tokens_per_step']:,} tokens; "
                f"corpus {self.corpus.stats.train_documents or len(self.corpus.train)} training / "
                f"{len(self.corpus.valid)} validation documents{' (streamed)' if self.prepared else ''}; "
                f"tokenizer {self.tokenizer.vocab_size} pieces")


def summed_loss(model: torch.nn.Module, batch: torch.Tensor, autocast=contextlib.nullcontext) -> torch.Tensor:
    """The next-token cross-entropy of a batch of ``seq_len + 1``-token windows, summed over its target tokens."""
    with autocast():
        logits = model(batch[:, :-1])
    return F.cross_entropy(logits.flatten(0, 1).float(), batch[:, 1:].flatten(), reduction="sum")


@torch.no_grad()
def token_losses(model: torch.nn.Module, windows: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """The next-token cross-entropy of every target token of ``windows`` (``(n, seq_len + 1)`` token ids), as an
    ``(n, seq_len)`` float tensor: the trainer's loss before it is summed (its mean per window, per position...)."""
    device = next(model.parameters()).device
    losses = []
    for batch in windows.split(batch_size):
        batch = batch.to(device)
        logits = model(batch[:, :-1]).float()
        losses.append(F.cross_entropy(logits.transpose(1, 2), batch[:, 1:], reduction="none").cpu())
    return torch.cat(losses)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batches: list[torch.Tensor], lr: float,
               grad_clip: float, world: World, autocast=contextlib.nullcontext) -> tuple[float, float]:
    """One optimizer step over ``batches`` (this rank's micro-batches of ``seq_len + 1`` tokens, see the module
    docstring); returns the step's mean loss over every rank's target tokens and the gradient norm before clipping."""
    device = batches[0].device
    targets = sum(int((batch[:, 1:] >= 0).sum()) for batch in batches)
    global_targets = all_reduce_sum(torch.tensor(float(targets), device=device), world)
    loss_sum = torch.zeros((), device=device)
    for batch in batches:
        loss = summed_loss(model, batch, autocast)
        (loss * gradient_scale(world) / global_targets).backward()
        loss_sum += loss.detach()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip or math.inf)
    grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
    if torch.isfinite(grad_norm):
        set_lr(optimizer, lr)
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return (all_reduce_sum(loss_sum, world) / global_targets).item(), grad_norm.item()


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _compute_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def dry_run(recipe: Recipe, world_size: int = 1) -> dict[str, Any]:
    """Check a recipe without data or memory: the model that trains (from scratch or from ``init.from``) built on
    ``meta``, its size, batch arithmetic at ``world_size`` processes and per-GPU memory
    (:mod:`codellama_lite.train.memory`, bfloat16 compute)."""
    from codellama_lite.train.memory import recipe_memory

    config = recipe.model_shape()
    model = Transformer(config, device="meta")
    recipe.data_config()
    arithmetic = recipe.batch_arithmetic(world_size)
    tokens = recipe.train.max_steps * arithmetic["tokens_per_step"]
    plan = recipe_memory(recipe, world_size, config)
    memory = {"params": plan.params, "grads": plan.grads, "optimizer": plan.optimizer, "gathered": plan.gathered,
              "logits": plan.logits, "activations": plan.activations, "checkpointing": plan.checkpointing,
              "total_gb": {mode: round(plan.total(mode) / 1e9, 1) for mode in plan.activations}}
    return {"parameters": model.num_params(), "tokens": tokens, **arithmetic,
            "train_flops": flops_per_token(config, recipe.train.seq_len, training=True) * tokens,
            "start": recipe.init.source or "scratch", "model": config.to_dict(), "memory_per_gpu_bytes": memory}
