"""``compile=True``: the torch.compile'd Algorithm-1 update computes what the eager one does."""
from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from torchrl.objectives import SoftUpdate

from paco_torchrl.modules import make_paco_actor_critic
from paco_torchrl.objectives import MultiTaskSACLoss, PaCoUpdateStep, WReset, make_paco_optimizer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

OBS, ACT, T, K, N = 6, 2, 3, 2, 8


def _batch(seed: int, blow_up_task: int | None = None) -> TensorDict:
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
    )


def _update(compile: bool) -> tuple[PaCoUpdateStep, MultiTaskSACLoss]:
    torch.manual_seed(0)
    actor, qvalues = make_paco_actor_critic(OBS, ACT, T, K, (32, 32))
    loss = MultiTaskSACLoss(actor, qvalues, num_tasks=T)
    opt = make_paco_optimizer(loss)
    w_reset = WReset(loss.task_weight_tensors(), opt, generator=torch.Generator().manual_seed(1))
    return PaCoUpdateStep(loss, opt, SoftUpdate(loss, tau=0.005), w_reset=w_reset, compile=compile), loss


def test_compiled_update_matches_the_eager_update():
    eager, eager_loss = _update(compile=False)
    compiled, compiled_loss = _update(compile=True)
    batches = [_batch(0), _batch(1, blow_up_task=1), _batch(2), _batch(3)]
    for i, batch in enumerate(batches):
        torch.manual_seed(100 + i)
        m_eager = eager(batch.clone())
        torch.manual_seed(100 + i)
        m_compiled = compiled(batch.clone())
        for key in ("kept", "over_threshold", "reset"):
            assert torch.equal(m_eager[key], m_compiled[key]), (i, key)
        for key in ("loss_actor", "loss_qvalue", "loss_alpha", "alpha"):
            torch.testing.assert_close(m_compiled[key], m_eager[key], rtol=1e-4, atol=1e-5)
    # the blown-up task was masked and its w reset, identically in both
    assert m_eager["over_threshold"].tolist() == [False] * T
    assert eager.w_reset.reset_counts.tolist() == compiled.w_reset.reset_counts.tolist() == [0, 1, 0]
    live_e, live_c = eager_loss.state_dict(), compiled_loss.state_dict()
    assert live_e.keys() == live_c.keys()
    for key in live_e:  # 4 Adam steps: equal up to float rounding of the compiled kernels
        torch.testing.assert_close(live_c[key], live_e[key], rtol=1e-4, atol=2e-5, msg=key)


def test_compile_key_reaches_the_update_step():
    from paco_torchrl.envs.toy import MultiTaskPointEnv
    from paco_torchrl.training import load_config, make_agent

    cfg = load_config(None, ["env.benchmark=toy", "network.num_cells=[8]", "optim.batch_size=8", "compile=true"])
    agent = make_agent(cfg, MultiTaskPointEnv(num_tasks=4), torch.device("cpu"))
    assert agent.update.compiled and not agent.update.cudagraphs
    assert agent.update._forward is not agent.update.compute_loss  # the torch.compile wrapper
