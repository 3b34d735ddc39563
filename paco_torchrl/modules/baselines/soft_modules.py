"""Soft modularization (Yang et al., NeurIPS 2020): modules per layer, mixed by a state- and task-conditioned router."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from paco_torchrl.modules.baselines.common import mlp


class SoftModularNet(nn.Module):
    """The base network ``f(s)``, a routing network ``p(s, τ)`` and ``L`` layers of ``n`` modules.

    Structure and defaults follow the reference code (RchalYang/Soft-Module, config
    ``meta_config/mt10/modular_2_2_2_256_reweight_rand.json``: ``num_layers=2, num_modules=2,
    module_hidden=256, num_gating_layers=2, gating_hidden=256``, base ``[400, 400]``,
    task embedding ``[400]``):

    * base ``f(x)``: an MLP through ``num_cells`` (last layer linear), width ``D = num_cells[-1]``;
      task embedding ``e_τ``: a linear map of the one-hot task id to ``D``;
    * router input ``u = f(x) ⊙ e_τ`` (the task embedding conditioned on the state), then
      ``num_gating_layers`` linear layers of ``gating_hidden`` (ReLU between);
    * routing probabilities: ``p^1 = softmax_rows(W^1 relu(u))`` (``n × n``) and for ``l > 1``
      ``p^l = softmax_rows(W^l relu(W_c^l [p^1 … p^{l-1}] ⊙ u))``; the last one mixes the ``n``
      outputs of the top layer (``n`` entries). Every row sums to 1;
    * modules: layer 1 module ``j`` is ``Linear(D, H)(relu(f(x)))``; layer ``l+1`` module ``j``
      reads ``relu(Σ_i p^l_{j,i} · out^l_i)``; the output is ``Linear(H, out)(relu(Σ_i p^L_i out^L_i))``.

    The paper's task-loss reweighting by ``T · softmax(−log α)`` is not part of the network: it is
    the update step of ``algo=soft_modules``
    (:class:`~paco_torchrl.objectives.temp_reweight.TempReweightedUpdateStep`,
    ``soft_modules.temp_reweight``). BatchNorm (``add_bn``) is off, as in the reference MT10 config.

    Args:
        in_features: input size (state, or state+action for a critic).
        out_features: output size.
        num_cells: base network sizes (``D = num_cells[-1]``).
        num_tasks: ``T``.
        num_layers: module layers ``L`` (≥ 2).
        num_modules: modules per layer ``n``.
        module_hidden: module width ``H``.
        num_gating_layers: router layers after the embedding product.
        gating_hidden: router width.

    Examples:
        >>> import torch
        >>> net = SoftModularNet(4, 2, (16,), num_tasks=3, num_modules=3, module_hidden=8, gating_hidden=8)
        >>> x, tid = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
        >>> net(x, tid).shape
        torch.Size([5, 2])
        >>> [p.shape for p in net.routing(x, tid)]  # L-1 matrices n×n, then the n output weights
        [torch.Size([5, 3, 3]), torch.Size([5, 3])]
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_cells: Sequence[int],
        num_tasks: int,
        *,
        num_layers: int = 2,
        num_modules: int = 2,
        module_hidden: int = 256,
        num_gating_layers: int = 2,
        gating_hidden: int = 256,
    ) -> None:
        super().__init__()
        if num_layers < 2:
            raise ValueError(f"num_layers must be >= 2, got {num_layers}")
        d = num_cells[-1]
        n = num_modules
        self.num_tasks, self.num_layers, self.num_modules = num_tasks, num_layers, n
        self.base = mlp([in_features, *num_cells])
        self.task_embedding = nn.Linear(num_tasks, d, bias=False)
        gating_sizes = [d] + [gating_hidden] * num_gating_layers
        self.gating = nn.ModuleList(nn.Linear(a, b) for a, b in zip(gating_sizes[:-1], gating_sizes[1:]))
        g = gating_sizes[-1]
        # router: p^1 from the embedding; p^l (l = 2..L-1) and the last weights conditioned on earlier p's
        self.route_first = nn.Linear(g, n * n)
        self.route_cond = nn.ModuleList(nn.Linear(l * n * n, g) for l in range(1, num_layers - 1))
        self.route = nn.ModuleList(nn.Linear(g, n * n) for _ in range(num_layers - 2))
        self.route_last_cond = nn.Linear((num_layers - 1) * n * n, g)
        self.route_last = nn.Linear(g, n)
        self.modules_ = nn.ModuleList(
            nn.ModuleList(nn.Linear(d if l == 0 else module_hidden, module_hidden) for _ in range(n))
            for l in range(num_layers)
        )
        self.out = nn.Linear(module_hidden, out_features)

    def _features(self, x: torch.Tensor, task_id: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        base = self.base(x)
        one_hot = F.one_hot(task_id, self.num_tasks).to(x.dtype)
        u = self.task_embedding(one_hot) * base
        for layer in self.gating:  # ReLU before every router layer, none after the last (reference code)
            u = layer(F.relu(u))
        return base, u

    def _routing(self, u: torch.Tensor) -> list[torch.Tensor]:
        n = self.num_modules
        shape = (*u.shape[:-1], n, n)
        probs = [F.softmax(self.route_first(F.relu(u)).reshape(shape), dim=-1)]
        for cond, route in zip(self.route_cond, self.route):
            c = F.relu(cond(torch.cat([p.flatten(-2) for p in probs], -1)) * u)
            probs.append(F.softmax(route(c).reshape(shape), dim=-1))
        c = F.relu(self.route_last_cond(torch.cat([p.flatten(-2) for p in probs], -1)) * u)
        return probs + [F.softmax(self.route_last(c), dim=-1)]

    def routing(self, x: torch.Tensor, task_id: torch.Tensor) -> list[torch.Tensor]:
        """Routing probabilities: ``L-1`` tensors ``[*, n, n]`` (row ``j``: weights of module ``j``'s inputs)
        and the output weights ``[*, n]``."""
        return self._routing(self._features(x, task_id)[1])

    def forward(self, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        base, u = self._features(x, task_id)
        probs = self._routing(u)
        h = F.relu(base)
        outs = torch.stack([m(h) for m in self.modules_[0]], dim=-2)  # [*, n, H]
        for layer, p in zip(self.modules_[1:], probs[:-1]):
            mixed = F.relu(p @ outs)  # row j: Σ_i p_{j,i} out_i
            outs = torch.stack([m(mixed[..., j, :]) for j, m in enumerate(layer)], dim=-2)
        h = F.relu((probs[-1].unsqueeze(-2) @ outs).squeeze(-2))
        return self.out(h)
