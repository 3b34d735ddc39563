"""A small PaCo update and its batches, shared by the update tests on the CPU (test_compile) and CUDA (test_cuda)."""
from __future__ import annotations

import torch
from tensordict import TensorDict
from torchrl.objectives import SoftUpdate

from paco_torchrl.modules import make_paco_actor_critic
from paco_torchrl.objectives import MultiTaskSACLoss, PaCoUpdateStep, WReset, make_paco_optimizer

OBS, ACT, T, K, N = 6, 2, 3, 2, 8


def update_batch(seed: int, blow_up_task: int | None = None, device: str | torch.device = "cpu") -> TensorDict:
    """A task-major ``[T, N]`` batch; ``blow_up_task``'s rewards are scaled so that its J_τ exceeds ε = 3e3."""
    g = torch.Generator().manual_seed(seed)
    tid = torch.arange(T)[:, None].expand(T, N)
    reward = torch.randn(T, N, 1, generator=g)
    if blow_up_task is not None:
        reward[blow_up_task] *= 1e4  # that task's critic loss goes far over ε = 3e3
    flags = torch.zeros(T, N, 1, dtype=torch.bool)
    return TensorDict(
        {
            "observation": torch.randn(T, N, OBS, generator=g),
            "action": torch.rand(T, N, ACT, generator=g) * 2 - 1,
            "task_id": tid,
            "next": {"observation": torch.randn(T, N, OBS, generator=g), "task_id": tid, "reward": reward,
                     "done": flags.clone(), "terminated": flags.clone()},
        },
        [T, N],
    ).to(device)


def make_update(
    device: str | torch.device = "cpu", *, own_generator: bool = True, **speed
) -> tuple[PaCoUpdateStep, MultiTaskSACLoss]:
    """PaCo networks (32x32, K=2) from seed 0, maskout and a w-reset drawing from its own seeded generator
    (``own_generator=False``: the default one, which a CUDA graph needs); ``speed``: compile / cudagraphs."""
    torch.manual_seed(0)
    actor, qvalues = make_paco_actor_critic(OBS, ACT, T, K, (32, 32))
    loss = MultiTaskSACLoss(actor, qvalues, num_tasks=T).to(device)
    opt = make_paco_optimizer(loss, capturable=speed.get("cudagraphs", False))
    w_reset = WReset(loss.task_weight_tensors(), opt, generator=torch.Generator(device).manual_seed(1) if own_generator else None)
    return PaCoUpdateStep(loss, opt, SoftUpdate(loss, tau=0.005), w_reset=w_reset, **speed), loss


def assert_same_updates(
    fast: PaCoUpdateStep,
    fast_loss: MultiTaskSACLoss,
    eager: PaCoUpdateStep,
    eager_loss: MultiTaskSACLoss,
    batches: list[tuple[int, int | None]],
    device: str | torch.device = "cpu",
) -> None:
    """Feeds both updates the same ``(seed, blow_up_task)`` batches and random draws; every update's
    flags must be equal, its losses and, at the end, every parameter and buffer equal up to rounding."""
    for i, (seed, blow_up) in enumerate(batches):
        batch = update_batch(seed, blow_up, device)
        torch.manual_seed(100 + i)
        m_eager = eager(batch.clone())
        torch.manual_seed(100 + i)
        m_fast = fast(batch.clone())
        for key in ("kept", "over_threshold", "reset"):
            assert torch.equal(m_eager[key], m_fast[key]), (i, key)
        for key in ("loss_actor", "loss_qvalue", "loss_alpha", "alpha"):
            torch.testing.assert_close(m_fast[key], m_eager[key], rtol=1e-4, atol=1e-5)
    assert eager.w_reset.reset_counts.tolist() == fast.w_reset.reset_counts.tolist()
    live_e, live_f = eager_loss.state_dict(), fast_loss.state_dict()
    assert live_e.keys() == live_f.keys()
    for key in live_e:  # a few Adam steps: equal up to float rounding of other kernels
        torch.testing.assert_close(live_f[key], live_e[key], rtol=1e-4, atol=2e-5, msg=key)
