"""Time one update of every published baseline against MT-SAC at the MT10 shapes, side by side in one process.

    python benchmarks/published_update_step.py --threads 1 --rounds 3 --steps 3

Same batch (task-major [10, 128], obs 39, action 4), same `MultiTaskSACLoss` (per-task α, twin
critics, target soft update), same optimizer; each algo's own networks (``network.num_cells`` 3×400
and the defaults of its config section) and update step (PCGrad: per-task gradients and
projection). Rounds alternate between algos; the figure is the median over rounds of the mean time
per update and its ratio to MT-SAC's.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import warnings

import torch
from omegaconf import OmegaConf
from torchrl.data import Bounded
from torchrl.objectives import SoftUpdate

from paco_torchrl.algos import ALGOS
from paco_torchrl.objectives import MultiTaskSACLoss, PaCoUpdateStep, make_paco_optimizer
from paco_torchrl.training import RunConfig

warnings.filterwarnings("ignore")
OBS, ACT = 39, 4


def make_update(algo: str, cells: list[int]):
    cfg = OmegaConf.structured(RunConfig)  # env.benchmark=MT10: CARE reads the MT10 task descriptions
    cfg.algo = algo
    cfg.network.num_cells = cells
    num_tasks = 10
    actor, critics = ALGOS[algo].build_networks(cfg, OBS, Bounded(-1.0, 1.0, (ACT,)), num_tasks)
    loss = MultiTaskSACLoss(actor, critics, num_tasks)
    optimizer = make_paco_optimizer(loss)
    if ALGOS[algo].make_update is not None:
        return ALGOS[algo].make_update(cfg, loss, optimizer, SoftUpdate(loss, tau=0.005), loss_maskout=False)
    return PaCoUpdateStep(loss, optimizer, SoftUpdate(loss, tau=0.005), loss_maskout=False)


def main() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from update_step import make_batch, time_updates

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["mtsac", "paco", "film", "pcgrad", "soft_modules", "care",
                                                        "moore"])
    parser.add_argument("--cells", type=int, nargs="+", default=[400, 400, 400])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch = make_batch(10, 128)
    updates = {a: make_update(a, args.cells) for a in args.algos}
    for update in updates.values():
        time_updates(update, batch, 1)
    times: dict[str, list[float]] = {a: [] for a in args.algos}
    for _ in range(args.rounds):
        for algo, update in updates.items():
            times[algo].append(time_updates(update, batch, args.steps))
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {args.threads}; "
          f"T=10 cells={args.cells} batch=1280; {args.rounds} rounds x {args.steps} updates")
    base = statistics.median(times["mtsac"]) if "mtsac" in times else None
    for algo, ts in times.items():
        med = statistics.median(ts)
        ratio = f"  x{med / base:.2f} MT-SAC" if base else ""
        params = sum(p.numel() for p in updates[algo].loss_module.parameters())
        print(f"{algo:13s} {1000 * med:7.1f} ms{ratio}   ({params / 1e6:.2f}M trained parameters)")


if __name__ == "__main__":
    main()
