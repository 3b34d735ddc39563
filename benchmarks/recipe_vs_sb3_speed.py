"""Wall-clock per frame of the recipe with one Meta-World task vs Stable-Baselines3's SAC, side by side.

    pip install -e ".[bench]"
    python benchmarks/recipe_vs_sb3_speed.py                       # reach-v3, 2x256, batch 256, 2 rounds
    python benchmarks/recipe_vs_sb3_speed.py --variants eager compile --frames 8000 --rounds 3

The setting of ``sb3_parity.py`` (one MT10 task with its 50 goals, 150-step episodes, 2x256 networks,
batch 256, one update per frame, one torch thread each), measured in the steady state: frames/s between
``--window-start`` and ``--frames``, so start-up, the first updates and ``torch.compile``'s compilation
(the ``compile`` variant) are outside the window, and so is evaluation (the recipe evaluates only at its
end here; SB3 not at all). Each variant runs in its own process, one after another, rounds alternating
between all of them so that machine noise hits them alike; the figure is the median over rounds.
Nothing else should run on the machine meanwhile.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"eager": [], "compile": ["compile=true"],  # the recipe's overrides per variant
            "compile-torchrl-replay": ["compile=true", "replay.direct=false"]}


def run_recipe(args: argparse.Namespace, extra: list[str], out: Path) -> float:
    """The recipe's steady-state frames/s, read from its cumulative ``frames_per_second`` log."""
    cmd = [
        sys.executable, str(ROOT / "recipes" / "mt10_rand.py"), f"env.tasks=[{args.task}]", f"algo={args.algo}",
        "seed=0", "threads=1", "progress=false", f"output_dir={out}",
        f"network.num_cells=[{','.join(map(str, args.cells))}]", f"optim.batch_size={args.batch}",
        f"collector.total_frames={args.frames}", f"collector.init_random_frames={args.learning_starts}",
        f"eval.interval_frames={10 * args.frames}", "eval.episodes_per_task=1",
        f"checkpoint.interval_frames={10 * args.frames}", f"logger.interval_frames={args.log_interval}", *extra,
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, OMP_NUM_THREADS="1"))
    # cumulative frames/s since the start at frame f -> elapsed(f) = f / fps(f)
    elapsed = {}
    for line in (out / "logs" / "scalars" / "frames_per_second.csv").read_text().splitlines():
        frames, fps = line.split(",")
        elapsed[int(float(frames))] = int(float(frames)) / float(fps)
    start = min(f for f in elapsed if f >= args.window_start)
    end = max(elapsed)
    return (end - start) / (elapsed[end] - elapsed[start])


def run_sb3(args: argparse.Namespace) -> float:
    """SB3 SAC's steady-state frames/s on the same env (timestamps from a callback)."""
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    from paco_torchrl.envs.metaworld import MetaWorldTaskEnv, _benchmark_goals

    torch.set_num_threads(1)
    env = MetaWorldTaskEnv(_benchmark_goals("MT10", 0)[args.task], 150, "v2", seed=(0, 0))
    stamps: dict[int, float] = {}

    class Stamp(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % args.log_interval == 0:
                stamps[self.num_timesteps] = time.perf_counter()
            return True

    model = SAC("MlpPolicy", env, learning_starts=args.learning_starts, batch_size=args.batch, train_freq=1,
                gradient_steps=1, policy_kwargs={"net_arch": list(args.cells)}, seed=0, device="cpu", verbose=0)
    model.learn(total_timesteps=args.frames, callback=Stamp())
    start = min(f for f in stamps if f >= args.window_start)
    end = max(stamps)
    return (end - start) / (stamps[end] - stamps[start])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="reach-v3")
    parser.add_argument("--algo", default="single_task", help="the recipe's algo= (single_task: SAC at T = 1)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--frames", type=int, default=6000)
    parser.add_argument("--window-start", type=int, default=3000, help="first frame of the timed window")
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--log-interval", type=int, default=500)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--cells", nargs="+", type=int, default=[256, 256])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--sb3-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.learning_starts < args.window_start < args.frames:
        parser.error("need --learning-starts < --window-start < --frames")
    if args.sb3_only:  # a child process, so SB3's imports do not share a process with anything timed
        print(json.dumps(run_sb3(args)))
        return
    fps: dict[str, list[float]] = {"SB3 SAC": [], **{f"recipe {v}": [] for v in args.variants}}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            child = subprocess.run([sys.executable, __file__, "--sb3-only", *sys.argv[1:]], check=True,
                                   capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
            fps["SB3 SAC"].append(json.loads(child.stdout.strip().splitlines()[-1]))
            for v in args.variants:
                fps[f"recipe {v}"].append(run_recipe(args, VARIANTS[v], Path(tmp) / f"{v}-{r}"))
            print(f"round {r}: " + ", ".join(f"{k} {vals[-1]:.1f}" for k, vals in fps.items()), flush=True)
    base = statistics.median(fps["SB3 SAC"])
    print(f"{args.task}, algo={args.algo}, cells={args.cells}, batch={args.batch}, one update per frame; "
          f"frames/s over frames {args.window_start}-{args.frames}, median of {args.rounds} rounds")
    summary = {}
    for name, vals in fps.items():
        med = statistics.median(vals)
        summary[name] = {"frames_per_second": med, "rounds": vals, "vs_sb3_frames_per_second": med / base}
        print(f"{name:16s} {med:6.1f} frames/s  {med / base:5.2f}x SB3's frames/s  "
              f"(wall-clock per frame {base / med:4.2f}x SB3's; rounds: {', '.join(f'{v:.1f}' for v in vals)})")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
