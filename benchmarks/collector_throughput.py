"""MT10 collection throughput: the recipe's TorchRL collector with the PaCo policy vs raw gymnasium.

    python benchmarks/collector_throughput.py                     # 10 tasks, 3 rounds x 300 vector steps
    python benchmarks/collector_throughput.py --threads 1 --steps 500
    python benchmarks/collector_throughput.py --tasks reach-v3 --steps 1500   # one task, one env (no reference)
    python benchmarks/collector_throughput.py --same-td-ab --rounds 24 --steps 60   # the recipe's batches vs clones

Reference: Meta-World's own gymnasium sync vector env (``gym.make_vec("Meta-World/MT10")``) stepped
with uniform random actions (no policy, no TorchRL). Measured: the recipe's ``Collector`` (one vector step per
batch) over ``make_metaworld_env(backend=...)`` driven by the PaCo actor (K=5, 3x400, random
sampling) through the recipe's collection policy (``TanhNormalSampler``: the actor's TanhNormal sampled
without a distribution object) and through the ``ProbabilisticActor`` itself, and the same collector with
random actions. Like the recipe's, the collectors yield their own buffer (``return_same_td=True``).
``--tasks`` collects on a subset (the gymnasium reference is MT10's, so it is skipped then). Rounds
alternate between the variants so machine noise hits all alike; figures are medians over rounds, and
``paired`` the median of per-round ratios to ``collector, PaCo``. ``--same-td-ab`` times only the PaCo
collector yielding its buffer against TorchRL's default, a clone of it per batch: two collectors on one
env, rounds in ABBA order.
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

import gymnasium as gym
import metaworld  # noqa: F401  (registers the Meta-World gymnasium envs)
import torch
from torchrl.collectors import Collector

from paco_torchrl.envs.metaworld import make_metaworld_env
from paco_torchrl.modules import TanhNormalSampler, make_paco_actor

warnings.filterwarnings("ignore")


def raw_gymnasium(steps: int, max_episode_steps: int) -> float:
    """Meta-World's own gymnasium vector env (``gym.make_vec("Meta-World/MT10", "sync")``), random actions."""
    env = gym.make_vec("Meta-World/MT10", vector_strategy="sync", seed=0, max_episode_steps=max_episode_steps)
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(env.action_space.sample())  # its default autoreset handles episode ends
    fps = steps * env.num_envs / (time.perf_counter() - start)
    env.close()
    return fps


def collector_fps(env, policy, steps: int, same_td: bool = True) -> float:
    collector = Collector(
        env, policy, frames_per_batch=env.batch_size[0], total_frames=-1, auto_register_policy_transforms=False,
        return_same_td=same_td,
    )
    it = iter(collector)
    next(it)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        next(it)
    fps = steps * env.batch_size[0] / (time.perf_counter() - start)
    collector.shutdown(close_env=False)
    return fps


def same_td_ab(env, policy, rounds: int, steps: int) -> None:
    """The recipe's collector (``return_same_td=True``) against TorchRL's default, paired per round."""
    num_envs = env.batch_size[0]
    iters = {
        same: iter(Collector(env, policy, frames_per_batch=num_envs, total_frames=-1,
                             auto_register_policy_transforms=False, return_same_td=same))
        for same in (True, False)
    }
    times: dict[bool, list[float]] = {True: [], False: []}
    with torch.no_grad():
        for it in iters.values():
            for _ in range(20):
                next(it)
        for r in range(rounds):
            for same in (True, False) if r % 2 == 0 else (False, True):
                start = time.perf_counter()
                for _ in range(steps):
                    next(iters[same])
                times[same].append((time.perf_counter() - start) / steps)
    print(f"{num_envs} env(s), {rounds} rounds x {steps} vector steps, ABBA")
    for same, label in ((True, "own buffer (recipe)"), (False, "clone per batch")):
        print(f"{label:22s} {statistics.median(times[same]) * 1e3:7.3f} ms per vector step")
    paired = statistics.median(a / b for a, b in zip(times[True], times[False]))
    print(f"paired own buffer / clone: {paired:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="vector steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backend", default="gym_vector")
    parser.add_argument("--max-episode-steps", type=int, default=150)
    parser.add_argument("--tasks", nargs="+", default=None, help="a subset of MT10's tasks (default: all ten)")
    parser.add_argument("--same-td-ab", action="store_true",
                        help="only the PaCo collector yielding its own buffer vs yielding a clone (TorchRL's default)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env = make_metaworld_env("MT10", tasks=args.tasks, backend=args.backend, max_episode_steps=args.max_episode_steps)
    num_tasks = env.batch_size[0]
    actor = make_paco_actor(39, 4, num_tasks=num_tasks, num_param_sets=5, num_cells=(400, 400, 400))
    sampler = TanhNormalSampler(actor)  # what the recipe collects with
    if args.same_td_ab:
        return same_td_ab(env, sampler, args.rounds, args.steps)
    names = ["collector, random", "collector, PaCo", "collector, PaCo actor"]
    results: dict[str, list[float]] = {name: [] for name in (names if args.tasks else ["gymnasium, random", *names])}
    for _ in range(args.rounds):
        if args.tasks is None:
            results["gymnasium, random"].append(raw_gymnasium(args.steps, args.max_episode_steps))
        results["collector, random"].append(collector_fps(env, None, args.steps))
        with torch.no_grad():
            results["collector, PaCo"].append(collector_fps(env, sampler, args.steps))
            results["collector, PaCo actor"].append(collector_fps(env, actor, args.steps))
    env.close()
    ref_name = "collector, PaCo" if args.tasks else "gymnasium, random"
    ref = statistics.median(results[ref_name])
    print(f"MT10{' tasks ' + ' '.join(args.tasks) if args.tasks else ''}, backend={args.backend}, "
          f"threads={args.threads}, {args.rounds} rounds x {args.steps} vector steps")
    for name, values in results.items():
        fps = statistics.median(values)
        rounds = ", ".join(f"{v:.0f}" for v in values)
        paired = statistics.median(v / p for v, p in zip(values, results["collector, PaCo"]))
        print(f"{name:24s} {fps:7.0f} frames/s  ({fps / ref:.2f}x {ref_name.split(',')[0]}; paired {paired:.3f})  "
              f"rounds: {rounds}")


if __name__ == "__main__":
    main()
