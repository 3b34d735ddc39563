"""Run configuration: a typed, documented schema (defaults = original PaCo on MT10-rand), YAML + ``key=value`` overrides.

Every value is checked by :func:`validate_config` before any environment starts,
with a one-line error naming the key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from omegaconf import DictConfig, OmegaConf

from paco_torchrl.algos import ALGOS, algo_sections, validate_algo_sections
from paco_torchrl.algos.schema import ConfigError, check, check_choices, option
from paco_torchrl.envs.metaworld import BACKENDS
from paco_torchrl.envs.tasks import env_task_names
from paco_torchrl.nn.init import INIT_SCHEMES
from paco_torchrl.objectives.sac import ACTOR_LOSS_FORMS, LOSS_FUNCTIONS
from paco_torchrl.training.tracking import missing_tracker_package

Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = get_args(Device)
Benchmark = Literal["MT10", "MT50", "toy"]
BENCHMARKS: tuple[str, ...] = get_args(Benchmark)
RewardVersion = Literal["v1", "v2"]
REWARD_VERSIONS: tuple[str, ...] = get_args(RewardVersion)
Logger = Literal["csv", "tensorboard", "wandb", "mlflow"]  # see paco_torchrl/training/tracking.py
LOGGERS: tuple[str, ...] = get_args(Logger)
Loss = Literal["sac", "td3", "redq", "crossq"]  # see paco_torchrl/training/losses.py
LOSSES: tuple[str, ...] = get_args(Loss)
FaultKind = Literal["scale", "nan", "inf"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
EvalGoals = Literal["train", "held_out"]
EVAL_GOALS: tuple[str, ...] = get_args(EvalGoals)
CompileMode = Literal[None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]
COMPILE_MODES: tuple = get_args(CompileMode)
INITS = INIT_SCHEMES  # see paco_torchrl/nn/init.py


@dataclass
class EnvConfig:
    """The ``env`` section: benchmark, tasks, episode length and the vector-env backend."""

    benchmark: str = option("MT10", "MT10 | MT50 | toy (the fast pure-torch multi-task env)", BENCHMARKS)
    tasks: Any = option(None, "list of task names; null = every task of the benchmark")
    max_episode_steps: int = option(150, "time-out (bootstrapped, not terminal), at most 500")
    reward_function_version: str = option("v2", "Meta-World reward version", REWARD_VERSIONS)
    envs_per_task: int = option(1, "parallel envs per task")
    backend: str = option("auto", "vector env: auto | gym_vector | serial | parallel", BACKENDS)
    num_toy_tasks: int = option(4, "benchmark=toy only (env.tasks may select some: [rotate-0, ...])")
    goal_set_seed: Any = option(0, "metaworld.MT10(goal_set_seed): the 50 goals per task; 0 (original), null = seed")


@dataclass
class CollectorConfig:
    """The ``collector`` section: frames, warm-up and the update-to-data ratio."""

    total_frames: int = option(20_000_000, "frames to collect in all (2M per task on MT10)")
    init_random_frames: int = option(15_000, "frames collected before the first update")
    init_random_actions: bool = option(False, "uniform actions during warm-up (false: the initial policy, original)")
    updates_per_step: int = option(1, "gradient updates per vector-env step")
    async_collection: bool = option(False, "collect in a separate process, concurrently with the updates")
    steps_per_batch: int = option(1, "vector-env steps per collector batch (the update-to-data ratio is kept)")


@dataclass
class OptimConfig:
    """The ``optim`` section: batch, learning rates, Adam, discount and target update."""

    batch_size: int = option(1280, "transitions per update, balanced over tasks (divisible by T)")
    lr: float = option(3e-4, "learning rate of Φ (actor and critics)")
    alpha_lr: float = option(1e-4, "learning rate of the per-task temperatures")
    w_lr: float = option(3e-4, "learning rate of the compositional vectors W")
    eps: float = option(1e-7, "Adam epsilon")
    gamma: float = option(0.99, "discount")
    tau: float = option(0.005, "target networks' soft-update rate")


@dataclass
class ReplayConfig:
    """The ``replay`` section: per-task balanced replay."""

    capacity_per_env: int = option(1_000_000, "transitions kept per env")
    device: str = option("auto", "storage device; auto = the training device", DEVICES)
    prefetch: int = option(0, "batches sampled ahead in a thread (0: on demand, reproducible)")
    direct: bool = option(True, "write and gather the stored tensors directly (same data and samples); "
                                "false = TorchRL's extend/sample")


@dataclass
class NetworkConfig:
    """The ``network`` section: hidden sizes, init scheme and the policy's log-std clamp."""

    num_cells: list = option([400, 400, 400], "hidden layer sizes (actor and critics)")
    init: str = option("original", "original (PaCo/ALF: xavier/fan-in hidden, small heads, zero biases) | torch",
                       INIT_SCHEMES)
    log_std_min: float = option(-10.0, "lower clamp of the policy's log-std")
    log_std_max: float = option(2.0, "upper clamp of the policy's log-std")


@dataclass
class SACConfig:
    """The ``sac`` section: per-task temperatures and the SAC loss form."""

    alpha_init: float = option(1.0, "initial α of every task (log α = 0)")
    min_alpha: float = option(4.5399929762484854e-05, "lower bound of α (e^-10)")
    max_alpha: float = option(1.0, "upper bound of α")
    target_entropy: Any = option(None, "null = dim(A)·ln(0.2) = -6.44 on Meta-World")
    actor_loss_form: str = option("dqda", "dqda (the original's gradient form) | q (-Q + α log π)", ACTOR_LOSS_FORMS)
    loss_function: str = option("l2", "critic TD loss", LOSS_FUNCTIONS)


@dataclass
class LossWeightsConfig:
    """Weights of the per-task losses in ``J_τ`` (compared with ε and backpropagated)."""

    actor: float = option(1.0, "weight of the actor loss in J_τ")
    qvalue: float = option(0.5, "weight of the critic loss (the original's length-2 sequences: ½)")
    alpha: float = option(1.0, "weight of the temperature loss")


@dataclass
class EvalConfig:
    """The ``eval`` section: the evaluation protocol."""

    interval_frames: int = option(500_000, "frames between evaluations")
    episodes_per_task: int = option(10, "deterministic episodes per task, success at any step")
    goals: str = option("train", "train: new goals from the training goal set (paper) | held_out: another set",
                        EVAL_GOALS)


@dataclass
class CheckpointConfig:
    """The ``checkpoint`` section."""

    interval_frames: int = option(1_000_000, "frames between checkpoints")
    interval_minutes: Any = option(None, "also checkpoint after this many minutes of wall-clock; null = frames only")
    replay: bool = option(True, "save the replay buffer (memory-mapped) with each checkpoint: exact resume")


@dataclass
class FaultConfig:
    """Fault injection (off by default): one task's reward explodes from ``at_frame`` on."""

    task: Any = option(None, "task name (or index) whose reward goes bad; null = no fault")
    at_frame: int = option(0, "first frame of the fault")
    until_frame: Any = option(None, "first frame after the fault (clean data again); null = to the end")
    kind: str = option("scale", "scale (reward × scale) | nan | inf", FAULT_KINDS)
    scale: float = option(1e6, "reward factor of kind=scale")


@dataclass
class LoggerConfig:
    """The ``logger`` section."""

    backend: str = option("csv", "csv | tensorboard | wandb | mlflow (CSV is always written as well)", LOGGERS)
    interval_frames: int = option(10_000, "frames between log rows")
    project: str = option("paco_torchrl", "wandb project / mlflow experiment")
    run_name: Any = option(None, "wandb / mlflow run name; null = the run directory's name")
    mlflow_tracking_uri: Any = option(None, "mlflow tracking URI; null = sqlite:///<run_dir>/logs/mlflow.db")


@dataclass
class _RunConfigCore:
    seed: int = option(0, "seed of everything (envs, networks, replay, goals)")
    device: str = option("auto", "auto = cuda when available", DEVICES)
    threads: Any = option(None, "torch CPU threads; null = cores not used by env workers")
    output_dir: Any = option(None, "run directory; null = runs/<benchmark>-<algo>-seed<seed>-<time>")
    resume: Any = option(None, "run directory to continue from its checkpoint")
    algo: str = option("paco", "the method: " + " | ".join(ALGOS), tuple(ALGOS))
    loss: str = option("sac", "sac (MultiTaskSACLoss) | td3 | redq | crossq (TorchRL losses, per task)", LOSSES)
    progress: bool = option(True, "progress bar")
    compile: bool = option(False, "torch.compile the Algorithm-1 update")
    compile_mode: Any = option(None, "torch.compile mode (null = its default)", COMPILE_MODES)
    cudagraphs: bool = option(False, "capture the update in a CUDA graph (CUDA only)")
    env: EnvConfig = field(default_factory=EnvConfig)
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    sac: SACConfig = field(default_factory=SACConfig)
    loss_weights: LossWeightsConfig = field(default_factory=LossWeightsConfig)


@dataclass
class _RunConfigTail:
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    fault: FaultConfig = field(default_factory=FaultConfig)


# The run config: the core sections, then every algo's own section (paco, soft_modules, care, moore,
# from the registry), then evaluation, checkpoints, logging and faults.
RunConfig = dataclasses.make_dataclass(
    "RunConfig",
    [
        *((f.name, f.type, f) for f in dataclasses.fields(_RunConfigCore)),
        *((name, section, field(default_factory=section)) for name, section in algo_sections().items()),
        *((f.name, f.type, f) for f in dataclasses.fields(_RunConfigTail)),
    ],
)
RunConfig.__module__ = __name__  # the string annotations resolve here
RunConfig.__doc__ = "A run's configuration (defaults: the original PaCo on MT10-rand); see ``--help``."


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> DictConfig:
    """Schema defaults, then the YAML file at ``path``, then ``key=value`` overrides.

    Unknown keys and ill-typed values raise :class:`ConfigError` with a one-line message.
    """
    cfg = OmegaConf.structured(RunConfig)
    try:
        for layer in _config_chain(Path(path)) if path is not None else []:
            cfg = OmegaConf.merge(cfg, layer)
        if overrides:
            bad = [o for o in overrides if "=" not in o]
            if bad:
                raise ConfigError(f"overrides must look like key=value, got {bad[0]!r}")
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    except ConfigError:
        raise
    except Exception as err:  # omegaconf's errors are multi-line and may lack the key: one line, key first
        raise ConfigError(_one_line(err)) from None
    return cfg


def _one_line(err: Exception) -> str:
    """``"<key>: <first line of omegaconf's message>"`` (the key where omegaconf knows it)."""
    lines = str(err).splitlines()
    message = lines[0] if lines else type(err).__name__
    key = getattr(err, "full_key", None)
    return f"{key}: {message}" if key else message


def split_overrides(argv: list[str], own: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Separates a script's own ``key=value`` arguments (the keys of ``own``, with their defaults)
    from the run-config overrides.

    Examples:
        >>> split_overrides(["run=r1", "seed=3"], {"run": None, "angles": "24"})
        ({'run': 'r1', 'angles': '24'}, ['seed=3'])
    """
    values, rest = dict(own), []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key in values:
            values[key] = value
        else:
            rest.append(arg)
    return values, rest


def _config_chain(path: Path) -> list[DictConfig]:
    """The YAML at ``path`` after the files it names in ``defaults_from`` (relative to it)."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    layer = OmegaConf.load(path)
    parent = layer.pop("defaults_from", None)
    return (_config_chain(path.parent / parent) if parent else []) + [layer]


def _check_schema_choices(cfg: DictConfig, schema: type = None, prefix: str = "") -> None:
    """Every field declared with ``choices`` in the schema, section by section (in schema order)."""
    schema = RunConfig if schema is None else schema
    check_choices(cfg, schema, prefix)
    for f in dataclasses.fields(schema):
        if f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(section := f.default_factory()):
            check_choices(cfg[f.name], type(section), f"{prefix}{f.name}.")


def validate_config(cfg: DictConfig) -> None:
    """Checks every value; raises :class:`ConfigError` naming the first bad key.

    Choice keys are checked against the schema's choices (:func:`~paco_torchrl.algos.schema.option`);
    each algo's section by its own validation (:func:`~paco_torchrl.algos.validate_algo_sections`).
    """
    _check_schema_choices(cfg)
    if cfg.device == "cuda":
        import torch

        check(torch.cuda.is_available(), "device", "cuda requested but torch.cuda.is_available() is False")
    check(cfg.threads is None or int(cfg.threads) >= 1, "threads", f"must be >= 1, got {cfg.threads}")
    if cfg.compile or cfg.cudagraphs:
        key = "compile" if cfg.compile else "cudagraphs"
        check(cfg.loss == "sac", key, f"is implemented for loss=sac (MultiTaskSACLoss) only, got loss={cfg.loss!r}")
        check(
            ALGOS[cfg.algo].make_update is None,
            key,
            f"is implemented for PaCo's update step; algo={cfg.algo} has its own",
        )
    if cfg.cudagraphs:
        import torch

        on_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
        check(on_cuda, "cudagraphs", f"needs a CUDA device, but device={cfg.device!r} runs on the CPU")
    env = cfg.env
    check(1 <= env.max_episode_steps <= 500, "env.max_episode_steps", f"must be in [1, 500], got {env.max_episode_steps}")
    check(env.envs_per_task >= 1, "env.envs_per_task", f"must be >= 1, got {env.envs_per_task}")
    check(env.num_toy_tasks >= 1, "env.num_toy_tasks", f"must be >= 1, got {env.num_toy_tasks}")
    check(
        env.goal_set_seed is None or (isinstance(env.goal_set_seed, int) and env.goal_set_seed >= 0),
        "env.goal_set_seed",
        f"must be a non-negative int or null (= seed), got {env.goal_set_seed!r}",
    )
    num_tasks = len(task_names(cfg))
    col = cfg.collector
    check(col.total_frames > 0, "collector.total_frames", f"must be > 0, got {col.total_frames}")
    check(col.init_random_frames >= 0, "collector.init_random_frames", f"must be >= 0, got {col.init_random_frames}")
    check(col.updates_per_step >= 1, "collector.updates_per_step", f"must be >= 1, got {col.updates_per_step}")
    check(col.steps_per_batch >= 1, "collector.steps_per_batch", f"must be >= 1, got {col.steps_per_batch}")
    opt = cfg.optim
    check(opt.batch_size > 0, "optim.batch_size", f"must be > 0, got {opt.batch_size}")
    check(
        opt.batch_size % num_tasks == 0,
        "optim.batch_size",
        f"must be divisible by the number of tasks ({num_tasks}) for balanced sampling, got {opt.batch_size}",
    )
    for key in ("lr", "alpha_lr", "w_lr", "eps"):
        check(opt[key] > 0, f"optim.{key}", f"must be > 0, got {opt[key]}")
    check(0 < opt.gamma <= 1, "optim.gamma", f"must be in (0, 1], got {opt.gamma}")
    check(0 < opt.tau <= 1, "optim.tau", f"must be in (0, 1], got {opt.tau}")
    check(cfg.replay.capacity_per_env >= 1, "replay.capacity_per_env", "must be >= 1")
    check(cfg.replay.prefetch >= 0, "replay.prefetch", f"must be >= 0, got {cfg.replay.prefetch}")
    check(
        len(cfg.network.num_cells) >= 1 and all(int(c) >= 1 for c in cfg.network.num_cells),
        "network.num_cells",
        "must be a non-empty list of positive sizes",
    )
    for key, value in cfg.loss_weights.items():
        check(math.isfinite(value) and value >= 0, f"loss_weights.{key}", f"must be finite and >= 0, got {value}")
    sac = cfg.sac
    check(sac.alpha_init > 0, "sac.alpha_init", f"must be > 0, got {sac.alpha_init}")
    check(0 < sac.min_alpha <= sac.max_alpha, "sac.min_alpha", "must satisfy 0 < min_alpha <= max_alpha")
    algo = ALGOS[cfg.algo]
    check(algo.losses is None or cfg.loss in algo.losses, "loss",
          f"algo={cfg.algo} supports loss in {algo.losses}, got {cfg.loss!r}")
    validate_algo_sections(cfg, num_tasks)
    check(cfg.eval.interval_frames > 0, "eval.interval_frames", f"must be > 0, got {cfg.eval.interval_frames}")
    check(cfg.eval.episodes_per_task >= 1, "eval.episodes_per_task", "must be >= 1")
    check(cfg.checkpoint.interval_frames > 0, "checkpoint.interval_frames", "must be > 0")
    minutes = cfg.checkpoint.interval_minutes
    check(minutes is None or (isinstance(minutes, (int, float)) and not isinstance(minutes, bool) and minutes > 0),
          "checkpoint.interval_minutes", f"must be null or a number > 0, got {minutes!r}")
    check(cfg.logger.interval_frames > 0, "logger.interval_frames", "must be > 0")
    missing = missing_tracker_package(cfg.logger.backend)
    check(missing is None, "logger.backend",
          f"{cfg.logger.backend} needs the {missing} package: pip install 'paco_torchrl[{cfg.logger.backend}]'")
    if cfg.resume is not None:
        check(Path(cfg.resume).is_dir(), "resume", f"no run directory at {cfg.resume!r}")
        check(
            (Path(cfg.resume) / "checkpoint.pt").is_file(), "resume", f"no checkpoint.pt in {cfg.resume!r} to resume from"
        )
    fault = cfg.fault
    if fault.task is not None:
        names = task_names(cfg)
        check(
            fault.task in names or (isinstance(fault.task, int) and 0 <= fault.task < len(names)),
            "fault.task",
            f"must be one of the run's tasks {names} or an index below {len(names)}, got {fault.task!r}",
        )
        check(fault.at_frame >= 0, "fault.at_frame", f"must be >= 0, got {fault.at_frame}")
        check(
            fault.until_frame is None or (isinstance(fault.until_frame, int) and fault.until_frame > fault.at_frame),
            "fault.until_frame",
            f"must be null or an int > fault.at_frame ({fault.at_frame}), got {fault.until_frame!r}",
        )
        check(math.isfinite(fault.scale), "fault.scale", f"must be finite, got {fault.scale}")


def task_names(cfg: DictConfig) -> tuple[str, ...]:
    """The run's task names (validated; cheap: builds no environment)."""
    try:
        return env_task_names(cfg.env)
    except ValueError as err:
        raise ConfigError(f"env.tasks: {err}") from None
