"""CompositionalMLP on any task-id layout: the sorted grouped-matmul path against per-sample references.

Outputs and gradients (Φ, W, inputs) must equal those of ``instantiate(τ)`` applied sample by
sample, for random ids, one task only, missing tasks, task-major batches passed flat, extra batch
dims, under ``vmap`` over stacked parameter sets (the twin critics) and under ``torch.compile``;
the forward must not read a device tensor on the host (checked on CUDA where one is present).
"""
from __future__ import annotations

import sys

import pytest
import torch
from tensordict import TensorDict

import paco_torchrl.nn.compositional as compositional_mod
from paco_torchrl.nn import CompositionalMLP, assume_task_major, grouped_mm, grouped_mm_supported

torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

T, K, IN, OUT = 4, 3, 7, 3  # odd sizes: the grouped matmul pads them to 16 bytes
CELLS = (12, 10)
ATOL = 1e-5
SORTED = grouped_mm_supported(torch.device("cpu"), torch.float32)


def _mlp(seed: int = 0, **kwargs) -> CompositionalMLP:
    torch.manual_seed(seed)
    return CompositionalMLP(IN, OUT, CELLS, num_tasks=T, num_param_sets=K, identical_init=False, **kwargs)


def _reference(mlp: CompositionalMLP, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
    """``θ_τ = Φ w_τ`` composed per sample with autograd to Φ, W and x (a loop, no fast path)."""
    w_all = mlp.task_weights.matrix()
    rows = []
    for xi, t in zip(x.reshape(-1, x.shape[-1]), task_id.reshape(-1).tolist()):
        h = xi
        for i, layer in enumerate(mlp.layers):
            weight, bias = layer.compose(w_all[t])
            h = h @ weight.T + bias
            if i < len(mlp.layers) - 1:
                h = torch.relu(h)
        rows.append(h)
    return torch.stack(rows).reshape(*x.shape[:-1], -1)


def _grads(mlp: CompositionalMLP, fn, x: torch.Tensor, task_id: torch.Tensor, seed: int = 0):
    """Output of ``fn(mlp, x, task_id)`` and the gradients of a random projection of it."""
    mlp.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_(True)
    out = fn(mlp, x, task_id)
    proj = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed))
    (out * proj).sum().backward()
    grads = {name: p.grad.clone() for name, p in mlp.named_parameters()}
    return out.detach(), grads, x.grad.clone()


def _assert_matches_reference(mlp: CompositionalMLP, x: torch.Tensor, task_id: torch.Tensor) -> None:
    out, grads, x_grad = _grads(mlp, lambda m, x, t: m(x, t), x, task_id)
    ref, ref_grads, ref_x_grad = _grads(mlp, _reference, x, task_id)
    assert out.shape == (*task_id.shape, OUT)
    torch.testing.assert_close(out, ref, atol=ATOL, rtol=0)
    torch.testing.assert_close(x_grad, ref_x_grad, atol=ATOL, rtol=0)
    assert grads.keys() == ref_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], atol=ATOL, rtol=0, msg=name)


def _spy(monkeypatch, path: str = "_forward_sorted") -> list[int]:
    """Counts the calls of one of CompositionalMLP's forward paths (so a test knows which it exercised)."""
    calls: list[int] = []
    original = getattr(CompositionalMLP, path)

    def spy(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CompositionalMLP, path, spy)
    return calls


def _spy_sorted(monkeypatch) -> list[int]:
    return _spy(monkeypatch)


needs_sorted = pytest.mark.skipif(not SORTED, reason="grouped_mm unavailable for CPU float32 in this torch")


@needs_sorted
@pytest.mark.parametrize(
    "case",
    ["random", "one_task", "missing_tasks", "task_major_flat", "extra_dims", "task_major_2d", "shuffled_2d"],
)
def test_sorted_path_matches_per_sample_reference(case, monkeypatch):
    calls = _spy_sorted(monkeypatch)
    mlp = _mlp(seed=1)
    g = torch.Generator().manual_seed(2)
    n = 9
    task_id = {
        "random": lambda: torch.randint(0, T, (37,), generator=g),
        "one_task": lambda: torch.full((13,), 2),
        "missing_tasks": lambda: torch.tensor([3, 0, 3, 3, 0, 0, 3, 0, 3, 3, 0]),  # tasks 1 and 2 absent
        "task_major_flat": lambda: torch.arange(T).repeat_interleave(n),
        "extra_dims": lambda: torch.randint(0, T, (6, 5), generator=g),
        "task_major_2d": lambda: torch.arange(T)[:, None].expand(T, n),
        "shuffled_2d": lambda: torch.arange(T)[:, None].expand(T, n).reshape(-1)[torch.randperm(T * n, generator=g)]
        .view(T, n),
    }[case]()
    x = torch.randn(*task_id.shape, IN, generator=g)
    _assert_matches_reference(mlp, x, task_id)
    assert calls, "the sorted path was not taken"


@needs_sorted
def test_task_major_promise_skips_the_sort_and_stays_exact(monkeypatch):
    calls = _spy_sorted(monkeypatch)
    mlp = assume_task_major(_mlp(seed=3))
    assert mlp.task_major
    sorts = []
    original_sort = torch.sort
    monkeypatch.setattr(torch, "sort", lambda *a, **k: sorts.append(1) or original_sort(*a, **k))
    tid = torch.arange(T)[:, None].expand(T, 5)
    _assert_matches_reference(mlp, torch.randn(T, 5, IN), tid)
    assert not sorts and not calls
    flat = torch.randint(0, T, (19,))  # a flat batch is sorted whatever the promise
    _assert_matches_reference(mlp, torch.randn(19, IN), flat)
    assert sorts


@pytest.mark.parametrize("task_major", [False, True])
def test_without_grouped_mm_every_layout_stays_exact(task_major, monkeypatch):
    """Where grouped matmul is unavailable (CUDA, compile): task-major baddbmm, gather and mix paths."""
    monkeypatch.setattr(compositional_mod, "grouped_mm_supported", lambda device, dtype: False)
    mlp = _mlp(seed=4, task_major=task_major)
    g = torch.Generator().manual_seed(5)
    _assert_matches_reference(mlp, torch.randn(T, 6, IN, generator=g), torch.arange(T)[:, None].expand(T, 6))
    tid = torch.randint(0, T, (T, 6), generator=g)
    if not task_major:  # a broken promise is the caller's error; without one any [T, n] layout is exact
        _assert_matches_reference(mlp, torch.randn(T, 6, IN, generator=g), tid)
    _assert_matches_reference(mlp, torch.randn(23, IN, generator=g), tid.reshape(-1)[:23])


def test_small_batches_take_the_mix_path(monkeypatch):
    calls = _spy_sorted(monkeypatch)
    mlp = _mlp(seed=6)
    tid = torch.tensor([3, 1, 3])
    _assert_matches_reference(mlp, torch.randn(3, IN), tid)
    assert not calls


@pytest.mark.parametrize("shape", [(1,), (5,), (1, 6), (2, 3)])
def test_one_task_is_one_plain_network(shape, monkeypatch):
    """T = 1 takes plain linear layers for any batch: exact against the reference, under vmap too."""
    calls = []
    original = CompositionalMLP._forward_one_task
    monkeypatch.setattr(CompositionalMLP, "_forward_one_task", lambda self, *a: calls.append(1) or original(self, *a))
    torch.manual_seed(8)
    mlp = CompositionalMLP(IN, OUT, CELLS, num_tasks=1, num_param_sets=K, identical_init=False, task_major=True)
    x, tid = torch.randn(*shape, IN), torch.zeros(shape, dtype=torch.long)
    _assert_matches_reference(mlp, x, tid)
    assert calls
    params = TensorDict.from_module(mlp).expand(2).clone()
    params["layers", "0", "weight"] = params["layers", "0", "weight"] * torch.tensor([1.0, -2.0]).view(2, 1, 1, 1)

    def apply(p, inp):
        with p.to_module(mlp):
            return mlp(inp, tid)

    out = torch.vmap(apply, (0, None))(params, x)
    for i in range(2):
        with params[i].to_module(mlp):
            torch.testing.assert_close(out[i], _reference(mlp, x, tid), atol=ATOL, rtol=0)


def test_gather_path_for_a_fixed_identity_w():
    """≤ T samples with a fixed one-hot W gather φ_τ rows (index_select): exact against the reference."""
    from paco_torchrl.nn import TaskWeights

    torch.manual_seed(9)
    mlp = CompositionalMLP(IN, OUT, CELLS, num_tasks=T, num_param_sets=T, identical_init=False,
                           task_weights=TaskWeights(T, T, "one_hot", trainable=False))
    g = torch.Generator().manual_seed(10)
    for tid in (torch.tensor([2]), torch.tensor([3, 0, 3]), torch.randperm(T, generator=g)):
        _assert_matches_reference(mlp, torch.randn(len(tid), IN, generator=g), tid)  # outputs, Φ and input grads


@needs_sorted
@pytest.mark.filterwarnings("error:.*batching rule")  # vmap must use our rule, not the per-sample fallback loop
@pytest.mark.parametrize("task_major", [False, True])
def test_vmap_over_stacked_params(task_major, monkeypatch):
    """The twin-critic pattern: two parameter sets stacked, vmapped, inputs shared; grads to both."""
    calls = _spy_sorted(monkeypatch)
    m1, m2 = _mlp(seed=7), _mlp(seed=8)
    module = _mlp(seed=9, task_major=task_major)
    params = TensorDict.from_modules(m1, m2, as_module=True)
    g = torch.Generator().manual_seed(10)
    if task_major:
        tid = torch.arange(T)[:, None].expand(T, 5)
    else:
        tid = torch.randint(0, T, (T, 5), generator=g)  # leading dim T, not task-major
    x = torch.randn(*tid.shape, IN, generator=g, requires_grad=True)

    def f(p, x, t):
        with p.to_module(module):
            return module(x, t)

    out = torch.vmap(f, (0, None, None))(params, x, tid)
    assert bool(calls) is not task_major  # a promised task-major batch takes one baddbmm instead
    proj = torch.randn(out.shape, generator=g)
    grads = torch.autograd.grad((out * proj).sum(), [x, *params.values(True, True)])
    refs = [_reference(m, x, tid) for m in (m1, m2)]
    torch.testing.assert_close(out, torch.stack(refs), atol=ATOL, rtol=0)
    ref_grads = torch.autograd.grad(
        sum((r * p).sum() for r, p in zip(refs, proj)), [x, *m1.parameters(), *m2.parameters()]
    )
    torch.testing.assert_close(grads[0], ref_grads[0], atol=ATOL, rtol=0)
    n_params = len(list(m1.parameters()))
    for i, stacked in enumerate(grads[1:]):
        torch.testing.assert_close(stacked[0], ref_grads[1 + i], atol=ATOL, rtol=0)
        torch.testing.assert_close(stacked[1], ref_grads[1 + n_params + i], atol=ATOL, rtol=0)


@needs_sorted
def test_expanded_output_gradient():
    """``y.sum().backward()`` hands the grouped matmul a stride-0 gradient."""
    a = torch.randn(10, 6, requires_grad=True)
    b = torch.randn(3, 6, 5, requires_grad=True)
    offs = torch.tensor([4, 4, 10], dtype=torch.int32)  # group 1 empty
    grouped_mm(a, b, offs).sum().backward()
    ref_a, ref_b = a.detach().requires_grad_(), b.detach().requires_grad_()
    torch.cat([ref_a[:4] @ ref_b[0], ref_a[4:] @ ref_b[2]]).sum().backward()
    torch.testing.assert_close(a.grad, ref_a.grad, atol=ATOL, rtol=0)
    torch.testing.assert_close(b.grad, ref_b.grad, atol=ATOL, rtol=0)
    assert torch.equal(b.grad[1], torch.zeros_like(b.grad[1]))


@needs_sorted
def test_grouped_mm_outside_transforms_skips_the_custom_op_and_matches_it(monkeypatch):
    """Outside functorch transforms the autograd rule calls the kernels directly (no custom-op
    dispatch); under ``vmap`` (the twin critics) values and gradients are bit-equal to unvmapped calls."""
    gm = sys.modules["paco_torchrl.nn.grouped_mm"]
    calls: list[str] = []
    for name in ("_grouped_mm", "_grouped_mm_weight_grad"):
        op = getattr(gm, name)
        monkeypatch.setattr(gm, name, lambda *args, _op=op, _name=name: calls.append(_name) or _op(*args))
    g = torch.Generator().manual_seed(30)
    a, b = torch.randn(11, 7, generator=g), torch.randn(3, 7, 5, generator=g)
    offs = torch.tensor([3, 3, 11], dtype=torch.int32)
    proj = torch.randn(11, 5, generator=g)

    def loss(a, b):
        return (grouped_mm(a, b, offs) * proj).sum()

    a_direct, b_direct = a.clone().requires_grad_(), b.clone().requires_grad_()
    loss(a_direct, b_direct).backward()
    assert calls == []
    stacked = torch.stack([b, 2 * b]).requires_grad_()
    out = torch.vmap(lambda w: grouped_mm(a_direct, w, offs))(stacked)
    (out * proj).sum().backward()
    assert torch.equal(out[0], grouped_mm(a, b, offs)) and torch.equal(out[1], grouped_mm(a, 2 * b, offs))
    assert torch.equal(stacked.grad[0], b_direct.grad) and torch.equal(stacked.grad[1], b_direct.grad)


def test_compile_fullgraph_flat_batch():
    torch._dynamo.reset()
    mlp = _mlp(seed=11)
    g = torch.Generator().manual_seed(12)
    x, tid = torch.randn(21, IN, generator=g), torch.randint(0, T, (21,), generator=g)
    compiled = torch.compile(mlp, fullgraph=True)
    out = compiled(x, tid)
    torch.testing.assert_close(out, _reference(mlp, x, tid), atol=ATOL, rtol=0)
    out.sum().backward()
    eager = _mlp(seed=11)
    _reference(eager, x, tid).sum().backward()
    for (name, p), q in zip(mlp.named_parameters(), eager.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=ATOL, rtol=0, msg=name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("task_major", [False, True])
@pytest.mark.parametrize("shape", [(T, 16), (64,), (3,)])
def test_cuda_forward_backward_without_host_sync(shape, task_major):
    device = torch.device("cuda")
    mlp = _mlp(seed=13, task_major=task_major).to(device)
    if len(shape) == 2 and task_major:
        tid = torch.arange(T, device=device)[:, None].expand(shape)
    else:
        tid = torch.randint(0, T, shape, device=device)
    x = torch.randn(*shape, IN, device=device, requires_grad=True)
    mlp(x, tid)  # warm-up outside the check (lazy CUDA init, allocator)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = mlp(x, tid)
        out.sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.testing.assert_close(out.detach().cpu(), _reference(mlp.cpu(), x.detach().cpu(), tid.cpu()).detach(),
                               atol=1e-4, rtol=0)


class _RowSoftmax(torch.nn.Module):
    """Not elementwise: mixes the features of a sample, so features must stay in the last dim."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=-1)


def test_task_major_features_first_layout_is_taken_only_where_exact(monkeypatch):
    """ReLU and all layers compositional: features-first; a row-mixing activation or a plain trunk: not."""
    calls = _spy(monkeypatch, "_forward_task_major_transposed")
    tid = torch.arange(T)[:, None].expand(T, 6)
    x = torch.randn(T, 6, IN, generator=torch.Generator().manual_seed(20))
    mlp = _mlp(seed=21, task_major=True)
    _assert_matches_reference(mlp, x, tid)
    assert len(calls) == 1
    torch.manual_seed(22)
    softmax = CompositionalMLP(
        IN, OUT, CELLS, num_tasks=T, num_param_sets=K, identical_init=False, task_major=True, activation=_RowSoftmax
    )
    output_only = _mlp(seed=23, task_major=True, compositional="output")
    flat_order = x.reshape(-1, IN)
    for net in (softmax, output_only):
        per_sample = torch.cat([net(flat_order[i : i + 1], tid.reshape(-1)[i : i + 1]) for i in range(T * 6)])
        torch.testing.assert_close(net(x, tid).reshape(-1, OUT), per_sample, atol=ATOL, rtol=0)
    assert len(calls) == 1


def test_task_major_weight_gradient_needs_no_transposing_copy():
    """The composed weight's gradient arrives as ``[T, out, in]``: no copy of that size in the backward."""
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(24)
    cells = (40, 40)
    mlp = CompositionalMLP(IN, OUT, cells, num_tasks=T, num_param_sets=K, task_major=True)
    x, tid = torch.randn(T, 8, IN), torch.arange(T)[:, None].expand(T, 8)
    out = mlp(x, tid)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        out.square().sum().backward()
    copies = [e.input_shapes[0] for e in prof.events() if e.name == "aten::copy_" and e.input_shapes]
    assert [T, 40, 40] not in copies and [T, 1600] not in copies, copies
    assert mlp.layers[1].weight.grad.shape == (K, 40, 40)
