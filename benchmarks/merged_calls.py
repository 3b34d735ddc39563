"""Issue #16 item 2, "beyond": one network call for inputs that share parameters, or two?

    python benchmarks/merged_calls.py --rounds 20
    python benchmarks/merged_calls.py --device cuda          # benchmarks/gpu_check.sh runs this

The PaCo actor (K=5, 3x400, the MT10 task-major batch [10, 128]) at the observations (with gradient)
and at the next observations (without) as two calls, as `MultiTaskSACLoss` does, against one call on
the concatenated [10, 256] batch whose second half is detached. Both give the same outputs and
gradients (the script prints the largest difference); the merged call composes `θ = W Φ` once instead
of twice, but its backward runs over twice the rows. Rounds alternate; figures are medians.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from paco_torchrl.nn import CompositionalMLP, assume_task_major
from paco_torchrl.training.system import tune_malloc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_malloc()
    torch.manual_seed(0)
    tasks, per_task = 10, 128
    device = torch.device(args.device)
    actor = assume_task_major(CompositionalMLP(39, 8, (400, 400, 400), tasks, 5, identical_init=False)).to(device)
    obs, next_obs = torch.randn(tasks, per_task, 39, device=device), torch.randn(tasks, per_task, 39, device=device)
    task_id = torch.arange(tasks, device=device)[:, None].expand(tasks, per_task)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    params = list(actor.parameters())

    def separate():
        with torch.no_grad():
            next_out = actor(next_obs, task_id)
        out = actor(obs, task_id)
        return out, next_out, torch.autograd.grad(out.square().sum(), params)

    def merged():
        both = actor(torch.cat([obs, next_obs], 1), torch.cat([task_id, task_id], 1))
        out, next_out = both[:, :per_task], both[:, per_task:].detach()
        return out, next_out, torch.autograd.grad(out.square().sum(), params)

    a, b = separate(), merged()
    diff = max((x - y).abs().max().item() for x, y in zip([a[0], a[1], *a[2]], [b[0], b[1], *b[2]]))
    for _ in range(3):  # warm-up (allocator, kernels)
        separate(), merged()
    print(f"{device}, threads {args.threads}, torch {torch.__version__}; max |difference| (outputs, gradients): {diff:.3g}")
    times: dict[str, list[float]] = {"separate": [], "merged": []}
    for _ in range(args.rounds):
        for name, fn in (("separate", separate), ("merged", merged)):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["separate"])
    for name, ts in times.items():
        print(f"{name:9s} {statistics.median(ts) * 1e3:7.1f} ms  ({statistics.median(ts) / base:.2f}x separate)")


if __name__ == "__main__":
    main()
