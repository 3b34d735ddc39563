"""Published MTRL baselines: SAC+FiLM, PCGrad, Soft-Modularization, CARE, MOORE — defining properties and runs."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from paco_torchrl.experiments import PAPER_ROWS, variant_label
from paco_torchrl.modules.baselines import CARENet, FiLMMLP, MOORENet, SoftModularNet, gram_schmidt, load_task_embeddings
from paco_torchrl.objectives.pcgrad import PCGradUpdateStep, pcgrad, pcgrad_coefficients, random_orders
from paco_torchrl.envs.metaworld import resolve_tasks
from paco_torchrl.training import ConfigError, load_config, make_agent, make_env, validate_config
from paco_torchrl.experiments import report
from paco_torchrl.experiments import sweep
from paco_torchrl.training import train
from paths import MT10_CONFIG

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

PUBLISHED = ("film", "pcgrad", "soft_modules", "care", "moore")
T = 3
TOY = ["env.benchmark=toy", f"env.num_toy_tasks={T}", "env.max_episode_steps=10", "network.num_cells=[16,16]",
       "optim.batch_size=12", "device=cpu", "threads=1", "progress=false"]


def _agent(algo: str, *overrides: str):
    cfg = load_config(MT10_CONFIG, [*TOY, f"algo={algo}", *overrides])
    validate_config(cfg)
    env = make_env(cfg, seed=0)
    return make_agent(cfg, env, torch.device("cpu")), env


def _net(actor: nn.Module) -> nn.Module:
    return actor.module[0].module.net


# --- FiLM ---------------------------------------------------------------------------------------

def test_film_scales_and_shifts_each_hidden_layer_per_task():
    net = FiLMMLP(4, 2, (8, 8), num_tasks=3)
    with torch.no_grad():
        for dg, beta in zip(net.delta_gamma, net.beta):
            dg.copy_(torch.randn_like(dg))
            beta.copy_(torch.randn_like(beta))
    x = torch.randn(6, 4)
    tid = torch.tensor([0, 1, 2, 2, 1, 0])
    h = x
    for layer, dg, beta in zip(net.hidden, net.delta_gamma, net.beta):  # by hand, one sample at a time
        h = torch.stack([torch.relu((1 + dg[t]) * layer(h[i]) + beta[t]) for i, t in enumerate(tid.tolist())])
    torch.testing.assert_close(net(x, tid), net.out(h))
    same_x = x[:1].expand(3, 4)
    out = net(same_x, torch.arange(3))
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])  # one input, three tasks
    fresh = FiLMMLP(4, 2, (8, 8), num_tasks=3)  # identity FiLM at init: every task the same network
    torch.testing.assert_close(fresh(same_x, torch.arange(3)), fresh(same_x, torch.zeros(3, dtype=torch.long)))


def test_film_task_loss_moves_only_its_own_scale_and_shift():
    net = FiLMMLP(4, 2, (8, 8), num_tasks=3)
    net(torch.randn(5, 4), torch.full((5,), 1)).pow(2).sum().backward()
    for p in [*net.delta_gamma, *net.beta]:
        assert p.grad[1].abs().sum() > 0 and torch.count_nonzero(p.grad[[0, 2]]) == 0


# --- PCGrad ----------------------------------------------------------------------------------------

def _reference_pcgrad(g: torch.Tensor, orders: torch.Tensor) -> torch.Tensor:
    """The paper's Algorithm 1, vector by vector."""
    out = []
    for i in range(g.shape[0]):
        gi = g[i].clone()
        for j in orders[i].tolist():
            if j != i and gi @ g[j] < 0:
                gi = gi - (gi @ g[j]) / (g[j] @ g[j]) * g[j]
        out.append(gi)
    return torch.stack(out)


def test_pcgrad_two_conflicting_gradients_become_pairwise_non_negative():
    torch.manual_seed(3)
    for _ in range(20):
        g = torch.randn(2, 7, dtype=torch.float64)
        g[1] = -g[0] + 0.3 * torch.randn(7, dtype=torch.float64)  # conflicting
        assert g[0] @ g[1] < 0
        p = pcgrad(g)
        assert p[0] @ p[1] >= 0 and p[0] @ g[1] > -1e-12 and p[1] @ g[0] > -1e-12
        torch.testing.assert_close(p[0] @ g[1], torch.tensor(0.0, dtype=torch.float64))  # projected onto the normal plane
        torch.testing.assert_close(p, _reference_pcgrad(g, torch.tensor([[0, 1], [1, 0]])))


def test_pcgrad_matches_the_per_vector_algorithm_and_leaves_agreeing_gradients_alone():
    torch.manual_seed(0)
    g = torch.randn(6, 11, dtype=torch.float64)
    orders = random_orders(6)
    p = pcgrad_coefficients(g @ g.T, orders) @ g
    torch.testing.assert_close(p, _reference_pcgrad(g, orders))
    for i in range(6):  # after the last projection, g'_i does not conflict with the task projected last
        last = [j for j in orders[i].tolist() if j != i][-1]
        assert p[i] @ g[last] > -1e-9
    assert not torch.allclose(p, g)
    agree = torch.rand(4, 5, dtype=torch.float64)  # positive entries: no conflict anywhere
    torch.testing.assert_close(pcgrad(agree), agree)
    zero = torch.cat([torch.zeros(1, 5, dtype=torch.float64), g[:2, :5]])  # a zero gradient changes nothing
    assert torch.isfinite(pcgrad(zero)).all()


def test_pcgrad_update_applies_the_sum_of_projected_per_network_gradients():
    agent, env = _agent("pcgrad")
    update = agent.update
    assert isinstance(update, PCGradUpdateStep)
    assert sorted(update.blocks) == ["actor_network_params", "qvalue_network_params"]
    fixed = random_orders(T, generator=torch.Generator().manual_seed(5))
    update.orders = lambda t, device: fixed
    batch = env.rollout(4)
    torch.manual_seed(1)
    total = agent.loss(batch)
    per_task = (total["loss_actor"] + 0.5 * total["loss_qvalue"] + total["loss_alpha"]) / T  # J_τ: ½ critic
    expected = {}
    for name, params in update.blocks.items():
        grads = [torch.autograd.grad(per_task[i], params, retain_graph=True, allow_unused=True) for i in range(T)]
        flat = torch.stack([torch.cat([(torch.zeros_like(p) if g is None else g).flatten()
                                       for g, p in zip(gi, params)]) for gi in grads])
        expected[name] = _reference_pcgrad(flat, fixed).sum(0)
        loop = update._task_grads(per_task, params)  # batched backward == T backward passes
        torch.testing.assert_close(torch.cat([g.reshape(T, -1) for g in loop], -1), flat)
    (alpha_grad,) = torch.autograd.grad(per_task.sum(), [agent.loss.log_alpha])
    torch.manual_seed(1)
    metrics = update(batch)
    for name, params in update.blocks.items():
        torch.testing.assert_close(torch.cat([p.grad.flatten() for p in params]), expected[name])
    torch.testing.assert_close(agent.loss.log_alpha.grad, alpha_grad)  # task-specific: plain gradient
    assert sorted(metrics.keys()) == ["alpha", "entropy", "kept", "loss_actor", "loss_alpha", "loss_qvalue",
                                      "over_threshold", "reset"]
    assert metrics["kept"].all() and not metrics["reset"].any()


# --- Soft-Modularization ---------------------------------------------------------------------------

def test_soft_modules_routing_probabilities_sum_to_one_per_layer_and_depend_on_state_and_task():
    net = SoftModularNet(5, 2, (16,), num_tasks=3, num_layers=3, num_modules=4, module_hidden=8, gating_hidden=8)
    x, tid = torch.randn(7, 5), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    probs = net.routing(x, tid)
    assert [tuple(p.shape) for p in probs] == [(7, 4, 4), (7, 4, 4), (7, 4)]
    for p in probs:
        assert (p >= 0).all()
        torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[:-1]))
    other_task = net.routing(x, (tid + 1) % 3)
    other_state = net.routing(torch.randn(7, 5), tid)
    assert not torch.allclose(probs[0], other_task[0]) and not torch.allclose(probs[0], other_state[0])
    assert net(x, tid).shape == (7, 2)


def test_soft_modules_output_is_the_routed_mixture_of_modules():
    net = SoftModularNet(3, 2, (6,), num_tasks=2, num_layers=2, num_modules=2, module_hidden=4, gating_hidden=5)
    x, tid = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    p1, last = net.routing(x, tid)
    h0 = torch.relu(net.base(x))
    out0 = [m(h0) for m in net.modules_[0]]
    out1 = [m(torch.relu(p1[:, j, 0:1] * out0[0] + p1[:, j, 1:2] * out0[1])) for j, m in enumerate(net.modules_[1])]
    expected = net.out(torch.relu(last[:, 0:1] * out1[0] + last[:, 1:2] * out1[1]))
    torch.testing.assert_close(net(x, tid), expected)


def test_soft_modules_update_reweights_task_losses_by_temperature():
    agent, env = _agent("soft_modules")
    assert agent.update.temp_reweight is True  # the reference config's "temp_reweight": true
    with torch.no_grad():
        agent.loss.log_alpha.copy_(torch.log(torch.tensor([1.0, 0.5, 0.1])))
    batch = env.rollout(4)
    torch.manual_seed(2)
    losses = agent.loss(batch)
    w = T * torch.softmax(-agent.loss.log_alpha.detach(), -1)
    assert w[2] > w[1] > w[0] and torch.isclose(w.mean(), torch.tensor(1.0))  # low α (learnt task): more weight
    expected = (w * (losses["loss_actor"] + 0.5 * losses["loss_qvalue"]) + losses["loss_alpha"]).sum() / T  # ½ critic
    torch.manual_seed(2)
    total, task_losses, _, _ = agent.update.compute_loss(batch)
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(task_losses["loss_actor"], losses["loss_actor"])  # metrics stay unweighted
    plain, _ = _agent("soft_modules", "soft_modules.temp_reweight=false")
    assert plain.update.temp_reweight is False
    assert variant_label(load_config(None, ["algo=soft_modules", "soft_modules.temp_reweight=false"])) == (
        "soft_modules temp_reweight=false")


# --- CARE ----------------------------------------------------------------------------------------------

def test_care_attention_weights_sum_to_one_and_differ_per_task():
    net = CARENet(6, 2, (16,), torch.randn(3, 12), num_encoders=5, encode_dim=4)
    tid = torch.tensor([0, 1, 2, 1])
    alpha = net.attention(tid)
    assert alpha.shape == (4, 5) and (alpha >= 0).all()
    torch.testing.assert_close(alpha.sum(-1), torch.ones(4))
    torch.testing.assert_close(alpha[1], alpha[3])  # a function of the task only
    assert not torch.allclose(alpha[0], alpha[1])
    x = torch.randn(4, 6)
    z = net.context(net.task_embeddings[tid])
    mixed = sum(alpha[:, i : i + 1] * e(x[:, :4]) for i, e in enumerate(net.encoders))
    torch.testing.assert_close(net(x, tid), net.head(torch.cat([mixed, z, x[:, 4:]], -1)))


def test_care_task_embeddings_file_covers_mt50_and_toy_tasks_get_a_fixed_fallback():
    mt50 = resolve_tasks("MT50", None)
    emb = load_task_embeddings(mt50)
    assert emb.shape == (50, 384)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(50))
    assert torch.linalg.matrix_rank(emb) == 50  # 50 distinct descriptions
    names = list(mt50)
    sim = emb @ emb.T
    i, j, k = names.index("window-open-v3"), names.index("window-close-v3"), names.index("basketball-v3")
    assert sim[i, j] > sim[i, k]  # the sentence model puts related descriptions close
    toy = load_task_embeddings(["rotate-0", "rotate-90"])
    torch.testing.assert_close(toy, load_task_embeddings(["rotate-0", "rotate-90"]))
    assert not torch.allclose(toy[0], toy[1]) and torch.allclose(toy.norm(dim=-1), torch.ones(2))


# --- MOORE ------------------------------------------------------------------------------------------

def test_moore_expert_representations_are_orthonormal_per_sample():
    net = MOORENet(6, 3, (16, 12), num_tasks=4, num_experts=5)
    x = torch.randn(9, 6)
    u = net.experts_orthonormal(x)
    assert u.shape == (9, 5, 12)
    torch.testing.assert_close(u @ u.transpose(-1, -2), torch.eye(5).expand(9, 5, 5), atol=1e-5, rtol=0)
    v = torch.stack([e(x) for e in net.experts], dim=-2)  # Gram-Schmidt keeps the span, in order
    torch.testing.assert_close(u[:, 0], v[:, 0] / v[:, 0].norm(dim=-1, keepdim=True))
    tid = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0])
    h = torch.tanh(torch.einsum("bk,bkd->bd", net.task_weights(tid), u))
    heads = net.head_weight.view(4, 3, 12)
    expected = torch.einsum("bod,bd->bo", heads[tid], h) + net.head_bias.view(4, 3)[tid]
    torch.testing.assert_close(net(x, tid), expected)
    with pytest.raises(ValueError, match="num_experts"):
        MOORENet(6, 3, (4,), num_tasks=2, num_experts=5)
    torch.testing.assert_close(gram_schmidt(torch.eye(3)[None] * 2.0), torch.eye(3)[None])


# --- registry, config, runs ----------------------------------------------------------------------------

@pytest.mark.parametrize("algo", PUBLISHED)
def test_published_algos_use_their_networks_and_plain_multi_task_sac(algo):
    agent, env = _agent(algo)
    expected = {"film": FiLMMLP, "pcgrad": nn.Module, "soft_modules": SoftModularNet, "care": CARENet,
                "moore": MOORENet}[algo]
    assert isinstance(_net(agent.actor), expected)
    assert agent.update.loss_maskout is False and agent.w_reset is None
    assert agent.loss.task_weight_tensors() == {}
    assert [g["name"] for g in agent.optimizer.param_groups] == ["alpha", "phi"]


def test_config_sections_are_validated_and_name_the_key():
    for overrides, key in [
        (["algo=moore", "moore.num_experts=17"], "moore.num_experts"),  # > network.num_cells[-1] = 16
        (["algo=paco", "moore.num_experts=0"], "moore.num_experts"),
        (["algo=soft_modules", "soft_modules.num_layers=1"], "soft_modules.num_layers"),
        (["algo=care", "care.embeddings=/nonexistent.pt"], "care.embeddings"),
        (["algo=care", "care.temperature=0"], "care.temperature"),
        (["algo=film", "loss=td3"], "loss"),
    ]:
        with pytest.raises(ConfigError, match=f"^{key}:"):
            validate_config(load_config(MT10_CONFIG, [*TOY, *overrides]))
    validate_config(load_config(MT10_CONFIG, [*TOY, "algo=pcgrad", "loss=td3"]))  # PCGrad is loss-agnostic


def test_variant_labels_and_paper_rows():
    assert variant_label(load_config(None, ["algo=moore", "moore.num_experts=6"])) == "moore num_experts=6"
    assert variant_label(load_config(None, ["algo=mtsac", "moore.num_experts=6"])) == "mtsac"
    assert variant_label(load_config(None, ["algo=soft_modules", "soft_modules.num_modules=4"])) == (
        "soft_modules num_modules=4")
    rows = {r.variant: (r.table, r.mean, r.std) for r in PAPER_ROWS if r.variant in PUBLISHED}
    assert rows == {"film": ("1", 58.3, 4.3), "pcgrad": ("1", 61.7, 10.9), "soft_modules": ("1", 63.0, 4.2),
                    "care": ("1", 76.0, 6.9), "moore": ("later", 88.7, None)}


def test_every_published_algo_runs_through_the_sweep_and_the_report(tmp_path):
    out = tmp_path / "sweep"
    args = ["--out", str(out), "--algos", *PUBLISHED, "--seeds", "0",
            "env.benchmark=toy", "env.num_toy_tasks=2", "env.max_episode_steps=10", "collector.total_frames=120",
            "collector.init_random_frames=60", "optim.batch_size=16", "network.num_cells=[16]",
            "soft_modules.module_hidden=8", "soft_modules.gating_hidden=8",
            "eval.interval_frames=1000", "eval.episodes_per_task=2", "threads=1", "progress=false"]
    assert sweep.main(args) == 0
    results = {p.parent.parent.name: json.loads(p.read_text()) for p in out.rglob("results.json")}
    assert sorted(results) == sorted(["film", "pcgrad", "soft_modules_module_hidden-8_gating_hidden-8", "care",
                                      "moore"])
    for res in results.values():
        assert res["frames"] == 120 and set(res["per_task_success"]) == {"rotate-0", "rotate-180"}
        assert 0.0 <= res["mean_success"] <= 1.0
    logs = out / "pcgrad" / "seed0" / "logs" / "scalars"
    assert {p.stem for p in (logs / "eval_success").glob("*.csv")} == {"rotate-0", "rotate-180"}
    text = report.build_report(out)
    assert "| SAC + FiLM | `algo=film` | 58.3 ± 4.3 |" in text and "| CARE | `algo=care` | 76.0 ± 6.9 |" in text
    assert "| pcgrad | PCGrad" in text and "| moore | MOORE" in text


def test_care_on_metaworld_reads_the_description_embeddings_and_runs_through_the_recipe(tmp_path):
    from torchrl.data import Bounded

    from paco_torchrl.algos import build_care_networks
    from paco_torchrl.modules.baselines.care import TASK_EMBEDDINGS

    tasks = ["reach-v3", "drawer-close-v3"]
    cfg = load_config(MT10_CONFIG, [
        "algo=care", f"env.tasks=[{','.join(tasks)}]", "env.max_episode_steps=50", "collector.total_frames=300",
        "collector.init_random_frames=100", "optim.batch_size=16", "network.num_cells=[32]",
        "eval.interval_frames=1000", "eval.episodes_per_task=1", f"output_dir={tmp_path / 'care'}", "device=cpu",
        "progress=false", "threads=1",
    ])
    actor, critics = build_care_networks(cfg, 39, Bounded(-1.0, 1.0, (4,)), 2)
    stored = torch.load(TASK_EMBEDDINGS, weights_only=True)
    rows = stored["embeddings"][[stored["names"].index(t.removesuffix("-v3")) for t in tasks]]
    for net in (_net(actor), *(q.module.net for q in critics)):
        torch.testing.assert_close(net.task_embeddings, rows)
    assert _net(actor).encode_dim == 39 and critics[0].module.net.encode_dim == 39  # the action skips the encoders
    results = train(cfg)
    assert results["frames"] == 300 and set(results["per_task_success"]) == set(tasks)
