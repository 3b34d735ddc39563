"""What every sweep launcher shares: the run record, the training child process, optional extras.

A launcher (:mod:`~paco_torchrl.experiments.ray_launcher`, :mod:`~paco_torchrl.experiments.slurm_launcher`,
or the sweep's own local pool) takes the sweep's list of :class:`Run` and trains each one with the
recipe script in a child process (:class:`RecipeProcess`). Whether a run starts fresh or resumes is
decided when its process starts (:func:`resume_args`), so a task that a launcher restarts after a
dead worker, a time limit or a preemption continues from the run's last checkpoint. All runs write
into the sweep's one output tree, ``<out>/<variant>/seed<k>``, which ``recipes/report.py`` reads.
"""
from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# = paco_torchrl.training.signals.IGNORE_REPEATED_ENV, not imported: a launcher's worker runs this
# module and needs neither torch nor the training package (tests/test_launchers.py checks both)
IGNORE_REPEATED_ENV = "PACO_IGNORE_REPEATED_STOP"
EXTRAS = {"ray": "ray", "slurm": "submitit"}  # launcher -> the module its extra installs


class LauncherError(RuntimeError):
    """A launcher cannot start (a missing extra, a bad option); the message is one line."""


@dataclass
class Run:
    """One run of a sweep.

    Attributes:
        variant: its variant label (``paco K=3``).
        seed: its seed.
        dir: its run directory.
        overrides: the recipe's ``key=value`` arguments, ``output_dir=<dir>`` included.
        total_frames: ``collector.total_frames`` (a run is finished when evaluated there).
    """

    variant: str
    seed: int
    dir: Path
    overrides: list[str]
    total_frames: int


def require(launcher: str):
    """Imports the module of ``launcher``'s optional extra, or raises a one-line :class:`LauncherError`.

    Examples:
        >>> require("local") is None
        True
    """
    if launcher not in EXTRAS:
        return None
    try:
        return importlib.import_module(EXTRAS[launcher])
    except ImportError:
        raise LauncherError(f"--launcher {launcher} needs {EXTRAS[launcher]}: "
                            f"pip install 'paco_torchrl[{launcher}]'") from None


def resume_args(run: Run) -> list[str]:
    """``resume=<dir>`` when an interrupted run left a checkpoint (decided when the run starts)."""
    return [f"resume={run.dir}"] if (run.dir / "checkpoint.pt").is_file() else []


def recipe_command(recipe: Path, run: Run) -> list[str]:
    """The command that trains ``run`` as a child of this process (it dies with this process)."""
    return [sys.executable, "-m", "paco_torchrl.experiments.child", str(os.getpid()), str(recipe),
            *run.overrides, *resume_args(run)]


class RecipeProcess:
    """A run's training process, started and reaped without locks (safe from signal handlers).

    ``subprocess.Popen.wait`` holds a lock while it waits, so a signal handler that waits for the same
    process (a submitit job's checkpoint, called on the pre-timeout signal) would deadlock; this class
    reaps with ``os.waitpid`` only. Output goes to ``<run>/sweep.log`` (appended to at each start).

    Args:
        recipe: the recipe script.
        run: the run (fresh or resumed, see :func:`resume_args`).
        forwarded: set when this process forwards stop signals that the cluster may also deliver
            to the child (the child then ignores repeats, see :mod:`~paco_torchrl.training.signals`).
    """

    def __init__(self, recipe: Path, run: Run, forwarded: bool = False) -> None:
        run.dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if forwarded:
            env[IGNORE_REPEATED_ENV] = "1"
        self.run = run
        self.command = recipe_command(recipe, run)
        with open(run.dir / "sweep.log", "a") as log:
            log.write(f"$ {' '.join(self.command[4:])}\n")
            log.flush()
            self._popen = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.pid = self._popen.pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code (``-N`` if killed by signal N) once the process has ended, else ``None``."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by an interrupted poll of this process
                return self.returncode
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                self._popen.returncode = self.returncode  # no "still running" warning from Popen
        return self.returncode

    def wait(self, interval: float = 0.2) -> int:
        """Waits for the end of the process; returns its exit code."""
        while self.poll() is None:
            time.sleep(interval)
        return self.returncode

    def stop(self, sig: int = signal.SIGUSR2) -> int:
        """Sends ``sig`` (the run checkpoints and exits with ``128 + sig``) and waits for the end."""
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
        return self.wait()


def train_run(recipe: Path, run: Run) -> dict:
    """Trains ``run`` to its end in a child process; returns ``{"rc", "wall_s"}``."""
    started = time.perf_counter()
    rc = RecipeProcess(recipe, run).wait()
    return {"rc": rc, "wall_s": round(time.perf_counter() - started, 1)}


def threads_per_run(cpus: int | None, jobs: int) -> int:
    """The ``threads`` default of a run: its CPUs under a launcher, else this machine's cores / jobs."""
    return max(1, cpus if cpus is not None else (os.cpu_count() or 1) // jobs)
