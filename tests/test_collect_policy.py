"""The lean collection policy (TanhNormalSampler) acts bit-identically to the actor it samples."""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from tensordict import TensorDict
from torchrl.collectors import Collector
from torchrl.data import Bounded
from torchrl.envs.utils import ExplorationType, set_exploration_type

from paco_torchrl.algos import ALGOS
from paco_torchrl.envs.toy import MultiTaskPointEnv
from paco_torchrl.modules import TanhNormalSampler, deterministic_twin, make_paco_actor
from paco_torchrl.training import RunConfig
from paco_torchrl.training.losses import make_loss

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
OBS, ACT = 7, 3


def _actor(algo: str, num_tasks: int):
    cfg = OmegaConf.structured(RunConfig)
    cfg.network.num_cells = [32, 32]
    cfg.paco.num_param_sets = 2
    actor, _ = ALGOS[algo].build_networks(cfg, OBS, Bounded(-1.0, 1.0, (ACT,)), num_tasks)
    return actor


def _batch(shape, num_tasks):
    return TensorDict({"observation": torch.randn(*shape, OBS) * 3, "task_id": torch.randint(num_tasks, shape)}, shape)


@pytest.mark.parametrize("algo", ["paco", "single_task", "mhsac", "mtsac"])
@pytest.mark.parametrize("shape", [(1,), (4,), (12,), (3, 4)])
def test_sampled_actions_equal_the_actors(algo, shape):
    T = 4
    actor = _actor(algo, T)
    policy = TanhNormalSampler(actor)
    td = _batch(shape, T)
    for mode in (ExplorationType.RANDOM, None):  # the collector's setting, and the actor's default
        with torch.no_grad(), set_exploration_type(mode):
            torch.manual_seed(3)
            expected = actor(td.clone())
            torch.manual_seed(3)
            got = policy(td.clone())
            after = torch.rand(1)  # the same number of random draws: the streams continue alike
            torch.manual_seed(3)
            actor(td.clone())
            assert torch.equal(torch.rand(1), after)
        assert got["action"].shape == (*shape, ACT)
        for key in ("action", "loc", "scale"):
            assert torch.equal(got[key], expected[key]), key
    assert set(policy.out_keys) == set(actor.out_keys) and set(policy.in_keys) == set(actor.in_keys)


def test_deterministic_mode_calls_the_actor():
    actor = _actor("paco", 3)
    policy = TanhNormalSampler(actor)
    td = _batch((5,), 3)
    with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
        a, b = actor(td.clone())["action"], policy(td.clone())["action"]
    assert torch.equal(a, b)
    with torch.no_grad():  # and the sampled action differs from the deterministic one
        with set_exploration_type(ExplorationType.RANDOM):
            assert not torch.equal(policy(td.clone())["action"], a)


def test_follows_parameter_updates_and_gradients():
    actor = _actor("paco", 2)
    policy = TanhNormalSampler(actor)
    td = _batch((4,), 2)
    with torch.no_grad():
        for p in actor.parameters():
            p.add_(0.1)
    torch.manual_seed(0)
    a = actor(td.clone())["action"]
    torch.manual_seed(0)
    b = policy(td.clone())["action"]
    assert torch.equal(a, b)
    b.sum().backward()  # rsample: the action is differentiable in the actor's parameters, as TanhNormal's
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in actor.parameters())


def test_unsupported_actors_are_refused():
    assert not TanhNormalSampler.supports(deterministic_twin(_actor("paco", 2), Bounded(-1.0, 1.0, (ACT,))))
    wide = make_paco_actor(OBS, Bounded(-2.0, 2.0, (ACT,)), num_tasks=2, num_param_sets=2, num_cells=(8,))
    assert not TanhNormalSampler.supports(wide)
    with pytest.raises(ValueError, match="bounds"):
        TanhNormalSampler(wide)


def test_the_recipes_sac_collects_through_it():
    cfg = OmegaConf.structured(RunConfig)
    actor, critics = ALGOS["paco"].build_networks(cfg, OBS, Bounded(-1.0, 1.0, (ACT,)), 2)
    parts = make_loss(cfg, OBS, Bounded(-1.0, 1.0, (ACT,)), 2, actor, critics, torch.device("cpu"))
    assert isinstance(parts.collect_policy, TanhNormalSampler) and parts.collect_policy.actor is parts.actor


def test_collector_batches_are_bit_identical():
    """A TorchRL collector on the toy env: the same frames with the sampler as with the actor."""
    def collect(policy):
        torch.manual_seed(11)
        env = MultiTaskPointEnv(num_tasks=2, envs_per_task=2, max_episode_steps=7, seed=5)
        collector = Collector(env, policy, frames_per_batch=4 * 10, total_frames=4 * 30,
                              auto_register_policy_transforms=False)
        out = torch.cat([b["action"].clone() for b in collector], -2)
        collector.shutdown()
        return out

    torch.manual_seed(0)
    actor = make_paco_actor(4, Bounded(-1.0, 1.0, (2,)), num_tasks=2, num_param_sets=2, num_cells=(16,))
    a, b = collect(actor), collect(TanhNormalSampler(actor))
    assert a.shape == (4, 30, 2) and torch.equal(a, b)
