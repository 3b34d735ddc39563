"""The toy multi-task env: TorchRL contract, task-dependent targets, truncation, partial resets."""
from __future__ import annotations

import math

import pytest
import torch
from torchrl.envs.utils import check_env_specs

from paco_torchrl.envs.toy import MultiTaskPointEnv, toy_task_names


def test_specs_and_layout():
    env = MultiTaskPointEnv(num_tasks=3, envs_per_task=2, max_episode_steps=7, seed=0)
    check_env_specs(env)
    td = env.rollout(15, break_when_any_done=False)
    assert td.shape == (6, 15)
    assert td["task_id"][:, 0].tolist() == [0, 0, 1, 1, 2, 2]
    assert td["observation"].dtype == torch.float32 and td["observation"].shape == (6, 15, 4)
    assert td["next", "success"].shape == (6, 15) and td["next", "success"].dtype == torch.bool
    truncated = td["next", "truncated"][..., 0]
    assert truncated.nonzero()[:, 1].unique().tolist() == [6, 13]  # every 7 steps, all envs
    assert not td["next", "terminated"].any()
    # a new goal after every reset
    goal = td["observation"][..., 2:]
    assert not torch.allclose(goal[:, 6], goal[:, 7])
    assert torch.equal(goal[:, 0], goal[:, 6])


def test_targets_are_rotated_goals_and_reward_is_minus_distance():
    env = MultiTaskPointEnv(num_tasks=4, seed=1)
    td = env.reset()
    goal = td["observation"][:, 2:]
    step = env.step(td.set("action", torch.zeros(4, 2)))["next"]
    pos = step["observation"][:, :2]
    for tau in range(4):
        angle = 2 * math.pi * tau / 4
        rot = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        target = rot @ goal[tau]
        assert step["reward"][tau, 0].item() == pytest.approx(-(pos[tau] - target).norm().item(), abs=1e-6)


def test_scripted_policy_succeeds_and_success_flag_tracks_distance():
    env = MultiTaskPointEnv(num_tasks=4, max_episode_steps=20, seed=2)
    td = env.reset()
    for _ in range(20):
        obs = td["observation"]
        pos, goal = obs[:, :2], obs[:, 2:]
        target = torch.stack([(env._rotation[i] @ goal[i]) for i in range(4)])
        td = env.step(td.set("action", ((target - pos) / env.step_size).clamp(-1, 1)))
        td = td["next"].clone()
    dist = (td["observation"][:, :2] - target).norm(dim=-1)
    assert (dist < env.success_radius).all() and td["success"].all()


def test_partial_reset_keeps_other_envs():
    env = MultiTaskPointEnv(num_tasks=2, seed=3)
    td = env.reset()
    td = env.step(td.set("action", torch.ones(2, 2)))["next"].clone()
    before = td["observation"].clone()
    td.set("_reset", torch.tensor([[True], [False]]))
    after = env.reset(td)["observation"]
    assert torch.equal(after[1], before[1]) and not torch.equal(after[0], before[0])


def test_names_and_validation():
    assert toy_task_names(4) == ("rotate-0", "rotate-90", "rotate-180", "rotate-270")
    with pytest.raises(ValueError):
        MultiTaskPointEnv(num_tasks=0)
