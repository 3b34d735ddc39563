"""Transfer a trained run's parameter set ``Φ`` to new tasks, against training from scratch (App. A.3).

    python recipes/transfer.py source=runs/mt10 tasks=[reach-wall-v3]
    python recipes/transfer.py source=runs/k2_mt3 tasks=[drawer-close-v3] collector.total_frames=60000
    python recipes/transfer.py source=runs/toy tasks=[rotate-180] mode=transfer w_init=fresh

``source`` is a run directory (``config.yaml`` + ``checkpoint.pt``); ``tasks`` are the new tasks
(Meta-World names outside MT10 switch the benchmark to MT50; toy runs take toy names). Two
runs with the source's settings and the same frames and seed are written under ``output_dir``
(default ``<source>/transfer-<tasks>``):

* ``transfer/``: ``Φ`` loaded from the source and frozen; only ``w`` (one new row per task,
  starting at the mean of the source's ``w`` with ``w_init=mean``, drawn like ``paco.w_init``
  with ``w_init=fresh``, or at a related source task's ``w`` with ``w_init=<source task>``, e.g.
  ``w_init=reach-v3`` for reach-wall) and ``α`` are learned;
* ``scratch/``: the same agent trained from scratch (``Φ``, ``w`` and ``α``);

plus ``comparison.json`` (final success of both, whether ``Φ`` stayed bit-identical) and
``comparison.png`` (mean success against frames). Budgets default to what each source task got
(``collector.total_frames``, ``init_random_frames``, ``optim.batch_size``, evaluation, logging and
checkpoint intervals are scaled from the source's per-task share); any ``key=value`` of the run
config overrides them.

``critic=train`` keeps the critics trainable in the transfer run (the policy's ``Φ`` stays frozen):
with the default ``paco.share_w=true`` a frozen critic has to fit the new task's values through the
same ``K`` numbers as the policy, which can fail where the policy subspace itself would do.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from paco_torchrl.analysis.plots import compare_success
from paco_torchrl.training import CheckpointError, ConfigError, load_checkpoint, load_config, task_names, train
from paco_torchrl.training.checkpoint import atomic_write_text
from paco_torchrl.training.config import split_overrides
from paco_torchrl.training.transfer import (
    W_INITS,
    freeze_parameter_set,
    load_parameter_set,
    same_parameter_set,
)

MODES = ("both", "transfer", "scratch")
CRITICS = ("frozen", "train")
_PER_TASK_KEYS = (
    "collector.total_frames", "collector.init_random_frames", "optim.batch_size", "eval.interval_frames",
    "checkpoint.interval_frames", "logger.interval_frames",
)


def _benchmark_for(source_cfg: DictConfig, tasks: list[str]) -> str:
    benchmark = source_cfg.env.benchmark
    if benchmark == "MT10":
        from paco_torchrl.envs.metaworld import benchmark_task_names

        mt10 = benchmark_task_names("MT10")
        if not all(t in mt10 or f"{t}-v3" in mt10 for t in tasks):
            return "MT50"
    return benchmark


def transfer_config(source: Path, tasks: list[str], overrides: list[str]) -> DictConfig:
    """The source run's config for ``tasks``, budgets scaled to the source's per-task share, then ``overrides``."""
    source_cfg = load_config(source / "config.yaml")
    source_tasks = len(task_names(source_cfg))
    scaled = [
        f"{key}={max(1, int(OmegaConf.select(source_cfg, key)) // source_tasks * len(tasks))}"
        for key in _PER_TASK_KEYS
    ]
    tasks_list = "[" + ",".join(tasks) + "]"
    base = [f"env.tasks={tasks_list}", f"env.benchmark={_benchmark_for(source_cfg, tasks)}", "resume=null", "output_dir=null", *scaled]
    return load_config(source / "config.yaml", base + list(overrides))


def run_transfer(
    source: str | Path,
    tasks: list[str],
    overrides: list[str] = (),
    *,
    mode: str = "both",
    w_init: str = "mean",
    critic: str = "frozen",
    output_dir: str | Path | None = None,
) -> dict:
    """Runs the transfer (frozen ``Φ``) and / or the from-scratch training; returns the comparison."""
    if mode not in MODES:
        raise ConfigError(f"mode: must be one of {MODES}, got {mode!r}")
    if critic not in CRITICS:
        raise ConfigError(f"critic: must be one of {CRITICS}, got {critic!r}")
    source = Path(source)
    if not (source / "config.yaml").is_file():
        raise ConfigError(f"source: no run directory with a config.yaml at {source}")
    start: str | int = w_init
    if w_init not in W_INITS:
        source_tasks = list(task_names(load_config(source / "config.yaml")))
        if w_init not in source_tasks:
            raise ConfigError(f"w_init: must be one of {W_INITS} or a source task ({', '.join(source_tasks)})")
        start = source_tasks.index(w_init)
    source_state = load_checkpoint(source / "checkpoint.pt")
    cfg = transfer_config(source, tasks, overrides)
    out = Path(output_dir or cfg.output_dir or source / f"transfer-{'_'.join(tasks)}")
    comparison: dict = {"source": str(source), "tasks": list(task_names(cfg)), "w_init": w_init,
                        "critic": critic, "frames": int(cfg.collector.total_frames)}

    def prepare(agent) -> None:
        load_parameter_set(agent, source_state, w_init=start)
        freeze_parameter_set(agent, train_critics=critic == "train")

    runs = {}
    for name in ("transfer", "scratch"):
        if mode not in ("both", name):
            continue
        run_cfg = cfg.copy()
        run_cfg.output_dir = str(out / name)
        results = train(run_cfg, prepare if name == "transfer" else None)
        comparison[name] = {"mean_success": results["mean_success"], "per_task_success": results["per_task_success"]}
        runs[f"{name} ({'frozen Φ, learn w, α' if name == 'transfer' else 'Φ, w, α'})"] = out / name
    if "transfer" in comparison:
        moved = load_checkpoint(out / "transfer" / "checkpoint.pt")
        comparison["phi_bit_identical"] = same_parameter_set(source_state, moved)  # actor and critics
        comparison["actor_phi_bit_identical"] = same_parameter_set(source_state, moved, "actor")
    atomic_write_text(out / "comparison.json", json.dumps(comparison, indent=2))
    compare_success(runs, out / "comparison.png", title=f"{', '.join(comparison['tasks'])} from {source.name}")
    return comparison


def main(argv: list[str] | None = None) -> int:
    """Command line: ``source=``, ``tasks=[...]``, ``mode=``, ``w_init=`` and run-config ``key=value`` overrides."""
    argv = sys.argv[1:] if argv is None else argv
    own, rest = split_overrides(argv, {"source": None, "tasks": None, "mode": "both", "w_init": "mean", "critic": "frozen"})
    try:
        if not own["source"] or not own["tasks"]:
            raise ConfigError("source=<run_dir> and tasks=[name,...] are required")
        tasks = [t.strip() for t in own["tasks"].strip("[]").split(",") if t.strip()]
        comparison = run_transfer(
            own["source"], tasks, rest, mode=own["mode"], w_init=own["w_init"], critic=own["critic"]
        )
    except (ConfigError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(comparison, indent=2))
    return 0

