"""Shared case of the objectives tests: a small PaCo actor-critic, its MultiTaskSACLoss and batches."""
from __future__ import annotations

import torch
from tensordict import TensorDict

from paco_torchrl.modules import make_paco_actor_critic
from paco_torchrl.objectives import MultiTaskSACLoss

torch.set_num_threads(1)

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
    """Records every (action, log-prob) the loss draws from its actor (direct path or TorchRL's)."""
    calls = []
    orig = MultiTaskSACLoss._actor_sample

    def recording(self, tensordict):
        action, log_prob = orig(self, tensordict)
        calls.append((action.detach().clone(), log_prob.detach().clone()))
        return action, log_prob

    monkeypatch.setattr(MultiTaskSACLoss, "_actor_sample", recording)
    return calls


def _task_mean(values: torch.Tensor, tid: torch.Tensor) -> torch.Tensor:
    return torch.stack([values[tid == t].mean() for t in range(T)])


def _nan_batch(seed: int = 6) -> TensorDict:
    batch = _batch(seed)
    batch[("next", "reward")][1, :2] = float("nan")
    return batch


def _convex_coeffs(kept_rows: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
    """β with Σβ = 1 and β·kept_rows = row (least squares, float64)."""
    a = torch.cat([kept_rows.T, torch.ones(1, kept_rows.shape[0], dtype=kept_rows.dtype)]).double()
    b = torch.cat([row, torch.ones(1, dtype=row.dtype)]).double()
    beta = torch.linalg.lstsq(a, b.unsqueeze(-1)).solution.squeeze(-1)
    torch.testing.assert_close(a @ beta, b, atol=1e-5, rtol=0)
    return beta
