"""Config loading and validation: one-line errors naming the key, before any environment starts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from paco_torchrl.training import ConfigError, load_config, task_names, validate_config

ROOT = Path(__file__).resolve().parents[1]
MT10 = ROOT / "recipes" / "configs" / "mt10_rand.yaml"
MT50 = ROOT / "recipes" / "configs" / "mt50_rand.yaml"


def test_recipe_defaults_are_the_papers_protocol():
    cfg = load_config(MT10)
    validate_config(cfg)
    assert len(task_names(cfg)) == 10
    assert cfg.collector.total_frames == 20_000_000 and cfg.optim.batch_size == 1280
    assert cfg.paco.num_param_sets == 5 and cfg.paco.loss_threshold == 3000.0
    assert cfg.env.max_episode_steps == 150 and cfg.eval.episodes_per_task == 10
    assert (cfg.optim.lr, cfg.optim.alpha_lr, cfg.optim.eps) == (3e-4, 1e-4, 1e-7)
    mt50 = load_config(MT50)
    validate_config(mt50)
    assert len(task_names(mt50)) == 50 and mt50.optim.batch_size == 6400 and mt50.optim.lr == 3e-4


def test_required_keys_exist_and_override():
    keys = [
        "seed=3", "device=cpu", "env.tasks=[reach-v3,push-v3]", "env.max_episode_steps=100", "env.backend=serial",
        "collector.total_frames=1000", "collector.init_random_frames=10", "optim.batch_size=64",
        "paco.num_param_sets=3", "paco.loss_threshold=100.0", "paco.loss_maskout=false", "paco.w_reset=false",
        "eval.interval_frames=500", "eval.episodes_per_task=2", "checkpoint.interval_frames=500",
        "output_dir=/tmp/x", "resume=null",
    ]
    cfg = load_config(MT10, keys)
    validate_config(cfg)
    assert task_names(cfg) == ("reach-v3", "push-v3") and cfg.paco.num_param_sets == 3 and cfg.seed == 3


@pytest.mark.parametrize(
    "override, key",
    [
        ("env.tasks=[reach-v3,not-a-task]", "env.tasks"),
        ("paco.num_param_sets=0", "paco.num_param_sets"),
        ("collector.total_frames=0", "collector.total_frames"),
        ("optim.batch_size=-5", "optim.batch_size"),
        ("optim.batch_size=1285", "optim.batch_size"),  # not divisible by 10 tasks
        ("paco.loss_threshold=0", "paco.loss_threshold"),
        ("algo=nope", "algo"),
        ("device=tpu", "device"),
        ("env.backend=threads", "env.backend"),
        ("env.max_episode_steps=501", "env.max_episode_steps"),
        ("paco.w_init=one_hot", "paco.w_init"),  # K=5 != T=10
        ("resume=/nonexistent/run", "resume"),
        ("resume=/", "resume"),  # a folder without checkpoint.pt
        ("fault.task=not-a-task", "fault.task"),
        ("fault.task=10", "fault.task"),
        ("fault.task=reach-v3", None),  # valid task: checks the fault's other keys next
        ("compile_mode=fastest", "compile_mode"),
        ("cudagraphs=true", "cudagraphs"),  # this machine runs on the CPU
        ("collector.steps_per_batch=0", "collector.steps_per_batch"),
        ("checkpoint.interval_frames=0", "checkpoint.interval_frames"),
    ],
)
def test_bad_values_name_the_key(override, key):
    if key is None:  # a valid value, paired with bad values of its section
        for extra, bad_key in (("fault.kind=zero", "fault.kind"), ("fault.at_frame=-1", "fault.at_frame")):
            with pytest.raises(ConfigError, match=f"^{bad_key}"):
                validate_config(load_config(MT10, [override, extra]))
        validate_config(load_config(MT10, [override]))
        return
    if key == "cudagraphs":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError) as err:
        validate_config(load_config(MT10, [override]))
    message = str(err.value)
    assert message.startswith(key) and "\n" not in message


def test_unknown_key_and_bad_type_are_one_line():
    for override in ("paco.num_param_set=5", "optim.batch_size=abc", "seed"):
        with pytest.raises(ConfigError) as err:
            load_config(MT10, [override])
        assert "\n" not in str(err.value)


def test_cuda_without_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="^device"):
        validate_config(load_config(MT10, ["device=cuda"]))


def test_cli_error_is_one_line_and_starts_nothing(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "mt10_rand.py"), "env.tasks=[reach-v3,bogus]", f"output_dir={out}"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "bogus" in lines[0] and lines[0].startswith("error: env.tasks")
    assert not out.exists()
