"""Experiments around the training loop: sweeps, reports, the paper's numbers, run readers, Fig. 3, transfer."""
from __future__ import annotations

from paco_torchrl.experiments.paper import PAPER_ROWS, TABLE_TITLES, PaperRow, rows_of_tables
from paco_torchrl.experiments.results import (
    SWEEP_MANIFEST,
    RunResult,
    interquartile_mean,
    is_finished,
    load_run,
    load_runs,
    summarize,
)
from paco_torchrl.experiments.variants import variant_dir, variant_label

__all__ = [
    "PAPER_ROWS",
    "SWEEP_MANIFEST",
    "TABLE_TITLES",
    "PaperRow",
    "RunResult",
    "interquartile_mean",
    "is_finished",
    "load_run",
    "load_runs",
    "rows_of_tables",
    "summarize",
    "variant_dir",
    "variant_label",
]
