"""Multi-task SAC with per-task losses and a per-task temperature."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModule
from tensordict.utils import NestedKey
from torch import nn
from torchrl.envs.utils import ExplorationType, set_exploration_type
from torchrl.objectives import SACLoss
from torchrl.objectives.sac import compute_rsample_log_prob
from torchrl.objectives.utils import distance_loss

from paco_torchrl.modules.actor_critic import find_task_weights
from paco_torchrl.nn import CompositionalLinear, TaskWeights
from paco_torchrl.objectives.direct_actor import DirectActorSample
from paco_torchrl.objectives.per_task import per_task_mean
from paco_torchrl.objectives.shared_w import SharedTaskWeights
from paco_torchrl.objectives.torchrl_private import clear_weakrefs, detached_qvalue_params, vmap_qvalue

ActorLossForm = Literal["dqda", "q"]  # the config's sac.actor_loss_form choices
ACTOR_LOSS_FORMS: tuple[str, ...] = get_args(ActorLossForm)
LossFunction = Literal["l2", "l1", "smooth_l1"]  # TorchRL's distance losses: sac.loss_function
LOSS_FUNCTIONS: tuple[str, ...] = get_args(LossFunction)


def replicate_qvalue(qvalue: nn.Module, n: int, shared: list[TaskWeights]) -> list[nn.Module]:
    """``n`` critics: the given one plus freshly initialised copies that keep shared ``W`` objects."""
    critics = [qvalue]
    for _ in range(n - 1):
        clone = copy.deepcopy(qvalue, memo={id(tw): tw for tw in shared})
        for module in clone.modules():
            if isinstance(module, (CompositionalLinear, nn.Linear)):
                module.reset_parameters()
        critics.append(clone)
    return critics


class MultiTaskSACLoss(SACLoss):
    """SAC (v2, no value network) for ``T`` tasks, returning one loss per task.

    Differences from :class:`~torchrl.objectives.SACLoss`:

    * a temperature per task: ``log_alpha`` is ``[T]`` and sample ``i`` uses ``α_{τ_i}``;
    * :meth:`forward` returns a TensorDict of batch ``[T]`` whose entries
      (``loss_actor``, ``loss_qvalue``, ``loss_alpha``, ``alpha``, ``entropy``) are
      each task's mean over its samples, ready for loss maskout;
    * compositional vectors ``W`` shared between the actor and the critics stay
      shared: the critics' copy is a view of the actor's ``W`` (critic-loss
      gradients reach it) and the target critics read the live ``W`` (synchronised
      at every call, as in the original code, where target critics hold no ``W``
      of their own);
    * ``actor_loss_form="dqda"`` (default) reports the actor loss as in the original
      code, ``α log π + ½‖(a + ∂Q/∂a)ₛ₉ − a‖²``, whose gradient equals that of
      ``α log π − Q`` (``"q"``, TorchRL's form) but whose value does not contain
      ``−Q`` — this matters for the maskout threshold;
    * a non-finite TD target yields a non-finite per-task loss (so maskout drops the
      task) without producing NaN gradients for the other tasks.

    Args:
        actor_network: the policy (e.g. from :func:`~paco_torchrl.modules.make_paco_actor`).
        qvalue_network: one critic or a list of ``num_qvalue_nets`` critics. A
            single critic is replicated with freshly initialised ``Φ`` (TorchRL's own
            expansion would redraw every parameter uniformly, destroying ``W``).
        num_tasks: ``T``.

    Keyword Args:
        num_qvalue_nets: critics in the ensemble.
        loss_function: critic distance; ``"l2"`` (squared error, the original) by default.
        alpha_init: initial temperature of every task (``1.0``: ``log α = 0``).
        min_alpha / max_alpha: temperature bounds (``e^-10`` and ``1.0`` originally).
        fixed_alpha: keep ``α`` fixed.
        target_entropy: ``None`` gives the original ``dim(A)·ln(0.2)`` (``-6.44`` for
            Meta-World), ``"auto"`` TorchRL's ``-dim(A)``, or a float.
        gamma: discount of the TD(0) target.
        actor_loss_form: ``"dqda"`` or ``"q"`` (see above).
        sync_target_task_weights: target critics read the live ``W`` (original);
            ``False`` leaves them Polyak-averaged like other target parameters.
        delay_qvalue: use target critics.
        deactivate_vmap: loop over critics instead of ``vmap`` (where ``stacked_critics`` does not apply).
        stacked_critics: evaluate the critic ensemble with batched matmuls over the stacked parameters
            (:meth:`QValueNet.forward_stacked <paco_torchrl.modules.QValueNet.forward_stacked>`) where the
            network and batch layout allow, instead of TorchRL's vmapped call: same values up to float
            rounding, ≈ 1.4 ms less per call for a 2×256 critic pair (``False``: always TorchRL's call).
        direct_actor: draw the actor's actions and log-probabilities with
            :class:`~paco_torchrl.objectives.direct_actor.DirectActorSample` (the network called directly, the
            ``TanhNormal`` as tensor arithmetic) where the actor has that form and the loss's actor parameters
            are the module's own: bit-identical, without TorchRL's parameter swap and distribution objects
            (``False``: always TorchRL's ``get_dist`` under the swap).

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from paco_torchrl.modules import make_paco_actor_critic
        >>> actor, qvalues = make_paco_actor_critic(6, 2, num_tasks=3, num_param_sets=2, num_cells=(16,))
        >>> loss = MultiTaskSACLoss(actor, qvalues, num_tasks=3)
        >>> T, n = 3, 4
        >>> tid = torch.arange(T)[:, None].expand(T, n)
        >>> batch = TensorDict({
        ...     "observation": torch.randn(T, n, 6), "action": torch.rand(T, n, 2) * 2 - 1, "task_id": tid,
        ...     "next": {"observation": torch.randn(T, n, 6), "task_id": tid, "reward": torch.randn(T, n, 1),
        ...              "done": torch.zeros(T, n, 1, dtype=torch.bool),
        ...              "terminated": torch.zeros(T, n, 1, dtype=torch.bool)}}, [T, n])
        >>> out = loss(batch)
        >>> out.batch_size, sorted(out.keys())
        (torch.Size([3]), ['alpha', 'entropy', 'loss_actor', 'loss_alpha', 'loss_qvalue'])
    """

    @dataclass
    class _AcceptedKeys(SACLoss._AcceptedKeys):
        """Keys of :class:`SACLoss` plus ``task_id`` (int64 ``[*batch]``, default ``"task_id"``)."""

        task_id: NestedKey = "task_id"

    default_keys = _AcceptedKeys
    tensor_keys: _AcceptedKeys

    def __init__(
        self,
        actor_network: TensorDictModule,
        qvalue_network: TensorDictModule | list[TensorDictModule],
        num_tasks: int,
        *,
        num_qvalue_nets: int = 2,
        loss_function: str = "l2",
        alpha_init: float = 1.0,
        min_alpha: float | None = math.exp(-10.0),
        max_alpha: float | None = 1.0,
        fixed_alpha: bool = False,
        target_entropy: str | float | None = None,
        gamma: float = 0.99,
        actor_loss_form: str = "dqda",
        sync_target_task_weights: bool = True,
        delay_qvalue: bool = True,
        deactivate_vmap: bool = False,
        stacked_critics: bool = True,
        direct_actor: bool = True,
    ) -> None:
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        if actor_loss_form not in ACTOR_LOSS_FORMS:
            raise ValueError(f"actor_loss_form must be one of {ACTOR_LOSS_FORMS}, got {actor_loss_form!r}")
        actor_w = find_task_weights(actor_network)
        if isinstance(qvalue_network, (list, tuple)):
            critics = list(qvalue_network)
            if len(critics) != num_qvalue_nets:
                raise ValueError(f"got {len(critics)} critics but num_qvalue_nets={num_qvalue_nets}")
        else:
            critics = replicate_qvalue(qvalue_network, num_qvalue_nets, actor_w + find_task_weights(qvalue_network))
        spec = getattr(actor_network, "spec", None)
        action_dim = spec["action"].shape[-1] if spec is not None and "action" in spec.keys() else None
        if target_entropy is None:
            if action_dim is None:
                raise ValueError("target_entropy=None needs an actor with an 'action' spec; pass a float")
            target_entropy = action_dim * math.log(0.2)
        super().__init__(
            actor_network,
            critics,
            num_qvalue_nets=num_qvalue_nets,
            loss_function=loss_function,
            alpha_init=alpha_init,
            min_alpha=min_alpha,
            max_alpha=max_alpha,
            fixed_alpha=fixed_alpha,
            target_entropy=target_entropy,
            delay_qvalue=delay_qvalue,
            reduction="none",
            scalar_output_mode="exclude",
            deactivate_vmap=deactivate_vmap,
        )
        self.num_tasks = num_tasks
        self.actor_loss_form = actor_loss_form
        self.stacked_critics = stacked_critics
        self.direct_actor = direct_actor
        self._direct_actor = (  # None for actors of another form: always TorchRL's path
            DirectActorSample(actor_network, self.actor_network_params)
            if DirectActorSample.supports(actor_network) else None
        )
        log_alpha = torch.full((num_tasks,), math.log(alpha_init), device=self.log_alpha.device)
        del self.log_alpha
        if fixed_alpha:
            self.register_buffer("log_alpha", log_alpha)
        else:
            self.register_parameter("log_alpha", nn.Parameter(log_alpha))
        self.make_value_estimator(gamma=gamma)
        # The critics' W entries (views of a shared W where shared) and their targets: one mechanism.
        self._shared_w = SharedTaskWeights(
            self, ["qvalue_network"], sync_targets=sync_target_task_weights and delay_qvalue
        )
        # A W shared by the critics appears in their params as a view, not a Parameter; if
        # the actor does not hold it either, register its module here so optimizers see it.
        unregistered = {id(p) for p in self._shared_w.unregistered_sources()}
        self.critic_task_weights = nn.ModuleList(
            [m for m in critics[0].modules() if isinstance(m, TaskWeights) and id(m.weight) in unregistered]
        )
        self.sync_target_task_weights_()

    def task_weight_tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor holding a copy of ``W`` that this loss trains or reads.

        Keys: ``"actor.<path>"`` (live parameters), ``"qvalue.<path>"`` (the critics'
        ``[N, T, K]`` entries, views of a shared ``W`` where shared) and
        ``"target_qvalue.<path>"`` (target copies). Pass the values to
        :class:`~paco_torchrl.objectives.WReset` so a reset reaches all of them.
        """
        out: dict[str, torch.Tensor] = {}
        for name, module in self.actor_network.named_modules():
            if isinstance(module, TaskWeights):
                out[f"actor.{name}.weight"] = module.weight
        out.update(self._shared_w.tensors())
        return out

    def refresh_task_weight_views(self) -> None:
        """New views of a ``W`` shared by the critics, with no autograd history from before this call
        (see :meth:`~paco_torchrl.objectives.SharedTaskWeights.refresh`; needed inside a CUDA-graph capture)."""
        self._shared_w.refresh()

    def sync_target_task_weights_(self) -> None:
        """Copies the live critic ``W`` into the target critics (no-op if not synchronised)."""
        self._shared_w.sync_targets_()

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        # A device/dtype cast replaces the critics' views of a shared W by copies: re-tie them.
        self._shared_w.tie()
        return out

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Loads like ``nn.Module``; the critics' views of a shared W follow the loaded W."""
        self._shared_w.untie()
        out = super().load_state_dict(state_dict, strict=strict, assign=assign)
        self._shared_w.tie()
        return out

    def _qvalues(self, td: TensorDictBase, params: TensorDictBase) -> TensorDictBase:
        """The critic ensemble at ``td`` under stacked ``params``: ``[N, *batch]`` with the Q-value entry.

        Batched matmuls over the stack where the critic supports it (``stacked_critics``), else TorchRL's
        vmapped call."""
        critic = self.qvalue_network
        forward_stacked = getattr(critic.module, "forward_stacked", None) if self.stacked_critics else None
        if forward_stacked is not None:
            named = {".".join(key[1:]): params.get(key) for key in params.keys(True, True) if key[0] == "module"}
            q = forward_stacked(named, *(td.get(key) for key in critic.in_keys))
            if q is not None:
                return TensorDict(
                    {self.tensor_keys.state_action_value: q}, batch_size=[q.shape[0], *td.batch_size]
                )
        return vmap_qvalue(self, td, params)

    @property
    def _alpha(self) -> torch.Tensor:
        """Per-task temperature ``[T]`` (clamped to its bounds, no gradient)."""
        with torch.no_grad():
            if self.min_log_alpha is not None or self.max_log_alpha is not None:
                self.log_alpha.clamp_(self.min_log_alpha, self.max_log_alpha)
            return self.log_alpha.exp()

    def _actor_sample(self, tensordict: TensorDictBase) -> tuple[torch.Tensor, torch.Tensor]:
        """The actor's reparameterised action at ``tensordict`` and its log-probability."""
        if self.direct_actor and self._direct_actor is not None and not torch.compiler.is_compiling():
            sample = self._direct_actor(tensordict, self.actor_network_params)
            if sample is not None:
                return sample
        with set_exploration_type(ExplorationType.RANDOM), self.actor_network_params.to_module(
            self.actor_network, preserve_module_state=False
        ):
            return compute_rsample_log_prob(self.actor_network.get_dist(tensordict))

    def _actor_loss(self, tensordict: TensorDictBase, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        action, log_prob = self._actor_sample(tensordict)
        td_q = tensordict.select(*self.qvalue_network.in_keys, strict=False)
        if self.actor_loss_form == "q":
            td_q.set(self.tensor_keys.action, action)
            q = self._qvalues(td_q, detached_qvalue_params(self))
            min_q = q.get(self.tensor_keys.state_action_value).min(0)[0].squeeze(-1)
            return alpha * log_prob - min_q, log_prob
        # ALF's form: the critics are evaluated at the detached action, the actor is
        # pulled along dQ/da; the loss value is ½‖dQ/da‖² + α log π.
        params = detached_qvalue_params(self)

        def min_q_sum(a: torch.Tensor) -> torch.Tensor:
            td = td_q.clone(False)
            td.set(self.tensor_keys.action, a)
            return self._qvalues(td, params).get(self.tensor_keys.state_action_value).min(0)[0].sum()

        if torch.compiler.is_compiling():  # torch.compile traces torch.func.grad, not autograd.grad
            dqda = torch.func.grad(min_q_sum)(action.detach())
        else:
            with torch.enable_grad():
                action_in = action.detach().requires_grad_(True)
                (dqda,) = torch.autograd.grad(min_q_sum(action_in), action_in)
        surrogate = 0.5 * ((action + dqda).detach() - action).pow(2).sum(-1)
        return alpha * log_prob + surrogate, log_prob

    def _qvalue_loss(self, tensordict: TensorDictBase, next_alpha: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            td = tensordict.clone(False)
            next_td = td.get("next").copy()
            next_action, next_log_prob = self._actor_sample(next_td)
            next_td.set(self.tensor_keys.action, next_action)
            next_q = self._qvalues(next_td, self.target_qvalue_network_params)
            next_q = next_q.get(self.tensor_keys.state_action_value)  # [N, *batch, 1]
            next_value = (next_q - (next_alpha * next_log_prob).unsqueeze(-1)).min(0)[0]
            td.set(("next", self.value_estimator.tensor_keys.value), next_value)
            target = self.value_estimator.value_estimate(td).squeeze(-1)
        pred = self._qvalues(
            tensordict.select(*self.qvalue_network.in_keys, strict=False), self.qvalue_network_params
        ).get(self.tensor_keys.state_action_value).squeeze(-1)
        # Non-finite targets: zero-gradient stand-in, then report the sample as non-finite.
        finite = torch.isfinite(target)
        safe_target = torch.where(finite, target, pred.detach())
        loss = distance_loss(pred, safe_target.expand_as(pred), loss_function=self.loss_function).sum(0)
        return torch.where(finite, loss, torch.full_like(loss, float("nan")))

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        """Per-task losses: a TensorDict of batch ``[T]``.

        The input batch may have any shape; task-major ``[T, n]`` batches (the
        balanced sampler's) take the fastest network path.
        """
        task_id = tensordict.get(self.tensor_keys.task_id)
        next_task_id = tensordict.get(("next", self.tensor_keys.task_id), task_id)
        self.sync_target_task_weights_()
        alpha = self._alpha
        loss_qvalue = self._qvalue_loss(tensordict, alpha[next_task_id])
        loss_actor, log_prob = self._actor_loss(tensordict, alpha[task_id])
        log_prob = log_prob.detach()
        loss_alpha = -self.log_alpha[task_id] * (log_prob + self.target_entropy)
        num_tasks = self.num_tasks
        out = TensorDict(
            {
                "loss_actor": per_task_mean(loss_actor, task_id, num_tasks),
                "loss_qvalue": per_task_mean(loss_qvalue, task_id, num_tasks),
                "loss_alpha": per_task_mean(loss_alpha, task_id, num_tasks),
                "alpha": alpha,
                "entropy": per_task_mean(-log_prob, task_id, num_tasks),
            },
            batch_size=[num_tasks],
        )
        clear_weakrefs(
            self, tensordict, out, "actor_network_params", "qvalue_network_params", "target_qvalue_network_params"
        )
        return out

    @property
    def out_keys(self) -> list[str]:
        return ["loss_actor", "loss_qvalue", "loss_alpha", "alpha", "entropy"]

    @out_keys.setter
    def out_keys(self, values) -> None:  # noqa: D401 - TorchRL API
        self._out_keys = values
