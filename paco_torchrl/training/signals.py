"""Graceful interruption: Ctrl-C, ``kill`` and Slurm's pre-timeout signal end a run with a checkpoint.

The first of :data:`STOP_SIGNALS` only records itself; the training loop sees it at the end of the
current iteration, writes a checkpoint and raises :class:`Interrupted` (the command line prints one
line with the command that resumes and exits with ``128 + signal number``: 130 for SIGINT, 143 for
SIGTERM, 138 / 140 for SIGUSR1 / SIGUSR2, which Slurm's ``--signal`` and submitit send before a time
limit). A second signal ends the process at once with the same code; the atomic checkpoint writes
leave the previous checkpoint intact whenever that happens.

Under a launcher (``sweep.py --launcher slurm``) the same stop can arrive twice: Slurm signals every
process of the job and the launcher forwards its own signal to the training process. With
:data:`IGNORE_REPEATED_ENV` set to ``1`` in the environment, signals after the first are ignored
instead, so the run still writes its checkpoint.
"""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
IGNORE_REPEATED_ENV = "PACO_IGNORE_REPEATED_STOP"


class Interrupted(RuntimeError):
    """A stop signal ended the run after a checkpoint was written.

    Attributes:
        signum: the signal.
        frames: frames of the checkpoint.
        run_dir: the run directory (``resume=<run_dir>`` continues it).
    """

    def __init__(self, signum: int, frames: int, run_dir: Path) -> None:
        self.signum, self.frames, self.run_dir = signum, frames, Path(run_dir)
        super().__init__(f"interrupted by {signal.Signals(signum).name} at frame {frames}; checkpoint written")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopSignals:
    """Context manager that turns the first stop signal into a flag (``requested``).

    Handlers are installed only in the main thread (Python delivers signals there) and the previous
    handlers are restored on exit.

    Examples:
        >>> import os, signal
        >>> with StopSignals() as stop:
        ...     os.kill(os.getpid(), signal.SIGUSR1)
        ...     stop.requested == signal.SIGUSR1
        True
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> None:
        self.signals = signals
        self.requested: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:  # the second signal: no more waiting (unless a launcher forwards)
            if os.environ.get(IGNORE_REPEATED_ENV) == "1":
                return
            os._exit(128 + signum)
        self.requested = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
