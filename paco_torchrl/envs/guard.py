"""Non-finite guard: an env step whose observation or reward is NaN/inf ends its episode and never reaches the replay.

MuJoCo simulations can go unstable and return NaN or inf observations (and rewards computed from them).
:class:`NonFiniteGuard` is a TorchRL ``Transform``: on such a step it replaces the non-finite values by
zeros (so that the policy, the logs and the collector never see them), sets ``truncated`` and ``done``
(the collector then resets that env: the episode is cut) and flags the step with ``"nonfinite"``.
:func:`drop_nonfinite` removes the flagged transitions from a collector batch before it is stored.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import TensorDictBase
from tensordict.utils import NestedKey
from torchrl.data import Categorical, Composite
from torchrl.envs import EnvBase, TransformedEnv
from torchrl.envs.transforms import Transform

__all__ = ["NONFINITE_KEY", "NonFiniteGuard", "drop_nonfinite", "nonfinite_flags"]

#: Flag the guard writes at the root (after a reset) and under ``"next"`` (after a step), shape ``[*B, 1]``.
NONFINITE_KEY = "nonfinite"


class NonFiniteGuard(Transform):
    """Cuts the episode of an env whose observation or reward turns NaN/inf, and flags the step.

    After every step, each env whose entries ``in_keys`` (under ``"next"``) hold a
    non-finite value gets those values replaced by ``0``, ``truncated`` and ``done``
    set (a collector resets it before the next step) and ``("next", "nonfinite")``
    set. After a reset, a non-finite observation is replaced the same way and flagged
    at the root ``"nonfinite"``, so the first transition of that episode is flagged
    too. Steps with finite values pass bit for bit unchanged (and the guard draws no
    random numbers), so a run without non-finite values gives the same results with
    or without it.

    Args:
        in_keys: the entries checked (and repaired), observations and rewards alike;
            a key missing from an output is skipped (the reward at a reset).

    Examples:
        >>> import torch
        >>> from torchrl.envs import TransformedEnv
        >>> from paco_torchrl.envs.toy import MultiTaskPointEnv
        >>> env = TransformedEnv(MultiTaskPointEnv(num_tasks=2, seed=0), NonFiniteGuard())
        >>> td = env.reset()
        >>> td["nonfinite"].flatten().tolist()
        [False, False]
        >>> env.base_env._pos[1] = float("nan")   # env 1's simulation blows up
        >>> out = env.step(td.set("action", torch.zeros(2, 2)))["next"]
        >>> out["nonfinite"].flatten().tolist(), out["truncated"].flatten().tolist()
        ([False, True], [False, True])
        >>> bool(out["observation"].isfinite().all())
        True
    """

    def __init__(self, in_keys: Sequence[NestedKey] = ("observation", "reward")) -> None:
        super().__init__(in_keys=list(in_keys), out_keys=list(in_keys))

    def _repair(self, tensordict: TensorDictBase) -> torch.Tensor:
        """Replaces non-finite values of ``in_keys`` by 0 in place; returns the per-env flag ``[*B, 1]``."""
        bad = torch.zeros((*tensordict.batch_size, 1), dtype=torch.bool, device=tensordict.device)
        for key in self.in_keys:
            value = tensordict.get(key, None)
            if value is None or not value.is_floating_point():
                continue
            finite = value.isfinite()
            if value.device.type == "cpu" and bool(finite.all()):  # nothing to repair: skip the copy (a
                continue  # check that would be a host sync on an accelerator, where the copy stays)
            tensordict.set(key, torch.where(finite, value, torch.zeros((), dtype=value.dtype, device=value.device)))
            bad = bad | ~finite.reshape(*tensordict.batch_size, -1).all(-1, keepdim=True)
        return bad

    def _step(self, tensordict: TensorDictBase, next_tensordict: TensorDictBase) -> TensorDictBase:
        bad = self._repair(next_tensordict)
        for key in ("truncated", "done"):
            flag = next_tensordict.get(key, None)
            if flag is not None:
                next_tensordict.set(key, flag | bad.reshape(flag.shape))
        next_tensordict.set(NONFINITE_KEY, bad)
        return next_tensordict

    def _reset(self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase) -> TensorDictBase:
        tensordict_reset.set(NONFINITE_KEY, self._repair(tensordict_reset))
        return tensordict_reset

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        batch = observation_spec.shape
        observation_spec[NONFINITE_KEY] = Categorical(
            2, (*batch, 1), dtype=torch.bool, device=observation_spec.device
        )
        return observation_spec

    @classmethod
    def wrap(cls, env: EnvBase, **kwargs) -> TransformedEnv:
        """``TransformedEnv(env, NonFiniteGuard(**kwargs))``; attributes such as ``task_names`` still reach ``env``."""
        return TransformedEnv(env, cls(**kwargs))


def nonfinite_flags(batch: TensorDictBase) -> torch.Tensor | None:
    """Transitions of a collector batch that the guard flagged (their observation, next observation or reward
    was non-finite): bool of the batch's shape, or ``None`` for a batch without the guard's flags."""
    if NONFINITE_KEY not in batch.keys() or ("next", NONFINITE_KEY) not in batch.keys(True):
        return None
    shape = batch.shape
    return batch.get(NONFINITE_KEY).reshape(shape) | batch.get(("next", NONFINITE_KEY)).reshape(shape)


def drop_nonfinite(batch: TensorDictBase) -> tuple[TensorDictBase, torch.Tensor | None]:
    """A ``[num_envs, steps]`` collector batch without the vector steps that hold a flagged transition.

    The replay's ``[time, env]`` storage keeps every env at the same length, so a vector step
    with a flagged transition is dropped as a whole (the other envs lose that one transition).

    Returns:
        The batch to store and the flags of :func:`nonfinite_flags` (``None`` when no
        transition was flagged: the batch is returned as it is).

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> flag = torch.tensor([[False, True, False], [False, False, False]])[..., None]
        >>> batch = TensorDict({"x": torch.arange(6).reshape(2, 3), "nonfinite": torch.zeros_like(flag),
        ...                     "next": {"nonfinite": flag}}, [2, 3])
        >>> kept, flags = drop_nonfinite(batch)
        >>> kept["x"].tolist(), int(flags.sum())
        ([[0, 2], [3, 5]], 1)
    """
    flags = nonfinite_flags(batch)
    if flags is None or not bool(flags.any()):
        return batch, None
    steps = batch.unsqueeze(-1) if batch.ndim == 1 else batch  # a single vector step
    return steps[:, ~flags.reshape(steps.shape).any(0)], flags
