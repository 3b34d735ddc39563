"""The policy subspace of a K=2 run with unit-norm ``w`` (Fig. 3 of the paper).

With ``K = 2`` and ``w`` normalised to the unit circle, every policy the parameter set
``Φ = [φ_1, φ_2]`` can express is ``θ(a) = Φ (cos a, sin a)``: one angle. The learned tasks
sit at the angles of their ``w``; :func:`subspace_sweep` instantiates policies at other
angles and measures their success and return on every task, and :func:`subspace_plot`
draws both (``recipes/subspace_k2.py`` runs the whole experiment).
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from torchrl.envs import EnvBase
from torchrl.envs.utils import ExplorationType, set_exploration_type

from paco_torchrl.analysis.plots import pyplot, save_figure

SUBSPACE_NAME = "subspace.json"


def unit_angles(weights: torch.Tensor) -> torch.Tensor:
    """Angles ``atan2(w_2, w_1)`` in ``[0, 2π)`` of the rows of a ``[T, 2]`` ``W``.

    Examples:
        >>> import torch
        >>> [round(float(a), 4) for a in unit_angles(torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0]]))]
        [0.0, 1.5708, 3.927]
    """
    if weights.dim() != 2 or weights.shape[-1] != 2:
        raise ValueError(f"the unit-circle picture needs K=2, got W of shape {tuple(weights.shape)}")
    return torch.remainder(torch.atan2(weights[:, 1], weights[:, 0]), 2 * math.pi)


@contextmanager
def policy_w(actor: nn.Module, w: torch.Tensor | None) -> Iterator[None]:
    """Temporarily gives every task of ``actor`` the compositional vector ``w [K]`` (``None``: unchanged).

    Writes into the actor's :class:`~paco_torchrl.nn.TaskWeights` in place and restores them on exit.
    """
    from paco_torchrl.modules import find_task_weights

    weights = find_task_weights(actor)
    if w is None:
        yield
        return
    if not weights:
        raise ValueError("the actor has no TaskWeights")
    saved = [tw.weight.detach().clone() for tw in weights]
    try:
        with torch.no_grad():
            for tw in weights:
                tw.weight.copy_(w.to(tw.weight).expand_as(tw.weight))
        yield
    finally:
        with torch.no_grad():
            for tw, old in zip(weights, saved):
                tw.weight.copy_(old)


@torch.no_grad()
def rollout_stats(
    actor: nn.Module, env: EnvBase, episodes: int, max_steps: int, num_tasks: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-task ``(success rate, mean undiscounted return)`` of deterministic episodes on a task-major env."""
    num_envs = env.batch_size[0]
    per_task = num_envs // num_tasks
    successes, returns = [], []
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        for _ in range(math.ceil(episodes / per_task)):
            rollout = env.rollout(max_steps, actor, auto_reset=True, break_when_any_done=False)
            success = rollout.get(("next", "success")).reshape(num_envs, max_steps, -1).any(-1).any(-1)
            reward = rollout.get(("next", "reward")).reshape(num_envs, max_steps, -1).sum((-1, -2))
            successes.append(success.reshape(num_tasks, per_task).float().cpu())
            returns.append(reward.reshape(num_tasks, per_task).double().cpu())
    success = torch.cat(successes, 1)[:, :episodes].mean(1)
    ret = torch.cat(returns, 1)[:, :episodes].mean(1)
    return success, ret


def subspace_sweep(
    actor: nn.Module,
    env: EnvBase,
    task_names: Sequence[str],
    learned_w: torch.Tensor,
    angles: Sequence[float],
    *,
    episodes: int = 5,
    max_steps: int = 150,
) -> dict:
    """Success and return of the learned policies and of policies at sampled angles, on every task.

    Args:
        actor: the trained K=2 actor (its ``W`` is restored afterwards).
        env: the run's task-major env (one task per task id).
        task_names: names in task-id order.
        learned_w: the run's ``W [T, 2]`` as the layers use it (unit rows).
        angles: sampled angles (radians); each policy ``Φ (cos a, sin a)`` runs on every task.
        episodes: deterministic episodes per task and policy.
        max_steps: episode length.

    Returns:
        ``{"tasks", "episodes", "learned": {task: {"angle", "success", "return"}},
        "sampled": [{"angle", "success": {task: ...}, "return": {task: ...}}, ...]}`` where a learned
        policy is scored on its own task.
    """
    num_tasks = len(task_names)
    learned_angles = unit_angles(learned_w)
    success, ret = rollout_stats(actor, env, episodes, max_steps, num_tasks)
    out = {
        "tasks": list(task_names),
        "episodes": episodes,
        "learned": {
            name: {"angle": float(learned_angles[i]), "success": float(success[i]), "return": float(ret[i])}
            for i, name in enumerate(task_names)
        },
        "sampled": [],
    }
    for angle in angles:
        w = torch.tensor([math.cos(angle), math.sin(angle)])
        with policy_w(actor, w):
            success, ret = rollout_stats(actor, env, episodes, max_steps, num_tasks)
        out["sampled"].append({
            "angle": float(angle) % (2 * math.pi),
            "success": {name: float(success[i]) for i, name in enumerate(task_names)},
            "return": {name: float(ret[i]) for i, name in enumerate(task_names)},
        })
    return out


def subspace_plot(run_dir: str | Path, out: str | Path) -> Path:
    """Fig. 3a from ``<run_dir>/subspace.json``: learned tasks (▲) and sampled policies on the unit circle.

    Left: the unit circle, sampled points coloured by their mean success over the tasks (size:
    their best task's return). Middle / right: return and success of the sampled policies on
    each task against the angle, with the learned tasks' angles marked.
    """
    path = Path(run_dir) / SUBSPACE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {SUBSPACE_NAME} in {run_dir} (run recipes/subspace_k2.py first)")
    data = json.loads(path.read_text())
    tasks, learned, sampled = data["tasks"], data["learned"], sorted(data["sampled"], key=lambda s: s["angle"])
    plt = pyplot()
    colors = {task: plt.get_cmap("tab10")(i % 10) for i, task in enumerate(tasks)}
    fig, axes = plt.subplots(1, 3, figsize=(12.6, 4.3), dpi=100)
    ax = axes[0]
    circle = torch.linspace(0, 2 * math.pi, 200)
    ax.plot(circle.cos(), circle.sin(), color="lightgray", lw=1, zorder=1)
    angles = torch.tensor([s["angle"] for s in sampled])
    mean_success = [sum(s["success"].values()) / len(tasks) for s in sampled]
    best_return = torch.tensor([max(s["return"].values()) for s in sampled])
    scale = best_return.abs().max().clamp_min(1e-9) if len(sampled) else torch.tensor(1.0)
    points = ax.scatter(angles.cos(), angles.sin(), c=mean_success, cmap="viridis", vmin=0, vmax=1,
                        s=(12 + 60 * best_return.abs() / scale).tolist(), zorder=2, label="sampled")
    for task in tasks:
        a = learned[task]["angle"]
        ax.scatter([math.cos(a)], [math.sin(a)], marker="^", s=110, color=colors[task], edgecolor="black",
                   zorder=3, label=f"{task} ({100 * learned[task]['success']:.0f}%)")
    fig.colorbar(points, ax=ax, fraction=0.046, pad=0.04, label="sampled: mean success")
    ax.set_aspect("equal")
    ax.set_xlim(-1.35, 1.35)
    ax.set_ylim(-1.35, 1.35)
    ax.set_xlabel("w₁")
    ax.set_ylabel("w₂")
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2, frameon=False)
    ax.set_title("learned (▲) and sampled w", fontsize=9)
    for ax, key, label in ((axes[1], "return", "return"), (axes[2], "success", "success rate")):
        for task in tasks:
            ax.plot(angles.tolist(), [s[key][task] for s in sampled], marker=".", lw=1, color=colors[task],
                    label=task)
            ax.axvline(learned[task]["angle"], color=colors[task], ls="--", lw=0.9)
            ax.plot([learned[task]["angle"]], [learned[task][key]], "^", color=colors[task], mec="black", ms=8)
        ax.set_xlabel("angle of w (rad)")
        ax.set_ylabel(label)
        ax.set_xlim(0, 2 * math.pi)
        ax.grid(alpha=0.3)
        ax.set_title(f"{label} of Φ(cos a, sin a) per task ({data['episodes']} episodes)", fontsize=9)
    axes[2].set_ylim(-0.03, 1.03)
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    return save_figure(fig, out)
