"""Per-task balanced replay: equal counts per task, task-major [T, n] batches, FIFO capacity per env."""
from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from paco_torchrl.data import TaskBalancedReplayBuffer


def _batch(num_envs: int, frames: int, start: int, envs_per_task: int) -> TensorDict:
    step = torch.arange(start, start + frames).expand(num_envs, frames)
    env = torch.arange(num_envs)[:, None].expand(num_envs, frames)
    return TensorDict({"task_id": env // envs_per_task, "env": env, "step": step}, [num_envs, frames])


@pytest.mark.parametrize("envs_per_task", [1, 3])
def test_balanced_task_major_batches(envs_per_task):
    T = 4
    rb = TaskBalancedReplayBuffer(T, envs_per_task, capacity_per_env=50, batch_size=40, keys=("task_id", "env", "step"))
    for i in range(10):
        rb.extend(_batch(T * envs_per_task, 1, i, envs_per_task))
    assert len(rb) == 10 * T * envs_per_task
    sample = rb.sample()
    assert sample.shape == (T, 10)
    assert torch.equal(sample["task_id"], torch.arange(T)[:, None].expand(T, 10))
    assert torch.equal(sample["env"] // envs_per_task, sample["task_id"])  # rows come from that task's envs
    assert sample["step"].max() < 10


def test_capacity_keeps_the_newest_frames_per_env():
    rb = TaskBalancedReplayBuffer(2, 1, capacity_per_env=5, batch_size=200, keys=("task_id", "step"))
    rb.extend(_batch(2, 12, 0, 1))
    steps = rb.sample()["step"]
    assert steps.min() >= 7 and steps.max() == 11 and len(rb) == 10


def test_batch_size_must_divide():
    with pytest.raises(ValueError, match="divisible"):
        TaskBalancedReplayBuffer(3, batch_size=10)


def test_memmap_storage(tmp_path):
    rb = TaskBalancedReplayBuffer(2, capacity_per_env=8, batch_size=4, memmap_dir=str(tmp_path), keys=("task_id", "step"))
    rb.extend(_batch(2, 3, 0, 1))
    assert rb.sample()["task_id"].tolist() == [[0, 0], [1, 1]]
    assert any(tmp_path.iterdir())


def test_prefetched_batches_are_balanced_too():
    rb = TaskBalancedReplayBuffer(3, 1, capacity_per_env=20, batch_size=12, keys=("task_id", "env", "step"), prefetch=2)
    rb.extend(_batch(3, 10, 0, 1))
    for _ in range(4):
        sample = rb.sample()
        assert sample.shape == (3, 4)
        assert torch.equal(sample["task_id"], torch.arange(3)[:, None].expand(3, 4))


def test_dump_and_load_state_round_trip(tmp_path):
    keys = ("task_id", "env", "step")
    rb = TaskBalancedReplayBuffer(2, 1, capacity_per_env=5, batch_size=4, keys=keys)
    rb.extend(_batch(2, 7, 0, 1))  # wraps around: cursor 2, steps 5, 6 overwrote 0, 1
    rb.dump_state(tmp_path / "replay")
    copy = TaskBalancedReplayBuffer(2, 1, capacity_per_env=5, batch_size=4, keys=keys)
    copy.load_state(tmp_path / "replay")
    assert len(copy) == len(rb) == 10 and copy._writer._cursor == rb._writer._cursor == 2
    assert torch.equal(copy.storage._storage["step"], rb.storage._storage["step"])
    rb.extend(_batch(2, 1, 7, 1))
    copy.extend(_batch(2, 1, 7, 1))  # the next write lands in the same slot
    assert torch.equal(copy.storage._storage["step"], rb.storage._storage["step"])
    torch.manual_seed(0)
    a = rb.sample()
    torch.manual_seed(0)
    assert torch.equal(copy.sample()["step"], a["step"])
    with pytest.raises(RuntimeError, match="empty"):
        copy.load_state(tmp_path / "replay")
