"""Pictures from a run directory: ``python -m paco_torchrl.analysis <command> <run_dir> [--out PATH]``.

Commands (PNGs land in the run directory unless ``--out`` says otherwise):

* ``success-curves``: per-task and mean evaluation success against frames;
* ``losses``: per-task critic / actor loss and α against frames, maskout / reset events marked;
* ``w-pca``: 2-D PCA of the learned compositional vectors, one labelled point per task (Fig. 4);
* ``subspace``: the K=2 unit-circle picture of ``recipes/subspace_k2.py`` (Fig. 3a);
* ``video``: a GIF (or MP4) of the deterministic policy on ``--tasks`` (Meta-World runs;
  needs headless MuJoCo rendering, see the README).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from paco_torchrl.analysis.plots import loss_curves, success_curves
from paco_torchrl.analysis.series import read_series

__all__ = ["main", "read_series", "success_curves"]

_DEFAULT_NAMES = {
    "success-curves": "success_curves.png",
    "losses": "losses.png",
    "w-pca": "w_pca.png",
    "subspace": "subspace_k2.png",
    "video": "rollout.gif",
}


def _run(command: str, run_dir: Path, out: Path, args: argparse.Namespace) -> Path | list[Path]:
    if command == "success-curves":
        return success_curves(run_dir, out)
    if command == "losses":
        return loss_curves(run_dir, out)
    if command == "w-pca":
        from paco_torchrl.analysis.pca import w_pca_plot

        return w_pca_plot(run_dir, out)
    if command == "subspace":
        from paco_torchrl.analysis.subspace import subspace_plot

        return subspace_plot(run_dir, out)
    from paco_torchrl.analysis.video import record_run_video

    return record_run_video(
        run_dir, out, tasks=args.tasks, steps=args.steps, fps=args.fps, size=args.size, seed=args.seed
    )


def main(argv: list[str] | None = None) -> int:
    """Command line; a missing run directory or log gets one ``error:`` line and exit code 2."""
    parser = argparse.ArgumentParser(
        prog="python -m paco_torchrl.analysis", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("command", choices=list(_DEFAULT_NAMES))
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="output path (default: <run_dir>/<command>.png)")
    video = parser.add_argument_group("video")
    video.add_argument("--tasks", nargs="+", default=None, help="task names (default: every task of the run)")
    video.add_argument("--steps", type=int, default=150, help="steps per task")
    video.add_argument("--fps", type=int, default=30)
    video.add_argument("--size", type=int, default=160, help="frame width and height in pixels")
    video.add_argument("--seed", type=int, default=0, help="seed of the recorded episode's goal")
    args = parser.parse_args(argv)
    if not args.run_dir.is_dir():
        print(f"error: no run directory at {args.run_dir}", file=sys.stderr)
        return 2
    out = args.out or args.run_dir / _DEFAULT_NAMES[args.command]
    try:
        written = _run(args.command, args.run_dir, out, args)
    except (FileNotFoundError, KeyError, RuntimeError, ValueError) as err:
        message = str(err).strip("'\"").splitlines()[0] if str(err) else type(err).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    for path in written if isinstance(written, list) else [written]:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
