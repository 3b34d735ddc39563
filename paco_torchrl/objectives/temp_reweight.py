"""Soft-Modularization's task reweighting: per-task losses weighted by ``T · softmax(−log α)``."""
from __future__ import annotations

import torch
from tensordict import TensorDictBase

from paco_torchrl.objectives.update import PaCoUpdateStep


def temperature_weights(log_alpha: torch.Tensor, num_tasks: int) -> torch.Tensor:
    """``T · softmax(−log α)`` (detached, mean 1): a task with a high temperature (a policy still far
    from its target entropy, i.e. not yet learnt) gets a small weight.

    Uniform weights when α is not per task (``loss=redq|crossq`` share one α).

    Examples:
        >>> import torch
        >>> temperature_weights(torch.log(torch.tensor([1.0, 1.0, 0.5])), 3)
        tensor([0.7500, 0.7500, 1.5000])
    """
    if log_alpha.numel() != num_tasks:
        return torch.ones(num_tasks, device=log_alpha.device)
    return num_tasks * torch.softmax(-log_alpha.detach().reshape(num_tasks), dim=-1)


class TempReweightedUpdateStep(PaCoUpdateStep):
    """:class:`~paco_torchrl.objectives.PaCoUpdateStep` with the actor and critic losses of task ``τ``
    multiplied by ``T · softmax(−log α)_τ`` (Yang et al. 2020, §4.3; reference config
    ``"temp_reweight": true``); the α losses are not reweighted. Metrics are the unweighted per-task
    losses, like every other algo's.

    Keyword Args:
        temp_reweight: ``False`` gives the plain update.
        Other arguments are those of ``PaCoUpdateStep``.
    """

    def __init__(self, *args, temp_reweight: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.temp_reweight = temp_reweight

    def task_totals(self, task_losses: TensorDictBase) -> torch.Tensor:
        if not self.temp_reweight:
            return super().task_totals(task_losses)
        weights = temperature_weights(self.loss_module.log_alpha, task_losses.shape[-1])
        total = torch.zeros_like(weights)
        for key in task_losses.keys():
            if isinstance(key, str) and key.startswith("loss_"):
                scale = torch.ones_like(weights) if key == "loss_alpha" else weights  # α losses: not reweighted
                total = total + scale * self.loss_weights.get(key, 1.0) * task_losses.get(key)
        return total
