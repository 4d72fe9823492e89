"""Many processes, one model: data parallelism with FSDP2, applied from outside the model (torchtitan's pattern).

Launched by ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), :func:`init_world` joins the process
group: NCCL on CUDA, gloo on CPU. :func:`shard_model` then wraps each transformer block and finally the root with
``fully_shard``: every parameter becomes a DTensor holding 1/world of the tensor, gathered for each block's forward and
backward and freed after; gradients are reduce-scattered. On CUDA in bfloat16, ``MixedPrecisionPolicy`` keeps float32
master weights and computes in bfloat16 with float32 gradient reduction. The loss is normalised by the global count
of target tokens (see :mod:`codellama_lite.train.loop`); FSDP averages gradients over ranks, so each rank's loss is
scaled by the world size (:func:`gradient_scale`) — gloo cannot reduce with a custom divide factor.

Without ``torchrun`` everything here is a no-op on a single process.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int
    world_size: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(preference: str) -> torch.device:
    """``auto``: CUDA when available, else CPU; or the device named."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device = {preference!r} but CUDA is not available here")
    return device


def init_world(preference: str = "auto") -> World:
    """Join ``torchrun``'s process group if launched by it; a world of one otherwise."""
    device = pick_device(preference)
    if "WORLD_SIZE" not in os.environ or not dist.is_available():
        return World(0, 1, device)
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(minutes=30))
    return World(dist.get_rank(), dist.get_world_size(), device)


def close_world(world: World) -> None:
    if world.distributed:
        dist.barrier()
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def all_reduce_sum(value: torch.Tensor, world: World) -> torch.Tensor:
    """The sum over ranks (in place); the value itself on one process."""
    if world.distributed:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def all_gather_object(value: object, world: World) -> list[object]:
    """Every rank's ``value``, in rank order, on every rank."""
    if not world.distributed:
        return [value]
    gathered: list[object] = [None] * world.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def shard_model(model: nn.Module, world: World, compute_dtype: torch.dtype) -> nn.Module:
    """FSDP2: ``fully_shard`` each block, then the root (embedding, final norm and output with it)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(world.device.type, (world.world_size,))
    policy = MixedPrecisionPolicy(param_dtype=compute_dtype, reduce_dtype=torch.float32)
    for block in model.layers:
        fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model


def gradient_scale(world: World) -> float:
    """What each rank's loss is multiplied by so that FSDP's average over ranks gives the global gradient."""
    return float(world.world_size) if world.distributed else 1.0
