"""Scalar logging through TorchRL's loggers: per-task losses, α, maskout/reset counts, non-finite steps, success."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from tensordict import TensorDictBase
from torchrl.record.loggers import Logger

from paco_torchrl.training.tracking import make_csv_logger, make_tracker

_MEANS = ("loss_actor", "loss_qvalue", "loss_alpha", "alpha", "entropy")
_COUNTS = ("kept", "over_threshold", "reset")


class MetricsLogger:
    """Accumulates update metrics on the device (no host sync per update) and writes them at ``flush``.

    Scalars always land in ``<run_dir>/logs/scalars/<name>.csv`` (what the analysis commands
    read); with ``backend`` other than ``"csv"`` they also go to that tracker (TensorBoard,
    W&B, MLflow: :func:`~paco_torchrl.training.tracking.make_tracker`, which takes
    ``tracker_kwargs``). Per-task series are named ``<metric>/<task>``.
    """

    def __init__(
        self, run_dir: str | Path, backend: str, task_names: Sequence[str], **tracker_kwargs: Any
    ) -> None:
        self.logger: Logger = make_csv_logger(run_dir)
        self.tracker: Logger | None = make_tracker(backend, run_dir, **tracker_kwargs)
        self.task_names = list(task_names)
        self._sums: dict[str, torch.Tensor] = {}
        self._updates = 0
        self._reward_sum: torch.Tensor | None = None
        self._steps = 0
        self.total_counts: dict[str, torch.Tensor] = {}
        self.nonfinite = torch.zeros(len(self.task_names), dtype=torch.float64)
        self.nonfinite_dropped_frames = 0

    def accumulate(self, metrics: TensorDictBase) -> None:
        """Adds one update's per-task metrics (batch ``[T]``)."""
        for key in _MEANS + _COUNTS:
            value = metrics.get(key).detach().to(torch.float64)
            self._sums[key] = self._sums[key] + value if key in self._sums else value.clone()
        self._updates += 1

    def accumulate_episodes(self, batch: TensorDictBase) -> None:
        """Adds a collector batch's rewards (per env, summed over time)."""
        reward = batch.get(("next", "reward")).detach().flatten(1).sum(-1).to(torch.float64)  # [n, 0, 1] too
        self._reward_sum = reward if self._reward_sum is None else self._reward_sum + reward
        self._steps += batch.shape[-1] if batch.ndim > 1 else 1

    def count_nonfinite(self, flags: torch.Tensor, task_id: torch.Tensor, dropped_frames: int) -> None:
        """Adds the transitions a :class:`~paco_torchrl.envs.guard.NonFiniteGuard` flagged (bool, per
        transition, with their ``task_id``) and the frames kept out of the replay because of them."""
        per_task = torch.zeros(len(self.task_names), dtype=torch.float64, device=flags.device)
        per_task.scatter_add_(0, task_id.reshape(-1), flags.reshape(-1).to(torch.float64))
        self.nonfinite = self.nonfinite + per_task.cpu()
        self.nonfinite_dropped_frames += int(dropped_frames)

    def log_scalar(self, name: str, value: float, step: int) -> None:
        self.log_scalars({name: value}, step)

    def log_scalars(self, values: Mapping[str, float], step: int) -> None:
        """One CSV row per scalar; one call to the tracker for all of them."""
        values = {name: float(value) for name, value in values.items()}
        for name, value in values.items():
            self.logger.log_scalar(name, value, step=step)
        if self.tracker is not None:
            self.tracker.log_metrics(values, step=step)

    def _per_task(self, name: str, values: Sequence[float]) -> dict[str, float]:
        return {f"{name}/{task}": value for task, value in zip(self.task_names, values)}

    def flush(self, frames: int, extra: dict[str, float]) -> None:
        """Writes the averages since the last flush (the only host sync of the metrics)."""
        row = dict(extra)
        if self._updates:
            for key in _MEANS:
                per_task = (self._sums[key] / self._updates).tolist()
                row |= self._per_task(key, per_task)
                row[f"{key}/mean"] = sum(per_task) / len(per_task)
            for key in _COUNTS:
                counts = self._sums[key]
                self.total_counts[key] = self.total_counts.get(key, torch.zeros_like(counts)) + counts
                row |= self._per_task(f"{key}_count", self.total_counts[key].tolist())
                row[f"{key}_count/total"] = float(self.total_counts[key].sum())
        if self._reward_sum is not None and self._steps:
            num_envs = self._reward_sum.shape[0]
            per_env = (self._reward_sum / self._steps).reshape(len(self.task_names), num_envs // len(self.task_names))
            row |= self._per_task("train_reward", per_env.mean(-1).tolist())
        row |= self._per_task("nonfinite_count", self.nonfinite.tolist())
        row["nonfinite_count/total"] = float(self.nonfinite.sum())
        row["nonfinite_dropped_frames"] = float(self.nonfinite_dropped_frames)
        self.log_scalars(row, frames)
        self._sums, self._updates, self._reward_sum, self._steps = {}, 0, None, 0

    def close(self) -> None:
        """Finishes the tracker's run (W&B, MLflow) and closes its files."""
        if self.tracker is not None:
            self.tracker.close()
            self.tracker = None

    def state_dict(self) -> dict:
        """Running sums and cumulative counts (tensors and ints only), for checkpoints."""
        return {
            "sums": dict(self._sums),
            "updates": self._updates,
            "reward_sum": self._reward_sum,
            "steps": self._steps,
            "total_counts": dict(self.total_counts),
            "nonfinite": self.nonfinite.clone(),
            "nonfinite_dropped_frames": self.nonfinite_dropped_frames,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict`: a resumed run logs what an uninterrupted one would."""
        self._sums = dict(state["sums"])
        self._updates = int(state["updates"])
        self._reward_sum = state["reward_sum"]
        self._steps = int(state["steps"])
        self.total_counts = dict(state["total_counts"])
        if "nonfinite" in state:  # checkpoints written before the non-finite guard have none
            self.nonfinite = state["nonfinite"].to(torch.float64).cpu()
            self.nonfinite_dropped_frames = int(state["nonfinite_dropped_frames"])

    def log_evaluation(self, results: dict, frames: int) -> None:
        row = {"eval/mean_success": results["mean_success"]}
        row |= {f"eval_success/{task}": value for task, value in results["per_task_success"].items()}
        self.log_scalars(row, frames)


def truncate_csv_logs(run_dir: str | Path, frames: int) -> int:
    """Drops CSV scalar rows logged after ``frames`` (written after the checkpoint a run resumes from).

    Each file is rewritten atomically. Returns the number of rows dropped.
    """
    from paco_torchrl.training.checkpoint import atomic_write_text

    dropped = 0
    for path in sorted((Path(run_dir) / "logs" / "scalars").rglob("*.csv")):
        lines = path.read_text().splitlines(keepends=True)
        keep = [line for line in lines if line.strip() and float(line.split(",", 1)[0]) <= frames]
        if len(keep) != len(lines):
            dropped += len(lines) - len(keep)
            atomic_write_text(path, "".join(keep))
    return dropped
