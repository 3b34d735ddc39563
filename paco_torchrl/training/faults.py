"""Fault injection: one task's reward explodes or turns non-finite, to test PaCo's protection."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from omegaconf import DictConfig
from tensordict import TensorDictBase


class RewardFault:
    """Corrupts the reward of one task in collected batches from a given frame on (until another).

    ``kind="scale"`` multiplies the reward by ``scale`` (``1e6`` by default: the
    exploding-loss case of §3.3 of the paper), ``"nan"`` / ``"inf"`` replace it by
    a non-finite value. The corrupted rewards go to the replay buffer, so the
    task's critic loss explodes (or turns non-finite) a few updates later. With
    ``until_frame`` the fault ends there: new data is clean again, and once the
    corrupted transitions have left the replay the task can recover. With
    ``task=None`` the fault is off and batches pass unchanged.

    Args:
        task: index of the faulty task, or ``None`` (no fault).
        at_frame: first frame count (after the batch is added) that is corrupted.
        kind: ``"scale"``, ``"nan"`` or ``"inf"``.
        scale: the factor of ``kind="scale"``.
        until_frame: first frame count that is clean again (``None``: the fault lasts).

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> batch = TensorDict({"task_id": torch.tensor([[0], [1]]),
        ...                     "next": {"reward": torch.ones(2, 1, 1)}}, [2, 1])
        >>> fault = RewardFault(task=1, at_frame=10, scale=1e6)
        >>> fault(batch.clone(), frames=8)["next", "reward"].flatten().tolist()
        [1.0, 1.0]
        >>> fault(batch.clone(), frames=10)["next", "reward"].flatten().tolist()
        [1.0, 1000000.0]
        >>> RewardFault(task=1, at_frame=10, until_frame=12)(batch.clone(), frames=12)["next", "reward"].flatten().tolist()
        [1.0, 1.0]
    """

    def __init__(
        self, task: int | None, at_frame: int = 0, kind: str = "scale", scale: float = 1e6, until_frame: int | None = None
    ) -> None:
        if kind not in ("scale", "nan", "inf"):
            raise ValueError(f"kind must be 'scale', 'nan' or 'inf', got {kind!r}")
        self.task = task
        self.at_frame = at_frame
        self.kind = kind
        self.scale = scale
        self.until_frame = until_frame

    @classmethod
    def from_config(cls, cfg: DictConfig, task_names: Sequence[str]) -> RewardFault:
        """The fault of a run config's ``fault`` section (task given by name or index)."""
        f = cfg.fault
        task = f.task
        if isinstance(task, str):
            task = list(task_names).index(task)
        return cls(task, f.at_frame, f.kind, f.scale, f.get("until_frame"))

    @property
    def enabled(self) -> bool:
        return self.task is not None

    def __call__(self, batch: TensorDictBase, frames: int) -> TensorDictBase:
        """Corrupts ``batch`` in place (when active) and returns it."""
        if self.task is None or frames < self.at_frame or (self.until_frame is not None and frames >= self.until_frame):
            return batch
        reward = batch.get(("next", "reward"))
        hit = (batch.get("task_id") == self.task).reshape(*reward.shape[:-1], 1)
        if self.kind == "scale":
            bad = reward * self.scale
        else:
            bad = torch.full_like(reward, float("nan") if self.kind == "nan" else float("inf"))
        batch.set(("next", "reward"), torch.where(hit, bad, reward))
        return batch
