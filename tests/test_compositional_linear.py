"""Tests of the compositional layer and TaskWeights (Eqn 1-2 of PaCo): θ_τ = Φ w_τ per layer."""
from __future__ import annotations

import pytest
import torch

from paco_torchrl.nn import CompositionalLinear, TaskWeights

torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

T, K, IN, OUT = 3, 2, 5, 4


# --------------------------------------------------------------------------- CompositionalLinear


class TestCompositionalLinear:
    def _loop_compose(self, layer: CompositionalLinear, w: torch.Tensor):
        weight = sum(w[k] * layer.weight[k] for k in range(layer.num_param_sets))
        bias = sum(w[k] * layer.bias[k] for k in range(layer.num_param_sets))
        return weight, bias

    def test_shapes(self):
        layer = CompositionalLinear(IN, OUT, K)
        assert layer.weight.shape == (K, OUT, IN)
        assert layer.bias.shape == (K, OUT)
        assert CompositionalLinear(IN, OUT, K, bias=False).bias is None
        with pytest.raises(ValueError):
            CompositionalLinear(IN, OUT, 0)

    def test_compose_single_w(self):
        torch.manual_seed(0)
        layer = CompositionalLinear(IN, OUT, 4)
        w = torch.randn(4)
        weight, bias = layer.compose(w)
        ref_w, ref_b = self._loop_compose(layer, w)
        assert weight.shape == (OUT, IN) and bias.shape == (OUT,)
        torch.testing.assert_close(weight, ref_w, atol=1e-6, rtol=0)
        torch.testing.assert_close(bias, ref_b, atol=1e-6, rtol=0)

    def test_compose_batched_w(self):
        torch.manual_seed(1)
        layer = CompositionalLinear(IN, OUT, 4)
        w = torch.randn(7, 4)
        weight, bias = layer.compose(w)
        assert weight.shape == (7, OUT, IN) and bias.shape == (7, OUT)
        for b in range(7):
            ref_w, ref_b = self._loop_compose(layer, w[b])
            torch.testing.assert_close(weight[b], ref_w, atol=1e-6, rtol=0)
            torch.testing.assert_close(bias[b], ref_b, atol=1e-6, rtol=0)

    def test_compose_one_hot_selects_copy(self):
        layer = CompositionalLinear(IN, OUT, 3)
        weight, bias = layer.compose(torch.eye(3))
        assert torch.equal(weight, layer.weight.detach())
        assert torch.equal(bias, layer.bias.detach())

    def test_identical_init(self):
        torch.manual_seed(2)
        same = CompositionalLinear(IN, OUT, 4, identical_init=True)
        for k in range(1, 4):
            assert torch.equal(same.weight[k], same.weight[0])
            assert torch.equal(same.bias[k], same.bias[0])
        diff = CompositionalLinear(IN, OUT, 4, identical_init=False)
        for k in range(1, 4):
            assert not torch.equal(diff.weight[k], diff.weight[0])
            assert not torch.equal(diff.bias[k], diff.bias[0])
        # nn.Linear's bound for the bias: 1/sqrt(in)
        assert diff.bias.abs().max() <= 1 / IN**0.5

    def test_forward_per_sample_w(self):
        torch.manual_seed(3)
        layer = CompositionalLinear(IN, OUT, 4)
        x, w = torch.randn(6, IN), torch.randn(6, 4)
        out = layer(x, w)
        assert out.shape == (6, OUT)
        for b in range(6):
            weight, bias = self._loop_compose(layer, w[b])
            torch.testing.assert_close(out[b], x[b] @ weight.T + bias, atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- TaskWeights


class TestTaskWeights:
    def test_inits(self):
        torch.manual_seed(0)
        normal = TaskWeights(50, 40, "normal")
        assert abs(normal.weight.mean().item()) < 0.1
        assert abs(normal.weight.std().item() - 1.0) < 0.1
        one_hot = TaskWeights(4, 4, "one_hot")
        assert torch.equal(one_hot.weight.detach(), torch.eye(4))
        uniform = TaskWeights(20, 10, "uniform")
        assert uniform.weight.min() >= 0 and uniform.weight.max() < 1
        assert uniform.weight.std() > 0.1

    def test_one_hot_needs_k_equal_t(self):
        with pytest.raises(ValueError):
            TaskWeights(4, 3, "one_hot")

    @pytest.mark.parametrize("kwargs", [dict(num_tasks=0, num_param_sets=2), dict(num_tasks=2, num_param_sets=0)])
    def test_bad_sizes(self, kwargs):
        with pytest.raises(ValueError):
            TaskWeights(**kwargs)

    def test_bad_init(self):
        with pytest.raises(ValueError):
            TaskWeights(2, 2, "zeros")

    def test_normalize(self):
        torch.manual_seed(0)
        tw = TaskWeights(6, 3, normalize=True)
        m = tw.matrix()
        torch.testing.assert_close(m.norm(dim=-1), torch.ones(6), atol=1e-6, rtol=0)
        torch.testing.assert_close(m, tw.weight / tw.weight.norm(dim=-1, keepdim=True))
        raw = TaskWeights(6, 3, normalize=False)
        assert raw.matrix() is raw.weight

    def test_forward_lookup(self):
        tw = TaskWeights(5, 3)
        tid = torch.tensor([[0, 4], [2, 2]])
        out = tw(tid)
        assert out.shape == (2, 2, 3)
        assert torch.equal(out[0, 1], tw.weight[4])
        assert torch.equal(out[1, 0], tw.weight[2])
        assert tw(torch.tensor(1)).shape == (3,)

    def test_trainable_false_is_buffer(self):
        tw = TaskWeights(3, 3, "one_hot", trainable=False)
        assert "weight" in dict(tw.named_buffers())
        assert len(list(tw.parameters())) == 0
        assert not tw.weight.requires_grad
        tw2 = TaskWeights(3, 3)
        assert "weight" in dict(tw2.named_parameters())
        assert len(list(tw2.buffers())) == 0
