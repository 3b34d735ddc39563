"""End-to-end frames/s of the recipe (collection + updates + logging), for collection and compile options.

    python benchmarks/end_to_end.py                               # MT10, paper networks, 2000 frames of updates
    python benchmarks/end_to_end.py --cells 64 64 --frames 4000   # small networks: collection matters more

Every variant trains the same config from scratch (``init_random_frames`` of uniform random actions
first) and the figure is the frames/s over the frames with updates (1 update per vector step, the
paper's ratio) after the first logging interval with updates (which holds compilation and warm-up),
read from the run's ``frames_per_second`` log. The 20M-frame projection is 20e6 / that rate.
"""
from __future__ import annotations

import argparse
import csv
import platform
import tempfile
import time
from pathlib import Path

import torch

from paco_torchrl.training import load_config, train

CONFIG = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "mt10_rand.yaml"

VARIANTS = {
    "sync, 1 step/batch": [],
    "sync, 10 steps/batch": ["collector.steps_per_batch=10"],
    "async, 10 steps/batch": ["collector.steps_per_batch=10", "collector.async_collection=true"],
    "sync, compile": ["compile=true"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000, help="frames with updates (after the random ones)")
    parser.add_argument("--random-frames", type=int, default=1500)
    parser.add_argument("--cells", type=int, nargs="+", default=[400, 400, 400])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--interval", type=int, default=500, help="logging interval (divides both frame counts)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    cells = "[" + ",".join(map(str, args.cells)) + "]"
    total = args.random_frames + args.frames
    base = [
        f"collector.total_frames={total}", f"collector.init_random_frames={args.random_frames}",
        f"network.num_cells={cells}", f"logger.interval_frames={args.interval}",
        f"eval.interval_frames={10 * total}", "eval.episodes_per_task=1", f"checkpoint.interval_frames={10 * total}",
        "checkpoint.replay=false", "progress=false", f"threads={args.threads}", "device=auto",
    ]
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"cuda={torch.cuda.is_available()}, threads {args.threads}; MT10, cells={args.cells}, "
          f"{args.frames} frames with updates after {args.random_frames} random")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.variants:
            run = Path(tmp) / name.replace(" ", "_").replace(",", "").replace("/", "-")
            cfg = load_config(CONFIG, base + VARIANTS[name] + [f"output_dir={run}"])
            start = time.perf_counter()
            train(cfg)
            wall = time.perf_counter() - start
            rows = list(csv.reader((run / "logs" / "scalars" / "frames_per_second.csv").open()))
            # the log holds frames/elapsed since the start: elapsed = frames / fps at each row
            points = {int(float(f)): float(f) / float(r) for f, r in rows}
            first = min(f for f in points if f >= args.random_frames + args.interval)
            last = max(points)
            fps = (last - first) / (points[last] - points[first])
            random_end = min(f for f in points if f >= args.random_frames)
            random_fps = random_end / points[random_end]
            print(f"{name:24s} {fps:7.1f} frames/s with updates  (random phase {random_fps:6.0f} frames/s; "
                  f"wall {wall:5.0f} s; "
                  f"20M frames: {20e6 / fps / 3600:6.1f} h)", flush=True)


if __name__ == "__main__":
    main()
