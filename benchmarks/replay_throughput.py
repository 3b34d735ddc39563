"""Replay write and sample cost: ``TaskBalancedReplayBuffer``'s direct path vs TorchRL's ``extend``/``sample``.

One collector step of SAC keys (``[num_envs, 1]``, what the recipe stores per vector step) written into a
half-full buffer, and one balanced batch sampled; both buffers hold the same data and draw the same indices.
Rounds alternate between the two paths.

    python benchmarks/replay_throughput.py --rounds 5
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from tensordict import TensorDict

from paco_torchrl.data import TaskBalancedReplayBuffer

OBS_DIM, ACTION_DIM = 39, 4  # Meta-World


def collector_step(num_envs: int) -> TensorDict:
    task_id = torch.arange(num_envs)[:, None]
    flag = torch.zeros(num_envs, 1, 1, dtype=torch.bool)
    return TensorDict({
        "observation": torch.randn(num_envs, 1, OBS_DIM), "action": torch.rand(num_envs, 1, ACTION_DIM) * 2 - 1,
        "task_id": task_id, "collector": {"traj_ids": task_id.clone()},
        "next": {"observation": torch.randn(num_envs, 1, OBS_DIM), "task_id": task_id, "reward": torch.randn(num_envs, 1, 1),
                 "done": flag, "terminated": flag, "truncated": flag.clone()},
    }, [num_envs, 1])


def per_call_ms(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {args.threads}, {args.rounds} rounds x {args.calls} calls; median ms per call")
    for num_envs, batch in ((1, 256), (10, 1280)):
        step = collector_step(num_envs)
        buffers = {d: TaskBalancedReplayBuffer(num_envs, capacity_per_env=100_000, batch_size=batch, direct=d)
                   for d in (False, True)}
        for rb in buffers.values():
            for _ in range(50_000 // 100):
                rb.extend(collector_step(num_envs).expand(num_envs, 100).clone())
        times: dict[tuple[str, bool], list[float]] = {}
        for _ in range(args.rounds):
            for direct, rb in buffers.items():
                times.setdefault(("extend", direct), []).append(per_call_ms(lambda: rb.extend(step), args.calls))
                times.setdefault(("sample", direct), []).append(per_call_ms(rb.sample, args.calls))
        print(f"-- {num_envs} env(s), batch {batch} ([{num_envs}, {batch // num_envs}])")
        for op in ("extend", "sample"):
            stock, direct = (statistics.median(times[(op, d)]) for d in (False, True))
            print(f"{op:7s} TorchRL {stock:6.3f} ms   direct {direct:6.3f} ms   ratio {direct / stock:5.2f}")


if __name__ == "__main__":
    main()
