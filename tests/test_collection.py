"""Collection options of the recipe: batches of several vector steps, and collection in a worker process."""
from __future__ import annotations

import pytest

from paco_torchrl.training import load_checkpoint
from paco_torchrl.training.cli import main as train_cli
from paths import MT10_CONFIG

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TOY = [
    "env.benchmark=toy", "env.num_toy_tasks=2", "env.max_episode_steps=15", "optim.batch_size=32",
    "network.num_cells=[16]", "collector.init_random_frames=40", "eval.episodes_per_task=2",
    "eval.interval_frames=1000", "checkpoint.interval_frames=1000", "logger.interval_frames=100",
    "progress=false", "threads=1", "device=cpu",
]


@pytest.mark.parametrize("async_collection", [False, True])
def test_batches_of_several_steps_keep_the_update_to_data_ratio(tmp_path, async_collection):
    run = tmp_path / "run"
    args = TOY + ["collector.total_frames=400", "collector.steps_per_batch=5", "collector.updates_per_step=2",
                  f"collector.async_collection={str(async_collection).lower()}", f"output_dir={run}"]
    assert train_cli(MT10_CONFIG, args) == 0
    state = load_checkpoint(run / "checkpoint.pt")
    # 2 envs x 5 steps = 10 frames a batch; updates from the batch reaching frame 40 on, 2 per vector step
    assert state["frames"] == 400 and state["updates"] == (400 - 40) // 10 * 10 + 10


def test_async_worker_acts_with_the_weights_trained_in_this_process():
    """The ``AsyncCollector``'s worker acts with the parameters updated in this process (on the CPU they
    share memory; the loop also calls ``update_policy_weights_`` for devices where the worker holds a
    copy), at most one batch late: the promise of ``make_collector``'s docstring."""
    import torch
    from tensordict.nn import TensorDictModule

    from paco_torchrl.training import load_config
    from paco_torchrl.training.builders import make_collector, make_env

    cfg = load_config(MT10_CONFIG, TOY + ["collector.total_frames=60", "collector.async_collection=true"])
    env = make_env(cfg, cfg.seed)
    net = torch.nn.Linear(env.observation_spec["observation"].shape[-1], env.action_spec.shape[-1])
    with torch.no_grad():
        net.weight.zero_()
        net.bias.fill_(0.5)
    policy = TensorDictModule(net, in_keys=["observation"], out_keys=["action"])
    collector = make_collector(cfg, env, policy, frames_done=0, device=torch.device("cpu"),
                               storing_device=torch.device("cpu"))
    actions = []
    try:
        for i, batch in enumerate(collector):
            actions.append(batch["action"])
            if i == 2:
                with torch.no_grad():
                    net.bias.fill_(-0.25)  # what an optimizer step does: in place
            collector.update_policy_weights_()  # as the training loop does after each batch's updates
    finally:
        collector.shutdown()
    assert len(actions) == 30  # 60 frames, 2 envs x 1 step a batch
    assert all(bool((a == 0.5).all()) for a in actions[:3])
    assert all(bool((a == -0.25).all()) for a in actions[5:])  # at most one batch in flight at the change
