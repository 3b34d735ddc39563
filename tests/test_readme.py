"""The README's API example runs and returns per-task metrics."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_readme_example_runs():
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[0]
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["task_losses"].batch_size == (10,)
    assert namespace["kept"].shape == (10,)
    assert set(namespace["metrics"].keys()) >= {"loss_actor", "loss_qvalue", "loss_alpha", "kept", "reset"}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_readme_own_loss_example_runs():
    """The second python block: a user's own LossModule wrapped in PerTaskLoss."""
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[1]
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    task_losses, metrics = namespace["task_losses"], namespace["metrics"]
    assert task_losses.batch_size == (4,) and set(task_losses.keys()) == {"loss_bc"}
    assert set(metrics.keys()) >= {"loss_bc", "kept", "over_threshold", "reset"}
    # the per-task losses are the task means of the user's per-sample losses
    batch, loss = namespace["batch"], namespace["loss"]
    per_sample = loss.loss_module(batch)["loss_bc"]
    assert per_sample.shape == (4, 8)
    assert (loss(batch)["loss_bc"] - per_sample.mean(-1)).abs().max() < 1e-5
    assert namespace["loss"].task_weight_tensors()  # W of the user's actor reaches WReset


def test_readme_names_the_commands():
    text = README.read_text()
    assert "python recipes/mt10_rand.py" in text and "python -m pytest -q -n 2" in text
    assert 'pip install torch==2.13.0 && pip install -e ".[test]"' in text
    # CI runs the README's command (two xdist workers; -p no:cacheprovider keeps the clone clean)
    assert "python -m pytest -q -n 2 -p no:cacheprovider" in (README.parent / ".ci" / "run").read_text()


def _import_lines(text: str) -> list[str]:
    """Every import statement the README shows: lines of its code blocks and inline code spans."""
    lines = re.findall(r"(?m)^\s*((?:from\s+[\w.]+\s+import\s+[\w, ]+)|(?:import\s+[\w.]+(?:\s+as\s+\w+)?))\s*$", text)
    lines += re.findall(r"`((?:from\s+[\w.]+\s+import\s+[\w, ]+)|(?:import\s+[\w.]+))`", text)
    return sorted(set(line.strip() for line in lines))


def test_readme_imports_all_work():
    lines = _import_lines(README.read_text())
    assert "from paco_torchrl.envs import make_metaworld_env" in lines
    for line in lines:
        exec(compile(line, f"{README}: {line}", "exec"), {})


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_readme_every_python_block_runs(tmp_path, monkeypatch):
    """All ``python`` blocks, in order (the first two are checked in detail above)."""
    monkeypatch.chdir(tmp_path)  # anything a block writes lands here
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3
    for i, code in enumerate(blocks):
        namespace: dict = {}
        exec(compile(code, f"{README} python block {i}", "exec"), namespace)
    results = namespace["results"]  # the library training loop of the last block
    assert results["frames"] == 100 and set(results["per_task_success"]) == {"rotate-0", "rotate-180"}

