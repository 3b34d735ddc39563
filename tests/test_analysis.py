"""Plot commands write real PNGs from a run directory's logs."""
from __future__ import annotations

import subprocess
import sys

from paco_torchrl.analysis.__main__ import read_series, success_curves


def _fixture_run(tmp_path):
    scalars = tmp_path / "logs" / "scalars"
    (scalars / "eval_success").mkdir(parents=True)
    (scalars / "eval").mkdir()
    for task, values in {"reach-v3": [0.0, 0.5, 1.0], "push-v3": [0.0, 0.1, 0.3]}.items():
        (scalars / "eval_success" / f"{task}.csv").write_text(
            "".join(f"{1000 * (i + 1)},{v}\n" for i, v in enumerate(values))
        )
    (scalars / "eval" / "mean_success.csv").write_text("1000,0.0\n2000,0.3\n3000,0.65\n")
    return tmp_path


def test_read_series(tmp_path):
    run = _fixture_run(tmp_path)
    assert read_series(run / "logs" / "scalars" / "eval" / "mean_success.csv") == ([1000, 2000, 3000], [0.0, 0.3, 0.65])


def test_success_curves_png(tmp_path):
    run = _fixture_run(tmp_path)
    out = success_curves(run, run / "curves.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_cli_missing_run_dir(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "paco_torchrl.analysis", "success-curves", str(tmp_path / "nope")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: no run directory")
