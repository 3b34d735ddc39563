"""logger.backend: TensorBoard, W&B (offline) and MLflow through TorchRL's loggers, with the same CSV logs always."""
from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

from paco_torchrl.analysis.series import read_series
from paco_torchrl.training import load_config, train, validate_config
from paco_torchrl.training import tracking
from paco_torchrl.training.cli import main as train_cli
from paths import MT10_CONFIG

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")

TOY = [
    "env.benchmark=toy", "env.num_toy_tasks=2", "env.max_episode_steps=10", "collector.total_frames=100",
    "collector.init_random_frames=40", "optim.batch_size=16", "network.num_cells=[16]", "paco.num_param_sets=2",
    "eval.episodes_per_task=1", "eval.interval_frames=50", "logger.interval_frames=50", "progress=false",
    "threads=1", "device=cpu",
]


def _run(run: Path, *overrides: str) -> dict:
    return train(load_config(None, [*TOY, f"output_dir={run}", *overrides]))


def _scalars(run: Path) -> dict[str, str]:
    root = run / "logs" / "scalars"
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.csv")) if "frames_per_second" not in str(p)}


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("csv") / "run"
    _run(run)
    return run


def _assert_same_run_as(run: Path, reference: Path) -> None:
    """The tracker changes nothing: same CSV rows (frames/s aside), same results."""
    assert _scalars(run) == _scalars(reference) and len(_scalars(run)) > 30
    assert json.loads((run / "results.json").read_text()) == json.loads((reference / "results.json").read_text())


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_SILENT", "true")


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb not installed (the test extra has it)")
def test_wandb_offline_writes_its_run_and_the_same_csv_logs(tmp_path, csv_run, offline_wandb):
    run = tmp_path / "run"
    _run(run, "logger.backend=wandb", "logger.project=paco-test", "logger.run_name=toy-wandb")
    _assert_same_run_as(run, csv_run)
    offline_runs = list((run / "logs" / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    run_id = (run / "logs" / "wandb_run_id").read_text()
    expected = (b"paco-test", b"toy-wandb", b"num_param_sets", b"eval/mean_success", b"nonfinite_count/total")
    # what `wandb sync` uploads later: project, run name, the run's config, the scalars. wandb's service
    # process writes this file; on a loaded machine it can still be writing when `finish()` has returned
    # (seen once: only the 8-byte header), so wait for it, up to a minute.
    history, deadline = b"", time.monotonic() + 60
    while not all(e in history for e in expected) and time.monotonic() < deadline:
        history = (offline_runs[0] / f"run-{run_id}.wandb").read_bytes()
        time.sleep(0.2)
    assert [e for e in expected if e not in history] == []
    # the analysis commands read the CSV logs of a wandb run like any other
    assert read_series(run / "logs" / "scalars" / "eval" / "mean_success.csv")[0] == [50, 100]


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard not installed")
def test_tensorboard_writes_event_files_and_the_same_csv_logs(tmp_path, csv_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    _run(run, "logger.backend=tensorboard")
    _assert_same_run_as(run, csv_run)
    events = EventAccumulator(str(run / "logs"))
    events.Reload()
    steps = [(e.step, e.value) for e in events.Scalars("eval/mean_success")]
    csv_steps = read_series(run / "logs" / "scalars" / "eval" / "mean_success.csv")
    assert steps == list(zip(*csv_steps))


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow not installed: pip install 'paco_torchrl[mlflow]'")
def test_mlflow_logs_to_its_tracking_store_and_the_same_csv_logs(tmp_path, csv_run):
    import mlflow

    run, uri = tmp_path / "run", f"sqlite:///{tmp_path / 'mlflow.db'}"
    _run(run, "logger.backend=mlflow", f"logger.mlflow_tracking_uri={uri}", "logger.project=paco-test")
    _assert_same_run_as(run, csv_run)
    client = mlflow.MlflowClient(uri)
    (found,) = client.search_runs([client.get_experiment_by_name("paco-test").experiment_id])
    assert found.info.run_name == "run" and found.data.params["paco.num_param_sets"] == "2"
    history = [(m.step, m.value) for m in client.get_metric_history(found.info.run_id, "eval/mean_success")]
    assert history == list(zip(*read_series(run / "logs" / "scalars" / "eval" / "mean_success.csv")))


def test_a_missing_tracker_package_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(tracking.TRACKER_PACKAGES, "wandb", "no_such_package_for_tests")
    assert train_cli(MT10_CONFIG, [*TOY, "logger.backend=wandb", f"output_dir={tmp_path / 'run'}"]) == 2
    assert capsys.readouterr().err == (
        "error: logger.backend: wandb needs the no_such_package_for_tests package: pip install 'paco_torchrl[wandb]'\n"
    )
    assert not (tmp_path / "run").exists()  # stopped before anything was written
    validate_config(load_config(None, [*TOY, "logger.backend=csv"]))  # csv needs nothing
    with pytest.raises(Exception, match=r"logger.backend: must be one of \('csv', 'tensorboard', 'wandb', 'mlflow'\)"):
        validate_config(load_config(None, [*TOY, "logger.backend=neptune"]))
