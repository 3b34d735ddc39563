"""The update reads nothing from the device, and its autograd history starts inside the call.

On the CPU, a host synchronisation shows up as a read of tensor data: on the ``meta`` device (shapes,
no data) every such read (``bool(t)``, ``.item()``, a data-dependent branch) raises. So the loss,
maskout, backward and w-reset running on meta tensors is the CPU's check that the eager
update never waits for the device; ``tests/test_cuda.py`` checks the same on a GPU with
``torch.cuda.set_sync_debug_mode("error")``. ``UnitTanhNormal`` is what makes it hold: TorchRL's
``TanhNormal`` reads its bounds (and ``torch.distributions`` validates ``scale``) on every build.
"""
from __future__ import annotations

import pytest
import torch
from torchrl.data import Bounded
from torchrl.modules import TanhNormal

from paco_torchrl.modules import make_paco_actor_critic
from paco_torchrl.modules.distributions import UnitTanhNormal, host_bounds, is_unit_box
from paco_torchrl.objectives import MultiTaskSACLoss, PaCoUpdateStep, WReset, make_paco_optimizer
from update_case import ACT, K, OBS, T, make_update, update_batch

META = torch.device("meta")


def _draws(dist_cls, loc, scale, **kwargs):
    torch.manual_seed(0)
    dist = dist_cls(loc, scale, **kwargs)
    action, log_prob = dist.rsample_and_log_prob()
    again = dist.log_prob(action.detach().clamp(-0.999, 0.999))
    return action, log_prob, again, dist.deterministic_sample, dist.rsample((3,))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"low": -1.0, "high": 1.0}, {"low": torch.full((2,), -1.0), "high": torch.ones(2)},
     {"tanh_loc": True}, {"event_dims": 0}, {"safe_tanh": False}, {"low": -2.0, "high": 3.0},
     {"low": torch.tensor([-1.0, -2.0]), "high": torch.tensor([1.0, 0.5])}],
    ids=["default", "floats", "tensors", "tanh_loc", "event_dims0", "plain_tanh", "other_box", "per_dim_box"],
)
def test_unit_tanh_normal_equals_torchrls_bit_for_bit(kwargs):
    """Samples, log-probabilities (of its own draws and of given actions), the deterministic sample and
    the gradients of all of them with respect to loc and scale equal TorchRL's TanhNormal exactly."""
    gen = torch.Generator().manual_seed(1)
    base_loc, base_scale = torch.randn(5, 2, generator=gen) * 3, torch.rand(5, 2, generator=gen) + 0.05
    results = []
    for cls in (UnitTanhNormal, TanhNormal):
        loc, scale = base_loc.clone().requires_grad_(), base_scale.clone().requires_grad_()
        out = _draws(cls, loc, scale, **kwargs)
        grads = torch.autograd.grad(sum(t.sum() for t in out), (loc, scale))
        results.append((*out, *grads))
    for ours, torchrls in zip(*results):
        assert torch.equal(ours, torchrls)


def test_unit_tanh_normal_reads_no_tensor_data_for_the_unit_box():
    loc, scale = torch.zeros(4, 3, device=META), torch.ones(4, 3, device=META)
    action, log_prob = UnitTanhNormal(loc, scale, low=-1.0, high=1.0).rsample_and_log_prob()
    assert action.shape == (4, 3) and log_prob.shape == (4,) and action.device == META
    with pytest.raises(RuntimeError, match="meta"):  # TorchRL's reads its bounds (a sync on CUDA)
        TanhNormal(loc, scale, low=-1.0, high=1.0)


def test_host_bounds_and_unit_box():
    assert host_bounds(Bounded(-1.0, 1.0, shape=(4,))) == {"low": -1.0, "high": 1.0}
    assert host_bounds(Bounded(-2.0, 2.0, shape=(4,))) == {"low": -2.0, "high": 2.0}
    spec = Bounded(torch.tensor([-1.0, -2.0]), torch.tensor([1.0, 2.0]), shape=(2,))
    per_dim = host_bounds(spec)
    assert torch.equal(per_dim["low"], spec.space.low) and torch.equal(per_dim["high"], spec.space.high)
    assert is_unit_box(-1.0, 1.0) and not is_unit_box(-1.0, 2.0)
    assert is_unit_box(torch.full((3,), -1.0), torch.ones(3)) and not is_unit_box(torch.zeros(3), torch.ones(3))


def test_the_update_reads_nothing_from_the_device():
    """Loss (both critics, the actor, α), maskout, backward and w-reset on meta tensors: any host read of
    tensor data (a device sync on CUDA) would raise here. (The target update is TorchRL's foreach lerp,
    whose SoftUpdate cannot be built on meta tensors; the fused Adam step has no meta kernel.)"""
    actor, critics = make_paco_actor_critic(OBS, ACT, T, K, (32, 32))
    actor, critics = actor.to(META), [critic.to(META) for critic in critics]
    with torch.device(META):
        loss = MultiTaskSACLoss(actor, critics, num_tasks=T)
    update = PaCoUpdateStep(loss, torch.optim.SGD(loss.parameters(), lr=0.1),
                            w_reset=WReset(loss.task_weight_tensors()))
    batch = update_batch(0).to(META)
    total, task_losses, mask, under = update.compute_loss(batch)
    total.backward()
    assert all(p.grad is not None and p.grad.device == META for p in loss.parameters() if p.requires_grad)
    assert update.w_reset(under).shape == (T,)
    assert task_losses.batch_size == (T,) and total.device == META


def _history_before(tensor: torch.Tensor, marker: int) -> list[str]:
    """Autograd nodes behind ``tensor`` created before sequence number ``marker`` (leaves excepted)."""
    seen, stack, old = set(), [tensor.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if type(node).__name__ != "AccumulateGrad" and node._sequence_nr() < marker:
            old.append(type(node).__name__)
        stack.extend(f for f, _ in node.next_functions)
    return old


def test_a_shared_w_view_made_at_build_time_is_refreshed_inside_the_call():
    """TorchRL expands a W shared by the critics when the loss is built: that expand is autograd history
    from before the update, which a CUDA-graph capture cannot reach. With ``cudagraphs`` the update makes
    a new view each call; the loss is the same tensor and W still receives its gradient."""
    update, loss = make_update()
    assert update._refresh_views is None  # eager: no refresh (it costs ~0.3 ms); only a capture needs it
    marker = torch.ones(1, requires_grad=True).mul(2).grad_fn._sequence_nr()
    torch.manual_seed(0)
    total = loss(update_batch(0))["loss_qvalue"].sum()
    assert _history_before(total, marker) == ["ExpandBackward0"]  # the build-time view
    (entry, source), = loss._shared_w.sources.items()
    view_before = loss._shared_w.params(entry[0]).get(entry[1])

    marker = torch.ones(1, requires_grad=True).mul(2).grad_fn._sequence_nr()
    loss.refresh_task_weight_views()  # what the update does first in each (captured) call
    torch.manual_seed(0)
    refreshed = loss(update_batch(0))["loss_qvalue"].sum()
    assert _history_before(refreshed, marker) == []
    view = loss._shared_w.params(entry[0]).get(entry[1])
    assert view is not view_before and view.data_ptr() == source.data_ptr() and view.shape == view_before.shape
    assert torch.equal(refreshed, total)
    (g_before,) = torch.autograd.grad(total, source)
    (g_after,) = torch.autograd.grad(refreshed, source)
    assert torch.equal(g_before, g_after) and g_after.abs().sum() > 0


def test_cudagraphs_refuses_a_w_reset_with_its_own_generator():
    loss_update, loss = make_update()
    opt = make_paco_optimizer(loss)
    with pytest.raises(ValueError, match="default CUDA generator"):
        PaCoUpdateStep(loss, opt, w_reset=loss_update.w_reset, cudagraphs=True)


def _accumulator(t: torch.Tensor):
    """``t``'s gradient accumulator: the live one if something holds it, else a new one (dropped with it)."""
    return t.view_as(t).grad_fn.next_functions[0][0]


def test_a_captured_call_starts_with_no_gradient_accumulator_from_before_it():
    """The condition for capturing backward in a CUDA graph: when the captured call builds its graph, no
    parameter's gradient accumulator survives from before the call (each keeps the CUDA stream it was made
    on, and CUDA rejects a captured wait on another). Here every accumulator alive before a call is tagged;
    with what ``cudagraphs=True`` sets up (minus the graph itself, which needs CUDA) none is alive when the
    loss runs. Without it, W's (held through TorchRL's build-time view and SoftUpdate's cached sources) is."""
    update, loss = make_update()
    for seed in (0, 1):  # warm: optimizer state, SoftUpdate's cache of the sources
        update(update_batch(seed))
    leaves = [p for p in loss.parameters() if p.requires_grad]
    leaves += [w for w in loss._shared_w.sources.values() if all(w is not p for p in leaves)]
    survivors: list[list[int]] = []
    forward = update._forward

    def probe(batch):
        survivors.append([i for i, p in enumerate(leaves) if _accumulator(p).metadata.get("before")])
        return forward(batch)

    update._forward = probe
    for capture in (False, True):
        for p in leaves:
            _accumulator(p).metadata["before"] = True  # kept only if something holds it
        if capture:  # what cudagraphs=True sets up around the eager update
            update.cudagraphs, update._refresh_views = True, loss.refresh_task_weight_views
        update._eager_update(update_batch(2))
    w_index = next(i for i, p in enumerate(leaves) if any(p is w for w in loss._shared_w.sources.values()))
    assert survivors == [[w_index], []]
