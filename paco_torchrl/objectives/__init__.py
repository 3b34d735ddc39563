"""PaCo objectives: multi-task SAC with per-task losses, the shared-W mechanism, loss maskout, w-reset,
the Algorithm-1 update step and the PCGrad / temperature-reweighted steps beside it."""
from __future__ import annotations

from paco_torchrl.objectives.maskout import loss_maskout, masked_total_loss
from paco_torchrl.objectives.per_task import ORIGINAL_LOSS_WEIGHTS, per_task_mean, reduce_per_task, total_task_loss
from paco_torchrl.objectives.pcgrad import PCGradUpdateStep, pcgrad, pcgrad_coefficients
from paco_torchrl.objectives.per_task_loss import PerTaskLoss
from paco_torchrl.objectives.sac import MultiTaskSACLoss
from paco_torchrl.objectives.shared_w import SharedTaskWeights, base_tensor
from paco_torchrl.objectives.temp_reweight import TempReweightedUpdateStep
from paco_torchrl.objectives.update import PaCoUpdateStep, make_paco_optimizer
from paco_torchrl.objectives.w_reset import WReset

__all__ = [
    "ORIGINAL_LOSS_WEIGHTS",
    "MultiTaskSACLoss",
    "PCGradUpdateStep",
    "PaCoUpdateStep",
    "PerTaskLoss",
    "SharedTaskWeights",
    "TempReweightedUpdateStep",
    "WReset",
    "base_tensor",
    "loss_maskout",
    "make_paco_optimizer",
    "masked_total_loss",
    "pcgrad",
    "pcgrad_coefficients",
    "per_task_mean",
    "reduce_per_task",
    "total_task_loss",
]
