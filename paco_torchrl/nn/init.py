"""Parameter initialisation of the original PaCo code (ALF) for task-conditioned MLPs.

The original networks (``TToTMooN/paco-mtrl`` on its ALF fork) initialise

* actor hidden layers Xavier-uniform, critic hidden layers ``U(±1/√fan_in)``;
* the actor's output heads (mean and log-std) with a truncated normal of standard deviation
  ``0.3/√fan_in`` (ALF's ``variance_scaling_init(gain=0.3, mode="fan_in", truncated_normal)``:
  drawn with ``σ = 0.3/√fan_in / 0.8796`` and cut at ``±2σ``);
* the critic's output layer ``U(±0.003)``;
* every bias to 0.

For a :class:`~paco_torchrl.nn.CompositionalLinear` the init is drawn once and copied into all ``K``
copies of ``Φ`` when the layer has ``identical_init`` (the original's ``kernel_identical_init``),
else drawn for each copy. ``"torch"`` keeps ``nn.Linear``'s default (Kaiming-uniform, uniform bias).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, get_args

import torch
from torch import nn

from paco_torchrl.nn.compositional import CompositionalLinear

InitScheme = Literal["original", "torch"]  # the config's network.init choices
INIT_SCHEMES: tuple[str, ...] = get_args(InitScheme)
ROLES = ("actor", "critic")
# std of a standard normal truncated at ±2, as ALF (and TF) correct for it
_TRUNCATED_NORMAL_STD = 0.87962566103423978
HEAD_GAIN = 0.3
CRITIC_OUTPUT_BOUND = 3e-3

WeightInit = Callable[[torch.Tensor], None]


def xavier_uniform_(weight: torch.Tensor) -> None:
    """``U(±√(6/(fan_in + fan_out)))`` for ``weight [out, in]``."""
    nn.init.xavier_uniform_(weight)


def fan_in_uniform_(weight: torch.Tensor) -> None:
    """``U(±1/√fan_in)`` for ``weight [out, in]``."""
    bound = 1.0 / math.sqrt(weight.shape[-1])
    nn.init.uniform_(weight, -bound, bound)


def head_truncated_normal_(weight: torch.Tensor, gain: float = HEAD_GAIN) -> None:
    """Truncated normal (±2σ) with standard deviation ``gain/√fan_in`` after truncation."""
    std = gain / math.sqrt(weight.shape[-1]) / _TRUNCATED_NORMAL_STD
    nn.init.trunc_normal_(weight, 0.0, std, -2.0 * std, 2.0 * std)


def critic_output_uniform_(weight: torch.Tensor, bound: float = CRITIC_OUTPUT_BOUND) -> None:
    """``U(±0.003)``."""
    nn.init.uniform_(weight, -bound, bound)


@torch.no_grad()
def init_linear_(layer: nn.Linear | CompositionalLinear, weight_init: WeightInit) -> None:
    """Draws ``layer``'s weight with ``weight_init`` and zeroes its bias (every copy of ``Φ``)."""
    if isinstance(layer, CompositionalLinear):
        copies = 1 if layer.identical_init else layer.num_param_sets
        for k in range(copies):
            weight_init(layer.weight[k])
        if layer.identical_init:
            layer.weight.copy_(layer.weight[:1].expand_as(layer.weight))
    else:
        weight_init(layer.weight)
    if layer.bias is not None:
        layer.bias.zero_()


def linear_layers(net: nn.Module) -> list[nn.Module]:
    """The linear layers of an MLP in forward order (``nn.Linear`` and :class:`CompositionalLinear`)."""
    return [m for m in net.modules() if isinstance(m, (nn.Linear, CompositionalLinear))]


def init_task_mlp_(net: nn.Module, role: str, scheme: str = "original") -> nn.Module:
    """Initialises an actor's or a critic's MLP as the original PaCo code does (see the module doc).

    Args:
        net: a :class:`~paco_torchrl.nn.CompositionalMLP` or :class:`~paco_torchrl.nn.OneHotTaskMLP`
            (its last linear layer is the output layer; an actor's holds the mean and log-std heads).
        role: ``"actor"`` or ``"critic"``.
        scheme: ``"original"`` or ``"torch"`` (leave ``nn.Linear``'s default init as it is).

    Returns:
        ``net``, initialised in place.

    Examples:
        >>> from paco_torchrl.nn import CompositionalMLP
        >>> net = init_task_mlp_(CompositionalMLP(6, 1, (32,), num_tasks=2, num_param_sets=3), "critic")
        >>> bool(net.layers[-1].weight.abs().max() <= 0.003), bool((net.layers[0].bias == 0).all())
        (True, True)
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init scheme must be one of {INIT_SCHEMES}, got {scheme!r}")
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if scheme == "torch":
        return net
    *hidden, output = linear_layers(net)
    for layer in hidden:
        init_linear_(layer, xavier_uniform_ if role == "actor" else fan_in_uniform_)
    init_linear_(output, head_truncated_normal_ if role == "actor" else critic_output_uniform_)
    return net
