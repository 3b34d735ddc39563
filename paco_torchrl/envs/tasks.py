"""Task names: Meta-World's benchmarks and a run's ``env`` config section, without building an environment
(nor importing mujoco)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Task names in each benchmark's own order (metaworld 3.1.1 ``env_dict.MT10_V3`` / ``MT50_V3``); hard-coded
# so that configs can be validated without importing mujoco. A test checks them against metaworld.
MT10_TASKS: tuple[str, ...] = (
    "reach-v3", "push-v3", "pick-place-v3", "door-open-v3", "drawer-open-v3", "drawer-close-v3",
    "button-press-topdown-v3", "peg-insert-side-v3", "window-open-v3", "window-close-v3",
)  # fmt: skip
MT50_TASKS: tuple[str, ...] = (
    "assembly-v3", "basketball-v3", "bin-picking-v3", "box-close-v3", "button-press-topdown-v3",
    "button-press-topdown-wall-v3", "button-press-v3", "button-press-wall-v3", "coffee-button-v3",
    "coffee-pull-v3", "coffee-push-v3", "dial-turn-v3", "disassemble-v3", "door-close-v3",
    "door-lock-v3", "door-open-v3", "door-unlock-v3", "hand-insert-v3", "drawer-close-v3",
    "drawer-open-v3", "faucet-open-v3", "faucet-close-v3", "hammer-v3", "handle-press-side-v3",
    "handle-press-v3", "handle-pull-side-v3", "handle-pull-v3", "lever-pull-v3", "pick-place-wall-v3",
    "pick-out-of-hole-v3", "pick-place-v3", "plate-slide-v3", "plate-slide-side-v3",
    "plate-slide-back-v3", "plate-slide-back-side-v3", "peg-insert-side-v3", "peg-unplug-side-v3",
    "soccer-v3", "stick-push-v3", "stick-pull-v3", "push-v3", "push-wall-v3", "push-back-v3",
    "reach-v3", "reach-wall-v3", "shelf-place-v3", "sweep-into-v3", "sweep-v3", "window-open-v3",
    "window-close-v3",
)  # fmt: skip
_BENCHMARKS: dict[str, tuple[str, ...]] = {"MT10": MT10_TASKS, "MT50": MT50_TASKS}
_SUFFIX = "-v3"


def benchmark_task_names(benchmark: str) -> tuple[str, ...]:
    """Task names of a Meta-World benchmark, in the benchmark's own order.

    Args:
        benchmark: ``"MT10"`` or ``"MT50"``.

    Returns:
        The task names, e.g. ``("reach-v3", "push-v3", ...)``.

    Raises:
        ValueError: for an unknown benchmark.

    Examples:
        >>> benchmark_task_names("MT10")[:2]
        ('reach-v3', 'push-v3')
    """
    if benchmark not in _BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; allowed: {sorted(_BENCHMARKS)}")
    return _BENCHMARKS[benchmark]


def resolve_tasks(benchmark: str, tasks: Sequence[str] | None) -> tuple[str, ...]:
    """Validates a task selection without building anything.

    Args:
        benchmark: ``"MT10"`` or ``"MT50"``.
        tasks: task names with or without the ``"-v3"`` suffix, or ``None`` for all tasks of the
            benchmark. The given order is kept: it defines the task ids.

    Returns:
        Full task names (with suffix), in task-id order.

    Raises:
        ValueError: unknown benchmark, unknown task name, duplicates or an empty selection.

    Examples:
        >>> resolve_tasks("MT10", ["reach", "window-close-v3"])
        ('reach-v3', 'window-close-v3')
    """
    allowed = benchmark_task_names(benchmark)
    if tasks is None:
        return allowed
    if isinstance(tasks, str):
        raise ValueError(f"tasks must be a sequence of names, not the string {tasks!r}")
    names = []
    for task in tasks:
        name = task if str(task).endswith(_SUFFIX) else f"{task}{_SUFFIX}"
        if name not in allowed:
            raise ValueError(f"unknown {benchmark} task {task!r}; allowed: {', '.join(allowed)}")
        names.append(name)
    if not names:
        raise ValueError(f"empty task selection for {benchmark}; pass None for all tasks")
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"duplicate tasks {dupes} in {list(tasks)!r}")
    return tuple(names)


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
    return resolve_tasks(env.benchmark, None if env.tasks is None else list(env.tasks))
