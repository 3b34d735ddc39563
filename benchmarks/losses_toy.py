"""Toy-env comparison of the ``loss=`` choices with PaCo networks (results: ``losses_toy.md``).

    python benchmarks/losses_toy.py                      # sac td3 redq crossq, seeds 0 1
    python benchmarks/losses_toy.py --losses td3 --seeds 0 1 2 --set optim.lr=1e-3

Runs the MT10-rand recipe sequentially, one torch thread, on the toy multi-task env with the
settings of ``tests/test_recipe.py::test_paco_learns_the_toy_env`` (4 tasks, 20-step episodes,
16k frames, 2 updates per vector step, batch 256, γ=0.9, [64, 64], K=2), evaluating 20
deterministic episodes per task at the end, and prints a markdown table.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from paco_torchrl.training import load_config, train

CONFIG = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "mt10_rand.yaml"

TOY = [
    "env.benchmark=toy", "env.num_toy_tasks=4", "env.max_episode_steps=20",
    "collector.total_frames=16000", "collector.init_random_frames=800", "collector.updates_per_step=2",
    "optim.batch_size=256", "optim.gamma=0.9", "network.num_cells=[64,64]", "paco.num_param_sets=2",
    "eval.interval_frames=100000", "eval.episodes_per_task=20", "checkpoint.interval_frames=100000",
    "logger.interval_frames=2000", "device=cpu", "progress=false", "threads=1",
]


def run(loss: str, seed: int, overrides: list[str] = ()) -> tuple[float, float, dict]:
    """``(mean success, wall-clock seconds, per-task success)`` of one run."""
    with tempfile.TemporaryDirectory() as out:
        cfg = load_config(
            CONFIG, [*TOY, f"loss={loss}", f"seed={seed}", f"output_dir={out}", *overrides]
        )
        start = time.perf_counter()
        results = train(cfg)
        return results["mean_success"], time.perf_counter() - start, results["per_task_success"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", nargs="+", default=["sac", "td3", "redq", "crossq"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra config overrides")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.set_num_threads(1)
    rows = []
    for loss in args.losses:
        for seed in args.seeds:
            success, seconds, per_task = run(loss, seed, args.set)
            worst = min(per_task.values())
            print(f"{loss} seed {seed}: mean success {success:.3f} (worst task {worst:.2f}) in {seconds:.0f} s",
                  file=sys.stderr, flush=True)
            rows.append((loss, seed, success, worst, seconds))
    print("| loss | seed | mean success | worst task | wall-clock (s) |")
    print("|---|---|---|---|---|")
    for loss, seed, success, worst, seconds in rows:
        print(f"| {loss} | {seed} | {success:.3f} | {worst:.2f} | {seconds:.0f} |")
    for loss in args.losses:
        mine = [r for r in rows if r[0] == loss]
        mean = sum(r[2] for r in mine) / len(mine)
        secs = sum(r[4] for r in mine) / len(mine)
        print(f"| **{loss}** | mean | {mean:.3f} | | {secs:.0f} |")


if __name__ == "__main__":
    main()
