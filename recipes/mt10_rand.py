"""Train PaCo on Meta-World MT10 with random goals (the paper's MT10-rand).

    python recipes/mt10_rand.py                                  # the paper's protocol, 20M frames
    python recipes/mt10_rand.py seed=1 paco.num_param_sets=8 output_dir=runs/k8
    python recipes/mt10_rand.py env.tasks=[reach-v3,drawer-close-v3] collector.total_frames=200000

Every key of ``recipes/configs/mt10_rand.yaml`` can be overridden as ``key=value``. The run
directory gets ``config.yaml``, ``logs/`` (CSV or TensorBoard scalars), ``checkpoint.pt`` and
``results.json`` (rewritten at every evaluation). ``resume=<run_dir>`` continues a run.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import torch
from omegaconf import DictConfig
from tqdm import tqdm

from paco_torchrl.training.system import tune_malloc
from paco_torchrl.training import (
    CHECKPOINT_NAME,
    EVAL_SEED_OFFSET,
    CheckpointError,
    ConfigError,
    MetricsLogger,
    RewardFault,
    evaluate,
    load_checkpoint,
    load_config,
    make_agent,
    make_collector,
    make_env,
    make_replay,
    prepare_run_dir,
    resolve_device,
    restore_replay,
    restore_training_state,
    save_run_checkpoint,
    seed_everything,
    set_rng_state,
    torch_threads,
    training_state,
    truncate_csv_logs,
    validate_config,
    write_results,
)

CONFIG = Path(__file__).parent / "configs" / "mt10_rand.yaml"


class EnvFailure(RuntimeError):
    """Collection failed (e.g. an env worker died); a final checkpoint was written first."""


def train(cfg: DictConfig, prepare_agent: Callable[[SimpleNamespace], None] | None = None) -> dict:
    """Runs one training; returns the last evaluation (also written to ``results.json``).

    ``prepare_agent(agent)``, if given, runs once on the freshly built agent before any
    checkpoint is restored (e.g. ``recipes/transfer.py`` loads and freezes a trained ``Φ`` there).
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
    logger = MetricsLogger(run_dir, cfg.logger.backend, agent.task_names)
    fault = RewardFault.from_config(cfg, agent.task_names)  # off unless fault.task is set
    frames = updates = 0
    state = None
    if cfg.resume is not None and (run_dir / CHECKPOINT_NAME).exists():
        state = load_checkpoint(run_dir / CHECKPOINT_NAME, device)
        frames, updates = restore_training_state(agent, state, logger=logger, env=env, eval_env=eval_env)
        restore_replay(run_dir, state, replay)  # False for a checkpoint saved without replay: it refills
        truncate_csv_logs(run_dir, frames)  # rows logged after the checkpoint are logged again
    start_frames, started = frames, time.perf_counter()

    def checkpoint() -> None:
        save_run_checkpoint(
            run_dir,
            CHECKPOINT_NAME,
            training_state(agent, frames, updates, logger=logger, env=env, eval_env=eval_env),
            replay if cfg.checkpoint.replay else None,
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
    while frames < cfg.collector.total_frames:
        # 1. collect vector steps and store their transitions ([num_envs, steps], task-major)
        try:
            batch = next(batches)
        except StopIteration:
            break
        except Exception as err:  # an env worker died: keep what was learned, then stop with one line
            checkpoint()
            collector.shutdown(raise_on_error=False)
            raise EnvFailure(f"collection failed at frame {frames} ({type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else ''}); checkpoint written") from err
        frames += batch.numel()
        batch = fault(batch, frames)  # fault injection (off by default): one task's reward explodes
        replay.extend(batch)
        logger.accumulate_episodes(batch)

        # 2. Algorithm 1 on a balanced [T, n] batch: compose θ_τ = Φ w_τ → per-task losses J_τ →
        #    loss maskout (J_τ > ε dropped) → Φ, W, α step → target soft update → w-reset
        if frames >= cfg.collector.init_random_frames:
            for _ in range(cfg.collector.updates_per_step * batch.shape[-1]):  # per vector step collected
                metrics = agent.update(replay.sample())
                logger.accumulate(metrics)
                updates += 1

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
        if frames >= next_checkpoint:
            checkpoint()
            next_checkpoint += cfg.checkpoint.interval_frames
        bar.update(batch.numel())

    bar.close()
    collector.shutdown()
    checkpoint()  # before the final evaluation, so that a resumed run continues exactly from here
    if results.get("frames") != frames:  # the final policy is always evaluated
        results = evaluate_policy()
    logger.flush(frames, {"updates": updates})
    env.close()
    eval_env.close()
    return results


def main(config: Path = CONFIG, argv: list[str] | None = None) -> int:
    """Command line: ``key=value`` overrides of ``config``; bad input gets one line and exit code 2."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        cfg = load_config(config, argv)
        if cfg.resume is not None and (Path(cfg.resume) / "config.yaml").is_file():
            cfg = load_config(Path(cfg.resume) / "config.yaml", argv)  # the run's own settings + overrides
        validate_config(cfg)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        results = train(cfg)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except EnvFailure as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    print(f"mean success {results['mean_success']:.3f} after {results['frames']} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
