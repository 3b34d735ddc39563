"""Per-task balanced replay: every batch holds the same number of transitions of every task."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import LazyMemmapStorage, LazyTensorStorage, ReplayBuffer
from torchrl.data.replay_buffers.samplers import Sampler
from torchrl.data.replay_buffers.storages import Storage

from paco_torchrl.objectives.torchrl_private import (
    plain_tensor_buffer, record_write, set_writer_state, storage_data, writer_state,
)

#: Keys a SAC update needs; the rest of a collector batch is not stored.
SAC_KEYS = (
    "observation",
    "action",
    "task_id",
    ("next", "observation"),
    ("next", "task_id"),
    ("next", "reward"),
    ("next", "done"),
    ("next", "terminated"),
)


class TaskBalancedSampler(Sampler):
    """Samples ``batch_size / T`` transitions per task from a 2-D ``[time, env]`` storage.

    Fill the buffer with ``[env, time]`` batches (TorchRL's ``dim_extend=1``, the
    default for a 2-D storage), as collectors return them.

    Env ``e`` of the storage runs task ``e // envs_per_task`` (the task-major env
    layout of :mod:`paco_torchrl.envs`). Indices come out task-major, so the batch
    reshapes to ``[T, n]``. Static shapes, no host sync.

    Args:
        num_tasks: ``T``.
        envs_per_task: envs that run each task.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from torchrl.data import LazyTensorStorage, ReplayBuffer
        >>> rb = ReplayBuffer(storage=LazyTensorStorage(100, ndim=2), sampler=TaskBalancedSampler(2, 2))
        >>> _ = rb.extend(TensorDict({"task_id": torch.tensor([0, 0, 1, 1])[:, None].expand(4, 10)}, [4, 10]))
        >>> rb.sample(6)["task_id"].tolist()
        [0, 0, 0, 1, 1, 1]
    """

    def __init__(self, num_tasks: int, envs_per_task: int = 1) -> None:
        super().__init__()
        if num_tasks < 1 or envs_per_task < 1:
            raise ValueError("num_tasks and envs_per_task must be >= 1")
        self.num_tasks = num_tasks
        self.envs_per_task = envs_per_task

    def sample(self, storage: Storage, batch_size: int) -> tuple[tuple[torch.Tensor, torch.Tensor], dict]:
        if batch_size % self.num_tasks:
            raise ValueError(f"batch_size={batch_size} is not divisible by the number of tasks {self.num_tasks}")
        if len(storage) == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        filled, num_envs = storage.shape[0], storage.shape[1]
        if num_envs != self.num_tasks * self.envs_per_task:
            raise ValueError(
                f"storage has {num_envs} envs, expected num_tasks*envs_per_task={self.num_tasks * self.envs_per_task}"
            )
        n = batch_size // self.num_tasks
        device = getattr(storage, "device", None)
        generator = getattr(storage, "_rng", None)
        time_idx = torch.randint(filled, (self.num_tasks, n), generator=generator, device=device)
        env_idx = torch.randint(self.envs_per_task, (self.num_tasks, n), generator=generator, device=device)
        env_idx = env_idx + self.envs_per_task * torch.arange(self.num_tasks, device=device).unsqueeze(-1)
        return (time_idx.reshape(-1), env_idx.reshape(-1)), {}

    def _empty(self) -> None:
        pass

    def dumps(self, path) -> None:
        pass

    def loads(self, path) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        return None


class TaskBalancedReplayBuffer(ReplayBuffer):
    """A replay buffer over a ``[time, env]`` storage whose samples are task-major ``[T, n]``.

    ``extend`` takes collector batches ``[num_envs, frames]`` (env-major, as TorchRL
    collectors return them) and stores only ``keys``. ``sample()`` returns a
    TensorDict of shape ``[T, batch_size / T]`` — the layout that
    :class:`~paco_torchrl.nn.CompositionalMLP` applies with one batched matmul.

    Args:
        num_tasks: ``T``.
        envs_per_task: envs per task (env ``e`` runs task ``e // envs_per_task``).
        capacity_per_env: transitions kept per env (``1e6`` originally).
        batch_size: transitions per sample (``1280`` originally: 128 per MT10 task).
        device: storage device (``"cuda"`` keeps replay and sampling on the GPU).
        memmap_dir: if given, a memory-mapped storage in that folder instead of RAM.
        keys: the entries to store.
        prefetch: batches sampled ahead in a background thread (TorchRL's ``prefetch``);
            ``0`` samples on demand (the only setting whose sampling order, and so a
            resumed run, is reproducible).
        direct: write and gather the stored tensors directly when the buffer is plain (RAM
            storage, no transforms, no prefetch): the same contents, cursor, length and
            samples as TorchRL's ``extend``/``sample``, which ``direct=False`` runs instead.
            One MT10 vector step is stored in 0.34 ms instead of 1.0 ms and a ``[10, 128]``
            batch sampled in 1.6 ms instead of 3.8 ms (2-core CPU, ``benchmarks/README.md``).

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> rb = TaskBalancedReplayBuffer(2, capacity_per_env=50, batch_size=4, keys=("task_id",))
        >>> _ = rb.extend(TensorDict({"task_id": torch.tensor([0, 1])[:, None].expand(2, 10)}, [2, 10]))
        >>> rb.sample().shape, len(rb)
        (torch.Size([2, 2]), 20)
    """

    def __init__(
        self,
        num_tasks: int,
        envs_per_task: int = 1,
        *,
        capacity_per_env: int = 1_000_000,
        batch_size: int = 1280,
        device: torch.device | str = "cpu",
        memmap_dir: str | None = None,
        keys: tuple = SAC_KEYS,
        prefetch: int = 0,
        direct: bool = True,
    ) -> None:
        if batch_size % num_tasks:
            raise ValueError(f"batch_size={batch_size} is not divisible by the number of tasks {num_tasks}")
        num_envs = num_tasks * envs_per_task
        if memmap_dir is not None:
            storage = LazyMemmapStorage(capacity_per_env * num_envs, scratch_dir=memmap_dir, device=device, ndim=2)
        else:
            storage = LazyTensorStorage(capacity_per_env * num_envs, device=device, ndim=2)
        super().__init__(
            storage=storage,
            sampler=TaskBalancedSampler(num_tasks, envs_per_task),
            batch_size=batch_size,
            prefetch=prefetch or None,
        )
        self.num_tasks = num_tasks
        self.keys = keys
        self.direct = direct
        self._leaves: list[tuple[tuple[str, ...], torch.Tensor]] | None = None  # (key, storage tensor)

    def _direct_leaves(self) -> list[tuple[tuple[str, ...], torch.Tensor]] | None:
        """``(key, [capacity, num_envs, ...] tensor)`` of every stored entry when the direct path applies."""
        if not self.direct or type(self.sampler) is not TaskBalancedSampler or not plain_tensor_buffer(self):
            return None
        stored = storage_data(self.storage)
        if self._leaves is None or self._leaves[0][1] is not stored.get(self._leaves[0][0]):  # new storage
            keys = stored.keys(include_nested=True, leaves_only=True)
            self._leaves = [((key,) if isinstance(key, str) else key, stored.get(key)) for key in keys]
        return self._leaves

    def extend(self, data: TensorDictBase) -> torch.Tensor:
        """Stores a ``[num_envs, frames]`` collector batch (or a ``[num_envs]`` single step)."""
        if data.ndim == 1:
            data = data.unsqueeze(-1)
        leaves = self._direct_leaves() if type(data) is TensorDict else None
        if leaves is not None:
            written = self._write_leaves(data, leaves)
            if written is not None:
                return written
        data = data.select(*self.keys, strict=False) if self.keys else data
        return super().extend(data)

    def _write_leaves(self, data: TensorDict, leaves: list) -> torch.Tensor | None:
        """Writes ``data [num_envs, frames]`` at the writer's cursor and returns the ``(time, env)`` indices
        written; ``None`` (nothing written) if a stored entry is missing from ``data`` or differs in dtype,
        device or shape."""
        num_envs, steps = data.shape[0], data.shape[1]  # every entry of data has these leading dims
        capacity, stored_envs = leaves[0][1].shape[:2]
        if num_envs != stored_envs or steps > capacity:
            return None
        sources = [data.get(key, None) for key, _ in leaves]
        for source, (_, dest) in zip(sources, leaves):
            if source is None or source.dtype != dest.dtype or source.device != dest.device \
                    or source.shape[2:] != dest.shape[2:]:
                return None
        cursor, _ = writer_state(self)
        index = torch.arange(cursor, cursor + steps, device=leaves[0][1].device) % capacity
        for (_, dest), source in zip(leaves, sources):
            dest.index_copy_(0, index, source.transpose(0, 1))
        record_write(self, index, steps)
        envs = torch.arange(num_envs, device=index.device)  # TorchRL's return value: every (time, env) written
        return torch.stack([index.repeat_interleave(num_envs), envs.repeat(steps)], 1)

    def sample(self, batch_size: int | None = None, *args, **kwargs) -> TensorDictBase:
        """A task-major batch ``[T, batch_size / T]``."""
        leaves = self._direct_leaves() if not args and not kwargs else None
        if leaves is None:
            return super().sample(batch_size, *args, **kwargs).reshape(self.num_tasks, -1)
        if batch_size is None:
            batch_size = self.batch_size
            if batch_size is None:
                raise RuntimeError("batch_size not specified: set it when building the buffer or pass it to sample()")
        (time_idx, env_idx), _ = self.sampler.sample(self.storage, batch_size)
        flat = time_idx * leaves[0][1].shape[1] + env_idx
        out = TensorDict(
            {key: dest.flatten(0, 1).index_select(0, flat) for key, dest in leaves},
            batch_size=[batch_size], device=self.storage.device,
        )
        return out.reshape(self.num_tasks, -1)

    def dump_state(self, path: str | Path) -> None:
        """Writes the filled part of the storage (memory-mapped tensors) and the write cursor to ``path``.

        Only tensors and JSON are written (nothing pickled); :meth:`load_state` reads them back
        into a buffer built with the same arguments. Files are fsynced, so that a rename of
        ``path`` after this call publishes a complete copy.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        filled = self.storage.shape[0] if len(self.storage) else 0
        if filled:
            storage_data(self.storage)[:filled].memmap(path / "data", num_threads=0)
        cursor, write_count = writer_state(self)
        meta = {"filled": filled, "cursor": cursor, "write_count": write_count}
        (path / "replay.json").write_text(json.dumps(meta))
        _fsync_tree(path)

    def load_state(self, path: str | Path) -> None:
        """Restores what :meth:`dump_state` wrote into this (empty) buffer."""
        path = Path(path)
        meta = json.loads((path / "replay.json").read_text())
        if len(self.storage):
            raise RuntimeError("load_state needs an empty replay buffer")
        if meta["filled"]:
            data = TensorDict.load_memmap(path / "data")
            capacity = self.storage.max_size // data.shape[1]
            if data.shape[0] > capacity:
                raise ValueError(f"saved replay holds {data.shape[0]} steps per env, capacity is {capacity}")
            super().extend(data.transpose(0, 1).to(self.storage.device).clone())
        set_writer_state(self, meta["cursor"], meta["write_count"])


def _fsync_tree(path: Path) -> None:
    import os

    for item in sorted(path.rglob("*")):
        fd = os.open(item, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
