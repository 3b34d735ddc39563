"""Time one full PaCo update against a plain-MLP MT-SAC update, side by side in one process.

    python benchmarks/update_step.py                 # K=5, 3x400, batch 1280, 10 tasks, MT10 shapes
    python benchmarks/update_step.py --threads 1 --rounds 5

Both updates run the same `MultiTaskSACLoss` + `PaCoUpdateStep` (per-task α, twin critics, target
soft update; PaCo adds maskout and w-reset) on the same task-major [10, 128] batch; only the networks
differ (PaCo: Φ with K=5 copies and W; MT-SAC: ReLU MLPs with the one-hot task id appended). Rounds
alternate between the two so that machine noise hits both alike; the figure is the median over rounds
of the mean time per update.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings

import torch
from omegaconf import OmegaConf
from tensordict import TensorDict
from torchrl.data import Bounded

from paco_torchrl.algos import ALGOS
from paco_torchrl.nn import CompositionalMLP
from paco_torchrl.objectives import MultiTaskSACLoss, PaCoUpdateStep, WReset, make_paco_optimizer
from paco_torchrl.training import RunConfig
from paco_torchrl.training.system import tune_malloc

warnings.filterwarnings("ignore")
OBS, ACT = 39, 4


def make_update(
    algo: str, num_tasks: int, num_param_sets: int, cells: list[int], actor_loss_form: str, vmap: bool = True
):
    cfg = OmegaConf.structured(RunConfig)
    cfg.paco.num_param_sets = num_param_sets
    cfg.network.num_cells = cells
    actor, critics = ALGOS[algo].build_networks(cfg, OBS, Bounded(-1.0, 1.0, (ACT,)), num_tasks)
    loss = MultiTaskSACLoss(actor, critics, num_tasks, actor_loss_form=actor_loss_form, deactivate_vmap=not vmap)
    optimizer = make_paco_optimizer(loss)
    from torchrl.objectives import SoftUpdate

    weights = loss.task_weight_tensors()
    w_reset = WReset(weights, optimizer) if weights else None
    return PaCoUpdateStep(loss, optimizer, SoftUpdate(loss, tau=0.005), w_reset=w_reset, loss_maskout=bool(weights))


def make_batch(num_tasks: int, per_task: int) -> TensorDict:
    tid = torch.arange(num_tasks)[:, None].expand(num_tasks, per_task)
    shape = (num_tasks, per_task)
    return TensorDict(
        {
            "observation": torch.randn(*shape, OBS),
            "action": torch.rand(*shape, ACT) * 2 - 1,
            "task_id": tid,
            "next": {
                "observation": torch.randn(*shape, OBS),
                "task_id": tid,
                "reward": torch.randn(*shape, 1),
                "done": torch.zeros(*shape, 1, dtype=torch.bool),
                "terminated": torch.zeros(*shape, 1, dtype=torch.bool),
            },
        },
        list(shape),
    )


def _forward_bmm_without_compose(self, x, task_id):
    """Grouped per-task bmm as in PaCo, but with Φ slices as the per-task weights (no composition)."""
    h = x.reshape(self.num_tasks, -1, x.shape[-1])
    for i, layer in enumerate(self.layers):
        index = torch.arange(self.num_tasks) % layer.num_param_sets
        h = torch.baddbmm(layer.bias[index].unsqueeze(1), h, layer.weight[index].transpose(-1, -2))
        if i < len(self.layers) - 1:
            h = self.activation(h)
    return h.reshape(*x.shape[:-1], h.shape[-1])


def _forward_single_linear(self, x, task_id):
    """One shared linear layer per level (Φ slice 0): PaCo's parameters and optimizer, MT-SAC's matmuls."""
    h = x
    for i, layer in enumerate(self.layers):
        h = torch.nn.functional.linear(h, layer.weight[0], layer.bias[0])
        if i < len(self.layers) - 1:
            h = self.activation(h)
    return h


def time_updates(update, batch, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        update(batch)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1280)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--cells", type=int, nargs="+", default=[400, 400, 400])
    parser.add_argument("--steps", type=int, default=10, help="updates per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--actor-loss-form", default="dqda", choices=["dqda", "q"])
    parser.add_argument("--no-tune-malloc", action="store_true", help="keep glibc's default malloc settings")
    parser.add_argument(
        "--decompose",
        action="store_true",
        help="also time PaCo with its forward replaced by (a) per-task bmm without composition and "
        "(b) one shared linear per level, to split the overhead (these variants compute wrong values)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tuned = False if args.no_tune_malloc else tune_malloc()
    torch.manual_seed(0)
    batch = make_batch(args.tasks, args.batch // args.tasks)
    updates = {
        "paco": make_update("paco", args.tasks, args.k, args.cells, args.actor_loss_form),
        "mtsac": make_update("mtsac", args.tasks, args.k, args.cells, args.actor_loss_form),
    }
    variants = {"paco": None, "mtsac": None}
    if args.decompose:
        variants.update({"paco: bmm, no compose": _forward_bmm_without_compose, "paco: single linear": _forward_single_linear})
    for update in updates.values():  # warm-up (allocator, Adam state)
        time_updates(update, batch, 3)
    times: dict[str, list[float]] = {name: [] for name in variants}
    original = CompositionalMLP.forward
    for _ in range(args.rounds):
        for name, forward in variants.items():
            CompositionalMLP.forward = forward or original
            update = updates["mtsac" if name == "mtsac" else "paco"]
            times[name].append(time_updates(update, batch, args.steps))
        CompositionalMLP.forward = original
    paco, mtsac = (statistics.median(times[n]) for n in ("paco", "mtsac"))
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"threads {args.threads}; T={args.tasks} K={args.k} cells={args.cells} batch={args.batch} "
        f"actor_loss_form={args.actor_loss_form}; tune_malloc={tuned}; {args.rounds} rounds x {args.steps} updates"
    )
    print(f"PaCo update   {paco * 1e3:8.1f} ms  (rounds: {', '.join(f'{t * 1e3:.1f}' for t in times['paco'])})")
    print(f"MT-SAC update {mtsac * 1e3:8.1f} ms  (rounds: {', '.join(f'{t * 1e3:.1f}' for t in times['mtsac'])})")
    for name in variants:
        if name.startswith("paco: "):
            t = statistics.median(times[name])
            print(f"{name:22s} {t * 1e3:8.1f} ms  (ratio to MT-SAC {t / mtsac:.3f})")
    print(f"ratio PaCo / MT-SAC = {paco / mtsac:.3f}  (target <= 1.25)")


if __name__ == "__main__":
    main()
