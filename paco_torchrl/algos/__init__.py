"""``algo=`` choices, one module per method; :data:`ALGOS` is the registry (a line per algo).

§4.3 of the paper derives the usual baselines from ``θ_τ = Φ w_τ`` with special ``Φ`` and ``w``
(``single_task``: ``K = T``, fixed one-hot ``w``, every layer compositional; ``mhsac``: the same with
only the output layer compositional; ``mtsac``: ``K = 1``, one plain MLP with the one-hot task id
appended). The published baselines of Table 1 that are not PaCo instantiations (SAC+FiLM, PCGrad,
Soft-Modularization, CARE) and MOORE (ICLR 2024) have their own networks
(:mod:`paco_torchrl.modules.baselines`). The baselines use none of PaCo's stabilisation.

Adding a method: a module here with its builder (and, if it has one, its config section, its
validation and its update step), and a line in :data:`ALGOS`.
"""
from __future__ import annotations

from omegaconf import DictConfig

from paco_torchrl.algos.base import Algo, NetworkBuilder
from paco_torchrl.algos.care import CARE, CAREConfig, build_care_networks
from paco_torchrl.algos.film import FILM, build_film_networks
from paco_torchrl.algos.mhsac import MHSAC, build_mhsac_networks
from paco_torchrl.algos.moore import MOORE, MOOREConfig, build_moore_networks
from paco_torchrl.algos.mtsac import MTSAC, build_mtsac_networks
from paco_torchrl.algos.paco import PACO, PACO_MASKOUT, PACO_VANILLA, PaCoConfig, build_paco_networks
from paco_torchrl.algos.pcgrad import PCGRAD
from paco_torchrl.algos.schema import ConfigError
from paco_torchrl.algos.single_task import SINGLE_TASK, build_one_hot_networks, build_single_task_networks
from paco_torchrl.algos.soft_modules import SOFT_MODULES, SoftModulesConfig, build_soft_modules_networks

ALGOS: dict[str, Algo] = {
    a.name: a
    for a in (
        PACO,
        PACO_MASKOUT,
        PACO_VANILLA,
        MTSAC,
        MHSAC,
        SINGLE_TASK,
        FILM,
        PCGRAD,
        SOFT_MODULES,
        CARE,
        MOORE,
    )
}


def algo_sections() -> dict[str, type]:
    """``{section name: dataclass}`` of every algo that has its own config section, in registry order.

    Examples:
        >>> list(algo_sections())
        ['paco', 'soft_modules', 'care', 'moore']
    """
    return {a.section: a.config for a in ALGOS.values() if a.section is not None}


def validate_algo_sections(cfg: DictConfig, num_tasks: int) -> None:
    """Runs every algo section's validation once (every section is checked, whichever algo runs)."""
    done = set()
    for algo in ALGOS.values():
        if algo.validate is not None and algo.validate not in done:
            done.add(algo.validate)
            algo.validate(cfg, num_tasks)


__all__ = [
    "ALGOS",
    "Algo",
    "CAREConfig",
    "ConfigError",
    "MOOREConfig",
    "NetworkBuilder",
    "PaCoConfig",
    "SoftModulesConfig",
    "algo_sections",
    "build_care_networks",
    "build_film_networks",
    "build_mhsac_networks",
    "build_moore_networks",
    "build_mtsac_networks",
    "build_one_hot_networks",
    "build_paco_networks",
    "build_single_task_networks",
    "build_soft_modules_networks",
    "validate_algo_sections",
]
