"""PCGrad (Yu et al., NeurIPS 2020): project each task's gradient off the tasks it conflicts with.

For task ``i`` (in the paper's Algorithm 1), ``g'_i = g_i``, then for every other task ``j`` in a
random order: if ``g'_i · g_j < 0``, ``g'_i ← g'_i − (g'_i · g_j / ‖g_j‖²) g_j``. The update uses
``Σ_i g'_i``. Every ``g'_i`` stays a combination of the original gradients, ``g'_i = Σ_m C_im g_m``,
so the whole projection runs on the ``T × T`` Gram matrix ``G = g gᵀ`` (``g'_i · g_j = (C G)_ij``)
and the gradients are touched twice: once for ``G``, once for ``1ᵀ C g``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from tensordict import TensorDictBase
from torchrl.objectives import LossModule, SoftUpdate

from paco_torchrl.objectives.update import PaCoUpdateStep


def random_orders(num_tasks: int, device: torch.device | str | None = None, generator: torch.Generator | None = None):
    """``[T, T]``: row ``i`` is a random permutation of the tasks (the order task ``i`` is projected in)."""
    return torch.rand(num_tasks, num_tasks, device=device, generator=generator).argsort(dim=-1)


def pcgrad_coefficients(gram: torch.Tensor, orders: torch.Tensor) -> torch.Tensor:
    """``C`` with ``g'_i = Σ_m C_im g_m`` (PCGrad's projected gradients) from the Gram matrix ``[T, T]``.

    No host sync and no branch on values (``torch.where``). A task whose gradient is zero
    projects nothing and is projected off nothing.

    Examples:
        >>> import torch
        >>> g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])
        >>> c = pcgrad_coefficients(g @ g.T, torch.tensor([[0, 1], [1, 0]]))
        >>> c @ g  # g1 loses its component along g2 and vice versa
        tensor([[0.5000, 0.5000],
                [0.0000, 1.0000]])
    """
    t = gram.shape[-1]
    eye = torch.eye(t, dtype=gram.dtype, device=gram.device)
    coef = eye.clone()
    sq = gram.diagonal()
    rows = torch.arange(t, device=gram.device)
    for k in range(t):
        j = orders[:, k]
        dot = (coef * gram[j]).sum(-1)  # g'_i · g_j
        conflict = (j != rows) & (dot < 0) & (sq[j] > 0)
        step = torch.where(conflict, dot / torch.where(sq[j] > 0, sq[j], torch.ones_like(sq[j])), torch.zeros_like(dot))
        coef = coef - step[:, None] * eye[j]
    return coef


def pcgrad(grads: torch.Tensor, orders: torch.Tensor | None = None) -> torch.Tensor:
    """The projected per-task gradients ``g'`` ``[T, n]`` of flat per-task gradients ``[T, n]``.

    Examples:
        >>> import torch
        >>> g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])
        >>> p = pcgrad(g)
        >>> bool((p[0] @ g[1]) >= 0 and (p[1] @ g[0]) >= 0 and (p[0] @ p[1]) >= 0)
        True
    """
    if orders is None:
        orders = random_orders(grads.shape[0], grads.device)
    return pcgrad_coefficients(grads @ grads.T, orders) @ grads


class PCGradUpdateStep(PaCoUpdateStep):
    """One update with PCGrad over the per-task losses: same inputs and metrics as
    :class:`~paco_torchrl.objectives.PaCoUpdateStep`, whose loss, maskout and metrics it reuses.

    ``J_τ`` (the ``loss_weights``-weighted sum of task ``τ``'s ``loss_*`` entries, masked like ``PaCoUpdateStep`` when
    ``loss_maskout``) is differentiated per task w.r.t. the shared parameters; the gradients are
    projected by :func:`pcgrad` separately for each network — the actor's parameters, the critics'
    parameters and any other — as mtrl (CARE's codebase, whose PCGrad baseline the PaCo paper
    runs) applies PCGrad to the actor and critic updates separately; the update is
    ``Σ_τ g'_τ / T`` (the ``1/T`` of Algorithm 1). Task-specific parameters (the per-task
    temperatures ``log_alpha``) get their plain gradient. Then one optimizer step and the target
    update. The random projection order is drawn from torch's global generator at every step.

    Per-task gradients come from one batched backward (``is_grads_batched``) when the graph
    allows it, else from ``T`` backward passes. Keyword arguments are ``PaCoUpdateStep``'s (maskout
    off by default; ``w_reset`` must be ``None``).

    Examples:
        >>> import torch
        >>> from torchrl.objectives import SoftUpdate
        >>> from paco_torchrl.modules import make_paco_actor_critic
        >>> from paco_torchrl.objectives import MultiTaskSACLoss, make_paco_optimizer
        >>> actor, qvalues = make_paco_actor_critic(6, 2, num_tasks=3, num_param_sets=1, num_cells=(16,))
        >>> loss = MultiTaskSACLoss(actor, qvalues, num_tasks=3)
        >>> update = PCGradUpdateStep(loss, make_paco_optimizer(loss), SoftUpdate(loss, tau=0.005))
        >>> sorted(update.blocks)
        ['actor_network_params', 'qvalue_network_params']
    """

    def __init__(
        self,
        loss_module: LossModule,
        optimizer: torch.optim.Optimizer,
        target_updater: SoftUpdate | None = None,
        *,
        loss_maskout: bool = False,
        w_reset=None,
        **kwargs,
    ) -> None:
        if w_reset is not None:
            raise ValueError("PCGradUpdateStep does not support w-reset")
        super().__init__(loss_module, optimizer, target_updater, loss_maskout=loss_maskout, **kwargs)
        trained = {id(p) for g in optimizer.param_groups for p in g["params"]}
        self.blocks: dict[str, list[torch.Tensor]] = {}
        self.task_specific: list[torch.Tensor] = []
        for name, p in loss_module.named_parameters():
            if id(p) not in trained or not p.requires_grad:
                continue
            if name.split(".")[-1] == "log_alpha":
                self.task_specific.append(p)
            else:
                parts = name.split(".")
                block = next((part for part in parts if part.endswith("_params")), parts[0])
                self.blocks.setdefault(block, []).append(p)
        self._batched = True
        self.orders: Callable[..., torch.Tensor] = random_orders  # (T, device) -> [T, T] projection orders

    def _task_grads(self, losses: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per-task gradients ``[T, *p.shape]`` of ``losses [T]`` for each parameter."""
        t = losses.shape[0]
        if self._batched:
            try:
                grads = torch.autograd.grad(
                    losses, params, grad_outputs=torch.eye(t, dtype=losses.dtype, device=losses.device),
                    retain_graph=True, allow_unused=True, is_grads_batched=True,
                )
                return [torch.zeros(t, *p.shape, dtype=p.dtype, device=p.device) if g is None else g
                        for g, p in zip(grads, params)]
            except RuntimeError:  # an op without a batching rule: fall back to T backward passes
                self._batched = False
        per_task = [torch.autograd.grad(losses[i], params, retain_graph=True, allow_unused=True) for i in range(t)]
        return [torch.stack([torch.zeros_like(p) if g[k] is None else g[k] for g in per_task])
                for k, p in enumerate(params)]

    def _eager_update(self, batch: TensorDictBase) -> TensorDictBase:
        task_losses, total, mask, under = self.per_task_losses(batch)
        num_tasks = total.shape[-1]
        per_task = torch.where(mask, total, torch.zeros_like(total)) / num_tasks
        self.optimizer.zero_grad(set_to_none=True)
        for params in self.blocks.values():
            grads = self._task_grads(per_task, params)
            flat = torch.cat([g.reshape(num_tasks, -1) for g in grads], dim=-1)
            coef = pcgrad_coefficients(flat @ flat.T, self.orders(num_tasks, flat.device))
            combined = coef.sum(0) @ flat
            offset = 0
            for p in params:
                p.grad = combined[offset : offset + p.numel()].view_as(p).clone()
                offset += p.numel()
        if self.task_specific:
            grads = torch.autograd.grad(per_task.sum(), self.task_specific, allow_unused=True)
            for p, g in zip(self.task_specific, grads):
                p.grad = torch.zeros_like(p) if g is None else g
        self.optimizer.step()
        if self.target_updater is not None:
            self.target_updater.step()
        return self.metrics(task_losses, mask, under, torch.zeros_like(under))
