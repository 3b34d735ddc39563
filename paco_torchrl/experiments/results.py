"""Reading sweep run directories and summarising final success over seeds.

A run directory holds ``config.yaml`` and, once evaluated, ``results.json``
(``{"frames", "mean_success", "per_task_success"}``). A run is *finished* when its
results are at ``collector.total_frames``; *partial* when they are earlier; *missing*
when there is no ``results.json`` (or the directory is only listed in the sweep's
``sweep.json``).

Statistics over seeds (:func:`summarize`): mean, **sample** standard deviation (``ddof=1``,
undefined for one seed) and the interquartile mean (:func:`interquartile_mean`).
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paco_torchrl.experiments.variants import variant_label
from paco_torchrl.training.config import ConfigError, load_config

SWEEP_MANIFEST = "sweep.json"


@dataclass
class RunResult:
    """One run directory as read back.

    Attributes:
        path: the run directory.
        variant: :func:`~paco_torchrl.experiments.variant_label` of its config.
        seed: the run's seed.
        status: ``"finished"``, ``"partial"`` or ``"missing"``.
        frames: frames of its last evaluation (``None`` if none).
        total_frames: ``collector.total_frames`` of its config.
        mean_success: success of its last evaluation, in ``[0, 1]`` (``None`` if none).
        per_task_success: task name -> success rate.
        benchmark: ``env.benchmark`` of its config.
        note: why a run is missing, where known.
    """

    path: Path
    variant: str
    seed: int | None
    status: str
    frames: int | None = None
    total_frames: int | None = None
    mean_success: float | None = None
    per_task_success: dict[str, float] = field(default_factory=dict)
    benchmark: str | None = None
    note: str | None = None

    def describe(self) -> str:
        """One line for a report's list of incomplete runs."""
        if self.note is not None:
            return f"{self.status}: {self.note}"
        if self.status == "partial":
            return f"partial: {self.frames} of {self.total_frames} frames evaluated"
        return "missing: no results.json"


def is_finished(run_dir: Path, total_frames: int) -> bool:
    """Whether ``run_dir/results.json`` is the evaluation at ``total_frames`` (or later)."""
    try:
        frames = json.loads((Path(run_dir) / "results.json").read_text())["frames"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return int(frames) >= total_frames


def load_run(run_dir: Path) -> RunResult:
    """Reads ``config.yaml`` and ``results.json`` (if any) of one run directory."""
    run_dir = Path(run_dir).resolve()
    try:
        cfg = load_config(run_dir / "config.yaml")
    except ConfigError as err:
        return RunResult(run_dir, "unreadable", None, "missing", note=f"config.yaml unreadable: {err}")
    run = RunResult(
        run_dir, variant_label(cfg), int(cfg.seed), "missing",
        total_frames=int(cfg.collector.total_frames), benchmark=str(cfg.env.benchmark),
    )
    try:
        results = json.loads((run_dir / "results.json").read_text())
        run.frames = int(results["frames"])
        run.mean_success = float(results["mean_success"])
        run.per_task_success = {k: float(v) for k, v in results.get("per_task_success", {}).items()}
    except (OSError, ValueError, KeyError, TypeError):
        return run
    run.status = "finished" if run.frames >= run.total_frames else "partial"
    return run


def load_runs(sweep_dir: Path) -> list[RunResult]:
    """Every run under ``sweep_dir`` (any directory holding a ``config.yaml``), plus the runs that
    ``sweep_dir/sweep.json`` lists but that were never started (status ``"missing"``).

    Examples:
        >>> import tempfile
        >>> load_runs(Path(tempfile.mkdtemp()))
        []
    """
    sweep_dir = Path(sweep_dir)
    runs = {p.parent.resolve(): load_run(p.parent) for p in sorted(sweep_dir.rglob("config.yaml"))}
    # a run folder without config.yaml yet (started, then killed) shows up through sweep.json
    manifest = sweep_dir / SWEEP_MANIFEST
    if manifest.is_file():
        for entry in json.loads(manifest.read_text()).get("runs", []):
            path = (sweep_dir / entry["dir"]).resolve()
            if path not in runs:
                runs[path] = RunResult(path, entry["variant"], entry.get("seed"), "missing",
                                       note="never started (listed in sweep.json)")
    return sorted(runs.values(), key=lambda r: (r.variant, r.seed if r.seed is not None else -1, str(r.path)))


def interquartile_mean(values: Sequence[float]) -> float:
    """Mean of the middle 50% of the empirical distribution of ``values``, with fractional weights.

    Sorted values ``x_(1) ≤ … ≤ x_(n)`` each hold probability ``1/n`` on the interval
    ``[(i-1)/n, i/n]``; the IQM is ``Σ_i x_(i) · |[(i-1)/n, i/n] ∩ [0.25, 0.75]| / 0.5``. For
    ``n`` divisible by 4 this equals rliable's IQM (``scipy.stats.trim_mean(x, 0.25)``); for other
    ``n`` rliable drops ``⌊n/4⌋`` values from each end with whole weights instead (e.g. ``n=3``:
    rliable gives the plain mean, this gives weights ``1/6, 2/3, 1/6``). ``n=1``: the value;
    ``n=2``: the mean.

    Examples:
        >>> interquartile_mean([1.0, 2.0, 3.0, 100.0])
        2.5
        >>> round(interquartile_mean([0.0, 6.0, 12.0]), 6)
        6.0
        >>> round(interquartile_mean([0.0, 0.0, 6.0]), 6)
        1.0
    """
    xs = sorted(float(v) for v in values)
    n = len(xs)
    if n == 0:
        return math.nan
    total = 0.0
    for i, x in enumerate(xs):
        overlap = min((i + 1) / n, 0.75) - max(i / n, 0.25)
        if overlap > 0:
            total += x * overlap
    return total / 0.5


def summarize(values: Sequence[float]) -> dict[str, float]:
    """``{"n", "mean", "std", "iqm"}`` of ``values``; ``std`` is the sample std (``ddof=1``),
    NaN for fewer than two values.

    Examples:
        >>> {k: round(v, 6) for k, v in summarize([0.5, 0.7, 0.9]).items()}
        {'n': 3, 'mean': 0.7, 'std': 0.2, 'iqm': 0.7}
    """
    xs = [float(v) for v in values]
    n = len(xs)
    mean = sum(xs) / n if n else math.nan
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
    return {"n": n, "mean": mean, "std": std, "iqm": interquartile_mean(xs)}
