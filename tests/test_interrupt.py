"""Interruptions: a stop signal checkpoints and ends with one line; wall-clock checkpoints; a failed write."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from paco_torchrl.training import CheckpointWriteError, load_checkpoint, load_config, train
from paco_torchrl.training.cli import main as train_cli
from paths import MT10_CONFIG, MT10_SCRIPT

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
TOY = [
    "env.benchmark=toy", "env.num_toy_tasks=2", "env.max_episode_steps=15", "optim.batch_size=32",
    "network.num_cells=[16]", "paco.num_param_sets=2", "collector.init_random_frames=40",
    "eval.episodes_per_task=2", "logger.interval_frames=50", "progress=false", "threads=1", "device=cpu", "seed=3",
]


def _start(run, extra=()):
    args = TOY + ["collector.total_frames=10000000", "eval.interval_frames=10000000",
                  "checkpoint.interval_frames=10000000", f"output_dir={run}", *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, str(MT10_SCRIPT), *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    fps = run / "logs" / "scalars" / "frames_per_second.csv"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # training is under way: a few log rows
        if fps.is_file() and len(fps.read_text().splitlines()) >= 4:
            return proc
        if proc.poll() is not None:
            pytest.fail(f"training ended early: {proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the training process did not log in time")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_writes_a_checkpoint_and_prints_how_to_resume(tmp_path, sig):
    run = tmp_path / "run"
    proc = _start(run)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig
    last = err.strip().splitlines()[-1]
    state = load_checkpoint(run / "checkpoint.pt")
    assert last == (f"interrupted by {sig.name} at frame {state['frames']}; checkpoint written; "
                    f"resume with: python {MT10_SCRIPT} resume={run}")
    assert state["frames"] >= 200 and "Traceback" not in err
    if sig == signal.SIGINT:  # the run continues from there
        target = state["frames"] + 20
        assert train_cli(MT10_CONFIG, [f"resume={run}", f"collector.total_frames={target}"]) == 0
        resumed = load_checkpoint(run / "checkpoint.pt")
        assert resumed["frames"] == target and resumed["updates"] == state["updates"] + 10


def test_a_second_signal_exits_at_once(tmp_path):
    run = tmp_path / "run"
    proc = _start(run, ["checkpoint.replay=true"])
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130


def test_wall_clock_checkpoints(tmp_path, monkeypatch):
    from paco_torchrl.training import loop

    saved = []
    original = loop.save_run_checkpoint
    monkeypatch.setattr(loop, "save_run_checkpoint", lambda *a, **k: (saved.append(a[2]["frames"]), original(*a, **k)))
    cfg = load_config(MT10_CONFIG, TOY + [
        "collector.total_frames=400", "eval.interval_frames=10000", "checkpoint.interval_frames=10000",
        "checkpoint.interval_minutes=0.0001", f"output_dir={tmp_path / 'run'}"])
    train(cfg)
    assert len(saved) > 10 and saved[-1] == 400  # every iteration (6 ms apart) and the final one
    cfg.checkpoint.interval_minutes = None
    saved.clear()
    train(load_config(MT10_CONFIG, TOY + ["collector.total_frames=400", "eval.interval_frames=10000",
                                          "checkpoint.interval_frames=10000", f"output_dir={tmp_path / 'run2'}"]))
    assert saved == [400]  # frames only: just the final checkpoint


def test_a_failed_checkpoint_write_keeps_the_previous_one_and_ends_with_one_line(tmp_path, monkeypatch, capsys):
    from paco_torchrl.training import checkpoint as ckpt

    run = tmp_path / "run"
    calls = []
    real_save = ckpt.save_checkpoint

    def failing_save(path, state):
        calls.append(state["frames"])
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(path, state)

    monkeypatch.setattr(ckpt, "save_checkpoint", failing_save)
    args = TOY + ["collector.total_frames=1000", "eval.interval_frames=10000", "checkpoint.interval_frames=100",
                  f"output_dir={run}"]
    assert train_cli(MT10_CONFIG, args) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"error: checkpoint write failed at frame 200 (OSError: [Errno 28] No space left on device); "
                       f"the previous checkpoint in {run} is intact")
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["frames"] == 100 and (run / state["replay_dir"]).is_dir()
    assert sorted(p.name for p in run.iterdir() if "replay" in p.name) == ["replay-000000000100"]  # nothing left
    assert not list(run.glob(".*tmp*"))
    with pytest.raises(CheckpointWriteError):
        calls.clear()
        monkeypatch.setattr(ckpt, "save_checkpoint", failing_save)
        train(load_config(MT10_CONFIG, args[:-1] + [f"output_dir={tmp_path / 'run2'}"]))
