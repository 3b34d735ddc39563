"""The learned compositional vectors ``W`` of a run and their 2-D PCA (Fig. 4 of the paper)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from paco_torchrl.analysis.plots import pyplot, save_figure


def pca_2d(weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Projects the rows of ``weights [T, K]`` on their first two principal axes.

    The rows are centred, ``X = U S Vᵀ`` is the thin SVD and the coordinates are
    ``X V[:, :2] = U[:, :2] S[:2]``. The sign of each axis is fixed so that the
    largest-magnitude coordinate along it is positive (scikit-learn's convention), which
    makes the picture deterministic. With fewer than two non-trivial axes (``T ≤ 2`` or
    ``K = 1``) the missing coordinates are zero.

    Returns:
        ``(coords [T, 2], explained [2])``: coordinates, and the fraction of the total
        variance each axis explains (zero when ``W`` has no variance).

    Examples:
        >>> import torch
        >>> coords, explained = pca_2d(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.5]]))
        >>> coords.shape, [round(float(e), 3) for e in explained]
        (torch.Size([3, 2]), [0.923, 0.077])
    """
    if weights.dim() != 2:
        raise ValueError(f"weights must be [T, K], got shape {tuple(weights.shape)}")
    x = weights.detach().to(torch.float64).cpu()
    x = x - x.mean(0, keepdim=True)
    u, s, _ = torch.linalg.svd(x, full_matrices=False)
    n = min(2, s.numel())
    coords = torch.zeros(x.shape[0], 2, dtype=torch.float64)
    coords[:, :n] = u[:, :n] * s[:n]
    for i in range(n):
        column = coords[:, i]
        if column[column.abs().argmax()] < 0:
            coords[:, i] = -column
    variance = (s**2).sum()
    explained = torch.zeros(2, dtype=torch.float64)
    if variance > 0:
        explained[:n] = s[:n] ** 2 / variance
    return coords, explained


def _actor_w_key(state: dict[str, torch.Tensor]) -> str:
    keys = [k for k in state if k.endswith("task_weights.weight")]
    if not keys:
        raise KeyError("the checkpoint holds no compositional vectors W (a run without TaskWeights, e.g. mtsac)")
    keys.sort(key=lambda k: ("actor" not in k, state[k].dim() != 2, k))
    return keys[0]


def run_task_names(run_dir: str | Path, num_tasks: int) -> list[str]:
    """The run's task names in task-id order (``results.json``, else ``config.yaml``, else ``task-<i>``)."""
    run_dir = Path(run_dir)
    results = run_dir / "results.json"
    if results.is_file():
        names = list(json.loads(results.read_text()).get("per_task_success", {}))
        if len(names) == num_tasks:
            return names
    config = run_dir / "config.yaml"
    if config.is_file():
        from paco_torchrl.training import load_config, task_names

        try:
            names = list(task_names(load_config(config)))
            if len(names) == num_tasks:
                return names
        except Exception:  # noqa: BLE001 - names are cosmetic; fall back to indices
            pass
    return [f"task-{i}" for i in range(num_tasks)]


def load_task_weights(run_dir: str | Path) -> tuple[list[str], torch.Tensor]:
    """``(task names, W [T, K])`` of a run's checkpoint: the actor's ``W`` as the networks use it.

    Rows are L2-normalised when the run set ``paco.normalize_w`` (that is the ``w`` the
    layers compose with).
    """
    from paco_torchrl.nn import TaskWeights
    from paco_torchrl.training import load_checkpoint

    run_dir = Path(run_dir)
    state = load_checkpoint(run_dir / "checkpoint.pt")["loss"]
    weights = state[_actor_w_key(state)].detach().cpu()
    if weights.dim() == 3:  # a critic ensemble entry [N, T, K]: the copies are views of one W
        weights = weights[0]
    config = run_dir / "config.yaml"
    if config.is_file():
        from omegaconf import OmegaConf

        if OmegaConf.select(OmegaConf.load(config), "paco.normalize_w", default=False):
            weights = TaskWeights.normalize_rows(weights)
    return run_task_names(run_dir, weights.shape[0]), weights


def w_pca_plot(run_dir: str | Path, out: str | Path) -> Path:
    """2-D PCA of the run's compositional vectors, one labelled point per task (Fig. 4), as a PNG."""
    run_dir = Path(run_dir)
    names, weights = load_task_weights(run_dir)
    coords, explained = pca_2d(weights)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.4), dpi=110)
    ax.scatter(coords[:, 0], coords[:, 1], s=36, c=range(len(names)), cmap="tab10", vmin=0, vmax=9, zorder=3)
    for name, (x, y) in zip(names, coords.tolist()):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(f"PC 1 ({100 * float(explained[0]):.0f}% of variance)")
    ax.set_ylabel(f"PC 2 ({100 * float(explained[1]):.0f}% of variance)")
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.margins(0.2)
    ax.grid(alpha=0.3)
    ax.set_title(f"w-space PCA, T={weights.shape[0]}, K={weights.shape[1]}: {run_dir.resolve().name}", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out)
