"""Grouped matmul over rows sorted by task: an autograd rule with a vmap rule (eager mode).

``grouped_mm(a [B, in], b [T, in, out], offs [T])`` multiplies the rows ``offs[τ-1]:offs[τ]`` of
``a`` by ``b[τ]`` (``offs``: int32 cumulative group ends, ``offs[-1] == B``; empty groups allowed)
in one call that costs about what one ``[B, in] × [in, out]`` matmul costs. It wraps
``torch.nn.functional.grouped_mm`` (``torch._grouped_mm`` where the former is missing) and adds
what the raw operator lacks here:

* a backward of two grouped matmuls on a contiguous output gradient (the stock backward
  rejects an expanded one, e.g. from ``y.sum().backward()``);
* a vmap rule that folds the vmapped dim into the groups (``N`` stacked weight sets: ``N·T``
  groups over ``N·B`` rows), so the twin critics vmapped over stacked parameters take one call
  instead of the per-sample fallback loop;
* zero padding of ``in`` / ``out`` to 16 bytes, which the kernel requires of every stride
  (obs 39, action 4, a 1-unit Q head); padding the contraction with zeros is exact.

:func:`sort_by_task` and :func:`inverse_permutation` put flat rows into that order and back (the
sorted paths of :class:`~paco_torchrl.nn.CompositionalMLP` and of the stacked critics share them).

:func:`grouped_mm_supported` says where it may be used: on the CPU, for the dtypes that a tiny
probe at import accepted. It is not used on CUDA: float32 ``grouped_mm`` there is reported to fall
back to a per-group loop that reads ``offs`` on the host (a device sync per call); not yet checked
on a GPU (``benchmarks/gpu_check.sh``). Nor is it used
under ``torch.compile``: the stock meta function accepts bfloat16 only, and dynamo traces neither
an ``autograd.Function`` under ``vmap`` nor a custom op's autograd under ``torch.func.grad`` (the
compiled actor loss), so compiled code takes :class:`~paco_torchrl.nn.CompositionalMLP`'s other paths.
Double backward through it is not supported (the weight gradient is not differentiable).

Outside functorch transforms (the usual case) the autograd rule calls the kernels as plain functions
and skips ``Function.apply``'s argument binding: 20 µs instead of 123 µs per small no-grad call, 216
instead of 529 µs per forward + backward, ≈ 3.5 % of a PaCo update on a flat batch (2026-12-01, CPU).
Under a transform they are reached as the custom ops ``paco_torchrl::grouped_mm`` and
``paco_torchrl::grouped_mm_weight_grad``, which carry vmap rules.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_RAW = getattr(F, "grouped_mm", None) or getattr(torch, "_grouped_mm", None)


def _probe(dtype: torch.dtype) -> bool:
    """Whether the raw op runs on the CPU for ``dtype`` (forward and weight-gradient forms)."""
    if _RAW is None:
        return False
    try:
        a, b = torch.ones(4, 4, dtype=dtype), torch.ones(2, 4, 4, dtype=dtype)
        offs = torch.tensor([1, 4], dtype=torch.int32)
        out, wgrad = _RAW(a, b, offs=offs), _RAW(a.t(), a, offs=offs)
        return out.shape == (4, 4) and wgrad.shape == (2, 4, 4) and float(out[3, 0]) == 4.0
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        return False


_CPU_DTYPES = frozenset(dt for dt in (torch.float32, torch.bfloat16) if _probe(dt))


def grouped_mm_supported(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether :func:`grouped_mm` is exact and free of host syncs for tensors of ``device`` / ``dtype``.

    Decided from static facts only (device type, dtype, an import-time CPU probe), so it costs
    nothing per call and traces to a constant under ``torch.compile``.
    """
    return device.type == "cpu" and dtype in _CPU_DTYPES


def _pad_cols(t: torch.Tensor, cols: int) -> torch.Tensor:
    return F.pad(t, (0, cols - t.shape[-1])) if cols != t.shape[-1] else t


def _round_up(n: int, elem_size: int) -> int:
    m = max(1, 16 // elem_size)
    return -(-n // m) * m


def _grouped_mm_impl(a: torch.Tensor, b: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
    size_in, size_out = b.shape[-2:]
    pad_in, pad_out = _round_up(size_in, a.element_size()), _round_up(size_out, a.element_size())
    if pad_in != size_in or pad_out != size_out:
        b = F.pad(b, (0, pad_out - size_out, 0, pad_in - size_in))
    out = _RAW(_pad_cols(a, pad_in).contiguous(), b, offs=offs)
    return out[:, :size_out].contiguous() if pad_out != size_out else out


def _weight_grad_impl(a: torch.Tensor, grad: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
    """Per group ``grad[rows]ᵀ @ a[rows]``: ``[T, out, in]`` (zeros for an empty group).

    Laid out as the composed weight ``[T, out, in]`` so that its gradient flows back into
    ``compose`` without a transposing copy.
    """
    size_in, size_out = a.shape[-1], grad.shape[-1]
    pad_in, pad_out = _round_up(size_in, a.element_size()), _round_up(size_out, a.element_size())
    out = _RAW(_pad_cols(grad, pad_out).contiguous().t(), _pad_cols(a, pad_in).contiguous(), offs=offs)
    if pad_in != size_in or pad_out != size_out:
        out = out[:, :size_out, :size_in].contiguous()
    return out


# The two kernels as custom ops, for calls under a functorch transform (their vmap rules are below).
# Outside any transform the autograd rule calls the plain functions: the custom-op dispatch costs
# ≈ 35 µs per call on the CPU, ≈ 60 % of the Python around a small grouped matmul's forward and backward.
@torch.library.custom_op("paco_torchrl::grouped_mm", mutates_args=())
def _grouped_mm(a: torch.Tensor, b: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
    return _grouped_mm_impl(a, b, offs)


@torch.library.custom_op("paco_torchrl::grouped_mm_weight_grad", mutates_args=())
def _grouped_mm_weight_grad(a: torch.Tensor, grad: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
    return _weight_grad_impl(a, grad, offs)


_transforms_active = torch._C._are_functorch_transforms_active


class _GroupedMM(torch.autograd.Function):
    """Autograd rule of :func:`grouped_mm`, with a vmap rule that folds into the groups.

    ``torch.func.grad`` through it is not supported (it raises, as it did before 2026-12-01).
    """

    @staticmethod
    def forward(a: torch.Tensor, b: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
        return (_grouped_mm if _transforms_active() else _grouped_mm_impl)(a, b, offs)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        a, b, offs = inputs
        ctx.save_for_backward(a, b, offs)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        a, b, offs = ctx.saved_tensors
        grad = grad.contiguous()  # an expanded (stride-0) gradient is rejected by the kernel
        grad_a = grouped_mm(grad, b.transpose(-2, -1), offs) if ctx.needs_input_grad[0] else None
        weight_grad = _grouped_mm_weight_grad if _transforms_active() else _weight_grad_impl
        grad_b = weight_grad(a, grad, offs).transpose(-2, -1) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None

    @staticmethod
    def vmap(info, in_dims, a: torch.Tensor, b: torch.Tensor, offs: torch.Tensor):
        n, rows, a, b, folded = _fold(info, in_dims, a, b, offs)
        return grouped_mm(a, b.reshape(-1, *b.shape[-2:]), folded).view(n, rows, -1), 0


def _batch_first(t: torch.Tensor, dim: int | None, n: int) -> torch.Tensor:
    return t.movedim(dim, 0) if dim is not None else t.expand(n, *t.shape)


def _fold_offs(offs: torch.Tensor, dim: int | None, n: int, rows: int) -> torch.Tensor:
    """Group ends of ``n`` stacked problems of ``rows`` rows each: ``[n·T]``."""
    shift = torch.arange(n, device=offs.device, dtype=offs.dtype).unsqueeze(-1) * rows
    return (_batch_first(offs, dim, n) + shift).reshape(-1)


def _fold(info, in_dims, a: torch.Tensor, other: torch.Tensor, offs: torch.Tensor):
    """The ``n`` vmapped problems as one: ``(n, rows, a [n·rows, in], other [n, ...], offs [n·T])``."""
    n = info.batch_size
    a = _batch_first(a, in_dims[0], n)
    rows = a.shape[1]
    return n, rows, a.reshape(n * rows, -1), _batch_first(other, in_dims[1], n), _fold_offs(offs, in_dims[2], n, rows)


@_grouped_mm.register_vmap
def _(info, in_dims, a: torch.Tensor, b: torch.Tensor, offs: torch.Tensor):
    n, rows, a, b, offs = _fold(info, in_dims, a, b, offs)
    return _grouped_mm(a, b.reshape(-1, *b.shape[-2:]), offs).view(n, rows, -1), 0


@_grouped_mm_weight_grad.register_vmap
def _(info, in_dims, a: torch.Tensor, grad: torch.Tensor, offs: torch.Tensor):
    n, rows, a, grad, offs = _fold(info, in_dims, a, grad, offs)
    out = _grouped_mm_weight_grad(a, grad.reshape(n * rows, -1), offs)
    return out.view(n, -1, *out.shape[-2:]), 0


def grouped_mm(a: torch.Tensor, b: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
    """Rows ``offs[τ-1]:offs[τ]`` of ``a [B, in]`` times ``b[τ]`` (``b: [T, in, out]``) -> ``[B, out]``.

    Args:
        a: rows sorted by group.
        b: one ``[in, out]`` matrix per group.
        offs: int32 ``[T]`` cumulative group ends, non-decreasing, ``offs[-1] == B``.

    Use only where :func:`grouped_mm_supported` holds for ``a``.

    Examples:
        >>> import torch
        >>> a, b = torch.randn(5, 3), torch.randn(2, 3, 4)
        >>> out = grouped_mm(a, b, torch.tensor([2, 5], dtype=torch.int32))
        >>> torch.allclose(out, torch.cat([a[:2] @ b[0], a[2:] @ b[1]]), atol=1e-6)
        True
    """
    if _transforms_active():
        return _GroupedMM.apply(a, b, offs)
    # What Function.apply does outside functorch transforms, without binding the arguments to
    # forward's signature through inspect (≈ 25 µs per call): the C++ apply runs forward and setup_context.
    return super(torch.autograd.Function, _GroupedMM).apply(a, b, offs)


def sort_by_task(tid: torch.Tensor, num_tasks: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(sorted ids, permutation, group ends [T])`` of flat task ids ``tid [B]``: a stable sort, and each
    task's cumulative end from ``searchsorted`` (no ``bincount``, no host read)."""
    sorted_tid, perm = torch.sort(tid, stable=True)
    tasks = torch.arange(num_tasks, device=tid.device, dtype=tid.dtype)
    return sorted_tid, perm, torch.searchsorted(sorted_tid, tasks, right=True)


def inverse_permutation(perm: torch.Tensor) -> torch.Tensor:
    """``inverse`` with ``inverse[perm[i]] = i``: indexing sorted rows with it restores the input order."""
    positions = torch.arange(perm.shape[-1], device=perm.device, dtype=perm.dtype)
    return torch.empty_like(perm).scatter(-1, perm, positions.expand_as(perm))


__all__ = ["grouped_mm", "grouped_mm_supported"]
