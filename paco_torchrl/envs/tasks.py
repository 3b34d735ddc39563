"""The task names of a run's ``env`` config section, without building an environment."""
from __future__ import annotations

from typing import Any


def env_task_names(env: Any) -> tuple[str, ...]:
    """Task names selected by an ``env`` section (``benchmark``, ``tasks``, ``num_toy_tasks``).

    Raises:
        ValueError: an unknown task name.

    Examples:
        >>> from types import SimpleNamespace
        >>> env_task_names(SimpleNamespace(benchmark="toy", tasks=["rotate-90"], num_toy_tasks=4))
        ('rotate-90',)
    """
    if env.benchmark == "toy":
        from paco_torchrl.envs.toy import resolve_toy_tasks, toy_task_names

        # a subset of the env.num_toy_tasks rotations, e.g. to hold one out for transfer
        ids = resolve_toy_tasks(env.num_toy_tasks, None if env.tasks is None else list(env.tasks))
        return tuple(toy_task_names(env.num_toy_tasks)[i] for i in ids)
    from paco_torchrl.envs.metaworld import resolve_tasks

    return resolve_tasks(env.benchmark, None if env.tasks is None else list(env.tasks))
