"""Multi-task environments: Meta-World MT10/MT50 (one TorchRL env, task-major batch), a toy point env
and the non-finite guard of training envs.

Examples:
    >>> from paco_torchrl.envs import MultiTaskPointEnv, make_metaworld_env
    >>> MultiTaskPointEnv(num_tasks=4).batch_size
    torch.Size([4])
"""
from __future__ import annotations

from paco_torchrl.envs.guard import NonFiniteGuard, drop_nonfinite, nonfinite_flags
from paco_torchrl.envs.metaworld import (
    BACKENDS,
    MetaWorldTaskEnv,
    MetaWorldVecEnv,
    benchmark_task_names,
    make_metaworld_env,
    resolve_tasks,
)
from paco_torchrl.envs.tasks import env_task_names
from paco_torchrl.envs.toy import MultiTaskPointEnv, resolve_toy_tasks, toy_task_names

__all__ = [
    "BACKENDS",
    "MetaWorldTaskEnv",
    "MetaWorldVecEnv",
    "MultiTaskPointEnv",
    "NonFiniteGuard",
    "benchmark_task_names",
    "drop_nonfinite",
    "env_task_names",
    "make_metaworld_env",
    "nonfinite_flags",
    "resolve_tasks",
    "resolve_toy_tasks",
    "toy_task_names",
]
