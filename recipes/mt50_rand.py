"""Train PaCo on Meta-World MT50 with random goals (MT50-rand), with the MT10-rand loop.

    python recipes/mt50_rand.py                         # 50 envs, 100M frames (2M per task)
    python recipes/mt50_rand.py seed=1 output_dir=runs/mt50-s1

Every key of ``recipes/configs/mt50_rand.yaml`` (which extends ``mt10_rand.yaml``) can be
overridden as ``key=value``.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mt10_rand import main  # noqa: E402  (the same loop, another config)

if __name__ == "__main__":
    sys.exit(main(Path(__file__).parent / "configs" / "mt50_rand.yaml"))
