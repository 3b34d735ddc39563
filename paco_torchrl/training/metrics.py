"""Scalar logging through torchrl's loggers: per-task losses, α, maskout/reset counts, success."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tensordict import TensorDictBase
from torchrl.record.loggers import CSVLogger, Logger, TensorboardLogger

_MEANS = ("loss_actor", "loss_qvalue", "loss_alpha", "alpha", "entropy")
_COUNTS = ("kept", "over_threshold", "reset")


class MetricsLogger:
    """Accumulates update metrics on the device (no host sync per update) and writes them at ``flush``.

    Scalars land in ``<run_dir>/logs`` (CSV: ``logs/scalars/<name>.csv``; or
    TensorBoard event files). Per-task series are named ``<metric>/<task>``.
    """

    def __init__(self, run_dir: str | Path, backend: str, task_names: Sequence[str]) -> None:
        if backend == "csv":
            self.logger: Logger = CSVLogger(exp_name="logs", log_dir=str(run_dir))
        elif backend == "tensorboard":
            self.logger = TensorboardLogger(exp_name="logs", log_dir=str(run_dir))
        else:
            raise ValueError(f"logger backend must be 'csv' or 'tensorboard', got {backend!r}")
        self.task_names = list(task_names)
        self._sums: dict[str, torch.Tensor] = {}
        self._updates = 0
        self._reward_sum: torch.Tensor | None = None
        self._steps = 0
        self.total_counts: dict[str, torch.Tensor] = {}

    def accumulate(self, metrics: TensorDictBase) -> None:
        """Adds one update's per-task metrics (batch ``[T]``)."""
        for key in _MEANS + _COUNTS:
            value = metrics.get(key).detach().to(torch.float64)
            self._sums[key] = self._sums[key] + value if key in self._sums else value.clone()
        self._updates += 1

    def accumulate_episodes(self, batch: TensorDictBase) -> None:
        """Adds a collector batch's rewards (per env, summed over time)."""
        reward = batch.get(("next", "reward")).detach().reshape(batch.shape[0], -1).sum(-1).to(torch.float64)
        self._reward_sum = reward if self._reward_sum is None else self._reward_sum + reward
        self._steps += batch.shape[-1] if batch.ndim > 1 else 1

    def log_scalar(self, name: str, value: float, step: int) -> None:
        self.logger.log_scalar(name, float(value), step=step)

    def _log_per_task(self, name: str, values: Sequence[float], step: int) -> None:
        for task, value in zip(self.task_names, values):
            self.log_scalar(f"{name}/{task}", value, step)

    def flush(self, frames: int, extra: dict[str, float]) -> None:
        """Writes the averages since the last flush (the only host sync of the metrics)."""
        for key, value in extra.items():
            self.log_scalar(key, value, frames)
        if self._updates:
            for key in _MEANS:
                per_task = (self._sums[key] / self._updates).tolist()
                self._log_per_task(key, per_task, frames)
                self.log_scalar(f"{key}/mean", sum(per_task) / len(per_task), frames)
            for key in _COUNTS:
                counts = self._sums[key]
                self.total_counts[key] = self.total_counts.get(key, torch.zeros_like(counts)) + counts
                self._log_per_task(f"{key}_count", self.total_counts[key].tolist(), frames)
                self.log_scalar(f"{key}_count/total", float(self.total_counts[key].sum()), frames)
        if self._reward_sum is not None and self._steps:
            num_envs = self._reward_sum.shape[0]
            per_env = (self._reward_sum / self._steps).reshape(len(self.task_names), num_envs // len(self.task_names))
            self._log_per_task("train_reward", per_env.mean(-1).tolist(), frames)
        self._sums, self._updates, self._reward_sum, self._steps = {}, 0, None, 0

    def state_dict(self) -> dict:
        """Running sums and cumulative counts (tensors and ints only), for checkpoints."""
        return {
            "sums": dict(self._sums),
            "updates": self._updates,
            "reward_sum": self._reward_sum,
            "steps": self._steps,
            "total_counts": dict(self.total_counts),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict`: a resumed run logs what an uninterrupted one would."""
        self._sums = dict(state["sums"])
        self._updates = int(state["updates"])
        self._reward_sum = state["reward_sum"]
        self._steps = int(state["steps"])
        self.total_counts = dict(state["total_counts"])

    def log_evaluation(self, results: dict, frames: int) -> None:
        self.log_scalar("eval/mean_success", results["mean_success"], frames)
        for task, value in results["per_task_success"].items():
            self.log_scalar(f"eval_success/{task}", value, frames)


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
