"""Loss maskout (Reset step 1 of Algorithm 1)."""
from __future__ import annotations

from collections.abc import Mapping

import torch
from tensordict import TensorDictBase

from paco_torchrl.objectives.per_task import total_task_loss


def loss_maskout(
    task_losses: TensorDictBase | torch.Tensor,
    threshold: float | torch.Tensor,
    weights: Mapping[str, float | torch.Tensor] | None = None,
) -> torch.Tensor:
    """Which tasks stay in the multi-task loss: ``mask[τ] = J_τ <= ε`` (``True`` = kept).

    ``J_τ`` is the (``weights``-weighted) sum of the task's ``loss_*`` entries when a TensorDict
    is given (the original code thresholds actor + ½ critic + alpha losses: pass
    ``weights=ORIGINAL_LOSS_WEIGHTS``, as :class:`PaCoUpdateStep` does by default). A non-finite
    ``J_τ`` (NaN or inf) counts as over the threshold. Pure tensor ops: no host
    sync, usable under ``torch.compile`` and CUDA graphs.

    Args:
        task_losses: per-task losses, a ``[T]`` tensor or a TensorDict of batch ``[T]``.
        threshold: ``ε`` (the original uses ``3e3``).
        weights: per-entry weights of ``J_τ`` (see :func:`total_task_loss`); ``None`` = plain sum.

    Returns:
        A bool tensor ``[T]``.

    Examples:
        >>> import torch
        >>> loss_maskout(torch.tensor([1.0, 5e3, float("nan"), 3e3]), 3e3)
        tensor([ True, False, False,  True])
    """
    total = total_task_loss(task_losses, weights).detach()
    return torch.isfinite(total) & (total <= threshold)


def masked_total_loss(
    task_losses: TensorDictBase | torch.Tensor,
    mask: torch.Tensor,
    weights: Mapping[str, float | torch.Tensor] | None = None,
) -> torch.Tensor:
    """``J_Θ = Σ_τ mask_τ J_τ / T``: the multi-task loss with dropped tasks set to exactly 0.

    Uses ``torch.where`` so a NaN/inf loss of a dropped task cannot leak into the sum.
    The ``1/T`` scale matches the original code's mean over all samples of a
    balanced batch. ``weights`` weigh the ``loss_*`` entries as in :func:`total_task_loss`.
    """
    total = total_task_loss(task_losses, weights)
    return torch.where(mask, total, torch.zeros_like(total)).sum() / total.shape[-1]
