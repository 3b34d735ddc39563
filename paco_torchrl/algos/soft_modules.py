"""Soft-Modularization (``algo=soft_modules``): modules routed by a state- and task-conditioned network,
task losses reweighted by ``T · softmax(−log α)`` (:class:`~paco_torchrl.objectives.temp_reweight.TempReweightedUpdateStep`)."""
from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig
from torch import nn
from torchrl.data import TensorSpec
from torchrl.objectives import LossModule, SoftUpdate

from paco_torchrl.algos.base import SAC_ACTOR_LOSSES, Algo, std_bounds
from paco_torchrl.algos.schema import check, option
from paco_torchrl.modules.baselines import SoftModularNet, build_actor_critics
from paco_torchrl.objectives.temp_reweight import TempReweightedUpdateStep


@dataclass
class SoftModulesConfig:
    """The ``soft_modules`` section (reference code's MT10 config, ``modular_2_2_2_256``)."""

    num_layers: int = option(2, "module layers (>= 2)")
    num_modules: int = option(2, "modules per layer")
    module_hidden: int = option(256, "width of a module")
    num_gating_layers: int = option(2, "hidden layers of the routing network")
    gating_hidden: int = option(256, "width of the routing network")
    temp_reweight: bool = option(True, "weight task losses by T·softmax(-log α) (reference temp_reweight)")


def validate_soft_modules(cfg: DictConfig, num_tasks: int) -> None:
    """Checks the ``soft_modules`` section."""
    sm = cfg.soft_modules
    check(sm.num_layers >= 2, "soft_modules.num_layers", f"must be >= 2, got {sm.num_layers}")
    for key in ("num_modules", "module_hidden", "gating_hidden"):
        check(sm[key] >= 1, f"soft_modules.{key}", f"must be >= 1, got {sm[key]}")
    check(sm.num_gating_layers >= 0, "soft_modules.num_gating_layers", f"must be >= 0, got {sm.num_gating_layers}")


def build_soft_modules_networks(
    cfg: DictConfig, observation_dim: int, action_spec: TensorSpec, num_tasks: int
) -> tuple[nn.Module, list[nn.Module]]:
    """Soft modularization: :class:`~paco_torchrl.modules.baselines.SoftModularNet` actor and critics."""
    cells, sm = tuple(cfg.network.num_cells), cfg.soft_modules
    kwargs = dict(num_layers=sm.num_layers, num_modules=sm.num_modules, module_hidden=sm.module_hidden,
                  num_gating_layers=sm.num_gating_layers, gating_hidden=sm.gating_hidden)
    return build_actor_critics(
        lambda i, o: SoftModularNet(i, o, cells, num_tasks, **kwargs), observation_dim, action_spec, std_bounds(cfg)
    )


def make_soft_modules_update(
    cfg: DictConfig, loss_module: LossModule, optimizer, target_updater: SoftUpdate | None = None, **kwargs
) -> TempReweightedUpdateStep:
    """``Algo.make_update`` of ``soft_modules``: reweighting as ``soft_modules.temp_reweight`` says."""
    return TempReweightedUpdateStep(
        loss_module, optimizer, target_updater, temp_reweight=cfg.soft_modules.temp_reweight, **kwargs
    )


_KEYS = ("num_layers", "num_modules", "module_hidden", "num_gating_layers", "gating_hidden", "temp_reweight")
SOFT_MODULES = Algo(
    "soft_modules", "Soft-Modularization: modules routed by a state- and task-conditioned network",
    build_soft_modules_networks, False, False, tuple("soft_modules." + k for k in _KEYS),
    make_update=make_soft_modules_update, losses=SAC_ACTOR_LOSSES, section="soft_modules",
    config=SoftModulesConfig, validate=validate_soft_modules,
)
