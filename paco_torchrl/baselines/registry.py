"""``algo=`` choices: PaCo, its ablations and the §4.3 baselines, as configurations of the same parts.

§4.3 of the paper derives the usual baselines from ``θ_τ = Φ w_τ`` with special ``Φ`` and ``w``;
they are built here literally that way, from :class:`~paco_torchrl.nn.CompositionalMLP` and a
fixed one-hot :class:`~paco_torchrl.nn.TaskWeights`:

=============  ==========================================================================
``single_task``  ``K = T``, fixed one-hot ``w``, every layer compositional: ``T`` independent
                 networks (slice ``τ`` of every layer is task ``τ``'s network) trained side by side.
``mhsac``        ``K = T``, fixed one-hot ``w``, only the output layer compositional: a shared
                 trunk (observation only, no task id, as mtrl's multi-head SAC) and one head per task.
``mtsac``        ``K = 1``, ``w = 1``: one plain MLP for all tasks with the one-hot task id appended
                 to its input (no ``TaskWeights`` and no compositional layer at all).
=============  ==========================================================================

The published baselines of Table 1 that are not PaCo instantiations (SAC+FiLM, PCGrad,
Soft-Modularization, CARE) and MOORE (ICLR 2024) have their own networks
(:mod:`paco_torchrl.baselines.published`); ``pcgrad`` is MT-SAC's network with
:class:`~paco_torchrl.baselines.pcgrad.PCGradUpdateStep`.

The baselines use none of PaCo's stabilisation (the paper's baselines have neither loss
maskout nor w-reset; with a fixed ``w`` there is nothing to reset anyway).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import DictConfig
from torch import nn
from torchrl.data import TensorSpec

from paco_torchrl.baselines.pcgrad import make_pcgrad_update
from paco_torchrl.baselines.published import (
    build_care_networks,
    build_film_networks,
    build_moore_networks,
    build_soft_modules_networks,
)
from paco_torchrl.baselines.temp_reweight import make_soft_modules_update
from paco_torchrl.modules import make_paco_actor, make_paco_actor_critic, make_paco_qvalue
from paco_torchrl.nn import TaskWeights

NetworkBuilder = Callable[[DictConfig, int, TensorSpec, int], tuple[nn.Module, list[nn.Module]]]

# Keys that change a PaCo network's structure (``paco.*`` without the section, others as ``section.key``);
# a non-default value names a variant in reports.
STRUCTURE_KEYS = ("num_param_sets", "scope", "w_init", "share_w", "identical_init", "normalize_w", "network.init")


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


def build_single_task_networks(
    cfg: DictConfig, observation_dim: int, action_spec: TensorSpec, num_tasks: int
) -> tuple[nn.Module, list[nn.Module]]:
    """Single-task SAC ×T (§4.3): ``Φ = [φ_1 … φ_T]`` in every layer, ``w_τ = e_τ`` fixed."""
    return build_one_hot_networks(cfg, observation_dim, action_spec, num_tasks, compositional="all")


def build_mhsac_networks(
    cfg: DictConfig, observation_dim: int, action_spec: TensorSpec, num_tasks: int
) -> tuple[nn.Module, list[nn.Module]]:
    """Multi-head SAC (§4.3): shared trunk ``φ'``, output layer ``[ψ_1 … ψ_T]``, ``w_τ = e_τ`` fixed."""
    return build_one_hot_networks(cfg, observation_dim, action_spec, num_tasks, compositional="output")


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
            in reports (see :func:`variant_label`).
        make_update: ``(cfg, loss, optimizer, target_updater, **kwargs)`` building the update step
            instead of :class:`~paco_torchrl.objectives.PaCoUpdateStep` (``kwargs``: those of
            ``PaCoUpdateStep`` plus ``metric_fill``).
        losses: the ``loss=`` choices the algo supports (``None``: all).

    Examples:
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

    def stabilisation(self, cfg: DictConfig | None) -> tuple[bool, bool]:
        """``(loss_maskout, w_reset)`` for this algo under ``cfg``."""
        maskout = cfg.paco.loss_maskout if self.loss_maskout is None else self.loss_maskout
        reset = cfg.paco.w_reset if self.w_reset is None else self.w_reset
        return maskout, reset


# td3 rebuilds a deterministic twin of a PaCo / one-hot actor; the published baselines' networks have none
_SAC_ACTOR_LOSSES = ("sac", "redq", "crossq")
_SOFT_MODULES_KEYS = (
    "num_layers", "num_modules", "module_hidden", "num_gating_layers", "gating_hidden", "temp_reweight",
)
_CARE_KEYS = (
    "num_encoders", "encoder_hidden", "encoder_layers", "feature_dim", "context_hidden", "context_layers",
    "context_dim", "temperature", "embeddings",
)

ALGOS: dict[str, Algo] = {
    a.name: a
    for a in (
        Algo("paco", "PaCo: loss maskout + w-reset", build_paco_networks, structure_keys=STRUCTURE_KEYS),
        Algo("paco_maskout", "PaCo-Maskout: loss maskout, no w-reset", build_paco_networks, True, False,
             STRUCTURE_KEYS),
        Algo("paco_vanilla", "PaCo-Vanilla: no maskout, no w-reset", build_paco_networks, False, False,
             STRUCTURE_KEYS),
        Algo("mtsac", "Multi-task SAC: one network, one-hot task input, per-task α", build_mtsac_networks,
             False, False, ("network.init",)),
        Algo("mhsac", "Multi-head SAC: shared trunk, one output head per task (K=T, fixed one-hot w)",
             build_mhsac_networks, False, False, ("network.init",)),
        Algo("single_task", "Single-task SAC ×T: independent networks (K=T, fixed one-hot w)",
             build_single_task_networks, False, False, ("network.init",)),
        Algo("film", "SAC+FiLM: per-task feature-wise scale and shift of every hidden layer", build_film_networks,
             False, False, losses=_SAC_ACTOR_LOSSES),
        Algo("pcgrad", "PCGrad: MT-SAC network, conflicting per-task gradients projected", build_mtsac_networks,
             False, False, ("network.init",), make_update=make_pcgrad_update),
        Algo("soft_modules", "Soft-Modularization: modules routed by a state- and task-conditioned network",
             build_soft_modules_networks, False, False, tuple("soft_modules." + k for k in _SOFT_MODULES_KEYS),
             make_update=make_soft_modules_update, losses=_SAC_ACTOR_LOSSES),
        Algo("care", "CARE: mixture of state encoders, attention from task-description embeddings",
             build_care_networks, False, False, tuple("care." + k for k in _CARE_KEYS), losses=_SAC_ACTOR_LOSSES),
        Algo("moore", "MOORE: Gram-Schmidt-orthogonal experts, task-specific weights, per-task heads",
             build_moore_networks, False, False, ("moore.num_experts",), losses=_SAC_ACTOR_LOSSES),
    )
}


def variant_label(cfg: DictConfig) -> str:
    """The name of a run's variant: ``algo`` plus its non-default structure keys (and ``loss``).

    Defaults are the schema's (:class:`~paco_torchrl.training.config.PaCoConfig`); ``K`` stands
    for ``paco.num_param_sets``. Keys an algo does not read are ignored (``mtsac`` is ``mtsac``
    whatever ``paco.num_param_sets`` says).

    Examples:
        >>> from paco_torchrl.training import load_config
        >>> variant_label(load_config(None, ["paco.num_param_sets=10", "paco.w_init=one_hot"]))
        'paco K=10 w_init=one_hot'
        >>> variant_label(load_config(None, ["algo=mtsac", "paco.num_param_sets=3"]))
        'mtsac'
        >>> variant_label(load_config(None, ["eval.goals=held_out"]))
        'paco eval=held_out'
    """
    from omegaconf import OmegaConf

    from paco_torchrl.training.config import RunConfig

    defaults = OmegaConf.structured(RunConfig)
    parts = [cfg.algo]
    algo = ALGOS.get(cfg.algo)
    for key in algo.structure_keys if algo is not None else ():
        path = key if "." in key else f"paco.{key}"
        value = OmegaConf.select(cfg, path)
        if value != OmegaConf.select(defaults, path):
            name = "K" if key == "num_param_sets" else key.split(".")[-1]
            parts.append(f"{name}={str(value).lower() if isinstance(value, bool) else value}")
    if cfg.get("loss", "sac") != "sac":  # another RL loss than SAC makes another variant
        parts.append(f"loss={cfg.loss}")
    goals = OmegaConf.select(cfg, "eval.goals", default="train")
    if goals != "train":  # success on another goal set is another number: reported apart
        parts.append(f"eval={goals}")
    return " ".join(parts)
