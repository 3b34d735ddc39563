"""Deterministic (TD3/DDPG) PaCo actors: a tanh-squashed task-conditioned network, and the twin of a SAC actor."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchrl.data import TensorSpec
from torchrl.modules import Actor

from paco_torchrl.modules.actor_critic import as_action_spec, make_task_mlp
from paco_torchrl.nn import CompositionalLinear, CompositionalMLP, OneHotTaskMLP, TaskWeights


class TanhPolicyNet(nn.Module):
    """Deterministic task-conditioned policy ``a = mid + half_range · tanh(net(s, τ))``."""

    def __init__(self, net: nn.Module, low: torch.Tensor, high: torch.Tensor) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mid", (high + low) / 2)
        self.register_buffer("half_range", (high - low) / 2)

    def forward(self, observation: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        return self.mid + self.half_range * torch.tanh(self.net(observation, task_id))


def make_paco_deterministic_actor(
    observation_dim: int,
    action_spec: TensorSpec | int,
    num_tasks: int,
    num_param_sets: int = 5,
    num_cells: Sequence[int] = (400, 400, 400),
    *,
    activation: type[nn.Module] = nn.ReLU,
    task_weights: TaskWeights | None = None,
    compositional: str | None = "all",
    identical_init: bool = True,
    w_init: str = "normal",
    normalize_w: bool = False,
) -> Actor:
    """A deterministic (TD3/DDPG) actor whose network is a :class:`CompositionalMLP`.

    Arguments are those of :func:`~paco_torchrl.modules.make_paco_actor`; ``compositional=None``
    gives a one-hot-input :class:`OneHotTaskMLP`. Reads ``["observation", "task_id"]``,
    writes ``"action"`` inside the spec's bounds.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> actor = make_paco_deterministic_actor(39, 4, num_tasks=10, num_cells=(64,))
        >>> td = TensorDict({"observation": torch.randn(10, 39), "task_id": torch.arange(10)}, [10])
        >>> bool(actor(td)["action"].abs().max() <= 1)
        True
    """
    spec = as_action_spec(action_spec)
    net = make_task_mlp(
        observation_dim, spec.shape[-1], num_cells, num_tasks, num_param_sets, activation, task_weights,
        compositional, identical_init, w_init, normalize_w,
    )
    low, high = spec.space.low, spec.space.high
    return Actor(TanhPolicyNet(net, low, high), in_keys=["observation", "task_id"], spec=spec)


def deterministic_twin(actor: nn.Module, action_spec: TensorSpec) -> Actor:
    """A deterministic actor with the network structure, ``W`` object and init scheme of a PaCo SAC actor.

    The SAC actor's :class:`CompositionalMLP` (or :class:`OneHotTaskMLP`) fixes the sizes, ``K``,
    the compositional scope and the activation; its :class:`TaskWeights` is reused, so a ``W``
    shared with the critics stays shared. ``Φ`` is new (the output layer has ``dim(A)`` units).
    """
    net = next(m for m in actor.modules() if isinstance(m, (CompositionalMLP, OneHotTaskMLP)))
    if isinstance(net, CompositionalMLP):
        composed = next(layer for layer in net.layers if isinstance(layer, CompositionalLinear))
        return make_paco_deterministic_actor(
            net.in_features, action_spec, net.num_tasks, net.num_param_sets,
            [layer.out_features for layer in net.layers[:-1]], activation=net.activation_cls,
            task_weights=net.task_weights, compositional=net.compositional, identical_init=composed.identical_init,
        )
    linears = [m for m in net.net if isinstance(m, nn.Linear)]
    activation = type(net.net[1]) if len(net.net) > 1 else nn.ReLU
    return make_paco_deterministic_actor(
        linears[0].in_features - net.num_tasks, action_spec, net.num_tasks,
        num_cells=[m.out_features for m in linears[:-1]], activation=activation, compositional=None,
    )
