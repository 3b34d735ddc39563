"""CARE (Sodhani et al., ICML 2021): a mixture of state encoders weighted by attention from task-description embeddings."""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from paco_torchrl.modules.baselines.common import mlp

TASK_EMBEDDINGS = Path(__file__).resolve().parent / "data" / "task_embeddings.pt"
FALLBACK_SEED = 7919  # fallback embedding of an unknown task i: unit Gaussian vector from seed FALLBACK_SEED + i


def _base_name(name: str) -> str:
    return re.sub(r"-v\d+$", "", name)


def load_task_embeddings(task_names: Sequence[str], path: str | Path | None = None) -> torch.Tensor:
    """Description embeddings ``[T, E]`` of the run's tasks, in order.

    ``path=None`` reads the packaged ``task_embeddings.pt`` (all-MiniLM-L6-v2 embeddings of the
    50 Meta-World task descriptions, made offline by ``make_task_embeddings.py`` beside it).
    Names match without their ``-vN`` suffix. A task with no stored description (e.g. the toy
    env's ``rotate-90``) gets a deterministic stand-in: a unit vector drawn from
    ``N(0, I_E)`` with a generator seeded ``FALLBACK_SEED + its index in task_names`` — distinct
    per task, the same in every run, and carrying no semantic information.

    Examples:
        >>> e = load_task_embeddings(["reach-v3", "push-v3", "toy-task"])
        >>> e.shape, round(float(e.norm(dim=-1).min()), 4)
        (torch.Size([3, 384]), 1.0)
        >>> bool((e[0] @ e[1]) > (e[0] @ e[2]))  # reach is closer to push than to a random vector
        True
    """
    data = torch.load(TASK_EMBEDDINGS if path is None else Path(path), weights_only=True)
    table = dict(zip(data["names"], data["embeddings"]))
    dim = data["embeddings"].shape[-1]
    rows = []
    for i, name in enumerate(task_names):
        row = table.get(_base_name(name))
        if row is None:
            g = torch.Generator().manual_seed(FALLBACK_SEED + i)
            row = torch.randn(dim, generator=g)
            row = row / row.norm()
        rows.append(row.to(torch.float32))
    return torch.stack(rows)


class CARENet(nn.Module):
    """``head([Σ_i α_i(τ) E_i(s), z_τ, rest])``: CARE's mixture of encoders with context attention.

    * context ``z_τ``: an MLP (``context_hidden`` units, ``context_layers`` layers) of the fixed
      description embedding of task ``τ`` (a buffer, never trained);
    * attention ``α(τ) = softmax(A z_τ / temperature)`` over the ``k`` encoders (sums to 1);
    * encoders ``E_i``: MLPs of the state (``encoder_layers`` layers of ``encoder_hidden``,
      output ``feature_dim``);
    * head: an MLP through ``num_cells`` (3×400 as the paper's actor and critic) of the mixed
      encoding concatenated with ``z_τ`` and, for a critic, the action (``x[..., encode_dim:]``).

    Defaults from mtrl (facebookresearch/mtrl, CARE's code): encoders and task encoder 2 layers
    of 50 units with 50-d outputs (``config/agent/components/metaworld_encoder.yaml``,
    ``metaworld_multitask.yaml``), soft attention with temperature 1, and ``k = 4`` experts
    (``agent.encoder.moe.num_experts``, the value of its CARE command line — recalled, not
    re-verified here). Differences: CARE embeds descriptions with RoBERTa, here with
    all-MiniLM-L6-v2 (see :func:`load_task_embeddings`); mtrl ties the actor's encoder to the
    critic's (detached), here every network has its own encoders.

    Args:
        in_features: input size; the first ``encode_dim`` features are the state.
        out_features: output size.
        num_cells: head sizes.
        task_embeddings: ``[T, E]`` description embeddings.
        num_encoders: ``k``.
        encoder_hidden / encoder_layers / feature_dim: encoder MLPs.
        context_hidden / context_layers / context_dim: context MLP.
        temperature: softmax temperature of the attention.
        encode_dim: how many leading input features the encoders read (default: all).

    Examples:
        >>> import torch
        >>> net = CARENet(4, 2, (16,), torch.randn(3, 10), num_encoders=3)
        >>> x, tid = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
        >>> net(x, tid).shape, net.attention(tid).shape
        (torch.Size([5, 2]), torch.Size([5, 3]))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_cells: Sequence[int],
        task_embeddings: torch.Tensor,
        *,
        num_encoders: int = 4,
        encoder_hidden: int = 50,
        encoder_layers: int = 2,
        feature_dim: int = 50,
        context_hidden: int = 50,
        context_layers: int = 2,
        context_dim: int = 50,
        temperature: float = 1.0,
        encode_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.encode_dim = in_features if encode_dim is None else encode_dim
        self.temperature = temperature
        self.register_buffer("task_embeddings", task_embeddings.detach().clone().to(torch.float32))
        emb_dim = task_embeddings.shape[-1]
        self.context = mlp([emb_dim, *[context_hidden] * (context_layers - 1), context_dim])
        self.attend = nn.Linear(context_dim, num_encoders)
        self.encoders = nn.ModuleList(
            mlp([self.encode_dim, *[encoder_hidden] * (encoder_layers - 1), feature_dim]) for _ in range(num_encoders)
        )
        rest = in_features - self.encode_dim
        self.head = mlp([feature_dim + context_dim + rest, *num_cells, out_features])

    def _context(self, task_id: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.context(self.task_embeddings[task_id])
        return z, F.softmax(self.attend(z) / self.temperature, dim=-1)

    def attention(self, task_id: torch.Tensor) -> torch.Tensor:
        """Encoder weights ``α(τ)`` ``[*, k]`` (non-negative, sum 1)."""
        return self._context(task_id)[1]

    def forward(self, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        z, alpha = self._context(task_id)
        state, rest = x[..., : self.encode_dim], x[..., self.encode_dim :]
        encoded = torch.stack([e(state) for e in self.encoders], dim=-2)  # [*, k, F]
        mixed = (alpha.unsqueeze(-2) @ encoded).squeeze(-2)
        return self.head(torch.cat([mixed, z, rest], dim=-1))
