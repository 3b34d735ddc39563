"""MT10 collection throughput: the recipe's TorchRL collector with the PaCo policy vs raw gymnasium.

    python benchmarks/collector_throughput.py                     # 10 tasks, 3 rounds x 300 vector steps
    python benchmarks/collector_throughput.py --threads 1 --steps 500

Reference: Meta-World's own gymnasium sync vector env (``gym.make_vec("Meta-World/MT10")``) stepped
with uniform random actions (no policy, no TorchRL). Measured: the recipe's ``Collector`` (one vector step per
batch) over ``make_metaworld_env(backend=...)`` driven by the PaCo actor (K=5, 3x400, random
sampling) through the recipe's collection policy (``TanhNormalSampler``: the actor's TanhNormal sampled
without a distribution object) and through the ``ProbabilisticActor`` itself, and the same collector with
random actions. Rounds alternate between the variants so
machine noise hits all alike; figures are medians over rounds.
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


def collector_fps(env, policy, steps: int) -> float:
    collector = Collector(
        env, policy, frames_per_batch=env.batch_size[0], total_frames=-1, auto_register_policy_transforms=False
    )
    it = iter(collector)
    next(it)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        next(it)
    fps = steps * env.batch_size[0] / (time.perf_counter() - start)
    collector.shutdown(close_env=False)
    return fps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="vector steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backend", default="gym_vector")
    parser.add_argument("--max-episode-steps", type=int, default=150)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env = make_metaworld_env("MT10", backend=args.backend, max_episode_steps=args.max_episode_steps)
    actor = make_paco_actor(39, 4, num_tasks=10, num_param_sets=5, num_cells=(400, 400, 400))
    sampler = TanhNormalSampler(actor)  # what the recipe collects with
    results: dict[str, list[float]] = {"gymnasium, random": [], "collector, random": [], "collector, PaCo": [],
                                       "collector, PaCo actor": []}
    for _ in range(args.rounds):
        results["gymnasium, random"].append(raw_gymnasium(args.steps, args.max_episode_steps))
        results["collector, random"].append(collector_fps(env, None, args.steps))
        with torch.no_grad():
            results["collector, PaCo"].append(collector_fps(env, sampler, args.steps))
            results["collector, PaCo actor"].append(collector_fps(env, actor, args.steps))
    env.close()
    ref = statistics.median(results["gymnasium, random"])
    print(f"MT10, backend={args.backend}, threads={args.threads}, {args.rounds} rounds x {args.steps} vector steps")
    for name, values in results.items():
        fps = statistics.median(values)
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:22s} {fps:7.0f} frames/s  ({fps / ref:.2f}x gymnasium)  rounds: {rounds}")


if __name__ == "__main__":
    main()
