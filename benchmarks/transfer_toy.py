"""Toy-env transfer with a frozen Φ vs training from scratch (results: ``transfer_toy.md``).

    python benchmarks/transfer_toy.py                       # seeds 0 1, 4000 transfer frames
    python benchmarks/transfer_toy.py --seeds 0 1 2 --frames 2000

For each seed: PaCo (K=3, the toy learning test's settings) trains on three of the four toy tasks
(rotate-0, rotate-90, rotate-270; 12 000 frames), then ``recipes/transfer.py`` learns the held-out
rotate-180 with that run's Φ frozen (only w and α, w starting at the mean of the learned rows) and,
at the same budget and seed, the same agent from scratch. Prints a markdown table of the final
success (20 deterministic episodes) and whether Φ stayed bit-identical.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import torch

from paco_torchrl.experiments import transfer
from paco_torchrl.training import load_config, train

CONFIG = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "mt10_rand.yaml"

SOURCE = [
    "env.benchmark=toy", "env.num_toy_tasks=4", "env.tasks=[rotate-0,rotate-90,rotate-270]",
    "env.max_episode_steps=20", "collector.total_frames=12000", "collector.init_random_frames=600",
    "collector.updates_per_step=2", "optim.batch_size=192", "optim.gamma=0.9", "network.num_cells=[64,64]",
    "paco.num_param_sets=3", "eval.interval_frames=3000", "eval.episodes_per_task=20",
    "checkpoint.interval_frames=100000", "logger.interval_frames=1000", "device=cpu", "progress=false",
    "threads=1",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--frames", type=int, default=4000, help="transfer / scratch budget")
    parser.add_argument("--keep", type=Path, default=None, help="keep the runs under this folder")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        for seed in args.seeds:
            source = root / f"source-seed{seed}"
            start = time.perf_counter()
            trained = train(load_config(CONFIG, [*SOURCE, f"seed={seed}", f"output_dir={source}"]))
            source_s = time.perf_counter() - start
            start = time.perf_counter()
            comparison = transfer.run_transfer(
                source, ["rotate-180"],
                [f"collector.total_frames={args.frames}", "eval.interval_frames=500", "logger.interval_frames=250"],
                output_dir=root / f"transfer-seed{seed}",
            )
            rows.append((seed, trained["mean_success"], comparison["transfer"]["mean_success"],
                         comparison["scratch"]["mean_success"], comparison["phi_bit_identical"], source_s,
                         time.perf_counter() - start))
            print(rows[-1], flush=True)
    print(f"\n| seed | source success (3 tasks) | transfer rotate-180 ({args.frames} frames) | "
          "scratch rotate-180 | Φ bit-identical | source s | transfer+scratch s |")
    print("|---|---|---|---|---|---|---|")
    for seed, src, moved, scratch, same, s1, s2 in rows:
        print(f"| {seed} | {src:.3f} | {moved:.2f} | {scratch:.2f} | {same} | {s1:.0f} | {s2:.0f} |")


if __name__ == "__main__":
    main()
