"""Reports: Markdown of a sweep folder, the paper's Tables 1–3 with our numbers beside them.

    python recipes/report.py runs/table1                      # print
    python recipes/report.py runs/table1 --out report.md      # and write

Reads every run directory under the folder (``config.yaml`` + ``results.json``) and, if present,
``sweep.json`` (to name runs that never started). Runs are grouped by variant (``algo`` plus
non-default ``paco.num_param_sets/scope/w_init/share_w/...``). Success is the final evaluation's
mean over tasks, in %. Over seeds: mean ± sample std (ddof=1, as the paper's ± over seeds is read
here) and IQM (mean of the middle 50% with fractional weights at the quartiles; see
``paco_torchrl.experiments.interquartile_mean``). Unfinished runs are listed and left out of the
statistics (``--include-partial`` counts their last evaluation).
"""
from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

from paco_torchrl.algos import ALGOS
from paco_torchrl.experiments.paper import PAPER_ROWS, TABLE_TITLES
from paco_torchrl.experiments.results import RunResult, load_runs, summarize


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}"


def _mean_std(s: dict) -> str:
    if s["n"] == 0:
        return "not run"
    return f"{_pct(s['mean'])} ± {_pct(s['std'])}" if s["n"] > 1 else f"{_pct(s['mean'])} (1 seed)"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(r) + " |" for r in rows)]


def _frames(runs: list[RunResult]) -> str:
    frames = sorted({r.frames for r in runs})
    return "—" if not frames else str(frames[0]) if len(frames) == 1 else f"{frames[0]}–{frames[-1]}"


def build_report(sweep_dir: Path, include_partial: bool = False) -> str:
    """The report of ``sweep_dir`` as Markdown."""
    runs = load_runs(sweep_dir)
    used = ("finished", "partial") if include_partial else ("finished",)
    by_variant: dict[str, list[RunResult]] = defaultdict(list)
    for run in runs:
        by_variant[run.variant]  # every variant gets a row, even with no usable run
        if run.status in used:
            by_variant[run.variant].append(run)
    stats = {v: summarize([r.mean_success for r in rs]) for v, rs in by_variant.items()}
    counts = {s: sum(r.status == s for r in runs) for s in ("finished", "partial", "missing")}
    benchmarks = sorted({r.benchmark for r in runs if r.benchmark})
    tasks = list(dict.fromkeys(t for rs in by_variant.values() for r in rs for t in r.per_task_success))
    out = [f"# Results: {sweep_dir}", "",
           f"{len(runs)} runs: {counts['finished']} finished, {counts['partial']} partial, "
           f"{counts['missing']} missing; benchmark {', '.join(benchmarks) or '—'}. Success = mean over tasks "
           "of the final evaluation (%). Over seeds: mean ± sample std (ddof=1); IQM = mean of the middle 50% "
           "of seeds (fractional weights at the quartiles). "
           + ("Partial runs count with their last evaluation." if include_partial
              else "Only finished runs count."), ""]

    paper_of = {}
    for row in PAPER_ROWS:
        paper_of.setdefault(row.variant, row)
    out += ["## Variants", ""]
    rows = []
    for variant, rs in sorted(by_variant.items()):
        algo = ALGOS.get(variant.split()[0])
        p = paper_of.get(variant)
        paper = "—" if p is None else f"{p.mean} ± {p.std}" if p.std is not None else f"{p.mean}"
        rows.append([variant, algo.description if algo else "?", str(stats[variant]["n"]), _frames(rs),
                     _mean_std(stats[variant]), _pct(stats[variant]["iqm"]) if rs else "—", paper])
    out += _table(["variant", "algorithm", "seeds", "frames", "success % (mean ± std)", "IQM %",
                   "paper % (MT10-rand)"], rows) + [""]

    out += ["## The paper's tables (paper: MT10-rand, 20M frames, 10 seeds)", ""]
    if benchmarks != ["MT10"]:
        out += [f"Our runs are on {', '.join(benchmarks) or 'nothing yet'}: beside the paper, not comparable "
                "to it.", ""]
    for table, title in TABLE_TITLES.items():
        rows = []
        for row in (r for r in PAPER_ROWS if r.table == table):
            s = stats.get(row.variant, summarize([]))
            paper = f"{row.mean} ± {row.std}" if row.std is not None else f"{row.mean}"
            rows.append([row.method, f"`{' '.join(row.overrides)}`", paper, _mean_std(s),
                         _pct(s["iqm"]) if s["n"] else "—", str(s["n"])])
        out += [f"### {title}", ""] + _table(["method", "config", "paper %", "ours %", "ours IQM %", "seeds"],
                                              rows) + [""]

    out += ["## Per-task success (%, mean over seeds)", ""]
    variants = [v for v in sorted(by_variant) if by_variant[v]]
    rows = [[task] + [_pct(summarize([r.per_task_success[task] for r in by_variant[v]
                                      if task in r.per_task_success])["mean"]) for v in variants]
            for task in tasks]
    out += (_table(["task", *variants], rows) if variants else ["no finished runs"]) + [""]

    incomplete = [r for r in runs if r.status != "finished"]
    out += ["## Incomplete runs", ""]
    root = Path(sweep_dir).resolve()
    out += [f"- `{r.path.relative_to(root) if r.path.is_relative_to(root) else r.path}` "
            f"({r.variant}, seed {r.seed}): {r.describe()}" for r in incomplete] or ["none"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line (``recipes/report.py``): prints (and writes) the report; 2 without the folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--out", type=Path, help="also write the report here")
    parser.add_argument("--include-partial", action="store_true", help="count unfinished runs' last evaluation")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.sweep_dir.is_dir():
        print(f"error: no folder {args.sweep_dir}", file=sys.stderr)
        return 2
    text = build_report(args.sweep_dir, args.include_partial)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0

