"""Tests of NaN isolation, loss maskout and WReset."""
from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from paco_torchrl.nn import TaskWeights
from paco_torchrl.objectives import WReset, loss_maskout, masked_total_loss, total_task_loss

from sac_case import QW_KEY, TW_KEY, K, _actor_w, _build, _convex_coeffs, _nan_batch

torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# --------------------------------------------------------------------------- NaN handling / maskout


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
