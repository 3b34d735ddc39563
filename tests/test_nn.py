"""Tests of CompositionalMLP (Eqn 1-2 of PaCo): its batch-layout paths against per-sample references,
gradient isolation between tasks and the §4.3 special cases."""
from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from torch import nn

import paco_torchrl.nn.compositional as compositional_mod
from paco_torchrl.nn import CompositionalLinear, CompositionalMLP, OneHotTaskMLP, TaskWeights

torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

T, K, IN, OUT = 3, 2, 5, 4
CELLS = (8, 6)


def _task_major(t: int, n: int) -> torch.Tensor:
    return torch.arange(t)[:, None].expand(t, n)


def _mlp(seed: int = 0, **kwargs) -> CompositionalMLP:
    torch.manual_seed(seed)
    kwargs.setdefault("identical_init", False)
    return CompositionalMLP(IN, OUT, CELLS, num_tasks=T, num_param_sets=K, **kwargs)


def _per_sample_reference(mlp: CompositionalMLP, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
    """Output of the standalone task network ``instantiate(τ)`` for every sample."""
    nets = [mlp.instantiate(t) for t in range(mlp.num_tasks)]
    flat_x, flat_t = x.reshape(-1, x.shape[-1]), task_id.reshape(-1)
    out = torch.stack([nets[int(t)](xi) for xi, t in zip(flat_x, flat_t)])
    return out.reshape(*x.shape[:-1], -1)


def _per_sample_paths_only(monkeypatch) -> None:
    """Disables the sorted grouped-matmul path, as on CUDA: batches take the gather / mix paths."""
    monkeypatch.setattr(compositional_mod, "grouped_mm_supported", lambda device, dtype: False)


# --------------------------------------------------------------------------- CompositionalMLP paths


class TestCompositionalMLP:
    @pytest.mark.parametrize("task_major", [False, True])
    def test_grouped_path(self, task_major):
        mlp = _mlp(task_major=task_major)
        torch.manual_seed(10)
        x, tid = torch.randn(T, 4, IN), _task_major(T, 4)
        assert mlp._is_task_major(x.shape[:-1], tid) is task_major
        out = mlp(x, tid)
        assert out.shape == (T, 4, OUT)
        torch.testing.assert_close(out, _per_sample_reference(mlp, x, tid), atol=1e-5, rtol=0)

    def test_grouped_path_extra_dims(self):
        mlp = _mlp()
        torch.manual_seed(11)
        x = torch.randn(T, 2, 3, IN)
        tid = torch.arange(T)[:, None, None].expand(T, 2, 3)
        out = mlp(x, tid)
        assert out.shape == (T, 2, 3, OUT)
        torch.testing.assert_close(out, _per_sample_reference(mlp, x, tid), atol=1e-5, rtol=0)

    def test_gather_path_unordered(self, monkeypatch):
        _per_sample_paths_only(monkeypatch)
        mlp = _mlp()
        torch.manual_seed(12)
        x, tid = torch.randn(11, IN), torch.randint(0, T, (11,))
        out = mlp(x, tid)
        assert out.shape == (11, OUT)
        torch.testing.assert_close(out, _per_sample_reference(mlp, x, tid), atol=1e-5, rtol=0)

    def test_mix_path_unordered(self, monkeypatch):
        _per_sample_paths_only(monkeypatch)
        monkeypatch.setattr(compositional_mod, "_GATHER_BUDGET", 0)
        mlp = _mlp()
        torch.manual_seed(13)
        x, tid = torch.randn(2, 7, IN), torch.randint(0, T, (2, 7))
        out = mlp(x, tid)
        assert out.shape == (2, 7, OUT)
        torch.testing.assert_close(out, _per_sample_reference(mlp, x, tid), atol=1e-5, rtol=0)

    def test_paths_agree(self, monkeypatch):
        mlp = _mlp()
        torch.manual_seed(14)
        x, tid = torch.randn(T, 5, IN), _task_major(T, 5)
        grouped = mlp(x, tid)
        perm = torch.randperm(T * 5)
        sorted_ = mlp(x.reshape(-1, IN)[perm], tid.reshape(-1)[perm])
        torch.testing.assert_close(sorted_, grouped.reshape(-1, OUT)[perm], atol=1e-5, rtol=0)
        _per_sample_paths_only(monkeypatch)
        gathered = mlp(x.reshape(-1, IN)[perm], tid.reshape(-1)[perm])
        monkeypatch.setattr(compositional_mod, "_GATHER_BUDGET", 0)
        mixed = mlp(x.reshape(-1, IN)[perm], tid.reshape(-1)[perm])
        torch.testing.assert_close(gathered, grouped.reshape(-1, OUT)[perm], atol=1e-5, rtol=0)
        torch.testing.assert_close(mixed, grouped.reshape(-1, OUT)[perm], atol=1e-5, rtol=0)

    def test_not_task_major_leading_dim_t(self):
        """A [T, n] batch whose ids are not task-major is exact without any layout check."""
        mlp = _mlp()
        torch.manual_seed(15)
        x = torch.randn(T, T, IN)
        tid = _task_major(T, T).T.contiguous()  # row i holds tasks 0..T-1: not task-major
        assert not mlp._is_task_major(x.shape[:-1], tid)
        out = mlp(x, tid)
        torch.testing.assert_close(out, _per_sample_reference(mlp, x, tid), atol=1e-5, rtol=0)
        # random ids with a leading dim T, too
        tid = torch.randint(0, T, (T, 4))
        tid[0, 0] = 1  # guarantee it is not task-major
        x = torch.randn(T, 4, IN)
        torch.testing.assert_close(mlp(x, tid), _per_sample_reference(mlp, x, tid), atol=1e-5, rtol=0)

    def test_check_layout_catches_a_broken_promise(self):
        mlp = _mlp(task_major=True, check_layout=True)
        x = torch.randn(T, 4, IN)
        torch.testing.assert_close(mlp(x, _task_major(T, 4)), _per_sample_reference(mlp, x, _task_major(T, 4)),
                                   atol=1e-5, rtol=0)
        with pytest.raises(ValueError, match="not task-major"):
            mlp(x, _task_major(T, 4).flip(0))
        mlp.check_layout = False  # the promise is trusted: no check, no host sync
        assert mlp._is_task_major(x.shape[:-1], _task_major(T, 4).flip(0))

    def test_output_only(self):
        mlp = _mlp(compositional="output")
        assert isinstance(mlp.layers[-1], CompositionalLinear)
        for layer in mlp.layers[:-1]:
            assert type(layer) is nn.Linear
        torch.manual_seed(16)
        x, tid = torch.randn(T, 3, IN), _task_major(T, 3)
        torch.testing.assert_close(mlp(x, tid), _per_sample_reference(mlp, x, tid), atol=1e-5, rtol=0)
        xf, tf = torch.randn(7, IN), torch.randint(0, T, (7,))
        torch.testing.assert_close(mlp(xf, tf), _per_sample_reference(mlp, xf, tf), atol=1e-5, rtol=0)

    def test_all_layers_compositional(self):
        mlp = _mlp()
        assert len(mlp.layers) == len(CELLS) + 1
        assert all(isinstance(layer, CompositionalLinear) for layer in mlp.layers)
        assert [(l.in_features, l.out_features) for l in mlp.layers] == [(IN, 8), (8, 6), (6, OUT)]

    def test_bad_args(self):
        with pytest.raises(ValueError):
            _mlp(compositional="hidden")
        with pytest.raises(ValueError):
            CompositionalMLP(IN, OUT, CELLS, T, K, task_weights=TaskWeights(T + 1, K))

    def test_instantiate_copies(self):
        mlp = _mlp()
        net = mlp.instantiate(1)
        assert isinstance(net, nn.Sequential)
        linears = [m for m in net if isinstance(m, nn.Linear)]
        assert len(linears) == len(mlp.layers)
        assert all(type(m) in (nn.Linear, nn.ReLU) for m in net)
        w1 = mlp.task_weights.weight[1]
        for lin, layer in zip(linears, mlp.layers):
            weight, bias = layer.compose(w1)
            assert torch.equal(lin.weight, weight.detach())
            assert torch.equal(lin.bias, bias.detach())
        phi = {k: v.detach().clone() for k, v in mlp.state_dict().items()}
        with torch.no_grad():
            for p in net.parameters():
                p.add_(1.0)
        for k, v in mlp.state_dict().items():
            assert torch.equal(v, phi[k]), k
        with pytest.raises(ValueError):
            mlp.instantiate(T)

    def test_shared_task_weights(self):
        tw = TaskWeights(T, K)
        a = CompositionalMLP(IN, OUT, CELLS, T, K, task_weights=tw)
        b = CompositionalMLP(IN, 1, CELLS, T, K, task_weights=tw)
        assert a.task_weights is b.task_weights is tw

    def test_vmap_over_stacked_params(self):
        m1, m2 = _mlp(seed=0), _mlp(seed=1)
        params = TensorDict.from_modules(m1, m2)
        torch.manual_seed(17)
        x, tid = torch.randn(T, 4, IN), _task_major(T, 4)
        xf, tf = torch.randn(9, IN), torch.randint(0, T, (9,))
        module = _mlp(seed=2)

        def f(p, x, tid):
            with p.to_module(module):
                return module(x, tid)

        out = torch.vmap(f, (0, None, None))(params, x, tid)
        assert out.shape == (2, T, 4, OUT)
        torch.testing.assert_close(out[0], m1(x, tid), atol=1e-5, rtol=0)
        torch.testing.assert_close(out[1], m2(x, tid), atol=1e-5, rtol=0)
        assert not torch.allclose(out[0], out[1])
        outf = torch.vmap(f, (0, None, None))(params, xf, tf)
        torch.testing.assert_close(outf[0], _per_sample_reference(m1, xf, tf), atol=1e-5, rtol=0)
        torch.testing.assert_close(outf[1], _per_sample_reference(m2, xf, tf), atol=1e-5, rtol=0)

    def test_compile(self):
        torch._dynamo.reset()
        mlp = _mlp()
        torch.manual_seed(18)
        x, tid = torch.randn(T, 4, IN), _task_major(T, 4)
        compiled = torch.compile(mlp)
        torch.testing.assert_close(compiled(x, tid), mlp(x, tid), atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- gradient isolation


def _assert_isolated(mlp: CompositionalMLP, tau: int) -> None:
    g = mlp.task_weights.weight.grad
    others = [t for t in range(mlp.num_tasks) if t != tau]
    assert torch.equal(g[others], torch.zeros_like(g[others]))
    assert g[tau].abs().sum() > 0
    for layer in mlp.layers:
        assert layer.weight.grad.abs().sum() > 0
        assert layer.bias.grad.abs().sum() > 0


@pytest.mark.parametrize("task_major", [False, True])
@pytest.mark.parametrize("tau", range(T))
def test_gradient_isolation_grouped(tau, task_major):
    mlp = _mlp(task_major=task_major)
    torch.manual_seed(20 + tau)
    x, tid = torch.randn(T, 4, IN), _task_major(T, 4)
    mlp(x, tid)[tau].sum().backward()
    _assert_isolated(mlp, tau)


@pytest.mark.parametrize("path", ["sorted", "gather", "mix"])
@pytest.mark.parametrize("tau", range(T))
def test_gradient_isolation_flat(tau, path, monkeypatch):
    if path != "sorted":
        _per_sample_paths_only(monkeypatch)
    if path == "mix":
        monkeypatch.setattr(compositional_mod, "_GATHER_BUDGET", 0)
    mlp = _mlp()
    torch.manual_seed(30 + tau)
    tid = torch.randperm(12) % T
    x = torch.randn(12, IN)
    out = mlp(x, tid)
    out[tid == tau].sum().backward()
    _assert_isolated(mlp, tau)


def test_gradient_isolation_normalized_w():
    mlp = _mlp(normalize_w=True)
    torch.manual_seed(40)
    x, tid = torch.randn(T, 4, IN), _task_major(T, 4)
    mlp(x, tid)[1].sum().backward()
    _assert_isolated(mlp, 1)


# --------------------------------------------------------------------------- §4.3 special cases


def test_k1_shared_w_is_one_network():
    """K=1 with a fixed shared w: every task computes the same network (MT-SAC without task input)."""
    tw = TaskWeights(T, 1, "uniform", trainable=False)
    tw.weight.fill_(1.0)
    torch.manual_seed(50)
    mlp = CompositionalMLP(IN, OUT, CELLS, T, 1, task_weights=tw)
    x = torch.randn(6, IN)
    outs = [mlp(x, torch.full((6,), t)) for t in range(T)]
    for o in outs[1:]:
        assert torch.equal(o, outs[0])
    # and it is Φ's single copy applied as a plain MLP
    h = x
    for i, layer in enumerate(mlp.layers):
        h = h @ layer.weight[0].T + layer.bias[0]
        if i < len(mlp.layers) - 1:
            h = torch.relu(h)
    torch.testing.assert_close(outs[0], h, atol=1e-6, rtol=0)
    # grouped path agrees too
    xg = x[:4].expand(T, 4, IN)
    out_g = mlp(xg, _task_major(T, 4))
    for t in range(T):
        torch.testing.assert_close(out_g[t], outs[0][:4], atol=1e-6, rtol=0)


def test_k1_scales_by_w():
    """K=1 with a linear network: task τ's network is Φ scaled by w_τ (bias too)."""
    tw = TaskWeights(T, 1, "uniform", trainable=False)
    tw.weight.copy_(torch.tensor([[1.0], [2.0], [-0.5]]))
    mlp = CompositionalMLP(IN, OUT, (), T, 1, task_weights=tw)
    x = torch.randn(5, IN)
    base = mlp(x, torch.zeros(5, dtype=torch.long))
    for t, s in enumerate([1.0, 2.0, -0.5]):
        torch.testing.assert_close(mlp(x, torch.full((5,), t)), s * base, atol=1e-6, rtol=0)


def _phi_network(mlp: CompositionalMLP, tau: int, x: torch.Tensor) -> torch.Tensor:
    h = x
    for i, layer in enumerate(mlp.layers):
        h = h @ layer.weight[tau].T + layer.bias[tau]
        if i < len(mlp.layers) - 1:
            h = torch.relu(h)
    return h


@pytest.mark.parametrize("grouped", [True, False])
def test_k_equals_t_one_hot_is_independent_networks(grouped):
    tw = TaskWeights(T, T, "one_hot", trainable=False)
    torch.manual_seed(60)
    mlp = CompositionalMLP(IN, OUT, CELLS, T, T, task_weights=tw, identical_init=False)
    if grouped:
        x, tid = torch.randn(T, 4, IN), _task_major(T, 4)
    else:
        x, tid = torch.randn(10, IN), torch.randperm(10) % T
    out = mlp(x, tid)
    for tau in range(T):
        sel = tid == tau
        torch.testing.assert_close(out[sel], _phi_network(mlp, tau, x[sel]), atol=1e-5, rtol=0)
    for tau in range(T):
        mlp.zero_grad(set_to_none=True)
        mlp(x, tid)[tid == tau].sum().backward()
        others = [t for t in range(T) if t != tau]
        for layer in mlp.layers:
            for g in (layer.weight.grad, layer.bias.grad):
                assert torch.equal(g[others], torch.zeros_like(g[others]))
                assert g[tau].abs().sum() > 0


@pytest.mark.parametrize("layout", ["task_major", "flat", "few", "vmap"])
def test_fixed_identity_w_skips_composition_exactly(layout):
    """A fixed one-hot W reads φ_τ directly: outputs and Φ/input gradients equal the composed path bit for bit."""
    tw = TaskWeights(T, T, "one_hot", trainable=False)
    assert tw.is_identity and not TaskWeights(T, T, "one_hot").is_identity and not TaskWeights(T, T).is_identity
    torch.manual_seed(61)
    mlp = CompositionalMLP(IN, OUT, CELLS, T, T, task_weights=tw, identical_init=False, task_major=True)
    x, tid = {
        "task_major": (torch.randn(T, 5, IN), _task_major(T, 5)),
        "flat": (torch.randn(23, IN), torch.randint(T, (23,))),
        "few": (torch.randn(T - 1, IN), torch.randperm(T)[: T - 1]),
        "vmap": (torch.randn(T, 5, IN), _task_major(T, 5)),
    }[layout]
    calls = []
    original = CompositionalLinear.compose

    def counting(self, w):
        calls.append(1)
        return original(self, w)

    def run(identity: bool):
        tw.trainable = not identity  # is_identity off: the same buffer goes through Φ e_τ
        xi = x.clone().requires_grad_(True)
        mlp.zero_grad(set_to_none=True)
        if layout == "vmap":  # twin critics: stacked parameters under vmap
            params = TensorDict.from_module(mlp).expand(2).clone()
            params["layers", "0", "weight"] = params["layers", "0", "weight"] * torch.tensor([1.0, 2.0]).view(2, 1, 1, 1)

            def f(p, inp):
                with p.to_module(mlp):
                    return mlp(inp, tid)

            out = torch.vmap(f, (0, None))(params, xi)
            grads = torch.autograd.grad(out.square().sum(), [xi])
            return out.detach(), grads
        out = mlp(xi, tid)
        out.square().sum().backward()
        return out.detach(), [xi.grad] + [p.grad for p in mlp.parameters()]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(CompositionalLinear, "compose", counting)
        fast_out, fast_grads = run(identity=True)
        fast_calls = len(calls)
        slow_out, slow_grads = run(identity=False)
    assert fast_calls == 0
    if layout == "few":  # ≤ T samples: gathered φ_τ vs the K-mix (other kernels, so equal to rounding)
        assert len(calls) == 0  # the composed side mixed the K outputs: it composed nothing either
        torch.testing.assert_close(fast_out, slow_out, atol=1e-6, rtol=1e-6)
        for a, b in zip(fast_grads, slow_grads):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
        return
    assert len(calls) > 0
    assert torch.equal(fast_out, slow_out)
    for a, b in zip(fast_grads, slow_grads):
        assert torch.equal(a, b)


def test_one_hot_task_mlp():
    torch.manual_seed(70)
    mlp = OneHotTaskMLP(IN, OUT, CELLS, T)
    x, tid = torch.randn(5, IN), torch.tensor([0, 2, 1, 2, 0])
    ref = mlp.net(torch.cat([x, torch.nn.functional.one_hot(tid, T).float()], -1))
    assert torch.equal(mlp(x, tid), ref)
    assert mlp.net[0].in_features == IN + T
    plain = OneHotTaskMLP(IN, OUT, CELLS, T, task_input=False)
    assert plain.net[0].in_features == IN
    assert torch.equal(plain(x, tid), plain(x, torch.zeros_like(tid)))
