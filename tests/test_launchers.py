"""Sweep launchers: a local Ray cluster and submitit's local executor run a 2-run toy sweep into one
output tree that the report reads; a run whose Ray worker is killed, and a job stopped by submitit's
pre-timeout signal and requeued, both end bit-identical to an uninterrupted run."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import ray  # noqa: F401  (the test extra installs both launchers' packages)
import submitit  # noqa: F401
import torch

from paco_torchrl.experiments import report, sweep
from paco_torchrl.training import load_checkpoint
from paco_torchrl.training import loop
from paco_torchrl.training.cli import main as train_cli
from paths import MT10_CONFIG, MT10_SCRIPT

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

TOY = [
    "env.benchmark=toy", "env.num_toy_tasks=2", "env.max_episode_steps=15", "optim.batch_size=32",
    "network.num_cells=[16]", "paco.num_param_sets=2", "collector.init_random_frames=40",
    "eval.episodes_per_task=2", "eval.interval_frames=200", "logger.interval_frames=50",
    "checkpoint.interval_frames=100", "collector.total_frames=500", "threads=1", "device=cpu",
]
SWEEP = ["--algos", "paco", "--seeds", "0", "1", *TOY]
RUN = Path("paco_K-2") / "seed1"  # the run that is stopped in each test


def _children_of_sweep(run: Path) -> list[tuple[int, int]]:
    """``(pid, parent pid)`` of the training processes (paco_torchrl.experiments.child) of ``run``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if b"paco_torchrl.experiments.child" in cmd and f"output_dir={run}".encode() in cmd:
            found.append((int(proc.name), int(stat.rsplit(")", 1)[1].split()[1])))
    return found


class StopAfterCheckpoint(threading.Thread):
    """Once ``run_dir`` has a checkpoint, sends ``sig`` to the parent of its training process (a Ray
    worker, a submitit job); records that process pair and the checkpoint's frames then."""

    def __init__(self, run_dir: Path, sig: int) -> None:
        super().__init__(daemon=True)
        self.run_dir, self.sig = run_dir, sig
        self.frames: int | None = None
        self.victim: tuple[int, int] | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 900  # Ray runs its workers niced: slow on a busy machine
        while time.monotonic() < deadline:
            children = _children_of_sweep(self.run_dir)
            if (self.run_dir / "checkpoint.pt").is_file() and children:
                self.victim = children[0]
                self.frames = load_checkpoint(self.run_dir / "checkpoint.pt")["frames"]
                os.kill(self.victim[1], self.sig)
                return
            time.sleep(0.02)


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """Seed 1 of the sweep, trained in one go."""
    run = tmp_path_factory.mktemp("straight") / "run"
    assert train_cli(MT10_CONFIG, ["progress=false", *TOY, "seed=1", f"output_dir={run}"]) == 0
    return run


def _assert_same_run(a: Path, b: Path) -> None:
    x, y = load_checkpoint(a / "checkpoint.pt"), load_checkpoint(b / "checkpoint.pt")
    assert (x["frames"], x["updates"]) == (y["frames"], y["updates"]) and x["frames"] == 500
    assert x["loss"].keys() == y["loss"].keys()
    for key in x["loss"]:
        assert torch.equal(x["loss"][key], y["loss"][key]), key
    for sa, sb in zip(x["optimizer"]["state"].values(), y["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(x["rng"]["torch"], y["rng"]["torch"])
    assert json.loads((a / "results.json").read_text()) == json.loads((b / "results.json").read_text())


def _assert_sweep_tree(out: Path, tmp_path: Path) -> None:
    results = sorted(str(p.parent.relative_to(out)) for p in out.rglob("results.json"))
    assert results == ["paco_K-2/seed0", "paco_K-2/seed1"]
    manifest = json.loads((out / "sweep.json").read_text())
    assert [r["last"]["rc"] for r in manifest["runs"]] == [0, 0]
    assert report.main([str(out), "--out", str(tmp_path / "report.md")]) == 0
    assert "| paco K=2 | PaCo" in (tmp_path / "report.md").read_text()


def test_ray_sweep_on_a_local_cluster_and_a_killed_worker_resumes_to_the_same_result(tmp_path, straight, capsys):
    out = tmp_path / "sweep"
    killer = StopAfterCheckpoint(out / RUN, signal.SIGKILL)
    killer.start()
    assert sweep.main(["--out", str(out), "--launcher", "ray", "--ray-num-cpus", "2", *SWEEP]) == 0
    killer.join(timeout=5)
    assert killer.victim is not None and 100 <= killer.frames < 500  # killed mid-way
    time.sleep(0.5)
    assert not Path(f"/proc/{killer.victim[0]}").exists()  # its training process died with it
    starts = [line for line in (out / RUN / "sweep.log").read_text().splitlines() if line.startswith("$ ")]
    assert len(starts) == 2 and "resume=" not in starts[0] and starts[1].endswith(f"resume={out / RUN}")
    _assert_sweep_tree(out, tmp_path)
    _assert_same_run(out / RUN, straight)
    assert "ray: 2 task(s), 1 CPU / 0 GPU each" in capsys.readouterr().out


def test_slurm_sweep_with_the_local_executor_and_a_requeued_job_ends_bit_identical(tmp_path, straight):
    out = tmp_path / "sweep"
    stopper = StopAfterCheckpoint(out / RUN, signal.SIGUSR2)  # what Slurm sends before the time limit
    stopper.start()
    args = ["--out", str(out), "--launcher", "slurm", "--slurm-cluster", "local", "--slurm-time", "10", "--wait"]
    assert sweep.main([*args, *SWEEP]) == 0
    stopper.join(timeout=5)
    assert stopper.victim is not None and 100 <= stopper.frames < 500
    log = (out / RUN / "sweep.log").read_text()
    starts = [line for line in log.splitlines() if line.startswith("$ ")]
    assert len(starts) == 2 and starts[1].endswith(f"resume={out / RUN}")
    stopped = [line for line in log.splitlines() if line.startswith("interrupted by SIGUSR2")]
    assert len(stopped) == 1 and stopped[0].endswith(f"resume with: python {MT10_SCRIPT} resume={out / RUN}")
    job_logs = "".join(p.read_text() for p in (out / "slurm").rglob("*_log.*"))
    assert "Requeued job" in job_logs  # submitit's protocol: checkpoint(), then requeue
    _assert_sweep_tree(out, tmp_path)
    _assert_same_run(out / RUN, straight)


# --- bad input: one line, exit code 2, nothing started -----------------------------------------

@pytest.mark.parametrize("launcher, module", [("ray", "ray"), ("slurm", "submitit")])
def test_a_missing_extra_is_one_line_naming_it(tmp_path, monkeypatch, capsys, launcher, module):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    assert sweep.main(["--out", str(tmp_path / "s"), "--launcher", launcher, *SWEEP]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --launcher {launcher} needs {module}: pip install 'paco_torchrl[{launcher}]'"]
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("extra, message", [
    (["--slurm-time", "1:xx"], "error: slurm.time: '1:xx' is not minutes or [D-]HH:MM[:SS]"),
    (["--slurm-extra", "account"], "error: --slurm-extra: 'account' is not KEY=VALUE"),
    (["--gpus-per-run", "0.5"], "error: gpus_per_run: Slurm takes whole GPUs, not 0.5"),
    (["--slurm-cluster", "slurm"], "error: --launcher slurm: no sbatch on this machine "
                                   "(--slurm-cluster local runs the same jobs here)"),
])
def test_bad_slurm_settings_are_one_line(tmp_path, capsys, extra, message):
    assert sweep.main(["--out", str(tmp_path / "s"), "--launcher", "slurm", *extra, *SWEEP]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [message]


def test_a_launcher_config_file_is_validated_and_the_command_line_wins(tmp_path, capsys):
    from paco_torchrl.experiments.launcher_config import load_launcher_config

    path = tmp_path / "cluster.yaml"
    path.write_text("cpus_per_run: 4\nslurm:\n  partition: gpu\n  time: '4:00:00'\n  extra: {account: proj}\n")
    args = sweep.parse_args(["--out", "x", "--launcher", "slurm", "--launcher-config", str(path),
                             "--slurm-time", "60", "--slurm-extra", "qos=high", *SWEEP])
    cfg = load_launcher_config(args)
    assert (cfg.cpus_per_run, cfg.slurm.partition, cfg.slurm.time) == (4, "gpu", "60")
    assert dict(cfg.slurm.extra) == {"account": "proj", "qos": "high"}
    path.write_text("slurm:\n  partitoin: gpu\n")
    assert sweep.main(["--out", str(tmp_path / "s"), "--launcher", "slurm", "--launcher-config", str(path),
                       *SWEEP]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: launcher config: Key 'partitoin' not in 'SlurmConfig'")


def test_an_in_process_run_names_the_recipe_in_its_resume_line(tmp_path, monkeypatch, capsys):
    """A sweep (``--jobs 1``) trains in its own process, where ``sys.argv[0]`` is not the recipe."""

    class StopAtOnce(loop.StopSignals):
        def __enter__(self):
            super().__enter__()
            self.requested = signal.SIGUSR1
            return self

    monkeypatch.setattr(loop, "StopSignals", StopAtOnce)
    monkeypatch.setattr(sys, "argv", ["/somewhere/pytest"])
    run = tmp_path / "run"
    assert train_cli(MT10_CONFIG, ["progress=false", *TOY, f"output_dir={run}"]) == 128 + signal.SIGUSR1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.endswith(f"checkpoint written; resume with: python {MT10_SCRIPT} resume={run}")


def test_a_launchers_worker_starts_without_torch():
    """A Ray worker or submitit job unpickles its task from these modules: they must not import torch
    (the training process does); IGNORE_REPEATED_ENV is spelled as the training package spells it."""
    import subprocess

    from paco_torchrl.experiments.launch import IGNORE_REPEATED_ENV
    from paco_torchrl.training.signals import IGNORE_REPEATED_ENV as TRAINING_NAME

    assert IGNORE_REPEATED_ENV == TRAINING_NAME
    code = ("import sys, paco_torchrl.experiments.ray_launcher, paco_torchrl.experiments.slurm_launcher; "
            "print(sorted(m for m in ('torch', 'paco_torchrl.training') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_launched_run_ignores_a_repeated_stop_signal(monkeypatch):
    """Slurm signals every process of a job and the job forwards its signal too: the second one must not
    end the training process before its checkpoint (without the variable it would exit at once)."""
    from paco_torchrl.training.signals import IGNORE_REPEATED_ENV, StopSignals

    monkeypatch.setenv(IGNORE_REPEATED_ENV, "1")
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR2)
        time.sleep(0.01)
        assert stop.requested == signal.SIGUSR2
