"""Reading a run directory's scalar logs (torchrl ``CSVLogger`` files, rows ``step,value``)."""
from __future__ import annotations

import csv
from pathlib import Path


def scalars_dir(run_dir: str | Path) -> Path:
    """``<run_dir>/logs/scalars``, where the CSV logger writes ``<metric>/<task>.csv``."""
    return Path(run_dir) / "logs" / "scalars"


def read_series(path: str | Path) -> tuple[list[int], list[float]]:
    """``(frames, values)`` of one torchrl CSV scalar file (rows ``step,value``).

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
        >>> _ = p.write_text("1000,0.5\\n2000,0.75\\n")
        >>> read_series(p)
        ([1000, 2000], [0.5, 0.75])
    """
    frames, values = [], []
    with Path(path).open() as f:
        for row in csv.reader(f):
            if len(row) == 2:
                frames.append(int(float(row[0])))
                values.append(float(row[1]))
    return frames, values


def per_task_series(run_dir: str | Path, metric: str) -> dict[str, tuple[list[int], list[float]]]:
    """Every ``<metric>/<task>.csv`` of a run except the ``mean`` / ``total`` aggregates, by task name."""
    folder = scalars_dir(run_dir) / metric
    return {
        path.stem: read_series(path)
        for path in sorted(folder.glob("*.csv"))
        if path.stem not in ("mean", "total")
    }


def increase_frames(frames: list[int], cumulative: list[float]) -> list[int]:
    """Frames at which a cumulative count grew (the first row counts if it is above zero).

    Examples:
        >>> increase_frames([10, 20, 30, 40], [0, 2, 2, 3])
        [20, 40]
    """
    out, previous = [], 0.0
    for frame, value in zip(frames, cumulative):
        if value > previous:
            out.append(frame)
        previous = value
    return out
