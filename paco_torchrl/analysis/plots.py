"""Curves from a run's logs: evaluation success, and per-task losses / α with maskout and reset events."""
from __future__ import annotations

from pathlib import Path

from paco_torchrl.analysis.series import increase_frames, per_task_series, read_series, scalars_dir


def pyplot():
    """matplotlib's ``pyplot`` on the non-interactive Agg backend (headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out: str | Path) -> Path:
    """Writes ``fig`` to ``out`` (parents created) and closes it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    pyplot().close(fig)
    return out


def success_curves(run_dir: str | Path, out: str | Path) -> Path:
    """Per-task and mean evaluation success against frames, as a PNG.

    Reads ``logs/scalars/eval_success/<task>.csv`` and ``logs/scalars/eval/mean_success.csv``.

    Examples:
        >>> import tempfile, pathlib
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> (run / "logs/scalars/eval_success").mkdir(parents=True)
        >>> _ = (run / "logs/scalars/eval_success/reach-v3.csv").write_text("100,0.2\\n200,0.9\\n")
        >>> success_curves(run, run / "s.png").stat().st_size > 0
        True
    """
    run_dir = Path(run_dir)
    scalars = scalars_dir(run_dir)
    per_task = per_task_series(run_dir, "eval_success")
    if not per_task:
        raise FileNotFoundError(f"no evaluation logs under {scalars / 'eval_success'}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    for task, (frames, values) in per_task.items():
        ax.plot(frames, values, marker=".", lw=1, label=task)
    mean = scalars / "eval" / "mean_success.csv"
    if mean.is_file():
        ax.plot(*read_series(mean), color="black", lw=2.2, label="mean")
    ax.set_xlabel("frames")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(run_dir.resolve().name, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out)


_LOSS_PANELS = (("loss_qvalue", "critic loss", True), ("loss_actor", "actor loss", False), ("alpha", "α", True))


def maskout_reset_events(run_dir: str | Path) -> dict[str, dict[str, list[int]]]:
    """``{"maskout": {task: frames}, "reset": {task: frames}}``: where the cumulative counts grew.

    A maskout event is a logging interval in which ``over_threshold_count/<task>`` rose
    (the task's loss exceeded ``ε`` at least once), a reset event one in which
    ``reset_count/<task>`` rose (its ``w`` was re-initialised).
    """
    return {
        kind: {task: increase_frames(*series) for task, series in per_task_series(run_dir, metric).items()}
        for kind, metric in (("maskout", "over_threshold_count"), ("reset", "reset_count"))
    }


def loss_curves(run_dir: str | Path, out: str | Path) -> Path:
    """Per-task critic loss, actor loss and α against frames; maskout / reset events marked.

    One panel per quantity, one colour per task. Maskout events are drawn as ``x`` and
    w-resets as ``v`` markers in the task's colour along the bottom of each panel (and
    as faint vertical lines), so a diverging task can be read off next to its losses.

    Examples:
        >>> import tempfile, pathlib
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> for m in ("loss_qvalue", "loss_actor", "alpha", "over_threshold_count"):
        ...     (run / "logs/scalars" / m).mkdir(parents=True)
        ...     _ = (run / "logs/scalars" / m / "t0.csv").write_text("100,1.0\\n200,2.0\\n")
        >>> loss_curves(run, run / "l.png").stat().st_size > 0
        True
    """
    run_dir = Path(run_dir)
    panels = [(metric, label, log, per_task_series(run_dir, metric)) for metric, label, log in _LOSS_PANELS]
    if not any(series for *_, series in panels):
        raise FileNotFoundError(f"no loss logs under {scalars_dir(run_dir)} (loss_qvalue, loss_actor, alpha)")
    events = maskout_reset_events(run_dir)
    tasks = sorted({task for *_, series in panels for task in series})
    plt = pyplot()
    colors = {task: plt.get_cmap("tab10")(i % 10) for i, task in enumerate(tasks)}
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.4, 7.2), dpi=110, sharex=True)
    for ax, (metric, label, log, series) in zip(axes, panels):
        for task, (frames, values) in series.items():
            ax.plot(frames, values, lw=1, color=colors[task], label=task)
        if log and series and all(v > 0 for _, values in series.values() for v in values):
            ax.set_yscale("log")
        for kind, marker, height in (("maskout", "x", 0.03), ("reset", "v", 0.09)):
            for task, frames in events[kind].items():
                if frames:
                    color = colors.get(task, "gray")
                    for frame in frames:
                        ax.axvline(frame, color=color, lw=0.6, alpha=0.25)
                    ax.plot(frames, [height] * len(frames), marker, color=color, ms=5, ls="none",
                            transform=ax.get_xaxis_transform())
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    for kind, marker in (("maskout", "x"), ("reset", "v")):
        if any(events[kind].values()):
            handles.append(axes[0].plot([], [], marker, color="gray", ls="none")[0])
            labels.append("w-reset" if kind == "reset" else "maskout (J > ε)")
    axes[0].legend(handles, labels, fontsize=7, ncol=2)
    axes[0].set_title(run_dir.resolve().name, fontsize=9)
    axes[-1].set_xlabel("frames")
    fig.tight_layout()
    return save_figure(fig, out)


def compare_success(runs: dict[str, str | Path], out: str | Path, title: str = "") -> Path:
    """Mean evaluation success against frames of several runs on one axis (e.g. transfer vs scratch).

    Args:
        runs: ``{label: run_dir}``; each run needs ``logs/scalars/eval/mean_success.csv``.
        out: PNG path.
        title: figure title.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.4), dpi=110)
    for label, run_dir in runs.items():
        path = scalars_dir(run_dir) / "eval" / "mean_success.csv"
        if not path.is_file():
            raise FileNotFoundError(f"no evaluation log at {path}")
        ax.plot(*read_series(path), marker=".", lw=1.6, label=label)
    ax.set_xlabel("frames")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out)
