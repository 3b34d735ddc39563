"""Tests of the PaCo actor / critic builders (TorchRL modules)."""
from __future__ import annotations

import math

import pytest
import torch
from tensordict import TensorDict
from torchrl.data import Bounded
from torchrl.envs.utils import ExplorationType, set_exploration_type
from torchrl.modules import ProbabilisticActor, ValueOperator
from torchrl.objectives import SACLoss

from paco_torchrl.modules import (
    GaussianPolicyNet,
    QValueNet,
    find_task_weights,
    make_paco_actor,
    make_paco_actor_critic,
    make_paco_qvalue,
)
from paco_torchrl.nn import CompositionalMLP, OneHotTaskMLP, TaskWeights

from sac_case import ACT, CELLS, OBS, K, N, T, _batch, _tid

torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _obs_td(seed: int = 0) -> TensorDict:
    torch.manual_seed(seed)
    return TensorDict({"observation": torch.randn(T, N, OBS), "task_id": _tid()}, [T, N])


def _actor_net(actor: ProbabilisticActor):
    return actor.module[0].module.net


def _critic_net(q: ValueOperator):
    return q.module.net


# --------------------------------------------------------------------------- actor


def test_actor_keys_and_shapes():
    torch.manual_seed(0)
    actor = make_paco_actor(OBS, ACT, T, K, CELLS)
    assert isinstance(actor, ProbabilisticActor)
    assert isinstance(actor.module[0].module, GaussianPolicyNet)
    assert isinstance(_actor_net(actor), CompositionalMLP)
    out = actor(_obs_td())
    assert set(out.keys()) == {"observation", "task_id", "loc", "scale", "action"}
    for key in ("loc", "scale", "action"):
        assert out[key].shape == (T, N, ACT)
    assert (out["scale"] > 0).all()
    assert (out["action"].abs() <= 1).all()
    flat = actor(TensorDict({"observation": torch.randn(7, OBS), "task_id": torch.randint(0, T, (7,))}, [7]))
    assert flat["action"].shape == (7, ACT)


def test_actor_actions_in_bounds_and_random():
    torch.manual_seed(1)
    actor = make_paco_actor(OBS, ACT, T, K, CELLS)
    td = _obs_td()
    with torch.no_grad():
        a1 = actor(td.clone())["action"]
        a2 = actor(td.clone())["action"]
        assert not torch.equal(a1, a2)  # random sampling by default
        # scale up Φ so that |loc| is large: tanh must still keep actions in [-1, 1]
        for p in _actor_net(actor).layers.parameters():
            p.mul_(20)
        big = actor(td.clone())
    assert big["loc"].abs().max() > 10
    for a in (a1, a2, big["action"]):
        assert (a.abs() <= 1).all()


def test_actor_bounded_spec():
    spec = Bounded(low=torch.tensor([-2.0, 0.0]), high=torch.tensor([2.0, 0.5]), shape=(2,))
    torch.manual_seed(2)
    actor = make_paco_actor(OBS, spec, T, K, CELLS)
    a = actor(_obs_td())["action"]
    assert (a[..., 0] >= -2).all() and (a[..., 0] <= 2).all()
    assert (a[..., 1] >= 0).all() and (a[..., 1] <= 0.5).all()


def test_actor_deterministic_is_tanh_loc():
    torch.manual_seed(3)
    actor = make_paco_actor(OBS, ACT, T, K, CELLS)
    with set_exploration_type(ExplorationType.DETERMINISTIC), torch.no_grad():
        out1 = actor(_obs_td())
        out2 = actor(_obs_td())
    torch.testing.assert_close(out1["action"], torch.tanh(out1["loc"]), atol=1e-6, rtol=0)
    assert torch.equal(out1["action"], out2["action"])


def test_actor_log_std_clamped():
    torch.manual_seed(4)
    actor = make_paco_actor(OBS, ACT, T, K, CELLS, log_std_bounds=(-1.0, 0.5))
    with torch.no_grad():
        for p in _actor_net(actor).layers.parameters():
            p.mul_(50)
        scale = actor(_obs_td())["scale"]
    assert scale.min() >= math.exp(-1.0) - 1e-6
    assert scale.max() <= math.exp(0.5) + 1e-6
    # with big weights the clamp is active on both sides
    assert torch.isclose(scale, torch.tensor(math.exp(-1.0))).any()
    assert torch.isclose(scale, torch.tensor(math.exp(0.5))).any()


def test_actor_loc_is_first_half_of_net_output():
    torch.manual_seed(5)
    actor = make_paco_actor(OBS, ACT, T, K, CELLS)
    td = _obs_td()
    out = actor(td.clone())
    raw = _actor_net(actor)(td["observation"], td["task_id"])
    assert torch.equal(out["loc"], raw[..., :ACT])
    torch.testing.assert_close(out["scale"], raw[..., ACT:].clamp(-10, 2).exp())


# --------------------------------------------------------------------------- critic


def test_qvalue_shape():
    torch.manual_seed(6)
    q = make_paco_qvalue(OBS, ACT, T, K, CELLS)
    assert isinstance(q, ValueOperator)
    assert isinstance(q.module, QValueNet)
    td = _batch().exclude("next")
    out = q(td)
    assert out["state_action_value"].shape == (T, N, 1)
    ref = _critic_net(q)(torch.cat([td["observation"], td["action"]], -1), td["task_id"])
    assert torch.equal(out["state_action_value"], ref)
    qf = q(TensorDict({"observation": torch.randn(7, OBS), "action": torch.rand(7, ACT),
                       "task_id": torch.randint(0, T, (7,))}, [7]))
    assert qf["state_action_value"].shape == (7, 1)


def test_qvalue_one_hot_variant():
    q = make_paco_qvalue(OBS, ACT, T, K, CELLS, compositional=None)
    assert isinstance(_critic_net(q), OneHotTaskMLP)
    assert find_task_weights(q) == []
    assert q(_batch().exclude("next"))["state_action_value"].shape == (T, N, 1)


# --------------------------------------------------------------------------- actor-critic


@pytest.mark.parametrize("share_w", [True, False])
@pytest.mark.parametrize("scope", ["all", "actor", "output"])
def test_actor_critic_structure(scope, share_w):
    torch.manual_seed(7)
    actor, qvalues = make_paco_actor_critic(OBS, ACT, T, K, CELLS, scope=scope, share_w=share_w)
    assert len(qvalues) == 2
    anet = _actor_net(actor)
    assert isinstance(anet, CompositionalMLP)
    assert anet.compositional == ("output" if scope == "output" else "all")
    actor_w = anet.task_weights
    assert find_task_weights(actor) == [actor_w]
    cnets = [_critic_net(q) for q in qvalues]
    if scope == "actor":
        for net in cnets:
            assert isinstance(net, OneHotTaskMLP)
            assert find_task_weights(net) == []
    else:
        for net in cnets:
            assert isinstance(net, CompositionalMLP)
            assert net.compositional == scope
        if share_w:
            assert all(net.task_weights is actor_w for net in cnets)
        else:
            assert cnets[0].task_weights is cnets[1].task_weights
            assert cnets[0].task_weights is not actor_w
            assert isinstance(cnets[0].task_weights, TaskWeights)
    # critics' Φ are independent (different init), actor/critic outputs have the right shapes
    p0 = list(cnets[0].parameters())
    p1 = list(cnets[1].parameters())
    assert any(not torch.equal(a, b) for a, b in zip(p0, p1) if a.shape == b.shape and a is not b)
    batch = _batch()
    assert actor(batch.exclude("next"))["action"].shape == (T, N, ACT)
    for q in qvalues:
        assert q(batch.exclude("next"))["state_action_value"].shape == (T, N, 1)


def test_actor_critic_num_qvalue_nets():
    _, qvalues = make_paco_actor_critic(OBS, ACT, T, K, CELLS, num_qvalue_nets=3)
    assert len(qvalues) == 3


def test_actor_critic_bad_scope():
    with pytest.raises(ValueError):
        make_paco_actor_critic(OBS, ACT, T, K, CELLS, scope="critic")


def test_find_task_weights_distinct():
    tw = TaskWeights(T, K)
    m = torch.nn.ModuleList(
        [CompositionalMLP(OBS, 1, CELLS, T, K, task_weights=tw), CompositionalMLP(OBS, 1, CELLS, T, K, task_weights=tw)]
    )
    assert find_task_weights(m) == [tw]


# --------------------------------------------------------------------------- stock SACLoss


def test_stock_sac_loss():
    torch.manual_seed(8)
    actor, qvalues = make_paco_actor_critic(OBS, ACT, T, K, CELLS)
    loss = SACLoss(actor, qvalues, loss_function="l2")
    out = loss(_batch())
    for key in ("loss_actor", "loss_qvalue", "loss_alpha"):
        assert out[key].shape == ()
        assert torch.isfinite(out[key])
    w = _actor_net(actor).task_weights.weight
    assert w.grad is None
    (out["loss_actor"] + out["loss_qvalue"] + out["loss_alpha"]).backward()
    assert w.grad is not None and w.grad.abs().sum() > 0
    assert torch.isfinite(w.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in loss.parameters() if p.grad is not None)
