"""Network builders of the published MTRL baselines (``algo=film|pcgrad|soft_modules|care|moore``).

Every builder returns ``(actor, [critic1, critic2])`` with the same keys, TanhNormal policy,
log-std clamp, per-task α (in the loss) and update as PaCo, so only the network (and, for
PCGrad, the gradient step) differs. The algo-specific sizes live in the ``soft_modules``,
``care`` and ``moore`` config sections (defaults: the paper's / reference code's values);
the shared trunk sizes are ``network.num_cells``.
"""
from __future__ import annotations

from omegaconf import DictConfig
from torch import nn
from torchrl.data import TensorSpec

from paco_torchrl.baselines.nets import CARENet, FiLMMLP, MOORENet, SoftModularNet, load_task_embeddings
from paco_torchrl.baselines.nets.common import build_actor_critics


def _std_bounds(cfg: DictConfig) -> tuple[float, float]:
    return cfg.network.log_std_min, cfg.network.log_std_max


def build_film_networks(
    cfg: DictConfig, observation_dim: int, action_spec: TensorSpec, num_tasks: int
) -> tuple[nn.Module, list[nn.Module]]:
    """SAC+FiLM: :class:`~paco_torchrl.baselines.nets.FiLMMLP` actor and critics."""
    cells = tuple(cfg.network.num_cells)
    return build_actor_critics(
        lambda i, o: FiLMMLP(i, o, cells, num_tasks), observation_dim, action_spec, _std_bounds(cfg)
    )


def build_soft_modules_networks(
    cfg: DictConfig, observation_dim: int, action_spec: TensorSpec, num_tasks: int
) -> tuple[nn.Module, list[nn.Module]]:
    """Soft modularization: :class:`~paco_torchrl.baselines.nets.SoftModularNet` actor and critics."""
    cells, sm = tuple(cfg.network.num_cells), cfg.soft_modules
    kwargs = dict(num_layers=sm.num_layers, num_modules=sm.num_modules, module_hidden=sm.module_hidden,
                  num_gating_layers=sm.num_gating_layers, gating_hidden=sm.gating_hidden)
    return build_actor_critics(
        lambda i, o: SoftModularNet(i, o, cells, num_tasks, **kwargs), observation_dim, action_spec, _std_bounds(cfg)
    )


def build_care_networks(
    cfg: DictConfig, observation_dim: int, action_spec: TensorSpec, num_tasks: int
) -> tuple[nn.Module, list[nn.Module]]:
    """CARE: :class:`~paco_torchrl.baselines.nets.CARENet` actor and critics; the encoders read the
    observation only (a critic's action goes to the head), the context the run's task descriptions."""
    from paco_torchrl.training.config import task_names

    cells, c = tuple(cfg.network.num_cells), cfg.care
    embeddings = load_task_embeddings(task_names(cfg), c.embeddings)
    if embeddings.shape[0] != num_tasks:
        raise ValueError(f"{embeddings.shape[0]} task embeddings for {num_tasks} tasks")
    kwargs = dict(num_encoders=c.num_encoders, encoder_hidden=c.encoder_hidden, encoder_layers=c.encoder_layers,
                  feature_dim=c.feature_dim, context_hidden=c.context_hidden, context_layers=c.context_layers,
                  context_dim=c.context_dim, temperature=c.temperature, encode_dim=observation_dim)
    return build_actor_critics(
        lambda i, o: CARENet(i, o, cells, embeddings, **kwargs), observation_dim, action_spec, _std_bounds(cfg)
    )


def build_moore_networks(
    cfg: DictConfig, observation_dim: int, action_spec: TensorSpec, num_tasks: int
) -> tuple[nn.Module, list[nn.Module]]:
    """MOORE: :class:`~paco_torchrl.baselines.nets.MOORENet` actor and critics (``moore.num_experts``)."""
    cells, k = tuple(cfg.network.num_cells), cfg.moore.num_experts
    return build_actor_critics(
        lambda i, o: MOORENet(i, o, cells, num_tasks, num_experts=k), observation_dim, action_spec, _std_bounds(cfg)
    )
