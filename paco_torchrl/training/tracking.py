"""Experiment tracking: the CSV logs every command reads, plus TensorBoard, Weights & Biases or MLflow beside them.

``logger.backend=csv`` writes ``<run_dir>/logs/scalars/<metric>/<task>.csv`` only. Any other backend
writes the same CSV files (the analysis commands, reports and exact resume read them) and sends every
scalar to that tracker as well, built by TorchRL's :func:`torchrl.record.loggers.get_logger`:

- ``tensorboard``: event files in ``<run_dir>/logs``.
- ``wandb``: a W&B run named ``logger.run_name`` in project ``logger.project``, its files in
  ``<run_dir>/logs/wandb``; ``WANDB_MODE=offline`` runs without network (``wandb sync`` uploads later).
  A resumed run continues the same W&B run (its id is kept in ``<run_dir>/logs/wandb_run_id``).
- ``mlflow``: an MLflow run in experiment ``logger.project`` at ``logger.mlflow_tracking_uri``
  (default ``sqlite:///<run_dir>/logs/mlflow.db``; MLflow ≥ 3.10 has no file store, which is what
  ``get_logger("mlflow", ...)`` would build, so TorchRL's ``MLFlowLogger`` is built directly).
"""
from __future__ import annotations

import importlib.util
import random
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchrl.record.loggers import CSVLogger, Logger, get_logger

__all__ = ["TRACKER_PACKAGES", "make_csv_logger", "make_tracker", "missing_tracker_package"]

#: The package each non-CSV backend needs, which is also the name of its extra (``pip install 'paco_torchrl[wandb]'``).
TRACKER_PACKAGES: dict[str, str] = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}


def missing_tracker_package(backend: str) -> str | None:
    """The package ``backend`` needs when it is not installed (``None``: nothing missing).

    Examples:
        >>> missing_tracker_package("csv") is None
        True
    """
    package = TRACKER_PACKAGES.get(backend)
    return package if package is not None and importlib.util.find_spec(package) is None else None


def make_csv_logger(run_dir: str | Path) -> CSVLogger:
    """TorchRL's CSV logger writing ``<run_dir>/logs/scalars/<name>.csv`` (one ``step,value`` row per call)."""
    return get_logger("csv", logger_name=str(run_dir), experiment_name="logs")


def make_tracker(
    backend: str,
    run_dir: str | Path,
    *,
    project: str = "paco_torchrl",
    run_name: str | None = None,
    mlflow_tracking_uri: str | None = None,
    hparams: Mapping[str, Any] | None = None,
) -> Logger | None:
    """The tracker of ``backend`` (``None`` for ``"csv"``), with the run's config as its hyper-parameters.

    Building it leaves the RNGs of python, numpy and torch as they were, so that a run
    gives the same results whichever backend it logs to.

    Args:
        backend: ``"csv"``, ``"tensorboard"``, ``"wandb"`` or ``"mlflow"``.
        run_dir: the run directory.
        project: W&B project / MLflow experiment.
        run_name: W&B / MLflow run name (``None``: the run directory's name).
        mlflow_tracking_uri: MLflow tracking URI (``None``: ``sqlite:///<run_dir>/logs/mlflow.db``).
        hparams: the run's config (nested dict), logged once.
    """
    if backend == "csv":
        return None
    run_dir = Path(run_dir).resolve()
    run_name = run_name or run_dir.name
    hparams = dict(hparams or {})
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            if backend == "tensorboard":
                return get_logger("tensorboard", logger_name=str(run_dir), experiment_name="logs")
            if backend == "wandb":
                return _wandb(run_dir, project, run_name, hparams)
            if backend == "mlflow":
                return _mlflow(run_dir, project, run_name, mlflow_tracking_uri, hparams)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    raise ValueError(f"logger backend must be csv, {', '.join(TRACKER_PACKAGES)}; got {backend!r}")


def _wandb(run_dir: Path, project: str, run_name: str, hparams: dict) -> Logger:
    id_file = run_dir / "logs" / "wandb_run_id"
    id_file.parent.mkdir(parents=True, exist_ok=True)
    run_id = id_file.read_text().strip() if id_file.is_file() else uuid.uuid4().hex[:8]  # os.urandom: no RNG draw
    id_file.write_text(run_id)
    return get_logger(
        "wandb",
        logger_name=str(run_dir / "logs"),
        experiment_name=run_name,
        wandb_kwargs={"project": project, "id": run_id, "config": hparams},  # TorchRL sets resume="allow"
    )


def _mlflow(run_dir: Path, project: str, run_name: str, tracking_uri: str | None, hparams: dict) -> Logger:
    import mlflow
    from torchrl.record.loggers.mlflow import MLFlowLogger

    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    uri = tracking_uri or f"sqlite:///{run_dir / 'logs' / 'mlflow.db'}"
    logger = MLFlowLogger(exp_name=project, tracking_uri=uri)
    mlflow.set_tag("mlflow.runName", run_name)
    mlflow.log_params(_flatten(hparams))
    return logger


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``.

    Examples:
        >>> _flatten({"optim": {"lr": 3e-4}, "seed": 0})
        {'optim.lr': 0.0003, 'seed': 0}
    """
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
