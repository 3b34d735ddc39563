"""CARE (``algo=care``): a mixture of state encoders, attention from task-description embeddings."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from torch import nn
from torchrl.data import TensorSpec

from paco_torchrl.algos.base import SAC_ACTOR_LOSSES, Algo, std_bounds
from paco_torchrl.algos.schema import check, option
from paco_torchrl.envs.tasks import env_task_names
from paco_torchrl.modules.baselines import CARENet, build_actor_critics, load_task_embeddings


@dataclass
class CAREConfig:
    """The ``care`` section (mtrl's CARE settings)."""

    num_encoders: int = option(4, "state encoders in the mixture")
    encoder_hidden: int = option(50, "hidden width of an encoder")
    encoder_layers: int = option(2, "hidden layers of an encoder")
    feature_dim: int = option(50, "output size of an encoder")
    context_hidden: int = option(50, "hidden width of the context network")
    context_layers: int = option(2, "hidden layers of the context network")
    context_dim: int = option(50, "size of the task context")
    temperature: float = option(1.0, "softmax temperature of the encoder attention")
    embeddings: Any = option(None, "task-embedding file; null = the packaged all-MiniLM-L6-v2 file")


_KEYS = ("num_encoders", "encoder_hidden", "encoder_layers", "feature_dim", "context_hidden", "context_layers",
         "context_dim", "temperature", "embeddings")


def validate_care(cfg: DictConfig, num_tasks: int) -> None:
    """Checks the ``care`` section."""
    care = cfg.care
    for key in _KEYS[:-2]:
        check(care[key] >= 1, f"care.{key}", f"must be >= 1, got {care[key]}")
    check(care.temperature > 0, "care.temperature", f"must be > 0, got {care.temperature}")
    check(care.embeddings is None or Path(care.embeddings).is_file(), "care.embeddings",
          f"no file at {care.embeddings!r}")


def build_care_networks(
    cfg: DictConfig, observation_dim: int, action_spec: TensorSpec, num_tasks: int
) -> tuple[nn.Module, list[nn.Module]]:
    """CARE: :class:`~paco_torchrl.modules.baselines.CARENet` actor and critics; the encoders read the
    observation only (a critic's action goes to the head), the context the run's task descriptions."""
    cells, c = tuple(cfg.network.num_cells), cfg.care
    embeddings = load_task_embeddings(env_task_names(cfg.env), c.embeddings)
    if embeddings.shape[0] != num_tasks:
        raise ValueError(f"{embeddings.shape[0]} task embeddings for {num_tasks} tasks")
    kwargs = dict(num_encoders=c.num_encoders, encoder_hidden=c.encoder_hidden, encoder_layers=c.encoder_layers,
                  feature_dim=c.feature_dim, context_hidden=c.context_hidden, context_layers=c.context_layers,
                  context_dim=c.context_dim, temperature=c.temperature, encode_dim=observation_dim)
    return build_actor_critics(
        lambda i, o: CARENet(i, o, cells, embeddings, **kwargs), observation_dim, action_spec, std_bounds(cfg)
    )


CARE = Algo("care", "CARE: mixture of state encoders, attention from task-description embeddings",
            build_care_networks, False, False, tuple("care." + k for k in _KEYS), losses=SAC_ACTOR_LOSSES,
            section="care", config=CAREConfig, validate=validate_care)
