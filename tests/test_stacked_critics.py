"""The critic ensemble through batched matmuls over stacked parameters equals TorchRL's vmapped call."""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from tensordict import TensorDict
from torchrl.data import Bounded

import paco_torchrl.nn.stacked as stacked_mod
from paco_torchrl.algos import ALGOS
from paco_torchrl.nn import CompositionalMLP, OneHotTaskMLP, assume_task_major
from paco_torchrl.nn.stacked import stacked_forward
from paco_torchrl.objectives import MultiTaskSACLoss
from paco_torchrl.training import RunConfig

torch.set_num_threads(1)
OBS, ACT = 5, 2


def _batch(T: int, n: int, flat: bool = False, seed: int = 0) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    shape = (T * n,) if flat else (T, n)
    tid = torch.randint(0, T, shape, generator=g) if flat else torch.arange(T)[:, None].expand(T, n)
    return TensorDict(
        {
            "observation": torch.randn(*shape, OBS, generator=g),
            "action": torch.rand(*shape, ACT, generator=g) * 2 - 1,
            "task_id": tid,
            "next": {"observation": torch.randn(*shape, OBS, generator=g), "task_id": tid,
                     "reward": torch.randn(*shape, 1, generator=g), "done": torch.zeros(*shape, 1, dtype=torch.bool),
                     "terminated": torch.zeros(*shape, 1, dtype=torch.bool)},
        },
        list(shape),
    )


def _networks(kind: str, T: int, K: int):
    """The recipe's networks of ``kind`` (``paco``, ``single_task``: a fixed one-hot W, ``mtsac``), task-major as
    the recipe makes them."""
    cfg = OmegaConf.structured(RunConfig)
    cfg.network.num_cells, cfg.paco.num_param_sets, cfg.paco.identical_init = [16, 16], K, False
    cfg.paco.normalize_w = kind == "paco_normalized"
    kind = "paco" if kind == "paco_normalized" else kind
    actor, critics = ALGOS[kind].build_networks(cfg, OBS, Bounded(-1.0, 1.0, (ACT,)), T)
    return assume_task_major(actor), [assume_task_major(q) for q in critics]


def _losses_and_grads(kind: str, T: int, K: int, stacked: bool, batch: TensorDict, form: str):
    torch.manual_seed(0)
    actor, critics = _networks(kind, T, K)
    loss = MultiTaskSACLoss(actor, critics, num_tasks=T, stacked_critics=stacked, actor_loss_form=form)
    torch.manual_seed(1)
    out = loss(batch.clone())
    total = (out["loss_actor"] + out["loss_qvalue"] + out["loss_alpha"]).sum()
    total.backward()
    grads = {name: p.grad.clone() for name, p in loss.named_parameters() if p.grad is not None}
    return out.detach(), grads


@pytest.mark.parametrize("form", ["dqda", "q"])
@pytest.mark.parametrize("kind, T, K, flat", [
    ("paco", 1, 1, False), ("paco", 1, 2, True), ("paco", 3, 2, False), ("paco", 3, 2, True),
    ("paco_normalized", 3, 2, False),
    ("single_task", 3, 3, False), ("single_task", 1, 1, False), ("mtsac", 3, 1, False), ("mtsac", 3, 1, True),
])
def test_losses_and_gradients_equal_the_vmapped_critics(kind, T, K, flat, form, monkeypatch):
    batch = _batch(T, 4, flat=flat)
    calls = []
    real = stacked_mod.stacked_forward

    def counting(*args):
        out = real(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr("paco_torchrl.modules.actor_critic.stacked_forward", counting)
    fast, fast_grads = _losses_and_grads(kind, T, K, True, batch, form)
    # the stacked path ran for every critic call, flat multi-task PaCo batches included (sorted, grouped)
    assert calls and all(calls)
    calls.clear()
    ref, ref_grads = _losses_and_grads(kind, T, K, False, batch, form)
    assert calls == []
    for key in ("loss_actor", "loss_qvalue", "loss_alpha", "entropy"):
        torch.testing.assert_close(fast[key], ref[key], rtol=1e-5, atol=1e-6)
    assert fast_grads.keys() == ref_grads.keys() and len(ref_grads) > 4
    for name in ref_grads:
        torch.testing.assert_close(fast_grads[name], ref_grads[name], rtol=1e-5, atol=1e-6, msg=name)


def test_per_task_gradient_isolation_holds_on_the_stacked_path():
    """Task 1's critic loss reaches only row 1 of the shared W (and of the critics' views of it)."""
    torch.manual_seed(0)
    actor, critics = _networks("paco", 3, 2)
    loss = MultiTaskSACLoss(actor, critics, num_tasks=3)
    out = loss(_batch(3, 4))
    out["loss_qvalue"][1].backward()
    w = actor.module[0].module.net.task_weights.weight
    assert w.grad is not None and w.grad[1].abs().sum() > 0
    assert torch.equal(w.grad[[0, 2]], torch.zeros_like(w.grad[[0, 2]]))


def test_uncovered_networks_and_layouts_return_none():
    mlp = CompositionalMLP(4, 1, (8,), num_tasks=3, num_param_sets=2)
    params = {name: torch.stack([p.detach()] * 2) for name, p in mlp.named_parameters()}
    tid = torch.arange(3)[:, None].expand(3, 5)
    assert stacked_forward(mlp, params, torch.randn(3, 4), torch.arange(3)) is None  # <= T samples: the mix path
    mlp.task_major = True
    out = stacked_forward(mlp, params, torch.randn(3, 5, 4), tid)
    assert out is not None and out.shape == (2, 3, 5, 1)
    mlp.check_layout = True  # the promise is checked in the module's own path
    assert stacked_forward(mlp, params, torch.randn(3, 5, 4), tid) is None
    output_only = CompositionalMLP(4, 1, (8,), num_tasks=3, num_param_sets=2, compositional="output")
    p_out = {name: torch.stack([p.detach()] * 2) for name, p in output_only.named_parameters()}
    assert stacked_forward(output_only, p_out, torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])) is None
    assert stacked_forward(torch.nn.Linear(4, 1), {}, torch.randn(3, 4), torch.zeros(3, dtype=torch.long)) is None
    plain = OneHotTaskMLP(4, 1, (8,), num_tasks=3)
    p2 = {name: torch.stack([p.detach()] * 2) for name, p in plain.named_parameters()}
    x, tid = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    torch.testing.assert_close(stacked_forward(plain, p2, x, tid)[1], plain(x, tid))


@pytest.mark.parametrize("normalize_w", [False, True])
def test_the_sorted_stacked_path_equals_the_vmapped_module_exactly(normalize_w):
    """A flat batch with tasks in any order (one task absent, extra batch dims): outputs and every gradient
    are bit-identical to ``vmap`` of the module's own sorted path over the stacked parameters."""
    torch.manual_seed(0)
    mlp = CompositionalMLP(7, 3, (16, 8), num_tasks=4, num_param_sets=3, identical_init=False, normalize_w=normalize_w)
    names = [name for name, _ in mlp.named_parameters()]
    stacked = [torch.stack([p.detach(), p.detach().flip(0) + 0.1]).requires_grad_() for _, p in mlp.named_parameters()]
    x = torch.randn(5, 6, 7, requires_grad=True)
    tid = torch.tensor([0, 1, 3])[torch.randint(0, 3, (5, 6))]  # tasks in any order, task 2 absent
    g = torch.randn(2, 5, 6, 3)

    def run(fast: bool):
        params = dict(zip(names, stacked))
        if fast:
            out = stacked_forward(mlp, params, x, tid)
            assert out is not None
        else:
            out = torch.vmap(lambda p: torch.func.functional_call(mlp, p, (x, tid)))(params)
        return out, torch.autograd.grad(out, [x, *stacked], g)

    (out, grads), (ref, ref_grads) = run(True), run(False)
    assert out.shape == (2, 5, 6, 3) and torch.equal(out, ref)
    for name, a, b in zip(["x", *names], grads, ref_grads):
        assert torch.equal(a, b), name
    for s in range(2):  # and each set is the module under that set's parameters
        single = torch.func.functional_call(mlp, {n: p[s] for n, p in zip(names, stacked)}, (x, tid))
        torch.testing.assert_close(out[s], single, rtol=0, atol=1e-6)
