"""``compile=True``: the torch.compile'd Algorithm-1 update computes what the eager one does."""
from __future__ import annotations

import pytest
import torch

from update_case import assert_same_updates, make_update

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_compiled_update_matches_the_eager_update():
    eager, eager_loss = make_update(compile=False)
    compiled, compiled_loss = make_update(compile=True)
    assert_same_updates(compiled, compiled_loss, eager, eager_loss, [(0, None), (1, 1), (2, None), (3, None)])
    # the blown-up task was masked and its w reset, identically in both
    assert eager.w_reset.reset_counts.tolist() == [0, 1, 0]


def test_compile_key_reaches_the_update_step():
    from paco_torchrl.envs.toy import MultiTaskPointEnv
    from paco_torchrl.training import load_config, make_agent

    cfg = load_config(None, ["env.benchmark=toy", "network.num_cells=[8]", "optim.batch_size=8", "compile=true"])
    agent = make_agent(cfg, MultiTaskPointEnv(num_tasks=4), torch.device("cpu"))
    assert agent.update.compiled and not agent.update.cudagraphs
    assert agent.update._forward is not agent.update.compute_loss  # the torch.compile wrapper
