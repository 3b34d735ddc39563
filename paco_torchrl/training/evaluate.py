"""Evaluation protocol of the paper: deterministic actions, fresh goals, success at any step."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from tensordict.nn import TensorDictModuleBase
from torchrl.envs import EnvBase
from torchrl.envs.utils import ExplorationType, set_exploration_type


@torch.no_grad()
def evaluate(
    policy: TensorDictModuleBase,
    env: EnvBase,
    episodes_per_task: int = 10,
    *,
    max_episode_steps: int | None = None,
    num_tasks: int | None = None,
    task_names: Sequence[str] | None = None,
) -> dict:
    """Success rate of ``policy`` on every task of a task-major multi-task env.

    Each episode starts from a reset (a new goal), runs ``max_episode_steps`` steps
    with deterministic actions (``tanh(loc)`` for a TanhNormal policy) and counts
    as a success if ``"success"`` was set at any of its steps. With
    ``envs_per_task`` copies per task, ``ceil(episodes_per_task / envs_per_task)``
    rounds are run and the first ``episodes_per_task`` episodes of each task kept.

    Args:
        policy: the actor.
        env: an env with task-major batch ``[T * envs_per_task]`` writing ``"success"``.
        episodes_per_task: episodes per task (10 in the paper).
        max_episode_steps: episode length (default: ``env.max_episode_steps``).
        num_tasks: ``T`` (default: ``env.num_tasks``).
        task_names: names for the per-task dict (default: ``env.task_names``).

    Returns:
        ``{"mean_success": float, "per_task_success": {name: float}, "episodes_per_task": int}``.

    Examples:
        >>> from paco_torchrl.envs.toy import MultiTaskPointEnv
        >>> from paco_torchrl.modules import make_paco_actor
        >>> env = MultiTaskPointEnv(num_tasks=2, seed=0)
        >>> out = evaluate(make_paco_actor(4, 2, num_tasks=2, num_cells=(8,)), env, episodes_per_task=2)
        >>> sorted(out["per_task_success"])
        ['rotate-0', 'rotate-180']
    """
    if episodes_per_task < 1:
        raise ValueError(f"episodes_per_task must be >= 1, got {episodes_per_task}")
    max_steps = max_episode_steps if max_episode_steps is not None else env.max_episode_steps
    num_tasks = num_tasks if num_tasks is not None else env.num_tasks
    names = list(task_names if task_names is not None else env.task_names)
    num_envs = env.batch_size[0]
    envs_per_task = num_envs // num_tasks
    rounds = math.ceil(episodes_per_task / envs_per_task)
    successes = []
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        for _ in range(rounds):
            rollout = env.rollout(max_steps, policy, auto_reset=True, break_when_any_done=False)
            success = rollout.get(("next", "success")).reshape(num_envs, max_steps, -1).any(-1).any(-1)
            successes.append(success.reshape(num_tasks, envs_per_task).cpu())
    per_task = torch.cat(successes, dim=1)[:, :episodes_per_task].float().mean(1)
    return {
        "mean_success": float(per_task.mean()),
        "per_task_success": {name: float(v) for name, v in zip(names, per_task)},
        "episodes_per_task": episodes_per_task,
    }
