"""A lean collection policy for TanhNormal actors: the same actions without building a distribution."""
from __future__ import annotations

from tensordict import TensorDictBase
from tensordict.nn import TensorDictModule, TensorDictModuleBase
from tensordict.nn.probabilistic import InteractionType, interaction_type
from torchrl.modules import ProbabilisticActor, TanhNormal

from paco_torchrl.modules.actor_critic import GaussianPolicyNet
from paco_torchrl.modules.distributions import is_unit_box, tanh_normal_rsample


def tanh_normal_actor_problem(actor) -> str | None:
    """Why ``actor`` is not ``[GaussianPolicyNet → TanhNormal over [-1, 1]]``, or ``None`` when it is.

    That form (what :func:`~paco_torchrl.modules.make_paco_actor` builds: a ``ProbabilisticActor`` whose
    first module is a ``TensorDictModule`` around a :class:`~paco_torchrl.modules.GaussianPolicyNet` writing
    ``loc`` and ``scale``, then a plain ``TanhNormal``: ``tanh_loc=False``, safe tanh, unit bounds, one event
    dimension) is what :class:`TanhNormalSampler` and the losses' direct actor path compute without the
    distribution objects.

    Examples:
        >>> from paco_torchrl.modules import make_paco_actor
        >>> tanh_normal_actor_problem(make_paco_actor(6, 2, num_tasks=3, num_param_sets=2, num_cells=(16,))) is None
        True
    """
    if not isinstance(actor, ProbabilisticActor):
        return f"needs a ProbabilisticActor, got {type(actor).__name__}"
    first, dist = actor.module[0], actor.module[-1]
    if not isinstance(first, TensorDictModule) or not isinstance(first.module, GaussianPolicyNet):
        return "the actor's first module is not a TensorDictModule around a GaussianPolicyNet"
    if len(actor.module) != 2 or len(first.out_keys) != 2 or list(dist.in_keys) != list(first.out_keys):
        return "the actor is not [GaussianPolicyNet -> distribution]"
    dist_class = dist.distribution_class
    if not (isinstance(dist_class, type) and issubclass(dist_class, TanhNormal)):  # UnitTanhNormal too
        return "the distribution is not a TanhNormal"
    kwargs = dist.distribution_kwargs
    if kwargs.get("tanh_loc", False) or not kwargs.get("safe_tanh", True) or "upscale" in kwargs:
        return "the TanhNormal is not plain (tanh_loc/safe_tanh/upscale set)"
    if kwargs.get("event_dims", 1) != 1:
        return "the TanhNormal does not have exactly one event dimension"
    if not is_unit_box(kwargs.get("low", -1.0), kwargs.get("high", 1.0)):  # bounds on a device: not read
        return "the action bounds are not [-1, 1] (numbers or CPU tensors)"
    return None


class TanhNormalSampler(TensorDictModuleBase):
    """Samples a :func:`~paco_torchrl.modules.make_paco_actor` actor's ``TanhNormal`` policy directly.

    In the collector the actor's distribution is built and sampled once per env step. For a
    handful of samples that costs several times the network itself (a ``TanhNormal`` with its
    transforms, the probabilistic module's dispatch). This module computes ``loc, scale`` with
    the actor's network and draws ``tanh(loc + scale · ε)``, ``ε ~ N(0, 1)``, exactly as
    ``TanhNormal`` (with ``low=-1, high=1``, ``tanh_loc=False``, TorchRL's ``safetanh``) does: the
    same random draws, bit-identical actions (tested). Under any interaction type other than
    random (deterministic evaluation, mode, mean) it calls the actor itself.

    The actor's parameters are shared, not copied: updates are seen at once.

    Args:
        actor: a ``ProbabilisticActor`` whose first module is a ``TensorDictModule`` around a
            :class:`~paco_torchrl.modules.GaussianPolicyNet` writing ``loc`` and ``scale``, and whose
            distribution is ``TanhNormal`` over ``[-1, 1]`` with ``tanh_loc=False``.

    Raises:
        ValueError: for any other actor (use the actor itself then; :meth:`supports` tells).

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from paco_torchrl.modules import make_paco_actor
        >>> actor = make_paco_actor(6, 2, num_tasks=3, num_param_sets=2, num_cells=(16,))
        >>> policy = TanhNormalSampler(actor)
        >>> td = TensorDict({"observation": torch.randn(3, 6), "task_id": torch.arange(3)}, [3])
        >>> _ = torch.manual_seed(0); a = policy(td.clone())["action"]
        >>> _ = torch.manual_seed(0); b = actor(td.clone())["action"]
        >>> torch.equal(a, b)
        True
    """

    def __init__(self, actor: ProbabilisticActor) -> None:
        super().__init__()
        problem = self._problem(actor)
        if problem is not None:
            raise ValueError(f"TanhNormalSampler: {problem}")
        self.actor = actor
        net_module = actor.module[0]
        self.net = net_module.module
        self.net_in_keys = list(net_module.in_keys)
        self.loc_key, self.scale_key = net_module.out_keys
        self.action_key = actor.out_keys[-1]
        self.in_keys = list(actor.in_keys)
        self.out_keys = list(actor.out_keys)

    @staticmethod
    def _problem(actor) -> str | None:
        problem = tanh_normal_actor_problem(actor)
        if problem is None and getattr(actor.module[-1], "return_log_prob", False):
            return "the actor also returns log-probabilities"
        return problem

    @classmethod
    def supports(cls, actor) -> bool:
        """Whether ``actor`` can be sampled by this module."""
        return cls._problem(actor) is None

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        mode = interaction_type()
        if mode is not None and mode != InteractionType.RANDOM:
            return self.actor(tensordict)
        loc, scale = self.net(*(tensordict.get(key) for key in self.net_in_keys))
        _, action = tanh_normal_rsample(loc, scale)  # TanhNormal's sample, without the distribution
        tensordict.set(self.loc_key, loc)
        tensordict.set(self.scale_key, scale)
        tensordict.set(self.action_key, action)
        return tensordict
