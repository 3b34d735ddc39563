"""Atomic checkpoints: write to a temporary file, fsync, rename. Loaded with ``weights_only=True``."""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def atomic_write_bytes(path: str | os.PathLike, write: callable) -> None:
    """Calls ``write(fileobj)`` on a temp file beside ``path``, fsyncs, then renames it onto ``path``.

    A crash at any moment leaves either the previous file or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Atomic text write (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def rng_state() -> dict[str, Any]:
    """torch / numpy / python RNG states as tensors and plain types (``weights_only``-loadable)."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restores what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """``torch.save(state)`` atomically."""
    atomic_write_bytes(path, lambda f: torch.save(state, f))


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or does not fit the run."""


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Loads a checkpoint without unpickling arbitrary objects (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {str(err).splitlines()[0]}") from None


def training_state(agent, frames: int, updates: int) -> dict[str, Any]:
    """Everything a run needs to continue: loss (networks, targets, α), optimizer, w-reset, counters, RNG."""
    return {
        "loss": agent.loss.state_dict(),
        "optimizer": agent.optimizer.state_dict(),
        "w_reset": agent.w_reset.state_dict() if agent.w_reset is not None else {},
        "frames": frames,
        "updates": updates,
        "rng": rng_state(),
    }


def restore_training_state(agent, state: dict[str, Any]) -> tuple[int, int]:
    """Loads :func:`training_state` into ``agent``; returns ``(frames, updates)``."""
    try:
        agent.loss.load_state_dict(state["loss"])
        agent.optimizer.load_state_dict(state["optimizer"])
        if agent.w_reset is not None:
            agent.w_reset.load_state_dict(state["w_reset"])
        set_rng_state(state["rng"])
        return int(state["frames"]), int(state["updates"])
    except (KeyError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"checkpoint does not fit this run: {str(err).splitlines()[0]}") from None
