"""Train PaCo on Meta-World MT10 with random goals (the paper's MT10-rand).

    python recipes/mt10_rand.py                                  # the paper's protocol, 20M frames
    python recipes/mt10_rand.py seed=1 paco.num_param_sets=8 output_dir=runs/k8
    python recipes/mt10_rand.py env.tasks=[reach-v3,drawer-close-v3] collector.total_frames=200000
    python recipes/mt10_rand.py --help                           # every key, its default and what it does

Every key of ``recipes/configs/mt10_rand.yaml`` can be overridden as ``key=value``. The run
directory gets ``config.yaml``, ``logs/`` (CSV or TensorBoard scalars), ``checkpoint.pt`` and
``results.json`` (rewritten at every evaluation). ``resume=<run_dir>`` continues a run. The loop is
:func:`paco_torchrl.training.train`; this script only names the config.
"""
from __future__ import annotations

import sys
from pathlib import Path

from paco_torchrl.training.cli import main

CONFIG = Path(__file__).parent / "configs" / "mt10_rand.yaml"

if __name__ == "__main__":
    sys.exit(main(CONFIG))
