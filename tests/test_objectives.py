"""Tests of MultiTaskSACLoss, per-task reduction, loss maskout, w-reset and the Algorithm-1 update."""
from __future__ import annotations

import math

import pytest
import torch
from tensordict import TensorDict
from torchrl.objectives import SoftUpdate

import paco_torchrl.objectives.sac as sac_mod
from paco_torchrl.modules import make_paco_actor_critic
from paco_torchrl.nn import TaskWeights
from paco_torchrl.objectives import (
    MultiTaskSACLoss,
    PaCoUpdateStep,
    WReset,
    loss_maskout,
    make_paco_optimizer,
    masked_total_loss,
    per_task_mean,
    reduce_per_task,
    total_task_loss,
)

torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

OBS, ACT, T, K, N = 5, 2, 3, 2, 4
CELLS = (16,)
W_KEY = "actor.module.0.module.net.task_weights.weight"
QW_KEY = "qvalue.module.net.task_weights.weight"
TW_KEY = "target_qvalue.module.net.task_weights.weight"


def _tid(t: int = T, n: int = N) -> torch.Tensor:
    return torch.arange(t)[:, None].expand(t, n)


def _batch(seed: int = 0, n: int = N, terminated: bool = False) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    tid = _tid(T, n)
    flags = torch.full((T, n, 1), terminated, dtype=torch.bool)
    return TensorDict(
        {
            "observation": torch.randn(T, n, OBS, generator=g),
            "action": torch.rand(T, n, ACT, generator=g) * 2 - 1,
            "task_id": tid,
            "next": {
                "observation": torch.randn(T, n, OBS, generator=g),
                "task_id": tid,
                "reward": torch.randn(T, n, 1, generator=g),
                "done": flags.clone(),
                "terminated": flags.clone(),
            },
        },
        [T, n],
    )


def _build(seed: int = 0, *, share_w: bool = True, scope: str = "all", identical_init: bool = False, **loss_kwargs):
    torch.manual_seed(seed)
    actor, qvalues = make_paco_actor_critic(
        OBS, ACT, T, K, CELLS, scope=scope, share_w=share_w, identical_init=identical_init
    )
    loss = MultiTaskSACLoss(actor, qvalues, num_tasks=T, **loss_kwargs)
    return actor, qvalues, loss


def _actor_w(actor) -> torch.nn.Parameter:
    return actor.module[0].module.net.task_weights.weight


def _record_rsample(monkeypatch) -> list:
    calls = []
    orig = sac_mod.compute_rsample_log_prob

    def recording(dist):
        action, log_prob = orig(dist)
        calls.append((action.detach().clone(), log_prob.detach().clone()))
        return action, log_prob

    monkeypatch.setattr(sac_mod, "compute_rsample_log_prob", recording)
    return calls


def _task_mean(values: torch.Tensor, tid: torch.Tensor) -> torch.Tensor:
    return torch.stack([values[tid == t].mean() for t in range(T)])


# --------------------------------------------------------------------------- per_task_mean


class TestPerTaskMean:
    def test_values(self):
        v = torch.tensor([1.0, 2.0, 4.0, 10.0, -3.0, 7.0])
        tid = torch.tensor([0, 2, 0, 2, 2, 0])
        out = per_task_mean(v, tid, 4)
        assert torch.equal(out, torch.tensor([(1 + 4 + 7) / 3, 0.0, (2 + 10 - 3) / 3, 0.0]))

    def test_two_dims(self):
        v = torch.arange(12.0).view(3, 4)
        out = per_task_mean(v, _tid(3, 4), 3)
        torch.testing.assert_close(out, v.mean(1))

    def test_nan_isolated(self):
        v = torch.tensor([1.0, float("nan"), 3.0, float("inf"), 5.0])
        tid = torch.tensor([0, 1, 0, 1, 2])
        out = per_task_mean(v, tid, 3)
        assert torch.isnan(out[1])
        assert torch.equal(out[[0, 2]], torch.tensor([2.0, 5.0]))

    def test_gradients(self):
        v = torch.tensor([1.0, 2.0, 4.0, 5.0], requires_grad=True)
        tid = torch.tensor([0, 1, 0, 0])
        per_task_mean(v, tid, 2)[0].backward()
        assert torch.equal(v.grad, torch.tensor([1 / 3, 0.0, 1 / 3, 1 / 3]))

    def test_shape_mismatch(self):
        with pytest.raises(ValueError):
            per_task_mean(torch.ones(4), torch.zeros(3, dtype=torch.long), 2)

    def test_reduce_and_total(self):
        tid = torch.tensor([0, 1, 1])
        td = TensorDict({"loss_a": torch.tensor([1.0, 2.0, 4.0]), "loss_b": torch.tensor([0.5, 0.0, 1.0]),
                         "alpha": torch.tensor([9.0, 9.0, 9.0])}, [3])
        red = reduce_per_task(td, tid, 2)
        assert red.batch_size == (2,)
        assert torch.equal(red["loss_a"], torch.tensor([1.0, 3.0]))
        assert torch.equal(total_task_loss(red), torch.tensor([1.5, 3.5]))  # alpha not summed
        with pytest.raises(ValueError):
            total_task_loss(TensorDict({"alpha": torch.ones(2)}, [2]))


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


# --------------------------------------------------------------------------- NaN handling / maskout


def _nan_batch(seed: int = 6) -> TensorDict:
    batch = _batch(seed)
    batch[("next", "reward")][1, :2] = float("nan")
    return batch


def test_nan_reward_isolated_and_masked():
    actor, _, loss = _build()
    out = loss(_nan_batch())
    assert torch.isnan(out["loss_qvalue"][1])
    assert torch.isfinite(out["loss_qvalue"][[0, 2]]).all()
    mask = loss_maskout(out, 3e3)
    assert mask.tolist() == [True, False, True]
    masked_total_loss(out, mask).backward()
    for name, p in loss.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    w = _actor_w(actor)
    assert torch.equal(w.grad[1], torch.zeros(K))
    assert w.grad[[0, 2]].abs().sum() > 0
    assert loss.log_alpha.grad[1] == 0 and (loss.log_alpha.grad[[0, 2]] != 0).all()


def test_loss_maskout_tensor():
    losses = torch.tensor([1.0, 5e3, float("nan"), 3e3, float("inf"), -float("inf"), 2999.0])
    assert loss_maskout(losses, 3e3).tolist() == [True, False, False, True, False, False, True]
    assert loss_maskout(losses, torch.tensor(1.5)).tolist() == [True, False, False, False, False, False, False]


def test_loss_maskout_tensordict():
    td = TensorDict(
        {
            "loss_actor": torch.tensor([1.0, 2000.0, 1.0, 1.0]),
            "loss_qvalue": torch.tensor([1.0, 1500.0, float("nan"), 2.0]),
            "loss_alpha": torch.tensor([0.0, 0.0, 0.0, 2999.0]),
            "alpha": torch.tensor([1e6, 1.0, 1.0, 1.0]),  # not a loss_*: not part of J_τ
        },
        [4],
    )
    assert torch.equal(total_task_loss(td)[[0, 1, 3]], torch.tensor([2.0, 3500.0, 3002.0]))
    assert loss_maskout(td, 3e3).tolist() == [True, False, False, False]
    assert loss_maskout(td, 3.5e3).tolist() == [True, True, False, True]


def test_masked_total_loss_gradients():
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    losses = p**2 * torch.tensor([1.0, 1e4, 1.0, 1.0]) + torch.tensor([0.0, 0.0, float("nan"), 0.0])
    mask = loss_maskout(losses, 100.0)
    assert mask.tolist() == [True, False, False, True]
    total = masked_total_loss(losses, mask)
    assert total.item() == pytest.approx((1.0 + 16.0) / 4)
    total.backward()
    assert torch.equal(p.grad, torch.tensor([2 * 1.0 / 4, 0.0, 0.0, 2 * 4.0 / 4]))
    # TensorDict input: J_τ = Σ loss_*
    q = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    td = TensorDict({"loss_a": q * 3, "loss_b": q**2, "alpha": q * 100}, [2])
    m = torch.tensor([False, True])
    out = masked_total_loss(td, m)
    assert out.item() == pytest.approx((6.0 + 4.0) / 2)
    out.backward()
    assert torch.equal(q.grad, torch.tensor([0.0, (3 + 4) / 2]))


# --------------------------------------------------------------------------- WReset


def _convex_coeffs(kept_rows: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
    """β with Σβ = 1 and β·kept_rows = row (least squares, float64)."""
    a = torch.cat([kept_rows.T, torch.ones(1, kept_rows.shape[0], dtype=kept_rows.dtype)]).double()
    b = torch.cat([row, torch.ones(1, dtype=row.dtype)]).double()
    beta = torch.linalg.lstsq(a, b.unsqueeze(-1)).solution.squeeze(-1)
    torch.testing.assert_close(a @ beta, b, atol=1e-5, rtol=0)
    return beta


class TestWReset:
    def test_reset_rows_in_convex_hull(self):
        torch.manual_seed(0)
        tw = TaskWeights(5, 3)
        before = tw.weight.detach().clone()
        mask = torch.tensor([True, False, True, False, True])
        reset = WReset(tw, generator=torch.Generator().manual_seed(42))
        r = reset(mask)
        assert r.tolist() == [False, True, False, True, False]
        after = tw.weight.detach()
        assert torch.equal(after[mask], before[mask])
        kept_rows = before[mask]
        for i in (1, 3):
            assert not torch.equal(after[i], before[i])
            beta = _convex_coeffs(kept_rows, after[i])
            assert (beta >= -1e-5).all(), beta
        # the same β as sample_beta with the same generator state
        beta = WReset(TaskWeights(5, 3), generator=torch.Generator().manual_seed(42)).sample_beta(mask)
        assert (beta >= 0).all()
        torch.testing.assert_close(beta.sum(-1), torch.ones(5))
        assert torch.equal(beta[:, ~mask], torch.zeros(5, 2))
        torch.testing.assert_close(after[~mask], (beta @ before)[~mask], atol=1e-6, rtol=0)
        assert reset.reset_counts.tolist() == [0, 1, 0, 1, 0]
        reset(torch.tensor([True, True, False, False, True]))
        assert reset.reset_counts.tolist() == [0, 1, 1, 2, 0]

    def test_all_dropped_and_all_kept(self):
        tw = TaskWeights(4, 2)
        before = tw.weight.detach().clone()
        reset = WReset(tw)
        assert reset(torch.zeros(4, dtype=torch.bool)).tolist() == [False] * 4
        assert torch.equal(tw.weight, before) and torch.isfinite(tw.weight).all()
        assert reset(torch.ones(4, dtype=torch.bool)).tolist() == [False] * 4
        assert torch.equal(tw.weight, before)
        assert reset.reset_counts.tolist() == [0, 0, 0, 0]

    def test_single_kept_task_copies_it(self):
        tw = TaskWeights(3, 2)
        before = tw.weight.detach().clone()
        WReset(tw)(torch.tensor([False, True, False]))
        for i in range(3):
            torch.testing.assert_close(tw.weight[i], before[1], atol=1e-6, rtol=0)

    @pytest.mark.parametrize("beta", ["simplex", "uniform_l1"])
    def test_beta_samplers(self, beta):
        reset = WReset(TaskWeights(6, 2), beta=beta, generator=torch.Generator().manual_seed(0))
        mask = torch.tensor([True, False, True, True, False, True])
        b1, b2 = reset.sample_beta(mask), reset.sample_beta(mask)
        for b in (b1, b2):
            assert b.shape == (6, 6)
            torch.testing.assert_close(b.sum(-1), torch.ones(6))
            assert torch.equal(b[:, ~mask], torch.zeros(6, 2))
            assert (b[:, mask] > 0).all()
        assert not torch.equal(b1, b2)  # stochastic

    def test_simplex_is_uniform_on_simplex(self):
        """Dirichlet(1, 1): β of the first kept task is U(0, 1); uniform_l1 is not."""
        n = 3000
        mask = torch.zeros(n, dtype=torch.bool)
        mask[:2] = True
        gen = torch.Generator().manual_seed(0)
        b = WReset(TaskWeights(n, 1), generator=gen).sample_beta(mask)[:, 0]
        assert abs(b.mean().item() - 0.5) < 0.01
        assert abs(b.var().item() - 1 / 12) < 0.005
        b = WReset(TaskWeights(n, 1), beta="uniform_l1", generator=gen).sample_beta(mask)[:, 0]
        assert abs(b.mean().item() - 0.5) < 0.01
        assert b.var().item() < 1 / 12 - 0.015

    def test_bad_args(self):
        with pytest.raises(ValueError):
            WReset(TaskWeights(3, 2), beta="dirichlet")
        with pytest.raises(ValueError):
            WReset(TaskWeights(3, 2), reset_optimizer_state=True)
        with pytest.raises(ValueError):
            WReset([])
        with pytest.raises(ValueError):
            WReset([TaskWeights(3, 2), TaskWeights(4, 2)])

    def test_reset_reaches_loss_copies(self):
        actor, _, loss = _build()
        w = _actor_w(actor)
        tensors = loss.task_weight_tensors()
        reset = WReset(tensors, generator=torch.Generator().manual_seed(1))
        assert len(reset._tensors) == 2  # actor W (the base of the critics' view) and the target copy
        before = w.detach().clone()
        reset(torch.tensor([True, False, True]))
        assert not torch.equal(w[1], before[1])
        assert torch.equal(w[[0, 2]], before[[0, 2]])
        qw, tw = tensors[QW_KEY], tensors[TW_KEY]
        for i in range(2):
            assert torch.equal(qw[i], w)
            torch.testing.assert_close(tw[i], w, atol=1e-7, rtol=0)
        assert qw.data_ptr() == w.data_ptr()

    def test_reset_reaches_separate_critic_w(self):
        actor, qvalues, loss = _build(share_w=False)
        cw = qvalues[0].module.net.task_weights.weight
        w = _actor_w(actor)
        reset = WReset(loss.task_weight_tensors(), generator=torch.Generator().manual_seed(1))
        before_a, before_c = w.detach().clone(), cw.detach().clone()
        reset(torch.tensor([False, True, True]))
        for new, old in ((w, before_a), (cw, before_c)):
            assert torch.equal(new[1:], old[1:])
            assert not torch.equal(new[0], old[0])
            beta = _convex_coeffs(old[1:], new[0].detach())
            assert (beta >= -1e-5).all()
        for i in range(2):
            assert torch.equal(loss.task_weight_tensors()[QW_KEY][i], cw)

    def test_reset_optimizer_state(self):
        tw = TaskWeights(4, 3)
        opt = torch.optim.Adam([tw.weight], lr=1e-2)
        (tw.weight**3).sum().backward()
        opt.step()
        state = opt.state[tw.weight]
        m, v = state["exp_avg"].clone(), state["exp_avg_sq"].clone()
        assert (m != 0).all() and (v != 0).all()
        mask = torch.tensor([True, False, True, False])
        WReset(tw, opt, reset_optimizer_state=True)(mask)
        assert torch.equal(state["exp_avg"][~mask], torch.zeros(2, 3))
        assert torch.equal(state["exp_avg_sq"][~mask], torch.zeros(2, 3))
        assert torch.equal(state["exp_avg"][mask], m[mask])
        assert torch.equal(state["exp_avg_sq"][mask], v[mask])
        # without the flag the moments are untouched
        m2 = state["exp_avg"].clone()
        WReset(tw, opt)(mask)
        assert torch.equal(state["exp_avg"], m2)


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
