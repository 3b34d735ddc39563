"""Fig. 3 of the paper: the policy subspace of PaCo with K=2 and w on the unit circle.

:func:`run` trains PaCo with ``K = 2`` and ``paco.normalize_w=true`` (:func:`paco_torchrl.training.train`),
then :func:`sweep_run` instantiates policies ``Φ (cos a, sin a)`` at ``angles`` evenly spaced angles
and runs each on every task (``episodes`` deterministic episodes, new goals). Writes
``subspace.json`` and ``subspace_k2.png`` into the run directory (the plot can be redrawn with
``python -m paco_torchrl.analysis subspace <run_dir>``). ``recipes/subspace_k2.py`` is its command
line, with ``recipes/configs/subspace_k2.yaml``.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch
from omegaconf import DictConfig

from paco_torchrl.analysis.pca import load_task_weights
from paco_torchrl.analysis.subspace import SUBSPACE_NAME, subspace_plot, subspace_sweep
from paco_torchrl.training import (
    CheckpointError,
    ConfigError,
    load_checkpoint,
    load_config,
    make_agent,
    make_env,
    resolve_device,
    torch_threads,
    train,
    validate_config,
)
from paco_torchrl.training.checkpoint import atomic_write_text
from paco_torchrl.training.config import split_overrides


def sweep_run(run_dir: str | Path, angles: int = 24, episodes: int = 5, overrides: list[str] = ()) -> dict:
    """Loads a K=2 run's checkpoint and evaluates ``angles`` evenly spaced policies on every task."""
    run_dir = Path(run_dir)
    cfg = load_config(run_dir / "config.yaml", ["resume=null", *overrides])
    validate_config(cfg)
    if cfg.paco.num_param_sets != 2:
        raise ConfigError(f"paco.num_param_sets: the unit-circle sweep needs K=2, the run has {cfg.paco.num_param_sets}")
    device = resolve_device(cfg.device)
    torch.set_num_threads(torch_threads(cfg))
    env = make_env(cfg, seed=cfg.seed + 20_000, device=device, evaluation=True)
    agent = make_agent(cfg, env, device)
    agent.loss.load_state_dict(load_checkpoint(run_dir / "checkpoint.pt", device)["loss"])
    names, w = load_task_weights(run_dir)
    if not cfg.paco.normalize_w:
        w = w / w.norm(dim=-1, keepdim=True)  # only the direction is on the circle
    grid = [2 * math.pi * i / angles for i in range(angles)]
    torch.manual_seed(cfg.seed)
    result = subspace_sweep(agent.actor, env, names, w, grid, episodes=episodes, max_steps=cfg.env.max_episode_steps)
    result["normalize_w"] = bool(cfg.paco.normalize_w)
    env.close()
    atomic_write_text(run_dir / SUBSPACE_NAME, json.dumps(result, indent=2))
    subspace_plot(run_dir, run_dir / "subspace_k2.png")
    return result


def run(cfg: DictConfig, angles: int = 24, episodes: int = 5) -> dict:
    """Trains the K=2 run described by ``cfg``, then sweeps it (:func:`sweep_run`)."""
    train(cfg)
    return sweep_run(cfg.output_dir, angles, episodes)


def main(argv: list[str] | None = None, config: str | Path | None = None) -> int:
    """Command line: ``run=``, ``angles=``, ``episodes=`` and ``key=value`` overrides of ``config``."""
    argv = sys.argv[1:] if argv is None else argv
    own, rest = split_overrides(argv, {"run": None, "angles": "24", "episodes": "5"})
    try:
        angles, episodes = int(own["angles"]), int(own["episodes"])
        if angles < 1 or episodes < 1:
            raise ConfigError("angles and episodes must be >= 1")
        if own["run"]:
            result = sweep_run(own["run"], angles, episodes, rest)
            run_dir = own["run"]
        else:
            if config is None:
                raise ConfigError("run=<K=2 run dir> or a config (recipes/configs/subspace_k2.yaml) is needed")
            cfg = load_config(config, rest)
            if cfg.output_dir is None:
                cfg.output_dir = f"runs/subspace_k2-seed{cfg.seed}"
            validate_config(cfg)
            result = run(cfg, angles, episodes)
            run_dir = cfg.output_dir
    except (ConfigError, CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for task, learned in result["learned"].items():
        print(f"{task}: angle {math.degrees(learned['angle']):.1f}°, success {learned['success']:.2f}")
    best = max(result["sampled"], key=lambda s: sum(s["success"].values()))
    print(f"best sampled angle {math.degrees(best['angle']):.1f}°: {best['success']}")
    print(f"wrote {Path(run_dir) / SUBSPACE_NAME} and {Path(run_dir) / 'subspace_k2.png'}")
    return 0

