"""PaCo (``algo=paco``) and its Table-2 ablations ``paco_maskout`` / ``paco_vanilla``: ``θ_τ = Φ w_τ``.

The three share the networks (:func:`~paco_torchrl.modules.make_paco_actor_critic`) and the
``paco`` config section; they differ in the stabilisation of Algorithm 1 (loss maskout,
w-reset).
"""
from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig
from torch import nn
from torchrl.data import TensorSpec

from paco_torchrl.algos.base import Algo
from paco_torchrl.algos.schema import check, option
from paco_torchrl.modules import SCOPES, make_paco_actor_critic
from paco_torchrl.nn.task_weights import W_INIT_SCHEMES
from paco_torchrl.objectives.w_reset import BETA_SAMPLERS

# Keys that change a PaCo network's structure (``paco.*`` without the section, others as ``section.key``);
# a non-default value names a variant in reports.
STRUCTURE_KEYS = ("num_param_sets", "scope", "w_init", "share_w", "identical_init", "normalize_w", "network.init")


@dataclass
class PaCoConfig:
    """The ``paco`` section: the parameter set, ``W`` and Algorithm 1's stabilisation."""

    num_param_sets: int = option(5, "K: parameter vectors per layer (the size of Φ)")
    loss_threshold: float = option(3000.0, "ε: a task whose J_τ exceeds it is masked out (and its w reset)")
    loss_maskout: bool = option(True, "drop tasks over ε from the total loss (algo=paco only; others fix it)")
    w_reset: bool = option(True, "re-initialise a masked task's w from the tasks under ε (algo=paco only)")
    w_reset_beta: str = option(
        "uniform_l1", "w-reset weights: uniform_l1 (the original code) | simplex (Eqn 3 read literally)",
        BETA_SAMPLERS,
    )
    reset_optimizer_state: bool = option(False, "also zero the Adam state of a reset w (the original keeps it)")
    w_init: str = option("normal", "initial W: normal N(0,1) (original) | one_hot (needs K = T) | uniform",
                         W_INIT_SCHEMES)
    identical_init: bool = option(True, "all K copies of Φ identical at init (original)")
    normalize_w: bool = option(False, "scale each w to unit L2 norm in the forward pass")
    scope: str = option("all", "compositional layers: all (actor and critics) | actor | output (last layers)", SCOPES)
    share_w: bool = option(True, "one W for actor, critics and target critics (original)")


def validate_paco(cfg: DictConfig, num_tasks: int) -> None:
    """Checks the ``paco`` section (its choices are checked from the schema)."""
    p = cfg.paco
    check(p.num_param_sets >= 1, "paco.num_param_sets", f"must be >= 1, got {p.num_param_sets}")
    check(p.loss_threshold > 0, "paco.loss_threshold", f"must be > 0, got {p.loss_threshold}")
    check(
        p.w_init != "one_hot" or p.num_param_sets == num_tasks,
        "paco.w_init",
        f"one_hot needs paco.num_param_sets == number of tasks ({num_tasks}), got {p.num_param_sets}",
    )


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
        init=cfg.network.init,
    )


_SECTION = dict(structure_keys=STRUCTURE_KEYS, section="paco", config=PaCoConfig, validate=validate_paco)
PACO = Algo("paco", "PaCo: loss maskout + w-reset", build_paco_networks, **_SECTION)
PACO_MASKOUT = Algo("paco_maskout", "PaCo-Maskout: loss maskout, no w-reset", build_paco_networks, True, False,
                    **_SECTION)
PACO_VANILLA = Algo("paco_vanilla", "PaCo-Vanilla: no maskout, no w-reset", build_paco_networks, False, False,
                    **_SECTION)
