"""The one place that touches private TorchRL / tensordict APIs.

TorchRL's losses train functional copies of their networks' parameters and give no public
way to re-point an entry of those copies at another tensor, to drop their caches, or to
run the vmapped Q ensemble on given parameters. The few private names this package needs are
wrapped here and listed in :data:`PRIVATE_API`; ``tests/test_torchrl_private.py`` checks that
each still exists, so a TorchRL release that renames one fails that test with the name, not
a training run with an ``AttributeError``.
"""
from __future__ import annotations

from tensordict import TensorDictBase
from tensordict.nn import TensorDictParams
from tensordict.utils import NestedKey
from tensordict.utils import _is_non_tensor as is_non_tensor_class  # noqa: F401 - re-exported
from torch import Tensor
from torchrl.objectives import LossModule, SACLoss

# (owner, private name, where it lives: "class" = an attribute of the class, "instance" = set in __init__)
PRIVATE_API: tuple[tuple[str, str, str], ...] = (
    ("tensordict.nn.TensorDictParams", "_set_tuple", "class"),
    ("tensordict.utils", "_is_non_tensor", "module"),
    ("torchrl.objectives.LossModule", "_erase_cache", "class"),
    ("torchrl.objectives.LossModule", "_clear_weakrefs", "class"),
    ("torchrl.objectives.LossModule", "_has_update_associated", "instance"),
    ("torchrl.objectives.SACLoss", "_cached_detached_qvalue_params", "class"),
    ("torchrl.objectives.SACLoss", "_vmap_qnetworkN0", "instance"),
)


def set_params_entry(params: TensorDictParams, key: tuple[str, ...], value: Tensor) -> None:
    """Points entry ``key`` of a loss's functional parameters at ``value`` (no copy, no checks)."""
    params.unlock_()
    params._set_tuple(key, value, inplace=False, validated=True)
    params.lock_()


def erase_cache(loss: LossModule) -> None:
    """Drops the loss's cached (e.g. detached) parameter views, rebuilt on next use."""
    loss._erase_cache()


def clear_weakrefs(loss: LossModule, *tds: TensorDictBase | str) -> None:
    """What ``LossModule.forward`` implementations call at their end (TorchRL's own losses do)."""
    loss._clear_weakrefs(*tds)


def networks_with_params(loss: LossModule) -> list[str]:
    """Names of the networks the loss holds functional parameters for (``"actor_network"``, ...)."""
    return list(loss._has_update_associated)


def detached_qvalue_params(loss: SACLoss) -> TensorDictBase:
    """The critics' parameters, detached (cached by TorchRL)."""
    return loss._cached_detached_qvalue_params


def vmap_qvalue(loss: SACLoss, td: TensorDictBase, params: TensorDictBase) -> TensorDictBase:
    """The Q ensemble vmapped over stacked ``params``: ``[N, *batch]`` outputs."""
    return loss._vmap_qnetworkN0(td, params)


__all__ = [
    "PRIVATE_API",
    "NestedKey",
    "clear_weakrefs",
    "detached_qvalue_params",
    "erase_cache",
    "is_non_tensor_class",
    "networks_with_params",
    "set_params_entry",
    "vmap_qvalue",
]
