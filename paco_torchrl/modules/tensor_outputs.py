"""TensorDict modules that write their tensor outputs without tensordict's generic conversion."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModule
from tensordict.utils import NestedKey
from torchrl.modules import ValueOperator


class TensorOutputs:
    """Mixin for a ``TensorDictModule`` subclass: tensor outputs are set as they are.

    ``TensorDictModule`` passes every output through ``TensorDict.from_any``, which returns a tensor
    unchanged, but only after ``importlib.util.find_spec("pandas")`` looked for pandas on disk: one
    file-system search per output and call (tensordict 0.14.3). A SAC update makes seven such
    writes, ≈ 5 % of a ``T = 1``, 2×256 update on one CPU thread (2026-12-01, measured paired). This
    mixin writes tensors directly, exactly as ``from_any`` would leave them, and hands anything
    else (tuples, dataclasses, ...) to the stock conversion.

    It overrides tensordict's private ``TensorDictModule._write_to_tensordict`` (the one private
    name used outside :mod:`paco_torchrl.objectives.torchrl_private`, which ``modules`` may not
    import); ``tests/test_tensor_outputs.py`` fails, naming it, if a release renames it.
    """

    def _write_to_tensordict(
        self,
        tensordict: TensorDictBase,
        tensors: Sequence[torch.Tensor],
        tensordict_out: TensorDictBase | None = None,
        out_keys: Iterable[NestedKey] | None = None,
    ) -> TensorDictBase:
        keys = list(self.out_keys_source if out_keys is None else out_keys)
        if len(keys) != len(tensors) or not all(isinstance(t, torch.Tensor) for t in tensors):
            return super()._write_to_tensordict(tensordict, tensors, tensordict_out, keys)  # its errors, its rules
        if tensordict_out is None:
            if self.inplace is True:
                tensordict_out = tensordict
            elif self.inplace == "empty":
                tensordict_out = tensordict.empty()
            else:
                tensordict_out = TensorDict()
        for key, tensor in zip(keys, tensors):
            if key != "_":
                tensordict_out.set(key, tensor)
        return tensordict_out


class TensorOutputModule(TensorOutputs, TensorDictModule):
    """A :class:`~tensordict.nn.TensorDictModule` with :class:`TensorOutputs`' direct writes.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> module = TensorOutputModule(torch.nn.Linear(3, 2), in_keys=["x"], out_keys=["y"])
        >>> module(TensorDict({"x": torch.ones(4, 3)}, [4]))["y"].shape
        torch.Size([4, 2])
    """


class TensorOutputValueOperator(TensorOutputs, ValueOperator):
    """A :class:`~torchrl.modules.ValueOperator` with :class:`TensorOutputs`' direct writes.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> critic = TensorOutputValueOperator(torch.nn.Linear(3, 1), in_keys=["observation"])
        >>> critic(TensorDict({"observation": torch.ones(4, 3)}, [4]))["state_value"].shape
        torch.Size([4, 1])
    """
