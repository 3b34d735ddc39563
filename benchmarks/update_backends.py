"""Eager vs ``compile`` vs CUDA graphs on the recipe's Algorithm-1 update: numerics and updates/s.

    python benchmarks/update_backends.py                          # CUDA when there is one, MT10 shapes
    python benchmarks/update_backends.py --device cpu --variants eager compile --steps 5 --rounds 2

Every variant is the recipe's own update (:func:`paco_torchrl.training.builders.make_agent` from
``recipes/configs/mt10_rand.yaml``: PaCo K=5, 3x400, 10 tasks, batch 1280, maskout, w-reset, fused
Adam, soft target update) built from the same seed and fed the same sequence of task-major batches.

* **numerics**: with the same random stream in every variant (Inductor's ``fallback_random``), after
  ``--check-steps`` updates (compilation and graph capture included), the largest absolute difference
  of every parameter and of every per-task loss from the eager run. Kernels of different backends round differently, so differences of ~1e-5 relative to the values are expected;
  a wrong capture (stale inputs, a skipped optimizer step) shows as differences of order 1.
* **speed**: median over ``--rounds`` of the mean time per update (``--steps`` updates, device
  synchronised), after one untimed round, rounds alternating between variants so that machine noise
  hits all alike.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import torch
from tensordict import TensorDict
from torchrl.data import Bounded, Composite, Unbounded

from update_step import ACT, OBS, make_batch  # benchmarks/update_step.py

from paco_torchrl.training import load_config
from paco_torchrl.training.builders import make_agent

warnings.filterwarnings("ignore")
CONFIG = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "mt10_rand.yaml"
VARIANTS = {
    "eager": [],
    "compile": ["compile=true"],
    "cudagraphs": ["cudagraphs=true"],
    "compile+cudagraphs": ["compile=true", "cudagraphs=true"],
}


def build(variant: str, device: torch.device, args: argparse.Namespace):
    overrides = [f"device={device.type}", f"paco.num_param_sets={args.k}", f"optim.batch_size={args.batch}"]
    cfg = load_config(CONFIG, overrides + VARIANTS[variant])
    specs = SimpleNamespace(
        observation_spec=Composite(observation=Unbounded((OBS,))), action_spec=Bounded(-1.0, 1.0, (ACT,))
    )
    torch.manual_seed(0)
    return make_agent(cfg, specs, device)


def batches(n: int, num_tasks: int, per_task: int, device: torch.device) -> list[TensorDict]:
    torch.manual_seed(1)
    return [make_batch(num_tasks, per_task).to(device) for _ in range(n)]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto = cuda when available")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=None,
                        help="default: all on CUDA; eager and compile on the CPU")
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1280)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--check-steps", type=int, default=12, help="updates compared with eager")
    parser.add_argument("--steps", type=int, default=50, help="updates per timing round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    # Inductor draws its own random numbers unless told to use eager's: the same stream in every variant
    torch._inductor.config.fallback_random = True
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    variants = args.variants or (list(VARIANTS) if device.type == "cuda" else ["eager", "compile"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    print(f"device: {name}; torch {torch.__version__}; T={args.tasks} K={args.k} batch={args.batch} (MT10 recipe "
          f"networks); {args.check_steps} updates compared, {args.rounds} rounds x {args.steps} updates timed")
    data = batches(args.check_steps, args.tasks, args.batch // args.tasks, device)

    agents, setup_s, reference = {}, {}, None
    for variant in variants:
        try:
            agent = build(variant, device, args)
            start = time.perf_counter()
            losses = []
            for i, b in enumerate(data):
                torch.manual_seed(100 + i)  # the same draws whatever compilation consumed
                out = agent.update(b.clone())
                losses.append(torch.stack([out[k].float() for k in sorted(out.keys()) if str(k).startswith("loss_")]))
            sync(device)
            setup_s[variant] = time.perf_counter() - start
        except Exception as err:  # report and go on: one broken backend must not hide the others
            print(f"{variant:20s} FAILED: {type(err).__name__}: {str(err).splitlines()[0][:300]}", flush=True)
            continue
        params = {k: v.detach().clone() for k, v in agent.loss.state_dict().items() if torch.is_tensor(v)}
        if reference is None:
            reference = (params, torch.stack(losses))
            print(f"{variant:20s} reference ({args.check_steps} updates incl. warm-up: {setup_s[variant]:.1f} s)")
        else:
            ref_params, ref_losses = reference
            dp = max((params[k].float() - ref_params[k].float()).abs().max().item() for k in ref_params)
            scale = max(v.float().abs().max().item() for v in ref_params.values())
            dl = ((torch.stack(losses) - ref_losses).abs().max() / ref_losses.abs().max().clamp_min(1e-12)).item()
            verdict = "ok" if dp <= 1e-3 * scale and dl <= 1e-3 else "MISMATCH"
            print(f"{variant:20s} max |Δparam| {dp:.2e} (max |param| {scale:.2e}), max relative |Δloss| "
                  f"{dl:.2e} over {args.check_steps} updates: {verdict}  (first {args.check_steps} updates incl. "
                  f"compile/capture: {setup_s[variant]:.1f} s)", flush=True)
        agents[variant] = agent

    times: dict[str, list[float]] = {v: [] for v in agents}
    timing = batches(args.steps, args.tasks, args.batch // args.tasks, device)
    for round_ in range(args.rounds + 1):  # round 0 is not timed: late recompilations (dynamic shapes) land there
        for variant, agent in agents.items():
            if variant not in times:
                continue
            copies = [b.clone() for b in timing]
            try:
                sync(device)
                t = time.perf_counter()
                for b in copies:
                    agent.update(b)
                sync(device)
            except Exception as err:  # report and go on with the others
                print(f"{variant:20s} timing FAILED: {type(err).__name__}: {str(err).splitlines()[0][:300]}", flush=True)
                del times[variant]
                continue
            if round_:
                times[variant].append((time.perf_counter() - t) / args.steps)
    base = statistics.median(times["eager"]) if "eager" in times else None
    for variant, ts in times.items():
        med = statistics.median(ts)
        rel = f"  {base / med:5.2f}x eager" if base else ""
        print(f"{variant:20s} {med * 1e3:8.2f} ms/update  {1 / med:8.1f} updates/s{rel}  "
              f"(rounds: {', '.join(f'{t * 1e3:.2f}' for t in ts)})", flush=True)


if __name__ == "__main__":
    main()
