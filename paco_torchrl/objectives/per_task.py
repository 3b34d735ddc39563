"""Per-task reduction of per-sample losses (static shapes, no host sync)."""
from __future__ import annotations

from collections.abc import Mapping

import torch
from tensordict import TensorDict, TensorDictBase

# The original PaCo code trains on length-2 sequences and averages the per-step losses over both steps;
# its TD loss exists only for the first step (the second is zero), so the critic term enters ``J_τ``
# (the quantity compared with ε, and the loss whose gradient trains the shared W) at half weight.
ORIGINAL_LOSS_WEIGHTS: dict[str, float] = {"loss_qvalue": 0.5}


def per_task_mean(values: torch.Tensor, task_id: torch.Tensor, num_tasks: int) -> torch.Tensor:
    """Mean of ``values`` over each task's samples: ``[*batch] -> [T]``.

    Tasks without samples get ``0``. Entry ``τ`` depends on task ``τ``'s samples
    only: other samples get exactly zero gradient, and a NaN/inf sample of one
    task leaves the other tasks' entries finite.

    Examples:
        >>> import torch
        >>> per_task_mean(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([0, 0, 2]), 3)
        tensor([2., 0., 5.])
    """
    if values.shape != task_id.shape:
        raise ValueError(f"values {tuple(values.shape)} and task_id {tuple(task_id.shape)} must have the same shape")
    # torch.where (not a one-hot product): a NaN/inf sample must not reach other tasks (0·NaN = NaN).
    one_hot = torch.nn.functional.one_hot(task_id.reshape(-1), num_tasks).bool()
    per_sample = values.reshape(-1, 1)
    sums = torch.where(one_hot, per_sample, torch.zeros((), dtype=values.dtype, device=values.device)).sum(0)
    counts = one_hot.sum(0).to(values.dtype)
    return sums / counts.clamp_min(1)


def reduce_per_task(
    per_sample: TensorDictBase, task_id: torch.Tensor, num_tasks: int
) -> TensorDictBase:
    """Applies :func:`per_task_mean` to every tensor of a per-sample TensorDict -> batch ``[T]``."""
    return TensorDict(
        {key: per_task_mean(value, task_id, num_tasks) for key, value in per_sample.items()},
        batch_size=[num_tasks],
    )


def total_task_loss(
    task_losses: TensorDictBase | torch.Tensor, weights: Mapping[str, float | torch.Tensor] | None = None
) -> torch.Tensor:
    """``J_τ``: the weighted sum of all ``loss_*`` entries of a per-task TensorDict (``[T]``).

    Args:
        task_losses: per-task losses (batch ``[T]``), or ``J_τ`` itself as a ``[T]`` tensor (returned as is).
        weights: ``{"loss_qvalue": 0.5, ...}``; a weight is a float or a ``[T]`` tensor, a missing key
            weighs 1. :data:`ORIGINAL_LOSS_WEIGHTS` reproduces the original PaCo code's ``J_τ``.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> losses = TensorDict({"loss_actor": torch.tensor([1.0, 2.0]), "loss_qvalue": torch.tensor([4.0, 8.0]),
        ...                      "alpha": torch.ones(2)}, [2])
        >>> total_task_loss(losses), total_task_loss(losses, ORIGINAL_LOSS_WEIGHTS)
        (tensor([ 5., 10.]), tensor([3., 6.]))
    """
    if isinstance(task_losses, torch.Tensor):
        return task_losses
    keys = [k for k in task_losses.keys() if isinstance(k, str) and k.startswith("loss_")]
    if not keys:
        raise ValueError("task_losses holds no 'loss_*' entry")
    weights = weights or {}
    terms = [task_losses.get(k) if k not in weights else weights[k] * task_losses.get(k) for k in keys]
    return torch.stack(terms).sum(0)
