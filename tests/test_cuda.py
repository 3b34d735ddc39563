"""CUDA: networks, the Algorithm-1 update (eager, compiled, CUDA graphs), replay and a short run on the GPU.

Skipped without CUDA; ``benchmarks/gpu_check.sh`` runs them on a GPU machine.
"""
from __future__ import annotations

import json

import pytest
import torch
from tensordict import TensorDict

from paco_torchrl.data import TaskBalancedReplayBuffer
from paco_torchrl.nn import CompositionalMLP
from paco_torchrl.training import load_config, train
from update_case import K, N, OBS, T, assert_same_updates, make_update, update_batch

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]
CUDA = torch.device("cuda")


def _batch(seed: int, blow_up_task: int | None = None) -> TensorDict:
    return update_batch(seed, blow_up_task, CUDA)


def _update(**speed):
    return make_update(CUDA, **speed)


BATCHES = [(0, None), (1, 1), (2, None), (3, None), (4, 2), (5, None), (6, None)]


def test_compositional_mlp_on_cuda_matches_the_cpu():
    torch.manual_seed(0)
    mlp = CompositionalMLP(OBS, 3, (32, 32), num_tasks=T, num_param_sets=K, identical_init=False)
    gpu = CompositionalMLP(OBS, 3, (32, 32), num_tasks=T, num_param_sets=K, identical_init=False).to(CUDA)
    gpu.load_state_dict(mlp.state_dict())
    x = torch.randn(T, N, OBS)
    tid = torch.arange(T)[:, None].expand(T, N)
    flat_tid = torch.randint(T, (40,))
    flat_x = torch.randn(40, OBS)
    for xs, ts in ((x, tid), (flat_x, flat_tid), (flat_x[:T], flat_tid[:T])):
        out, out_gpu = mlp(xs, ts), gpu(xs.to(CUDA), ts.to(CUDA))
        torch.testing.assert_close(out_gpu.cpu(), out, rtol=1e-4, atol=1e-5)
        grads = torch.autograd.grad(out.square().sum(), list(mlp.parameters()))
        grads_gpu = torch.autograd.grad(out_gpu.square().sum(), list(gpu.parameters()))
        for g, g_gpu in zip(grads, grads_gpu):
            torch.testing.assert_close(g_gpu.cpu(), g, rtol=1e-4, atol=1e-4)


def test_cudagraph_update_matches_the_eager_update():
    # the w-reset draws from the default generator in both (a graph cannot use another), seeded per update
    eager, eager_loss = _update(own_generator=False)
    graphed, graphed_loss = _update(cudagraphs=True, cudagraph_warmup=2, own_generator=False)  # 3.. replay
    assert_same_updates(graphed, graphed_loss, eager, eager_loss, BATCHES, CUDA)
    assert eager.w_reset.reset_counts.tolist() == [0, 1, 1]


def test_compiled_update_on_cuda_matches_the_eager_update(monkeypatch):
    monkeypatch.setattr(torch._inductor.config, "fallback_random", True)  # eager's random stream
    eager, eager_loss = _update()
    compiled, compiled_loss = _update(compile=True)
    assert_same_updates(compiled, compiled_loss, eager, eager_loss, BATCHES, CUDA)
    assert eager.w_reset.reset_counts.tolist() == [0, 1, 1]


def test_the_eager_update_does_not_synchronise_with_the_host():
    update, _ = _update()
    batch = _batch(0)
    update(batch.clone())  # first call: lazy optimizer state, cuBLAS handles
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        update(batch.clone())
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_replay_on_cuda_extends_and_samples_task_major_on_the_gpu():
    replay = TaskBalancedReplayBuffer(
        T, 2, capacity_per_env=50, batch_size=4 * T, device=CUDA, keys=("task_id", "observation")
    )
    step = TensorDict(
        {"observation": torch.randn(T * 2, 5, OBS), "task_id": torch.arange(T).repeat_interleave(2)[:, None]
         .expand(T * 2, 5)},
        [T * 2, 5],
    )
    replay.extend(step)
    sample = replay.sample()
    assert sample.batch_size == torch.Size([T, 4]) and sample["observation"].device.type == "cuda"
    assert torch.equal(sample["task_id"].cpu(), torch.arange(T)[:, None].expand(T, 4))


@pytest.mark.parametrize("extra", [[], ["cudagraphs=true"]], ids=["eager", "cudagraphs"])
def test_a_toy_run_trains_on_cuda(tmp_path, extra):
    cfg = load_config(None, [
        "env.benchmark=toy", "env.num_toy_tasks=2", "env.max_episode_steps=15", "optim.batch_size=32",
        "network.num_cells=[16]", "paco.num_param_sets=2", "collector.init_random_frames=60",
        "collector.total_frames=600", "eval.interval_frames=300", "eval.episodes_per_task=2", "progress=false",
        "device=cuda", f"output_dir={tmp_path}", *extra,
    ])
    train(cfg)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["frames"] == 600
    assert 0.0 <= results["mean_success"] <= 1.0
