"""Fig. 3 of the paper: the policy subspace of PaCo with K=2 and w on the unit circle.

    python recipes/subspace_k2.py                                     # train (configs/subspace_k2.yaml), then sweep
    python recipes/subspace_k2.py collector.total_frames=90000 output_dir=runs/k2
    python recipes/subspace_k2.py run=runs/k2 angles=36 episodes=10   # sweep an existing K=2 run only

Trains PaCo with ``K = 2`` and ``paco.normalize_w=true`` on reach, push and peg-insert-side, then
runs the policies ``Φ (cos a, sin a)`` at ``angles`` evenly spaced angles on every task
(:mod:`paco_torchrl.experiments.subspace`). ``key=value`` overrides any key of
``recipes/configs/subspace_k2.yaml``.
"""
from __future__ import annotations

import sys
from pathlib import Path

from paco_torchrl.experiments.subspace import main

CONFIG = Path(__file__).parent / "configs" / "subspace_k2.yaml"

if __name__ == "__main__":
    sys.exit(main(config=CONFIG))
