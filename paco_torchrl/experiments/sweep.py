"""Sweeps: a grid of variants × seeds, each run by a training recipe (``recipes/mt10_rand.py`` by default).

    python recipes/sweep.py --out runs/table1 --tables 1 --seeds 0 1 2 3 4 5 6 7 8 9
    python recipes/sweep.py --out runs/table3 --tables 3 --seeds 0 1 2 --jobs 2
    python recipes/sweep.py --out runs/mine --algos paco mtsac mhsac --seeds 0 1 \\
        --variant paco:paco.num_param_sets=3 env.tasks=[reach-v3,push-v3]
    python recipes/report.py runs/table1 --out runs/table1/report.md

A variant is an ``algo`` (``--algos``), an ``algo`` with its own overrides (``--variant
ALGO:KEY=VALUE,KEY=VALUE``) or a row of the paper's tables (``--tables 1 2 3``; see
``paco_torchrl.experiments.PAPER_ROWS``). Every ``key=value`` argument is passed to every run.
Runs go to ``<out>/<variant>/seed<k>`` (``paco K=3`` -> ``paco_K-3``) and ``<out>/sweep.json``
lists them. A run whose ``results.json`` is at ``collector.total_frames`` is skipped, an
interrupted run with a checkpoint is resumed: run the same command again to continue a sweep.
``--jobs 1`` trains in this process, one run after the other (:func:`paco_torchrl.training.cli.main`
with the recipe's YAML, ``configs/<recipe>.yaml`` beside it); ``--jobs N`` runs N recipe subprocesses
at a time (each logs to ``<run>/sweep.log``; ``threads`` defaults to cores / N).

``--launcher ray`` runs one Ray task per run (:mod:`~paco_torchrl.experiments.ray_launcher`),
``--launcher slurm`` one Slurm job-array task per run through submitit
(:mod:`~paco_torchrl.experiments.slurm_launcher`); both restart a stopped run from its checkpoint
and write into the same ``<out>`` tree (``threads`` defaults to ``--cpus-per-run``). Launcher
settings: :mod:`~paco_torchrl.experiments.launcher_config`.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

from paco_torchrl.algos import ALGOS
from paco_torchrl.experiments.launch import LauncherError, Run, require, resume_args, threads_per_run
from paco_torchrl.experiments.launcher_config import add_arguments, load_launcher_config
from paco_torchrl.experiments.paper import rows_of_tables
from paco_torchrl.experiments.results import SWEEP_MANIFEST, is_finished
from paco_torchrl.experiments.variants import variant_dir, variant_label
from paco_torchrl.training import cli
from paco_torchrl.training.config import ConfigError, load_config, validate_config

# The checkout's recipes (a source install); the recipe command lines pass their own folder.
RECIPES = Path(__file__).resolve().parents[2] / "recipes"
_OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")
_KEY_VALUE_OPTIONS = ("--slurm-extra",)

__all__ = ["Run", "main", "plan", "resume_args"]


def parse_args(argv: list[str], recipes: Path = RECIPES) -> argparse.Namespace:
    """The sweep's arguments; the ``key=value`` ones become ``args.overrides``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="extra key=value: every run")
    parser.add_argument("--out", type=Path, required=True, help="sweep folder")
    parser.add_argument("--algos", nargs="+", default=[], choices=list(ALGOS), metavar="ALGO")
    parser.add_argument("--variant", action="append", default=[], metavar="ALGO:KEY=VALUE[,KEY=VALUE]")
    parser.add_argument("--tables", nargs="+", default=[], help="the paper's rows: 1 2 3 3a 3b later")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (>1: subprocesses)")
    parser.add_argument("--recipe", type=Path, default=recipes / "mt10_rand.py")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    add_arguments(parser)
    # key=value arguments go to every run, except the value of an option that takes one (--slurm-extra)
    is_override = [bool(_OVERRIDE.match(a)) and (i == 0 or argv[i - 1] not in _KEY_VALUE_OPTIONS)
                   for i, a in enumerate(argv)]
    args = parser.parse_args([a for a, o in zip(argv, is_override) if not o])
    args.overrides = [a for a, o in zip(argv, is_override) if o]
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    if not (args.algos or args.variant or args.tables):
        parser.error("nothing to run: give --algos, --variant or --tables")
    if args.launcher != "local" and args.jobs != 1:
        parser.error(f"--jobs is for --launcher local; {args.launcher} runs as many as its resources allow")
    return args


def variant_specs(args: argparse.Namespace) -> list[list[str]]:
    """The overrides that make each requested variant."""
    specs = [[f"algo={a}"] for a in args.algos]
    for text in args.variant:
        algo, _, rest = text.partition(":")
        specs.append([f"algo={algo}", *(o for o in rest.split(",") if o)])
    specs += [list(row.overrides) for row in rows_of_tables(args.tables)]
    return specs


def plan(args: argparse.Namespace, config: Path) -> list[Run]:
    """Every run of the grid (validated, one per variant folder and seed)."""
    defaults = []
    if not any(o.startswith("threads=") for o in args.overrides):
        cpus = args.launcher_cfg.cpus_per_run if args.launcher != "local" else None
        defaults.append(f"threads={threads_per_run(cpus, args.jobs)}")
    if not any(o.startswith("progress=") for o in args.overrides):
        defaults.append("progress=false")
    runs: dict[Path, Run] = {}
    for spec in variant_specs(args):
        for seed in args.seeds:
            overrides = [*defaults, *args.overrides, *spec, f"seed={seed}"]
            cfg = load_config(config, overrides)
            validate_config(cfg)
            label = variant_label(cfg)
            run_dir = args.out / variant_dir(label) / f"seed{seed}"
            overrides.append(f"output_dir={run_dir}")
            runs.setdefault(run_dir, Run(label, seed, run_dir, overrides, int(cfg.collector.total_frames)))
    return list(runs.values())


def write_manifest(args: argparse.Namespace, runs: list[Run], status: dict[Path, dict]) -> None:
    """``<out>/sweep.json``: every run ever planned in this folder, with its status and wall time."""
    path = args.out / SWEEP_MANIFEST
    entries = {}
    if path.is_file():
        entries = {e["dir"]: e for e in json.loads(path.read_text()).get("runs", [])}
    for run in runs:
        key = str(run.dir.relative_to(args.out))
        last = status.get(run.dir, entries.get(key, {}).get("last"))
        entries[key] = {"dir": key, "variant": run.variant, "seed": run.seed, "overrides": run.overrides}
        if last is not None:
            entries[key]["last"] = last  # {"rc", "wall_s"} of its latest attempt
    body = {"recipe": str(args.recipe), "overrides": args.overrides, "runs": list(entries.values())}
    path.write_text(json.dumps(body, indent=2))


def run_in_process(config: Path, run: Run) -> int:
    """Trains ``run`` in this process (the recipe's command line, :func:`~paco_torchrl.training.cli.main`)."""
    try:
        return cli.main(config, run.overrides + resume_args(run))
    except Exception:  # one failed run must not end the sweep
        traceback.print_exc()
        return 1


def start_subprocess(recipe: Path, run: Run) -> subprocess.Popen:
    run.dir.mkdir(parents=True, exist_ok=True)
    log = open(run.dir / "sweep.log", "a")
    cmd = [sys.executable, str(recipe), *run.overrides, *resume_args(run)]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=Path.cwd())


class Progress:
    """Records each ended run in ``sweep.json`` and prints one line for it."""

    def __init__(self, args: argparse.Namespace, runs: list[Run], total: int) -> None:
        self.args, self.runs, self.total = args, runs, total
        self.status: dict[Path, dict] = {}

    def __call__(self, run: Run, result: dict) -> None:
        self.status[run.dir] = result
        write_manifest(self.args, self.runs, self.status)
        rc, wall = result["rc"], result.get("wall_s")
        outcome = "done" if rc == 0 else f"FAILED (rc {rc}{'; ' + result['error'] if 'error' in result else ''})"
        print(f"[{len(self.status)}/{self.total}] {run.variant} seed{run.seed}: {outcome}"
              + (f" in {wall:.0f} s" if wall is not None else ""), flush=True)


def execute(args: argparse.Namespace, config: Path, todo: list[Run], runs: list[Run]) -> dict[Path, dict]:
    """Runs ``todo`` on this machine (``args.jobs`` at a time); returns ``{run dir: {"rc", "wall_s"}}``."""
    progress = Progress(args, runs, len(todo))
    pending, running = list(todo), {}
    while pending or running:
        while pending and (args.jobs == 1 or len(running) < args.jobs):
            run = pending.pop(0)
            print(f"start {run.variant} seed{run.seed} -> {run.dir}", flush=True)
            started = time.perf_counter()
            if args.jobs == 1:
                rc = run_in_process(config, run)
                progress(run, {"rc": rc, "wall_s": round(time.perf_counter() - started, 1)})
            else:
                running[run.dir] = (run, start_subprocess(args.recipe, run), started)
        for key, (run, proc, started) in list(running.items()):
            if proc.poll() is not None:
                del running[key]
                progress(run, {"rc": proc.returncode, "wall_s": round(time.perf_counter() - started, 1)})
        if running:
            time.sleep(0.5)
    return progress.status


def launch(args: argparse.Namespace, todo: list[Run], runs: list[Run]) -> dict[Path, dict] | None:
    """Runs ``todo`` with ``--launcher ray|slurm``; ``None`` when Slurm jobs were queued without ``--wait``."""
    progress = Progress(args, runs, len(todo))
    if not todo:  # every run finished: no cluster to start
        return {}
    if args.launcher == "ray":
        from paco_torchrl.experiments.ray_launcher import launch_ray

        print(f"ray: {len(todo)} task(s), {args.launcher_cfg.cpus_per_run} CPU / "
              f"{args.launcher_cfg.gpus_per_run:g} GPU each", flush=True)
        return launch_ray(args.recipe, todo, args.launcher_cfg, progress)
    from paco_torchrl.experiments.slurm_launcher import submit_slurm, wait_for

    jobs = submit_slurm(args.recipe, todo, args.launcher_cfg, args.out / "slurm")
    for run, job in zip(todo, jobs):
        print(f"submitted {run.variant} seed{run.seed}: job {job.job_id}", flush=True)
    print(f"slurm: {len(jobs)} job(s) queued; submitit's logs in {args.out / 'slurm'}", flush=True)
    if not args.wait:
        return None
    return wait_for(jobs, todo, progress)


def main(argv: list[str] | None = None, recipes: Path = RECIPES) -> int:
    """Command line (``recipes/sweep.py``): plans, skips finished runs, runs the rest; 2 on a bad config."""
    args = parse_args(sys.argv[1:] if argv is None else argv, recipes)
    args.recipe = args.recipe.resolve()
    config = args.recipe.parent / "configs" / f"{args.recipe.stem}.yaml"
    try:
        args.launcher_cfg = load_launcher_config(args)
        require(args.launcher)  # a missing extra stops here, before anything starts
        if args.launcher != "local":
            args.out = args.out.resolve()  # workers may start elsewhere than this folder
        runs = plan(args, config)
    except (ConfigError, LauncherError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    todo = [r for r in runs if not is_finished(r.dir, r.total_frames)]
    for run in runs:
        print(f"{'run ' if run in todo else 'skip'} {run.dir}  ({' '.join(run.overrides)})")
    if args.dry_run:
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    write_manifest(args, runs, {})
    started = time.perf_counter()
    try:
        status = execute(args, config, todo, runs) if args.launcher == "local" else launch(args, todo, runs)
    except LauncherError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if status is None:
        print(f"the runs land in {args.out}; when the jobs have ended: python {recipes / 'report.py'} {args.out} "
              "(the same sweep command again redoes failed runs)")
        return 0
    failed = [d for d, s in status.items() if s["rc"] != 0]
    print(f"sweep: {len(todo)} run(s) in {time.perf_counter() - started:.0f} s, {len(runs) - len(todo)} skipped, "
          f"{len(failed)} failed; report: python {recipes / 'report.py'} {args.out}")
    return 1 if failed else 0

