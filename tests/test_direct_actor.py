"""The losses' direct actor sample equals TorchRL's TanhNormal under the parameter swap, bit for bit."""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from tensordict import TensorDict
from torchrl.data import Bounded
from torchrl.modules import ProbabilisticActor, TanhNormal

from paco_torchrl.algos import ALGOS
from paco_torchrl.modules import (
    UnitTanhNormal,
    make_paco_actor,
    tanh_normal_actor_problem,
    tanh_normal_rsample_and_log_prob,
)
from paco_torchrl.objectives import MultiTaskSACLoss
from paco_torchrl.objectives.direct_actor import DirectActorSample
from paco_torchrl.objectives.torchrl_private import set_params_entry
from paco_torchrl.training import RunConfig

torch.set_num_threads(1)
OBS, ACT = 5, 2


@pytest.mark.parametrize("dist_class", [TanhNormal, UnitTanhNormal])
@pytest.mark.parametrize("shape", [(7, 3), (2, 4, 3), (3,)])
def test_sample_and_log_prob_and_their_gradients_equal_tanh_normal(dist_class, shape):
    g = torch.Generator().manual_seed(0)
    loc0 = torch.randn(shape, generator=g) * 3
    loc0.view(-1)[:2] = torch.tensor([20.0, -20.0])  # saturated tanh
    scale0 = torch.rand(shape, generator=g) + 0.05
    results = []
    for direct in (True, False):
        loc, scale = loc0.clone().requires_grad_(), scale0.clone().requires_grad_()
        torch.manual_seed(3)
        if direct:
            action, log_prob = tanh_normal_rsample_and_log_prob(loc, scale)
        else:
            action, log_prob = dist_class(loc, scale).rsample_and_log_prob()
        (action.square().sum() + 0.7 * log_prob.sum()).backward()
        results.append((action.detach(), log_prob.detach(), loc.grad, scale.grad))
    assert results[0][1].shape == shape[:-1]
    for mine, theirs in zip(*results):
        assert torch.equal(mine, theirs)


def _networks(kind: str, T: int, K: int):
    cfg = OmegaConf.structured(RunConfig)
    cfg.network.num_cells, cfg.paco.num_param_sets, cfg.paco.identical_init = [16, 16], K, False
    return ALGOS[kind].build_networks(cfg, OBS, Bounded(-1.0, 1.0, (ACT,)), T)


def _batch(T: int, n: int) -> TensorDict:
    g = torch.Generator().manual_seed(0)
    tid = torch.arange(T)[:, None].expand(T, n)
    return TensorDict(
        {"observation": torch.randn(T, n, OBS, generator=g), "action": torch.rand(T, n, ACT, generator=g) * 2 - 1,
         "task_id": tid,
         "next": {"observation": torch.randn(T, n, OBS, generator=g), "task_id": tid,
                  "reward": torch.randn(T, n, 1, generator=g), "done": torch.zeros(T, n, 1, dtype=torch.bool),
                  "terminated": torch.zeros(T, n, 1, dtype=torch.bool)}},
        [T, n],
    )


def _run(loss: MultiTaskSACLoss, batch: TensorDict):
    loss.zero_grad(set_to_none=True)
    torch.manual_seed(1)
    td = batch.clone()
    out = loss(td)
    (out["loss_actor"] + out["loss_qvalue"] + out["loss_alpha"]).sum().backward()
    grads = {name: p.grad.clone() for name, p in loss.named_parameters() if p.grad is not None}
    return out.detach(), grads, td


@pytest.mark.parametrize("form", ["dqda", "q"])
@pytest.mark.parametrize("kind, T, K", [("paco", 3, 2), ("paco", 1, 1), ("single_task", 1, 1), ("mtsac", 3, 1)])
def test_loss_values_and_gradients_equal_torchrls_actor_path(kind, T, K, form, monkeypatch):
    torch.manual_seed(0)
    actor, critics = _networks(kind, T, K)
    loss = MultiTaskSACLoss(actor, critics, num_tasks=T, actor_loss_form=form)
    assert loss._direct_actor is not None
    taken = []
    real = DirectActorSample.__call__
    monkeypatch.setattr(DirectActorSample, "__call__", lambda self, td, p: taken.append(real(self, td, p)) or taken[-1])
    batch = _batch(T, 4)
    out, grads, td = _run(loss, batch)
    assert len(taken) == 2 and all(sample is not None for sample in taken)  # actor loss and TD target
    loss.direct_actor = False  # TorchRL's get_dist under the parameter swap
    ref_out, ref_grads, ref_td = _run(loss, batch)
    assert len(taken) == 2
    for key in ref_out.keys():
        assert torch.equal(out[key], ref_out[key]), key
    assert grads.keys() == ref_grads.keys() and len(grads) > 0
    for name in grads:
        assert torch.equal(grads[name], ref_grads[name]), name
    assert set(td.keys(True, True)) == set(ref_td.keys(True, True))  # loc and scale written as get_dist writes them
    for key in ("loc", "scale"):
        assert torch.equal(td[key], ref_td[key])


def test_re_pointed_parameters_take_torchrls_path_and_use_them():
    torch.manual_seed(0)
    actor, critics = _networks("paco", 3, 2)
    loss = MultiTaskSACLoss(actor, critics, num_tasks=3)
    params = loss.actor_network_params
    assert loss._direct_actor.owns(params)
    key = next(k for k in params.keys(True, True) if k[-1] == "bias")
    set_params_entry(params, key, torch.nn.Parameter(params.get(key).detach() + 1.0))
    assert not loss._direct_actor.owns(params)
    batch = _batch(3, 4)
    out, _, _ = _run(loss, batch)
    loss.direct_actor = False
    ref_out, _, _ = _run(loss, batch)
    for k in ref_out.keys():  # both ran TorchRL's path with the re-pointed entry
        assert torch.equal(out[k], ref_out[k]), k
    with params.to_module(actor):  # and that entry is what the actor saw: its output differs from the module's own
        shifted = actor.module[0](batch.clone())["loc"]
    assert not torch.equal(shifted, actor.module[0](batch.clone())["loc"])


def test_other_actors_are_refused():
    actor = make_paco_actor(OBS, ACT, num_tasks=2, num_param_sets=2, num_cells=(8,))
    assert tanh_normal_actor_problem(actor) is None
    tanh_loc = ProbabilisticActor(actor.module[0], in_keys=["loc", "scale"], distribution_class=TanhNormal,
                                  distribution_kwargs={"tanh_loc": True}, spec=actor.spec["action"])
    wide = ProbabilisticActor(actor.module[0], in_keys=["loc", "scale"], distribution_class=TanhNormal,
                              distribution_kwargs={"low": -2.0, "high": 2.0})
    assert "not plain" in tanh_normal_actor_problem(tanh_loc)
    assert "bounds" in tanh_normal_actor_problem(wide)
    assert "ProbabilisticActor" in tanh_normal_actor_problem(actor.module[0])
    with pytest.raises(ValueError, match="DirectActorSample: the TanhNormal is not plain"):
        DirectActorSample(tanh_loc, TensorDict.from_module(tanh_loc))
    _, critics = _networks("paco", 2, 2)
    assert MultiTaskSACLoss(tanh_loc, critics, num_tasks=2, target_entropy=-2.0)._direct_actor is None
