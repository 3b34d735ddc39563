"""``algo=`` choices: PaCo, its stabilisation ablations (Table 2) and MT-SAC, as configurations of the same parts."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import DictConfig
from torch import nn
from torchrl.data import TensorSpec

from paco_torchrl.modules import make_paco_actor, make_paco_qvalue, make_paco_actor_critic

NetworkBuilder = Callable[[DictConfig, int, TensorSpec, int], tuple[nn.Module, list[nn.Module]]]


def build_paco_networks(
    cfg: DictConfig, observation_dim: int, action_spec: TensorSpec, num_tasks: int
) -> tuple[nn.Module, list[nn.Module]]:
    """PaCo actor and critics from the ``paco`` and ``network`` sections of a run config."""
    p = cfg.paco
    return make_paco_actor_critic(
        observation_dim,
        action_spec,
        num_tasks,
        p.num_param_sets,
        tuple(cfg.network.num_cells),
        scope=p.scope,
        share_w=p.share_w,
        identical_init=p.identical_init,
        w_init=p.w_init,
        normalize_w=p.normalize_w,
        log_std_bounds=(cfg.network.log_std_min, cfg.network.log_std_max),
    )


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
    )
    critics = [
        make_paco_qvalue(observation_dim, action_spec.shape[-1], num_tasks, num_cells=cells, compositional=None)
        for _ in range(2)
    ]
    return actor, critics


@dataclass(frozen=True)
class Algo:
    """One ``algo=`` choice.

    Attributes:
        name: the config value.
        description: one line for reports.
        build_networks: ``(cfg, observation_dim, action_spec, num_tasks) -> (actor, critics)``.
        loss_maskout: drop tasks over ``ε`` from the loss (overrides ``paco.loss_maskout``).
        w_reset: re-initialise dropped tasks' ``w`` (overrides ``paco.w_reset``).
    """

    name: str
    description: str
    build_networks: NetworkBuilder
    loss_maskout: bool | None = None
    w_reset: bool | None = None

    def stabilisation(self, cfg: DictConfig) -> tuple[bool, bool]:
        """``(loss_maskout, w_reset)`` for this algo under ``cfg``."""
        maskout = cfg.paco.loss_maskout if self.loss_maskout is None else self.loss_maskout
        reset = cfg.paco.w_reset if self.w_reset is None else self.w_reset
        return maskout, reset


ALGOS: dict[str, Algo] = {
    a.name: a
    for a in (
        Algo("paco", "PaCo: loss maskout + w-reset", build_paco_networks),
        Algo("paco_maskout", "PaCo-Maskout: loss maskout, no w-reset", build_paco_networks, True, False),
        Algo("paco_vanilla", "PaCo-Vanilla: no maskout, no w-reset", build_paco_networks, False, False),
        Algo("mtsac", "Multi-task SAC: one network, one-hot task input, per-task α", build_mtsac_networks, False, False),
    )
}
