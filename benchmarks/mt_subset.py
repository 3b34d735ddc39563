"""Multi-task learning on a Meta-World MT10 subset: PaCo vs MT-SAC vs MH-SAC vs single-task SAC, seeds.

Tasks: reach and drawer-close (the two MT10 tasks SAC learns within ~50k frames, ``benchmarks/sb3_parity/``),
drawer-open, which pulls the same drawer the other way as drawer-close, and window-open. SB3's SAC
screened at 0.0-0.1 success through 50k single-task frames on window-open, door-open, drawer-open and
button-press-topdown. Here each task gets 50k frames (``--frames-per-task``).
Sized for a 2-core CPU (the paper's protocol otherwise: balanced batch, one update per vector step,
the original's loss weighting, init, ε and w-reset, evaluation on the training goal set):
2×256 networks, batch 256 (64 per task), K=3, 50k frames per task (200k per run), 1.5k warm-up
frames per env as the original. The runs are ``recipes/sweep.py`` runs (resumable: run the same
command again). Run folders live only as long as the machine, so each finished run's small files
(``config.yaml``, ``results.json`` and its CSV logs; no checkpoints) are kept under
``benchmarks/mt_subset/records/`` (``--record``), and the report is made from those: seeds run on
different machines and sessions add up. The table is ``recipes/report.py``'s (final evaluation of
finished runs) followed by each run's success averaged over its last 3 evaluations, and the mean
success curves (mean ± std over seeds) are drawn as a PNG.

    python benchmarks/mt_subset.py --seeds 0 --algos paco mtsac mhsac   # ≈ 25-35 min per run on an idle core
    python benchmarks/mt_subset.py --seeds 0 1 2                 # all four algorithms, three seeds
    python benchmarks/mt_subset.py --tasks reach drawer-close door-open drawer-open --out runs/mt_subset_b --record benchmarks/mt_subset_b
    python benchmarks/mt_subset.py --report                      # keep finished runs; table + curves of all kept
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

from paco_torchrl.experiments.results import load_run

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("reach-v3", "drawer-close-v3", "window-open-v3", "drawer-open-v3")
ALGOS = ("paco", "mtsac", "mhsac", "single_task")
SETTINGS = (  # plus env.tasks from --tasks, --frames-per-task frames and 1.5k warm-up frames per task
    "network.num_cells=[256,256]", "optim.batch_size=256",
    "paco.num_param_sets=3",
    "eval.interval_frames=20000", "checkpoint.interval_frames=40000", "logger.interval_frames=20000",
    "threads=1", "progress=false",
)
OUT = ROOT / "runs" / "mt_subset"
RECORD = ROOT / "benchmarks" / "mt_subset"


def archive(sweep: Path, runs: Path) -> list[Path]:
    """Copies each finished run under ``sweep`` into ``runs`` (same relative path), keeping only its small
    files: ``config.yaml``, ``results.json`` and the CSV logs. Returns the run folders written.

    A run already kept is replaced by the sweep's copy; unfinished runs are left out (they resume where
    their checkpoints are)."""
    written = []
    for config in sorted(Path(sweep).rglob("config.yaml")):
        run = config.parent
        if load_run(run).status != "finished":
            continue
        dest = runs / run.relative_to(sweep)
        if dest.exists():
            shutil.rmtree(dest)
        for path in [run / "config.yaml", run / "results.json", *sorted((run / "logs").rglob("*.csv"))]:
            target = dest / path.relative_to(run)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        written.append(dest)
    return written


def curves(sweep: Path) -> dict[str, dict[int, list[float]]]:
    """``{variant folder: {frames: [mean success of each seed]}}`` from the runs' CSV logs."""
    out: dict[str, dict[int, list[float]]] = {}
    for csv in sorted(sweep.glob("*/seed*/logs/scalars/eval/mean_success.csv")):
        variant = csv.parents[4].name
        for line in csv.read_text().splitlines():
            frames, value = line.split(",")
            out.setdefault(variant, {}).setdefault(int(float(frames)), []).append(float(value))
    return out


def last_frames(sweep: Path) -> dict[str, dict[int, int]]:
    """``{variant: {seed: frames of the run's last evaluation}}``."""
    out: dict[str, dict[int, int]] = {}
    for csv in sorted(sweep.glob("*/seed*/logs/scalars/eval/mean_success.csv")):
        rows = [line.split(",") for line in csv.read_text().splitlines() if line]
        if rows:
            seed = int(csv.parents[3].name.removeprefix("seed"))
            out.setdefault(csv.parents[4].name, {})[seed] = int(float(rows[-1][0]))
    return out


def late_success(sweep: Path, last: int = 3) -> dict[str, dict[int, dict[str, float]]]:
    """``{variant: {seed: {task: mean success over the run's last `last` evaluations}}}`` from the per-task
    CSV logs of finished runs (unfinished ones are listed by the report, not averaged). One evaluation is 10 episodes per task,
    so a run's final point alone moves by ±0.15 per task (binomial s.e. at p = 0.5); this averages 30."""
    out: dict[str, dict[int, dict[str, float]]] = {}
    for folder in sorted(sweep.glob("*/seed*/logs/scalars/eval_success")):
        variant, seed = folder.parents[2].parent.name, int(folder.parents[2].name.removeprefix("seed"))
        if load_run(folder.parents[2]).status != "finished":
            continue
        per_task = {}
        for csv in sorted(folder.glob("*.csv")):
            values = [float(line.split(",")[1]) for line in csv.read_text().splitlines() if line]
            if len(values) >= last:
                per_task[csv.stem] = sum(values[-last:]) / last
        if per_task:
            out.setdefault(variant, {})[seed] = per_task
    return out


def late_table(data: dict[str, dict[int, dict[str, float]]], frames: dict[str, dict[int, int]], last: int = 3) -> str:
    """Markdown: mean over tasks of :func:`late_success` per variant (mean ± sample std over seeds), then per task."""
    def stats(values: list[float]) -> str:
        mean = sum(values) / len(values)
        if len(values) < 2:
            return f"{100 * mean:.1f}"
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        return f"{100 * mean:.1f} ± {100 * std:.1f}"

    lines = [f"## Success over the last {last} evaluations (%)", "",
             f"Each run's success averaged over its last {last} evaluations (10 episodes per task each), then "
             "mean ± sample std over seeds; `last frames` is each seed's final evaluation.", "",
             "| variant | seeds | last frames | mean over tasks |", "|---|---|---|---|"]
    tasks = list(dict.fromkeys(t for seeds in data.values() for per_task in seeds.values() for t in per_task))
    for variant, seeds in sorted(data.items()):
        means = [sum(per_task.values()) / len(per_task) for per_task in seeds.values()]
        last_frames = ", ".join(str(frames.get(variant, {}).get(seed, "?")) for seed in seeds)
        lines.append(f"| {variant} | {len(seeds)} ({', '.join(map(str, seeds))}) | {last_frames} | {stats(means)} |")
    lines += ["", "| task | " + " | ".join(sorted(data)) + " |", "|---|" + "---|" * len(data)]
    for task in tasks:
        cells = [stats([per_task[task] for per_task in data[v].values() if task in per_task]) for v in sorted(data)]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(data: dict[str, dict[int, list[float]]], path: Path, tasks: tuple[str, ...] = TASKS) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for variant, by_frames in sorted(data.items()):
        frames = sorted(by_frames)
        n = min(len(v) for v in by_frames.values())
        stats = []
        for f in frames:
            v = by_frames[f][:n]
            mean = sum(v) / len(v)
            std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
            stats.append((mean, std))
        line, = ax.plot(frames, [m for m, _ in stats], label=f"{variant} ({n} seeds)")
        ax.fill_between(frames, [m - s for m, s in stats], [m + s for m, s in stats], alpha=0.15,
                        color=line.get_color())
    ax.set_xlabel("frames (all tasks)")
    ax.set_ylabel(f"mean success over the {len(tasks)} tasks")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("MT10 subset: " + ", ".join(t.removesuffix("-v3") for t in tasks), fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS),
                        help="Meta-World v3 task names (one sweep folder per task set: give each its own --out)")
    parser.add_argument("--algos", nargs="+", default=list(ALGOS))
    parser.add_argument("--frames-per-task", type=int, default=50_000,
                        help="training frames per task (a run trains on tasks x this); a sweep folder holds one value")
    parser.add_argument("--out", type=Path, default=OUT, help="sweep folder (run directories)")
    parser.add_argument("--record", type=Path, default=RECORD,
                        help="where table.md, curves.png, curves.json and the kept runs (records/) go")
    parser.add_argument("--report", action="store_true", help="only keep the finished runs and report")
    args = parser.parse_args()
    tasks = tuple(t if t.endswith("-v3") else f"{t}-v3" for t in args.tasks)
    if not args.report:
        subprocess.run([sys.executable, str(ROOT / "recipes" / "sweep.py"), "--out", str(args.out),
                        "--algos", *args.algos, "--seeds", *map(str, args.seeds),
                        f"env.tasks=[{','.join(tasks)}]", f"collector.total_frames={args.frames_per_task * len(tasks)}",
                        f"collector.init_random_frames={1_500 * len(tasks)}", *SETTINGS], check=True)
    runs = args.record / "records"
    if args.out.is_dir():
        for kept in archive(args.out, runs):
            print(f"kept {kept}")
    if not runs.is_dir():
        sys.exit(f"error: no finished runs in {args.out} and none kept in {runs}")
    shown = runs.resolve().relative_to(ROOT) if runs.resolve().is_relative_to(ROOT) else runs.resolve()
    table = subprocess.run([sys.executable, str(ROOT / "recipes" / "report.py"), str(shown)],
                           check=True, capture_output=True, text=True, cwd=ROOT).stdout
    data = curves(runs)
    late = late_success(runs)
    if late:
        table += "\n" + late_table(late, last_frames(runs))
    (args.record / "table.md").write_text(table)
    print(table)
    (args.record / "curves.json").write_text(json.dumps(data, indent=1))
    if data:
        plot(data, args.record / "curves.png", tasks)


if __name__ == "__main__":
    main()
