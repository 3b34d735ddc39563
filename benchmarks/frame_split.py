"""Where a frame goes: the recipe's eager loop vs Stable-Baselines3's SAC, unprofiled, side by side (issue #16 item 4).

    pip install -e ".[bench]"
    python benchmarks/frame_split.py                      # reach-v3, 2x256, batch 256, 4000 frames, 1000 random

Both learners run the ``sb3_parity.py`` setting (one Meta-World task, one env, one update per frame,
1 thread) one after the other in this process. Wall-clock timers wrap the loop's parts without a
profiler's overhead: for SB3 its ``train`` (one gradient step, replay sampling included) and its
``collect_rollouts`` (policy, env step, buffer add, callbacks: one frame); for the recipe
(:func:`paco_torchrl.training.train`, ``algo=single_task``) the update (``PaCoUpdateStep``), the replay's
``sample`` and ``extend``, and one step of TorchRL's ``Collector`` (policy, env step, TensorDict work).
Only frames after the first update count, so start-up, random-action frames and compilation stay
outside. ``other`` is the rest of each loop (logging, bookkeeping), from the wall-clock between the first
update and the last frame.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]


class Timers:
    """Accumulates wall-clock per named part once ``started`` (set by the first update)."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.started_at: float | None = None
        self.ended_at = 0.0
        self._undo: list[Callable[[], None]] = []

    def add(self, name: str, seconds: float) -> None:
        if self.started_at is not None:
            self.total[name] = self.total.get(name, 0.0) + seconds
            self.calls[name] = self.calls.get(name, 0) + 1
            self.ended_at = time.perf_counter()

    def wrap(self, owner: type, attr: str, name: str, starts: bool = False) -> None:
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            if starts and self.started_at is None:
                self.started_at = time.perf_counter()
            t = time.perf_counter()
            out = original(*args, **kwargs)
            self.add(name, time.perf_counter() - t)
            return out

        setattr(owner, attr, timed)
        self._undo.append(lambda: setattr(owner, attr, original))

    def wrap_generator(self, owner: type, attr: str, name: str) -> None:
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            it = original(*args, **kwargs)
            while True:
                t = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    return
                self.add(name, time.perf_counter() - t)
                yield item

        setattr(owner, attr, timed)
        self._undo.append(lambda: setattr(owner, attr, original))

    def restore(self) -> None:
        for undo in reversed(self._undo):
            undo()

    def per_frame(self, frames_key: str) -> dict[str, float]:
        frames = self.calls[frames_key]
        out = {name: self.total[name] / frames for name in self.total}
        out["other"] = (self.ended_at - self.started_at) / frames - sum(out.values())
        return out


def run_sb3(args: argparse.Namespace) -> dict[str, float]:
    from stable_baselines3 import SAC
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

    from paco_torchrl.envs.metaworld import MetaWorldTaskEnv, _benchmark_goals

    timers = Timers()
    timers.wrap(SAC, "train", "update (SB3: train, sampling included)", starts=True)
    timers.wrap(OffPolicyAlgorithm, "collect_rollouts", "collect one frame")
    try:
        env = MetaWorldTaskEnv(_benchmark_goals("MT10", 0)[args.task], 150, "v2", seed=(0, 0))
        model = SAC("MlpPolicy", env, learning_starts=args.learning_starts, batch_size=args.batch, train_freq=1,
                    gradient_steps=1, policy_kwargs={"net_arch": list(args.cells)}, seed=0, device="cpu", verbose=0)
        model.learn(total_timesteps=args.frames)
    finally:
        timers.restore()
    return timers.per_frame("collect one frame")


def run_recipe(args: argparse.Namespace, out: Path) -> dict[str, float]:
    from torchrl.collectors import Collector

    from paco_torchrl.data import TaskBalancedReplayBuffer
    from paco_torchrl.objectives import PaCoUpdateStep
    from paco_torchrl.training import train
    from paco_torchrl.training.config import load_config, validate_config

    timers = Timers()
    timers.wrap(PaCoUpdateStep, "__call__", "update", starts=True)
    timers.wrap(TaskBalancedReplayBuffer, "sample", "replay sample")
    timers.wrap(TaskBalancedReplayBuffer, "extend", "replay extend")
    timers.wrap_generator(Collector, "iterator", "collect one frame")
    cfg = load_config(ROOT / "recipes" / "configs" / "mt10_rand.yaml", [
        f"env.tasks=[{args.task}]", "algo=single_task", "seed=0", "threads=1", "progress=false",
        f"output_dir={out}", f"network.num_cells=[{','.join(map(str, args.cells))}]",
        f"optim.batch_size={args.batch}", f"collector.total_frames={args.frames}",
        f"collector.init_random_frames={args.learning_starts}", f"eval.interval_frames={10 * args.frames}",
        "eval.episodes_per_task=1", f"checkpoint.interval_frames={10 * args.frames}",
        f"logger.interval_frames={args.frames}",
    ])
    validate_config(cfg)
    try:
        train(cfg)
    finally:
        timers.restore()
    return timers.per_frame("collect one frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="reach-v3")
    parser.add_argument("--frames", type=int, default=4000)
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--cells", nargs="+", type=int, default=[256, 256])
    args = parser.parse_args()
    torch.set_num_threads(1)
    sb3 = run_sb3(args)
    with tempfile.TemporaryDirectory() as tmp:
        ours = run_recipe(args, Path(tmp) / "run")
    print(f"{args.task}, 1 env, {args.cells} cells, batch {args.batch}, one update per frame, 1 thread; "
          f"ms per frame over frames {args.learning_starts}-{args.frames}")
    for name, split in (("SB3 SAC", sb3), ("recipe eager", ours)):
        parts = ", ".join(f"{part} {ms * 1e3:.2f}" for part, ms in split.items())
        print(f"{name:13s} {sum(split.values()) * 1e3:6.2f} ms/frame = {parts}")
    update = (ours["update"] + ours["replay sample"]) / sb3["update (SB3: train, sampling included)"]
    collection = (ours["collect one frame"] + ours["replay extend"]) / sb3["collect one frame"]
    print(f"recipe / SB3 per frame: {sum(ours.values()) / sum(sb3.values()):.2f}x; update incl. sampling "
          f"{update:.2f}x; collection incl. storing {collection:.2f}x")


if __name__ == "__main__":
    main()
