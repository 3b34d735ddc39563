"""Rollout videos through headless MuJoCo rendering (skipped where no backend renders)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from paco_torchrl.analysis.video import FrameSink, probe_rendering, tile_clips, write_animation
from paco_torchrl.training import load_config, make_agent, save_checkpoint, training_state
from paths import MT10_CONFIG

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_tile_and_gif_roundtrip(tmp_path):
    from PIL import Image

    clips = [np.full((3, 16, 20, 3), 200, np.uint8), np.full((2, 16, 10, 3), 50, np.uint8)]
    clips[0][:, 14:] = np.arange(3, dtype=np.uint8)[:, None, None, None] * 60  # distinct frames (GIF merges repeats)
    tiled = tile_clips(clips, ["a", "b"], [np.array([0, 0, 1]), np.array([0, 0])])
    assert tiled.shape == (3, 16, 30, 3)
    assert (tiled[2, 14:, 20:] == 50).all()  # the shorter clip holds its last frame
    out = write_animation(tiled, tmp_path / "x.gif", fps=10)
    with Image.open(out) as gif:
        assert gif.n_frames == 3 and gif.size == (30, 16)
    sink = FrameSink()
    sink.log_video("t", torch.arange(2 * 3 * 4 * 5, dtype=torch.uint8).reshape(1, 2, 3, 4, 5))
    assert sink.videos["t"].shape == (2, 4, 5, 3) and sink.videos["t"][1, 0, 0, 2] == 1 * 60 + 2 * 20  # [t=1, c=2, h=0, w=0]


@pytest.fixture(scope="module")
def backend():
    found = probe_rendering()
    if found is None:
        pytest.skip("no headless MuJoCo rendering here (install libosmesa6 or an EGL driver)")
    return found


def test_video_command_records_real_frames(tmp_path, backend):
    from PIL import Image

    from paco_torchrl.analysis.video import metaworld_specs

    run = tmp_path / "run"
    cfg = load_config(MT10_CONFIG, ["env.tasks=[reach-v3,push-v3]", "network.num_cells=[16]",
                                         "device=cpu", "threads=1", f"output_dir={run}"])
    run.mkdir()
    (run / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    agent = make_agent(cfg, metaworld_specs(), torch.device("cpu"))  # untrained: frames are what matters here
    save_checkpoint(run / "checkpoint.pt", training_state(agent, 0, 0))
    out = tmp_path / "clip.gif"
    proc = subprocess.run(
        [sys.executable, "-m", "paco_torchrl.analysis", "video", str(run), "--tasks", "push-v3", "reach",
         "--steps", "4", "--size", "64", "--out", str(out)],
        capture_output=True, text=True, env={**os.environ, "MUJOCO_GL": backend}, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(out)
    with Image.open(out) as gif:
        assert 2 <= gif.n_frames <= 5 and gif.size == (128, 64)  # reset + 4 steps (repeats merged), 2 tasks
        gif.seek(gif.n_frames - 1)
        frame = np.asarray(gif.convert("RGB"))
    assert frame[16:].mean() > 30 and frame[16:].std() > 10  # a real scene: not black, not flat
