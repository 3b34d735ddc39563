"""The §4.3 baselines as PaCo instantiations, the ``algo=`` registry, the sweep runner and the report."""
from __future__ import annotations

import json
import math

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from paco_torchrl.algos import ALGOS
from paco_torchrl.experiments import PAPER_ROWS, interquartile_mean, load_runs, summarize, variant_label
from paco_torchrl.nn import CompositionalLinear, CompositionalMLP, TaskWeights
from paco_torchrl.training import load_config, make_agent, make_env
from paco_torchrl.experiments import report
from paco_torchrl.experiments import sweep
from paco_torchrl.training import train
from paths import MT10_CONFIG

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

T = 3
TOY = ["env.benchmark=toy", f"env.num_toy_tasks={T}", "env.max_episode_steps=10", "network.num_cells=[16,16]",
       "optim.batch_size=12", "device=cpu", "threads=1", "progress=false"]


def _agent(algo: str, *overrides: str):
    cfg = load_config(MT10_CONFIG, [*TOY, f"algo={algo}", *overrides])
    env = make_env(cfg, seed=0)
    return make_agent(cfg, env, torch.device("cpu")), env


def _net(actor: nn.Module) -> nn.Module:
    return actor.module[0].module.net  # ProbabilisticActor -> TensorDictModule -> GaussianPolicyNet


def _task_loss_grads(agent, batch, tau: int) -> dict[str, torch.Tensor]:
    """Gradients of task τ's actor + critic loss w.r.t. every actor / critic layer parameter."""
    agent.loss.zero_grad(set_to_none=True)
    losses = agent.loss(batch)
    (losses["loss_actor"][tau] + losses["loss_qvalue"][tau]).backward()
    return {n: p.grad for n, p in agent.loss.named_parameters() if ".layers." in n}


def _k_dim(name: str) -> int:
    return 1 if name.startswith("qvalue") else 0  # critics' params are stacked [2, ...]


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_every_algo_builds_and_updates_on_the_toy_env(algo):
    agent, env = _agent(algo)
    batch = env.rollout(4)  # task-major [T, 4]
    before = {n: p.detach().clone() for n, p in agent.loss.named_parameters()}
    fixed_w = [m.weight.clone() for m in agent.actor.modules() if isinstance(m, TaskWeights)]
    for _ in range(3):
        metrics = agent.update(batch)
    assert metrics.batch_size == (T,)
    for key in ("loss_actor", "loss_qvalue", "loss_alpha"):
        assert torch.isfinite(metrics[key]).all(), key
    changed = [n for n, p in agent.loss.named_parameters() if not torch.equal(p, before[n])]
    assert any(n.endswith(".weight") for n in changed) and "log_alpha" in changed
    maskout, reset = ALGOS[algo].stabilisation(load_config(MT10_CONFIG, [f"algo={algo}"]))
    assert agent.update.loss_maskout == maskout and (agent.w_reset is not None) == reset
    if algo in ("mhsac", "single_task"):  # fixed one-hot w: a buffer, untouched by updates
        assert fixed_w and all(torch.equal(w, torch.eye(T)) for w in fixed_w)
        assert [m.weight for m in agent.actor.modules() if isinstance(m, TaskWeights)][0].requires_grad is False


@pytest.mark.parametrize("algo", ["mtsac", "mhsac", "single_task"])
def test_baselines_use_no_stabilisation_whatever_the_paco_keys_say(algo):
    agent, _ = _agent(algo, "paco.loss_maskout=true", "paco.w_reset=true")
    assert agent.update.loss_maskout is False and agent.w_reset is None
    assert [g["name"] for g in agent.optimizer.param_groups] == ["alpha", "phi"]  # no W to optimise


def test_single_task_is_T_independent_networks():
    agent, env = _agent("single_task")
    mlp = _net(agent.actor)
    assert isinstance(mlp, CompositionalMLP) and mlp.num_param_sets == T
    assert all(isinstance(layer, CompositionalLinear) for layer in mlp.layers)
    assert not torch.equal(mlp.layers[0].weight[0], mlp.layers[0].weight[1])  # independently initialised
    x = torch.randn(T, 5, mlp.in_features)
    task_id = torch.arange(T)[:, None].expand(T, 5)
    out = mlp(x, task_id)
    for tau in range(T):
        plain = nn.Sequential(
            nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, mlp.out_features)
        )
        with torch.no_grad():
            for linear, layer in zip(plain[::2], mlp.layers):
                linear.weight.copy_(layer.weight[tau])
                linear.bias.copy_(layer.bias[tau])
        single = mlp.instantiate(tau)
        for a, b in zip(single.parameters(), plain.parameters()):
            assert torch.equal(a, b)  # θ_τ = Φ e_τ is exactly slice τ
        torch.testing.assert_close(out[tau], plain(x[tau]))
        torch.testing.assert_close(mlp(x[tau], task_id[tau]), plain(x[tau]))  # per-sample path


def test_single_task_gradients_stay_in_the_tasks_slice():
    agent, env = _agent("single_task")
    batch = env.rollout(4)
    for tau in range(T):
        grads = _task_loss_grads(agent, batch, tau)
        assert len(grads) == 12  # 3 layers × (weight, bias) × (actor, critics)
        for name, grad in grads.items():
            g = grad.movedim(_k_dim(name), 0)
            assert g[tau].abs().sum() > 0, name
            others = [k for k in range(T) if k != tau]
            assert torch.count_nonzero(g[others]) == 0, name


def test_mhsac_shares_the_trunk_and_has_one_head_per_task():
    agent, env = _agent("mhsac")
    mlp = _net(agent.actor)
    *trunk, head = mlp.layers
    assert all(type(layer) is nn.Linear for layer in trunk)
    assert isinstance(head, CompositionalLinear) and head.num_param_sets == T
    assert trunk[0].in_features == 4  # the observation only: no one-hot task id (mtrl's MH-SAC)
    hidden = []  # outputs of the hidden activations: the last one is the trunk's output
    hook = mlp.activation.register_forward_hook(lambda m, args, out: hidden.append(out))
    x = torch.randn(1, 5, 4).expand(T, 5, 4)  # the same observations for every task
    out = mlp(x, torch.arange(T)[:, None].expand(T, 5))
    hook.remove()
    h = hidden[-1].reshape(T, 5, -1)
    assert all(torch.equal(h[0], h[t]) for t in range(T))  # one trunk for all tasks
    assert not torch.allclose(out[0], out[1])  # different heads
    batch = env.rollout(4)
    for tau in range(T):
        for name, grad in _task_loss_grads(agent, batch, tau).items():
            if ".layers.2." in name:  # the head: slice τ only
                g = grad.movedim(_k_dim(name), 0)
                assert g[tau].abs().sum() > 0 and torch.count_nonzero(g[[k for k in range(T) if k != tau]]) == 0
            else:  # the trunk: trained by every task
                assert grad.abs().sum() > 0, name


def test_mtsac_has_one_parameter_set():
    agent, _ = _agent("mtsac")
    for net in (agent.actor, *agent.critics):
        assert not any(isinstance(m, (TaskWeights, CompositionalLinear)) for m in net.modules())
    first = next(m for m in agent.actor.modules() if isinstance(m, nn.Linear))
    assert first.in_features == 4 + T  # observation + one-hot task id
    assert agent.loss.task_weight_tensors() == {}


def test_one_hot_w_init_with_K_equal_T_starts_independent_but_trains_w():
    agent, env = _agent("paco", f"paco.num_param_sets={T}", "paco.w_init=one_hot")
    w = _net(agent.actor).task_weights.weight
    assert isinstance(w, nn.Parameter) and torch.equal(w, torch.eye(T))
    assert "w" in [g["name"] for g in agent.optimizer.param_groups]
    batch = env.rollout(4)
    tau = 1
    grads = _task_loss_grads(agent, batch, tau)
    for name, grad in grads.items():  # at init, Φ slice τ is task τ's network
        g = grad.movedim(_k_dim(name), 0)
        assert torch.count_nonzero(g[[k for k in range(T) if k != tau]]) == 0, name
    assert w.grad[tau].abs().sum() > 0 and torch.count_nonzero(w.grad[[0, 2]]) == 0
    agent.update(batch)
    assert not torch.equal(w, torch.eye(T))  # W is trained: tasks start to share


def test_paper_rows_map_to_their_variants():
    for row in PAPER_ROWS:
        assert variant_label(load_config(MT10_CONFIG, list(row.overrides))) == row.variant, row.method
    assert variant_label(load_config(MT10_CONFIG, ["paco.scope=actor", "paco.share_w=false"])) == (
        "paco scope=actor share_w=false"
    )


@pytest.mark.parametrize("algo", ["mhsac", "single_task"])
def test_tiny_metaworld_run_through_the_recipe(tmp_path, algo):
    cfg = load_config(MT10_CONFIG, [
        f"algo={algo}", "env.tasks=[reach-v3,drawer-close-v3]", "env.max_episode_steps=50",
        "collector.total_frames=300", "collector.init_random_frames=100", "optim.batch_size=16",
        "network.num_cells=[32]", "eval.interval_frames=1000", "eval.episodes_per_task=1",
        f"output_dir={tmp_path / algo}", "device=cpu", "progress=false", "threads=1",
    ])
    results = train(cfg)
    assert results["frames"] == 300 and set(results["per_task_success"]) == {"reach-v3", "drawer-close-v3"}
    assert (tmp_path / algo / "checkpoint.pt").is_file()
    [run] = load_runs(tmp_path)
    assert (run.variant, run.status, run.per_task_success) == (algo, "finished", results["per_task_success"])


# --- report ------------------------------------------------------------------------------------

def _fake_run(root, algo, seed, success, frames=1000, extra=()):
    cfg = load_config(MT10_CONFIG, [f"algo={algo}", f"seed={seed}", "collector.total_frames=1000", *extra])
    run = root / sweep.variant_dir(variant_label(cfg)) / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    if success is not None:
        results = {"frames": frames, "mean_success": success,
                   "per_task_success": {"reach-v3": success, "push-v3": 1.0 - success}}
        (run / "results.json").write_text(json.dumps(results))
    return run


def test_iqm_and_sample_std_by_hand():
    s = summarize([0.1, 0.9, 0.5, 0.6])
    assert s["n"] == 4 and s["mean"] == pytest.approx(0.525)
    assert s["std"] == pytest.approx(math.sqrt(0.3275 / 3))  # ddof=1
    assert s["iqm"] == pytest.approx(0.55)  # n=4: mean of the middle two
    assert interquartile_mean([0.2, 0.9, 0.5]) == pytest.approx(0.2 / 6 + 0.5 * 2 / 3 + 0.9 / 6)
    assert interquartile_mean(list(range(10))) == pytest.approx((2 * 0.5 + 3 + 4 + 5 + 6 + 7 * 0.5) / 5)
    assert interquartile_mean([0.3]) == 0.3 and math.isnan(summarize([0.3])["std"])


def test_report_on_fixture_runs_with_missing_and_partial(tmp_path):
    for seed, v in enumerate([0.1, 0.9, 0.5, 0.6]):
        _fake_run(tmp_path, "paco", seed, v)
    for seed, v in enumerate([0.2, 0.9, 0.5]):
        _fake_run(tmp_path, "mtsac", seed, v)
    _fake_run(tmp_path, "paco", 4, 0.0, frames=500)  # partial
    _fake_run(tmp_path, "mtsac", 3, None)  # started, no results.json
    _fake_run(tmp_path, "paco", 0, 0.7, extra=["paco.num_param_sets=3"])
    (tmp_path / "sweep.json").write_text(json.dumps({"runs": [
        {"dir": "mhsac/seed0", "variant": "mhsac", "seed": 0}]}))  # planned, never started
    status = {(r.variant, r.seed): r.status for r in load_runs(tmp_path)}
    assert status[("paco", 4)] == "partial" and status[("mtsac", 3)] == "missing"
    assert status[("mhsac", 0)] == "missing" and status[("paco K=3", 0)] == "finished"

    text = report.build_report(tmp_path)
    lines = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert "| 4 | 1000 | 52.5 ± 33.0 | 55.0 | 85.4 ± 4.5 |" in lines["| paco"]
    mtsac = summarize([0.2, 0.9, 0.5])
    assert f"{100 * mtsac['mean']:.1f} ± {100 * mtsac['std']:.1f} | 51.7 | 62.9 ± 8.0 |" in lines["| mtsac"]
    assert "| 1 | 1000 | 70.0 (1 seed) | 70.0 | 74.4 ± 5.1 |" in lines["| paco K=3"]
    assert "| PaCo (K=3) | `algo=paco paco.num_param_sets=3` | 74.4 ± 5.1 | 70.0 (1 seed) | 70.0 | 1 |" in text
    assert "| PaCo-Vanilla | `algo=paco_vanilla` | 71.6 ± 25.7 | not run | — | 0 |" in text
    assert "| reach-v3 |" in text and "| push-v3 |" in text
    incomplete = text.split("## Incomplete runs")[1]
    assert "`paco/seed4` (paco, seed 4): partial: 500 of 1000 frames" in incomplete
    assert "`mtsac/seed3` (mtsac, seed 3): missing: no results.json" in incomplete
    assert "`mhsac/seed0` (mhsac, seed 0): missing: never started" in incomplete
    # partial runs count only when asked
    assert "| 5 | 500–1000 |" in report.build_report(tmp_path, include_partial=True)


# --- sweep -------------------------------------------------------------------------------------

def test_sweep_runs_the_grid_skips_finished_runs_and_reports(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["--out", str(out), "--algos", "mhsac", "paco", "--seeds", "0", "1",
            "env.benchmark=toy", "env.num_toy_tasks=2", "env.max_episode_steps=10", "collector.total_frames=200",
            "collector.init_random_frames=60", "optim.batch_size=16", "network.num_cells=[16]",
            "paco.num_param_sets=2", "eval.interval_frames=1000", "eval.episodes_per_task=2", "threads=1"]
    assert sweep.main(args) == 0  # --jobs 1: in this process, one after the other
    results = sorted(out.rglob("results.json"))
    assert [str(p.parent.relative_to(out)) for p in results] == [
        "mhsac/seed0", "mhsac/seed1", "paco_K-2/seed0", "paco_K-2/seed1"]
    assert all(json.loads(p.read_text())["frames"] == 200 for p in results)
    manifest = json.loads((out / "sweep.json").read_text())
    assert len(manifest["runs"]) == 4 and all(r["last"]["rc"] == 0 for r in manifest["runs"])

    # continue: finished runs are skipped, the one without results runs again (as a subprocess)
    stamps = {p: p.stat().st_mtime_ns for p in results}
    (out / "mhsac" / "seed1" / "results.json").unlink()
    capsys.readouterr()
    assert sweep.main([*args, "--jobs", "2"]) == 0
    assert capsys.readouterr().out.count("skip ") == 3
    assert "mean success" in (out / "mhsac" / "seed1" / "sweep.log").read_text()
    assert all(p.stat().st_mtime_ns == stamps[p] for p in results if "mhsac/seed1" not in str(p))

    (out / "paco_K-2" / "seed1" / "results.json").unlink()
    assert report.main([str(out), "--out", str(tmp_path / "report.md")]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "| mhsac | Multi-head SAC" in text and "| 2 | 200 |" in text
    assert "| paco K=2 | PaCo" in text and "`paco_K-2/seed1` (paco K=2, seed 1): missing: no results.json" in text
