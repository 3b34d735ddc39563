"""Networks of the published MTRL baselines (SAC+FiLM, Soft-Modularization, CARE, MOORE), all ``net(x, task_id)``."""
from __future__ import annotations

from paco_torchrl.modules.baselines.care import CARENet, load_task_embeddings
from paco_torchrl.modules.baselines.common import build_actor_critics, make_actor_from_net, make_qvalue_from_net
from paco_torchrl.modules.baselines.film import FiLMMLP
from paco_torchrl.modules.baselines.moore import MOORENet, gram_schmidt
from paco_torchrl.modules.baselines.soft_modules import SoftModularNet

__all__ = [
    "CARENet",
    "FiLMMLP",
    "MOORENet",
    "SoftModularNet",
    "build_actor_critics",
    "gram_schmidt",
    "load_task_embeddings",
    "make_actor_from_net",
    "make_qvalue_from_net",
]
