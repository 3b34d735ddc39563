"""What an ``algo=`` choice is: its networks, its stabilisation, its config section and its update step."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import DictConfig
from torch import nn
from torchrl.data import TensorSpec

NetworkBuilder = Callable[[DictConfig, int, TensorSpec, int], tuple[nn.Module, list[nn.Module]]]


def std_bounds(cfg: DictConfig) -> tuple[float, float]:
    """``(network.log_std_min, network.log_std_max)`` of a run config."""
    return cfg.network.log_std_min, cfg.network.log_std_max


@dataclass(frozen=True)
class Algo:
    """One ``algo=`` choice.

    Attributes:
        name: the config value.
        description: one line for reports.
        build_networks: ``(cfg, observation_dim, action_spec, num_tasks) -> (actor, critics)``.
        loss_maskout: drop tasks over ``ε`` from the loss (overrides ``paco.loss_maskout``).
        w_reset: re-initialise dropped tasks' ``w`` (overrides ``paco.w_reset``).
        structure_keys: config keys this algo's networks read (``paco.*`` keys without the
            section, others as ``section.key``); a non-default value makes a distinct variant
            in reports (see :func:`~paco_torchrl.experiments.variants.variant_label`).
        make_update: ``(cfg, loss, optimizer, target_updater, **kwargs)`` building the update step
            instead of :class:`~paco_torchrl.objectives.PaCoUpdateStep` (``kwargs``: those of
            ``PaCoUpdateStep`` plus ``metric_fill``).
        losses: the ``loss=`` choices the algo supports (``None``: all).
        section: the name of the algo's own config section (``None``: none).
        config: the dataclass of that section (documented fields, see
            :func:`~paco_torchrl.algos.schema.option`).
        validate: ``(cfg, num_tasks)`` checking that section; raises
            :class:`~paco_torchrl.algos.schema.ConfigError` naming the key.

    Examples:
        >>> from paco_torchrl.algos import ALGOS
        >>> ALGOS["mhsac"].stabilisation(None)
        (False, False)
    """

    name: str
    description: str
    build_networks: NetworkBuilder
    loss_maskout: bool | None = None
    w_reset: bool | None = None
    structure_keys: tuple[str, ...] = ()
    make_update: Callable | None = None
    losses: tuple[str, ...] | None = None
    section: str | None = None
    config: type | None = None
    validate: Callable[[DictConfig, int], None] | None = None

    def stabilisation(self, cfg: DictConfig | None) -> tuple[bool, bool]:
        """``(loss_maskout, w_reset)`` for this algo under ``cfg``."""
        maskout = cfg.paco.loss_maskout if self.loss_maskout is None else self.loss_maskout
        reset = cfg.paco.w_reset if self.w_reset is None else self.w_reset
        return maskout, reset


# td3 rebuilds a deterministic twin of a PaCo / one-hot actor; the published baselines' networks have none
SAC_ACTOR_LOSSES = ("sac", "redq", "crossq")
