"""Tests of MultiTaskSACLoss: loss values against references, and W shared through the loss."""
from __future__ import annotations

import math

import pytest
import torch

from paco_torchrl.modules import make_paco_actor_critic
from paco_torchrl.nn import TaskWeights
from paco_torchrl.objectives import MultiTaskSACLoss

from sac_case import (
    ACT, CELLS, OBS, QW_KEY, TW_KEY, W_KEY, K, N, T, _actor_w, _batch, _build, _record_rsample, _task_mean,
)

torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# --------------------------------------------------------------------------- MultiTaskSACLoss values


def test_loss_output_structure():
    _, _, loss = _build()
    out = loss(_batch())
    assert out.batch_size == (T,)
    assert set(out.keys()) == {"loss_actor", "loss_qvalue", "loss_alpha", "alpha", "entropy"}
    for key in out.keys():
        assert out[key].shape == (T,)
        assert torch.isfinite(out[key]).all()
    assert loss.log_alpha.shape == (T,)
    torch.testing.assert_close(loss.target_entropy, torch.tensor(ACT * math.log(0.2)))


def test_loss_bad_args():
    torch.manual_seed(0)
    actor, qvalues = make_paco_actor_critic(OBS, ACT, T, K, CELLS)
    with pytest.raises(ValueError):
        MultiTaskSACLoss(actor, qvalues, num_tasks=T, actor_loss_form="pg")
    with pytest.raises(ValueError):
        MultiTaskSACLoss(actor, qvalues, num_tasks=T, num_qvalue_nets=3)
    with pytest.raises(ValueError):
        MultiTaskSACLoss(actor, qvalues, num_tasks=0)


@pytest.mark.parametrize("layout", ["task_major", "flat_shuffled"])
@pytest.mark.parametrize("form", ["q", "dqda"])
def test_loss_matches_reference(monkeypatch, form, layout):
    """Every per-task entry equals a reference computed with explicit calls of the networks."""
    actor, qvalues, loss = _build(actor_loss_form=form)
    log_alpha = torch.tensor([-0.5, -1.0, -2.0])
    loss.log_alpha.data.copy_(log_alpha)
    batch = _batch(1)
    if layout == "flat_shuffled":
        perm = torch.randperm(T * N, generator=torch.Generator().manual_seed(3))
        batch = batch.reshape(-1)[perm]
    calls = _record_rsample(monkeypatch)
    out = loss(batch)
    assert len(calls) == 2  # next action (critic target), then action (actor)
    (next_a, next_lp), (a, lp) = calls
    tid = batch["task_id"]
    alpha = log_alpha.exp()
    te = ACT * math.log(0.2)
    nets = [q.module for q in qvalues]
    obs, act, nobs = batch["observation"], batch["action"], batch[("next", "observation")]
    with torch.no_grad():
        next_v = torch.stack([net(nobs, next_a, tid) for net in nets]).squeeze(-1)
        next_v = (next_v - alpha[tid] * next_lp).min(0).values
        target = batch[("next", "reward")].squeeze(-1) + 0.99 * next_v
        pred = torch.stack([net(obs, act, tid) for net in nets]).squeeze(-1)
        ref_q = ((pred - target) ** 2).sum(0)
    a_in = a.clone().requires_grad_(True)
    q_a = torch.stack([net(obs, a_in, tid) for net in nets]).squeeze(-1).min(0).values
    if form == "q":
        ref_actor = alpha[tid] * lp - q_a.detach()
    else:
        (dqda,) = torch.autograd.grad(q_a.sum(), a_in)
        ref_actor = alpha[tid] * lp + 0.5 * dqda.pow(2).sum(-1)
    ref_alpha = -log_alpha[tid] * (lp + te)
    torch.testing.assert_close(out["loss_qvalue"], _task_mean(ref_q, tid), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["loss_actor"], _task_mean(ref_actor, tid), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["loss_alpha"], _task_mean(ref_alpha, tid), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["entropy"], _task_mean(-lp, tid), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["alpha"], alpha)
    # the relation between alpha loss and entropy, independent of the recorded samples
    torch.testing.assert_close(
        out["loss_alpha"], -log_alpha * (-out["entropy"] + te), atol=1e-5, rtol=1e-5
    )


def test_qvalue_loss_terminal_target_is_reward():
    _, qvalues, loss = _build(1)
    batch = _batch(2, terminated=True)
    out = loss(batch)
    tid, r = batch["task_id"], batch[("next", "reward")]
    with torch.no_grad():
        sq = sum((q.module(batch["observation"], batch["action"], tid) - r) ** 2 for q in qvalues)
    torch.testing.assert_close(out["loss_qvalue"], sq.squeeze(-1).mean(1), atol=1e-5, rtol=1e-5)


def test_actor_forms_gradient_equivalent():
    torch.manual_seed(0)
    actor, qvalues = make_paco_actor_critic(OBS, ACT, T, K, CELLS, identical_init=False)
    batch = _batch(3)
    params = list(actor.parameters())
    grads, values = {}, {}
    for form in ("q", "dqda"):
        loss = MultiTaskSACLoss(actor, qvalues, num_tasks=T, actor_loss_form=form)
        loss.log_alpha.data.copy_(torch.tensor([-0.3, -1.0, -2.0]))
        torch.manual_seed(123)
        out = loss(batch)
        values[form] = out["loss_actor"].detach()
        grads[form] = torch.autograd.grad(out["loss_actor"].sum(), params)
    assert not torch.allclose(values["q"], values["dqda"])  # values differ ...
    for gq, gd in zip(grads["q"], grads["dqda"]):  # ... gradients do not
        torch.testing.assert_close(gq, gd, atol=1e-5, rtol=1e-4)
    assert any(g.abs().sum() > 0 for g in grads["q"])


def test_truncation_bootstraps():
    """done without terminated (time-out) bootstraps: same loss as a non-done transition."""
    _, _, loss = _build(2)
    batch = _batch(8)
    truncated = batch.clone()
    truncated[("next", "done")].fill_(True)
    torch.manual_seed(5)
    ref = loss(batch)
    torch.manual_seed(5)
    out = loss(truncated)
    torch.testing.assert_close(out["loss_qvalue"], ref["loss_qvalue"], atol=0, rtol=0)
    terminated = truncated.clone()
    terminated[("next", "terminated")].fill_(True)
    torch.manual_seed(5)
    assert not torch.allclose(loss(terminated)["loss_qvalue"], ref["loss_qvalue"])


def test_deactivate_vmap_same_losses():
    _, _, loss = _build(3)
    _, _, loss_loop = _build(3, deactivate_vmap=True)
    batch = _batch(9)
    torch.manual_seed(11)
    a = loss(batch)
    torch.manual_seed(11)
    b = loss_loop(batch)
    for key in a.keys():
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-5)
    b["loss_qvalue"].sum().backward()
    assert loss_loop.task_weight_tensors()[W_KEY].grad.abs().sum() > 0


def test_dtype_cast_keeps_w_shared():
    actor, _, loss = _build()
    loss = loss.double()
    w = _actor_w(actor)
    tensors = loss.task_weight_tensors()
    assert w.dtype == tensors[QW_KEY].dtype == tensors[TW_KEY].dtype == torch.float64
    assert tensors[QW_KEY].data_ptr() == w.data_ptr()
    batch = _batch().apply(lambda x: x.double() if x.is_floating_point() else x)
    loss(batch)["loss_qvalue"].sum().backward()
    assert w.grad.abs().sum() > 0


def test_per_task_temperature():
    _, _, loss = _build()
    loss.log_alpha.data.copy_(torch.tensor([0.5, -1.0, -20.0]))
    out = loss(_batch())
    torch.testing.assert_close(out["alpha"], torch.tensor([1.0, math.exp(-1.0), math.exp(-10.0)]))
    # the clamp acts on log_alpha itself (max_alpha=1, min_alpha=e^-10)
    torch.testing.assert_close(loss.log_alpha.detach(), torch.tensor([0.0, -1.0, -10.0]))
    _, _, loss2 = _build(max_alpha=None, min_alpha=None)
    loss2.log_alpha.data.copy_(torch.tensor([0.5, -1.0, -20.0]))
    torch.testing.assert_close(loss2(_batch())["alpha"], torch.tensor([0.5, -1.0, -20.0]).exp())


def test_alpha_init_and_fixed_alpha():
    _, _, loss = _build(alpha_init=0.5, fixed_alpha=True)
    assert "log_alpha" in dict(loss.named_buffers())
    assert "log_alpha" not in dict(loss.named_parameters())
    torch.testing.assert_close(loss(_batch())["alpha"], torch.full((T,), 0.5))


# --------------------------------------------------------------------------- W sharing through the loss


def test_w_shared_views():
    actor, _, loss = _build()
    w = _actor_w(actor)
    tensors = loss.task_weight_tensors()
    assert set(tensors) == {W_KEY, QW_KEY, TW_KEY}
    assert tensors[W_KEY] is w
    qw, tw = tensors[QW_KEY], tensors[TW_KEY]
    assert qw.shape == tw.shape == (2, T, K)
    assert qw.data_ptr() == w.data_ptr() and qw.stride(0) == 0
    assert tw.data_ptr() != w.data_ptr()
    for i in range(2):
        assert torch.equal(qw[i], w) and torch.equal(tw[i], w)


def test_w_critic_loss_reaches_actor_w():
    actor, _, loss = _build()
    w = _actor_w(actor)
    out = loss(_batch())
    out["loss_qvalue"].sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_actor_loss_reaches_w_without_critic_w():
    actor, qvalues, loss = _build(scope="actor")
    assert set(loss.task_weight_tensors()) == {W_KEY}
    w = _actor_w(actor)
    out = loss(_batch())
    out["loss_actor"].sum().backward()
    assert w.grad.abs().sum() > 0
    # the critic loss never touches the actor's W when the critics hold none
    w.grad = None
    loss(_batch())["loss_qvalue"].sum().backward()
    assert w.grad is None or torch.equal(w.grad, torch.zeros_like(w))


def test_actor_loss_does_not_train_w_through_critics():
    """loss_actor's W gradient is the same whether or not the critics read W (they see it detached)."""
    actor, qvalues, loss = _build()
    w = _actor_w(actor)
    batch = _batch(4)
    torch.manual_seed(7)
    g_shared = torch.autograd.grad(loss(batch)["loss_actor"].sum(), w)[0]
    # same critics, but with their W frozen copies (not the actor's Parameter)
    frozen = TaskWeights(T, K, trainable=False)
    frozen.weight.copy_(w.detach())
    for q in qvalues:
        q.module.net.task_weights = frozen
    loss2 = MultiTaskSACLoss(actor, qvalues, num_tasks=T)
    torch.manual_seed(7)
    g_frozen = torch.autograd.grad(loss2(batch)["loss_actor"].sum(), w)[0]
    torch.testing.assert_close(g_shared, g_frozen, atol=1e-6, rtol=1e-5)


def test_target_w_synced_after_inplace_change():
    actor, _, loss = _build()
    w = _actor_w(actor)
    with torch.no_grad():
        w.add_(torch.randn_like(w))
    target = loss.task_weight_tensors()[TW_KEY]
    assert not torch.equal(target[0], w)
    loss(_batch())
    for i in range(2):
        assert torch.equal(target[i], w)


def test_target_w_not_synced_when_disabled():
    actor, _, loss = _build(sync_target_task_weights=False)
    w = _actor_w(actor)
    target = loss.task_weight_tensors()[TW_KEY]
    before = target.clone()
    with torch.no_grad():
        w.add_(1.0)
    loss(_batch())
    assert torch.equal(target, before)


@pytest.mark.parametrize("share_w", [True, False])
@pytest.mark.parametrize("key", ["loss_actor", "loss_qvalue"])
def test_gradient_isolation_through_loss(key, share_w):
    actor, qvalues, loss = _build(share_w=share_w)
    if key == "loss_qvalue" and not share_w:
        w = qvalues[0].module.net.task_weights.weight
        assert w is not _actor_w(actor)
    else:
        w = _actor_w(actor)
    out = loss(_batch(5))
    for tau in range(T):
        (g,) = torch.autograd.grad(out[key][tau], w, retain_graph=True)
        others = [t for t in range(T) if t != tau]
        assert torch.equal(g[others], torch.zeros_like(g[others])), (key, tau)
        assert g[tau].abs().sum() > 0, (key, tau)


def test_single_critic_replicated():
    torch.manual_seed(0)
    actor, qvalues = make_paco_actor_critic(OBS, ACT, T, K, CELLS)
    q = qvalues[0]
    loss = MultiTaskSACLoss(actor, q, num_tasks=T)
    params = loss.qvalue_network_params
    phi_keys = [k for k in params.keys(True, True) if "task_weights" not in k]
    assert phi_keys
    for k in phi_keys:
        p = params.get(k)
        assert p.shape[0] == 2
        assert not torch.equal(p[0], p[1]), k
    # the first critic is the one passed (its Φ unchanged, not redrawn)
    for name, p in q.named_parameters():
        if "task_weights" in name:
            continue
        assert torch.equal(params.get(tuple(name.split(".")))[0], p), name
    w = _actor_w(actor)
    qw = loss.task_weight_tensors()[QW_KEY]
    assert qw.data_ptr() == w.data_ptr() and torch.equal(qw[1], w)
    out = loss(_batch())
    out["loss_qvalue"].sum().backward()
    assert w.grad.abs().sum() > 0
