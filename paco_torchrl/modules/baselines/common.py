"""Wrap any task-conditioned network ``net(x, task_id)`` into the SAC actor / critic interface of PaCo."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn
from torchrl.data import TensorSpec
from torchrl.envs.utils import ExplorationType
from torchrl.modules import ProbabilisticActor, ValueOperator

from paco_torchrl.modules.actor_critic import GaussianPolicyNet, QValueNet, as_action_spec
from paco_torchrl.modules.distributions import UnitTanhNormal, host_bounds
from paco_torchrl.modules.tensor_outputs import TensorOutputModule, TensorOutputValueOperator

NetFactory = Callable[[int, int], nn.Module]  # (in_features, out_features) -> net(x, task_id)


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU, last_activation: bool = False) -> nn.Sequential:
    """``Linear`` layers through ``sizes`` with ``activation`` between them (and after the last if asked)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(activation())
    return nn.Sequential(*layers)


def make_actor_from_net(
    net: nn.Module, action_spec: TensorSpec | int, log_std_bounds: tuple[float, float] = (-10.0, 2.0)
) -> ProbabilisticActor:
    """A TanhNormal SAC actor around ``net(observation, task_id) -> [loc, log_std]`` (``2·dim(A)`` outputs).

    The same wrapping as :func:`~paco_torchrl.modules.make_paco_actor` (keys, clamp of the log-std,
    distribution), so every algo plugs into the same loss, collector and evaluation.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from paco_torchrl.nn import OneHotTaskMLP
        >>> actor = make_actor_from_net(OneHotTaskMLP(6, 4, (16,), num_tasks=3), 2)
        >>> td = TensorDict({"observation": torch.randn(5, 6), "task_id": torch.zeros(5, dtype=torch.long)}, [5])
        >>> actor(td)["action"].shape
        torch.Size([5, 2])
    """
    spec = as_action_spec(action_spec)
    module = TensorOutputModule(
        GaussianPolicyNet(net, log_std_bounds), in_keys=["observation", "task_id"], out_keys=["loc", "scale"]
    )
    return ProbabilisticActor(
        module,
        in_keys=["loc", "scale"],
        out_keys=["action"],
        spec=spec,
        distribution_class=UnitTanhNormal,
        distribution_kwargs={**host_bounds(spec), "tanh_loc": False},
        default_interaction_type=ExplorationType.RANDOM,
        return_log_prob=False,
    )


def make_qvalue_from_net(net: nn.Module) -> ValueOperator:
    """A critic around ``net([observation, action], task_id) -> Q`` writing ``"state_action_value"``."""
    return TensorOutputValueOperator(
        QValueNet(net), in_keys=["observation", "action", "task_id"], out_keys=["state_action_value"]
    )


def build_actor_critics(
    make_net: NetFactory,
    observation_dim: int,
    action_spec: TensorSpec | int,
    log_std_bounds: tuple[float, float],
    num_qvalue_nets: int = 2,
) -> tuple[ProbabilisticActor, list[ValueOperator]]:
    """Actor and ``num_qvalue_nets`` independently initialised critics from one network factory."""
    spec = as_action_spec(action_spec)
    action_dim = spec.shape[-1]
    actor = make_actor_from_net(make_net(observation_dim, 2 * action_dim), spec, log_std_bounds)
    critics = [make_qvalue_from_net(make_net(observation_dim + action_dim, 1)) for _ in range(num_qvalue_nets)]
    return actor, critics
