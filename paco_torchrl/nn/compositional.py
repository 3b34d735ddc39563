"""Parameter-compositional layers: ``θ_τ = Φ w_τ`` (Eqn 1 of the PaCo paper).

This module is the only place where Eqn (1) is implemented. A layer holds its
parameter set ``Φ`` as ``weight [K, out, in]`` and ``bias [K, out]``; composing
with ``w`` gives ``(Σ_k w_k W_k, Σ_k w_k b_k)``.

Forward paths of :class:`CompositionalMLP` (all exact for every layout of task ids, none reads a
device tensor on the host, all shapes static):

* **sorted** — more than ``T`` samples, eager mode, where :func:`grouped_mm_supported` holds (CPU
  float32). The flattened batch is stably sorted by task id once at the input, group ends come
  from ``searchsorted`` on the sorted ids (no ``bincount``), every compositional layer composes
  its ``T`` weights once (``T·K·in·out`` flops, a few % of the batch matmul) and applies them with
  one grouped matmul (about the cost of one plain ``[B, in] × [in, out]`` matmul), the per-task
  bias is added as ``bias[sorted_id]`` (an embedding lookup), and the inverse permutation
  restores the input order at the output. Any layout: flat batches from a stock TorchRL replay
  buffer, ``[T, n]`` batches, extra batch dims, tasks missing from the batch. Under ``vmap`` over stacked parameters (the
  twin critics) the vmapped dim is folded into the groups.
* **task-major** — a batch ``[T, n, ...]`` of a network told that such batches are task-major
  (``task_major=True``: ``task_id[τ] == τ``, as the balanced replay sampler produces): the
  per-task weights are applied with one ``baddbmm``, on every device and under ``torch.compile``
  (at the MT10 shapes as fast as the sorted path, and much cheaper for small networks). With every
  layer compositional and an elementwise activation, activations are laid out features-first
  (``hᵀ ← b + θ hᵀ``) so that the weight gradient needs no transposing copy. The promise is not checked unless
  ``check_layout=True`` (a debugging aid that syncs: it raises ``ValueError`` on a broken promise).
* **one task** — ``T = 1``: the one composed network as plain linear layers, for any batch.
* **mix** — at most ``T`` samples (collection, evaluation), and the fallback for larger batches
  beyond the gather budget: the ``K`` layer outputs are computed and mixed with ``w``
  (``B·K·in·out`` flops, no ``T×out×in`` intermediate).
* **gather** — more than ``T`` samples where the sorted path is unavailable, up to a memory
  budget: composed weights are gathered per sample (``index_select``) and applied as a batched
  row-vector matmul.

A fixed one-hot ``W`` (:attr:`TaskWeights.is_identity`: single-task and multi-head SAC) composes
nothing: every path reads ``φ_τ`` itself, with the same values and gradients.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from paco_torchrl.nn.grouped_mm import grouped_mm, grouped_mm_supported, inverse_permutation, sort_by_task
from paco_torchrl.nn.task_weights import TaskWeights

# Activations that act on each element alone: the task-major path may lay features out first.
_ELEMENTWISE = (
    nn.ReLU, nn.Tanh, nn.ELU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Softplus, nn.Mish, nn.Identity,
)

# Per-sample weights are gathered (B·out·in elements) up to this budget; larger
# unordered batches use the K-mix path.
_GATHER_BUDGET = 1 << 22


def compose(
    w: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Eqn (1): ``(Σ_k w_k W_k, Σ_k w_k b_k)`` for ``w [..., K]`` and a parameter set ``weight [..., K, out, in]``,
    ``bias [..., K, out]`` (leading dims broadcast, e.g. ``N`` stacked parameter sets).

    Shapes: weight ``[..., out, in]``, bias ``[..., out]`` (``None`` without bias).
    """
    composed = (w @ weight.flatten(-2)).unflatten(-1, weight.shape[-2:])
    return composed, (w @ bias if bias is not None else None)


def _is_batched(t: torch.Tensor) -> bool:
    return torch._C._functorch.is_batchedtensor(t)


class CompositionalLinear(nn.Module):
    """A linear layer whose parameters are a set of ``K`` linear layers ``Φ``.

    Args:
        in_features: input size.
        out_features: output size.
        num_param_sets: parameter-set size ``K``.
        bias: whether the layer has a bias set ``[K, out]``.
        identical_init: if ``True`` all ``K`` copies start equal (the original
            PaCo code); otherwise each is drawn independently like ``nn.Linear``.

    Examples:
        >>> import torch
        >>> layer = CompositionalLinear(3, 2, num_param_sets=4)
        >>> weight, bias = layer.compose(torch.randn(5, 4))
        >>> weight.shape, bias.shape
        (torch.Size([5, 2, 3]), torch.Size([5, 2]))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_param_sets: int,
        bias: bool = True,
        *,
        identical_init: bool = False,
    ) -> None:
        super().__init__()
        if num_param_sets < 1:
            raise ValueError(f"num_param_sets (K) must be >= 1, got {num_param_sets}")
        self.in_features = in_features
        self.out_features = out_features
        self.num_param_sets = num_param_sets
        self.identical_init = identical_init
        self.weight = nn.Parameter(torch.empty(num_param_sets, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(num_param_sets, out_features)) if bias else None
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """``nn.Linear``'s init for every copy (or copy 0 repeated if ``identical_init``)."""
        n = 1 if self.identical_init else self.num_param_sets
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        for k in range(n):
            nn.init.kaiming_uniform_(self.weight[k], a=math.sqrt(5))
            if self.bias is not None:
                self.bias[k].uniform_(-bound, bound)
        if self.identical_init:
            self.weight.copy_(self.weight[:1].expand_as(self.weight))
            if self.bias is not None:
                self.bias.copy_(self.bias[:1].expand_as(self.bias))

    def compose(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns ``(Σ_k w_k W_k, Σ_k w_k b_k)`` for ``w`` of shape ``[..., K]``.

        Shapes: weight ``[..., out, in]``, bias ``[..., out]`` (``None`` without bias).
        """
        return compose(w, self.weight, self.bias)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Applies the layer composed with per-sample ``w [..., K]`` to ``x [..., in]``.

        Exact for any ``w`` (each sample may have its own); implemented by mixing
        the ``K`` outputs. :class:`CompositionalMLP` uses faster paths for task ids.
        """
        # The K outputs as one linear layer of K·out rows (Φ's own layout, no copy), then a [1, K] x [K, out]
        # mix per sample. Bit-identical to the einsums it replaced, and faster on the CPU (2026-12-01, 1 thread):
        # 4 % per 10-sample call of a K=5, 3x400 actor on an idle box, 26 % per 400x400 layer on a loaded one.
        k = self.num_param_sets
        outputs = nn.functional.linear(x, self.weight.reshape(k * self.out_features, self.in_features))
        out = (w.unsqueeze(-2) @ outputs.unflatten(-1, (k, self.out_features))).squeeze(-2)
        if self.bias is not None:
            out = out + w @ self.bias
        return out

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"num_param_sets={self.num_param_sets}, bias={self.bias is not None}"
        )


class CompositionalMLP(nn.Module):
    """An MLP whose parameters for task ``τ`` are ``θ_τ = Φ w_τ``.

    Args:
        in_features: input size.
        out_features: output size.
        num_cells: hidden sizes, e.g. ``(400, 400, 400)`` (an int means one hidden layer).
        num_tasks: number of tasks ``T``.
        num_param_sets: parameter-set size ``K``.
        activation: activation class placed after every hidden layer.
        task_weights: a :class:`TaskWeights` to use (and share with other
            networks); a new one is created when ``None``.

    Keyword Args:
        compositional: ``"all"`` (every layer compositional, PaCo) or ``"output"``
            (plain shared trunk, compositional output layer; the paper's
            *Output-only* variant).
        identical_init: all ``K`` copies of ``Φ`` equal at init (original PaCo code).
        w_init: init of a newly created :class:`TaskWeights`.
        normalize_w: unit-norm ``w`` for a newly created :class:`TaskWeights`.
        task_major: promise that every batch with at least two dims whose leading
            dim is ``T`` is task-major (``task_id[τ] == τ``); such batches then take one
            ``baddbmm`` instead of being sorted (or, on CUDA, mixed). Default ``False``: every
            layout is handled exactly without it. See :func:`assume_task_major`.
        check_layout: in eager mode, verify the ``task_major`` promise on every call and
            raise ``ValueError`` when it is broken (one host sync per call: for debugging).

    Examples:
        >>> import torch
        >>> mlp = CompositionalMLP(4, 2, num_cells=(8, 8), num_tasks=3, num_param_sets=2)
        >>> x, task_id = torch.randn(3, 5, 4), torch.arange(3).repeat_interleave(5).view(3, 5)
        >>> mlp(x, task_id).shape
        torch.Size([3, 5, 2])
        >>> torch.allclose(mlp(x[1], task_id[1]), mlp.instantiate(1)(x[1]), atol=1e-6)
        True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_cells: Sequence[int] | int,
        num_tasks: int,
        num_param_sets: int,
        activation: type[nn.Module] = nn.ReLU,
        task_weights: TaskWeights | None = None,
        *,
        compositional: str = "all",
        identical_init: bool = True,
        w_init: str = "normal",
        normalize_w: bool = False,
        task_major: bool = False,
        check_layout: bool = False,
    ) -> None:
        super().__init__()
        if compositional not in ("all", "output"):
            raise ValueError(f"compositional must be 'all' or 'output', got {compositional!r}")
        if task_weights is None:
            task_weights = TaskWeights(num_tasks, num_param_sets, w_init, normalize=normalize_w)
        elif (task_weights.num_tasks, task_weights.num_param_sets) != (num_tasks, num_param_sets):
            raise ValueError(
                f"task_weights is [{task_weights.num_tasks}, {task_weights.num_param_sets}], "
                f"expected [num_tasks={num_tasks}, num_param_sets={num_param_sets}]"
            )
        self.task_weights = task_weights
        self.num_tasks = num_tasks
        self.num_param_sets = num_param_sets
        self.compositional = compositional
        self.task_major = task_major
        self.check_layout = check_layout
        self.activation_cls = activation
        self.activation = activation()
        sizes = [in_features, *((num_cells,) if isinstance(num_cells, int) else num_cells), out_features]
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            is_output = i == len(sizes) - 2
            if compositional == "all" or is_output:
                layers.append(
                    CompositionalLinear(fan_in, fan_out, num_param_sets, identical_init=identical_init)
                )
            else:
                layers.append(nn.Linear(fan_in, fan_out))
        self.layers = nn.ModuleList(layers)
        self.in_features = in_features
        self.out_features = out_features

    def _is_task_major(self, batch_shape: torch.Size, task_id: torch.Tensor) -> bool:
        """Whether to treat the batch as task-major: the caller's promise, checked only on request."""
        if not self.task_major or len(batch_shape) < 2 or batch_shape[0] != self.num_tasks:
            return False
        if self.check_layout and not torch.compiler.is_compiling() and not _is_batched(task_id):
            expected = torch.arange(self.num_tasks, device=task_id.device)
            if not bool((task_id == expected.view(-1, *([1] * (task_id.dim() - 1)))).all()):
                raise ValueError("task_major=True but the batch's task_id is not task-major (task_id[τ] != τ)")
        return True

    def forward(self, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        """``x [*batch, in]``, ``task_id`` int64 ``[*batch]`` -> ``[*batch, out]``."""
        batch_shape = x.shape[:-1]
        w_all = self.task_weights.matrix()
        task_major = self._is_task_major(batch_shape, task_id)
        h = x.reshape(-1, x.shape[-1])
        tid = task_id.reshape(-1)
        batch = h.shape[0]
        if self.num_tasks == 1:  # one task: one composed network of plain linear layers, any batch
            out = self._forward_one_task(h, w_all)
        elif task_major:  # one baddbmm: at least as fast as the sorted path, and far cheaper for small nets
            out = self._forward_task_major(h, w_all)
        elif batch > self.num_tasks and not torch.compiler.is_compiling() and grouped_mm_supported(h.device, h.dtype):
            out = self._forward_sorted(h, tid, w_all)
        else:
            out = self._forward_per_sample(h, tid, w_all)
        return out.reshape(*batch_shape, out.shape[-1])

    def _compose(self, layer: CompositionalLinear, w_all: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every task's ``(weight [T, out, in], bias [T, out])``: ``Φ`` itself for a fixed identity ``W``."""
        if self.task_weights.is_identity:  # θ_τ = Φ e_τ = φ_τ (exact; also no 0·inf from other tasks' φ)
            return layer.weight, layer.bias
        return layer.compose(w_all)

    def _forward_sorted(self, h: torch.Tensor, tid: torch.Tensor, w_all: torch.Tensor) -> torch.Tensor:
        sorted_tid, perm, ends = sort_by_task(tid, self.num_tasks)
        offs = ends.to(torch.int32)
        h = h[perm]
        for i, layer in enumerate(self.layers):
            if isinstance(layer, CompositionalLinear):
                weight, bias = self._compose(layer, w_all)
                h = grouped_mm(h, weight.transpose(-1, -2), offs)
                if bias is not None:  # embedding: a cheaper backward than indexing's scatter-add
                    h = h + nn.functional.embedding(sorted_tid, bias)
            else:
                h = layer(h)
            if i < len(self.layers) - 1:
                h = self.activation(h)
        return h[inverse_permutation(perm)]

    def _forward_one_task(self, h: torch.Tensor, w_all: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            if isinstance(layer, CompositionalLinear):
                weight, bias = self._compose(layer, w_all)
                h = nn.functional.linear(h, weight[0], None if bias is None else bias[0])
            else:
                h = layer(h)
            if i < len(self.layers) - 1:
                h = self.activation(h)
        return h

    def _forward_task_major(self, h: torch.Tensor, w_all: torch.Tensor) -> torch.Tensor:
        if self.compositional == "all" and isinstance(self.activation, _ELEMENTWISE):
            return self._forward_task_major_transposed(h, w_all)
        h = h.reshape(self.num_tasks, -1, h.shape[-1])
        for i, layer in enumerate(self.layers):
            if isinstance(layer, CompositionalLinear):
                weight, bias = self._compose(layer, w_all)
                h = torch.baddbmm(bias.unsqueeze(-2), h, weight.transpose(-1, -2))
            else:
                h = layer(h)
            if i < len(self.layers) - 1:
                h = self.activation(h)
        return h.reshape(-1, h.shape[-1])

    def _forward_task_major_transposed(self, h: torch.Tensor, w_all: torch.Tensor) -> torch.Tensor:
        """The task-major path with activations laid out ``[T, features, n]``: ``hᵀ ← b + θ hᵀ``.

        Same values as ``h ← b + h θᵀ``, but the weight gradient ``g hᵀ`` comes out as ``[T, out, in]``,
        the composed weight's own layout, so it flows back into ``compose`` without the transposing
        copy of ``T·out·in`` elements per layer that ``θᵀ`` costs (2026-12-01, CPU, MT10 shapes: a PaCo
        update 4 % faster, measured paired). Only for every layer compositional and an elementwise
        activation.
        """
        h = h.reshape(self.num_tasks, -1, h.shape[-1]).transpose(-1, -2)
        for i, layer in enumerate(self.layers):
            weight, bias = self._compose(layer, w_all)
            h = torch.baddbmm(bias.unsqueeze(-1), weight, h)
            if i < len(self.layers) - 1:
                h = self.activation(h)
        return h.transpose(-1, -2).reshape(-1, h.shape[-2])

    def _forward_per_sample(self, h: torch.Tensor, tid: torch.Tensor, w_all: torch.Tensor) -> torch.Tensor:
        w = w_all[tid]
        batch = h.shape[0]
        # gather costs T·K·in·out (compose; nothing for a fixed identity W) + B·in·out; mix costs
        # B·K·in·out: gather wins for T < B, and always without a composition.
        gather = self.num_tasks < batch or self.task_weights.is_identity
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, CompositionalLinear):
                h = layer(h)
            elif gather and batch * layer.in_features * layer.out_features <= _GATHER_BUDGET:
                weight, bias = self._compose(layer, w_all)
                # index_select, and the sample as a row: both several times faster than weight[tid] and a
                # column-vector bmm on the CPU (2026-11-30: 0.6 vs 4.2 ms for 10 samples of a 256x256 layer)
                h = (h.unsqueeze(-2) @ weight.index_select(0, tid).transpose(-1, -2)).squeeze(-2)
                h = h + bias.index_select(0, tid)
            else:
                h = layer(h, w)
            if i < len(self.layers) - 1:
                h = self.activation(h)
        return h

    @torch.no_grad()
    def instantiate(self, task_id: int) -> nn.Sequential:
        """A standalone single-task network of ``nn.Linear`` holding ``θ_τ = Φ w_τ``.

        The returned parameters are copies: training them leaves ``Φ`` and ``W`` untouched.
        """
        if not 0 <= task_id < self.num_tasks:
            raise ValueError(f"task_id must be in [0, {self.num_tasks}), got {task_id}")
        w = self.task_weights.matrix()[task_id]
        modules: list[nn.Module] = []
        for i, layer in enumerate(self.layers):
            linear = nn.Linear(layer.in_features, layer.out_features)
            if isinstance(layer, CompositionalLinear):
                weight, bias = layer.compose(w)
            else:
                weight, bias = layer.weight, layer.bias
            linear.weight.copy_(weight)
            linear.bias.copy_(bias)
            modules.append(linear)
            if i < len(self.layers) - 1:
                modules.append(self.activation_cls())
        return nn.Sequential(*modules).to(self.layers[0].weight.device)


def assume_task_major(module: nn.Module, task_major: bool = True) -> nn.Module:
    """Sets ``task_major`` on every :class:`CompositionalMLP` inside ``module`` (returned as is).

    Call it on networks whose ``[T, n, ...]`` inputs are always task-major, e.g. trained only on
    :class:`~paco_torchrl.data.TaskBalancedReplayBuffer` batches: such batches then take one
    ``baddbmm`` instead of the sort (CPU) or the ``K``-mix (CUDA, ``torch.compile``). Results are
    wrong for a ``[T, n]`` batch that breaks the promise; ``check_layout=True`` catches that.

    Examples:
        >>> import torch
        >>> mlp = assume_task_major(CompositionalMLP(4, 2, num_cells=8, num_tasks=3, num_param_sets=2))
        >>> mlp.task_major
        True
    """
    for sub in module.modules():
        if isinstance(sub, CompositionalMLP):
            sub.task_major = task_major
    return module
