"""SAC+FiLM: an MLP whose hidden layers are modulated per task (Perez et al., 2018)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class FiLMMLP(nn.Module):
    """``h_{l+1} = act(γ_{l,τ} ⊙ (W_l h_l + b_l) + β_{l,τ})`` on every hidden layer; a plain output layer.

    FiLM (Perez et al., "FiLM: Visual Reasoning with a General Conditioning Layer", AAAI 2018)
    applies a feature-wise affine map predicted from the conditioning input, after the
    (batch-normalised) linear map and before the ReLU. Here the conditioning input is the
    one-hot task id, so the FiLM generator (a linear map from the one-hot code) is a per-task
    table of ``(Δγ, β)`` per hidden layer; ``γ = 1 + Δγ`` as the FiLM paper predicts
    (its §"Model"), initialised to the identity (``Δγ = β = 0``). No batch norm: batch statistics
    would mix the tasks of a batch. The trunk sizes are ``network.num_cells`` (3×400 as the
    PaCo paper's SAC+FiLM baseline, which follows the mtrl/CARE setup). FiLM is applied in the
    actor and in both critics.

    Args:
        in_features: input size.
        out_features: output size.
        num_cells: hidden sizes.
        num_tasks: ``T``.
        activation: hidden activation class.

    Examples:
        >>> import torch
        >>> net = FiLMMLP(4, 2, num_cells=(8, 8), num_tasks=3)
        >>> net(torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])).shape
        torch.Size([5, 2])
        >>> net.gamma(torch.tensor([1]))[0].shape  # one (γ) per hidden layer
        torch.Size([1, 8])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_cells: Sequence[int],
        num_tasks: int,
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        sizes = [in_features, *num_cells]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], out_features)
        self.delta_gamma = nn.ParameterList(nn.Parameter(torch.zeros(num_tasks, n)) for n in num_cells)
        self.beta = nn.ParameterList(nn.Parameter(torch.zeros(num_tasks, n)) for n in num_cells)
        self.activation = activation()
        self.num_tasks = num_tasks

    def gamma(self, task_id: torch.Tensor) -> list[torch.Tensor]:
        """The per-layer scales ``γ_{l,τ}`` of the given tasks."""
        return [1.0 + dg[task_id] for dg in self.delta_gamma]

    def forward(self, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        for layer, dg, beta in zip(self.hidden, self.delta_gamma, self.beta):
            x = self.activation((1.0 + dg[task_id]) * layer(x) + beta[task_id])
        return self.out(x)
