"""Sweep launcher on Slurm through submitit: one job-array task per run, requeued at its time limit.

    python recipes/sweep.py --launcher slurm --slurm-partition gpu --slurm-time 8:00:00 \\
        --gpus-per-run 1 --cpus-per-run 8 --slurm-extra account=my-project \\
        --out runs/table1 --tables 1 --seeds 0 1 2 3 4 5 6 7 8 9

The runs are submitted as one job array (``--slurm-array-parallelism`` at a time), with submitit's
files in ``<out>/slurm/<job id>/``; the sweep returns once they are queued (``--wait``: once they
have ended). Each job trains its run with the recipe in a child process
(:class:`~paco_torchrl.experiments.launch.RecipeProcess`).

Time limits and preemption follow submitit's checkpointing protocol: Slurm sends SIGUSR2
``--slurm-signal-delay`` seconds before the limit (and on preemption, where the cluster is set up to);
submitit's handler in the job process calls :meth:`RecipeJob.checkpoint`, which forwards the signal
to the training process, waits while it finishes its iteration and writes its checkpoint, and
returns the same job to resubmit; submitit then requeues it. The requeued job finds the checkpoint
and resumes (``resume=<run>``), bit for bit as if it had not stopped. Slurm may deliver the signal to
the training process too: it is told to ignore the repeat
(:data:`~paco_torchrl.training.signals.IGNORE_REPEATED_ENV`). A run is requeued at most
``max_restarts`` times for time limits (preemptions do not count).
"""
from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from paco_torchrl.experiments.launch import LauncherError, RecipeProcess, Run, require
from paco_torchrl.experiments.launcher_config import minutes


class RecipeJob:
    """A submitit job that trains one run, checkpointable in submitit's sense (``checkpoint()``).

    Args:
        recipe: the recipe script.
        run: the run; fresh or resumed is decided when the job starts.
    """

    def __init__(self, recipe: str, run: Run) -> None:
        self.recipe, self.run = recipe, run
        self._process: RecipeProcess | None = None

    def __call__(self) -> dict:
        """Trains the run to its end; returns ``{"rc", "wall_s"}`` (submitit pickles it as the result)."""
        started = time.perf_counter()
        self._process = RecipeProcess(Path(self.recipe), self.run, forwarded=True)
        rc = self._process.wait()
        return {"rc": rc, "wall_s": round(time.perf_counter() - started, 1)}

    def checkpoint(self, *args, **kwargs):
        """Called by submitit on the pre-timeout or preemption signal: the run writes its checkpoint
        and stops, then the same job is resubmitted (it resumes from that checkpoint)."""
        from submitit.helpers import DelayedSubmission

        if self._process is not None:
            self._process.stop(signal.SIGUSR2)
        return DelayedSubmission(RecipeJob(self.recipe, self.run))

    def __getstate__(self) -> dict:
        return {"recipe": self.recipe, "run": self.run, "_process": None}


def make_executor(folder: Path, cfg: DictConfig):
    """A submitit executor with the launcher settings (``cfg.slurm.cluster``: ``slurm`` or ``local``)."""
    submitit = require("slurm")
    if cfg.slurm.cluster == "slurm" and shutil.which("sbatch") is None:
        raise LauncherError("--launcher slurm: no sbatch on this machine "
                            "(--slurm-cluster local runs the same jobs here)")
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cfg.slurm.cluster,
                                     slurm_max_num_timeout=cfg.max_restarts,
                                     local_max_num_timeout=cfg.max_restarts)
    executor.update_parameters(
        name="paco-sweep", timeout_min=minutes(cfg.slurm.time), cpus_per_task=cfg.cpus_per_run,
        gpus_per_node=int(cfg.gpus_per_run), tasks_per_node=1, nodes=1,
        slurm_partition=cfg.slurm.partition, slurm_array_parallelism=cfg.slurm.array_parallelism,
        slurm_signal_delay_s=cfg.slurm.signal_delay,
        slurm_additional_parameters=dict(cfg.slurm.extra) or None,
    )
    return executor


def submit_slurm(recipe: Path, runs: list[Run], cfg: DictConfig, folder: Path) -> list:
    """Submits one job per run, as one job array; returns submitit's jobs (in the order of ``runs``)."""
    executor = make_executor(folder, cfg)
    with executor.batch():
        jobs = [executor.submit(RecipeJob(str(recipe), run)) for run in runs]
    return jobs


def wait_for(jobs: list, runs: list[Run], on_finished: Callable[[Run, dict], None] | None = None,
             interval: float = 1.0) -> dict[Path, dict]:
    """Waits for every job (requeues included); returns ``{run dir: {"rc", "wall_s"}}``."""
    status: dict[Path, dict] = {}
    pending = dict(zip((job.job_id for job in jobs), zip(jobs, runs)))
    while pending:
        for key, (job, run) in list(pending.items()):
            if not job.done():
                continue
            del pending[key]
            try:
                result = job.result()
            except Exception as err:  # the job failed or timed out more than max_restarts times
                result = {"rc": -1, "wall_s": None, "error": str(err).strip().splitlines()[-1][:300]}
            status[run.dir] = result
            if on_finished is not None:
                on_finished(run, result)
        if pending:
            time.sleep(interval)
    return status
