"""Runs a recipe script as a child process that dies with the process that started it.

    python -m paco_torchrl.experiments.child <parent pid> recipes/mt10_rand.py key=value ...

A launcher's worker (a Ray worker, a submitit job) trains each run in such a child. If the worker
is killed (``kill -9``, a lost node), Linux sends the child SIGKILL (``PR_SET_PDEATHSIG``), so no
orphaned run keeps writing into a run directory that the restarted task resumes. The guard is set
here, in the child, rather than in ``subprocess.Popen(preexec_fn=...)``, which is unsafe in the
multi-threaded processes that launchers run in. Elsewhere than Linux the child runs unguarded.
"""
from __future__ import annotations

import ctypes
import os
import runpy
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Asks the kernel for SIGKILL when the parent exits; exits at once if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the guard was in place
        os._exit(128 + signal.SIGKILL)


def main(argv: list[str]) -> None:
    """``argv``: the parent's pid, the recipe script, its arguments."""
    die_with_parent(int(argv[0]))
    sys.argv = argv[1:]
    runpy.run_path(argv[1], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
