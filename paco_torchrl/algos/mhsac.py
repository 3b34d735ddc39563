"""Multi-head SAC (``algo=mhsac``, §4.3): shared trunk ``φ'`` (observation only), one output head per task.

PaCo's networks with ``K = T`` and a fixed one-hot ``W`` where only the output layer is
compositional: ``[ψ_1 … ψ_T]``, ``w_τ = e_τ`` (:func:`~paco_torchrl.algos.single_task.build_one_hot_networks`).
"""
from __future__ import annotations

import functools

from paco_torchrl.algos.base import Algo
from paco_torchrl.algos.single_task import build_one_hot_networks

build_mhsac_networks = functools.partial(build_one_hot_networks, compositional="output")

MHSAC = Algo("mhsac", "Multi-head SAC: shared trunk, one output head per task (K=T, fixed one-hot w)",
             build_mhsac_networks, False, False, ("network.init",))
