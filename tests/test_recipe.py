"""The MT10-rand recipe end to end: a Meta-World smoke run, and PaCo learning the toy env."""
from __future__ import annotations

import csv
import json
import time

import pytest
import torch

from paco_torchrl.training import load_checkpoint, load_config
from paco_torchrl.training import train
from paco_torchrl.training.cli import main as train_cli
from paths import MT10_CONFIG

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_metaworld_smoke_run_writes_the_run_directory(tmp_path):
    run = tmp_path / "run"
    cfg = load_config(MT10_CONFIG, [
        "env.tasks=[reach-v3,drawer-close-v3]", "env.max_episode_steps=100", "collector.total_frames=2000",
        "collector.init_random_frames=400", "optim.batch_size=64", "network.num_cells=[64,64]",
        "eval.interval_frames=1000", "eval.episodes_per_task=2", "checkpoint.interval_frames=1000",
        "logger.interval_frames=500", f"output_dir={run}", "device=cpu", "progress=false", "threads=1",
    ])
    results = train(cfg)
    for name in ("config.yaml", "results.json", "checkpoint.pt"):
        assert (run / name).is_file(), name
    saved = json.loads((run / "results.json").read_text())
    assert saved == results and saved["frames"] == 2000
    assert set(saved["per_task_success"]) == {"reach-v3", "drawer-close-v3"}
    assert 0.0 <= saved["mean_success"] <= 1.0
    scalars = run / "logs" / "scalars"
    for series in ("loss_qvalue/reach-v3", "alpha/drawer-close-v3", "kept_count/reach-v3",
                   "reset_count/total", "frames_per_second", "eval/mean_success"):
        path = scalars / f"{series}.csv"
        assert path.is_file(), series
        rows = list(csv.reader(path.open()))
        assert rows and all(len(r) == 2 for r in rows)
    # 1600 updates: every update kept both tasks (losses are small early on)
    kept = [float(r[1]) for r in csv.reader((scalars / "kept_count" / "reach-v3.csv").open())]
    assert kept[-1] == (2000 - 400) // 2 + 1  # one update per vector step (2 frames) from frame 400 on
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["frames"] == 2000 and state["loss"]["log_alpha"].shape == (2,)
    assert not list(run.glob(".*.tmp"))  # atomic writes leave no temp files


def test_paco_learns_the_toy_env(tmp_path):
    """PaCo (K=2, 4 tasks needing opposite behaviour) reaches >= 90% mean success."""
    cfg = load_config(MT10_CONFIG, [
        "env.benchmark=toy", "env.num_toy_tasks=4", "env.max_episode_steps=20",
        "collector.total_frames=16000", "collector.init_random_frames=800", "collector.updates_per_step=2",
        "optim.batch_size=256", "optim.gamma=0.9", "network.num_cells=[64,64]", "paco.num_param_sets=2",
        "eval.interval_frames=100000", "eval.episodes_per_task=20", "checkpoint.interval_frames=100000",
        "logger.interval_frames=2000", f"output_dir={tmp_path}", "device=cpu", "progress=false", "threads=1",
        "seed=0",
    ])
    start = time.perf_counter()
    results = train(cfg)
    elapsed = time.perf_counter() - start
    print(f"toy: mean success {results['mean_success']:.2f} in {elapsed:.0f} s: {results['per_task_success']}")
    assert results["mean_success"] >= 0.9
    assert torch.tensor(list(results["per_task_success"].values())).min() >= 0.7


def test_resume_continues_with_the_runs_own_config(tmp_path):
    run = tmp_path / "run"
    common = ["env.benchmark=toy", "env.num_toy_tasks=2", "env.max_episode_steps=10", "optim.batch_size=32",
              "network.num_cells=[16]", "collector.init_random_frames=40", "eval.episodes_per_task=1",
              "eval.interval_frames=1000", "logger.interval_frames=100", "checkpoint.interval_frames=100",
              "progress=false", "threads=1", "device=cpu"]
    assert train_cli(MT10_CONFIG, common + ["paco.num_param_sets=3", "collector.total_frames=200",
                                                      f"output_dir={run}"]) == 0
    first = load_checkpoint(run / "checkpoint.pt")
    assert first["frames"] == 200 and first["updates"] == (200 - 40) // 2 + 1
    # no paco.num_param_sets here: the run's own K=3 must come back from its config.yaml
    assert train_cli(MT10_CONFIG, [f"resume={run}", "collector.total_frames=300"]) == 0
    second = load_checkpoint(run / "checkpoint.pt")
    assert second["frames"] == 300 and second["updates"] == first["updates"] + 50
    phi = [v for k, v in second["loss"].items() if k.endswith("layers.0.weight")]
    assert phi and all(p.shape[-3] == 3 for p in phi)
    assert json.loads((run / "results.json").read_text())["frames"] == 300


def test_a_fresh_start_drops_the_logs_of_an_attempt_killed_before_its_first_checkpoint(tmp_path):
    """The run directory of an attempt that died before any checkpoint holds CSV rows but nothing to resume
    from: the new attempt starts at frame 0 and its logs must not follow the dead attempt's rows."""
    run = tmp_path / "run"
    stale = run / "logs" / "scalars" / "eval" / "mean_success.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("100,0.5\n200,0.25\n")
    args = ["env.benchmark=toy", "env.num_toy_tasks=2", "env.max_episode_steps=10", "optim.batch_size=32",
            "network.num_cells=[16]", "collector.init_random_frames=40", "eval.episodes_per_task=1",
            "eval.interval_frames=100", "logger.interval_frames=100", "checkpoint.interval_frames=1000",
            "collector.total_frames=200", "progress=false", "threads=1", "device=cpu"]
    assert train_cli(MT10_CONFIG, args + [f"output_dir={run}"]) == 0  # no checkpoint there: a fresh start
    frames = [int(float(row[0])) for row in csv.reader(stale.open())]
    assert frames == [100, 200]  # the new attempt's two evaluations only (not 100, 200, 100, 200)
    assert json.loads((run / "results.json").read_text())["frames"] == 200


def test_resume_from_a_corrupt_checkpoint_is_one_clear_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    code = train_cli(MT10_CONFIG, ["env.benchmark=toy", f"resume={run}", "progress=false", "threads=1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: cannot read checkpoint")


def test_resume_with_an_incompatible_config_is_one_clear_line(tmp_path, capsys):
    run = tmp_path / "run"
    common = ["env.benchmark=toy", "env.num_toy_tasks=2", "env.max_episode_steps=10", "optim.batch_size=32",
              "network.num_cells=[16]", "collector.init_random_frames=20", "eval.episodes_per_task=1",
              "progress=false", "threads=1", "device=cpu"]
    assert train_cli(MT10_CONFIG, common + ["paco.num_param_sets=3", "collector.total_frames=40",
                                                      f"output_dir={run}"]) == 0
    capsys.readouterr()
    code = train_cli(MT10_CONFIG, [f"resume={run}", "paco.num_param_sets=4", "collector.total_frames=80"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: checkpoint does not fit this run")
    assert load_checkpoint(run / "checkpoint.pt")["frames"] == 40  # untouched


def test_direct_replay_trains_exactly_like_torchrls(tmp_path):
    """replay.direct=true and false: the same training, bit for bit (every tensor of the final checkpoint)."""
    common = ["env.benchmark=toy", "env.num_toy_tasks=2", "env.max_episode_steps=15", "optim.batch_size=32",
              "network.num_cells=[16]", "paco.num_param_sets=2", "collector.init_random_frames=40",
              "collector.total_frames=200", "eval.episodes_per_task=2", "eval.interval_frames=100",
              "progress=false", "threads=1", "device=cpu", "seed=3"]
    states = []
    for direct in ("true", "false"):
        run = tmp_path / direct
        assert train_cli(MT10_CONFIG, common + [f"replay.direct={direct}", f"output_dir={run}"]) == 0
        states.append(load_checkpoint(run / "checkpoint.pt"))

    def tensors(tree, prefix=""):
        if isinstance(tree, dict):
            return {k: v for key, sub in tree.items() for k, v in tensors(sub, f"{prefix}.{key}").items()}
        return {prefix: tree} if torch.is_tensor(tree) else {}

    direct, stock = (tensors(s) for s in states)
    assert direct.keys() == stock.keys() and len(direct) > 20
    assert [k for k in direct if not torch.equal(direct[k], stock[k])] == []
    assert states[0]["updates"] == states[1]["updates"] == (200 - 40) // 2 + 1
