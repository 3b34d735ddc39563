"""Transfer a trained run's parameter set ``Φ`` to new tasks, against training from scratch (App. A.3).

    python recipes/transfer.py source=runs/mt10 tasks=[reach-wall-v3]
    python recipes/transfer.py source=runs/k2_mt3 tasks=[drawer-close-v3] collector.total_frames=60000
    python recipes/transfer.py source=runs/toy tasks=[rotate-180] mode=transfer w_init=fresh

``source=``, ``tasks=[...]``, ``mode=both|transfer|scratch``, ``w_init=mean|fresh|<source task>``,
``critic=frozen|train`` and any run-config ``key=value``; see :mod:`paco_torchrl.experiments.transfer`.
"""
from __future__ import annotations

import sys

from paco_torchrl.experiments.transfer import main

if __name__ == "__main__":
    sys.exit(main())
