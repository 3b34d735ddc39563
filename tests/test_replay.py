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


def _sac_batch(num_envs: int, frames: int, gen: torch.Generator, extra: bool = True) -> TensorDict:
    def f(*shape, dtype=torch.float32):
        return torch.randn(num_envs, frames, *shape, generator=gen).to(dtype)

    task_id = torch.arange(num_envs)[:, None].expand(num_envs, frames)
    data = {
        "observation": f(5), "action": f(2), "task_id": task_id,
        "next": {"observation": f(5), "task_id": task_id, "reward": f(1),
                 "done": f(1) > 1, "terminated": f(1) > 1.5, "truncated": f(1) > 1},
    }
    if extra:  # what a collector adds and the buffer does not store
        data["collector"] = {"traj_ids": torch.zeros(num_envs, frames, dtype=torch.long)}
    return TensorDict(data, [num_envs, frames])


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
@pytest.mark.parametrize("frames", [1, 3])
def test_direct_path_equals_torchrl_extend_and_sample(frames, device, monkeypatch):
    """Direct leaf writes and gathers: the same storage, length, cursor, count, return values and samples as
    TorchRL's extend/sample, across a wrap-around of the capacity (storage and batches on ``device``)."""
    from torchrl.data import ReplayBuffer

    torchrl_calls = []  # which buffer went through TorchRL's own extend/sample
    for name in ("extend", "sample"):
        original = getattr(ReplayBuffer, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            torchrl_calls.append((_name, self))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(ReplayBuffer, name, spy)
    gen = torch.Generator().manual_seed(0)
    batches = [_sac_batch(4, frames, gen, extra=i % 2 == 0).to(device) for i in range(9)]
    direct = TaskBalancedReplayBuffer(4, capacity_per_env=7, batch_size=12, device=device)
    stock = TaskBalancedReplayBuffer(4, capacity_per_env=7, batch_size=12, device=device, direct=False)
    for i, batch in enumerate(batches):
        assert torch.equal(direct.extend(batch), stock.extend(batch))
        if i:  # from the second write on (the first one initialises the storage) the direct path wrote
            assert [(n, b) for n, b in torchrl_calls if b is direct] == []
        torchrl_calls.clear()
        assert len(direct) == len(stock) and direct.storage.shape == stock.storage.shape
        assert direct._writer._cursor == stock._writer._cursor
        assert direct._writer._write_count == stock._writer._write_count
        filled = stock.storage.shape[0]  # rows past it are uninitialised memory
        assert (direct.storage._storage[:filled] == stock.storage._storage[:filled]).all()
        torch.manual_seed(i)
        a = direct.sample()
        torch.manual_seed(i)
        b = stock.sample()
        assert a.shape == b.shape == (4, 3) and a.device == b.device
        assert set(a.keys(True, True)) == set(b.keys(True, True))
        assert (a == b).all()
        assert torch.equal(a["task_id"].cpu(), torch.arange(4)[:, None].expand(4, 3))
        assert [n for n, b in torchrl_calls if b is direct] == []  # sampled directly
        assert ("sample", stock) in torchrl_calls
        torchrl_calls.clear()
    assert direct.sample(8).shape == (4, 2)


def test_direct_path_falls_back_to_torchrl():
    """Data the direct path cannot write (a stored key missing, another dtype) and buffers it does not cover
    (a transform) go through TorchRL's own extend/sample, with TorchRL's result."""
    gen = torch.Generator().manual_seed(1)
    first, missing, other_dtype = (_sac_batch(2, 1, gen) for _ in range(3))
    missing = missing.exclude(("next", "reward"))
    other_dtype["action"] = other_dtype["action"].double()
    buffers = [TaskBalancedReplayBuffer(2, capacity_per_env=5, batch_size=4, direct=d) for d in (True, False)]
    for rb in buffers:
        rb.extend(first)
        rb.extend(missing)  # TorchRL writes the entries present
        with pytest.raises(RuntimeError, match="dtype"):  # TorchRL's own error, from both
            rb.extend(other_dtype)
    direct, stock = buffers
    # TorchRL moves its cursor before the failed write: both buffers did, as the direct one fell back
    assert len(direct) == len(stock) == 6 and direct._writer._cursor == stock._writer._cursor == 3
    written = direct.storage._storage[:2].exclude(("next", "reward"))  # row 1's reward: not written
    assert (written == stock.storage._storage[:2].exclude(("next", "reward"))).all()
    assert torch.equal(direct.storage._storage["next", "reward"][0], first["next", "reward"][:, 0])
    direct.append_transform(lambda td: td.set("seen", torch.ones(td.shape)))
    assert direct._direct_leaves() is None and (direct.sample()["seen"] == 1).all()
