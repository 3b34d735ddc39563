"""Multi-task SAC (``algo=mtsac``, §4.3 with ``K = 1``): one plain MLP per network, one-hot task id appended."""
from __future__ import annotations

from omegaconf import DictConfig
from torch import nn
from torchrl.data import TensorSpec

from paco_torchrl.algos.base import Algo
from paco_torchrl.modules import make_paco_actor, make_paco_qvalue


def build_mtsac_networks(
    cfg: DictConfig, observation_dim: int, action_spec: TensorSpec, num_tasks: int
) -> tuple[nn.Module, list[nn.Module]]:
    """Multi-task SAC: one plain MLP per network for all tasks, one-hot task id appended to the input."""
    cells = tuple(cfg.network.num_cells)
    actor = make_paco_actor(
        observation_dim,
        action_spec,
        num_tasks,
        num_cells=cells,
        compositional=None,
        log_std_bounds=(cfg.network.log_std_min, cfg.network.log_std_max),
        init=cfg.network.init,
    )
    critics = [
        make_paco_qvalue(
            observation_dim, action_spec.shape[-1], num_tasks, num_cells=cells, compositional=None,
            init=cfg.network.init,
        )
        for _ in range(2)
    ]
    return actor, critics


MTSAC = Algo("mtsac", "Multi-task SAC: one network, one-hot task input, per-task α", build_mtsac_networks,
             False, False, ("network.init",))
