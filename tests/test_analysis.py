"""Plot commands write real PNGs from a run directory; the PCA of W matches a hand computation."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from paco_torchrl.analysis.__main__ import main, read_series, success_curves
from paco_torchrl.analysis.pca import load_task_weights, pca_2d
from paco_torchrl.analysis.plots import maskout_reset_events
from paco_torchrl.analysis.series import increase_frames

PNG = b"\x89PNG\r\n\x1a\n"
TASKS = ("reach-v3", "push-v3", "peg-insert-side-v3")
W_FIXTURE = torch.tensor([[1.0, 0.2, -0.5], [0.8, -0.3, 0.1], [-0.6, 0.9, 0.4]])


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{frame},{value}\n" for frame, value in rows))


def _fixture_run(tmp_path):
    scalars = tmp_path / "logs" / "scalars"
    for task, values in {"reach-v3": [0.0, 0.5, 1.0], "push-v3": [0.0, 0.1, 0.3]}.items():
        _write(scalars / "eval_success" / f"{task}.csv", [(1000 * (i + 1), v) for i, v in enumerate(values)])
    _write(scalars / "eval" / "mean_success.csv", [(1000, 0.0), (2000, 0.3), (3000, 0.65)])
    frames = [500 * (i + 1) for i in range(6)]
    for t, task in enumerate(TASKS):
        _write(scalars / "loss_qvalue" / f"{task}.csv", [(f, 10.0 / (i + 1) + t) for i, f in enumerate(frames)])
        _write(scalars / "loss_actor" / f"{task}.csv", [(f, -0.5 * i + t) for i, f in enumerate(frames)])
        _write(scalars / "alpha" / f"{task}.csv", [(f, 0.9**i) for i, f in enumerate(frames)])
        over = [0, 0, 0, 0, 0, 0] if t else [0, 2, 2, 5, 5, 5]
        reset = [0, 0, 0, 0, 0, 0] if t else [0, 1, 1, 2, 2, 2]
        _write(scalars / "over_threshold_count" / f"{task}.csv", list(zip(frames, over)))
        _write(scalars / "reset_count" / f"{task}.csv", list(zip(frames, reset)))
    _write(scalars / "alpha" / "mean.csv", [(f, 0.5) for f in frames])  # aggregates are not tasks
    _write(scalars / "reset_count" / "total.csv", [(f, 2) for f in frames])
    prefix = "actor_network_params.module.0.module.net"
    torch.save({"loss": {f"{prefix}.task_weights.weight": W_FIXTURE.clone(),
                         f"{prefix}.layers.0.weight": torch.zeros(3, 4, 4)}}, tmp_path / "checkpoint.pt")
    (tmp_path / "results.json").write_text(json.dumps({"per_task_success": {t: 0.0 for t in TASKS}}))
    return tmp_path


def _assert_png(path, min_bytes=10_000):
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > min_bytes, (path, len(data))


def test_read_series(tmp_path):
    run = _fixture_run(tmp_path)
    assert read_series(run / "logs" / "scalars" / "eval" / "mean_success.csv") == ([1000, 2000, 3000], [0.0, 0.3, 0.65])


def test_success_curves_png(tmp_path):
    run = _fixture_run(tmp_path)
    _assert_png(success_curves(run, run / "curves.png"))


@pytest.mark.parametrize("command,name", [("success-curves", "success_curves.png"), ("losses", "losses.png"),
                                          ("w-pca", "w_pca.png")])
def test_every_plot_command_writes_a_png_into_the_run_dir(tmp_path, capsys, command, name):
    run = _fixture_run(tmp_path)
    assert main([command, str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(run / name)
    _assert_png(run / name)


def test_out_option_places_the_png(tmp_path):
    run = _fixture_run(tmp_path / "run")
    assert main(["losses", str(run), "--out", str(tmp_path / "pics" / "l.png")]) == 0
    _assert_png(tmp_path / "pics" / "l.png")
    assert not (run / "losses.png").exists()


def test_maskout_and_reset_events_are_the_increases_of_the_counts(tmp_path):
    run = _fixture_run(tmp_path)
    events = maskout_reset_events(run)
    assert events["maskout"] == {"peg-insert-side-v3": [], "push-v3": [], "reach-v3": [1000, 2000]}
    assert events["reset"]["reach-v3"] == [1000, 2000] and "total" not in events["reset"]
    assert increase_frames([1, 2, 3], [3, 3, 4]) == [1, 3]


def test_pca_matches_a_hand_computed_reference():
    w = torch.tensor([[1.0, 0.0, 0.5], [0.0, 2.0, 0.0], [1.0, 1.0, 1.0], [-1.0, 0.5, 0.0]])
    # by hand: centre, SVD, coordinates = centred rows @ first two right singular vectors
    x = w.double().numpy() - w.double().numpy().mean(0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    reference = x @ vt[:2].T
    for i in range(2):  # sign: largest-magnitude coordinate positive
        if reference[np.abs(reference[:, i]).argmax(), i] < 0:
            reference[:, i] *= -1
    coords, explained = pca_2d(w)
    np.testing.assert_allclose(coords.numpy(), reference, atol=1e-12)
    np.testing.assert_allclose(explained.numpy(), s[:2] ** 2 / (s**2).sum(), atol=1e-12)
    # the coordinates keep the centred rows' pairwise distances up to the dropped third axis
    dropped = s[2] ** 2 / (s**2).sum()
    assert np.isclose(explained.sum().item(), 1 - dropped)


def test_pca_of_two_tasks_and_of_k1_pads_with_zeros():
    coords, explained = pca_2d(torch.tensor([[0.0, 1.0], [2.0, 1.0]]))
    assert torch.allclose(coords.abs(), torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64), atol=1e-12)
    assert coords[0, 0] * coords[1, 0] < 0
    assert torch.allclose(explained, torch.tensor([1.0, 0.0], dtype=torch.float64))
    coords, explained = pca_2d(torch.tensor([[3.0], [1.0], [1.5]]))  # K=1: one axis
    assert coords[:, 1].tolist() == [0.0, 0.0, 0.0]
    assert torch.allclose(coords[:, 0], torch.tensor([7 / 6, -5 / 6, -1 / 3], dtype=torch.float64), atol=1e-12)


def test_load_task_weights_reads_the_actor_w_and_task_names(tmp_path):
    run = _fixture_run(tmp_path)
    names, w = load_task_weights(run)
    assert names == list(TASKS) and torch.equal(w, W_FIXTURE)
    (run / "config.yaml").write_text("paco:\n  normalize_w: true\n")
    _, w = load_task_weights(run)
    torch.testing.assert_close(w.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(w[1], W_FIXTURE[1] / W_FIXTURE[1].norm())


def test_cli_missing_run_dir(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "paco_torchrl.analysis", "success-curves", str(tmp_path / "nope")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: no run directory")


@pytest.mark.parametrize("command", ["success-curves", "losses", "w-pca"])
def test_cli_run_dir_without_logs_is_one_error_line(tmp_path, capsys, command):
    assert main([command, str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
