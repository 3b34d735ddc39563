"""Parameter-compositional networks (Eqn 1–2 of the PaCo paper)."""
from __future__ import annotations

from paco_torchrl.nn.compositional import CompositionalLinear, CompositionalMLP, assume_task_major
from paco_torchrl.nn.grouped_mm import grouped_mm, grouped_mm_supported
from paco_torchrl.nn.task_conditioned import OneHotTaskMLP
from paco_torchrl.nn.task_weights import TaskWeights

__all__ = [
    "CompositionalLinear",
    "CompositionalMLP",
    "OneHotTaskMLP",
    "TaskWeights",
    "assume_task_major",
    "grouped_mm",
    "grouped_mm_supported",
]
