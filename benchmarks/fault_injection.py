"""Exploding-task robustness: one task's reward ×1e6 (or NaN) mid-run, PaCo vs PaCo-Vanilla vs a clean run.

    python benchmarks/fault_injection.py                       # toy env, 4 tasks, seeds 0 1 2
    python benchmarks/fault_injection.py --seeds 0 --kind nan
    python benchmarks/fault_injection.py --metaworld --frames 30000 --seeds 0
    python benchmarks/fault_injection.py --metaworld --frames 90000 --at-frame 30000 --until-frame 36000 \
        --capacity 10000 --seeds 0 --out runs/fault_transient   # transient fault: does the task recover?
    python benchmarks/fault_injection.py --variants paco "clean paco" ...   # some variants, in this order

With ``--out``, runs checkpoint ten times (replay included) and the same command continues them: a
finished run (``results.json`` at its last frame) is reported, not rerun; an interrupted one resumes from
its checkpoint (its "wall s" then counts the last segment only).

Runs ``paco_torchrl.training.train`` for every (variant, seed) and prints one row per run:
the faulty task's and the other tasks' final success, the other tasks' critic loss and reward per step
(last logging interval), how many updates dropped the faulty task (``over_threshold``) and how often
its ``w`` was reset.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

from paco_torchrl.training import load_config, train

CONFIG = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "mt10_rand.yaml"

TOY = [
    "env.benchmark=toy", "env.num_toy_tasks=4", "env.max_episode_steps=20", "collector.init_random_frames=800",
    "collector.updates_per_step=2", "optim.batch_size=256", "optim.gamma=0.9", "network.num_cells=[64,64]",
    "paco.num_param_sets=2", "eval.episodes_per_task=20", "logger.interval_frames=2000",
]
METAWORLD = [
    "env.tasks=[reach-v3,drawer-close-v3,window-open-v3]", "collector.init_random_frames=3000",
    "optim.batch_size=384", "network.num_cells=[256,256]", "paco.num_param_sets=3", "eval.episodes_per_task=5",
    "logger.interval_frames=3000",
]
VARIANTS = {"clean paco": ("paco", False), "paco": ("paco", True), "paco_vanilla": ("paco_vanilla", True)}


def last_value(path: Path) -> float:
    rows = [r for r in csv.reader(path.open()) if len(r) == 2]
    return float(rows[-1][1]) if rows else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--frames", type=int, default=16_000)
    parser.add_argument("--at-frame", type=int, default=None, help="first faulty frame (default: frames/3)")
    parser.add_argument("--until-frame", type=int, default=None, help="first clean frame again (default: never)")
    parser.add_argument("--capacity", type=int, default=None, help="replay.capacity_per_env (small: the fault leaves)")
    parser.add_argument("--kind", default="scale", choices=["scale", "nan", "inf"])
    parser.add_argument("--metaworld", action="store_true", help="three Meta-World tasks instead of the toy env")
    parser.add_argument("--out", type=Path, default=None, help="keep the run directories here")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), metavar="VARIANT",
                        help=f"which runs, in this order (default: all of {', '.join(VARIANTS)})")
    args = parser.parse_args()
    base = (METAWORLD if args.metaworld else TOY) + [
        f"collector.total_frames={args.frames}", f"eval.interval_frames={args.frames}",
        "progress=false", "threads=1", "device=cpu",
    ]
    if args.out is None:  # nothing to resume: one checkpoint at the end, no replay in it
        base += [f"checkpoint.interval_frames={args.frames}", "checkpoint.replay=false"]
    else:
        base += [f"checkpoint.interval_frames={max(1000, args.frames // 10)}", "checkpoint.replay=true"]
    at_frame = args.at_frame if args.at_frame is not None else args.frames // 3
    if args.capacity is not None:
        base.append(f"replay.capacity_per_env={args.capacity}")
    if args.until_frame is not None:  # evaluate often enough to see the task fall and recover
        base = [o for o in base if not o.startswith("eval.interval_frames=")]
        base.append(f"eval.interval_frames={max(1000, args.frames // 30)}")
    root = args.out or Path(tempfile.mkdtemp(prefix="fault-"))
    print(f"fault: task 0 reward {'x1e6' if args.kind == 'scale' else args.kind} from frame {at_frame} "
          f"{'' if args.until_frame is None else f'until {args.until_frame} '}of "
          f"{args.frames}; {'Meta-World' if args.metaworld else 'toy'}; run dirs in {root}")
    print("| variant | seed | faulty task success | other tasks' success | other tasks' critic loss | "
          "other tasks' reward/step | updates dropping it | w resets | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    summary: dict[str, list[float]] = {}
    curves: list[str] = []
    for seed in args.seeds:
        for name in args.variants:
            algo, faulty = VARIANTS[name]
            run = root / f"{name.replace(' ', '_')}-s{seed}"
            overrides = base + [f"algo={algo}", f"seed={seed}", f"output_dir={run}"]
            if faulty:
                overrides += ["fault.task=0", f"fault.at_frame={at_frame}", f"fault.kind={args.kind}"]
                if args.until_frame is not None:
                    overrides.append(f"fault.until_frame={args.until_frame}")
            done = run / "results.json"
            results = json.loads(done.read_text()) if done.exists() else {}
            if results.get("frames", 0) >= args.frames:
                wall = float("nan")  # finished in an earlier call
            else:
                if (run / "checkpoint.pt").exists():
                    overrides.append(f"resume={run}")
                cfg = load_config(CONFIG, overrides)
                start = time.perf_counter()
                results = train(cfg)
                wall = time.perf_counter() - start
            per_task = list(results["per_task_success"].values())
            names = list(results["per_task_success"])
            others = statistics.mean(per_task[1:])
            scalars = run / "logs" / "scalars"
            dropped = last_value(scalars / "over_threshold_count" / f"{names[0]}.csv")
            resets = last_value(scalars / "reset_count" / f"{names[0]}.csv")
            q_loss = statistics.mean(last_value(scalars / "loss_qvalue" / f"{n}.csv") for n in names[1:])
            reward = statistics.mean(last_value(scalars / "train_reward" / f"{n}.csv") for n in names[1:])
            summary.setdefault(name, []).append(others)
            print(f"| {name} | {seed} | {per_task[0]:.2f} | {others:.3f} | {q_loss:.3g} | {reward:.3g} | {dropped:.0f} "
                  f"| {resets:.0f} | {wall:.0f} |", flush=True)
            if args.until_frame is not None:  # the faulty task's fall and recovery
                rows = list(csv.reader((scalars / "eval_success" / f"{names[0]}.csv").open()))
                curves.append(f"{name} seed {seed}, {names[0]} success by frame: "
                              + " ".join(f"{int(float(f))}:{float(v):.1f}" for f, v in rows))
                # the task's own learning signal per logging interval, before, during and after the fault
                for metric in ("train_reward", "loss_qvalue", "reset_count"):
                    rows = [r for r in csv.reader((scalars / metric / f"{names[0]}.csv").open()) if len(r) == 2]
                    curves.append(f"    {metric}: " + " ".join(f"{int(float(f))}:{float(v):.3g}" for f, v in rows))
    print()
    print("\n".join(curves))
    for name, values in summary.items():
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{name}: other tasks' success {100 * statistics.mean(values):.1f} ± {100 * sd:.1f} % "
              f"({len(values)} seeds)")


if __name__ == "__main__":
    main()
