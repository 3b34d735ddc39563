"""Run configuration: a typed schema (defaults = original PaCo on MT10-rand), YAML + ``key=value`` overrides.

Every value is checked by :func:`validate_config` before any environment starts,
with a one-line error naming the key and what is allowed.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "gym_vector", "serial", "parallel")
BENCHMARKS = ("MT10", "MT50", "toy")
LOGGERS = ("csv", "tensorboard")
LOSSES = ("sac", "td3", "redq", "crossq")  # see paco_torchrl/training/losses.py
FAULT_KINDS = ("scale", "nan", "inf")
INITS = ("original", "torch")  # see paco_torchrl/nn/init.py
EVAL_GOALS = ("train", "held_out")


@dataclass
class EnvConfig:
    benchmark: str = "MT10"
    tasks: Any = None  # list of task names; None = every task of the benchmark
    max_episode_steps: int = 150
    reward_function_version: str = "v2"
    envs_per_task: int = 1
    backend: str = "auto"
    num_toy_tasks: int = 4  # benchmark=toy only (env.tasks may select some of them: [rotate-0, ...])
    goal_set_seed: Any = 0  # metaworld.MT10(goal_set_seed): the 50 goals per task; 0 as in the original, None = seed


@dataclass
class CollectorConfig:
    total_frames: int = 20_000_000
    init_random_frames: int = 15_000  # frames collected before the first update
    init_random_actions: bool = False  # False: the initial policy acts during them (original); True: uniform
    updates_per_step: int = 1  # gradient updates per vector-env step
    async_collection: bool = False  # collect in a separate process, concurrently with the updates
    steps_per_batch: int = 1  # vector-env steps per collector batch (the update-to-data ratio is kept)


@dataclass
class OptimConfig:
    batch_size: int = 1280
    lr: float = 3e-4
    alpha_lr: float = 1e-4
    w_lr: float = 3e-4
    eps: float = 1e-7
    gamma: float = 0.99
    tau: float = 0.005


@dataclass
class ReplayConfig:
    capacity_per_env: int = 1_000_000
    device: str = "auto"  # auto = the training device
    prefetch: int = 0  # batches sampled ahead in a thread (0: on demand, reproducible)


@dataclass
class NetworkConfig:
    num_cells: list = field(default_factory=lambda: [400, 400, 400])
    init: str = "original"  # original (PaCo/ALF: xavier/fan-in hidden, small heads, zero biases) | torch
    log_std_min: float = -10.0
    log_std_max: float = 2.0


@dataclass
class SACConfig:
    alpha_init: float = 1.0
    min_alpha: float = 4.5399929762484854e-05  # e^-10
    max_alpha: float = 1.0
    target_entropy: Any = None  # None = dim(A)·ln(0.2) = -6.44 on Meta-World
    actor_loss_form: str = "dqda"
    loss_function: str = "l2"


@dataclass
class LossWeightsConfig:
    """Weights of the per-task losses in ``J_τ`` (compared with ε and backpropagated)."""

    actor: float = 1.0
    qvalue: float = 0.5  # the original's length-2 sequences: the 2nd step has no TD loss
    alpha: float = 1.0


@dataclass
class PaCoConfig:
    num_param_sets: int = 5
    loss_threshold: float = 3000.0
    loss_maskout: bool = True
    w_reset: bool = True
    w_reset_beta: str = "uniform_l1"  # the original code; "simplex" = Eqn 3 read literally
    reset_optimizer_state: bool = False
    w_init: str = "normal"
    identical_init: bool = True
    normalize_w: bool = False
    scope: str = "all"
    share_w: bool = True


@dataclass
class SoftModulesConfig:  # algo=soft_modules; reference code's MT10 config (modular_2_2_2_256)
    num_layers: int = 2
    num_modules: int = 2
    module_hidden: int = 256
    num_gating_layers: int = 2
    gating_hidden: int = 256
    temp_reweight: bool = True  # task losses weighted by T·softmax(-log α) (reference "temp_reweight")


@dataclass
class CAREConfig:  # algo=care; mtrl's CARE settings
    num_encoders: int = 4
    encoder_hidden: int = 50
    encoder_layers: int = 2
    feature_dim: int = 50
    context_hidden: int = 50
    context_layers: int = 2
    context_dim: int = 50
    temperature: float = 1.0
    embeddings: Any = None  # path to a task-embedding file; None = the packaged all-MiniLM-L6-v2 file


@dataclass
class MOOREConfig:  # algo=moore; the MOORE paper: 4 experts on MT10, 6 on MT50
    num_experts: int = 4


@dataclass
class EvalConfig:
    interval_frames: int = 500_000
    episodes_per_task: int = 10
    goals: str = "train"  # train: new goals from the training goal set (paper, original) | held_out: another set


@dataclass
class CheckpointConfig:
    interval_frames: int = 1_000_000
    replay: bool = True  # save the replay buffer (memory-mapped) with each checkpoint: exact resume


@dataclass
class FaultConfig:
    """Fault injection (off by default): one task's reward explodes from ``at_frame`` on."""

    task: Any = None  # task name (or index) whose reward goes bad; None = no fault
    at_frame: int = 0
    kind: str = "scale"  # scale (reward × scale) | nan | inf
    scale: float = 1e6


@dataclass
class LoggerConfig:
    backend: str = "csv"
    interval_frames: int = 10_000


@dataclass
class RunConfig:
    seed: int = 0
    device: str = "auto"
    threads: Any = None  # torch CPU threads; None = cores not used by env workers
    output_dir: Any = None  # None = runs/<benchmark>-<algo>-seed<seed>-<time>
    resume: Any = None
    algo: str = "paco"
    loss: str = "sac"  # sac (MultiTaskSACLoss) | td3 | redq | crossq (TorchRL losses, per task)
    progress: bool = True
    compile: bool = False  # torch.compile the Algorithm-1 update
    compile_mode: Any = None  # torch.compile mode (None = its default)
    cudagraphs: bool = False  # capture the update in a CUDA graph (CUDA only)
    env: EnvConfig = field(default_factory=EnvConfig)
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    sac: SACConfig = field(default_factory=SACConfig)
    loss_weights: LossWeightsConfig = field(default_factory=LossWeightsConfig)
    paco: PaCoConfig = field(default_factory=PaCoConfig)
    soft_modules: SoftModulesConfig = field(default_factory=SoftModulesConfig)
    care: CAREConfig = field(default_factory=CAREConfig)
    moore: MOOREConfig = field(default_factory=MOOREConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    fault: FaultConfig = field(default_factory=FaultConfig)


class ConfigError(ValueError):
    """A bad configuration value (the message names the key)."""


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
    except Exception as err:  # omegaconf's errors are multi-line: keep the first line
        raise ConfigError(str(err).splitlines()[0]) from None
    return cfg


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


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


def validate_config(cfg: DictConfig) -> None:
    """Checks every value; raises :class:`ConfigError` naming the first bad key."""
    from paco_torchrl.baselines import ALGOS

    _check(cfg.device in DEVICES, "device", f"must be one of {DEVICES}, got {cfg.device!r}")
    if cfg.device == "cuda":
        import torch

        _check(torch.cuda.is_available(), "device", "cuda requested but torch.cuda.is_available() is False")
    _check(cfg.algo in ALGOS, "algo", f"must be one of {tuple(ALGOS)}, got {cfg.algo!r}")
    _check(cfg.loss in LOSSES, "loss", f"must be one of {LOSSES}, got {cfg.loss!r}")
    _check(cfg.threads is None or int(cfg.threads) >= 1, "threads", f"must be >= 1, got {cfg.threads}")
    modes = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
    _check(cfg.compile_mode in modes, "compile_mode", f"must be one of {modes}, got {cfg.compile_mode!r}")
    if cfg.compile or cfg.cudagraphs:
        key = "compile" if cfg.compile else "cudagraphs"
        _check(cfg.loss == "sac", key, f"is implemented for loss=sac (MultiTaskSACLoss) only, got loss={cfg.loss!r}")
        _check(
            cfg.algo not in ALGOS or ALGOS[cfg.algo].make_update is None,
            key,
            f"is implemented for PaCo's update step; algo={cfg.algo} has its own",
        )
    if cfg.cudagraphs:
        import torch

        on_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
        _check(on_cuda, "cudagraphs", f"needs a CUDA device, but device={cfg.device!r} runs on the CPU")
    env = cfg.env
    _check(env.benchmark in BENCHMARKS, "env.benchmark", f"must be one of {BENCHMARKS}, got {env.benchmark!r}")
    _check(env.backend in BACKENDS, "env.backend", f"must be one of {BACKENDS}, got {env.backend!r}")
    _check(1 <= env.max_episode_steps <= 500, "env.max_episode_steps", f"must be in [1, 500], got {env.max_episode_steps}")
    _check(env.envs_per_task >= 1, "env.envs_per_task", f"must be >= 1, got {env.envs_per_task}")
    _check(env.reward_function_version in ("v1", "v2"), "env.reward_function_version", "must be 'v1' or 'v2'")
    _check(env.num_toy_tasks >= 1, "env.num_toy_tasks", f"must be >= 1, got {env.num_toy_tasks}")
    _check(
        env.goal_set_seed is None or (isinstance(env.goal_set_seed, int) and env.goal_set_seed >= 0),
        "env.goal_set_seed",
        f"must be a non-negative int or null (= seed), got {env.goal_set_seed!r}",
    )
    num_tasks = len(task_names(cfg))
    col = cfg.collector
    _check(col.total_frames > 0, "collector.total_frames", f"must be > 0, got {col.total_frames}")
    _check(col.init_random_frames >= 0, "collector.init_random_frames", f"must be >= 0, got {col.init_random_frames}")
    _check(col.updates_per_step >= 1, "collector.updates_per_step", f"must be >= 1, got {col.updates_per_step}")
    _check(col.steps_per_batch >= 1, "collector.steps_per_batch", f"must be >= 1, got {col.steps_per_batch}")
    opt = cfg.optim
    _check(opt.batch_size > 0, "optim.batch_size", f"must be > 0, got {opt.batch_size}")
    _check(
        opt.batch_size % num_tasks == 0,
        "optim.batch_size",
        f"must be divisible by the number of tasks ({num_tasks}) for balanced sampling, got {opt.batch_size}",
    )
    for key in ("lr", "alpha_lr", "w_lr", "eps"):
        _check(opt[key] > 0, f"optim.{key}", f"must be > 0, got {opt[key]}")
    _check(0 < opt.gamma <= 1, "optim.gamma", f"must be in (0, 1], got {opt.gamma}")
    _check(0 < opt.tau <= 1, "optim.tau", f"must be in (0, 1], got {opt.tau}")
    _check(cfg.replay.capacity_per_env >= 1, "replay.capacity_per_env", "must be >= 1")
    _check(cfg.replay.prefetch >= 0, "replay.prefetch", f"must be >= 0, got {cfg.replay.prefetch}")
    _check(cfg.replay.device in DEVICES, "replay.device", f"must be one of {DEVICES}, got {cfg.replay.device!r}")
    _check(
        len(cfg.network.num_cells) >= 1 and all(int(c) >= 1 for c in cfg.network.num_cells),
        "network.num_cells",
        "must be a non-empty list of positive sizes",
    )
    _check(cfg.network.init in INITS, "network.init", f"must be one of {INITS}, got {cfg.network.init!r}")
    for key, value in cfg.loss_weights.items():
        _check(math.isfinite(value) and value >= 0, f"loss_weights.{key}", f"must be finite and >= 0, got {value}")
    sac = cfg.sac
    _check(sac.alpha_init > 0, "sac.alpha_init", f"must be > 0, got {sac.alpha_init}")
    _check(0 < sac.min_alpha <= sac.max_alpha, "sac.min_alpha", "must satisfy 0 < min_alpha <= max_alpha")
    _check(sac.actor_loss_form in ("dqda", "q"), "sac.actor_loss_form", "must be 'dqda' or 'q'")
    _check(sac.loss_function in ("l2", "l1", "smooth_l1"), "sac.loss_function", "must be l2, l1 or smooth_l1")
    p = cfg.paco
    _check(p.num_param_sets >= 1, "paco.num_param_sets", f"must be >= 1, got {p.num_param_sets}")
    _check(p.loss_threshold > 0, "paco.loss_threshold", f"must be > 0, got {p.loss_threshold}")
    _check(p.w_reset_beta in ("simplex", "uniform_l1"), "paco.w_reset_beta", "must be 'simplex' or 'uniform_l1'")
    _check(p.w_init in ("normal", "one_hot", "uniform"), "paco.w_init", "must be normal, one_hot or uniform")
    _check(
        p.w_init != "one_hot" or p.num_param_sets == num_tasks,
        "paco.w_init",
        f"one_hot needs paco.num_param_sets == number of tasks ({num_tasks}), got {p.num_param_sets}",
    )
    _check(p.scope in ("all", "actor", "output"), "paco.scope", f"must be all, actor or output, got {p.scope!r}")
    _validate_baselines(cfg)
    _check(cfg.eval.interval_frames > 0, "eval.interval_frames", f"must be > 0, got {cfg.eval.interval_frames}")
    _check(cfg.eval.episodes_per_task >= 1, "eval.episodes_per_task", "must be >= 1")
    _check(cfg.eval.goals in EVAL_GOALS, "eval.goals", f"must be one of {EVAL_GOALS}, got {cfg.eval.goals!r}")
    _check(cfg.checkpoint.interval_frames > 0, "checkpoint.interval_frames", "must be > 0")
    _check(cfg.logger.backend in LOGGERS, "logger.backend", f"must be one of {LOGGERS}, got {cfg.logger.backend!r}")
    _check(cfg.logger.interval_frames > 0, "logger.interval_frames", "must be > 0")
    if cfg.resume is not None:
        _check(Path(cfg.resume).is_dir(), "resume", f"no run directory at {cfg.resume!r}")
        _check(
            (Path(cfg.resume) / "checkpoint.pt").is_file(), "resume", f"no checkpoint.pt in {cfg.resume!r} to resume from"
        )
    fault = cfg.fault
    if fault.task is not None:
        names = task_names(cfg)
        _check(
            fault.task in names or (isinstance(fault.task, int) and 0 <= fault.task < len(names)),
            "fault.task",
            f"must be one of the run's tasks {names} or an index below {len(names)}, got {fault.task!r}",
        )
        _check(fault.kind in FAULT_KINDS, "fault.kind", f"must be one of {FAULT_KINDS}, got {fault.kind!r}")
        _check(fault.at_frame >= 0, "fault.at_frame", f"must be >= 0, got {fault.at_frame}")
        _check(math.isfinite(fault.scale), "fault.scale", f"must be finite, got {fault.scale}")


def _validate_baselines(cfg: DictConfig) -> None:
    """The ``soft_modules``, ``care`` and ``moore`` sections, and the losses an algo supports."""
    from paco_torchrl.baselines import ALGOS

    algo = ALGOS[cfg.algo]
    _check(algo.losses is None or cfg.loss in algo.losses, "loss",
           f"algo={cfg.algo} supports loss in {algo.losses}, got {cfg.loss!r}")
    sm = cfg.soft_modules
    _check(sm.num_layers >= 2, "soft_modules.num_layers", f"must be >= 2, got {sm.num_layers}")
    for key in ("num_modules", "module_hidden", "gating_hidden"):
        _check(sm[key] >= 1, f"soft_modules.{key}", f"must be >= 1, got {sm[key]}")
    _check(sm.num_gating_layers >= 0, "soft_modules.num_gating_layers", f"must be >= 0, got {sm.num_gating_layers}")
    care = cfg.care
    for key in ("num_encoders", "encoder_hidden", "encoder_layers", "feature_dim", "context_hidden",
                "context_layers", "context_dim"):
        _check(care[key] >= 1, f"care.{key}", f"must be >= 1, got {care[key]}")
    _check(care.temperature > 0, "care.temperature", f"must be > 0, got {care.temperature}")
    _check(care.embeddings is None or Path(care.embeddings).is_file(), "care.embeddings",
           f"no file at {care.embeddings!r}")
    k, width = cfg.moore.num_experts, int(cfg.network.num_cells[-1])
    _check(k >= 1, "moore.num_experts", f"must be >= 1, got {k}")
    _check(cfg.algo != "moore" or k <= width, "moore.num_experts",
           f"orthogonal experts need num_experts <= network.num_cells[-1] ({width}), got {k}")


def task_names(cfg: DictConfig) -> tuple[str, ...]:
    """The run's task names (validated; cheap: builds no environment)."""
    env = cfg.env
    if env.benchmark == "toy":
        from paco_torchrl.envs.toy import resolve_toy_tasks, toy_task_names

        try:  # a subset of the env.num_toy_tasks rotations, e.g. to hold one out for transfer
            ids = resolve_toy_tasks(env.num_toy_tasks, None if env.tasks is None else list(env.tasks))
        except ValueError as err:
            raise ConfigError(f"env.tasks: {err}") from None
        return tuple(toy_task_names(env.num_toy_tasks)[i] for i in ids)
    from paco_torchrl.envs.metaworld import resolve_tasks

    try:
        return resolve_tasks(env.benchmark, None if env.tasks is None else list(env.tasks))
    except ValueError as err:
        raise ConfigError(f"env.tasks: {err}") from None
