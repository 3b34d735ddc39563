"""NaN/inf observations or rewards from an env: the episode is cut, nothing non-finite reaches the replay, counted."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule
from torchrl.collectors import Collector

from paco_torchrl.analysis.series import read_series
from paco_torchrl.envs import MultiTaskPointEnv, NonFiniteGuard, drop_nonfinite
from paco_torchrl.envs import toy as toy_module
from paco_torchrl.training import load_config, train

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


class FaultyPointEnv(MultiTaskPointEnv):
    """The toy env with injected faults: step ``t`` (counted from construction) returns a NaN observation
    of env ``nan_obs[t]`` or an inf reward of env ``inf_reward[t]``; a reset at step ``t`` in
    ``nan_reset`` returns a NaN observation. Every reset is recorded as ``(step, mask)``."""

    nan_obs: dict[int, int] = {}
    inf_reward: dict[int, int] = {}
    nan_reset: set[int] = set()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.t = 0
        self.resets: list[tuple[int, list[bool] | None]] = []

    def _reset(self, tensordict=None, **kwargs):
        mask = None if tensordict is None else tensordict.get("_reset", None)
        self.resets.append((self.t, None if mask is None else mask.flatten().tolist()))
        out = super()._reset(tensordict, **kwargs)
        if self.t in self.nan_reset and mask is not None:
            out["observation"][mask.flatten().nonzero()[0], 0] = float("nan")
        return out

    def _step(self, tensordict):
        out = super()._step(tensordict)
        self.t += 1
        if self.t in self.nan_obs:
            out["observation"][self.nan_obs[self.t], 2] = float("nan")
        if self.t in self.inf_reward:
            out["reward"][self.inf_reward[self.t]] = float("inf")
        return out


def _zero_policy() -> TensorDictModule:
    return TensorDictModule(lambda obs: torch.zeros(*obs.shape[:-1], 2), ["observation"], ["action"])


def _collect(env, steps: int) -> TensorDict:
    collector = Collector(env, _zero_policy(), frames_per_batch=2 * steps, total_frames=2 * steps,
                          auto_register_policy_transforms=False)
    batch = next(iter(collector))
    collector.shutdown()
    return batch


def test_guard_cuts_the_episode_and_flags_the_step(monkeypatch):
    monkeypatch.setattr(FaultyPointEnv, "nan_obs", {3: 0})
    monkeypatch.setattr(FaultyPointEnv, "inf_reward", {7: 1})
    base = FaultyPointEnv(2, max_episode_steps=10, seed=0)
    batch = _collect(NonFiniteGuard.wrap(base), 12)
    flagged = batch["next", "nonfinite"].squeeze(-1)
    assert flagged.nonzero().tolist() == [[0, 2], [1, 6]]  # steps 3 and 7 (column = step - 1)
    assert torch.equal(batch["next", "truncated"].squeeze(-1), flagged)  # cut there (no time-out before 10)
    assert (3, [True, False]) in base.resets and (7, [False, True]) in base.resets  # the collector reset them
    for key in ("observation", ("next", "observation"), ("next", "reward")):
        assert batch[key].isfinite().all()  # the policy and the logs never see the bad values
    kept, flags = drop_nonfinite(batch)
    assert kept.shape == (2, 10) and int(flags.sum()) == 2


def test_non_finite_reset_flags_the_first_transition(monkeypatch):
    monkeypatch.setattr(FaultyPointEnv, "nan_obs", {2: 1})
    monkeypatch.setattr(FaultyPointEnv, "nan_reset", {2})
    batch = _collect(NonFiniteGuard.wrap(FaultyPointEnv(2, max_episode_steps=10, seed=0)), 5)
    assert batch["next", "nonfinite"].squeeze(-1)[1].tolist() == [False, True, False, False, False]
    assert batch["nonfinite"].squeeze(-1)[1].tolist() == [False, False, True, False, False]  # the NaN reset
    kept, flags = drop_nonfinite(batch)
    assert kept.shape == (2, 3) and int(flags.sum()) == 2


def test_guard_leaves_finite_runs_bit_identical():
    plain = _collect(MultiTaskPointEnv(2, max_episode_steps=4, seed=1), 9)
    guarded = _collect(NonFiniteGuard.wrap(MultiTaskPointEnv(2, max_episode_steps=4, seed=1)), 9)
    assert not guarded["next", "nonfinite"].any()
    for key in plain.keys(True, True):
        if key != ("collector", "traj_ids"):
            assert torch.equal(plain[key], guarded[key]), key
    assert drop_nonfinite(guarded)[1] is None


def test_training_keeps_non_finite_steps_out_of_the_replay_and_counts_them(tmp_path, monkeypatch):
    monkeypatch.setattr(FaultyPointEnv, "nan_obs", {7: 0})
    monkeypatch.setattr(FaultyPointEnv, "inf_reward", {34: 1})
    envs: list[FaultyPointEnv] = []

    def make(*args, seed=None, **kwargs):  # only the training env (the evaluation env's seed is +10_000) is faulty
        env = (FaultyPointEnv if seed < 10_000 else MultiTaskPointEnv)(*args, seed=seed, **kwargs)
        envs.append(env)
        return env

    monkeypatch.setattr(toy_module, "MultiTaskPointEnv", make)
    run = tmp_path / "run"
    cfg = load_config(None, [
        "env.benchmark=toy", "env.num_toy_tasks=2", "env.max_episode_steps=10", "collector.total_frames=100",
        "collector.init_random_frames=40", "optim.batch_size=16", "network.num_cells=[16]", "paco.num_param_sets=2",
        "eval.episodes_per_task=1", "logger.interval_frames=50", "progress=false", "threads=1", "device=cpu",
        f"output_dir={run}",
    ])
    train(cfg)
    train_env = envs[0]
    assert isinstance(train_env, FaultyPointEnv) and train_env.t == 50
    assert (7, [True, False]) in train_env.resets and (34, [False, True]) in train_env.resets  # episodes cut
    stored = TensorDict.load_memmap(run / "replay-000000000100" / "data")
    assert stored.shape == (48, 2)  # 50 vector steps, the 2 holding a bad transition dropped
    for key, value in stored.items(True, True):
        if value.is_floating_point():
            assert value.isfinite().all(), key
    scalars = run / "logs" / "scalars"
    # logged at frames 50 (vector step 25) and 100, and once more at the end
    assert read_series(scalars / "nonfinite_count" / "total.csv") == ([50, 100, 100], [1.0, 2.0, 2.0])
    assert read_series(scalars / "nonfinite_count" / "rotate-0.csv")[1][-1] == 1.0
    assert read_series(scalars / "nonfinite_count" / "rotate-180.csv")[1][-1] == 1.0
    assert read_series(scalars / "nonfinite_dropped_frames.csv")[1][-1] == 4.0


def test_guard_on_a_metaworld_env():
    from paco_torchrl.envs import make_metaworld_env

    env = NonFiniteGuard.wrap(make_metaworld_env("MT10", ["reach", "push"], max_episode_steps=20, backend="gym_vector"))
    gym_step = env.base_env.gym_env.step

    def unstable_step(action):  # MuJoCo blows up in env 1: NaN observation, NaN reward
        obs, reward, term, trunc, info = gym_step(action)
        obs, reward = obs.copy(), reward.copy()
        obs[1, :3], reward[1] = np.nan, np.nan
        return obs, reward, term, trunc, info

    td = env.reset()
    env.base_env.gym_env.step = unstable_step
    out = env.step(td.set("action", torch.zeros(2, 4)))["next"]
    assert out["nonfinite"].flatten().tolist() == [False, True]
    assert out["done"].flatten().tolist() == [False, True] and out["truncated"].flatten().tolist() == [False, True]
    assert out["observation"].isfinite().all() and out["reward"].isfinite().all()
    assert torch.equal(out["observation"][1, :3], torch.zeros(3))
    env.close()
