"""Atomic checkpoints: write to a temporary file, fsync, rename. Loaded with ``weights_only=True``."""
from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchrl.envs import TransformedEnv


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
    _fsync_dir(path.parent)


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


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (e.g. no space left); the previous one is intact."""


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Loads a checkpoint without unpickling arbitrary objects (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {str(err).splitlines()[0]}") from None


def _env_method(env: Any, name: str) -> Callable | None:
    """``env``'s method ``name``, or ``None``: looked up on the class of ``env`` or of the env a
    ``TransformedEnv`` wraps, never through ``__getattr__``. A TorchRL ``ParallelEnv`` forwards unknown
    attributes to its worker processes (which fails when they are not started, and makes a started
    worker fail on a method its env lacks)."""
    while isinstance(env, TransformedEnv):
        env = env.base_env
    return getattr(env, name) if env is not None and callable(getattr(type(env), name, None)) else None


def training_state(
    agent, frames: int, updates: int, *, logger=None, env=None, eval_env=None
) -> dict[str, Any]:
    """Everything a run needs to continue, as tensors and plain types (``weights_only``-loadable).

    Loss (networks, targets, W, α), optimizer, w-reset, counters, RNG of torch / numpy /
    python; with ``logger`` its running sums and counts; with ``env`` / ``eval_env`` their
    state where the env offers ``env_state()`` (the toy env: everything; Meta-World's
    ``gym_vector`` backend: the goal samplers). The replay buffer is saved beside the
    checkpoint by :func:`save_run_checkpoint`.
    """
    getters = {name: _env_method(e, "env_state") for name, e in (("env", env), ("eval_env", eval_env))}
    envs = {name: get() for name, get in getters.items() if get is not None}
    return {
        "loss": agent.loss.state_dict(),
        "optimizer": agent.optimizer.state_dict(),
        "w_reset": agent.w_reset.state_dict() if agent.w_reset is not None else {},
        "frames": frames,
        "updates": updates,
        "rng": rng_state(),
        "logger": logger.state_dict() if logger is not None else None,
        "envs": envs,
    }


def restore_training_state(agent, state: dict[str, Any], *, logger=None, env=None, eval_env=None) -> tuple[int, int]:
    """Loads :func:`training_state` into ``agent`` (and ``logger`` / envs); returns ``(frames, updates)``.

    RNG states are not touched: call :func:`set_rng_state` with ``state["rng"]`` once the
    collector is built (building it may draw random numbers). ``env`` resumes its
    episodes in progress at its next full reset; ``eval_env`` gets only its generators back.
    """
    try:
        agent.loss.load_state_dict(state["loss"])
        agent.optimizer.load_state_dict(state["optimizer"])
        if agent.w_reset is not None:
            agent.w_reset.load_state_dict(state["w_reset"])
        if logger is not None and state.get("logger") is not None:
            logger.load_state_dict(state["logger"])
        envs = state.get("envs", {})
        for name, e, resume in (("env", env, True), ("eval_env", eval_env, False)):
            load = _env_method(e, "load_env_state")
            if name in envs and load is not None:
                load(envs[name], resume_episodes=resume)
        return int(state["frames"]), int(state["updates"])
    except (KeyError, RuntimeError, ValueError, TypeError) as err:
        raise CheckpointError(f"checkpoint does not fit this run: {str(err).splitlines()[0]}") from None


REPLAY_PREFIX = "replay-"


def save_run_checkpoint(run_dir: str | os.PathLike, name: str, state: dict[str, Any], replay=None) -> None:
    """Writes ``state`` to ``run_dir/name`` and the replay buffer beside it, crash-safely.

    The replay goes to a fresh ``replay-<frames>`` folder (written under a temporary name,
    fsynced, renamed); then the checkpoint, which names that folder, replaces the old one
    atomically; only then are older replay folders removed. A crash at any moment leaves
    a checkpoint whose replay folder is complete.
    """
    run_dir = Path(run_dir)
    state = dict(state)
    state["replay_dir"] = None
    tmp = created = None
    try:
        if replay is not None and len(replay):
            folder = f"{REPLAY_PREFIX}{int(state['frames']):012d}"
            final = run_dir / folder
            if not final.is_dir():  # same frame count = same content: an existing copy is reused
                tmp = run_dir / f".{folder}.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                replay.dump_state(tmp)
                os.replace(tmp, final)
                created = final
                _fsync_dir(run_dir)
            state["replay_dir"] = folder
        save_checkpoint(run_dir / name, state)
    except OSError as err:  # e.g. no space left: drop the half-written copy, keep the previous checkpoint
        for path in (tmp, created):  # the previous checkpoint names neither
            if path is not None:
                shutil.rmtree(path, ignore_errors=True)
        raise CheckpointWriteError(
            f"checkpoint write failed at frame {int(state['frames'])} ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); the previous checkpoint in {run_dir} is intact"
        ) from err
    for old in run_dir.iterdir():
        stale = old.name.startswith(REPLAY_PREFIX) or old.name.startswith(f".{REPLAY_PREFIX}")
        if stale and old.name != state["replay_dir"]:
            shutil.rmtree(old, ignore_errors=True)


def restore_replay(run_dir: str | os.PathLike, state: dict[str, Any], replay) -> bool:
    """Refills ``replay`` from the folder the checkpoint names; ``False`` if it saved none."""
    folder = state.get("replay_dir")
    if not folder:
        return False
    path = Path(run_dir) / folder
    try:
        replay.load_state(path)
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"cannot read the replay buffer at {path}: {str(err).splitlines()[0]}") from None
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
