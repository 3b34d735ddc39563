"""Our TensorDict modules write tensor outputs directly: same results as tensordict's, no file-system search."""
from __future__ import annotations

import importlib.util

import pytest
import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModule
from torch import nn

from paco_torchrl.modules import make_paco_actor_critic
from paco_torchrl.modules.tensor_outputs import TensorOutputModule
from paco_torchrl.objectives import MultiTaskSACLoss


@pytest.fixture
def find_spec_calls(monkeypatch):
    calls: list[str] = []
    real = importlib.util.find_spec

    def counting(name, *args, **kwargs):
        calls.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", counting)
    return calls


def _batch(T: int = 3, n: int = 4) -> TensorDict:
    tid = torch.arange(T)[:, None].expand(T, n)
    return TensorDict(
        {
            "observation": torch.randn(T, n, 6), "action": torch.rand(T, n, 2) * 2 - 1, "task_id": tid,
            "next": {"observation": torch.randn(T, n, 6), "task_id": tid, "reward": torch.randn(T, n, 1),
                     "done": torch.zeros(T, n, 1, dtype=torch.bool),
                     "terminated": torch.zeros(T, n, 1, dtype=torch.bool)},
        },
        [T, n],
    )


def test_the_overridden_tensordict_method_still_exists():
    assert hasattr(TensorDictModule, "_write_to_tensordict"), (
        "tensordict no longer has TensorDictModule._write_to_tensordict: adapt paco_torchrl/modules/tensor_outputs.py"
    )


def test_a_sac_update_forward_searches_no_package(find_spec_calls):
    torch.manual_seed(0)
    actor, qvalues = make_paco_actor_critic(6, 2, num_tasks=3, num_param_sets=2, num_cells=(8,))
    loss = MultiTaskSACLoss(actor, qvalues, num_tasks=3)
    batch = _batch()
    loss(batch)  # first call: TorchRL's lazy set-up may import things
    find_spec_calls.clear()
    out = loss(batch)
    assert out.batch_size == torch.Size([3])
    assert find_spec_calls == []  # stock TensorDictModules look for pandas once per output: 7 calls here


@pytest.mark.parametrize("inplace", [True, False, "empty"])
def test_outputs_equal_the_stock_modules(inplace):
    torch.manual_seed(0)
    actor, (critic, _) = make_paco_actor_critic(6, 2, num_tasks=3, num_param_sets=2, num_cells=(8,))
    net_module = actor.module[0]
    stock = TensorDictModule(net_module.module, in_keys=net_module.in_keys, out_keys=net_module.out_keys,
                             inplace=inplace)
    ours = TensorOutputModule(net_module.module, in_keys=net_module.in_keys, out_keys=net_module.out_keys,
                              inplace=inplace)
    td = _batch()
    a, b = stock(td.clone()), ours(td.clone())
    assert type(a) is type(b) and a.batch_size == b.batch_size
    assert set(a.keys(True, True)) == set(b.keys(True, True))
    assert all(torch.equal(a[k], b[k]) for k in a.keys(True, True))
    td = _batch()
    assert torch.equal(critic(td.clone())["state_action_value"],
                       critic.module(td["observation"], td["action"], td["task_id"]))


class _DictOut(nn.Module):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"double": 2 * x}


def test_non_tensor_outputs_keep_the_stock_conversion():
    td = TensorDict({"x": torch.ones(4, 3)}, [4])
    out = TensorOutputModule(_DictOut(), in_keys=["x"], out_keys=["y"])(td)
    assert isinstance(out["y"], TensorDictBase) and torch.equal(out["y", "double"], 2 * torch.ones(4, 3))
    with pytest.raises(RuntimeError, match="more out_keys than tensors"):
        TensorOutputModule(nn.Identity(), in_keys=["x"], out_keys=["y", "z"])(td)
