"""Multi-task environments: Meta-World MT10/MT50 (one TorchRL env, task-major batch) and a toy point env.

Examples:
    >>> from paco_torchrl.envs import MultiTaskPointEnv, make_metaworld_env
    >>> MultiTaskPointEnv(num_tasks=4).batch_size
    torch.Size([4])
"""
from __future__ import annotations

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
    "benchmark_task_names",
    "env_task_names",
    "make_metaworld_env",
    "resolve_tasks",
    "resolve_toy_tasks",
    "toy_task_names",
]
