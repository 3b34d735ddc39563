"""Tests of the Meta-World MT10/MT50 TorchRL env factory (paco_torchrl.envs.metaworld)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from tensordict import TensorDict
from torchrl.envs.utils import check_env_specs

from paco_torchrl.envs.metaworld import (
    MT10_TASKS,
    MT50_TASKS,
    MetaWorldVecEnv,
    benchmark_task_names,
    make_metaworld_env,
    resolve_tasks,
)

TASKS = ("reach", "push", "window-close")
EPT = 2  # envs per task
B = len(TASKS) * EPT
T = 20  # max_episode_steps
BACKENDS = ("gym_vector", "serial")


def _make(backend: str, **kwargs):
    kw = dict(benchmark="MT10", tasks=TASKS, seed=0, max_episode_steps=T, envs_per_task=EPT)
    kw.update(kwargs)
    return make_metaworld_env(backend=backend, **kw)


def _actions(n_steps: int, batch: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n_steps, batch, 4, generator=gen) * 2 - 1


def _play(env, actions: torch.Tensor) -> TensorDict:
    """Steps with fixed actions, resetting done envs the TorchRL way (``step_and_maybe_reset``)."""
    td = env.reset()
    out = []
    for a in actions:
        td["action"] = a
        step, td = env.step_and_maybe_reset(td)
        out.append(step)
    return torch.stack(out)


@pytest.fixture(scope="module")
def envs():
    built = {backend: _make(backend) for backend in BACKENDS}
    yield built
    for env in built.values():
        env.close(raise_if_closed=False)  # a SerialEnv no selected test started counts as closed


# --------------------------------------------------------------------------- names, validation


def test_task_names_match_metaworld():
    from metaworld import env_dict

    assert benchmark_task_names("MT10") == MT10_TASKS == tuple(env_dict.MT10_V3)
    assert benchmark_task_names("MT50") == MT50_TASKS == tuple(env_dict.MT50_V3)
    assert len(MT10_TASKS) == 10 and len(MT50_TASKS) == 50 and len(set(MT50_TASKS)) == 50


def test_resolve_tasks():
    assert resolve_tasks("MT10", None) == MT10_TASKS
    assert resolve_tasks("MT10", ["window-close", "reach-v3"]) == ("window-close-v3", "reach-v3")
    assert resolve_tasks("MT50", ["assembly"]) == ("assembly-v3",)
    with pytest.raises(ValueError, match="'reach-v2'.*reach-v3"):
        resolve_tasks("MT10", ["reach-v2"])
    with pytest.raises(ValueError, match="'assembly'"):  # an MT50 task is not in MT10
        resolve_tasks("MT10", ["reach", "assembly"])
    with pytest.raises(ValueError, match="'MT11'.*MT10"):
        resolve_tasks("MT11", None)
    with pytest.raises(ValueError, match="duplicate.*reach-v3"):
        resolve_tasks("MT10", ["reach", "reach-v3"])
    with pytest.raises(ValueError, match="empty"):
        resolve_tasks("MT10", [])
    with pytest.raises(ValueError, match="string"):
        resolve_tasks("MT10", "reach")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(max_episode_steps=0), "max_episode_steps"),
        (dict(max_episode_steps=501), "max_episode_steps"),
        (dict(envs_per_task=0), "envs_per_task"),
        (dict(backend="async"), "'async'.*gym_vector"),
        (dict(reward_function_version="v3"), "reward_function_version"),
        (dict(seed=-1), "seed"),
        (dict(tasks=["nope"]), "'nope'"),
    ],
)
def test_make_env_rejects_bad_arguments(kwargs, match):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=match):
        make_metaworld_env(**kwargs)
    assert time.perf_counter() - t0 < 1.0  # validated before the benchmark is built


# --------------------------------------------------------------------------- env contract


@pytest.mark.parametrize("backend", BACKENDS)
def test_specs_keys_shapes(envs, backend):
    env = envs[backend]
    assert env.task_names == ("reach-v3", "push-v3", "window-close-v3") and env.num_tasks == 3
    assert env.batch_size == torch.Size([B])
    check_env_specs(env)
    td = env.rollout(3)
    expected = {
        "observation": (torch.float32, (B, 3, 39)),
        "task_id": (torch.int64, (B, 3)),
        "success": (torch.bool, (B, 3)),
    }
    for key, (dtype, shape) in expected.items():
        for k in (key, ("next", key)):
            assert td[k].dtype == dtype and td[k].shape == shape, k
    for key in ("reward", "done", "terminated", "truncated"):
        assert td["next", key].shape == (B, 3, 1)
        assert td["next", key].dtype == (torch.float32 if key == "reward" else torch.bool)
    # task-major: env i runs task i // envs_per_task
    assert td["task_id"][:, 0].tolist() == [0, 0, 1, 1, 2, 2]
    assert (td["next", "task_id"] == td["task_id"]).all()
    assert not td["success"].any()  # success is False at reset


@pytest.mark.parametrize("backend", BACKENDS)
def test_goal_visible_and_resampled_each_reset(envs, backend):
    env = envs[backend]
    goal_1 = env.reset()["observation"][:, 36:39]
    goal_2 = env.reset()["observation"][:, 36:39]
    assert (goal_1.abs().sum(-1) > 0).all() and (goal_2.abs().sum(-1) > 0).all()
    assert ((goal_1 - goal_2).abs().sum(-1) > 1e-4).all()  # a new goal for every env
    # two envs of the same task do not share their goal sequence
    assert ((goal_1[0::2] - goal_1[1::2]).abs().sum(-1) > 1e-4).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncation_exactly_at_max_episode_steps(envs, backend):
    env = envs[backend]
    td = env.rollout(T + 5, break_when_any_done=True)
    assert td.shape == (B, T)  # stopped by the time limit, not earlier
    truncated, terminated = td["next", "truncated"][..., 0], td["next", "terminated"][..., 0]
    assert truncated[:, -1].all() and not truncated[:, :-1].any()
    assert not terminated.any()
    assert (td["next", "done"][..., 0] == truncated).all()


def test_auto_reset_through_step_and_maybe_reset(envs):
    env = envs["gym_vector"]
    td = _play(env, _actions(2 * T + 3, B))
    truncated = td["next", "truncated"][:, :, 0]
    assert truncated.nonzero()[:, 0].unique().tolist() == [T - 1, 2 * T - 1]
    goals = td["observation"][:, :, 36:39]
    assert ((goals[T] - goals[T - 1]).abs().sum(-1) > 1e-4).all()  # new goal after the reset
    assert (goals[1:T] == goals[0]).all()  # fixed goal within an episode


def test_the_last_steps_success_survives_the_reset_after_it():
    """A sub-env that reports success at its final step: the reset that follows in
    ``step_and_maybe_reset`` must not clear the flag in the data of that step (it did when the
    output aliased the env's success buffer; evaluation reads success at any step of such data)."""
    env = _make("gym_vector", max_episode_steps=2)
    sub = env.gym_env.envs[0]
    step = sub.step
    sub.step = lambda action: (*step(action)[:4], {"success": 1.0})
    data = _play(env, _actions(4, B))
    assert data["next", "truncated"][1, 0, 0] and data["next", "truncated"][3, 0, 0]
    assert data["next", "success"][:, 0].tolist() == [True, True, True, True]
    assert not data["next", "success"][:, 1:].any()
    env.close()


def test_backends_and_seeds_agree():
    """Same seed and actions give identical data on every backend (sub-env i is seeded (seed, i))."""
    actions = _actions(T + 5, B, seed=1)
    ref = _play(_make("gym_vector"), actions)
    for data in (_play(_make("serial"), actions), _play(_make("gym_vector"), actions)):
        for key in ("observation", ("next", "observation"), ("next", "reward"), ("next", "success")):
            assert torch.equal(ref[key], data[key]), key


def test_set_seed_is_reproducible(envs):
    env = envs["gym_vector"]
    env.set_seed(123)
    first = env.reset()["observation"]
    env.reset()
    env.set_seed(123)
    assert torch.equal(env.reset()["observation"], first)
    env.set_seed(124)
    assert not torch.equal(env.reset()["observation"][:, 36:], first[:, 36:])


def test_partial_reset(envs):
    env = envs["gym_vector"]
    td = env.reset()
    for a in _actions(5, B):
        td["action"] = a
        td = env.step(td)["next"].clone()
    before = td["observation"].clone()
    mask = torch.tensor([True, False, False, True, False, False]).unsqueeze(-1)
    td["_reset"] = mask
    after = env.reset(td)["observation"]
    assert torch.equal(after[~mask[:, 0]], before[~mask[:, 0]])
    fresh = env.reset()["observation"]  # the hand restarts from the same initial position
    assert torch.allclose(after[mask[:, 0], :3], fresh[mask[:, 0], :3], atol=1e-3)
    assert not torch.allclose(before[mask[:, 0], :3], after[mask[:, 0], :3], atol=1e-3)


def test_reward_function_version_is_passed_through():
    actions = _actions(10, 1)
    v1, v2 = (
        _play(make_metaworld_env(tasks=["push"], reward_function_version=v, backend="gym_vector"), actions)
        for v in ("v1", "v2")
    )
    assert torch.equal(v1["next", "observation"], v2["next", "observation"])  # same dynamics and goals
    assert not torch.allclose(v1["next", "reward"], v2["next", "reward"])


@pytest.mark.filterwarnings("ignore:Constant")
def test_scripted_policy_reaches_success():
    """Meta-World's scripted policies solve reach / window-close through the env: `success` is wired."""
    from metaworld.policies import SawyerReachV3Policy, SawyerWindowCloseV3Policy

    env = make_metaworld_env(tasks=["reach", "window-close"], max_episode_steps=150, backend="gym_vector")
    assert isinstance(env, MetaWorldVecEnv)
    policies = [SawyerReachV3Policy(), SawyerWindowCloseV3Policy()]
    td = env.reset()
    ever = torch.zeros(2, dtype=torch.bool)
    first_success = [None, None]
    for t in range(150):
        obs = td["observation"].double().numpy()
        actions = np.stack([policy.get_action(o) for policy, o in zip(policies, obs)])
        td["action"] = torch.as_tensor(actions, dtype=torch.float32)
        td = env.step(td)["next"]
        for i in range(2):
            if td["success"][i] and first_success[i] is None:
                first_success[i] = t
        ever |= td["success"]
    assert ever.all(), first_success
    assert first_success[0] > 0 and first_success[1] > 0  # earned, not there at the first step


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_outputs_on_device():
    env = make_metaworld_env(tasks=["reach"], max_episode_steps=5, backend="gym_vector", device="cuda")
    td = env.rollout(5)
    assert td["observation"].device.type == "cuda" and td["next", "success"].device.type == "cuda"


def test_parallel_backend_matches_gym_vector():
    kw = dict(tasks=["reach", "push"], max_episode_steps=T, seed=0)
    env = make_metaworld_env(backend="parallel", **kw)
    try:
        check_env_specs(env)
        assert env.task_names == ("reach-v3", "push-v3") and env.batch_size == (2,)
        data = _play(env, _actions(T + 2, 2, seed=2))
        ref = _play(make_metaworld_env(backend="gym_vector", **kw), _actions(T + 2, 2, seed=2))
        assert set(data.keys(True, True)) == set(ref.keys(True, True))
        for key in data.keys(True, True):
            assert data[key].shape == ref[key].shape and data[key].dtype == ref[key].dtype, key
        assert data["task_id"][0].tolist() == [0, 1]
        assert data["next", "truncated"][T - 1].all() and not data["next", "truncated"][: T - 1].any()
    finally:
        env.close()
