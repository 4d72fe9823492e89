"""What a run reports: one JSON row per step in ``<run>/metrics.jsonl``, a tqdm bar, a closing summary.

Each row holds ``step`` (1-based), ``loss`` (mean over the step's target tokens), ``lr``, ``grad_norm``, ``tokens``
(seen so far), ``tokens_per_s``, ``mfu`` where the device's peak is known (torchtitan's formula: 6 FLOPs per
matrix parameter per token plus the attention products, :func:`codellama_lite.costs.flops_per_token`), ``elapsed_s``
and ``eta_s``; evaluation steps add ``val_loss``. Rows are appended and flushed as they come; a resumed run first
drops the rows written after its checkpoint, so the file ends as an uninterrupted run's would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from codellama_lite.support.fileio import append_jsonl, atomic_open, read_jsonl

# Dense bf16 peak FLOP/s by device name (NVIDIA datasheets); unknown devices report no MFU.
PEAK_BF16_FLOPS = {"A100": 312e12, "H100": 989e12, "H200": 989e12, "L40S": 362e12, "A10G": 125e12}


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_FLOPS.items() if key in name), None)


class MetricsLog:
    """Appends rows to ``metrics.jsonl`` (rank 0: ``enabled``) and drives the progress bar (``bar``)."""

    def __init__(self, path: Path, first_step: int, total_steps: int, tokens_per_step: int,
                 flops_per_token: float, peak: float | None, enabled: bool = True, bar: bool = True) -> None:
        self.path, self.total, self.enabled = path, total_steps, enabled
        self.tokens_per_step, self.flops_per_token, self.peak = tokens_per_step, flops_per_token, peak
        self.start_step, self.start_time = first_step - 1, time.perf_counter()
        self.bar = tqdm(total=total_steps, initial=first_step - 1, desc="train", unit="step",
                        disable=not (enabled and bar), dynamic_ncols=True)
        if enabled:
            keep_rows_up_to(path, first_step - 1)

    def log(self, step: int, loss: float, lr: float, grad_norm: float, **extra: Any) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.start_time
        done = step - self.start_step
        tokens_per_s = done * self.tokens_per_step / elapsed if elapsed > 0 else 0.0
        row = {"step": step, "loss": loss, "lr": lr, "grad_norm": grad_norm,
               "tokens": step * self.tokens_per_step, "tokens_per_s": round(tokens_per_s, 1),
               "elapsed_s": round(elapsed, 3), "eta_s": round(elapsed / done * (self.total - step), 1)}
        if self.peak:
            row["mfu"] = round(tokens_per_s * self.flops_per_token / self.peak, 4)
        row.update(extra)
        if self.enabled:
            append_jsonl(self.path, row)
            self.bar.set_postfix(loss=f"{loss:.3f}", **({"val": f"{extra['val_loss']:.3f}"} if "val_loss" in extra
                                                        else {}))
            self.bar.update(1)
        return row

    def close(self) -> None:
        self.bar.close()


def keep_rows_up_to(path: Path, step: int) -> None:
    """Drop the rows of steps after ``step`` (written by a run killed after its last checkpoint)."""
    if not path.exists():
        return
    rows = [row for row in read_jsonl(path) if row.get("step", 0) <= step]
    with atomic_open(path) as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every row of a run's ``metrics.jsonl`` (for plots and tests)."""
    return list(read_jsonl(Path(run_dir) / "metrics.jsonl"))
