"""``benchmarks/mt_subset.py`` keeps the small files of finished runs, so that seeds run on machines
that are gone still count in its report (run as a subprocess, as the recipes are)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from paco_torchrl.training.config import load_config
from tests.paths import ROOT

SCRIPT = ROOT / "benchmarks" / "mt_subset.py"
TASKS = ("reach-v3", "drawer-close-v3")


def _fake_run(run: Path, seed: int, evals: dict[int, tuple[float, float]], total: int = 60) -> None:
    """A run directory as the recipe leaves it: config, results of the last evaluation, CSV logs, a checkpoint."""
    cfg = load_config(None, ["algo=mtsac", f"seed={seed}", f"collector.total_frames={total}",
                             f"env.tasks=[{','.join(TASKS)}]", f"output_dir={run}"])
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    last = max(evals)
    (run / "results.json").write_text(json.dumps(
        {"frames": last, "mean_success": sum(evals[last]) / 2, "per_task_success": dict(zip(TASKS, evals[last]))}))
    scalars = run / "logs" / "scalars"
    (scalars / "eval_success").mkdir(parents=True)
    (scalars / "eval").mkdir()
    (scalars / "eval" / "mean_success.csv").write_text("".join(f"{f},{sum(v) / 2}\n" for f, v in evals.items()))
    for i, task in enumerate(TASKS):
        (scalars / "eval_success" / f"{task}.csv").write_text("".join(f"{f},{v[i]}\n" for f, v in evals.items()))
    (run / "checkpoint.pt").write_bytes(b"\0" * 1024)
    (run / "logs" / "videos").mkdir()


def test_report_keeps_finished_runs_and_counts_kept_seeds_whose_run_folders_are_gone(tmp_path: Path) -> None:
    sweep, record = tmp_path / "sweep", tmp_path / "record"
    # seed 0 was kept by an earlier session: its run folder is gone
    _fake_run(record / "records" / "mtsac" / "seed0", 0, {20: (0.0, 0.5), 40: (1.0, 0.5), 60: (1.0, 1.0)})
    (record / "records" / "mtsac" / "seed0" / "checkpoint.pt").unlink()
    _fake_run(sweep / "mtsac" / "seed1", 1, {20: (0.0, 0.0), 40: (0.5, 0.0), 60: (0.5, 0.5)})   # finished
    _fake_run(sweep / "mtsac" / "seed2", 2, {20: (1.0, 1.0)})                                    # partial: not kept
    out = subprocess.run([sys.executable, str(SCRIPT), "--report", "--out", str(sweep), "--record", str(record)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr

    kept = sorted(p.relative_to(record / "records").as_posix()
                  for p in (record / "records").rglob("*") if p.is_file())
    assert [p for p in kept if p.startswith("mtsac/seed1/")] == [
        "mtsac/seed1/config.yaml", "mtsac/seed1/logs/scalars/eval/mean_success.csv",
        "mtsac/seed1/logs/scalars/eval_success/drawer-close-v3.csv",
        "mtsac/seed1/logs/scalars/eval_success/reach-v3.csv", "mtsac/seed1/results.json"]
    assert not any(p.startswith("mtsac/seed2/") for p in kept)

    # both finished seeds count. Final evaluation: 1.0 and 0.5 -> 75.0 ± 35.4 %. Last 3 evaluations,
    # mean over tasks: (2/3 + 2/3) / 2 and (1/3 + 1/6) / 2 -> 45.8 ± 29.5 %
    curves = json.loads((record / "curves.json").read_text())
    assert curves == {"mtsac": {"20": [0.25, 0.0], "40": [0.75, 0.25], "60": [1.0, 0.5]}}
    table = (record / "table.md").read_text()
    assert "2 runs: 2 finished, 0 partial, 0 missing" in table
    assert "| 75.0 ± 35.4 |" in table
    assert "| mtsac | 2 (0, 1) | 60, 60 | 45.8 ± 29.5 |" in table
    assert (record / "curves.png").stat().st_size > 0
