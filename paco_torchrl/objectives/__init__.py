"""PaCo objectives: multi-task SAC with per-task losses, the shared-W mechanism, loss maskout, w-reset,
Algorithm-1 update."""
from __future__ import annotations

from paco_torchrl.objectives.maskout import loss_maskout, masked_total_loss
from paco_torchrl.objectives.per_task import ORIGINAL_LOSS_WEIGHTS, per_task_mean, reduce_per_task, total_task_loss
from paco_torchrl.objectives.per_task_loss import PerTaskLoss
from paco_torchrl.objectives.sac import MultiTaskSACLoss
from paco_torchrl.objectives.shared_w import SharedTaskWeights, base_tensor
from paco_torchrl.objectives.update import PaCoUpdateStep, make_paco_optimizer
from paco_torchrl.objectives.w_reset import WReset

__all__ = [
    "ORIGINAL_LOSS_WEIGHTS",
    "MultiTaskSACLoss",
    "PaCoUpdateStep",
    "PerTaskLoss",
    "SharedTaskWeights",
    "WReset",
    "base_tensor",
    "loss_maskout",
    "make_paco_optimizer",
    "masked_total_loss",
    "per_task_mean",
    "reduce_per_task",
    "total_task_loss",
]
