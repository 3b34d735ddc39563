"""The launcher settings of a sweep: command-line options over an optional YAML file, validated.

    python recipes/sweep.py --launcher slurm --launcher-config cluster.yaml --slurm-time 4:00:00 ...

``--launcher-config`` reads a YAML file with the same settings (the command line wins), e.g.::

    cpus_per_run: 8
    gpus_per_run: 1
    max_restarts: 10
    ray:
      address: auto
    slurm:
      partition: gpu
      time: "24:00:00"
      array_parallelism: 16
      extra: {account: my-project, qos: normal, mem: 64G}   # any sbatch option

An unknown key, a wrong type or a bad value stops the sweep with one line before anything starts.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from paco_torchrl.experiments.launch import LauncherError

LAUNCHERS = ("local", "ray", "slurm")


@dataclass
class RayConfig:
    address: str | None = None  # a running cluster (``auto``, ``ray://host:10001``); none: start a local one
    num_cpus: int | None = None  # CPUs of the local cluster started when there is no address (default: all)


@dataclass
class SlurmConfig:
    partition: str | None = None
    time: str = "24:00:00"  # per job: minutes, or [D-]HH:MM[:SS]; a run longer than this requeues and resumes
    array_parallelism: int = 256  # at most this many runs of the job array at a time
    signal_delay: int = 120  # seconds before the time limit at which SIGUSR2 asks the run to checkpoint
    cluster: str = "slurm"  # ``local``: submitit's local executor (the same jobs on this machine)
    extra: dict[str, str] = field(default_factory=dict)  # more sbatch options, e.g. account, qos, mem


@dataclass
class LauncherConfig:
    cpus_per_run: int = 1  # CPUs reserved per run (Ray task, Slurm cpus-per-task); also the runs' ``threads``
    gpus_per_run: float = 0.0  # GPUs per run (Ray may share fractions; Slurm takes whole GPUs)
    max_restarts: int = 3  # resumes of a run after a dead worker (Ray) or a time limit (Slurm)
    ray: RayConfig = field(default_factory=RayConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep's launcher options (defaults come from :class:`LauncherConfig`)."""
    group = parser.add_argument_group("launchers (ray: pip install 'paco_torchrl[ray]'; "
                                      "slurm: pip install 'paco_torchrl[slurm]')")
    group.add_argument("--launcher", choices=LAUNCHERS, default="local",
                       help="local: this machine (--jobs); ray: one Ray task per run; slurm: a submitit job array")
    group.add_argument("--launcher-config", type=Path, metavar="YAML", help="launcher settings (options win)")
    group.add_argument("--cpus-per-run", type=int, metavar="N", help="CPUs per run (default 1)")
    group.add_argument("--gpus-per-run", type=float, metavar="G", help="GPUs per run (default 0)")
    group.add_argument("--max-restarts", type=int, metavar="N",
                       help="resumes after a dead worker or a time limit (default 3)")
    group.add_argument("--ray-address", metavar="ADDR", help="a running Ray cluster (default: start a local one)")
    group.add_argument("--ray-num-cpus", type=int, metavar="N", help="CPUs of the local Ray cluster (default: all)")
    group.add_argument("--slurm-partition", metavar="NAME")
    group.add_argument("--slurm-time", metavar="TIME", help="per job: minutes or [D-]HH:MM[:SS] (default 24:00:00)")
    group.add_argument("--slurm-array-parallelism", type=int, metavar="N", help="runs at a time (default 256)")
    group.add_argument("--slurm-signal-delay", type=int, metavar="S",
                       help="checkpoint signal this many seconds before the time limit (default 120)")
    group.add_argument("--slurm-cluster", choices=("slurm", "local"),
                       help="local: submitit's local executor, to try the Slurm path on this machine")
    group.add_argument("--slurm-extra", action="append", default=[], metavar="KEY=VALUE",
                       help="an sbatch option (repeatable), e.g. account=proj qos=high mem=64G")
    group.add_argument("--wait", action="store_true",
                       help="slurm: wait until every job has ended (default: return once queued)")


def minutes(text: str) -> int:
    """Slurm's time formats to whole minutes (rounded up).

    Examples:
        >>> minutes("90"), minutes("4:00:00"), minutes("1-12:00:00"), minutes("0:30:30")
        (90, 240, 2160, 31)
    """
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if match is None:
        raise LauncherError(f"slurm.time: {text!r} is not minutes or [D-]HH:MM[:SS]")
    days, first, second, third = match.groups()
    if second is None and days is None:
        total = int(first) * 60
    else:
        hours, mins, secs = int(first), int(second or 0), int(third or 0)
        total = ((int(days or 0) * 24 + hours) * 60 + mins) * 60 + secs
    if total <= 0:
        raise LauncherError(f"slurm.time: {text!r} must be positive")
    return -(-total // 60)


def load_launcher_config(args: argparse.Namespace) -> DictConfig:
    """Schema defaults, then ``--launcher-config``, then the command-line options; validated."""
    cli: dict = {"ray": {}, "slurm": {}}
    for key in ("cpus_per_run", "gpus_per_run", "max_restarts"):
        if getattr(args, key) is not None:
            cli[key] = getattr(args, key)
    for key in ("address", "num_cpus"):
        if getattr(args, f"ray_{key}") is not None:
            cli["ray"][key] = getattr(args, f"ray_{key}")
    for key in ("partition", "time", "array_parallelism", "signal_delay", "cluster"):
        if getattr(args, f"slurm_{key}") is not None:
            cli["slurm"][key] = getattr(args, f"slurm_{key}")
    extra = {}
    for item in args.slurm_extra:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise LauncherError(f"--slurm-extra: {item!r} is not KEY=VALUE")
        extra[key.lstrip("-").replace("-", "_")] = value
    try:
        cfg = OmegaConf.structured(LauncherConfig)
        if args.launcher_config is not None:
            if not args.launcher_config.is_file():
                raise LauncherError(f"--launcher-config: no file {args.launcher_config}")
            cfg = OmegaConf.merge(cfg, OmegaConf.load(args.launcher_config))
        cfg = OmegaConf.merge(cfg, cli)
        if extra:
            cfg.slurm.extra = {**cfg.slurm.extra, **extra}
    except OmegaConfBaseException as err:
        raise LauncherError(f"launcher config: {str(err).splitlines()[0]} ({err.full_key})") from None
    for key in ("cpus_per_run", "max_restarts"):
        if cfg[key] < (1 if key == "cpus_per_run" else 0):
            raise LauncherError(f"{key}: {cfg[key]} is out of range")
    if cfg.gpus_per_run < 0:
        raise LauncherError(f"gpus_per_run: {cfg.gpus_per_run} is out of range")
    if cfg.ray.num_cpus is not None and (cfg.ray.num_cpus < 1 or cfg.ray.address is not None):
        raise LauncherError("ray.num_cpus: must be >= 1, and only for a local cluster (no ray.address)")
    if args.launcher == "slurm":
        minutes(cfg.slurm.time)
        if cfg.gpus_per_run != int(cfg.gpus_per_run):
            raise LauncherError(f"gpus_per_run: Slurm takes whole GPUs, not {cfg.gpus_per_run}")
        if cfg.slurm.cluster not in ("slurm", "local"):
            raise LauncherError(f"slurm.cluster: {cfg.slurm.cluster!r}; choose slurm or local")
        if cfg.slurm.array_parallelism < 1 or cfg.slurm.signal_delay < 0:
            raise LauncherError("slurm.array_parallelism must be >= 1 and slurm.signal_delay >= 0")
    return cfg
