"""Training: the loop :func:`train`, its config, builders, evaluation protocol, checkpoints, run directories, logging."""
from __future__ import annotations

from paco_torchrl.training.builders import (
    EVAL_SEED_OFFSET,
    make_agent,
    make_collector,
    make_env,
    make_replay,
    resolve_device,
    torch_threads,
)
from paco_torchrl.training.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    load_checkpoint,
    restore_replay,
    restore_training_state,
    save_checkpoint,
    save_run_checkpoint,
    set_rng_state,
    training_state,
)
from paco_torchrl.training.faults import RewardFault
from paco_torchrl.training.config import ConfigError, RunConfig, load_config, task_names, validate_config
from paco_torchrl.training.evaluate import evaluate
from paco_torchrl.training.metrics import MetricsLogger, truncate_csv_logs
from paco_torchrl.training.run_dir import CHECKPOINT_NAME, prepare_run_dir, seed_everything, write_results
from paco_torchrl.training.loop import EnvFailure, train

__all__ = [
    "CHECKPOINT_NAME",
    "CheckpointError",
    "CheckpointWriteError",
    "EVAL_SEED_OFFSET",
    "ConfigError",
    "EnvFailure",
    "MetricsLogger",
    "RewardFault",
    "RunConfig",
    "evaluate",
    "load_checkpoint",
    "load_config",
    "make_agent",
    "make_collector",
    "make_env",
    "make_replay",
    "prepare_run_dir",
    "resolve_device",
    "restore_replay",
    "restore_training_state",
    "save_checkpoint",
    "save_run_checkpoint",
    "set_rng_state",
    "seed_everything",
    "task_names",
    "torch_threads",
    "train",
    "training_state",
    "truncate_csv_logs",
    "validate_config",
    "write_results",
]
