"""Single-task SAC ×T (``algo=single_task``, §4.3): ``K = T``, a fixed one-hot ``W``, every layer compositional.

:func:`build_one_hot_networks` also builds multi-head SAC (:mod:`paco_torchrl.algos.mhsac`).
"""
from __future__ import annotations

import functools

from omegaconf import DictConfig
from torch import nn
from torchrl.data import TensorSpec

from paco_torchrl.algos.base import Algo
from paco_torchrl.modules import make_paco_actor, make_paco_qvalue
from paco_torchrl.nn import TaskWeights


def build_one_hot_networks(
    cfg: DictConfig,
    observation_dim: int,
    action_spec: TensorSpec,
    num_tasks: int,
    *,
    compositional: str = "all",
) -> tuple[nn.Module, list[nn.Module]]:
    """PaCo networks with ``K = T`` and a fixed one-hot ``W`` (a buffer, never trained or reset).

    ``compositional="all"`` gives single-task networks, ``"output"`` multi-head networks (§4.3).
    Every ``Φ`` slice is initialised independently, like ``T`` separately built ``nn.Linear``.
    ``paco.num_param_sets``, ``w_init``, ``scope`` and ``share_w`` are ignored.

    Examples:
        >>> from torchrl.data import Bounded
        >>> from paco_torchrl.training import load_config
        >>> cfg = load_config(None, ["network.num_cells=[16]"])
        >>> actor, critics = build_one_hot_networks(cfg, 6, Bounded(-1.0, 1.0, shape=(2,)), num_tasks=3)
        >>> w = actor.module[0].module.net.task_weights
        >>> w.weight.tolist(), w.weight.requires_grad, len(critics)
        ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], False, 2)
    """
    def one_hot() -> TaskWeights:  # a buffer per network: nothing to share, since nothing trains it
        return TaskWeights(num_tasks, num_tasks, init="one_hot", trainable=False)

    cells = tuple(cfg.network.num_cells)
    common = dict(compositional=compositional, identical_init=False, init=cfg.network.init)
    actor = make_paco_actor(
        observation_dim,
        action_spec,
        num_tasks,
        num_tasks,
        cells,
        task_weights=one_hot(),
        log_std_bounds=(cfg.network.log_std_min, cfg.network.log_std_max),
        **common,
    )
    critics = [
        make_paco_qvalue(
            observation_dim, action_spec.shape[-1], num_tasks, num_tasks, cells, task_weights=one_hot(), **common
        )
        for _ in range(2)
    ]
    return actor, critics


# Single-task SAC ×T (§4.3): ``Φ = [φ_1 … φ_T]`` in every layer, ``w_τ = e_τ`` fixed.
build_single_task_networks = functools.partial(build_one_hot_networks, compositional="all")

SINGLE_TASK = Algo("single_task", "Single-task SAC ×T: independent networks (K=T, fixed one-hot w)",
                   build_single_task_networks, False, False, ("network.init",))
