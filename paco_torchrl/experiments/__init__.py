"""Experiments around the training loop: sweeps and their launchers, reports, the paper's numbers, run
readers, Fig. 3, transfer.

The names below are imported on first use, so that a launcher's worker, which needs only
:mod:`~paco_torchrl.experiments.launch`, starts without importing torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "PAPER_ROWS": "paper",
    "TABLE_TITLES": "paper",
    "PaperRow": "paper",
    "rows_of_tables": "paper",
    "SWEEP_MANIFEST": "results",
    "RunResult": "results",
    "interquartile_mean": "results",
    "is_finished": "results",
    "load_run": "results",
    "load_runs": "results",
    "summarize": "results",
    "variant_dir": "variants",
    "variant_label": "variants",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"paco_torchrl.experiments.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'paco_torchrl.experiments' has no attribute {name!r}")
