"""Run a grid of variants × seeds with a training recipe (``recipes/mt10_rand.py`` by default).

    python recipes/sweep.py --out runs/table1 --tables 1 --seeds 0 1 2 3 4 5 6 7 8 9
    python recipes/sweep.py --out runs/table3 --tables 3 --seeds 0 1 2 --jobs 2
    python recipes/sweep.py --out runs/mine --algos paco mtsac mhsac --seeds 0 1 \\
        --variant paco:paco.num_param_sets=3 env.tasks=[reach-v3,push-v3]
    python recipes/sweep.py --out runs/table1 --tables 1 --seeds 0 1 2 --launcher ray --gpus-per-run 1
    python recipes/sweep.py --out runs/table1 --tables 1 --seeds 0 1 2 --launcher slurm --slurm-partition gpu \
        --slurm-time 4:00:00 --gpus-per-run 1 --cpus-per-run 8
    python recipes/report.py runs/table1 --out runs/table1/report.md

``--help`` lists the options; the sweep itself is :mod:`paco_torchrl.experiments.sweep`.
"""
from __future__ import annotations

import sys
from pathlib import Path

from paco_torchrl.experiments.sweep import main

if __name__ == "__main__":
    sys.exit(main(recipes=Path(__file__).resolve().parent))
