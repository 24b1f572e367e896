"""One run's replicas over several processes (``econdsl train --nproc N``, ``torchrun -m econdsl.train``).

Process ``rank`` of ``world`` steps replicas ``first..first+envs-1`` of the run's ``total``. The processes
compute what one process with all ``total`` replicas computes, to float rounding:

- the environment's draws are a function of the replica's index (``Env(replicas=(first, total))``);
- the policies' sampling draws the uniforms (normals) of all replicas from the same seeded generator on
  every process and keeps its own rows, so replica ``i`` acts on the same numbers whichever process runs it;
- a PPO minibatch is drawn as one permutation of every sample of the run (the same on every process); each
  process takes the samples of its replicas, divides its loss by the whole minibatch's size, and the
  gradients are summed over processes with ``torch.distributed.all_reduce`` (gloo on CPU, NCCL on GPU)
  before the clipping and the optimiser step, which therefore see the single-process gradient;
- advantage normalisation, observation statistics, losses and metrics are reduced the same way.

Rank 0 writes the run directory; every rank holds identical policies, optimisers and generators.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Shard:
    """This process's share of a run's replicas."""

    rank: int
    world: int
    first: int  # the first replica this process steps
    envs: int  # how many
    total: int  # replicas of the whole run

    @classmethod
    def split(cls, rank: int, world: int, total: int) -> Shard:
        """Replicas as even as possible, the first ``total % world`` ranks one more."""
        if total < world:
            raise ValueError(f"{total} replicas cannot be shared by {world} processes; use at least {world} envs")
        base, extra = divmod(total, world)
        first = rank * base + min(rank, extra)
        return cls(rank, world, first, base + (rank < extra), total)

    # ------------------------------------------------------------ random numbers
    def draw(self, fn, shape: tuple[int, ...], per_env: int, generator: torch.Generator | None,
             device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
        """``fn`` (torch.rand / torch.randn) of ``shape`` = [envs·per_env, …] as the rows of this process's
        replicas in one draw for all replicas: the generator advances by the whole run's draw."""
        whole = fn((self.total * per_env, *shape[1:]), generator=generator, device=device, dtype=dtype)
        return whole[self.first * per_env:(self.first + self.envs) * per_env]

    def action_draws(self, logp: torch.Tensor, mean: torch.Tensor | None, per_env: int,
                     generator: torch.Generator | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The uniforms (one per discrete head) and normals (one per continuous head) of one sampling of
        this process's rows, in the order ``TypePolicy.sample_action`` draws them."""
        u = self.draw(torch.rand, (*logp.shape[:-1], 1), per_env, generator, logp.device, logp.dtype) \
            if logp.shape[1] else None
        noise = self.draw(torch.randn, tuple(mean.shape), per_env, generator, mean.device, mean.dtype) \
            if mean is not None and mean.shape[1] else None
        return u, noise

    # ------------------------------------------------------------ minibatches
    def local_rows(self, rows: torch.Tensor, steps: int, agents: int) -> torch.Tensor:
        """The local indices of the rows of a whole-run batch flattened as [steps, total, agents] that are
        this process's (its batch is [steps, envs, agents])."""
        t, rest = rows // (self.total * agents), rows % (self.total * agents)
        e, j = rest // agents, rest % agents
        mine = (e >= self.first) & (e < self.first + self.envs)
        return (t * (self.envs * agents) + (e - self.first) * agents + j)[mine]

    # ------------------------------------------------------------ reductions
    def sum(self, x: torch.Tensor) -> torch.Tensor:
        """The sum of ``x`` over processes (a new tensor)."""
        y = x.detach().clone() if x.requires_grad else x.clone()
        dist.all_reduce(y, op=dist.ReduceOp.SUM)
        return y

    def any(self, flag: bool) -> bool:
        t = torch.tensor([1.0 if flag else 0.0])  # a CPU tensor: gloo, whatever the device of the run
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def sum_grads(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Sum every parameter's gradient over processes, in one flat buffer."""
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        k = 0
        for g in grads:
            g.copy_(flat[k:k + g.numel()].view_as(g))
            k += g.numel()

    def mean_var(self, x: torch.Tensor, unbiased: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of ``x`` over every process's elements (two passes, as torch does)."""
        n = self.sum(torch.tensor(float(x.numel()), dtype=torch.float64, device=x.device))
        mean = (self.sum(x.double().sum()) / n)
        sq = self.sum((x.double() - mean).square().sum())
        var = sq / (n - 1 if unbiased else n)
        return mean.to(x.dtype), var.to(x.dtype)


def join_group() -> tuple[int, int]:
    """Join the process group ``torchrun`` describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, …): gloo for
    CPU tensors, NCCL for CUDA tensors (each process on GPU ``LOCAL_RANK``). Returns (rank, world size);
    (0, 1) outside ``torchrun``."""
    rank, world = world_rank()
    if world <= 1 or dist.is_initialized():
        return rank, world
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        dist.init_process_group("cpu:gloo,cuda:nccl")
    else:
        dist.init_process_group("gloo")
    return rank, world


def leave_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def world_rank() -> tuple[int, int]:
    """(rank, world size) as ``torchrun`` sets them; (0, 1) outside it."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def torchrun_command(nproc: int, args: list[str]) -> list[str]:
    """``econdsl train ARGS`` as ``nproc`` processes on this machine, started by PyTorch's own launcher."""
    import sys

    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
            "--module", "econdsl.train", *args]
