"""Plots from a run directory: ``python -m paco_torchrl.analysis success-curves <run_dir> [--out F.png]``."""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def read_series(path: Path) -> tuple[list[int], list[float]]:
    """``(frames, values)`` of one torchrl CSV scalar file (rows ``step,value``)."""
    frames, values = [], []
    with path.open() as f:
        for row in csv.reader(f):
            if len(row) == 2:
                frames.append(int(float(row[0])))
                values.append(float(row[1]))
    return frames, values


def success_curves(run_dir: Path, out: Path) -> Path:
    """Per-task and mean evaluation success against frames, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scalars = run_dir / "logs" / "scalars"
    per_task = sorted((scalars / "eval_success").glob("*.csv"))
    if not per_task:
        raise FileNotFoundError(f"no evaluation logs under {scalars / 'eval_success'}")
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    for path in per_task:
        ax.plot(*read_series(path), marker=".", lw=1, label=path.stem)
    mean = scalars / "eval" / "mean_success.csv"
    if mean.is_file():
        ax.plot(*read_series(mean), color="black", lw=2.2, label="mean")
    ax.set_xlabel("frames")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(run_dir.name, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paco_torchrl.analysis", description=__doc__)
    parser.add_argument("command", choices=["success-curves"])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="PNG path (default: <run_dir>/success_curves.png)")
    args = parser.parse_args(argv)
    if not args.run_dir.is_dir():
        print(f"error: no run directory at {args.run_dir}", file=sys.stderr)
        return 2
    try:
        out = success_curves(args.run_dir, args.out or args.run_dir / "success_curves.png")
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
