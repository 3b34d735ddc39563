"""Sweep launcher on Ray: one task per run, restarted from its checkpoint when its worker dies.

    ray start --head --num-gpus 8                      # or an existing cluster
    python recipes/sweep.py --launcher ray --ray-address auto --gpus-per-run 1 --cpus-per-run 4 \\
        --out runs/table1 --tables 1 --seeds 0 1 2 3 4 5 6 7 8 9

Without ``--ray-address`` a local Ray cluster is started for the sweep (all cores, or
``--ray-num-cpus``) and stopped at its end. Each run is a task that reserves ``cpus_per_run`` CPUs
and ``gpus_per_run`` GPUs and trains the run with the recipe in a child process
(:class:`~paco_torchrl.experiments.launch.RecipeProcess`, which dies with its worker). When a
worker dies (a killed process, a lost node), Ray runs the task again, up to ``max_restarts``
times; the new attempt finds the run's checkpoint and resumes from it (``resume=<run>``), so the
run ends as an uninterrupted one would. The output folder and the checkout must be visible to every
node (a shared filesystem), as the runs write to ``<out>/<variant>/seed<k>``.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from paco_torchrl.experiments.launch import Run, require, train_run


def run_task(recipe: str, run: Run) -> dict:
    """The body of a run's Ray task: fresh or resumed, decided now; returns ``{"rc", "wall_s"}``."""
    return train_run(Path(recipe), run)


def launch_ray(recipe: Path, runs: list[Run], cfg: DictConfig,
               on_finished: Callable[[Run, dict], None] | None = None) -> dict[Path, dict]:
    """Trains ``runs`` as Ray tasks; returns ``{run dir: {"rc", "wall_s"}}`` once all have ended.

    Args:
        recipe: the recipe script (on a path every node sees).
        runs: the runs to train.
        cfg: the launcher settings (:class:`~paco_torchrl.experiments.launcher_config.LauncherConfig`).
        on_finished: called with each run and its status as it ends.
    """
    ray = require("ray")
    started_here = not ray.is_initialized()
    if started_here:
        if cfg.ray.address is not None:
            ray.init(address=cfg.ray.address, log_to_driver=False)
        else:
            ray.init(num_cpus=cfg.ray.num_cpus, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=cfg.cpus_per_run, num_gpus=cfg.gpus_per_run,
                      max_retries=cfg.max_restarts, retry_exceptions=False)(run_task)
    refs = {task.remote(str(recipe), run): run for run in runs}
    status: dict[Path, dict] = {}
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                run = refs[ref]
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as err:  # its worker died more than max_restarts times
                    result = {"rc": -1, "wall_s": None, "error": str(err).strip().splitlines()[0]}
                status[run.dir] = result
                if on_finished is not None:
                    on_finished(run, result)
    finally:
        if started_here:
            ray.shutdown()
    return status
