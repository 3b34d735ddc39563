"""PaCo actors and critics as TorchRL modules."""
from __future__ import annotations

from paco_torchrl.modules.actor_critic import (
    SCOPES,
    as_action_spec,
    GaussianPolicyNet,
    QValueNet,
    find_task_weights,
    make_paco_actor,
    make_paco_actor_critic,
    make_paco_qvalue,
    make_task_mlp,
)
from paco_torchrl.modules.collect_policy import TanhNormalSampler
from paco_torchrl.modules.deterministic import TanhPolicyNet, deterministic_twin, make_paco_deterministic_actor
from paco_torchrl.modules.distributions import UnitTanhNormal, host_bounds

__all__ = [
    "SCOPES",
    "as_action_spec",
    "GaussianPolicyNet",
    "QValueNet",
    "TanhNormalSampler",
    "TanhPolicyNet",
    "UnitTanhNormal",
    "deterministic_twin",
    "find_task_weights",
    "host_bounds",
    "make_paco_actor",
    "make_paco_actor_critic",
    "make_paco_deterministic_actor",
    "make_paco_qvalue",
    "make_task_mlp",
]
