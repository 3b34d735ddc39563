"""Parameter-compositional networks (Eqn 1–2 of the PaCo paper)."""
from __future__ import annotations

from paco_torchrl.nn.compositional import CompositionalLinear, CompositionalMLP
from paco_torchrl.nn.task_conditioned import OneHotTaskMLP
from paco_torchrl.nn.task_weights import TaskWeights

__all__ = ["CompositionalLinear", "CompositionalMLP", "OneHotTaskMLP", "TaskWeights"]
