"""The K=2 unit-circle experiment (Fig. 3) end to end on the toy env, and its exact parts."""
from __future__ import annotations

import json
import math

import pytest
import torch
from tensordict import TensorDict

from paco_torchrl.analysis.__main__ import main as analysis_main
from paco_torchrl.analysis.pca import load_task_weights
from paco_torchrl.analysis.subspace import policy_w, unit_angles
from paco_torchrl.modules import find_task_weights, make_paco_actor
from paco_torchrl.training import load_config
from paco_torchrl.experiments import subspace as subspace_k2
from paths import SUBSPACE_CONFIG

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_policy_w_gives_every_task_the_same_policy_and_restores_w():
    torch.manual_seed(0)
    actor = make_paco_actor(4, 2, num_tasks=3, num_param_sets=2, num_cells=(16,), normalize_w=True)
    (tw,) = find_task_weights(actor)
    before = tw.weight.detach().clone()
    obs = torch.randn(5, 4)

    def loc(task: int) -> torch.Tensor:
        td = TensorDict({"observation": obs, "task_id": torch.full((5,), task)}, [5])
        return actor(td)["loc"]

    learned = loc(1)
    with policy_w(actor, 3.0 * before[1]):  # a positive multiple: the same point of the unit circle
        assert torch.allclose(loc(0), learned, atol=1e-6) and torch.allclose(loc(2), learned, atol=1e-6)
    assert torch.equal(tw.weight, before)
    with policy_w(actor, torch.tensor([1.0, 0.0])):  # w = (1, 0): the network built from φ_1 alone
        first = loc(2)
    net = actor.module[0].module.net
    h = torch.relu(obs @ net.layers[0].weight[0].T + net.layers[0].bias[0])
    assert torch.allclose(first, (h @ net.layers[1].weight[0].T + net.layers[1].bias[0])[:, :2], atol=1e-6)


def test_unit_angles_rejects_k3():
    with pytest.raises(ValueError, match="K=2"):
        unit_angles(torch.zeros(3, 3))


def test_subspace_recipe_on_a_tiny_toy_run(tmp_path):
    run = tmp_path / "k2"
    cfg = load_config(SUBSPACE_CONFIG, [
        "env.benchmark=toy", "env.tasks=null", "env.num_toy_tasks=3", "env.max_episode_steps=10",
        "network.num_cells=[16]", "collector.total_frames=240", "collector.init_random_frames=60",
        "optim.batch_size=30", "eval.interval_frames=1000", "eval.episodes_per_task=1",
        "logger.interval_frames=60", "checkpoint.interval_frames=1000", "progress=false", "threads=1",
        "device=cpu", f"output_dir={run}",
    ])
    assert cfg.paco.num_param_sets == 2 and cfg.paco.normalize_w
    result = subspace_k2.run(cfg, angles=4, episodes=2)
    names, w = load_task_weights(run)
    assert torch.allclose(w.norm(dim=-1), torch.ones(3))  # normalize_w: the unit circle (L2)
    assert result == json.loads((run / "subspace.json").read_text())
    assert result["tasks"] == list(names) == ["rotate-0", "rotate-120", "rotate-240"]
    for name, row in zip(names, w):
        assert math.isclose(result["learned"][name]["angle"], math.atan2(row[1], row[0]) % (2 * math.pi),
                            abs_tol=1e-6)
    assert [s["angle"] for s in result["sampled"]] == pytest.approx([0, math.pi / 2, math.pi, 3 * math.pi / 2])
    for sample in result["sampled"]:
        assert set(sample["success"]) == set(names)
        assert all(v in (0.0, 0.5, 1.0) for v in sample["success"].values())  # 2 episodes per task
        assert all(-10 * 3.0 <= v <= 0 for v in sample["return"].values())  # 10 steps, reward = -distance
    png = (run / "subspace_k2.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 20_000
    assert analysis_main(["subspace", str(run), "--out", str(tmp_path / "again.png")]) == 0
    assert (tmp_path / "again.png").stat().st_size > 20_000


def test_sweep_refuses_a_k3_run(tmp_path, capsys):
    run = tmp_path / "k3"
    run.mkdir()
    (run / "config.yaml").write_text("env:\n  benchmark: toy\npaco:\n  num_param_sets: 3\n")
    assert subspace_k2.main([f"run={run}"]) == 2
    assert "needs K=2" in capsys.readouterr().err
