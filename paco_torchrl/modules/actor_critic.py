"""Builders for PaCo actors and critics as TorchRL modules."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, get_args

import torch
from torch import nn
from torchrl.data import Bounded, TensorSpec
from torchrl.envs.utils import ExplorationType
from torchrl.modules import ProbabilisticActor, ValueOperator

from paco_torchrl.modules.distributions import UnitTanhNormal, host_bounds
from paco_torchrl.modules.tensor_outputs import TensorOutputModule, TensorOutputValueOperator
from paco_torchrl.nn import CompositionalMLP, OneHotTaskMLP, TaskWeights
from paco_torchrl.nn.init import init_task_mlp_
from paco_torchrl.nn.stacked import stacked_forward

Scope = Literal["all", "actor", "output"]  # the config's paco.scope choices
SCOPES: tuple[str, ...] = get_args(Scope)


class GaussianPolicyNet(nn.Module):
    """Task-conditioned network emitting ``loc`` and a state-dependent ``scale``.

    ``scale = exp(clamp(log_std, *log_std_bounds))`` (ALF's ``clipped_exp``, used by PaCo).
    """

    def __init__(self, net: nn.Module, log_std_bounds: tuple[float, float] = (-10.0, 2.0)) -> None:
        super().__init__()
        self.net = net
        self.log_std_min, self.log_std_max = log_std_bounds

    def forward(self, observation: torch.Tensor, task_id: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loc, log_std = self.net(observation, task_id).chunk(2, dim=-1)
        return loc, log_std.clamp(self.log_std_min, self.log_std_max).exp()


class QValueNet(nn.Module):
    """Task-conditioned ``Q(s, a)``: the network sees ``[observation, action]``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, observation: torch.Tensor, action: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([observation, action], dim=-1), task_id)

    def forward_stacked(
        self, params: Mapping[str, torch.Tensor], observation: torch.Tensor, action: torch.Tensor,
        task_id: torch.Tensor,
    ) -> torch.Tensor | None:
        """``Q`` under ``N`` stacked parameter sets (``params``: this module's names, ``[N, ...]``), as
        ``[N, *batch, 1]``, without ``vmap``; ``None`` where :func:`~paco_torchrl.nn.stacked.stacked_forward`
        does not cover the network."""
        net_params = {name[4:]: value for name, value in params.items() if name.startswith("net.")}
        return stacked_forward(self.net, net_params, torch.cat([observation, action], dim=-1), task_id)


def as_action_spec(action_spec: TensorSpec | int) -> TensorSpec:
    if isinstance(action_spec, int):
        return Bounded(-1.0, 1.0, shape=(action_spec,))
    return action_spec


def make_task_mlp(
    in_features: int,
    out_features: int,
    num_cells: Sequence[int],
    num_tasks: int,
    num_param_sets: int,
    activation: type[nn.Module],
    task_weights: TaskWeights | None,
    compositional: str | None,
    identical_init: bool,
    w_init: str,
    normalize_w: bool,
) -> nn.Module:
    """A :class:`CompositionalMLP`, or a one-hot-input :class:`OneHotTaskMLP` when ``compositional`` is None.

    The network behind every actor and critic builder (``forward(x, task_id)``).
    """
    if compositional is None:
        return OneHotTaskMLP(in_features, out_features, num_cells, num_tasks, activation)
    return CompositionalMLP(
        in_features,
        out_features,
        num_cells,
        num_tasks,
        num_param_sets,
        activation,
        task_weights,
        compositional=compositional,
        identical_init=identical_init,
        w_init=w_init,
        normalize_w=normalize_w,
    )


def make_paco_actor(
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
    log_std_bounds: tuple[float, float] = (-10.0, 2.0),
    init: str = "original",
    observation_key: str = "observation",
    task_key: str = "task_id",
    action_key: str = "action",
) -> ProbabilisticActor:
    """A PaCo SAC actor: TanhNormal policy whose network is a :class:`CompositionalMLP`.

    Args:
        observation_dim: size of the observation vector.
        action_spec: the action spec (bounded) or the action size for ``[-1, 1]`` actions.
        num_tasks: ``T``.
        num_param_sets: ``K``.
        num_cells: hidden sizes.
        activation: hidden activation class.
        task_weights: share an existing ``W``; a new one is made when ``None``.
        compositional: ``"all"``, ``"output"`` (only the output layer composed) or
            ``None`` (a plain multi-task MLP with the one-hot task id appended: MT-SAC).
        identical_init: ``Φ`` copies equal at init.
        w_init: init of a new ``W``.
        normalize_w: unit-norm ``w`` for a new ``W``.
        log_std_bounds: clamp of the log standard deviation.
        init: ``"original"`` (the original PaCo code's: Xavier-uniform hidden layers, mean and
            log-std heads truncated-normal with std ``0.3/√fan_in``, zero biases; see
            :mod:`paco_torchrl.nn.init`) or ``"torch"`` (``nn.Linear``'s default).
        observation_key: input key of the observation.
        task_key: input key of the integer task id.
        action_key: output key of the action.

    Returns:
        A :class:`~torchrl.modules.ProbabilisticActor` reading ``[observation_key, task_key]``
        and writing ``action_key`` (random sampling by default; use
        ``set_exploration_type(ExplorationType.DETERMINISTIC)`` for ``tanh(loc)``).

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> actor = make_paco_actor(39, 4, num_tasks=10, num_param_sets=5, num_cells=(64, 64))
        >>> td = TensorDict({"observation": torch.randn(10, 39), "task_id": torch.arange(10)}, [10])
        >>> actor(td)["action"].shape
        torch.Size([10, 4])
    """
    spec = as_action_spec(action_spec)
    action_dim = spec.shape[-1]
    mlp = make_task_mlp(
        observation_dim, 2 * action_dim, num_cells, num_tasks, num_param_sets, activation, task_weights,
        compositional, identical_init, w_init, normalize_w,
    )
    init_task_mlp_(mlp, "actor", init)
    module = TensorOutputModule(
        GaussianPolicyNet(mlp, log_std_bounds), in_keys=[observation_key, task_key], out_keys=["loc", "scale"]
    )
    return ProbabilisticActor(
        module,
        in_keys=["loc", "scale"],
        out_keys=[action_key],
        spec=spec,
        distribution_class=UnitTanhNormal,
        distribution_kwargs={**host_bounds(spec), "tanh_loc": False},
        default_interaction_type=ExplorationType.RANDOM,
        return_log_prob=False,
    )


def make_paco_qvalue(
    observation_dim: int,
    action_dim: int,
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
    init: str = "original",
    observation_key: str = "observation",
    action_key: str = "action",
    task_key: str = "task_id",
) -> ValueOperator:
    """A PaCo Q-value network ``Q_τ(s, a)`` writing ``"state_action_value"`` ``[*batch, 1]``.

    Args:
        observation_dim: size of the observation vector.
        action_dim: size of the action vector.
        num_tasks: ``T``.
        num_param_sets: ``K``.
        num_cells: hidden sizes.
        activation: hidden activation class.
        task_weights: share an existing ``W`` (e.g. the actor's); new when ``None``.
        compositional: ``"all"``, ``"output"`` or ``None`` (a plain multi-task
            MLP with the one-hot task id appended, as in the paper's *Actor-only*
            variant).
        identical_init: ``Φ`` copies equal at init.
        w_init: init of a new ``W``.
        normalize_w: unit-norm ``w`` for a new ``W``.
        init: ``"original"`` (the original PaCo code's: ``U(±1/√fan_in)`` hidden layers, ``U(±0.003)``
            output layer, zero biases) or ``"torch"`` (``nn.Linear``'s default).
        observation_key: input key of the observation.
        action_key: input key of the action.
        task_key: input key of the integer task id.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> q = make_paco_qvalue(39, 4, num_tasks=10, num_cells=(64, 64))
        >>> td = TensorDict({"observation": torch.randn(10, 39), "action": torch.rand(10, 4),
        ...                  "task_id": torch.arange(10)}, [10])
        >>> q(td)["state_action_value"].shape
        torch.Size([10, 1])
    """
    in_features = observation_dim + action_dim
    net = make_task_mlp(
        in_features, 1, num_cells, num_tasks, num_param_sets, activation, task_weights,
        compositional, identical_init, w_init, normalize_w,
    )
    init_task_mlp_(net, "critic", init)
    return TensorOutputValueOperator(
        QValueNet(net), in_keys=[observation_key, action_key, task_key], out_keys=["state_action_value"]
    )


def make_paco_actor_critic(
    observation_dim: int,
    action_spec: TensorSpec | int,
    num_tasks: int,
    num_param_sets: int = 5,
    num_cells: Sequence[int] = (400, 400, 400),
    *,
    scope: str = "all",
    share_w: bool = True,
    num_qvalue_nets: int = 2,
    activation: type[nn.Module] = nn.ReLU,
    identical_init: bool = True,
    w_init: str = "normal",
    normalize_w: bool = False,
    log_std_bounds: tuple[float, float] = (-10.0, 2.0),
    init: str = "original",
) -> tuple[ProbabilisticActor, list[ValueOperator]]:
    """The actor and the ``Q`` ensemble of one of the paper's compositional structures (Table 3b).

    Args:
        scope: ``"all"`` (*AC-shared*, PaCo: every layer of actor and critics composed),
            ``"actor"`` (*Actor-only*: critics are plain multi-task MLPs with one-hot
            task input) or ``"output"`` (*Output-only*: only the output layers composed).
        share_w: one ``W`` for the actor and the critics (original PaCo code); if
            ``False`` the critics share a second ``W`` of their own.
        num_qvalue_nets: number of critics (independently initialised ``Φ``).

    Other arguments are those of :func:`make_paco_actor` / :func:`make_paco_qvalue`.

    Examples:
        >>> actor, qvalues = make_paco_actor_critic(39, 4, num_tasks=10, num_cells=(64, 64))
        >>> len(qvalues), qvalues[0].module.net.task_weights is actor.module[0].module.net.task_weights
        (2, True)
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    spec = as_action_spec(action_spec)
    common = dict(
        activation=activation, identical_init=identical_init, w_init=w_init, normalize_w=normalize_w, init=init
    )
    actor = make_paco_actor(
        observation_dim,
        spec,
        num_tasks,
        num_param_sets,
        num_cells,
        compositional="output" if scope == "output" else "all",
        log_std_bounds=log_std_bounds,
        **common,
    )
    actor_w = actor.module[0].module.net.task_weights
    critic_w = actor_w if share_w else TaskWeights(num_tasks, num_param_sets, w_init, normalize=normalize_w)
    qvalues = [
        make_paco_qvalue(
            observation_dim,
            spec.shape[-1],
            num_tasks,
            num_param_sets,
            num_cells,
            task_weights=critic_w,
            compositional={"all": "all", "actor": None, "output": "output"}[scope],
            **common,
        )
        for _ in range(num_qvalue_nets)
    ]
    return actor, qvalues


def find_task_weights(module: nn.Module) -> list[TaskWeights]:
    """The distinct :class:`TaskWeights` inside ``module`` (in registration order)."""
    seen: dict[int, TaskWeights] = {}
    for sub in module.modules():
        if isinstance(sub, TaskWeights):
            seen.setdefault(id(sub), sub)
    return list(seen.values())
