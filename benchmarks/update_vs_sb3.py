"""One SAC update of the recipe (T = 1) vs one gradient step of Stable-Baselines3's SAC, side by side.

    pip install -e ".[bench]"
    python benchmarks/update_vs_sb3.py                      # 2x256, batch 256, 1 thread, 5 rounds of 30 updates

Splits the recipe's per-frame gap to SB3 (``sb3_parity.py``: one update per frame) into the update and
the rest. The recipe's variants: ``single_task`` (its T = 1 SAC: a compositional network with K = T = 1)
and ``mtsac`` (plain ReLU MLPs), each with the original's ``dqda`` actor loss and with ``q``
(``-Q + α log π``, SB3's form), the twin critics vmapped (TorchRL's default) or looped, eager or
``compile=true`` (the update through ``torch.compile``, as the recipe's ``compile=true`` runs it);
``stock modules`` puts tensordict's ``TensorDictModule`` and TorchRL's ``ValueOperator`` back in place of
the package's direct-write subclasses (``paco_torchrl/modules/tensor_outputs.py``), ``vmapped critics``
evaluates the twin critics with TorchRL's vmapped call instead of batched matmuls over the stacked
parameters (``stacked_critics=False``), ``stock actor sample`` draws the actor's actions through
TorchRL's parameter swap and ``TanhNormal`` (``direct_actor=False``). SB3's step
includes its replay sampling (``model.train``), ours does not (a fixed batch). Rounds alternate between
all variants so that machine noise hits them alike; the figure is the median over rounds.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings

import gymnasium as gym
import numpy as np
import torch

from update_step import make_batch, make_update, with_stock_modules  # benchmarks/update_step.py

warnings.filterwarnings("ignore")
VARIANTS = {  # name: (algo, actor_loss_form, vmap, compile)
    "single_task dqda": ("single_task", "dqda", True, False),
    "single_task dqda, stock modules": ("single_task", "dqda", True, False),
    "single_task dqda, vmapped critics": ("single_task", "dqda", True, False),
    "single_task dqda, stock actor sample": ("single_task", "dqda", True, False),
    "single_task dqda, compile": ("single_task", "dqda", True, True),
    "single_task q": ("single_task", "q", True, False),
    "mtsac dqda": ("mtsac", "dqda", True, False),
    "mtsac dqda, stock modules": ("mtsac", "dqda", True, False),
    "mtsac dqda, vmapped critics": ("mtsac", "dqda", True, False),
    "mtsac dqda, stock actor sample": ("mtsac", "dqda", True, False),
    "mtsac dqda, compile": ("mtsac", "dqda", True, True),
    "mtsac q": ("mtsac", "q", True, False),
    "mtsac dqda, no vmap": ("mtsac", "dqda", False, False),
}


class _Random(gym.Env):
    """Meta-World's spaces (39-d observation, 4-d action), random observations: only fills SB3's buffer."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (39,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)

    def reset(self, seed=None, options=None):
        return np.zeros(39, np.float32), {}

    def step(self, action):
        return np.random.randn(39).astype(np.float32), 0.0, False, False, {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30, help="updates per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), help="ours to time (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from stable_baselines3 import SAC

    torch.manual_seed(0)
    sb3 = SAC("MlpPolicy", _Random(), policy_kwargs=dict(net_arch=list(args.cells)), batch_size=args.batch,
              learning_starts=0, device="cpu")
    sb3.learn(2 * args.batch)
    chosen = {name: v for name, v in VARIANTS.items() if args.variants is None or name in args.variants}
    ours = {name: make_update(algo, 1, 1, list(args.cells), form, vmap=vmap, compile=comp)
            for name, (algo, form, vmap, comp) in chosen.items()}
    for name, update in ours.items():
        if name.endswith("stock modules"):
            with_stock_modules(update.loss_module)
        if name.endswith("vmapped critics"):
            update.loss_module.stacked_critics = False
        if name.endswith("stock actor sample"):
            update.loss_module.direct_actor = False
    batch = make_batch(1, args.batch)
    for update in ours.values():  # warm-up (allocator, Adam state, compilation)
        for _ in range(3):
            update(batch.clone())
    times: dict[str, list[float]] = {"SB3 SAC": [], **{name: [] for name in ours}}
    for _ in range(args.rounds):
        start = time.perf_counter()
        sb3.train(gradient_steps=args.steps, batch_size=args.batch)
        times["SB3 SAC"].append((time.perf_counter() - start) / args.steps)
        for name, update in ours.items():
            copies = [batch.clone() for _ in range(args.steps)]
            start = time.perf_counter()
            for b in copies:
                update(b)
            times[name].append((time.perf_counter() - start) / args.steps)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads "
          f"{args.threads}; cells={args.cells} batch={args.batch}; {args.rounds} rounds x {args.steps} updates")
    base = statistics.median(times["SB3 SAC"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:22s} {med * 1e3:7.1f} ms/update  {med / base:5.2f}x SB3  "
              f"(rounds: {', '.join(f'{t * 1e3:.1f}' for t in ts)})")
    for name, ts in times.items():  # a variant against its A/B twins, round by round
        for twin in ("stock modules", "vmapped critics", "stock actor sample"):
            other = times.get(f"{name}, {twin}")
            if other:
                ratio = statistics.median(t / s for t, s in zip(ts, other))
                print(f"paired {name} / {name}, {twin}: {ratio:.3f} (median of per-round ratios)")


if __name__ == "__main__":
    main()
