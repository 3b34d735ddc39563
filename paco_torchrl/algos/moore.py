"""MOORE (``algo=moore``, ICLR 2024): Gram-Schmidt-orthogonal experts, task-specific weights, per-task heads."""
from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig
from torch import nn
from torchrl.data import TensorSpec

from paco_torchrl.algos.base import SAC_ACTOR_LOSSES, Algo, std_bounds
from paco_torchrl.algos.schema import check, option
from paco_torchrl.modules.baselines import MOORENet, build_actor_critics


@dataclass
class MOOREConfig:
    """The ``moore`` section (the MOORE paper: 4 experts on MT10, 6 on MT50)."""

    num_experts: int = option(4, "orthogonal experts (<= network.num_cells[-1])")


def validate_moore(cfg: DictConfig, num_tasks: int) -> None:
    """Checks the ``moore`` section."""
    k, width = cfg.moore.num_experts, int(cfg.network.num_cells[-1])
    check(k >= 1, "moore.num_experts", f"must be >= 1, got {k}")
    check(cfg.algo != "moore" or k <= width, "moore.num_experts",
          f"orthogonal experts need num_experts <= network.num_cells[-1] ({width}), got {k}")


def build_moore_networks(
    cfg: DictConfig, observation_dim: int, action_spec: TensorSpec, num_tasks: int
) -> tuple[nn.Module, list[nn.Module]]:
    """MOORE: :class:`~paco_torchrl.modules.baselines.MOORENet` actor and critics (``moore.num_experts``)."""
    cells, k = tuple(cfg.network.num_cells), cfg.moore.num_experts
    return build_actor_critics(
        lambda i, o: MOORENet(i, o, cells, num_tasks, num_experts=k), observation_dim, action_spec, std_bounds(cfg)
    )


MOORE = Algo("moore", "MOORE: Gram-Schmidt-orthogonal experts, task-specific weights, per-task heads",
             build_moore_networks, False, False, ("moore.num_experts",), losses=SAC_ACTOR_LOSSES,
             section="moore", config=MOOREConfig, validate=validate_moore)
