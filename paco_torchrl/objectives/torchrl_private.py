"""The one place that touches private TorchRL / tensordict APIs.

TorchRL's losses train functional copies of their networks' parameters and give no public
way to re-point an entry of those copies at another tensor, to drop their caches, or to
run the vmapped Q ensemble on given parameters. The few private names this package needs are
wrapped here and listed in :data:`PRIVATE_API`; ``tests/test_torchrl_private.py`` checks that
each still exists, so a TorchRL release that renames one fails that test with the name, not
a training run with an ``AttributeError``. One exception lives elsewhere: :mod:`paco_torchrl.modules.tensor_outputs`
overrides tensordict's private ``TensorDictModule._write_to_tensordict`` (``modules`` may not import this
package), and ``tests/test_tensor_outputs.py`` checks that name.
"""
from __future__ import annotations

from tensordict import TensorDictBase
from tensordict.nn import TensorDictParams
from tensordict.utils import NestedKey
from tensordict.utils import _is_non_tensor as is_non_tensor_class  # noqa: F401 - re-exported
from torch import Tensor
from torchrl.data import LazyTensorStorage, ReplayBuffer
from torchrl.data.replay_buffers.writers import RoundRobinWriter
from torchrl.objectives import LossModule, SACLoss
from torchrl.objectives.utils import TargetNetUpdater

# (owner, private name, where it lives: "class" = an attribute of the class, "instance" = set in __init__)
PRIVATE_API: tuple[tuple[str, str, str], ...] = (
    ("tensordict.nn.TensorDictParams", "_set_tuple", "class"),
    ("tensordict.utils", "_is_non_tensor", "module"),
    ("torchrl.objectives.LossModule", "_erase_cache", "class"),
    ("torchrl.objectives.LossModule", "_clear_weakrefs", "class"),
    ("torchrl.objectives.LossModule", "_has_update_associated", "instance"),
    ("torchrl.objectives.SACLoss", "_cached_detached_qvalue_params", "class"),
    ("torchrl.objectives.SACLoss", "_vmap_qnetworkN0", "instance"),
    ("torchrl.objectives.SoftUpdate", "_sources_val", "updater"),
    # replay buffers ("replay": an attribute of a filled ReplayBuffer, its storage or its writer)
    ("torchrl.data.ReplayBuffer", "_writer", "replay"),
    ("torchrl.data.ReplayBuffer", "_prefetch", "replay"),
    ("torchrl.data.ReplayBuffer", "_sample_unit", "replay"),
    ("torchrl.data.ReplayBuffer", "_pin_memory", "replay"),
    ("torchrl.data.LazyTensorStorage", "_storage", "replay"),
    ("torchrl.data.LazyTensorStorage", "_storage_keys", "replay"),
    ("torchrl.data.LazyTensorStorage", "_len", "class"),
    ("torchrl.data.LazyTensorStorage", "_set_last_cursor", "class"),
    ("torchrl.data.LazyTensorStorage", "_bump_mutation_revision", "class"),
    ("torchrl.data.LazyTensorStorage", "_attached_entities_iter", "class"),
    ("torchrl.data.replay_buffers.writers.RoundRobinWriter", "_cursor", "class"),
    ("torchrl.data.replay_buffers.writers.RoundRobinWriter", "_write_count", "replay"),
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


def drop_cached_sources(updater: TargetNetUpdater) -> None:
    """Makes a target updater re-read its source parameters from the loss at its next step (it keeps
    the tensors it read first, history included)."""
    updater.__dict__["_sources_val"] = None


def networks_with_params(loss: LossModule) -> list[str]:
    """Names of the networks the loss holds functional parameters for (``"actor_network"``, ...)."""
    return list(loss._has_update_associated)


def detached_qvalue_params(loss: SACLoss) -> TensorDictBase:
    """The critics' parameters, detached (cached by TorchRL)."""
    return loss._cached_detached_qvalue_params


def vmap_qvalue(loss: SACLoss, td: TensorDictBase, params: TensorDictBase) -> TensorDictBase:
    """The Q ensemble vmapped over stacked ``params``: ``[N, *batch]`` outputs."""
    return loss._vmap_qnetworkN0(td, params)


def storage_data(storage: LazyTensorStorage) -> TensorDictBase:
    """The storage's whole TensorDict (capacity, not only the filled part)."""
    return storage._storage


def writer_state(buffer: ReplayBuffer) -> tuple[int, int]:
    """``(cursor, write_count)`` of a buffer's round-robin writer."""
    return buffer._writer._cursor, buffer._writer._write_count


def set_writer_state(buffer: ReplayBuffer, cursor: int, write_count: int) -> None:
    """Restores what :func:`writer_state` returned."""
    buffer._writer._cursor = cursor
    buffer._writer._write_count = write_count


def plain_tensor_buffer(buffer: ReplayBuffer) -> bool:
    """Whether ``buffer`` stores into a RAM ``LazyTensorStorage`` through a plain round-robin writer and
    samples without transforms, prefetch, pinning, sample units, generation tracking, storage key filters
    or other entities attached to the storage: then, with a sampler whose ``extend`` and ``mark_update``
    do nothing, writing leaves at the writer's cursor and gathering leaves at the sampler's indices is all
    that ``extend`` and ``sample`` do."""
    storage, writer = buffer.storage, buffer._writer
    return (
        type(storage) is LazyTensorStorage
        and storage.initialized
        and type(writer) is RoundRobinWriter
        and not writer.tracks_generations
        and not buffer._prefetch
        and buffer._sample_unit is None
        and not buffer._pin_memory
        and (buffer.transform is None or len(buffer.transform) == 0)
        and storage._storage_keys is None
        and all(entity is buffer for entity in storage._attached_entities_iter())
    )


def record_write(buffer: ReplayBuffer, index: Tensor, steps: int) -> None:
    """Book-keeping of a round-robin ``extend`` of ``steps`` rows at ``index`` whose data was written
    directly into :func:`storage_data`: the writer's cursor and count, the storage's length and cursor."""
    storage, writer = buffer.storage, buffer._writer
    writer._cursor = (writer._cursor + steps) % (storage.max_size // storage_data(storage).shape[1])
    writer._write_count += steps
    storage._set_last_cursor(index)
    storage._len = min(storage._len + steps * storage_data(storage).shape[1], storage.max_size)
    storage._bump_mutation_revision()


__all__ = [
    "PRIVATE_API",
    "NestedKey",
    "clear_weakrefs",
    "detached_qvalue_params",
    "erase_cache",
    "is_non_tensor_class",
    "networks_with_params",
    "plain_tensor_buffer",
    "record_write",
    "set_params_entry",
    "set_writer_state",
    "storage_data",
    "vmap_qvalue",
    "writer_state",
]
