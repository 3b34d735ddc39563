"""Per-task losses from any TorchRL loss run with ``reduction="none"``."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.utils import NestedKey
from torch import nn
from torchrl.objectives import LossModule

from paco_torchrl.nn import TaskWeights
from paco_torchrl.objectives.per_task import per_task_mean
from paco_torchrl.objectives.shared_w import SharedTaskWeights
from paco_torchrl.objectives.torchrl_private import is_non_tensor_class, networks_with_params


def _leaf(cls: type) -> bool:
    return is_non_tensor_class(cls) or not issubclass(cls, TensorDictBase)


class PerTaskLoss(LossModule):
    """Turns a TorchRL loss computed per sample into one loss per task.

    The wrapped loss must be built with ``reduction="none"``. Every entry of its
    output whose trailing dims are the batch's (``[*lead, *batch]``, e.g. an
    ensemble's ``[N, *batch]``; ``[*batch, 1]`` is squeezed) becomes each task's
    mean over its samples (and over ``lead``): a TensorDict of batch ``[T]`` with the
    wrapped loss's keys, ready for :func:`~paco_torchrl.objectives.loss_maskout`,
    :func:`~paco_torchrl.objectives.masked_total_loss` and
    :class:`~paco_torchrl.objectives.PaCoUpdateStep`. On a balanced batch the mean
    over tasks equals the wrapped loss's ``reduction="mean"`` value. Scalar entries
    that are not losses (e.g. ``alpha``, also as non-tensor data) are repeated for
    every task; other entries are dropped; a ``loss_*`` entry that is not per-sample
    raises.

    Compositional vectors ``W``: TorchRL losses train functional copies of their
    networks' parameters. A ``W`` shared by several critics (or by actor and
    critics) appears in the critics' params as an expanded view of one Parameter;
    if no network of the loss holds that Parameter itself it is registered here
    (``shared_task_weights``) so optimizers see it. Target copies of ``W`` are
    separate tensors; with ``sync_target_task_weights=True`` (default, as
    :class:`~paco_torchrl.objectives.MultiTaskSACLoss` and the original code) they
    are overwritten by the live ``W`` at every call, so target networks use the
    live ``w_τ`` and soft updates only average ``Φ``.

    Target networks stay on the wrapped loss: use
    ``SoftUpdate(per_task_loss.loss_module, tau=...)``.

    Args:
        loss_module: a TorchRL :class:`~torchrl.objectives.LossModule` built with
            ``reduction="none"`` whose networks read the task id.
        num_tasks: ``T``.

    Keyword Args:
        task_key: input key of the int64 task id ``[*batch]`` (``"task_id"``).
        sync_target_task_weights: copy the live ``W`` into target copies at every call.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from torchrl.objectives import REDQLoss
        >>> from paco_torchrl.modules import make_paco_actor_critic
        >>> actor, qvalues = make_paco_actor_critic(6, 2, num_tasks=3, num_param_sets=2, num_cells=(16,),
        ...                                         num_qvalue_nets=4)
        >>> redq = REDQLoss(actor, qvalues, num_qvalue_nets=4, reduction="none", scalar_output_mode="exclude")
        >>> loss = PerTaskLoss(redq, num_tasks=3)
        >>> T, n = 3, 4
        >>> tid = torch.arange(T)[:, None].expand(T, n)
        >>> batch = TensorDict({
        ...     "observation": torch.randn(T, n, 6), "action": torch.rand(T, n, 2) * 2 - 1, "task_id": tid,
        ...     "next": {"observation": torch.randn(T, n, 6), "task_id": tid, "reward": torch.randn(T, n, 1),
        ...              "done": torch.zeros(T, n, 1, dtype=torch.bool),
        ...              "terminated": torch.zeros(T, n, 1, dtype=torch.bool)}}, [T, n])
        >>> out = loss(batch)
        >>> out.batch_size, out["loss_qvalue"].shape
        (torch.Size([3]), torch.Size([3]))
    """

    @dataclass
    class _AcceptedKeys:
        """Keys read by :class:`PerTaskLoss`.

        Attributes:
            task_id: int64 task id ``[*batch]``. Defaults to ``"task_id"``.
        """

        task_id: NestedKey = "task_id"

    default_keys = _AcceptedKeys
    tensor_keys: _AcceptedKeys

    def __init__(
        self,
        loss_module: LossModule,
        num_tasks: int,
        *,
        task_key: NestedKey = "task_id",
        sync_target_task_weights: bool = True,
    ) -> None:
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        reduction = getattr(loss_module, "reduction", "none")
        if reduction != "none":
            raise ValueError(f"the wrapped loss must use reduction='none', got {reduction!r}")
        super().__init__()
        self.loss_module = loss_module
        self.num_tasks = num_tasks
        self.set_keys(task_id=task_key)
        # Every W entry of the wrapped loss's functional params (views of a shared W where shared).
        self._shared_w = SharedTaskWeights(
            loss_module, networks_with_params(loss_module), sync_targets=sync_target_task_weights
        )
        self.shared_task_weights = nn.ParameterList(self._shared_w.unregistered_sources())
        self.sync_target_task_weights_()

    @property
    def sync_target_task_weights(self) -> bool:
        """Whether the live ``W`` is copied into the target copies at every call."""
        return self._shared_w.sync_targets

    @sync_target_task_weights.setter
    def sync_target_task_weights(self, value: bool) -> None:
        self._shared_w.sync_targets = value

    def _forward_value_estimator_keys(self, **kwargs) -> None:
        pass

    def task_weight_tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor holding a copy of ``W`` that the wrapped loss trains or reads.

        Keys: ``"<network>.<path>"`` for the trained copies (``actor``, ``qvalue``, ...:
        the wrapped loss's ``<network>_network_params`` entries, expanded views of a
        shared Parameter where shared), ``"target_<network>.<path>"`` for target
        copies, and ``"<path>"`` for ``W`` inside networks the wrapped loss keeps as
        plain submodules (a custom loss that does not use ``convert_to_functional``).
        Pass the values to :class:`~paco_torchrl.objectives.WReset` so a reset reaches
        all of them.
        """
        out: dict[str, torch.Tensor] = {}
        for path, module in self.loss_module.named_modules():  # networks kept as plain submodules
            if isinstance(module, TaskWeights):
                out[f"{path}.weight"] = module.weight
        out.update(self._shared_w.tensors())
        return out

    def refresh_task_weight_views(self) -> None:
        """New views of a ``W`` shared by the critics, with no autograd history from before this call
        (see :meth:`~paco_torchrl.objectives.SharedTaskWeights.refresh`; needed inside a CUDA-graph capture)."""
        self._shared_w.refresh()

    def sync_target_task_weights_(self) -> None:
        """Copies the live ``W`` into every target copy (no-op if not synchronised)."""
        self._shared_w.sync_targets_()

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        # A device/dtype cast replaces expanded views of a shared W by copies: re-tie them.
        self._shared_w.tie()
        return out

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Loads like ``nn.Module``; views of a shared W follow the loaded W."""
        self._shared_w.untie()
        out = super().load_state_dict(state_dict, strict=strict, assign=assign)
        self._shared_w.tie()
        return out

    def make_value_estimator(self, value_type=None, **hyperparams):
        """Forwards to the wrapped loss (e.g. ``make_value_estimator(gamma=0.99)``)."""
        self.loss_module.make_value_estimator(value_type, **hyperparams)
        return self

    @property
    def in_keys(self) -> list[NestedKey]:
        return [*self.loss_module.in_keys, self.tensor_keys.task_id]

    def _reduce(self, key: NestedKey, value, task_id: torch.Tensor) -> torch.Tensor | None:
        batch = task_id.shape
        if isinstance(value, (int, float)) and not isinstance(value, bool):  # a non-tensor scalar
            value = torch.tensor(float(value), device=task_id.device)
        is_loss = (key if isinstance(key, str) else key[-1]).startswith("loss_")
        if isinstance(value, torch.Tensor) and value.shape == (*batch, 1):
            value = value.squeeze(-1)
        lead = value.dim() - len(batch) if isinstance(value, torch.Tensor) else -1
        if lead >= 0 and value.shape[lead:] == batch:
            if lead:  # ensemble / stacked dims: averaged, as reduction="mean" does
                value = value.reshape(-1, *batch).mean(0)
            return per_task_mean(value, task_id, self.num_tasks)
        if is_loss:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{key} is not per-sample ({shape} for a batch {tuple(batch)}): use reduction='none'")
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            return value.reshape(()).expand(self.num_tasks)
        return None

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        """Per-task losses: a TensorDict of batch ``[T]`` (any input batch shape)."""
        task_id = tensordict.get(self.tensor_keys.task_id)
        self.sync_target_task_weights_()
        out = self.loss_module(tensordict)
        result = TensorDict({}, batch_size=[self.num_tasks], device=task_id.device)
        for key in out.keys(include_nested=True, leaves_only=True, is_leaf=_leaf):
            value = out.get_non_tensor(key) if out.is_non_tensor(key) else out.get(key)
            reduced = self._reduce(key, value, task_id)
            if reduced is not None:
                result.set(key, reduced)
        return result
