"""Transfer with a frozen Φ: a held-out toy task learns only w and α; Φ stays bit-identical."""
from __future__ import annotations

import json

import pytest
import torch

from paco_torchrl.envs.toy import MultiTaskPointEnv
from paco_torchrl.training import ConfigError, load_checkpoint, load_config, make_agent, make_env, task_names
from paco_torchrl.training.transfer import (
    freeze_parameter_set,
    is_task_specific,
    load_parameter_set,
    parameter_set_state,
    same_parameter_set,
)
from paco_torchrl.experiments import transfer
from paco_torchrl.training import train
from paths import MT10_CONFIG

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TINY = ["env.benchmark=toy", "env.num_toy_tasks=4", "env.max_episode_steps=10", "network.num_cells=[16]",
        "paco.num_param_sets=3", "collector.init_random_frames=60", "eval.episodes_per_task=2",
        "eval.interval_frames=150", "logger.interval_frames=60", "checkpoint.interval_frames=1000",
        "progress=false", "threads=1", "device=cpu", "seed=0"]
TRAINED = ["env.tasks=[rotate-0,rotate-90,rotate-270]", "optim.batch_size=48", "collector.total_frames=300"]


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("source")
    train(load_config(MT10_CONFIG, TINY + TRAINED + [f"output_dir={run}"]))
    return run


def test_toy_task_selection_holds_a_task_out():
    cfg = load_config(None, ["env.benchmark=toy", "env.num_toy_tasks=4", "env.tasks=[rotate-270,rotate-90]"])
    assert task_names(cfg) == ("rotate-270", "rotate-90")
    env = MultiTaskPointEnv(4, task_ids=[3, 1], seed=0)
    assert env.task_names == ("rotate-270", "rotate-90") and env.rollout(2)["task_id"][:, 0].tolist() == [0, 1]
    # task 0 of this env is the 270° rotation of the full 4-task env
    assert torch.allclose(env._rotation[0], MultiTaskPointEnv(4)._rotation[3])
    with pytest.raises(ConfigError, match="env.tasks: unknown toy task 'rotate-45'"):
        task_names(load_config(None, ["env.benchmark=toy", "env.tasks=[rotate-45]"]))


def test_freeze_trains_only_w_and_alpha_and_leaves_phi_bit_identical(source_run):
    cfg = load_config(source_run / "config.yaml", ["env.tasks=[rotate-180]", "optim.batch_size=16"])
    env = make_env(cfg, seed=1)
    agent = make_agent(cfg, env, torch.device("cpu"))
    source = load_checkpoint(source_run / "checkpoint.pt")
    loaded = load_parameter_set(agent, source, w_init="mean")
    assert loaded and not any(is_task_specific(k) for k in loaded)
    w_key = "actor_network_params.module.0.module.net.task_weights.weight"
    w0 = agent.loss.state_dict()[w_key].clone()
    torch.testing.assert_close(w0, source["loss"][w_key].mean(0, keepdim=True))  # new w = mean of the 3 learned
    optimizer = freeze_parameter_set(agent)
    trainable = [n for n, p in agent.loss.named_parameters() if p.requires_grad]
    assert sorted(trainable) == ["actor_network_params.module.0.module.net.task_weights.weight", "log_alpha"]
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 2 and agent.update.optimizer is optimizer
    before = parameter_set_state(agent)
    with torch.no_grad():
        td = env.rollout(8, agent.collect_policy)  # [T=1, 8] task-major batch, as the replay gives it
    for _ in range(5):
        agent.update(td.reshape(1, -1))
    after = agent.loss.state_dict()
    for key, value in before.items():
        if "network_params" in key and not key.startswith("target_"):
            assert torch.equal(after[key], value), key  # Φ: bit-identical
            assert torch.equal(after[key], source["loss"][key]), key
    assert not torch.equal(after[w_key], w0)  # w learned
    assert not torch.equal(after["log_alpha"], torch.zeros(1))  # α learned (log α starts at 0)


def test_transfer_recipe_compares_with_scratch_and_keeps_phi(source_run, tmp_path):
    out = tmp_path / "transfer"
    comparison = transfer.run_transfer(
        source_run, ["rotate-180"], ["collector.total_frames=150", f"output_dir={out}"], mode="both"
    )
    assert comparison["tasks"] == ["rotate-180"] and comparison["frames"] == 150
    assert comparison["phi_bit_identical"] is True
    assert json.loads((out / "comparison.json").read_text()) == comparison
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    source, moved, scratch = (load_checkpoint(p / "checkpoint.pt") for p in (source_run, out / "transfer", out / "scratch"))
    assert same_parameter_set(source, moved) and not same_parameter_set(source, scratch)
    assert moved["frames"] == scratch["frames"] == 150  # same budget
    # the per-task budget defaults scale from the source's share: batch 48 / 3 tasks -> 16 for one task
    assert load_config(out / "transfer" / "config.yaml").optim.batch_size == 16
    for run in ("transfer", "scratch"):
        assert set(json.loads((out / run / "results.json").read_text())["per_task_success"]) == {"rotate-180"}


def test_transfer_cli_errors_are_one_line(tmp_path, capsys, source_run):
    assert transfer.main(["tasks=[rotate-0]"]) == 2
    assert transfer.main([f"source={tmp_path}", "tasks=[rotate-0]"]) == 2
    assert transfer.main([f"source={source_run}", "tasks=[rotate-180]", "w_init=rotate-180"]) == 2  # not a source task
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)
    assert "w_init: must be one of ('mean', 'fresh') or a source task (rotate-0, rotate-90, rotate-270)" in err[2]


def test_train_critics_keeps_the_actor_phi_and_moves_the_critics(source_run):
    cfg = load_config(source_run / "config.yaml", ["env.tasks=[rotate-180]", "optim.batch_size=16"])
    env = make_env(cfg, seed=1)
    agent = make_agent(cfg, env, torch.device("cpu"))
    source = load_checkpoint(source_run / "checkpoint.pt")
    load_parameter_set(agent, source, w_init=2)  # start at the source's rotate-270 row
    w_key = "actor_network_params.module.0.module.net.task_weights.weight"
    assert torch.equal(agent.loss.state_dict()[w_key], source["loss"][w_key][2:3])
    freeze_parameter_set(agent, train_critics=True)
    assert all(p.requires_grad for n, p in agent.loss.named_parameters() if n.startswith("qvalue_network_params"))
    with torch.no_grad():
        td = env.rollout(8, agent.collect_policy)
    for _ in range(3):
        agent.update(td.reshape(1, -1))
    state = agent.loss.state_dict()
    assert same_parameter_set(source, state, "actor") and not same_parameter_set(source, state)
