"""Train PaCo on Meta-World MT50 with random goals (MT50-rand), with the MT10-rand loop.

    python recipes/mt50_rand.py                         # 50 envs, 100M frames (2M per task)
    python recipes/mt50_rand.py seed=1 output_dir=runs/mt50-s1

Every key of ``recipes/configs/mt50_rand.yaml`` (which extends ``mt10_rand.yaml``) can be
overridden as ``key=value`` (``--help`` lists them).
"""
from __future__ import annotations

import sys
from pathlib import Path

from paco_torchrl.training.cli import main

CONFIG = Path(__file__).parent / "configs" / "mt50_rand.yaml"

if __name__ == "__main__":
    sys.exit(main(CONFIG))
