"""Replay with per-task balanced sampling."""
from __future__ import annotations

from paco_torchrl.data.balanced import SAC_KEYS, TaskBalancedReplayBuffer, TaskBalancedSampler

__all__ = ["SAC_KEYS", "TaskBalancedReplayBuffer", "TaskBalancedSampler"]
