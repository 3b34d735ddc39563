"""SAC+FiLM (``algo=film``): per-task feature-wise scale and shift of every hidden layer."""
from __future__ import annotations

from omegaconf import DictConfig
from torch import nn
from torchrl.data import TensorSpec

from paco_torchrl.algos.base import SAC_ACTOR_LOSSES, Algo, std_bounds
from paco_torchrl.modules.baselines import FiLMMLP, build_actor_critics


def build_film_networks(
    cfg: DictConfig, observation_dim: int, action_spec: TensorSpec, num_tasks: int
) -> tuple[nn.Module, list[nn.Module]]:
    """SAC+FiLM: :class:`~paco_torchrl.modules.baselines.FiLMMLP` actor and critics."""
    cells = tuple(cfg.network.num_cells)
    return build_actor_critics(
        lambda i, o: FiLMMLP(i, o, cells, num_tasks), observation_dim, action_spec, std_bounds(cfg)
    )


FILM = Algo("film", "SAC+FiLM: per-task feature-wise scale and shift of every hidden layer", build_film_networks,
            False, False, losses=SAC_ACTOR_LOSSES)
