"""Run directories and seeding."""
from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from paco_torchrl.training.checkpoint import atomic_write_text

CHECKPOINT_NAME = "checkpoint.pt"
RESULTS_NAME = "results.json"


def prepare_run_dir(cfg: DictConfig) -> Path:
    """Creates the run directory (``resume`` > ``output_dir`` > ``runs/<name>-<time>``) with ``config.yaml``."""
    if cfg.resume is not None:
        run_dir = Path(cfg.resume)
    elif cfg.output_dir is not None:
        run_dir = Path(cfg.output_dir)
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = Path("runs") / f"{cfg.env.benchmark.lower()}-{cfg.algo}-seed{cfg.seed}-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg))
    return run_dir


def write_results(run_dir: Path, frames: int, evaluation: dict) -> dict:
    """Writes ``results.json`` = ``{"frames", "mean_success", "per_task_success", ...}`` atomically."""
    results = {"frames": int(frames), **evaluation}
    atomic_write_text(run_dir / RESULTS_NAME, json.dumps(results, indent=2))
    return results


def seed_everything(seed: int) -> None:
    """Seeds python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
