"""``algo=`` registry: PaCo, its ablations and baselines expressed as configurations of the same parts."""
from __future__ import annotations

from paco_torchrl.baselines.registry import ALGOS, Algo, build_paco_networks

__all__ = ["ALGOS", "Algo", "build_paco_networks"]
