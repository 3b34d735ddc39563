"""Tests of the PaCo optimizer and the Algorithm-1 update step (PaCoUpdateStep)."""
from __future__ import annotations

import pytest
import torch
from torchrl.objectives import SoftUpdate

from paco_torchrl.objectives import PaCoUpdateStep, WReset, make_paco_optimizer

from sac_case import T, _actor_w, _batch, _build, _convex_coeffs, _nan_batch

torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# --------------------------------------------------------------------------- optimizer / update step


def test_make_paco_optimizer_groups():
    actor, _, loss = _build()
    opt = make_paco_optimizer(loss)
    groups = {g["name"]: g for g in opt.param_groups}
    assert set(groups) == {"alpha", "w", "phi"}
    assert groups["alpha"]["lr"] == 1e-4 and groups["alpha"]["params"] == [loss.log_alpha]
    assert groups["w"]["lr"] == 3e-4 and len(groups["w"]["params"]) == 1
    assert groups["w"]["params"][0] is _actor_w(actor)
    assert groups["phi"]["lr"] == 3e-4
    all_ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(all_ids) == sorted(id(p) for p in loss.parameters())
    assert opt.defaults["eps"] == 1e-7
    opt2 = make_paco_optimizer(loss, lr=1e-3, alpha_lr=2e-4, w_lr=5e-3)
    assert [(g["name"], g["lr"]) for g in opt2.param_groups] == [("alpha", 2e-4), ("w", 5e-3), ("phi", 1e-3)]


def test_make_paco_optimizer_separate_critic_w_in_w_group():
    actor, qvalues, loss = _build(share_w=False)
    opt = make_paco_optimizer(loss, w_lr=1e-2)
    w_group = next(g for g in opt.param_groups if g["name"] == "w")
    ids = {id(p) for p in w_group["params"]}
    assert id(_actor_w(actor)) in ids
    assert id(qvalues[0].module.net.task_weights.weight) in ids


def _update_step(loss, **kwargs):
    opt = make_paco_optimizer(loss)
    reset = WReset(loss.task_weight_tensors(), opt, generator=torch.Generator().manual_seed(0))
    return PaCoUpdateStep(loss, opt, SoftUpdate(loss, tau=0.005), w_reset=reset, **kwargs), opt


def test_update_step_metrics_and_progress():
    actor, _, loss = _build()
    step, _ = _update_step(loss)
    w = _actor_w(actor)
    before = {n: p.detach().clone() for n, p in loss.named_parameters()}
    m = step(_batch())
    assert m.batch_size == (T,)
    for key in ("kept", "over_threshold", "reset", "loss_actor", "loss_qvalue", "loss_alpha", "alpha"):
        assert key in m.keys()
    assert m["kept"].all() and not m["over_threshold"].any() and not m["reset"].any()
    assert all(not torch.equal(p, before[n]) for n, p in loss.named_parameters())
    assert not torch.equal(w, before["actor_network_params.module.0.module.net.task_weights.weight"])
    assert not any(t.requires_grad for t in m.values())


def test_update_step_nan_task_masked_and_reset():
    actor, _, loss = _build()
    step, _ = _update_step(loss)
    w = _actor_w(actor)
    m = step(_nan_batch())
    assert m["over_threshold"].tolist() == [False, True, False]
    assert m["kept"].tolist() == [True, False, True]
    assert m["reset"].tolist() == [False, True, False]
    assert torch.isnan(m["loss_qvalue"][1])
    for name, p in loss.named_parameters():
        assert torch.isfinite(p).all(), name
    for t in loss.task_weight_tensors().values():
        assert torch.isfinite(t).all()
    beta = _convex_coeffs(w.detach()[[0, 2]], w.detach()[1])
    assert (beta >= -1e-5).all(), beta
    # next call: targets resynchronised, everything finite on a clean batch
    m2 = step(_batch(7))
    assert torch.isfinite(torch.stack([m2[k] for k in ("loss_actor", "loss_qvalue", "loss_alpha")])).all()
    assert m2["reset"].tolist() == [False] * T


def test_update_step_vanilla_nan_damage():
    _, _, loss = _build()
    step, _ = _update_step(loss, loss_maskout=False)
    total, _, mask, under = step.compute_loss(_nan_batch())
    assert mask.all() and under.tolist() == [True, False, True]
    m = step(_nan_batch())
    params_finite = all(torch.isfinite(p).all() for p in loss.parameters())
    assert not torch.isfinite(total) or not params_finite
    assert m["kept"].all()
    # with maskout the same total is finite
    _, _, loss2 = _build()
    step2, _ = _update_step(loss2)
    assert torch.isfinite(step2.compute_loss(_nan_batch())[0])


def test_update_step_bad_threshold():
    _, _, loss = _build()
    with pytest.raises(ValueError):
        PaCoUpdateStep(loss, make_paco_optimizer(loss), loss_threshold=0.0)


def test_state_dict_round_trip_keeps_w_shared():
    """load_state_dict restores every tensor and leaves the critics' W a view of the actor's W."""
    actor, qvalues, loss = _build(1, share_w=True)
    actor2, qvalues2, loss2 = _build(2, share_w=True)
    assert not torch.equal(_actor_w(actor), _actor_w(actor2))
    loss2.load_state_dict(loss.state_dict())
    for key, value in loss.state_dict().items():
        assert torch.equal(value, loss2.state_dict()[key]), key
    w2 = _actor_w(actor2)
    view = loss2.task_weight_tensors()
    critic_view = next(v for k, v in view.items() if k.startswith("qvalue."))
    assert critic_view.data_ptr() == w2.data_ptr()
    with torch.no_grad():
        w2.add_(1.0)
    assert torch.equal(critic_view[0], w2)
