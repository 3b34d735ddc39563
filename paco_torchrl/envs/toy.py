"""A fast batched pure-torch multi-task environment for tests and quick experiments."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase


def toy_task_names(num_tasks: int) -> tuple[str, ...]:
    """Names of the toy tasks: ``rotate-<degrees>``."""
    return tuple(f"rotate-{round(360 * t / num_tasks)}" for t in range(num_tasks))


def resolve_toy_tasks(num_tasks: int, tasks: Sequence[str] | None) -> tuple[int, ...]:
    """Indices (among the ``num_tasks`` toy tasks) of the selected task names, in the given order.

    A selection keeps some toy tasks out of a run, e.g. to train on three and transfer to
    the fourth. ``None`` selects every task.

    Examples:
        >>> resolve_toy_tasks(4, ["rotate-270", "rotate-0"])
        (3, 0)
    """
    names = toy_task_names(num_tasks)
    if tasks is None:
        return tuple(range(num_tasks))
    if isinstance(tasks, str) or not tasks:
        raise ValueError(f"tasks must be a non-empty sequence of toy task names, got {tasks!r}")
    unknown = [t for t in tasks if t not in names]
    if unknown:
        raise ValueError(f"unknown toy task {unknown[0]!r}; allowed: {', '.join(names)}")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"duplicate toy tasks in {list(tasks)}")
    return tuple(names.index(t) for t in tasks)


class MultiTaskPointEnv(EnvBase):
    """2-D point mass with ``T`` tasks that need different behaviour from the same observation.

    The observation is ``[position (2), goal (2)]``. Task ``τ`` must bring the point
    to ``R(2πτ/T) · goal`` — the goal rotated by the task's angle — so task 0 reaches
    the goal, and with ``T=4`` task 2 reaches the mirrored goal, etc. A policy that
    ignores ``task_id`` solves at most one task. The action moves the point by
    ``step_size · a`` (``a ∈ [-1, 1]²``). Reward: minus the distance to the task's
    target. ``success`` is set while the distance is below ``success_radius``.
    Episodes end by truncation (time-out, ``terminated`` stays ``False``) after
    ``max_episode_steps``; the goal and start position are drawn anew at every reset.

    The batch is task-major: env ``i`` runs task ``i // envs_per_task``.

    Args:
        num_tasks: ``T``.
        envs_per_task: parallel copies of every task.
        max_episode_steps: episode length.
        step_size: displacement of a full action.
        success_radius: distance under which ``success`` is set.
        device: device of the state and outputs.
        seed: seed of the env's own generator.
        task_ids: run only these of the ``num_tasks`` rotations (in this order; they get
            the env task ids ``0 … len(task_ids) - 1``). ``None``: all of them.

    Examples:
        >>> env = MultiTaskPointEnv(num_tasks=4, seed=0)
        >>> td = env.rollout(5)
        >>> td.shape, td["task_id"][:, 0].tolist()
        (torch.Size([4, 5]), [0, 1, 2, 3])
    """

    batch_locked = True

    def __init__(
        self,
        num_tasks: int = 4,
        envs_per_task: int = 1,
        max_episode_steps: int = 20,
        step_size: float = 0.2,
        success_radius: float = 0.1,
        device: torch.device | str = "cpu",
        seed: int | None = None,
        task_ids: Sequence[int] | None = None,
    ) -> None:
        if num_tasks < 1 or envs_per_task < 1 or max_episode_steps < 1:
            raise ValueError("num_tasks, envs_per_task and max_episode_steps must be >= 1")
        rotations = list(range(num_tasks)) if task_ids is None else [int(t) for t in task_ids]
        if not rotations or not all(0 <= t < num_tasks for t in rotations):
            raise ValueError(f"task_ids must be a non-empty list of indices below {num_tasks}, got {task_ids}")
        all_names = toy_task_names(num_tasks)
        num_rotations, num_tasks = num_tasks, len(rotations)
        n = num_tasks * envs_per_task
        super().__init__(device=device, batch_size=torch.Size([n]))
        self.num_tasks = num_tasks
        self.envs_per_task = envs_per_task
        self.max_episode_steps = max_episode_steps
        self.step_size = step_size
        self.success_radius = success_radius
        self.task_names = tuple(all_names[t] for t in rotations)
        angles = 2 * math.pi * torch.tensor(rotations, dtype=torch.float32) / num_rotations
        rot = torch.stack([torch.stack([angles.cos(), -angles.sin()], -1), torch.stack([angles.sin(), angles.cos()], -1)], -2)
        task_id = torch.arange(num_tasks).repeat_interleave(envs_per_task)
        self.register_buffer("_task_id", task_id.to(self.device))
        self.register_buffer("_rotation", rot[task_id].to(self.device))
        self.observation_spec = Composite(
            observation=Unbounded(shape=(n, 4), device=self.device),
            task_id=Categorical(num_tasks, shape=(n,), dtype=torch.int64, device=self.device),
            success=Categorical(2, shape=(n,), dtype=torch.bool, device=self.device),
            shape=(n,),
            device=self.device,
        )
        self.action_spec = Bounded(-1.0, 1.0, shape=(n, 2), device=self.device)
        self.reward_spec = Unbounded(shape=(n, 1), device=self.device)
        flag = Categorical(2, shape=(n, 1), dtype=torch.bool, device=self.device)
        self.full_done_spec = Composite(
            done=flag.clone(), terminated=flag.clone(), truncated=flag.clone(), shape=(n,), device=self.device
        )
        self._pos = torch.zeros(n, 2, device=self.device)
        self._goal = torch.zeros(n, 2, device=self.device)
        self._steps = torch.zeros(n, dtype=torch.long, device=self.device)
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(0 if seed is None else seed)
        self._pending_state: dict[str, torch.Tensor] | None = None

    def env_state(self) -> dict[str, torch.Tensor]:
        """The env's whole state (episodes in progress and generator), for checkpoints."""
        return {
            "position": self._pos.clone(),
            "goal": self._goal.clone(),
            "steps": self._steps.clone(),
            "generator": self._generator.get_state(),
        }

    def load_env_state(self, state: dict[str, torch.Tensor], resume_episodes: bool = True) -> None:
        """Restores :meth:`env_state`.

        The generator is restored at once. With ``resume_episodes`` the episodes in
        progress come back at the next full reset (the one a collector makes when it
        starts), which then returns the saved observation instead of new episodes —
        so a resumed run continues exactly where the checkpoint was taken.
        """
        self._generator.set_state(state["generator"])
        self._pending_state = dict(state) if resume_episodes else None

    def _sample_disk(self, count: int) -> torch.Tensor:
        radius = torch.rand(count, 1, generator=self._generator, device=self.device).sqrt()
        angle = 2 * math.pi * torch.rand(count, 1, generator=self._generator, device=self.device)
        return torch.cat([radius * angle.cos(), radius * angle.sin()], -1)

    def _observe(self, reward: torch.Tensor | None = None) -> TensorDict:
        target = (self._rotation @ self._goal.unsqueeze(-1)).squeeze(-1)
        dist = (self._pos - target).norm(dim=-1)
        truncated = (self._steps >= self.max_episode_steps).unsqueeze(-1)
        out = {
            "observation": torch.cat([self._pos, self._goal], -1),
            "task_id": self._task_id.clone(),
            "success": dist < self.success_radius,
            "done": truncated.clone(),
            "terminated": torch.zeros_like(truncated),
            "truncated": truncated,
        }
        if reward is not None:
            out["reward"] = reward
        return TensorDict(out, batch_size=self.batch_size, device=self.device)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        n = self.batch_size[0]
        mask = None if tensordict is None else tensordict.get("_reset", None)
        if self._pending_state is not None and mask is None:
            state, self._pending_state = self._pending_state, None
            self._pos = state["position"].to(self.device)
            self._goal = state["goal"].to(self.device)
            self._steps = state["steps"].to(self.device)
            return self._observe()
        mask = torch.ones(n, dtype=torch.bool, device=self.device) if mask is None else mask.reshape(n)
        self._pos = torch.where(mask.unsqueeze(-1), self._sample_disk(n), self._pos)
        self._goal = torch.where(mask.unsqueeze(-1), self._sample_disk(n), self._goal)
        self._steps = torch.where(mask, torch.zeros_like(self._steps), self._steps)
        return self._observe()

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        action = tensordict.get("action").clamp(-1.0, 1.0)
        self._pos = (self._pos + self.step_size * action).clamp(-1.5, 1.5)
        self._steps = self._steps + 1
        target = (self._rotation @ self._goal.unsqueeze(-1)).squeeze(-1)
        reward = -(self._pos - target).norm(dim=-1, keepdim=True)
        return self._observe(reward)

    def _set_seed(self, seed: int | None) -> None:
        self._generator.manual_seed(0 if seed is None else seed)
