"""Eager vs ``compile=True`` PaCo update, side by side in one process (same networks, same batches).

    python benchmarks/compile_update.py                               # MT10 shapes: K=5, 3x400, batch 1280
    python benchmarks/compile_update.py --cells 64 64 --tasks 4 --k 2 --batch 256   # the toy test's shapes

Two updates are built from the same seed; rounds alternate between them so that machine noise
hits both alike; the figure is the median over rounds of the mean time per update (fresh batch
copies each call, as the replay buffer gives). Compilation time (first two calls) is reported apart.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings

import torch

from update_step import make_batch, make_update  # benchmarks/update_step.py

from paco_torchrl.objectives import PaCoUpdateStep
from paco_torchrl.training.system import tune_malloc

warnings.filterwarnings("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1280)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--cells", type=int, nargs="+", default=[400, 400, 400])
    parser.add_argument("--steps", type=int, default=10, help="updates per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mode", default=None, help="torch.compile mode")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_malloc()
    batch = make_batch(args.tasks, args.batch // args.tasks)
    torch.manual_seed(0)
    eager = make_update("paco", args.tasks, args.k, args.cells, "dqda")
    torch.manual_seed(0)
    base = make_update("paco", args.tasks, args.k, args.cells, "dqda")
    compiled = PaCoUpdateStep(
        base.loss_module, base.optimizer, base.target_updater, w_reset=base.w_reset, compile=True,
        compile_mode=args.mode,
    )
    start = time.perf_counter()
    for _ in range(2):  # the second call recompiles once (tensordict's class memo grows after the first)
        compiled(batch.clone())
    compile_s = time.perf_counter() - start
    for _ in range(3):
        eager(batch.clone())
        compiled(batch.clone())
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(args.rounds):
        for name, update in (("eager", eager), ("compiled", compiled)):
            copies = [batch.clone() for _ in range(args.steps)]
            t = time.perf_counter()
            for b in copies:
                update(b)
            times[name].append((time.perf_counter() - t) / args.steps)
    e, c = statistics.median(times["eager"]), statistics.median(times["compiled"])
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {args.threads}; "
        f"T={args.tasks} K={args.k} cells={args.cells} batch={args.batch}; mode={args.mode}; "
        f"{args.rounds} rounds x {args.steps} updates; compile (first 2 calls) {compile_s:.1f} s"
    )
    for name in times:
        print(f"{name:9s} {statistics.median(times[name]) * 1e3:8.1f} ms  "
              f"(rounds: {', '.join(f'{t * 1e3:.1f}' for t in times[name])})")
    print(f"speed-up eager / compiled = {e / c:.3f}")


if __name__ == "__main__":
    main()
