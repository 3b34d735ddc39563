"""``algo=`` registry: PaCo, its ablations and baselines expressed as configurations of the same parts."""
from __future__ import annotations

from paco_torchrl.baselines.paper import PAPER_ROWS, PaperRow
from paco_torchrl.baselines.pcgrad import PCGradUpdateStep, pcgrad, pcgrad_coefficients
from paco_torchrl.baselines.published import (
    build_care_networks,
    build_film_networks,
    build_moore_networks,
    build_soft_modules_networks,
)
from paco_torchrl.baselines.registry import (
    ALGOS,
    Algo,
    build_mhsac_networks,
    build_mtsac_networks,
    build_one_hot_networks,
    build_paco_networks,
    build_single_task_networks,
    variant_label,
)
from paco_torchrl.baselines.results import RunResult, interquartile_mean, load_runs, summarize

__all__ = [
    "ALGOS",
    "Algo",
    "PAPER_ROWS",
    "PCGradUpdateStep",
    "PaperRow",
    "RunResult",
    "build_care_networks",
    "build_film_networks",
    "build_mhsac_networks",
    "build_moore_networks",
    "build_mtsac_networks",
    "build_one_hot_networks",
    "build_paco_networks",
    "build_single_task_networks",
    "build_soft_modules_networks",
    "interquartile_mean",
    "load_runs",
    "pcgrad",
    "pcgrad_coefficients",
    "summarize",
    "variant_label",
]
