"""Builders that turn a validated run config into TorchRL parts (envs, networks, loss, update, replay)."""
from __future__ import annotations

import functools
import os
from types import SimpleNamespace

import torch
from omegaconf import DictConfig
from torchrl.collectors import AsyncCollector, BaseCollector, Collector
from torchrl.envs import EnvBase

from paco_torchrl.algos import ALGOS
from paco_torchrl.data import TaskBalancedReplayBuffer
from paco_torchrl.envs.guard import NonFiniteGuard
from paco_torchrl.nn import assume_task_major
from paco_torchrl.objectives import PaCoUpdateStep, WReset, make_paco_optimizer
from paco_torchrl.training.config import task_names
from paco_torchrl.training.losses import make_loss


def resolve_device(name: str) -> torch.device:
    """``"auto"`` = CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# The evaluation env's RNGs (goal picking; the toy env's own generator) are seeded this far from training's.
EVAL_SEED_OFFSET = 10_000


def make_env(
    cfg: DictConfig, seed: int, device: torch.device | str = "cpu", *, evaluation: bool = False
) -> EnvBase:
    """The run's multi-task env (task-major batch ``[T * envs_per_task]``), outputs on ``device``.

    ``seed`` seeds goal sampling (Meta-World) or the env's generator (toy). The Meta-World goal set
    is ``metaworld.MT10(env.goal_set_seed)`` (``null``: the run's ``seed``) for training and, with
    ``evaluation=True``, for evaluation too unless ``eval.goals=held_out``, which evaluates on the
    goal set of ``goal_set_seed + 10_000``. Meta-World itself steps on the CPU; ``device`` only
    places the returned tensors, so the policy, the collector and the evaluation all see tensors on
    the training device. A training env (``evaluation=False``) is wrapped in a
    :class:`~paco_torchrl.envs.guard.NonFiniteGuard`: a NaN/inf observation or reward cuts the
    episode and flags the step, which the loop then keeps out of the replay.
    """
    env = _make_base_env(cfg, seed, device, evaluation)
    return env if evaluation else NonFiniteGuard.wrap(env)


def _make_base_env(cfg: DictConfig, seed: int, device: torch.device | str, evaluation: bool) -> EnvBase:
    e = cfg.env
    if e.benchmark == "toy":
        from paco_torchrl.envs.toy import MultiTaskPointEnv, resolve_toy_tasks

        return MultiTaskPointEnv(
            e.num_toy_tasks, e.envs_per_task, max_episode_steps=e.max_episode_steps, device=device, seed=seed,
            task_ids=resolve_toy_tasks(e.num_toy_tasks, None if e.tasks is None else list(e.tasks)),
        )
    from paco_torchrl.envs.metaworld import make_metaworld_env

    goal_set = cfg.seed if e.goal_set_seed is None else e.goal_set_seed
    if evaluation and cfg.eval.goals == "held_out":
        goal_set += EVAL_SEED_OFFSET
    return make_metaworld_env(
        benchmark=e.benchmark,
        tasks=None if e.tasks is None else list(e.tasks),
        seed=goal_set,
        goal_seed=seed,
        max_episode_steps=e.max_episode_steps,
        reward_function_version=e.reward_function_version,
        envs_per_task=e.envs_per_task,
        backend=e.backend,
        device=device,
    )


def env_worker_count(cfg: DictConfig) -> int:
    """Processes the env backend runs beside the trainer."""
    if cfg.env.benchmark == "toy":
        return 0
    backend = cfg.env.backend
    if backend == "auto":
        backend = "gym_vector" if (os.cpu_count() or 1) <= 4 else "parallel"
    return len(task_names(cfg)) * cfg.env.envs_per_task if backend == "parallel" else 0


def torch_threads(cfg: DictConfig) -> int:
    """``cfg.threads``, or the cores left by env worker processes (at least 1)."""
    if cfg.threads is not None:
        return int(cfg.threads)
    return max(1, (os.cpu_count() or 1) - env_worker_count(cfg))


def loss_weights(cfg: DictConfig) -> dict[str, float]:
    """``{"loss_actor": …, "loss_qvalue": …, "loss_alpha": …}`` of ``J_τ`` from the ``loss_weights`` section."""
    return {f"loss_{key}": float(value) for key, value in cfg.loss_weights.items()}


def make_agent(cfg: DictConfig, env: EnvBase, device: torch.device) -> SimpleNamespace:
    """Actor, critics, loss, optimizer, w-reset and the Algorithm-1 update step of ``cfg.algo`` / ``cfg.loss``.

    Returns a namespace with ``actor`` (evaluated deterministically), ``collect_policy``
    (what the collector runs: the actor with its exploration), ``critics``, ``loss``
    (per-task losses, see :mod:`paco_torchrl.training.losses`), ``optimizer``, ``w_reset``,
    ``target_updater`` (``None`` for a loss without target networks), ``update`` (one
    Algorithm-1 step on a balanced batch), ``task_names`` and ``num_tasks``.
    """
    names = task_names(cfg)
    num_tasks = len(names)
    algo = ALGOS[cfg.algo]
    observation_dim = env.observation_spec["observation"].shape[-1]
    action_spec = env.action_spec[0] if env.action_spec.ndim > 1 else env.action_spec
    actor, critics = algo.build_networks(cfg, observation_dim, action_spec, num_tasks)
    # Updates draw from make_replay's TaskBalancedReplayBuffer: [T, n] batches are task-major.
    actor = assume_task_major(actor.to(device))
    critics = [assume_task_major(q.to(device)) for q in critics]
    parts = make_loss(cfg, observation_dim, action_spec, num_tasks, actor, critics, device)
    loss = parts.loss
    optimizer = make_paco_optimizer(
        loss,
        cfg.optim.lr,
        alpha_lr=cfg.optim.alpha_lr,
        w_lr=cfg.optim.w_lr,
        eps=cfg.optim.eps,
        capturable=cfg.cudagraphs,
    )
    maskout, reset = algo.stabilisation(cfg)
    w_reset = None
    task_weights = loss.task_weight_tensors()
    if reset and task_weights:
        w_reset = WReset(
            task_weights,
            optimizer,
            beta=cfg.paco.w_reset_beta,
            reset_optimizer_state=cfg.paco.reset_optimizer_state,
        )
    step_kwargs = dict(
        loss_threshold=cfg.paco.loss_threshold, loss_maskout=maskout, w_reset=w_reset, loss_weights=loss_weights(cfg)
    )
    speed = dict(compile=cfg.compile, compile_mode=cfg.compile_mode, cudagraphs=cfg.cudagraphs)
    if algo.make_update is not None:  # e.g. PCGrad's projected per-task gradients, Soft-Modules' reweighting
        update = algo.make_update(
            cfg, loss, optimizer, parts.target_updater, metric_fill=parts.metric_fill, **step_kwargs
        )
    else:
        update = PaCoUpdateStep(
            loss, optimizer, parts.target_updater, metric_fill=parts.metric_fill, **step_kwargs, **speed
        )
    return SimpleNamespace(
        actor=parts.actor,
        collect_policy=parts.collect_policy,
        critics=parts.critics,
        loss=loss,
        optimizer=optimizer,
        w_reset=w_reset,
        target_updater=parts.target_updater,
        update=update,
        task_names=names,
        num_tasks=num_tasks,
    )


def make_replay(cfg: DictConfig, num_tasks: int, device: torch.device) -> TaskBalancedReplayBuffer:
    """Per-task balanced replay on the training device (or ``replay.device``)."""
    replay_device = device if cfg.replay.device == "auto" else resolve_device(cfg.replay.device)
    capacity = min(cfg.replay.capacity_per_env, cfg.collector.total_frames // (num_tasks * cfg.env.envs_per_task) + 1)
    return TaskBalancedReplayBuffer(
        num_tasks,
        cfg.env.envs_per_task,
        capacity_per_env=capacity,
        batch_size=cfg.optim.batch_size,
        device=replay_device,
        prefetch=cfg.replay.prefetch,
        direct=cfg.replay.direct,
    )


def make_collector(
    cfg: DictConfig,
    env: EnvBase,
    policy,
    *,
    frames_done: int,
    device: torch.device,
    storing_device: torch.device,
) -> BaseCollector:
    """The run's collector, for the frames left after ``frames_done``.

    A batch holds ``collector.steps_per_batch`` vector-env steps (``[num_envs, steps]``).
    ``collector.async_collection=false``: TorchRL's ``Collector`` steps ``env`` in this
    process, between updates; it yields its own buffer (``return_same_td=True``), which the next
    batch overwrites, so a caller that keeps a batch past its iteration must clone it. ``true``: an
    ``AsyncCollector`` builds its own copy of the env in a worker process and collects the next
    batch while this process updates; on the CPU the worker's policy shares the trained parameters'
    memory, and the loop calls ``update_policy_weights_()`` after each batch's updates (for devices
    where the worker holds a copy; not yet run on a GPU), so it acts with weights at most one batch old.
    (The worker's env state is not checkpointed: a resumed async run starts new episodes.)
    """
    num_envs = env.batch_size[0]
    frames_per_batch = num_envs * cfg.collector.steps_per_batch
    left = cfg.collector.total_frames - frames_done
    kwargs = dict(
        frames_per_batch=frames_per_batch,
        total_frames=-(-left // frames_per_batch) * frames_per_batch,  # whole batches
        # uniform random actions before the first update only if asked: the original's initial policy acts
        init_random_frames=max(0, cfg.collector.init_random_frames - frames_done)
        if cfg.collector.init_random_actions else 0,
        policy_device=device,
        storing_device=storing_device,
    )
    if not cfg.collector.async_collection:
        # return_same_td: each batch is the collector's own buffer, refilled by the next batch, not a clone of
        # it; the loop copies it into the replay within the iteration (2–6 % of a collection step, paired)
        return Collector(env, policy, auto_register_policy_transforms=False, return_same_td=True, **kwargs)
    create_env = functools.partial(make_env, cfg, cfg.seed + frames_done, device)
    return AsyncCollector(create_env, policy, **kwargs)
