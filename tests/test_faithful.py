"""The original PaCo code's protocol: J_τ weighting, network initialisation, evaluation goal set, warm-up."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from tensordict import TensorDict
from torchrl.objectives import SoftUpdate

from paco_torchrl.modules import make_paco_actor_critic
from paco_torchrl.nn.init import linear_layers
from paco_torchrl.objectives import (
    ORIGINAL_LOSS_WEIGHTS,
    MultiTaskSACLoss,
    PaCoUpdateStep,
    loss_maskout,
    make_paco_optimizer,
    total_task_loss,
)
from paco_torchrl.training import ConfigError, load_config, make_agent, make_collector, make_env, validate_config
from paco_torchrl.training import train
from paths import MT10_CONFIG

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
MT10 = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "mt10_rand.yaml"
T, K, N, OBS, ACT = 3, 2, 16, 6, 2


def _batch(seed: int = 0, reward_scale: float = 1.0) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    tid = torch.arange(T)[:, None].expand(T, N)
    return TensorDict({
        "observation": torch.randn(T, N, OBS, generator=g), "action": torch.rand(T, N, ACT, generator=g) * 2 - 1,
        "task_id": tid,
        "next": {"observation": torch.randn(T, N, OBS, generator=g), "task_id": tid,
                 "reward": reward_scale * torch.randn(T, N, 1, generator=g),
                 "done": torch.zeros(T, N, 1, dtype=torch.bool), "terminated": torch.zeros(T, N, 1, dtype=torch.bool)},
    }, [T, N])


def _update(**kwargs) -> PaCoUpdateStep:
    actor, critics = make_paco_actor_critic(OBS, ACT, num_tasks=T, num_param_sets=K, num_cells=(32, 32))
    loss = MultiTaskSACLoss(actor, critics, num_tasks=T)
    return PaCoUpdateStep(loss, make_paco_optimizer(loss), SoftUpdate(loss, tau=0.005), **kwargs)


# ------------------------------------------------------------------------------------------ J_τ weighting
def test_default_j_tau_counts_the_critic_at_half_weight():
    """J_τ = mean over the original's 2 sequence steps of (actor + α + critic), critic_2 = 0."""
    assert ORIGINAL_LOSS_WEIGHTS == {"loss_qvalue": 0.5}
    update = _update()
    assert update.loss_weights == {"loss_qvalue": 0.5}
    batch = _batch(reward_scale=30.0)
    task_losses, totals, mask, under = update.per_task_losses(batch)
    a, q, al = (task_losses.get(k).detach() for k in ("loss_actor", "loss_qvalue", "loss_alpha"))
    # the length-2 sequence average with the same actor/α loss at both steps and no TD loss at the second
    sequence_mean = ((a + al + q) + (a + al + torch.zeros_like(q))) / 2
    torch.testing.assert_close(totals.detach(), sequence_mean, rtol=1e-6, atol=1e-6)
    assert bool((q > 10).all())  # the critic term is large enough for the weight to matter below
    # the threshold is compared with the weighted J_τ: an ε between the weighted and the plain sum keeps all
    eps = float((a + al + 0.75 * q).min())
    assert bool((a + al + q > eps).all()) and bool((sequence_mean <= eps).any())
    assert torch.equal(loss_maskout(task_losses, eps, ORIGINAL_LOSS_WEIGHTS), sequence_mean <= eps)
    assert not torch.equal(loss_maskout(task_losses, eps), sequence_mean <= eps)


def test_weighted_j_theta_is_what_is_backpropagated():
    """The gradient on W (shared by actor and critics) is that of Σ_τ (actor + ½ critic + α) / T."""
    torch.manual_seed(1)
    update = _update(loss_maskout=False)
    batch = _batch(1)
    total, task_losses, _, _ = update.compute_loss(batch)
    w = update.loss_module.actor_network.module[0].module.net.task_weights.weight
    (grad_total,) = torch.autograd.grad(total, w, retain_graph=True)
    manual = (task_losses["loss_actor"] + 0.5 * task_losses["loss_qvalue"] + task_losses["loss_alpha"]).sum() / T
    (grad_manual,) = torch.autograd.grad(manual, w, retain_graph=True)
    torch.testing.assert_close(grad_total, grad_manual, rtol=1e-6, atol=1e-7)
    plain = total_task_loss(task_losses).sum() / T
    (grad_plain,) = torch.autograd.grad(plain, w)
    assert not torch.allclose(grad_total, grad_plain, rtol=1e-3)  # the weight changes W's gradient


def test_plain_sum_stays_available():
    update = _update(loss_weights={})
    task_losses, totals, _, _ = update.per_task_losses(_batch())
    torch.testing.assert_close(totals, total_task_loss(task_losses))


def test_recipe_passes_the_loss_weights_section():
    cfg = load_config(MT10, ["env.benchmark=toy", "network.num_cells=[16]", "optim.batch_size=64", "device=cpu"])
    assert dict(cfg.loss_weights) == {"actor": 1.0, "qvalue": 0.5, "alpha": 1.0}
    env = make_env(cfg, seed=0)
    agent = make_agent(cfg, env, torch.device("cpu"))
    assert agent.update.loss_weights == {"loss_actor": 1.0, "loss_qvalue": 0.5, "loss_alpha": 1.0}
    cfg.loss_weights.qvalue = 1.0
    assert make_agent(cfg, env, torch.device("cpu")).update.loss_weights["loss_qvalue"] == 1.0


# ------------------------------------------------------------------------------------------- initialisation
def _std(t: torch.Tensor) -> float:
    return float(t.detach().std())


def test_original_init_of_actor_and_critics():
    actor, critics = make_paco_actor_critic(39, 4, num_tasks=10, num_param_sets=5, num_cells=(400, 400, 400))
    actor_layers = linear_layers(actor.module[0].module.net)
    critic_layers = linear_layers(critics[0].module.net)
    assert len(actor_layers) == len(critic_layers) == 4
    for layer in actor_layers + critic_layers:
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))  # biases 0
        assert torch.equal(layer.weight, layer.weight[:1].expand_as(layer.weight))  # K identical copies
    for layer in actor_layers[:-1]:  # xavier uniform: U(±√(6/(in+out))), std = bound/√3
        bound = math.sqrt(6 / (layer.in_features + layer.out_features))
        assert float(layer.weight.abs().max()) <= bound
        assert _std(layer.weight[0]) == pytest.approx(bound / math.sqrt(3), rel=0.03)
    head = actor_layers[-1].weight[0]  # mean and log-std heads: truncated normal, std 0.3/√fan_in, cut at ±2σ'
    sigma = 0.3 / math.sqrt(400) / 0.87962566103423978
    assert head.shape == (8, 400) and float(head.abs().max()) <= 2 * sigma
    assert _std(head) == pytest.approx(0.3 / math.sqrt(400), rel=0.05)
    for layer in critic_layers[:-1]:  # U(±1/√fan_in)
        bound = 1 / math.sqrt(layer.in_features)
        assert float(layer.weight.abs().max()) <= bound
        assert _std(layer.weight[0]) == pytest.approx(bound / math.sqrt(3), rel=0.03)
    out = critic_layers[-1].weight[0]
    assert float(out.abs().max()) <= 0.003 and _std(out) == pytest.approx(0.003 / math.sqrt(3), rel=0.1)
    # the two critics are drawn independently
    assert not torch.equal(critic_layers[0].weight, linear_layers(critics[1].module.net)[0].weight)


def test_torch_init_keeps_nn_linear_defaults():
    actor, critics = make_paco_actor_critic(39, 4, num_tasks=2, num_cells=(64,), init="torch")
    first = linear_layers(actor.module[0].module.net)[0]
    assert float(first.bias.abs().max()) > 0  # nn.Linear's uniform bias
    assert _std(first.weight[0]) == pytest.approx(1 / math.sqrt(3 * 39), rel=0.05)  # kaiming_uniform(a=√5)


@pytest.mark.parametrize("algo", ["mtsac", "mhsac", "single_task"])
def test_mlp_baselines_use_the_original_init(algo):
    cfg = load_config(MT10, ["env.benchmark=toy", f"algo={algo}", "network.num_cells=[32]", "optim.batch_size=64"])
    agent = make_agent(cfg, make_env(cfg, seed=0), torch.device("cpu"))
    critic_out = linear_layers(agent.critics[0].module.net)[-1]
    assert float(critic_out.weight.abs().max()) <= 0.003
    assert torch.equal(critic_out.bias, torch.zeros_like(critic_out.bias))
    cfg.network.init = "torch"
    agent = make_agent(cfg, make_env(cfg, seed=0), torch.device("cpu"))
    assert float(linear_layers(agent.critics[0].module.net)[-1].weight.abs().max()) > 0.003


# ------------------------------------------------------------------------------------------ evaluation goals
def _goal_sets(env) -> list[list[bytes]]:
    return [[task.data for task in sub.tasks] for sub in env.gym_env.envs]


def test_evaluation_draws_from_the_training_goal_set():
    base = ["env.tasks=[reach-v3,push-v3]", "env.max_episode_steps=10", "env.backend=gym_vector"]
    cfg = load_config(MT10, base + ["seed=3"])
    assert cfg.env.goal_set_seed == 0 and cfg.eval.goals == "train"
    train = make_env(cfg, seed=cfg.seed)
    evaluation = make_env(cfg, seed=cfg.seed + 10_000, evaluation=True)
    assert _goal_sets(train) == _goal_sets(evaluation)  # the same 50 goals per task (MT10(0))
    goal = lambda env: env.reset()["observation"][:, 36:39].tolist()  # noqa: E731  (goal-observable obs)
    train_goals = [goal(train) for _ in range(4)]
    eval_goals = [goal(evaluation) for _ in range(4)]
    assert train_goals != eval_goals  # the goal-picking RNGs are independent of training's
    held_out = make_env(load_config(MT10, base + ["seed=3", "eval.goals=held_out"]), seed=10_003, evaluation=True)
    sets, held = _goal_sets(train), _goal_sets(held_out)
    assert all(not set(a) & set(b) for a, b in zip(sets, held))  # MT10(10_000): no goal in common
    own = make_env(load_config(MT10, base + ["seed=3", "env.goal_set_seed=null"]), seed=3)
    assert _goal_sets(own) != sets  # null: the run's seed picks the goal set
    for env in (train, evaluation, held_out, own):
        env.close()


def test_results_say_which_goal_set_was_evaluated(tmp_path):
    import json


    cfg = load_config(MT10_CONFIG, [
        "env.benchmark=toy", "env.max_episode_steps=10", "collector.total_frames=80", "collector.init_random_frames=40",
        "optim.batch_size=16", "network.num_cells=[16]", "eval.interval_frames=40", "eval.episodes_per_task=1",
        f"output_dir={tmp_path / 'run'}", "device=cpu", "progress=false", "threads=1", "checkpoint.replay=false",
    ])
    train(cfg)
    assert json.loads((tmp_path / "run" / "results.json").read_text())["eval_goals"] == "train"


# ------------------------------------------------------------------------------------------------- warm-up
def test_warm_up_acts_with_the_initial_policy_unless_asked():
    cfg = load_config(MT10, ["env.benchmark=toy", "network.num_cells=[16]", "optim.batch_size=64",
                             "collector.init_random_frames=400", "collector.total_frames=1000"])
    assert cfg.collector.init_random_actions is False
    env = make_env(cfg, seed=0)
    agent = make_agent(cfg, env, torch.device("cpu"))
    kwargs = dict(frames_done=0, device=torch.device("cpu"), storing_device=torch.device("cpu"))
    assert make_collector(cfg, env, agent.collect_policy, **kwargs).init_random_frames == 0
    cfg.collector.init_random_actions = True
    assert make_collector(cfg, env, agent.collect_policy, **kwargs).init_random_frames == 400


# ------------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize("override, key", [
    ("env.goal_set_seed=-1", "env.goal_set_seed"),
    ("network.init=xavier", "network.init"),
    ("eval.goals=test", "eval.goals"),
    ("loss_weights.qvalue=-0.5", "loss_weights.qvalue"),
    ("fault.task=0 fault.at_frame=100 fault.until_frame=100", "fault.until_frame"),
])
def test_bad_protocol_keys_get_one_line_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        validate_config(load_config(MT10, override.split()))
