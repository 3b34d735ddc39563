"""Frames/s of the MT10 recipe for each env backend and collector mode, a fixed wall-clock time each.

    python benchmarks/recipe_backends.py                       # 45 s per variant, paper networks, device=auto
    python benchmarks/recipe_backends.py --seconds 30 --variants gym_vector/sync parallel/sync

Each variant runs ``python recipes/mt10_rand.py`` (MT10, 10 envs, PaCo K=5, 3x400, batch 1280,
one update per vector step) for ``--seconds`` and is then stopped with SIGINT, which is also a check
that an interrupted run ends cleanly (exit 130, one line). The figure is the frames/s with updates,
between the first log row after the random phase and the last one (the run's
``frames_per_second`` log holds frames / elapsed since the start), and 20M frames at that rate.
The fastest variant is what ``env.backend=auto`` should pick on that machine.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "gym_vector/sync": ["env.backend=gym_vector"],
    "gym_vector/async": ["env.backend=gym_vector", "collector.async_collection=true"],
    "parallel/sync": ["env.backend=parallel"],
    "parallel/async": ["env.backend=parallel", "collector.async_collection=true"],
    "gym_vector/sync+cudagraphs": ["env.backend=gym_vector", "cudagraphs=true"],
}


def rate_with_updates(fps_csv: Path, random_frames: int, interval: int) -> tuple[float, int] | None:
    """Frames/s between the first log row past ``random_frames + interval`` and the last row, and the frames."""
    if not fps_csv.is_file():
        return None
    rows = list(csv.reader(fps_csv.open()))
    points = {int(float(f)): float(f) / float(r) for f, r in rows if float(r) > 0}  # frames -> elapsed s
    after = [f for f in points if f >= random_frames + interval]
    if len(after) < 2:
        return None
    first, last = min(after), max(after)
    return (last - first) / (points[last] - points[first]), last - first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0, help="wall-clock per variant, env start included")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=None,
                        help="default: all (the cudagraphs one only with CUDA)")
    parser.add_argument("--random-frames", type=int, default=2000)
    parser.add_argument("--interval", type=int, default=1000, help="log interval in frames")
    parser.add_argument("--device", default="auto")
    parser.add_argument("extra", nargs="*", help="more key=value overrides for every variant")
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and args.device != "cpu"
    variants = args.variants or [v for v in VARIANTS if cuda or "cudagraphs" not in v]
    name = torch.cuda.get_device_name() if cuda else (platform.processor() or platform.machine())
    print(f"device: {name}, {os.cpu_count()} CPU cores; torch {torch.__version__}; MT10 recipe defaults "
          f"(K=5, 3x400, batch 1280); {args.seconds:.0f} s per variant, {args.random_frames} random frames first",
          flush=True)
    base = [
        f"collector.init_random_frames={args.random_frames}", f"logger.interval_frames={args.interval}",
        "eval.interval_frames=100000000", "checkpoint.interval_frames=100000000", "checkpoint.replay=false",
        "progress=false", f"device={args.device}", *args.extra,
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            run = Path(tmp) / variant.replace("/", "_").replace("+", "_")
            cmd = [sys.executable, str(ROOT / "recipes" / "mt10_rand.py"), *base, *VARIANTS[variant],
                   f"output_dir={run}"]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                proc.wait(timeout=args.seconds)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            last_line = (err.strip().splitlines() or [""])[-1][:200]
            rate = rate_with_updates(run / "logs" / "scalars" / "frames_per_second.csv", args.random_frames,
                                     args.interval)
            if rate is None:
                print(f"{variant:28s} no rate (exit {proc.returncode}): {last_line}", flush=True)
                errors = [line for line in err.splitlines() if "Error" in line or "error" in line][-4:]
                for line in errors:  # the cause, when the last line is only a warning
                    print(f"{'':28s}   {line[:240]}", flush=True)
                continue
            fps, frames = rate
            print(f"{variant:28s} {fps:8.1f} frames/s with updates over {frames} frames; 20M frames: "
                  f"{20e6 / fps / 3600:6.1f} h  (exit {proc.returncode}: {last_line})", flush=True)


if __name__ == "__main__":
    main()
