"""MOORE (Hendawy et al., ICLR 2024): a mixture of orthogonal experts with task-specific weights."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from paco_torchrl.modules.baselines.common import mlp


def gram_schmidt(v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Orthonormalises the ``k`` vectors ``v[..., i, :]`` of every sample, in order (classical Gram-Schmidt).

    Static loop over ``k``, no in-place writes: works under ``torch.vmap``.

    Examples:
        >>> import torch
        >>> u = gram_schmidt(torch.randn(7, 3, 5))
        >>> torch.allclose(u @ u.transpose(-1, -2), torch.eye(3).expand(7, 3, 3), atol=1e-5)
        True
    """
    basis: list[torch.Tensor] = []
    for i in range(v.shape[-2]):
        w = v[..., i, :]
        for b in basis:
            w = w - (w * b).sum(-1, keepdim=True) * b
        basis.append(w / w.norm(dim=-1, keepdim=True).clamp_min(eps))
    return torch.stack(basis, dim=-2)


class MOORENet(nn.Module):
    """``head_τ(tanh(Σ_i w_{τ,i} u_i(x)))`` with ``u = GramSchmidt(E_1(x), …, E_k(x))`` per sample.

    As the reference code (AhmedMagdyHendawy/MOORE, ``moore/utils/networks_sac.py``,
    ``run/metaworld/run_metaworld_mt10_mhsac_mt_moore.sh``): ``k`` expert MLPs through
    ``num_cells`` (3×400, ReLU between, last layer linear: ``--activation Linear``), Xavier
    init; the ``k`` expert outputs orthonormalised per sample by Gram-Schmidt; task weights
    ``w_τ`` from a bias-free linear map of the one-hot task id (Xavier-uniform init); the
    weighted sum through ``tanh`` (``--agg_activation Linear Tanh``); one linear output head per
    task (multi-head SAC, mean and log-std from the same head: ``--shared_mu_sigma``).
    ``k = 4`` experts for MT10 (the paper; 6 for MT50). ``k`` must not exceed ``num_cells[-1]``.

    Args:
        in_features: input size.
        out_features: output size (per head).
        num_cells: expert sizes (representation width ``D = num_cells[-1]``).
        num_tasks: ``T`` (heads and task weights).
        num_experts: ``k``.

    Examples:
        >>> import torch
        >>> net = MOORENet(4, 2, (16, 8), num_tasks=3, num_experts=3)
        >>> x, tid = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
        >>> net(x, tid).shape, net.experts_orthonormal(x).shape
        (torch.Size([5, 2]), torch.Size([5, 3, 8]))
    """

    def __init__(
        self, in_features: int, out_features: int, num_cells: Sequence[int], num_tasks: int, *, num_experts: int = 4
    ) -> None:
        super().__init__()
        d = num_cells[-1]
        if num_experts > d:
            raise ValueError(f"num_experts ({num_experts}) must be <= the representation width {d}")
        self.num_tasks, self.num_experts, self.out_features = num_tasks, num_experts, out_features
        self.experts = nn.ModuleList(mlp([in_features, *num_cells]) for _ in range(num_experts))
        self.task_encoder = nn.Linear(num_tasks, num_experts, bias=False)
        self.head_weight = nn.Parameter(torch.empty(num_tasks * out_features, d))
        self.head_bias = nn.Parameter(torch.zeros(num_tasks * out_features))
        for expert in self.experts:
            linears = [m for m in expert if isinstance(m, nn.Linear)]
            for i, layer in enumerate(linears):
                gain = nn.init.calculate_gain("relu" if i < len(linears) - 1 else "linear")
                nn.init.xavier_uniform_(layer.weight, gain=gain)
        nn.init.xavier_uniform_(self.task_encoder.weight)
        for t in range(num_tasks):  # each head initialised like its own Linear(D, out)
            with torch.no_grad():
                nn.init.xavier_uniform_(self.head_weight[t * out_features : (t + 1) * out_features])

    def experts_orthonormal(self, x: torch.Tensor) -> torch.Tensor:
        """The orthonormalised expert representations ``[*, k, D]``."""
        return gram_schmidt(torch.stack([e(x) for e in self.experts], dim=-2))

    def task_weights(self, task_id: torch.Tensor) -> torch.Tensor:
        """``w_τ`` ``[*, k]``."""
        return self.task_encoder(F.one_hot(task_id, self.num_tasks).to(self.head_weight.dtype))

    def forward(self, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        u = self.experts_orthonormal(x)
        h = torch.tanh((self.task_weights(task_id).unsqueeze(-2) @ u).squeeze(-2))  # [*, D]
        all_heads = (h @ self.head_weight.T + self.head_bias).unflatten(-1, (self.num_tasks, self.out_features))
        index = task_id[..., None, None].expand(*task_id.shape, 1, self.out_features)
        return all_heads.gather(-2, index).squeeze(-2)
