"""Time one full PaCo update against plain-MLP MT-SAC updates, side by side in one process.

    python benchmarks/update_step.py                 # K=5, 3x400, batch 1280, 10 tasks, MT10 shapes
    python benchmarks/update_step.py --threads 1 --rounds 3 --layout both

PaCo and MT-SAC run the same `MultiTaskSACLoss` + `PaCoUpdateStep` (per-task α, twin critics, target
soft update; PaCo adds maskout and w-reset); only the networks differ (PaCo: Φ with K=5 copies and W,
marked task-major as the training loop marks them; MT-SAC: ReLU MLPs with the one-hot task id
appended). `stock MT-SAC` is TorchRL's own `SACLoss` (one α, mean reduction, Q-form actor loss) on
the MT-SAC networks, one fused Adam over all its parameters and `SoftUpdate`: what a TorchRL user
writes. Layouts: `task_major` is the balanced sampler's [10, 128] batch; `flat_random` a flat [1280]
batch with uniformly random task ids, as a stock `ReplayBuffer` returns. Rounds alternate between
all variants so that machine noise hits them alike; a figure is the median over rounds of the mean
time per update, and the "paired" ratios are the median over rounds of each round's own ratio.
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

import paco_torchrl.nn.compositional as compositional_mod
from paco_torchrl import nn as paco_nn
from paco_torchrl.algos import ALGOS
from paco_torchrl.nn import CompositionalMLP
from paco_torchrl.objectives import MultiTaskSACLoss, PaCoUpdateStep, WReset, make_paco_optimizer
from paco_torchrl.training import RunConfig
from paco_torchrl.training.system import tune_malloc

warnings.filterwarnings("ignore")
OBS, ACT = 39, 4
_ORIGINAL_FORWARD = CompositionalMLP.forward


def make_update(
    algo: str, num_tasks: int, num_param_sets: int, cells: list[int], actor_loss_form: str, vmap: bool = True,
    compile: bool = False,
):
    cfg = OmegaConf.structured(RunConfig)
    cfg.paco.num_param_sets = num_param_sets
    cfg.network.num_cells = cells
    actor, critics = ALGOS[algo].build_networks(cfg, OBS, Bounded(-1.0, 1.0, (ACT,)), num_tasks)
    if hasattr(paco_nn, "assume_task_major"):  # as make_agent does (absent before the any-layout path)
        actor, critics = paco_nn.assume_task_major(actor), [paco_nn.assume_task_major(q) for q in critics]
    loss = MultiTaskSACLoss(actor, critics, num_tasks, actor_loss_form=actor_loss_form, deactivate_vmap=not vmap)
    optimizer = make_paco_optimizer(loss)
    from torchrl.objectives import SoftUpdate

    maskout, reset = ALGOS[algo].stabilisation(cfg)  # as make_agent: PaCo's maskout and w-reset, none for baselines
    weights = loss.task_weight_tensors()
    w_reset = WReset(weights, optimizer) if reset and weights else None
    return PaCoUpdateStep(loss, optimizer, SoftUpdate(loss, tau=0.005), w_reset=w_reset, loss_maskout=maskout,
                          compile=compile)


def with_stock_modules(loss: torch.nn.Module) -> torch.nn.Module:
    """Turns the loss's direct-write TensorDict modules back into tensordict's / TorchRL's own classes
    (the same objects and parameters; only the output writing changes). For paired A/B timing."""
    from tensordict.nn import TensorDictModule
    from torchrl.modules import ValueOperator

    from paco_torchrl.modules.tensor_outputs import TensorOutputModule, TensorOutputValueOperator

    networks = [getattr(loss, name) for name in ("actor_network", "qvalue_network") if hasattr(loss, name)]
    for module in (m for net in networks for m in net.modules()):
        if type(module) is TensorOutputModule:
            module.__class__ = TensorDictModule
        elif type(module) is TensorOutputValueOperator:
            module.__class__ = ValueOperator
    return loss


def make_stock_update(num_tasks: int, cells: list[int]):
    """TorchRL's stock `SACLoss` on the MT-SAC networks: loss, one fused Adam step, soft target update."""
    from torchrl.objectives import SACLoss, SoftUpdate

    cfg = OmegaConf.structured(RunConfig)
    cfg.network.num_cells = cells
    actor, critics = ALGOS["mtsac"].build_networks(cfg, OBS, Bounded(-1.0, 1.0, (ACT,)), num_tasks)
    loss = SACLoss(actor, critics, action_spec=Bounded(-1.0, 1.0, (ACT,)))
    optimizer = torch.optim.Adam(loss.parameters(), lr=3e-4, fused=True)
    target = SoftUpdate(loss, tau=0.005)

    def update(batch: TensorDict) -> None:
        losses = loss(batch)
        total = losses["loss_actor"] + losses["loss_qvalue"] + losses["loss_alpha"]
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        target.step()

    return update


def make_batch(num_tasks: int, per_task: int, layout: str = "task_major") -> TensorDict:
    if layout == "task_major":
        tid = torch.arange(num_tasks)[:, None].expand(num_tasks, per_task)
        shape = (num_tasks, per_task)
    else:  # flat_random: what a stock ReplayBuffer over a mixed-task storage returns
        shape = (num_tasks * per_task,)
        tid = torch.randint(0, num_tasks, shape)
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


def _forward_features_last(self, x, task_id):
    """PaCo's exact forward with the task-major path's activations kept ``[T, n, features]`` (before
    2026-12-01): its weight gradient needs a transposing copy per layer."""
    elementwise, compositional_mod._ELEMENTWISE = compositional_mod._ELEMENTWISE, ()
    try:
        return _ORIGINAL_FORWARD(self, x, task_id)
    finally:
        compositional_mod._ELEMENTWISE = elementwise


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
    parser.add_argument("--layout", default="both", choices=["task_major", "flat_random", "both"],
                        help="batch layout(s): the balanced sampler's [T, n], a flat [B] with random task ids, or both")
    parser.add_argument("--no-tune-malloc", action="store_true", help="keep glibc's default malloc settings")
    parser.add_argument(
        "--decompose",
        action="store_true",
        help="also time PaCo with its forward replaced by (a) the task-major path with features last (exact, "
        "the layout before 2026-12-01), (b) per-task bmm without composition and (c) one shared linear per "
        "level, to split the overhead ((b) and (c) compute wrong values); these run with vmapped critics (the "
        "stacked path does not call the module's forward) and are paired with 'paco: vmapped critics'",
    )
    parser.add_argument(
        "--loop-ab",
        action="store_true",
        help="also time PaCo with a Python loop over its critics (deactivate_vmap=True) instead of vmap",
    )
    parser.add_argument(
        "--stacked-ab",
        action="store_true",
        help="also time the same PaCo update with its critics vmapped (stacked_critics=False): the stacked "
        "path's batched matmuls (task-major) or folded grouped matmuls (flat) against TorchRL's vmap",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tuned = False if args.no_tune_malloc else tune_malloc()
    torch.manual_seed(0)
    layouts = ["task_major", "flat_random"] if args.layout == "both" else [args.layout]
    batches = {layout: make_batch(args.tasks, args.batch // args.tasks, layout) for layout in layouts}
    updates = {
        "paco": make_update("paco", args.tasks, args.k, args.cells, args.actor_loss_form),
        "mtsac": make_update("mtsac", args.tasks, args.k, args.cells, args.actor_loss_form),
        "stock": make_stock_update(args.tasks, args.cells),
    }
    if args.loop_ab:
        updates["paco: looped critics"] = make_update("paco", args.tasks, args.k, args.cells, args.actor_loss_form,
                                                      vmap=False)
    variants = {"paco": None, "mtsac": None, "stock": None}
    if args.decompose:
        variants.update({
            "paco: features-last": _forward_features_last,
            "paco: bmm, no compose": _forward_bmm_without_compose,
            "paco: single linear": _forward_single_linear,
        })
    if args.loop_ab:
        variants["paco: looped critics"] = None
    if args.stacked_ab or args.decompose:
        variants["paco: vmapped critics"] = None
    for update in updates.values():  # warm-up (allocator, Adam state)
        for batch in batches.values():
            time_updates(update, batch, 2)
    times: dict[tuple[str, str], list[float]] = {(n, layout): [] for n in variants for layout in layouts}
    original = _ORIGINAL_FORWARD
    for _ in range(args.rounds):
        for layout in layouts:
            for name, forward in variants.items():
                if forward is not None and layout != "task_major":
                    continue  # the decomposition variants assume a task-major batch
                CompositionalMLP.forward = forward or original
                update = updates[name if name in updates else "paco"]
                if name.startswith("paco"):  # the decomposition variants need the critics to call the forward
                    update.loss_module.stacked_critics = name == "paco"
                times[name, layout].append(time_updates(update, batches[layout], args.steps))
            CompositionalMLP.forward = original
            updates["paco"].loss_module.stacked_critics = True
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"threads {args.threads}; T={args.tasks} K={args.k} cells={args.cells} batch={args.batch} "
        f"actor_loss_form={args.actor_loss_form}; tune_malloc={tuned}; {args.rounds} rounds x {args.steps} updates"
    )
    labels = {"paco": "PaCo update", "mtsac": "MT-SAC update", "stock": "stock MT-SAC (SACLoss)"}
    median = {key: statistics.median(t) for key, t in times.items() if t}
    for layout in layouts:
        print(f"-- layout {layout}")
        for name in ("paco", "mtsac", "stock"):
            rounds = ", ".join(f"{t * 1e3:.1f}" for t in times[name, layout])
            print(f"{labels[name]:24s} {median[name, layout] * 1e3:8.1f} ms  (rounds: {rounds})")
        for name in variants:
            if name.startswith("paco: ") and (name, layout) in median:
                t = median[name, layout]
                ref = "paco" if variants[name] is None else "paco: vmapped critics"
                paired = statistics.median(p / v for p, v in zip(times[ref, layout], times[name, layout]))
                print(f"{name:24s} {t * 1e3:8.1f} ms  (ratio to MT-SAC {t / median['mtsac', layout]:.3f}; "
                      f"paired {'PaCo' if ref == 'paco' else 'vmapped critics'} / this {paired:.3f})")
    header = f"{'ratio':24s}" + "".join(f"{layout:>14s}" for layout in layouts)
    print(header)
    for name, target in (("mtsac", "1.10 task-major"), ("stock", "1.25 flat_random")):
        cells = "".join(f"{median['paco', layout] / median[name, layout]:14.3f}" for layout in layouts)
        print(f"{'PaCo / ' + ('MT-SAC' if name == 'mtsac' else 'stock MT-SAC'):24s}{cells}   (target <= {target})")
    # the same ratios taken within each round (the variants run back to back there), then the median:
    # machine noise that shifts a whole round cancels out
    for name in ("mtsac", "stock"):
        cells = "".join(
            f"{statistics.median(p / b for p, b in zip(times['paco', layout], times[name, layout])):14.3f}"
            for layout in layouts
        )
        print(f"{'  paired, per round':24s}{cells}   (PaCo / {'MT-SAC' if name == 'mtsac' else 'stock MT-SAC'})")


if __name__ == "__main__":
    main()
