"""Meta-World MT10 / MT50 (random goals) as TorchRL environments.

Measured on the 2-core dev box (MT10, all 10 tasks, random actions via ``step_and_maybe_reset``, resets
included, 4 interleaved rounds x 300 vector steps = 12k frames per backend, one run, medians; other jobs
shared the box, so +-15%):
    build: ~8.5-9 s the first time in a process (goal sets), ~0.1 s later (cached per benchmark/seed);
    parallel: + ~30 s to spawn its 10 workers.
    raw gymnasium SyncVectorEnv 1760 | gym_vector 1430 | serial 990 | parallel 690 frames/s.
So ``backend="auto"`` picks ``gym_vector`` on <= 4 cores and ``parallel`` on more.

Layout: :class:`MetaWorldTaskEnv` is one gymnasium env for one task (new goal from the benchmark's 50
on every reset, time limit, slim ``info``); :class:`MetaWorldVecEnv` is a small TorchRL ``EnvBase`` over a
gymnasium ``SyncVectorEnv`` of them (autoreset disabled: TorchRL resets done envs through ``"_reset"``).
With one sub-env and ``batched=False`` it is also the worker of the ``serial`` / ``parallel`` backends.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase, ParallelEnv, SerialEnv

from paco_torchrl.envs.tasks import MT10_TASKS, MT50_TASKS, benchmark_task_names, resolve_tasks

__all__ = [
    "MT10_TASKS",
    "MT50_TASKS",
    "MetaWorldTaskEnv",
    "MetaWorldVecEnv",
    "benchmark_task_names",
    "make_metaworld_env",
    "resolve_tasks",
]

Backend = Literal["auto", "gym_vector", "serial", "parallel"]  # the config's env.backend choices
BACKENDS: tuple[str, ...] = get_args(Backend)
OBS_DIM = 39
ACTION_DIM = 4
MAX_PATH_LENGTH = 500  # Meta-World raises when stepped past this


@functools.lru_cache(maxsize=4)
def _benchmark_goals(benchmark: str, seed: int) -> dict[str, tuple[Any, ...]]:
    """Builds ``metaworld.MT10/MT50(seed)`` once per process and returns its ``Task``s (50 per task name)."""
    import metaworld

    bench = getattr(metaworld, benchmark)(seed=seed)
    goals: dict[str, list[Any]] = {name: [] for name in bench.train_classes}
    for task in bench.train_tasks:
        goals[task.env_name].append(task)
    return {name: tuple(ts) for name, ts in goals.items()}


class MetaWorldTaskEnv(gym.Env):
    """One Meta-World task with random goals, as a plain gymnasium env.

    Every ``reset`` sets one of ``tasks`` (the benchmark's goals for this task) drawn from the env's own
    RNG, truncates after ``max_episode_steps`` (``terminated`` is always False) and returns
    ``info = {"success": float}`` at every step. The observation space is an unbounded float64 ``Box`` of
    shape ``[39]`` for all tasks (per-task goal bounds differ and Meta-World's are stale after
    ``set_task``; ``SyncVectorEnv`` needs one space).

    Args:
        tasks: the picklable ``metaworld.Task`` goals of one task name.
        max_episode_steps: episode length, 1..500.
        reward_function_version: ``"v1"`` or ``"v2"``.
        seed: seed (or seed sequence) of the goal-sampling RNG.
        render_kwargs: passed to the Meta-World env to make :meth:`render` work, e.g.
            ``{"render_mode": "rgb_array", "width": 160, "height": 160, "camera_name": "corner"}``
            (headless rendering needs ``MUJOCO_GL=egl`` or ``osmesa``, see the README).

    Examples:
        >>> goals = _benchmark_goals("MT10", 0)["reach-v3"]  # doctest: +SKIP
        >>> env = MetaWorldTaskEnv(goals, 150, "v2", seed=(0, 0))  # doctest: +SKIP
        >>> obs, info = env.reset()  # doctest: +SKIP
    """

    def __init__(
        self,
        tasks: Sequence[Any],
        max_episode_steps: int,
        reward_function_version: str,
        seed: int | Sequence[int],
        render_kwargs: dict[str, Any] | None = None,
    ) -> None:
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        self.tasks = tuple(tasks)
        self.max_episode_steps = max_episode_steps
        self.render_mode = (render_kwargs or {}).get("render_mode")
        self.unwrapped_env = ALL_V3_ENVIRONMENTS[self.tasks[0].env_name](
            reward_function_version=reward_function_version, **(render_kwargs or {})
        )
        self.unwrapped_env.set_task(self.tasks[0])
        # upstream issue #599: observation_space keeps the partially-observable [0, 0] goal bounds
        self.unwrapped_env.observation_space = self.unwrapped_env.sawyer_observation_space
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float64)
        self.action_space = self.unwrapped_env.action_space
        self.seed_goals(seed)
        self._t = 0

    def seed_goals(self, seed: int | Sequence[int]) -> None:
        """Re-seeds the RNG that picks the goal at each reset."""
        self._goal_rng = np.random.default_rng(seed)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Sets a random goal of this task and resets; ``seed`` (if given) re-seeds goal sampling."""
        if seed is not None:
            self.seed_goals(seed)
        self.unwrapped_env.set_task(self.tasks[self._goal_rng.integers(len(self.tasks))])
        obs, _ = self.unwrapped_env.reset()
        self._t = 0
        return obs, {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Steps; truncates at ``max_episode_steps``; ``info`` holds only ``"success"``."""
        obs, reward, _, _, info = self.unwrapped_env.step(action)
        self._t += 1
        return obs, float(reward), False, self._t >= self.max_episode_steps, {"success": info["success"]}

    def render(self) -> np.ndarray | None:
        """The current frame (``uint8 [H, W, 3]`` with ``render_mode="rgb_array"``)."""
        return self.unwrapped_env.render()

    def close(self) -> None:
        """Closes the MuJoCo env."""
        self.unwrapped_env.close()


def _make_task_env(**kwargs: Any) -> MetaWorldTaskEnv:
    return MetaWorldTaskEnv(**kwargs)


class MetaWorldVecEnv(EnvBase):
    """TorchRL env over a gymnasium ``SyncVectorEnv`` (autoreset disabled) of :class:`MetaWorldTaskEnv`.

    Output keys: ``"observation"`` float32 ``[*B, 39]``, ``"task_id"`` int64 ``[*B]``, ``"success"`` bool
    ``[*B]``, ``"reward"`` float32 ``[*B, 1]``, ``"done"/"terminated"/"truncated"`` bool ``[*B, 1]``.
    Partial resets follow the ``"_reset"`` mask.

    Args:
        env_kwargs: one kwargs dict of :class:`MetaWorldTaskEnv` per sub-env.
        task_ids: the task id of each sub-env.
        num_tasks: number of tasks (the ``task_id`` spec's range).
        batched: ``True`` gives batch size ``[len(env_kwargs)]``; ``False`` (one sub-env only) gives
            batch size ``[]``, the worker of ``SerialEnv`` / ``ParallelEnv``.
        device: device of the outputs.

    Examples:
        >>> env = make_metaworld_env("MT10", ["reach"], backend="gym_vector")  # doctest: +SKIP
        >>> isinstance(env, MetaWorldVecEnv)  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        env_kwargs: Sequence[dict[str, Any]],
        task_ids: Sequence[int],
        num_tasks: int,
        batched: bool = True,
        device: torch.device | str = "cpu",
    ) -> None:
        n = len(env_kwargs)
        if len(task_ids) != n or n == 0 or (not batched and n != 1):
            raise ValueError(f"need one task id per sub-env and exactly one sub-env when unbatched, got {n}")
        super().__init__(device=device, batch_size=torch.Size([n] if batched else []))
        self._n = n
        self.gym_env = gym.vector.SyncVectorEnv(
            [functools.partial(_make_task_env, **kw) for kw in env_kwargs],
            copy=False,
            autoreset_mode=gym.vector.AutoresetMode.DISABLED,
        )
        bs = self.batch_size
        self._task_id = torch.as_tensor(task_ids, dtype=torch.int64, device=self.device).reshape(bs)
        self._success = np.zeros(n, dtype=bool)
        self.observation_spec = Composite(
            observation=Unbounded((*bs, OBS_DIM), dtype=torch.float32, device=self.device),
            task_id=Categorical(num_tasks, bs, dtype=torch.int64, device=self.device),
            success=Categorical(2, bs, dtype=torch.bool, device=self.device),
            shape=bs,
            device=self.device,
        )
        self.action_spec = Bounded(-1.0, 1.0, (*bs, ACTION_DIM), dtype=torch.float32, device=self.device)
        self.reward_spec = Unbounded((*bs, 1), dtype=torch.float32, device=self.device)
        flag = Categorical(2, (*bs, 1), dtype=torch.bool, device=self.device)
        self.done_spec = Composite(
            done=flag.clone(), terminated=flag.clone(), truncated=flag.clone(), shape=bs, device=self.device
        )

    def _tensor(self, array: np.ndarray, dtype: torch.dtype, *shape: int) -> torch.Tensor:
        return torch.as_tensor(array, dtype=dtype, device=self.device).reshape((*self.batch_size, *shape))

    def _output(self, obs: np.ndarray, reward: np.ndarray, term: np.ndarray, trunc: np.ndarray) -> TensorDict:
        out = {
            "observation": self._tensor(obs, torch.float32, OBS_DIM),
            "task_id": self._task_id.clone(),
            "success": self._tensor(self._success.copy(), torch.bool),  # a later partial reset edits _success
            "terminated": self._tensor(term, torch.bool, 1),
            "truncated": self._tensor(trunc, torch.bool, 1),
            "done": self._tensor(term | trunc, torch.bool, 1),
        }
        if reward is not None:
            out["reward"] = self._tensor(reward, torch.float32, 1)
        return TensorDict(out, batch_size=self.batch_size, device=self.device)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDictBase:
        reset = None if tensordict is None else tensordict.get("_reset", None)
        mask = None if reset is None else reset.reshape(self._n).cpu().numpy().astype(bool)
        if mask is None or mask.all():
            obs, _ = self.gym_env.reset()
            self._success[:] = False
        elif mask.any():
            obs, _ = self.gym_env.reset(options={"reset_mask": mask})
            self._success[mask] = False
        else:  # nothing to reset: report the current state
            obs = self.gym_env._observations
        falses = np.zeros(self._n, dtype=bool)
        return self._output(obs, None, falses, falses)

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        action = tensordict.get("action").detach().to("cpu", torch.float32).reshape(self._n, ACTION_DIM)
        obs, reward, term, trunc, info = self.gym_env.step(action.numpy())
        self._success = np.asarray(info["success"]) > 0
        return self._output(obs, reward, term, trunc)

    def render(self) -> np.ndarray:
        """Frames of the sub-envs, ``uint8 [n, H, W, 3]`` (sub-envs built with ``render_kwargs``)."""
        return np.stack([sub_env.render() for sub_env in self.gym_env.envs])

    def _set_seed(self, seed: int | None) -> None:
        if seed is None:
            return
        for i, sub_env in enumerate(self.gym_env.envs):
            sub_env.seed_goals((seed, i))

    def env_state(self) -> dict[str, Any]:
        """The sub-envs' goal-sampler states (plain ints and strings), for checkpoints.

        MuJoCo's simulation state is not included: a resumed run starts new episodes,
        with the goals an uninterrupted run would have drawn next.
        """
        return {"goal_rng": [sub_env._goal_rng.bit_generator.state for sub_env in self.gym_env.envs]}

    def load_env_state(self, state: dict[str, Any], resume_episodes: bool = True) -> None:
        """Restores :meth:`env_state` (``resume_episodes`` is accepted for API parity; episodes restart)."""
        if len(state["goal_rng"]) != len(self.gym_env.envs):
            raise ValueError(f"saved state has {len(state['goal_rng'])} sub-envs, this env {len(self.gym_env.envs)}")
        for sub_env, rng_state in zip(self.gym_env.envs, state["goal_rng"]):
            sub_env._goal_rng.bit_generator.state = rng_state

    def close(self, *, raise_if_closed: bool = True) -> None:
        """Closes the sub-envs."""
        self.gym_env.close()
        super().close(raise_if_closed=raise_if_closed)


def _make_worker_env(
    env_kwargs: dict[str, Any], task_id: int, num_tasks: int, device: str
) -> MetaWorldVecEnv:
    """Picklable factory of one unbatched worker (``serial`` / ``parallel`` backends)."""
    return MetaWorldVecEnv([env_kwargs], [task_id], num_tasks, batched=False, device=device)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def make_metaworld_env(
    benchmark: str = "MT10",
    tasks: Sequence[str] | None = None,
    seed: int = 0,
    max_episode_steps: int = 150,
    reward_function_version: str = "v2",
    envs_per_task: int = 1,
    backend: str = "auto",
    device: torch.device | str = "cpu",
    goal_seed: int | None = None,
) -> EnvBase:
    """Meta-World MT10/MT50 with random goals (e.g. MT10-rand) as one batched TorchRL env.

    Env ``i`` runs task ``i // envs_per_task`` (task-major; task ids follow the resolved task order). The
    benchmark (its 50 goals per task, from ``seed``) is built once per process and seed; every reset draws a
    new goal from those 50. Episodes end by truncation at ``max_episode_steps``; ``terminated`` stays False.
    Sub-env ``i`` samples goals from ``default_rng((goal_seed, i))``, identically on every backend.

    Evaluating on the training goal set with goals drawn independently of training's (the paper's
    and the original code's protocol) is ``make_metaworld_env(..., seed=s, goal_seed=other)`` with the
    training env's ``s``; a held-out goal set is another ``seed``.

    Args:
        benchmark: ``"MT10"`` or ``"MT50"``.
        tasks: subset of task names (with or without ``"-v3"``), ``None`` for all.
        seed: non-negative seed of the goal sets (``metaworld.MT10(seed)``), and of goal sampling
            when ``goal_seed`` is ``None``.
        max_episode_steps: episode length, 1..500.
        reward_function_version: ``"v1"`` or ``"v2"`` Meta-World rewards.
        envs_per_task: envs per task (>= 1).
        backend: ``"gym_vector"`` (gymnasium ``SyncVectorEnv``, fastest on few cores), ``"serial"``
            (TorchRL ``SerialEnv``), ``"parallel"`` (``ParallelEnv``) or ``"auto"`` (``gym_vector`` when
            ``os.cpu_count() <= 4``, else ``parallel``).
        device: device of the outputs.
        goal_seed: non-negative seed of the goal-picking RNGs (``None``: ``seed``).

    Returns:
        An ``EnvBase`` with batch size ``[num_tasks * envs_per_task]`` and attributes ``task_names`` and
        ``num_tasks``.

    Examples:
        >>> env = make_metaworld_env("MT10", ["reach", "push"], max_episode_steps=20)  # doctest: +SKIP
        >>> env.rollout(20)["next", "truncated"][-1].all()  # doctest: +SKIP
        tensor(True)
    """
    names = resolve_tasks(benchmark, tasks)
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if goal_seed is None:
        goal_seed = seed
    if not _is_int(goal_seed) or goal_seed < 0:
        raise ValueError(f"goal_seed must be a non-negative int, got {goal_seed!r}")
    if not _is_int(max_episode_steps) or not 1 <= max_episode_steps <= MAX_PATH_LENGTH:
        raise ValueError(
            f"max_episode_steps must be an int in 1..{MAX_PATH_LENGTH}, got {max_episode_steps!r}"
        )
    if not _is_int(envs_per_task) or envs_per_task < 1:
        raise ValueError(f"envs_per_task must be an int >= 1, got {envs_per_task!r}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    if reward_function_version not in ("v1", "v2"):
        raise ValueError(f"reward_function_version must be 'v1' or 'v2', got {reward_function_version!r}")
    if backend == "auto":
        backend = "gym_vector" if (os.cpu_count() or 1) <= 4 else "parallel"

    goals = _benchmark_goals(benchmark, int(seed))
    env_kwargs = [
        dict(
            tasks=goals[name],
            max_episode_steps=int(max_episode_steps),
            reward_function_version=reward_function_version,
            seed=(int(goal_seed), t * envs_per_task + j),
        )
        for t, name in enumerate(names)
        for j in range(envs_per_task)
    ]
    task_ids = [t for t in range(len(names)) for _ in range(envs_per_task)]
    env: EnvBase
    if backend == "gym_vector":
        env = MetaWorldVecEnv(env_kwargs, task_ids, len(names), batched=True, device=device)
    else:
        worker_kwargs = [
            dict(env_kwargs=kw, task_id=tid, num_tasks=len(names), device="cpu")
            for kw, tid in zip(env_kwargs, task_ids)
        ]
        batched_cls: Callable[..., EnvBase] = SerialEnv if backend == "serial" else ParallelEnv
        env = batched_cls(len(env_kwargs), _make_worker_env, create_env_kwargs=worker_kwargs, device=device)
    env.task_names = names
    env.num_tasks = len(names)
    return env
