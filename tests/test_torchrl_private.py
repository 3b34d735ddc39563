"""The private TorchRL / tensordict names this package relies on (all wrapped in one module) still exist.

A TorchRL or tensordict release that renames or removes one fails here, naming it, instead of
failing a training run with an AttributeError deep inside a loss.
"""
from __future__ import annotations

import importlib
import re

import pytest
import torch
from tensordict import TensorDict

from paco_torchrl.data import TaskBalancedReplayBuffer
from paco_torchrl.modules import make_paco_actor_critic
from paco_torchrl.objectives import MultiTaskSACLoss
from paco_torchrl.objectives.torchrl_private import PRIVATE_API


def _owner(path: str):
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return importlib.import_module(path)


@pytest.mark.parametrize("owner, name, where", PRIVATE_API, ids=[f"{o}.{n}" for o, n, _ in PRIVATE_API])
def test_private_api_still_exists(owner, name, where):
    if where == "instance":  # set in __init__: look on a built loss (a SACLoss subclass)
        actor, qvalues = make_paco_actor_critic(6, 2, num_tasks=3, num_param_sets=2, num_cells=(8,))
        target = MultiTaskSACLoss(actor, qvalues, num_tasks=3)
        assert isinstance(target, _owner(owner))
    elif where == "replay":  # set in __init__ or on first write: look on a filled buffer's part of that type
        rb = TaskBalancedReplayBuffer(2, capacity_per_env=4, batch_size=2, keys=("task_id",))
        rb.extend(TensorDict({"task_id": torch.tensor([[0], [1]])}, [2, 1]))
        target = next(part for part in (rb, rb.storage, rb.writer) if isinstance(part, _owner(owner)))
    elif where == "updater":  # a target updater's cache, made on its first read of the sources
        from torchrl.objectives import SoftUpdate

        actor, qvalues = make_paco_actor_critic(6, 2, num_tasks=3, num_param_sets=2, num_cells=(8,))
        target = SoftUpdate(MultiTaskSACLoss(actor, qvalues, num_tasks=3), tau=0.005)
        assert isinstance(target, _owner(owner)) and target.__dict__.get(name) is not None
        target = target.__dict__
    else:
        target = _owner(owner)
    if isinstance(target, dict):
        assert name in target, f"{owner} no longer caches {name!r}: adapt paco_torchrl/objectives/torchrl_private.py"
        return
    assert hasattr(target, name), (
        f"{owner} no longer has the private {name!r} that paco_torchrl/objectives/torchrl_private.py wraps: "
        f"adapt that module to this TorchRL/tensordict release"
    )


def test_no_private_torchrl_name_outside_the_wrapper():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "paco_torchrl"
    names = sorted({name for _, name, _ in PRIVATE_API})
    offenders = [
        f"{path.relative_to(root)}: {name}"
        for path in root.rglob("*.py")
        if path.name != "torchrl_private.py"
        for name in names
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", path.read_text())
    ]
    assert offenders == []
