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
from paco_torchrl.modules.collect_policy import TanhNormalSampler, tanh_normal_actor_problem
from paco_torchrl.modules.deterministic import TanhPolicyNet, deterministic_twin, make_paco_deterministic_actor
from paco_torchrl.modules.distributions import (
    UnitTanhNormal,
    host_bounds,
    tanh_normal_rsample,
    tanh_normal_rsample_and_log_prob,
)

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
    "tanh_normal_actor_problem",
    "tanh_normal_rsample",
    "tanh_normal_rsample_and_log_prob",
]
