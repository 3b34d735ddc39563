"""w-reset (Reset step 2 of Algorithm 1, Eqn 3)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, get_args

import torch
from torch import nn

from paco_torchrl.nn import TaskWeights
from paco_torchrl.objectives.shared_w import base_tensor

BetaSampler = Literal["simplex", "uniform_l1"]  # the config's paco.w_reset_beta choices
BETA_SAMPLERS: tuple[str, ...] = get_args(BetaSampler)


class WReset(nn.Module):
    """Re-initialises the compositional vector of every dropped task (Eqn 3).

    Call it after the optimizer step with the kept-mask of
    :func:`~paco_torchrl.objectives.loss_maskout`. Each dropped task ``η`` gets
    ``w_η ← Σ_{j kept} β_j w_j`` with ``β`` drawn on the simplex over the kept
    tasks, the same ``β`` for every copy of ``W`` (actor, critics, targets). Kept
    rows are not touched (bit-identical). If every task is dropped nothing is
    changed (there is no kept ``w`` to combine). Pure tensor ops: no host sync.

    Args:
        task_weights: the copies of ``W`` to reset: a :class:`TaskWeights`, a tensor
            ``[..., T, K]``, or an iterable/mapping of them — pass
            ``loss.task_weight_tensors()`` of :class:`MultiTaskSACLoss` to reach the
            copies the loss trains and its target copies. Expanded views of a shared
            ``W`` are written through their base tensor, once.
        optimizer: the optimizer holding ``W`` (needed for ``reset_optimizer_state``).
        beta: ``"simplex"`` (uniform on the simplex, the paper's Eqn 3) or
            ``"uniform_l1"`` (``U(0,1)`` weights L1-normalised, the original code).
        reset_optimizer_state: zero the Adam moments of reset rows (the original
            code does not).
        generator: random generator for ``β``.

    Examples:
        >>> import torch
        >>> tw = TaskWeights(4, 2)
        >>> reset = WReset(tw)
        >>> before = tw.weight.detach().clone()
        >>> reset(torch.tensor([True, False, True, True]))
        tensor([False,  True, False, False])
        >>> torch.equal(tw.weight[[0, 2, 3]], before[[0, 2, 3]]), reset.reset_counts.tolist()
        (True, [0, 1, 0, 0])
    """

    def __init__(
        self,
        task_weights: TaskWeights | torch.Tensor | Iterable[TaskWeights | torch.Tensor] | Mapping,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        beta: str = "simplex",
        reset_optimizer_state: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if beta not in BETA_SAMPLERS:
            raise ValueError(f"beta must be one of {BETA_SAMPLERS}, got {beta!r}")
        if reset_optimizer_state and optimizer is None:
            raise ValueError("reset_optimizer_state=True needs the optimizer")
        if isinstance(task_weights, Mapping):
            task_weights = list(task_weights.values())
        elif isinstance(task_weights, (TaskWeights, torch.Tensor)):
            task_weights = [task_weights]
        tensors: dict[int, torch.Tensor] = {}
        for item in task_weights:
            t = base_tensor(item.weight if isinstance(item, TaskWeights) else item)
            tensors.setdefault(id(t), t)
        if not tensors:
            raise ValueError("task_weights is empty")
        shapes = {tuple(t.shape[-2:]) for t in tensors.values()}
        if len(shapes) != 1:
            raise ValueError(f"all copies of W must share their last two dims [T, K], got {sorted(shapes)}")
        self._tensors = list(tensors.values())
        self.num_tasks = next(iter(shapes))[0]
        self.optimizer = optimizer
        self.beta = beta
        self.reset_optimizer_state = reset_optimizer_state
        self.generator = generator
        device = self._tensors[0].device
        self.register_buffer("reset_counts", torch.zeros(self.num_tasks, dtype=torch.long, device=device))

    def sample_beta(self, kept: torch.Tensor) -> torch.Tensor:
        """``[T, T]`` row-stochastic matrix: row ``η`` is ``β`` for task ``η``, zero on dropped columns."""
        shape = (self.num_tasks, self.num_tasks)
        u = torch.rand(shape, device=kept.device, generator=self.generator)
        if self.beta == "simplex":  # normalised i.i.d. Exp(1) = Dirichlet(1, ..., 1)
            u = -torch.log1p(-u)
        u = torch.where(kept.unsqueeze(0), u, torch.zeros((), dtype=u.dtype, device=u.device))
        return u / u.sum(-1, keepdim=True).clamp_min(torch.finfo(u.dtype).tiny)

    @torch.no_grad()
    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """Resets the dropped tasks' ``w``; returns the bool ``[T]`` of reset tasks."""
        kept = mask.to(torch.bool)
        reset = ~kept & kept.any()
        beta = self.sample_beta(kept)
        for w in self._tensors:
            mixed = beta.to(w.dtype) @ w
            w.copy_(torch.where(reset.unsqueeze(-1), mixed, w))
            if self.reset_optimizer_state:
                state = self.optimizer.state.get(w, {})
                for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                    moment = state.get(key)
                    if moment is not None:
                        moment.copy_(torch.where(reset.unsqueeze(-1), torch.zeros_like(moment), moment))
        self.reset_counts += reset.to(self.reset_counts.dtype)
        return reset
