"""``loss=`` choices: per-task SAC, TD3, REDQ and CrossQ on PaCo networks, with their exploration and targets.

``sac`` is :class:`~paco_torchrl.objectives.MultiTaskSACLoss` (per-task α, the original PaCo
loss). ``td3``, ``redq`` and ``crossq`` are TorchRL's own losses run with ``reduction="none"``
and wrapped in :class:`~paco_torchrl.objectives.PerTaskLoss`; their hyperparameters that
have no config key are the constants below. What differs from ``sac``:

* ``redq`` / ``crossq``: one scalar α shared by all tasks (TorchRL's), bounded by
  ``sac.min_alpha`` / ``sac.max_alpha``; ``sac.target_entropy`` as for ``sac``.
* ``td3``: a deterministic tanh actor with the structure and ``W`` of the algo's SAC actor
  (:func:`deterministic_twin`: ``W`` stays shared with the critics where it was), Gaussian
  action noise for collection, target actor and critics; no policy delay (the actor is
  updated at every step, like the critics).
* ``redq``: ``REDQ_NUM_QVALUE_NETS`` critics (the configured two plus fresh copies of the
  first that keep its ``W``; a single module would have TorchRL redraw every parameter,
  ``W`` included), ``REDQ_SUB_SAMPLE_LEN`` target critics per target.
* ``crossq``: no target networks, current and next state-actions in one critic pass.
  The CrossQ paper puts BatchNorm in the critics; it is left out here because batch
  statistics mix the tasks of a batch, which breaks PaCo's per-task gradient isolation
  (task τ's loss would move other tasks' ``w``) and the meaning of loss maskout.
* The maskout threshold ``ε`` applies to the sum of the loss's ``loss_*`` entries; for
  ``td3`` / ``redq`` / ``crossq`` the actor loss contains ``−Q`` (``sac`` uses the original
  ``dqda`` form by default), so ``ε`` is not calibrated for them.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from omegaconf import DictConfig
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase, TensorDictSequential
from torch import nn
from torchrl.data import TensorSpec
from torchrl.modules import AdditiveGaussianModule
from torchrl.objectives import CrossQLoss, LossModule, REDQLoss, SoftUpdate, TD3Loss

from paco_torchrl.modules import TanhNormalSampler, deterministic_twin, find_task_weights
from paco_torchrl.objectives import MultiTaskSACLoss, PerTaskLoss
from paco_torchrl.objectives.sac import replicate_qvalue
from paco_torchrl.training.config import LOSSES

TD3_POLICY_NOISE = 0.2  # target policy smoothing noise (TorchRL / TD3 paper default)
TD3_NOISE_CLIP = 0.5
TD3_EXPLORATION_SIGMA = 0.2  # std of the Gaussian noise added to collected actions (tuned on the toy env)
REDQ_NUM_QVALUE_NETS = 10  # REDQ paper: N = 10, M = 2
REDQ_SUB_SAMPLE_LEN = 2


@dataclass
class LossParts:
    """What a ``loss=`` choice adds to the agent.

    Attributes:
        loss: returns per-task losses (TensorDict ``[T]``).
        actor: the deterministic / evaluation actor.
        collect_policy: the actor with its exploration.
        critics: the Q modules the loss was built from.
        target_updater: soft update of the target networks, or ``None`` (no targets).
        metric_fill: per-task metrics to add to each update's output (``PaCoUpdateStep(metric_fill=...)``).
    """

    loss: LossModule
    actor: TensorDictModuleBase
    collect_policy: TensorDictModuleBase
    critics: list[nn.Module]
    target_updater: SoftUpdate | None
    metric_fill: dict[str, Callable[[TensorDictBase], torch.Tensor]] = field(default_factory=dict)


def _target_entropy(cfg: DictConfig, action_dim: int) -> float:
    target = cfg.sac.target_entropy
    return action_dim * math.log(0.2) if target is None else target


def _sac(cfg, observation_dim, action_spec, num_tasks, actor, critics, device) -> LossParts:
    sac = cfg.sac
    loss = MultiTaskSACLoss(
        actor, critics, num_tasks, num_qvalue_nets=len(critics), loss_function=sac.loss_function,
        alpha_init=sac.alpha_init, min_alpha=sac.min_alpha, max_alpha=sac.max_alpha,
        target_entropy=sac.target_entropy, gamma=cfg.optim.gamma, actor_loss_form=sac.actor_loss_form,
    )
    # SAC explores by sampling its TanhNormal policy
    return LossParts(loss, actor, _sampling(actor), critics, SoftUpdate(loss, tau=cfg.optim.tau))


def _sampling(actor: TensorDictModuleBase) -> TensorDictModuleBase:
    """The collection policy of a stochastic actor: its TanhNormal sampled directly where possible
    (bit-identical actions; a third of the cost per env step for one sample), else the actor."""
    return TanhNormalSampler(actor) if TanhNormalSampler.supports(actor) else actor


def _td3(cfg, observation_dim, action_spec, num_tasks, actor, critics, device) -> LossParts:
    det = deterministic_twin(actor, action_spec).to(device)  # takes over the SAC actor's W
    td3 = TD3Loss(
        det, critics, action_spec=action_spec, num_qvalue_nets=len(critics), policy_noise=TD3_POLICY_NOISE,
        noise_clip=TD3_NOISE_CLIP, loss_function=cfg.sac.loss_function, reduction="none",
    )
    td3.make_value_estimator(gamma=cfg.optim.gamma)
    noise = AdditiveGaussianModule(
        action_spec, sigma_init=TD3_EXPLORATION_SIGMA, sigma_end=TD3_EXPLORATION_SIGMA, device=device
    )
    fill = {  # TD3 has no temperature (α = 0) and a deterministic policy (no entropy)
        "loss_alpha": lambda m: torch.zeros(num_tasks, device=device),
        "alpha": lambda m: torch.zeros(num_tasks, device=device),
        "entropy": lambda m: torch.full((num_tasks,), float("nan"), device=device),
    }
    return LossParts(
        PerTaskLoss(td3, num_tasks), det, TensorDictSequential(det, noise), critics,
        SoftUpdate(td3, tau=cfg.optim.tau), fill,
    )


def _alpha_kwargs(cfg: DictConfig, action_spec: TensorSpec) -> dict:
    sac = cfg.sac
    return dict(
        alpha_init=sac.alpha_init, min_alpha=sac.min_alpha, max_alpha=sac.max_alpha,
        target_entropy=_target_entropy(cfg, action_spec.shape[-1]), loss_function=sac.loss_function,
        reduction="none", scalar_output_mode="non_tensor",  # α passes through (the same for every task)
    )


def _redq(cfg, observation_dim, action_spec, num_tasks, actor, critics, device) -> LossParts:
    n = REDQ_NUM_QVALUE_NETS
    shared = find_task_weights(actor) + find_task_weights(critics[0])
    if len(critics) < n:  # fresh Φ, same W objects
        critics = list(critics) + replicate_qvalue(critics[0], n - len(critics) + 1, shared)[1:]
    redq = REDQLoss(
        actor, critics[:n], num_qvalue_nets=n, sub_sample_len=REDQ_SUB_SAMPLE_LEN, **_alpha_kwargs(cfg, action_spec)
    )
    redq.make_value_estimator(gamma=cfg.optim.gamma)
    redq.target_entropy  # noqa: B018 - registers the lazy target-entropy buffer, so checkpoints load into a new loss
    fill = {"entropy": lambda m: -m["action_log_prob_actor"]}  # per task, not the batch mean
    return LossParts(
        PerTaskLoss(redq, num_tasks), actor, _sampling(actor), critics[:n], SoftUpdate(redq, tau=cfg.optim.tau), fill
    )


def _crossq(cfg, observation_dim, action_spec, num_tasks, actor, critics, device) -> LossParts:
    crossq = CrossQLoss(actor, critics, num_qvalue_nets=len(critics), **_alpha_kwargs(cfg, action_spec))
    crossq.make_value_estimator(gamma=cfg.optim.gamma)
    fill = {"entropy": lambda m: -m["log_prob"]}  # per task, not the batch mean
    return LossParts(PerTaskLoss(crossq, num_tasks), actor, _sampling(actor), critics, None, fill)


_BUILDERS = {"sac": _sac, "td3": _td3, "redq": _redq, "crossq": _crossq}
if tuple(_BUILDERS) != LOSSES:  # the schema's choices are the source of truth
    raise ImportError(f"loss builders {tuple(_BUILDERS)} do not match the config's loss choices {LOSSES}")


def make_loss(
    cfg: DictConfig,
    observation_dim: int,
    action_spec: TensorSpec,
    num_tasks: int,
    actor: nn.Module,
    critics: list[nn.Module],
    device: torch.device | str = "cpu",
) -> LossParts:
    """The per-task loss of ``cfg.loss`` on the networks of ``cfg.algo``.

    Args:
        cfg: a validated run config (``loss``, ``sac``, ``optim``, ``paco``, ``network``).
        observation_dim: size of the observation vector.
        action_spec: the (unbatched, bounded) action spec.
        num_tasks: ``T``.
        actor: the algo's SAC actor (TanhNormal); ``td3`` builds a deterministic actor
            with the same structure and ``W`` instead.
        critics: the algo's critics, already on ``device``.
        device: where new modules go.

    Examples:
        >>> from paco_torchrl.modules import make_paco_actor_critic
        >>> from paco_torchrl.training import load_config
        >>> cfg = load_config(overrides=["loss=td3", "env.benchmark=toy", "network.num_cells=[16]"])
        >>> actor, critics = make_paco_actor_critic(4, 2, num_tasks=4, num_cells=(16,))
        >>> parts = make_loss(cfg, 4, actor.spec["action"], 4, actor, critics)
        >>> type(parts.loss).__name__, type(parts.loss.loss_module).__name__
        ('PerTaskLoss', 'TD3Loss')
    """
    if cfg.loss not in _BUILDERS:
        raise ValueError(f"loss must be one of {LOSSES}, got {cfg.loss!r}")
    return _BUILDERS[cfg.loss](cfg, observation_dim, action_spec, num_tasks, actor, critics, device)
