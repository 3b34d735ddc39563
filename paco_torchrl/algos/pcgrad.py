"""PCGrad (``algo=pcgrad``): MT-SAC's network, conflicting per-task gradients projected
(:class:`~paco_torchrl.objectives.pcgrad.PCGradUpdateStep`)."""
from __future__ import annotations

from omegaconf import DictConfig
from torchrl.objectives import LossModule, SoftUpdate

from paco_torchrl.algos.base import Algo
from paco_torchrl.algos.mtsac import build_mtsac_networks
from paco_torchrl.objectives.pcgrad import PCGradUpdateStep


def make_pcgrad_update(
    cfg: DictConfig, loss_module: LossModule, optimizer, target_updater: SoftUpdate | None = None, **kwargs
) -> PCGradUpdateStep:
    """``Algo.make_update`` of ``pcgrad`` (the config adds nothing)."""
    return PCGradUpdateStep(loss_module, optimizer, target_updater, **kwargs)


PCGRAD = Algo("pcgrad", "PCGrad: MT-SAC network, conflicting per-task gradients projected", build_mtsac_networks,
              False, False, ("network.init",), make_update=make_pcgrad_update)
