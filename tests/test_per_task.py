"""Tests of the per-task reduction: per_task_mean, reduce_per_task, total_task_loss."""
from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from paco_torchrl.objectives import per_task_mean, reduce_per_task, total_task_loss

from sac_case import _tid

torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# --------------------------------------------------------------------------- per_task_mean


class TestPerTaskMean:
    def test_values(self):
        v = torch.tensor([1.0, 2.0, 4.0, 10.0, -3.0, 7.0])
        tid = torch.tensor([0, 2, 0, 2, 2, 0])
        out = per_task_mean(v, tid, 4)
        assert torch.equal(out, torch.tensor([(1 + 4 + 7) / 3, 0.0, (2 + 10 - 3) / 3, 0.0]))

    def test_two_dims(self):
        v = torch.arange(12.0).view(3, 4)
        out = per_task_mean(v, _tid(3, 4), 3)
        torch.testing.assert_close(out, v.mean(1))

    def test_nan_isolated(self):
        v = torch.tensor([1.0, float("nan"), 3.0, float("inf"), 5.0])
        tid = torch.tensor([0, 1, 0, 1, 2])
        out = per_task_mean(v, tid, 3)
        assert torch.isnan(out[1])
        assert torch.equal(out[[0, 2]], torch.tensor([2.0, 5.0]))

    def test_gradients(self):
        v = torch.tensor([1.0, 2.0, 4.0, 5.0], requires_grad=True)
        tid = torch.tensor([0, 1, 0, 0])
        per_task_mean(v, tid, 2)[0].backward()
        assert torch.equal(v.grad, torch.tensor([1 / 3, 0.0, 1 / 3, 1 / 3]))

    def test_shape_mismatch(self):
        with pytest.raises(ValueError):
            per_task_mean(torch.ones(4), torch.zeros(3, dtype=torch.long), 2)

    def test_reduce_and_total(self):
        tid = torch.tensor([0, 1, 1])
        td = TensorDict({"loss_a": torch.tensor([1.0, 2.0, 4.0]), "loss_b": torch.tensor([0.5, 0.0, 1.0]),
                         "alpha": torch.tensor([9.0, 9.0, 9.0])}, [3])
        red = reduce_per_task(td, tid, 2)
        assert red.batch_size == (2,)
        assert torch.equal(red["loss_a"], torch.tensor([1.0, 3.0]))
        assert torch.equal(total_task_loss(red), torch.tensor([1.5, 3.5]))  # alpha not summed
        with pytest.raises(ValueError):
            total_task_loss(TensorDict({"alpha": torch.ones(2)}, [2]))
