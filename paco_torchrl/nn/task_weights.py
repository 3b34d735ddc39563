"""Compositional vectors ``W`` (one row ``w_τ`` per task), Eqn (2) of the PaCo paper."""
from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import nn

WInit = Literal["normal", "one_hot", "uniform"]  # the config's paco.w_init choices
W_INIT_SCHEMES: tuple[str, ...] = get_args(WInit)
_INITS = W_INIT_SCHEMES


class TaskWeights(nn.Module):
    """The task-specific compositional vectors ``W ∈ R^{T×K}``.

    Row ``τ`` of :attr:`weight` is ``w_τ``; a network's parameters for task ``τ``
    are ``θ_τ = Φ w_τ``. Only task ``τ``'s loss reaches row ``τ`` (the lookup is
    an index, so other rows get exactly zero gradient).

    Args:
        num_tasks: number of tasks ``T``.
        num_param_sets: parameter-set size ``K``.
        init: ``"normal"`` (``N(0, 1)``, the original PaCo code), ``"one_hot"``
            (``w_τ = e_τ``; requires ``K == T``, the paper's K=10 variant) or
            ``"uniform"`` (``U(0, 1)``).
        normalize: if ``True``, :meth:`matrix` returns rows scaled to unit L2 norm,
            so every composed network lies on the unit sphere of the w-space
            (Fig. 3 of the paper).
        trainable: if ``False``, ``W`` is a buffer (e.g. fixed one-hot ``w`` for
            independent single-task networks, §4.3; see :attr:`is_identity`).

    Examples:
        >>> import torch
        >>> tw = TaskWeights(num_tasks=10, num_param_sets=5)
        >>> tw(torch.tensor([0, 3])).shape
        torch.Size([2, 5])
    """

    def __init__(
        self,
        num_tasks: int,
        num_param_sets: int,
        init: str = "normal",
        *,
        normalize: bool = False,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        if num_param_sets < 1:
            raise ValueError(f"num_param_sets (K) must be >= 1, got {num_param_sets}")
        if init not in _INITS:
            raise ValueError(f"init must be one of {_INITS}, got {init!r}")
        if init == "one_hot" and num_param_sets != num_tasks:
            raise ValueError(
                f"init='one_hot' needs num_param_sets == num_tasks, got K={num_param_sets}, T={num_tasks}"
            )
        self.num_tasks = num_tasks
        self.num_param_sets = num_param_sets
        self.init = init
        self.normalize = normalize
        self.trainable = trainable
        weight = torch.empty(num_tasks, num_param_sets)
        if trainable:
            self.weight = nn.Parameter(weight)
        else:
            self.register_buffer("weight", weight)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draws ``W`` again from its init distribution (in place)."""
        if self.init == "normal":
            self.weight.normal_()
        elif self.init == "uniform":
            self.weight.uniform_()
        else:
            self.weight.copy_(torch.eye(self.num_tasks, dtype=self.weight.dtype))

    @property
    def is_identity(self) -> bool:
        """``W = I`` for good: a fixed one-hot ``W`` (``init="one_hot"``, ``trainable=False``).

        Networks then skip the composition (``θ_τ = Φ e_τ = φ_τ``) and read ``φ_τ`` directly: the
        same values and gradients, without the ``T·K·in·out`` products. Do not write other values
        into such a buffer.
        """
        return not self.trainable and self.init == "one_hot"

    def matrix(self) -> torch.Tensor:
        """All compositional vectors, ``[T, K]`` (unit rows if ``normalize``)."""
        return self.normalize_rows(self.weight) if self.normalize else self.weight

    @staticmethod
    def normalize_rows(weight: torch.Tensor) -> torch.Tensor:
        return weight / weight.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def forward(self, task_id: torch.Tensor) -> torch.Tensor:
        """Looks up ``w_τ`` for integer task ids of any shape: ``[*shape] -> [*shape, K]``."""
        return self.matrix()[task_id]

    def extra_repr(self) -> str:
        return (
            f"num_tasks={self.num_tasks}, num_param_sets={self.num_param_sets}, "
            f"init={self.init!r}, normalize={self.normalize}"
        )
