"""Transfer with a frozen parameter set: reuse a trained run's ``Φ``, learn only ``w`` and ``α`` for new tasks.

PaCo separates what is shared (``Φ``, every layer's ``K`` parameter copies) from what is
task-specific (the row ``w_τ`` of ``W`` and the temperature ``α_τ``). The paper points to
reusing ``Φ`` as a pre-trained policy basis (§4.1, App. A.3): a new task then only has to
find its compositional vector in the ``K``-dimensional w-space.

:func:`load_parameter_set` fills a freshly built agent (its own tasks, same network and
``K``) with a checkpoint's ``Φ`` (and target critics), leaving the agent's ``W`` and ``α``
new; :func:`freeze_parameter_set` then stops gradients to ``Φ`` and rebuilds the optimizer
over ``W`` and ``α`` only, so ``Φ`` stays bit-identical however long the agent trains.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

from paco_torchrl.objectives.shared_w import base_tensor
from paco_torchrl.training.checkpoint import CheckpointError

W_INITS = ("mean", "fresh")


def is_task_specific(key: str) -> bool:
    """Whether a loss state-dict key holds task-specific values (a copy of ``W``, or ``log α``).

    Examples:
        >>> is_task_specific("actor_network_params.module.0.module.net.task_weights.weight")
        True
        >>> is_task_specific("qvalue_network_params.module.net.layers.0.weight"), is_task_specific("log_alpha")
        (False, True)
    """
    return key.endswith("task_weights.weight") or key.split(".")[-1] == "log_alpha"


def parameter_set_state(agent: SimpleNamespace) -> dict[str, torch.Tensor]:
    """Clones of every loss state entry that is not task-specific: ``Φ``, target critics, buffers."""
    return {k: v.detach().clone() for k, v in agent.loss.state_dict().items() if not is_task_specific(k)}


def load_parameter_set(agent: SimpleNamespace, source: dict[str, Any], *, w_init: str | int = "mean") -> list[str]:
    """Loads a checkpoint's ``Φ`` into ``agent``; ``W`` and ``α`` stay the agent's own (new tasks).

    Args:
        agent: from :func:`~paco_torchrl.training.make_agent`, built for the new tasks with
            the source run's network, ``K`` and ``loss``.
        source: a checkpoint (:func:`~paco_torchrl.training.load_checkpoint`) or its ``"loss"`` dict.
        w_init: ``"mean"`` starts every new task at the mean of the source's ``w`` rows (the
            centre of the learned skills); ``"fresh"`` keeps the agent's own init (``paco.w_init``);
            an int ``r`` starts every new task at the source's row ``r`` (a related learned task).

    Returns:
        The loaded (non-task-specific) keys.

    Raises:
        CheckpointError: the source's ``Φ`` does not fit the agent (other sizes, ``K`` or loss).
    """
    if not (w_init in W_INITS or (isinstance(w_init, int) and not isinstance(w_init, bool))):
        raise ValueError(f"w_init must be one of {W_INITS} or a source task index, got {w_init!r}")
    src = source.get("loss", source)
    own = agent.loss.state_dict()
    state = {}
    for key, value in own.items():
        if is_task_specific(key):
            if w_init != "fresh" and key.endswith("task_weights.weight") and key in src:
                rows = src[key].detach().to(value.dtype)  # [..., T_source, K]
                if w_init == "mean":
                    start = rows.mean(dim=-2, keepdim=True)
                elif -rows.shape[-2] <= w_init < rows.shape[-2]:
                    start = rows[..., w_init : w_init + 1, :] if w_init >= 0 else rows[..., [w_init], :]
                else:
                    raise ValueError(f"w_init={w_init}: the source has {rows.shape[-2]} tasks")
                value = start.expand_as(value).clone()
            # (no torch.no_grad here: the loss re-ties its views of a shared W while loading)
            state[key] = value
        elif key not in src:
            raise CheckpointError(f"the source checkpoint has no {key!r}: not the same networks")
        elif src[key].shape != value.shape:
            raise CheckpointError(
                f"{key}: source shape {tuple(src[key].shape)} does not fit {tuple(value.shape)} (network sizes or K differ)"
            )
        else:
            state[key] = src[key]
    agent.loss.load_state_dict(state)
    return [k for k in state if not is_task_specific(k)]


def task_specific_parameters(agent: SimpleNamespace) -> list[torch.Tensor]:
    """The loss parameters that stay trainable in transfer: ``W`` and ``log α``."""
    w_ids = set()
    if hasattr(agent.loss, "task_weight_tensors"):
        w_ids = {id(base_tensor(t)) for t in agent.loss.task_weight_tensors().values()}
    return [
        p for name, p in agent.loss.named_parameters() if id(p) in w_ids or name.split(".")[-1] == "log_alpha"
    ]


def freeze_parameter_set(agent: SimpleNamespace, *, train_critics: bool = False) -> torch.optim.Optimizer:
    """Freezes everything but ``W`` and ``α``; the agent's optimizer is rebuilt over those alone.

    ``requires_grad`` is turned off for ``Φ`` (and any plain layer), so no gradient is even
    computed for it, and the new Adam keeps the original groups' rates (``w_lr``,
    ``alpha_lr``). The update step and the w-reset get the new optimizer. Target critics
    keep following the (now fixed) critics by Polyak averaging.

    Args:
        agent: from :func:`~paco_torchrl.training.make_agent` (after :func:`load_parameter_set`).
        train_critics: also keep the critics' parameters trainable. The transferred policy
            is still ``Φ_actor w``; the critics, a training aid, then need not express the new
            task's values through the same ``K``-dimensional ``w`` as the policy.

    Returns:
        The new optimizer (also set as ``agent.optimizer``).
    """
    keep = {id(p) for p in task_specific_parameters(agent)}
    if train_critics:
        keep |= {id(p) for name, p in agent.loss.named_parameters() if "qvalue_network_params" in name}
    for p in agent.loss.parameters():
        p.requires_grad_(id(p) in keep)
    old = agent.optimizer
    groups = []
    for group in old.param_groups:
        params = [p for p in group["params"] if id(p) in keep]
        if params:
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": params})
    if not groups:
        raise ValueError("nothing left to train: the agent has neither W nor log α parameters")
    optimizer = type(old)(groups, **old.defaults)
    agent.optimizer = optimizer
    agent.update.optimizer = optimizer
    if agent.w_reset is not None:
        agent.w_reset.optimizer = optimizer
    return optimizer


def same_parameter_set(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], network: str = "") -> bool:
    """Whether two loss states (or checkpoints) hold bit-identical live ``Φ`` (actor and critics).

    Compares every non-task-specific network entry present in both (only those of
    ``<network>_network_params`` if ``network`` is given, e.g. ``"actor"``); target critics
    are left out (they move towards the frozen critics by Polyak averaging).

    Examples:
        >>> import torch
        >>> phi = {"actor_network_params.layers.0.weight": torch.ones(2, 3)}
        >>> same_parameter_set(phi, {**phi, "log_alpha": torch.zeros(1)})
        True
    """
    a, b = a.get("loss", a), b.get("loss", b)
    keys = [
        k for k in a
        if k in b and f"{network}_network_params" in k and not k.startswith("target_") and not is_task_specific(k)
    ]
    return bool(keys) and all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in keys)
