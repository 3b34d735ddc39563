"""TorchRL's ``TanhNormal`` for the unit box without host synchronisation (eager CUDA, CUDA graphs), and its
reparameterised sample with log-probability as plain tensor arithmetic."""
from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Number

import torch
import torch.nn.functional as F
from torch import distributions as D
from torchrl.data import TensorSpec
from torchrl.modules import TanhNormal
from torchrl.modules.distributions.continuous import FasterTransformedDistribution, SafeTanhTransform
from torchrl.modules.distributions.utils import safetanh_noeps


def is_unit_box(low: torch.Tensor | Number, high: torch.Tensor | Number) -> bool:
    """Whether the bounds are ``[-1, 1]`` in every dimension, read on the host (numbers or CPU tensors).

    Examples:
        >>> is_unit_box(-1.0, 1.0), is_unit_box(torch.full((4,), -1.0), torch.ones(4)), is_unit_box(-2.0, 2.0)
        (True, True, False)
    """
    if isinstance(low, Number) and isinstance(high, Number):
        return low == -1 and high == 1
    if any(isinstance(b, torch.Tensor) and b.device.type != "cpu" for b in (low, high)):
        return False  # reading them would synchronise: TorchRL's own path decides
    return bool((torch.as_tensor(low) == -1).all()) and bool((torch.as_tensor(high) == 1).all())


def host_bounds(spec: TensorSpec) -> dict[str, torch.Tensor | float]:
    """``{"low": ..., "high": ...}`` of a bounded action spec for ``TanhNormal``: Python numbers when
    every dimension has the same bounds (then building a distribution reads nothing from the device),
    else the spec's tensors.

    Examples:
        >>> from torchrl.data import Bounded
        >>> host_bounds(Bounded(-1.0, 1.0, shape=(4,)))
        {'low': -1.0, 'high': 1.0}
    """
    low, high = spec.space.low.detach().cpu(), spec.space.high.detach().cpu()
    if low.numel() and bool((low == low.flatten()[0]).all()) and bool((high == high.flatten()[0]).all()):
        return {"low": float(low.flatten()[0]), "high": float(high.flatten()[0])}
    return {"low": spec.space.low, "high": spec.space.high}


class UnitTanhNormal(TanhNormal):
    """TorchRL's :class:`~torchrl.modules.TanhNormal`, built without a device-to-host read for ``[-1, 1]`` bounds.

    TorchRL's class moves the bounds to ``loc``'s device and asks whether they differ from ±1 every
    time a distribution is built (every actor call). On CUDA that is a host synchronisation in the
    eager update, and inside a CUDA-graph capture the host-to-device copy of CPU bounds fails. So
    does argument validation (``scale > 0``), which ``torch.distributions`` runs by default. For
    bounds that are ``[-1, 1]`` (Python numbers, or CPU tensors read once on the host), this class
    builds the same distribution, ``tanh(Normal(loc, scale))`` with TorchRL's safe tanh, and skips
    both. Any other bounds go through TorchRL's own ``__init__``, unchanged. Samples, log-probabilities
    and their gradients equal TorchRL's bit for bit (tests/test_no_host_sync.py).

    Args:
        loc: mean of the Normal before the tanh.
        scale: its standard deviation (a tensor, a number or a callable of ``loc``).
        upscale: see ``TanhNormal`` (used with ``tanh_loc``).
        low: lower bound (number or tensor).
        high: upper bound (number or tensor).
        event_dims: trailing dimensions summed in ``log_prob`` (default: ``min(1, loc.ndim)``).
        tanh_loc: ``loc = upscale · tanh(loc / upscale)`` first.
        safe_tanh: TorchRL's clamped tanh transform.

    Examples:
        >>> import torch
        >>> from torchrl.modules import TanhNormal
        >>> loc, scale = torch.zeros(3, 2), torch.ones(3, 2)
        >>> _ = torch.manual_seed(0); a = UnitTanhNormal(loc, scale).rsample()
        >>> _ = torch.manual_seed(0); b = TanhNormal(loc, scale).rsample()
        >>> torch.equal(a, b)
        True
    """

    def __init__(
        self,
        loc: torch.Tensor,
        scale: torch.Tensor | float | Callable[[torch.Tensor], torch.Tensor],
        upscale: torch.Tensor | Number = 5.0,
        low: torch.Tensor | Number = -1.0,
        high: torch.Tensor | Number = 1.0,
        event_dims: int | None = None,
        tanh_loc: bool = False,
        safe_tanh: bool = True,
    ) -> None:
        if not is_unit_box(low, high):
            super().__init__(loc, scale, upscale, low, high, event_dims, tanh_loc, safe_tanh)
            return
        if not isinstance(loc, torch.Tensor):
            loc = torch.as_tensor(loc, dtype=torch.get_default_dtype())
        self.non_trivial_max = self.non_trivial_min = False  # TorchRL's flags: no affine map after the tanh
        self.tanh_loc = tanh_loc
        self._event_dims = min(1, loc.ndim) if event_dims is None else event_dims
        self.device = loc.device
        self.upscale = upscale
        self._low, self._high = low, high
        self._t = SafeTanhTransform() if safe_tanh else D.TanhTransform()
        self.update(loc, scale)

    def update(self, loc: torch.Tensor, scale: torch.Tensor | float | Callable[[torch.Tensor], torch.Tensor]) -> None:
        if self.non_trivial_max or self.non_trivial_min:  # other bounds: TorchRL's update
            return super().update(loc, scale)
        if self.tanh_loc:
            loc = (loc / self.upscale).tanh() * self.upscale
        if callable(scale) and not isinstance(scale, torch.Tensor):
            scale = scale(loc)
        elif not isinstance(scale, torch.Tensor):
            scale = torch.full_like(loc, scale)
        self.loc, self.scale = loc, scale
        base = D.Normal(loc, scale, validate_args=False)
        if self._event_dims > 0:
            base = D.Independent(base, self._event_dims, validate_args=False)
        FasterTransformedDistribution.__init__(self, base, self._t, validate_args=False)

    @property
    def low(self) -> torch.Tensor:
        return torch.as_tensor(self._low, device=self.device)

    @low.setter
    def low(self, value: torch.Tensor | Number) -> None:  # TorchRL's __init__ sets it
        self._low = value

    @property
    def high(self) -> torch.Tensor:
        return torch.as_tensor(self._high, device=self.device)

    @high.setter
    def high(self, value: torch.Tensor | Number) -> None:
        self._high = value


def tanh_normal_rsample(loc: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(u, safetanh(u))`` with ``u = loc + ε · scale``: ``TanhNormal(loc, scale).rsample()`` over ``[-1, 1]``
    (``ε`` drawn as ``Normal.rsample`` draws it: the same random stream), with its pre-tanh value.

    Examples:
        >>> loc, scale = torch.zeros(3, 2), torch.ones(3, 2)
        >>> _ = torch.manual_seed(0); _, a = tanh_normal_rsample(loc, scale)
        >>> _ = torch.manual_seed(0); torch.equal(a, TanhNormal(loc, scale).rsample())
        True
    """
    preimage = loc + torch.empty_like(loc).normal_() * scale  # Normal.rsample
    return preimage, safetanh_noeps(preimage)  # SafeTanhTransform


def tanh_normal_rsample_and_log_prob(loc: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``TanhNormal(loc, scale).rsample_and_log_prob()`` over ``[-1, 1]``, without building the distribution.

    The same operations in the same order as TorchRL's ``TanhNormal`` (``low=-1``, ``high=1``,
    ``tanh_loc=False``, safe tanh, one event dimension): ``u = loc + ε · scale`` with ``ε`` drawn as
    ``Normal.rsample`` draws it, ``a = safetanh(u)``, and ``log π(a) = Σ log N(u; loc, scale) −
    Σ 2 (log 2 − u − softplus(−2u))``. Same random stream, bit-identical values and gradients
    (``tests/test_direct_actor.py``); it skips the distribution objects, their transforms and checks,
    which cost more than the arithmetic at small batches.

    Args:
        loc: mean of the Normal before the tanh, ``[*batch, d]``.
        scale: its standard deviation, the same shape.

    Returns:
        ``(action [*batch, d], log_prob [*batch])``.

    Examples:
        >>> loc, scale = torch.zeros(3, 2), torch.ones(3, 2)
        >>> _ = torch.manual_seed(0); a, lp = tanh_normal_rsample_and_log_prob(loc, scale)
        >>> _ = torch.manual_seed(0); b, lq = TanhNormal(loc, scale).rsample_and_log_prob()
        >>> torch.equal(a, b), torch.equal(lp, lq)
        (True, True)
    """
    preimage, action = tanh_normal_rsample(loc, scale)
    normal_log_prob = -((preimage - loc) ** 2) / (2 * scale**2) - scale.log() - math.log(math.sqrt(2 * math.pi))
    log_det = 2.0 * (math.log(2.0) - preimage - F.softplus(-2.0 * preimage))  # TanhTransform.log_abs_det_jacobian
    return action, normal_log_prob.sum(-1) - log_det.sum(-1)
