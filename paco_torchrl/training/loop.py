"""The training loop: PaCo's Algorithm 1 (or any ``algo=`` / ``loss=``) on a multi-task env, read top to bottom.

Collect a vector step, store it, run the Algorithm-1 update per vector step on a balanced ``[T, n]``
batch, evaluate, log, checkpoint; ``resume=<run_dir>`` continues exactly where the checkpoint was
taken. The recipes (``recipes/mt10_rand.py``, ``mt50_rand.py``) are thin command lines around
:func:`train` (see :mod:`paco_torchrl.training.cli`).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace

import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from paco_torchrl.envs.guard import drop_nonfinite
from paco_torchrl.training.builders import (
    EVAL_SEED_OFFSET, make_agent, make_collector, make_env, make_replay, resolve_device, torch_threads,
)
from paco_torchrl.training.checkpoint import (
    load_checkpoint, restore_replay, restore_training_state, save_run_checkpoint, set_rng_state, training_state,
)
from paco_torchrl.training.config import validate_config
from paco_torchrl.training.evaluate import evaluate
from paco_torchrl.training.faults import RewardFault
from paco_torchrl.training.metrics import MetricsLogger, truncate_csv_logs
from paco_torchrl.training.run_dir import CHECKPOINT_NAME, prepare_run_dir, seed_everything, write_results
from paco_torchrl.training.signals import Interrupted, StopSignals
from paco_torchrl.training.system import tune_malloc

__all__ = ["EnvFailure", "Interrupted", "train"]


class EnvFailure(RuntimeError):
    """Collection failed (e.g. an env worker died); a final checkpoint was written first."""


def train(cfg: DictConfig, prepare_agent: Callable[[SimpleNamespace], None] | None = None) -> dict:
    """Runs one training; returns the last evaluation (also written to ``results.json``).

    ``prepare_agent(agent)``, if given, runs once on the freshly built agent before any
    checkpoint is restored (e.g. :func:`~paco_torchrl.experiments.transfer.run_transfer` loads
    and freezes a trained ``Φ`` there).

    Raises:
        Interrupted: SIGINT, SIGTERM, SIGUSR1 or SIGUSR2 arrived; a checkpoint was written at the end
            of the iteration in progress (a second signal exits at once, see
            :mod:`~paco_torchrl.training.signals`).
        EnvFailure: collection failed; a checkpoint was written.
        CheckpointWriteError: a checkpoint could not be written; the previous one is intact.
    """
    validate_config(cfg)  # every value checked before any env starts
    device = resolve_device(cfg.device)
    torch.set_num_threads(torch_threads(cfg))
    tune_malloc()  # reuse the per-call composed-weight buffers instead of re-mapping them
    run_dir = prepare_run_dir(cfg)
    seed_everything(cfg.seed)

    # --- parts: envs, PaCo agent (actor, critics, MultiTaskSACLoss, Algorithm-1 update), replay, logs
    env = make_env(cfg, seed=cfg.seed, device=device)
    eval_env = make_env(cfg, seed=cfg.seed + EVAL_SEED_OFFSET, device=device, evaluation=True)
    agent = make_agent(cfg, env, device)
    if prepare_agent is not None:
        prepare_agent(agent)
    replay = make_replay(cfg, agent.num_tasks, device)
    logger = MetricsLogger(  # CSV in <run_dir>/logs/scalars, and TensorBoard / W&B / MLflow if logger.backend says so
        run_dir, cfg.logger.backend, agent.task_names, project=cfg.logger.project, run_name=cfg.logger.run_name,
        mlflow_tracking_uri=cfg.logger.mlflow_tracking_uri, hparams=OmegaConf.to_container(cfg, resolve=True),
    )
    fault = RewardFault.from_config(cfg, agent.task_names)  # off unless fault.task is set
    frames = updates = 0
    state = None
    if cfg.resume is not None and (run_dir / CHECKPOINT_NAME).exists():
        state = load_checkpoint(run_dir / CHECKPOINT_NAME, device)
        frames, updates = restore_training_state(agent, state, logger=logger, env=env, eval_env=eval_env)
        restore_replay(run_dir, state, replay)  # False for a checkpoint saved without replay: it refills
        truncate_csv_logs(run_dir, frames)  # rows logged after the checkpoint are logged again
    else:  # a fresh start: rows of an earlier attempt killed before its first checkpoint would be appended to
        truncate_csv_logs(run_dir, -1)
    start_frames, started = frames, time.perf_counter()

    last_checkpoint = time.monotonic()
    # settings read on every frame, read once (an OmegaConf attribute read costs tens of µs)
    total_frames, init_random_frames = cfg.collector.total_frames, cfg.collector.init_random_frames
    updates_per_step, checkpoint_minutes = cfg.collector.updates_per_step, cfg.checkpoint.interval_minutes

    def checkpoint() -> None:
        nonlocal last_checkpoint
        save_run_checkpoint(
            run_dir,
            CHECKPOINT_NAME,
            training_state(agent, frames, updates, logger=logger, env=env, eval_env=eval_env),
            replay if cfg.checkpoint.replay else None,
        )
        last_checkpoint = time.monotonic()

    def checkpoint_due() -> bool:  # every interval_frames, and every interval_minutes of wall-clock if set
        return frames >= next_checkpoint or (
            checkpoint_minutes is not None and time.monotonic() - last_checkpoint >= 60 * checkpoint_minutes
        )

    def evaluate_policy() -> dict:
        evaluation = evaluate(
            agent.actor, eval_env, cfg.eval.episodes_per_task, max_episode_steps=cfg.env.max_episode_steps,
            num_tasks=agent.num_tasks, task_names=agent.task_names,
        )
        out = write_results(run_dir, frames, {**evaluation, "eval_goals": cfg.eval.goals})
        logger.log_evaluation(out, frames)
        return out

    collector = make_collector(  # TorchRL Collector (or AsyncCollector: collection overlapped with updates)
        cfg, env, agent.collect_policy, frames_done=frames, device=device, storing_device=replay.storage.device
    )
    if state is not None:
        set_rng_state(state["rng"])  # after the collector, whose construction may draw random numbers
    results: dict = {}
    next_eval, next_log, next_checkpoint = (
        (frames // interval + 1) * interval
        for interval in (cfg.eval.interval_frames, cfg.logger.interval_frames, cfg.checkpoint.interval_frames)
    )
    bar = tqdm(total=cfg.collector.total_frames, initial=frames, unit="frame", disable=not cfg.progress)

    batches = iter(collector)
    async_collection = cfg.collector.async_collection
    with StopSignals() as stop:  # Ctrl-C / SIGTERM / Slurm's signal: checkpoint, then stop
        while frames < total_frames:
            # 1. collect vector steps and store their transitions ([num_envs, steps], task-major)
            try:
                batch = next(batches)
            except StopIteration:
                break
            except Exception as err:  # an env worker died: keep what was learned, then stop with one line
                checkpoint()
                collector.shutdown(raise_on_error=False)
                logger.close()
                if stop.requested is not None:  # the signal reached the env workers too
                    raise Interrupted(stop.requested, frames, run_dir) from err
                raise EnvFailure(f"collection failed at frame {frames} ({type(err).__name__}: "
                                 f"{str(err).splitlines()[0] if str(err) else ''}); checkpoint written") from err
            collected, vector_steps = batch.numel(), batch.shape[-1]
            frames += collected
            # a step with a NaN/inf observation or reward (the env's NonFiniteGuard cut its episode) is not stored
            stored, nonfinite = drop_nonfinite(batch)
            if nonfinite is not None:
                logger.count_nonfinite(nonfinite, batch.get("task_id"), dropped_frames=collected - stored.shape.numel())
            stored = fault(stored, frames)  # fault injection (off by default): one task's reward explodes
            if stored.shape.numel():  # (TensorDict.numel() of an empty batch is 1)
                replay.extend(stored)
            logger.accumulate_episodes(stored)

            # 2. Algorithm 1 on a balanced [T, n] batch: compose θ_τ = Φ w_τ → per-task losses J_τ →
            #    loss maskout (J_τ > ε dropped) → Φ, W, α step → target soft update → w-reset
            if frames >= init_random_frames and len(replay):
                for _ in range(updates_per_step * vector_steps):  # per vector step collected
                    metrics = agent.update(replay.sample())
                    logger.accumulate(metrics)
                    updates += 1
                # the async worker's policy: shared memory on the CPU (≈ 3 ms a call), a copy elsewhere
                if async_collection:
                    collector.update_policy_weights_()

            # 3. evaluate (deterministic, new goals from the training goal set unless eval.goals=held_out,
            #    success at any step), log, checkpoint
            if frames >= next_eval:
                results = evaluate_policy()
                next_eval += cfg.eval.interval_frames
            if frames >= next_log:
                fps = (frames - start_frames) / (time.perf_counter() - started)
                logger.flush(frames, {"frames_per_second": fps, "updates": updates})
                bar.set_postfix(fps=f"{fps:.0f}", success=f"{results.get('mean_success', float('nan')):.2f}")
                next_log += cfg.logger.interval_frames
            if checkpoint_due():
                checkpoint()
                next_checkpoint = (frames // cfg.checkpoint.interval_frames + 1) * cfg.checkpoint.interval_frames
            bar.update(collected)
            if stop.requested is not None:  # a stop signal: keep everything up to this frame, then end
                try:
                    checkpoint()
                finally:  # env workers end even if the checkpoint failed (else the process waits for them)
                    bar.close()
                    logger.close()
                    collector.shutdown(raise_on_error=False)
                    eval_env.close(raise_if_closed=False)
                raise Interrupted(stop.requested, frames, run_dir)

    bar.close()
    collector.shutdown()
    checkpoint()  # before the final evaluation, so that a resumed run continues exactly from here
    if results.get("frames") != frames:  # the final policy is always evaluated
        results = evaluate_policy()
    logger.flush(frames, {"updates": updates})
    logger.close()
    env.close()
    eval_env.close()
    return results
