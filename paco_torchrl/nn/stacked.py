"""``N`` parameter sets of one network (e.g. the twin critics) evaluated with batched matmuls, without ``vmap``.

TorchRL's losses evaluate an ensemble of critics by vmapping the network over stacked parameters.
For small networks the transform costs more than the matmuls: at ``T = 1``, 2×256, batch 256 on one
CPU thread a vmapped twin-critic call takes ≈ 3.1–3.4 ms against ≈ 1.9 ms for the same products as
``baddbmm`` over the stack (2026-12-01). :func:`stacked_forward` computes the latter for the networks
whose layout it knows, and returns ``None`` for anything else, so that callers fall back to ``vmap``.

Covered: :class:`~paco_torchrl.nn.OneHotTaskMLP`, and :class:`~paco_torchrl.nn.CompositionalMLP` with every
layer compositional and an elementwise activation, for ``T = 1``, a task-major batch (``task_major=True``
without ``check_layout``: its features-first path), or any other batch of more than ``T`` samples where
:func:`~paco_torchrl.nn.grouped_mm_supported` holds (its sorted path, eager CPU: the batch is sorted by
task once and each layer is one grouped matmul over the ``N·T`` (set, task) groups, what the vmap rule
of :func:`~paco_torchrl.nn.grouped_mm` folds the vmapped call into, without ``vmap``). The composition is
:func:`~paco_torchrl.nn.compositional.compose`, Eqn (1)'s one implementation. Values equal the vmapped
network's up to float rounding of the reordered sums; gradients reach the stacked parameters (and the
tensors they view) as they would.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from paco_torchrl.nn.compositional import _ELEMENTWISE, CompositionalLinear, CompositionalMLP, _is_batched, compose
from paco_torchrl.nn.grouped_mm import grouped_mm, grouped_mm_supported, inverse_permutation, sort_by_task
from paco_torchrl.nn.task_conditioned import OneHotTaskMLP
from paco_torchrl.nn.task_weights import TaskWeights


def stacked_forward(
    net: nn.Module, params: Mapping[str, torch.Tensor], x: torch.Tensor, task_id: torch.Tensor
) -> torch.Tensor | None:
    """``net(x, task_id)`` under each of ``N`` parameter sets: ``[N, *batch, out]``, or ``None`` if not covered.

    Args:
        net: the network whose structure the parameters follow.
        params: ``{name: tensor [N, *shape]}`` with ``net.named_parameters()``/buffers' names.
        x: ``[*batch, in]``, shared by the ``N`` networks.
        task_id: int64 ``[*batch]``.

    Examples:
        >>> import torch
        >>> from paco_torchrl.nn import OneHotTaskMLP
        >>> net = OneHotTaskMLP(4, 1, num_cells=(8,), num_tasks=3)
        >>> params = {name: torch.stack([p.detach(), p.detach() + 1]) for name, p in net.named_parameters()}
        >>> stacked_forward(net, params, torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])).shape
        torch.Size([2, 5, 1])
    """
    if _is_batched(x) or _is_batched(task_id) or any(_is_batched(p) for p in params.values()):
        return None
    if type(net) is OneHotTaskMLP:
        return _one_hot_mlp(net, params, x, task_id)
    if type(net) is CompositionalMLP:
        return _compositional_mlp(net, params, x, task_id)
    return None


def _linear(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``h [N, B, in]`` (or ``[B, in]``, shared) through ``N`` linear layers ``weight [N, out, in]``."""
    if h.dim() == 2:
        h = h.expand(weight.shape[0], *h.shape)
    if bias is None:
        return torch.bmm(h, weight.transpose(-1, -2))
    return torch.baddbmm(bias.unsqueeze(-2), h, weight.transpose(-1, -2))


def _one_hot_mlp(net: OneHotTaskMLP, params: Mapping[str, torch.Tensor], x, task_id) -> torch.Tensor | None:
    if net.task_input:
        x = torch.cat([x, nn.functional.one_hot(task_id, net.num_tasks).to(x.dtype)], dim=-1)
    batch_shape = x.shape[:-1]
    h = x.reshape(-1, x.shape[-1])
    for i, module in enumerate(net.net):
        if isinstance(module, nn.Linear):
            h = _linear(h, params[f"net.{i}.weight"], params.get(f"net.{i}.bias"))
        elif isinstance(module, _ELEMENTWISE):
            h = module(h)
        else:
            return None
    return h.reshape(h.shape[0], *batch_shape, h.shape[-1])


def _task_matrices(net: CompositionalMLP, params: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
    """``W`` of each parameter set, ``[N, T, K]`` (rows normalised as the module does); ``None``: identity."""
    if net.task_weights.is_identity:
        return None
    w = params["task_weights.weight"]
    return TaskWeights.normalize_rows(w) if net.task_weights.normalize else w


def _compose(w: torch.Tensor | None, weight: torch.Tensor, bias: torch.Tensor | None):
    """``(θ [N, T, out, in], b [N, T, out])`` from ``Φ [N, K, out, in]`` and ``W [N, T, K]`` (``Φ`` itself for
    an identity ``W``, as :class:`CompositionalMLP` reads it)."""
    return (weight, bias) if w is None else compose(w, weight, bias)


def _compositional_mlp(
    net: CompositionalMLP, params: Mapping[str, torch.Tensor], x: torch.Tensor, task_id: torch.Tensor
) -> torch.Tensor | None:
    batch_shape = x.shape[:-1]
    one_task = net.num_tasks == 1
    task_major = net.task_major and len(batch_shape) >= 2 and batch_shape[0] == net.num_tasks
    every_layer = all(isinstance(layer, CompositionalLinear) for layer in net.layers)
    if not every_layer or not isinstance(net.activation, _ELEMENTWISE):
        return None
    if task_major and not one_task and net.check_layout:  # the debugging check runs in the module's own path
        return None
    if not (one_task or task_major):
        return _compositional_mlp_sorted(net, params, x, task_id)
    w = _task_matrices(net, params)
    T, last = net.num_tasks, len(net.layers) - 1
    # features first: hᵀ [N·T, in, n] ← b + θ hᵀ, as the module's task-major path
    h = x.reshape(T, -1, x.shape[-1]).transpose(-1, -2)
    for i, layer in enumerate(net.layers):
        weight, bias = _compose(w, params[f"layers.{i}.weight"], params.get(f"layers.{i}.bias"))
        n_sets = weight.shape[0]
        theta = weight[:, :T].reshape(n_sets * T, layer.out_features, layer.in_features)
        if h.shape[0] != n_sets * T:  # the shared input, once per parameter set
            h = h.expand(n_sets, *h.shape).reshape(n_sets * T, *h.shape[1:])
        if bias is None:
            h = torch.bmm(theta, h)
        else:
            h = torch.baddbmm(bias[:, :T].reshape(n_sets * T, layer.out_features, 1), theta, h)
        if i < last:
            h = net.activation(h)
    n_sets = h.shape[0] // T
    return h.transpose(-1, -2).reshape(n_sets, *batch_shape, h.shape[-2])


def _compositional_mlp_sorted(
    net: CompositionalMLP, params: Mapping[str, torch.Tensor], x: torch.Tensor, task_id: torch.Tensor
) -> torch.Tensor | None:
    """Any layout: the module's sorted path with the ``N`` parameter sets folded into the groups.

    Rows are sorted by task once (stable), set ``s``'s copy of the batch occupies rows ``s·B:(s+1)·B``, and
    group ``s·T + τ`` is task ``τ`` under set ``s``: the grouped matmul, bias lookup and inverse permutation
    that the vmapped module runs, as one call each.
    """
    h = x.reshape(-1, x.shape[-1])
    tid = task_id.reshape(-1)
    rows, T = h.shape[0], net.num_tasks
    if rows <= T or torch.compiler.is_compiling() or not grouped_mm_supported(h.device, h.dtype):
        return None
    w = _task_matrices(net, params)
    sorted_tid, perm, offs = sort_by_task(tid, T)
    h, last = h[perm], len(net.layers) - 1
    for i, layer in enumerate(net.layers):
        weight, bias = _compose(w, params[f"layers.{i}.weight"], params.get(f"layers.{i}.bias"))
        n_sets = weight.shape[0]
        if i == 0:  # the shared input once per set; group ends and group ids of the N·T groups
            shift = torch.arange(n_sets, device=tid.device, dtype=tid.dtype).unsqueeze(-1)
            folded_offs = (offs + shift * rows).reshape(-1).to(torch.int32)
            group = (sorted_tid + shift * T).reshape(-1)
            h = h.expand(n_sets, *h.shape).reshape(n_sets * rows, h.shape[-1])
        theta = weight[:, :T].reshape(n_sets * T, layer.out_features, layer.in_features)
        h = grouped_mm(h, theta.transpose(-1, -2), folded_offs)
        if bias is not None:
            h = h + nn.functional.embedding(group, bias[:, :T].reshape(n_sets * T, layer.out_features))
        if i < last:
            h = net.activation(h)
    h = h.view(-1, rows, h.shape[-1]).index_select(1, inverse_permutation(perm))
    return h.reshape(h.shape[0], *x.shape[:-1], h.shape[-1])
